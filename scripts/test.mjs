#!/usr/bin/env node
// `npm test`: the reactor's Zig tests, then the whole vitest suite twice: against the ReleaseFast
// addon that `npm install` built (what users run), and against a ReleaseSafe build of it
// (build/safe/), where every Zig assertion and safety check (bounds, overflow) is compiled in, so
// a broken invariant of the slot table, the record writer, the write queue or the mailbox fails
// the suite instead of corrupting memory quietly. Extra arguments go to vitest.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runZig } from './zig.mjs';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const extra = process.argv.slice(2);

function step(title, run) {
  console.log(`\nzloop test: ${title}`);
  const status = run();
  if (status !== 0) {
    console.error(`zloop test: ${title} failed`);
    process.exit(status || 1);
  }
}

function runVitest(env) {
  const result = spawnSync(process.execPath, [vitest, 'run', ...extra], { cwd: projectRoot, stdio: 'inherit', env: { ...process.env, ...env } });
  return result.status ?? 1;
}

step('zig build test', () => runZig(['build', 'test', '--summary', 'all']));
step('building the ReleaseSafe addon (build/safe)', () => runZig(['build', '-Doptimize=ReleaseSafe', '--prefix', 'build/safe']));
step('vitest on the ReleaseSafe addon', () => runVitest({ ZLOOP_ADDON_BUILD: 'safe' }));
step('vitest on the ReleaseFast addon', () => runVitest({}));
