#!/usr/bin/env node
// `npm test`: the reactor's Zig tests, then the whole vitest suite twice: against the ReleaseFast
// addon that `npm install` built (what users run), and against a ReleaseSafe build of it
// (build/safe/), where every Zig assertion and safety check (bounds, overflow) is compiled in, so
// a broken invariant of the slot table, the record writer, the write queue or the mailbox fails
// the suite instead of corrupting memory quietly; then the package check. Extra arguments go to
// vitest (and skip the package check).
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

/** Runs a Node script given relative to this file; its exit status. */
function runScript(path, ...args) {
  const result = spawnSync(process.execPath, [fileURLToPath(new URL(path, import.meta.url)), ...args], { cwd: projectRoot, stdio: 'inherit' });
  return result.status ?? 1;
}

function runVitest(env) {
  const result = spawnSync(process.execPath, [vitest, 'run', ...extra], { cwd: projectRoot, stdio: 'inherit', env: { ...process.env, ...env } });
  return result.status ?? 1;
}

step('zig build test', () => runZig(['build', 'test', '--summary', 'all']));
step('building the ReleaseSafe addon (build/safe)', () => runZig(['build', '-Doptimize=ReleaseSafe', '--prefix', 'build/safe']));
step('vitest on the ReleaseSafe addon', () => runVitest({ ZLOOP_ADDON_BUILD: 'safe' }));
step('vitest on the ReleaseFast addon', () => runVitest({}));
// The package as users get it (scripts/check-package.mjs), and the API reference (npm run docs)
// built from the types with no warning (every type a public signature names is documented):
// once each, and only for a whole run.
if (extra.length === 0) {
  step('the package: npm pack, installs, import/require, strict types, examples', () => runScript('./check-package.mjs'));
  step('the API reference (TypeDoc, warnings are errors)', () => runScript('../node_modules/typedoc/bin/typedoc', '--emit', 'none'));
} else {
  console.log('\nzloop test: the package check is skipped: vitest arguments asked for part of the suite');
}
