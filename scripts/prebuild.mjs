#!/usr/bin/env node
// `npm pack` runs this (prepack): cross-compiles the addon with Zig for every platform the
// package ships, stripped, into build/prebuilt/<platform>-<arch>/zloop.node. N-API is
// ABI-stable, so one build per platform serves every Node version; on macOS the addon leaves
// Node's symbols undefined (flat namespace, resolved when node loads it).
import { runZig } from './zig.mjs';
import { PREBUILT_TARGETS } from './targets.mjs';

for (const { key, zigTarget } of PREBUILT_TARGETS) {
  const status = runZig(['build', `-Dtarget=${zigTarget}`, '-Doptimize=ReleaseFast', '-Dstrip=true', '--prefix', `build/prebuilt/${key}`]);
  if (status !== 0) {
    console.error(`zloop: cross-compiling the addon for ${key} (${zigTarget}) failed`);
    process.exit(1);
  }
  console.log(`zloop: built build/prebuilt/${key}/zloop.node`);
}
