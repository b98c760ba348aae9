#!/usr/bin/env node
// `npm run bench [-- group ...]`: runs the benchmark groups (all, or those named) and prints one
// table per group. A group is a module in this directory; add new ones to GROUPS (see harness.mjs
// for what a group module exports). A missed target is reported in the table and in a last line;
// the exit status stays 0 because timings on a shared machine are not a pass/fail test.
//
//   npm run bench                  every group
//   npm run bench -- scheduling    only the scheduling group
//   ZLOOP_BENCH_REPEATS=9 npm run bench -- scheduling
//   ZLOOP_BENCH_SECONDS=1 ZLOOP_BENCH_ECHO_REPEATS=1 npm run bench -- echo    a quick echo run
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

/** Group name -> module, in the order they run. */
const GROUPS = {
  scheduling: './scheduling.mjs',
  echo: './echo.mjs',
  threads: './threads.mjs',
  sharded: './sharded.mjs',
  udp: './udp.mjs',
  tls: './tls.mjs',
  primitives: './primitives.mjs',
  http: './http.mjs',
};

// Every repetition starts from a collected heap, so the process needs --expose-gc: re-spawn once
// with it (keeping any other flags, such as --cpu-prof) unless it is already there.
if (typeof globalThis.gc !== 'function') {
  const child = spawnSync(
    process.execPath,
    ['--expose-gc', ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  process.exit(child.status ?? 1);
}

const { runGroup, REPEATS } = await import('./harness.mjs');

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in GROUPS));
if (unknown.length > 0) {
  console.error(`bench: unknown group ${unknown.join(', ')}; groups: ${Object.keys(GROUPS).join(', ')}`);
  process.exit(2);
}
const selected = wanted.length > 0 ? Object.keys(GROUPS).filter((name) => wanted.includes(name)) : Object.keys(GROUPS);

const cpus = os.cpus();
console.log(
  `zloop bench: node ${process.version}, ${os.platform()} ${os.arch()}, ${cpus.length} x ${cpus[0]?.model.trim() ?? 'unknown cpu'}, ` +
    `${REPEATS} repetitions per peer`,
);

const missed = [];
for (const name of selected) {
  const group = await import(GROUPS[name]);
  const started = performance.now();
  if (!(await runGroup(group))) missed.push(name);
  console.log(`(${name}: ${((performance.now() - started) / 1000).toFixed(1)} s)`);
}
console.log(missed.length === 0 ? '\nall targets met' : `\ntargets missed in: ${missed.join(', ')}`);
