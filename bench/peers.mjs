// The bench's peers that are not Node: uvloop (Debian's python3-uvloop), Bun and Deno (the npm
// packages `bun` and `deno`, installed with `npm install --prefix bench/peers`, or on PATH).
// Each is found once; a missing one is named, with how to install it, so a table without it
// says why.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const peersBin = fileURLToPath(new URL('./peers/node_modules/.bin/', import.meta.url));

/** The first of `candidates` that runs `args` with status 0, or null. */
function firstWorking(candidates, args) {
  for (const candidate of candidates) {
    if (candidate.includes('/') && !existsSync(candidate)) continue;
    if (spawnSync(candidate, args, { stdio: 'ignore', timeout: 15_000 }).status === 0) return candidate;
  }
  return null;
}

/** A Python that can import uvloop: python3 on PATH first, then Debian's own. */
export const python = firstWorking(['python3', '/usr/bin/python3'], ['-c', 'import uvloop']);
export const bun = firstWorking([`${peersBin}bun`, 'bun'], ['--version']);
export const deno = firstWorking([`${peersBin}deno`, 'deno'], ['--version']);

const HOW = {
  uvloop: 'apt-get install python3-uvloop',
  bun: 'npm install --prefix bench/peers',
  deno: 'npm install --prefix bench/peers',
};

/** "missing peers: ..." for the ones not found, or null when all are there. */
export function missingPeersNotice() {
  const missing = [];
  if (python === null) missing.push(`uvloop (${HOW.uvloop})`);
  if (bun === null) missing.push(`Bun (${HOW.bun})`);
  if (deno === null) missing.push(`Deno (${HOW.deno})`);
  return missing.length === 0 ? null : `missing peers, not measured: ${missing.join('; ')}`;
}
