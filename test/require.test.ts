// The package loads with require() as well as import (Node >= 20.19 loads ES modules from
// require()): a CommonJS script in a project of its own requires 'zloop' and 'zloop/net'.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { trackLeaks } from './helpers/leaks.js';

trackLeaks();

const root = fileURLToPath(new URL('..', import.meta.url));

it("require('zloop') and require('zloop/net') work from CommonJS", () => {
  const project = mkdtempSync(join(tmpdir(), 'zloop-cjs-'));
  try {
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(root, join(project, 'node_modules', 'zloop'), 'dir');
    writeFileSync(
      join(project, 'main.cjs'),
      [
        "const zloop = require('zloop');",
        "const net = require('zloop/net');",
        'zloop.run(async () => {',
        '  await zloop.sleep(0.001);',
        "  console.log(typeof zloop.newEventLoop, typeof net.createServer, net.Socket.name);",
        '});',
      ].join('\n'),
    );
    const result = spawnSync(process.execPath, ['main.cjs'], { cwd: project, encoding: 'utf8', timeout: 20_000 });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('function function Socket');
    expect(result.status).toBe(0);
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
});
