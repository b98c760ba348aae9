#!/usr/bin/env node
// `npm install` runs this: builds the addon with ReleaseFast into build/zloop.node, then compiles
// the TypeScript into dist/. Zig's global cache (~/.cache/zig) is kept between builds.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runZig } from './zig.mjs';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));

if (runZig(['build', '-Doptimize=ReleaseFast', '--prefix', 'build']) !== 0) {
  console.error('zloop: building the native addon failed');
  process.exit(1);
}

const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
  cwd: projectRoot,
  stdio: 'inherit',
});
if (tsc.status !== 0) {
  console.error('zloop: compiling the TypeScript failed');
  process.exit(tsc.status ?? 1);
}
