// The measuring and printing shared by every benchmark group. A group module (see run.mjs)
// exports `name`, `title`, optional `setup()` / `teardown()`, and `cases`: a list of
//
//   { name, ops, target?, zloop(clock), node(clock), uvloop?, uvloopTarget? }
//
// where `zloop` and `node` are async functions that do `ops` operations once. They call
// `clock.start()` right before the first measured operation and `clock.stop()` right after the
// last one (for example inside the last callback); a peer that calls neither is timed around the
// whole call. A peer may return a number: the operations it actually did, for cases that run for a
// fixed time rather than a fixed count. `target` is the least zloop/node ratio the case must reach.
// `uvloop` names the case of bench/servers/uvloop-scheduling.py that does the same in Python on
// uvloop (run in its own process each round, when uvloop is installed: peers.mjs);
// `uvloopTarget` is the least zloop/uvloop ratio. `compare: 'cpu'`: the ratio (and target) is of
// CPU time per operation rather than of wall-clock rate, for cases whose wall time includes a
// wait both peers share (timers due after the burst that schedules them).
//
// A group whose measurement does not fit that shape (echo.mjs: several servers in other processes,
// measured by a load generator) exports `run()` instead of `cases`: it measures, prints its own
// tables with printTable(), and returns false if a target was missed.
//
// This machine is noisy (2 cores, repeats differ by 10-40%), so the two peers are interleaved
// (zloop, node, zloop, node, ...) with a garbage collection and a short pause before every run,
// one warm-up pair is thrown away, and the median of the repetitions is reported.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { python } from './peers.mjs';

const UVLOOP_SCHEDULING = fileURLToPath(new URL('./servers/uvloop-scheduling.py', import.meta.url));

/** Measured repetitions per peer, after one warm-up; override with ZLOOP_BENCH_REPEATS. */
export const REPEATS = positiveInteger(process.env.ZLOOP_BENCH_REPEATS, 5);
/** Pause before each run so the previous run's closing handles and garbage settle. */
const PAUSE_MS = 30;

/** Runs one peer once; returns { ops, wallNs, cpuUs }. */
async function runOnce(peer, ops) {
  let wallStart = 0n;
  let wallEnd = 0n;
  let cpuStart = null;
  let cpuEnd = null;
  const clock = {
    start() {
      cpuStart = process.cpuUsage();
      wallStart = process.hrtime.bigint();
    },
    stop() {
      wallEnd = process.hrtime.bigint();
      cpuEnd = process.cpuUsage(cpuStart ?? undefined);
    },
  };
  const outerCpu = process.cpuUsage();
  const outerStart = process.hrtime.bigint();
  const done = await peer(clock);
  const outerEnd = process.hrtime.bigint();
  if (cpuStart === null) {
    wallStart = outerStart;
    cpuStart = outerCpu;
  }
  if (cpuEnd === null) {
    wallEnd = outerEnd;
    cpuEnd = process.cpuUsage(cpuStart);
  }
  if (wallEnd <= wallStart) throw new Error('clock.stop() was called before clock.start()');
  return {
    ops: typeof done === 'number' ? done : ops,
    wallNs: Number(wallEnd - wallStart),
    cpuUs: cpuEnd.user + cpuEnd.system,
  };
}

async function settle() {
  globalThis.gc?.();
  await sleep(PAUSE_MS);
}

/** One run of the uvloop peer of a case, in its own process: { ops: 1, wallNs, cpuUs } per op. */
function runUvloop(caseName) {
  const child = spawnSync(python, [UVLOOP_SCHEDULING, caseName, '1'], { encoding: 'utf8', timeout: 120_000 });
  if (child.status !== 0) throw new Error(`uvloop ${caseName}: ${child.stderr.trim().split('\n').pop()}`);
  const { wallNs, cpuNs } = JSON.parse(child.stdout)[caseName][0];
  return { ops: 1, wallNs, cpuUs: cpuNs / 1000 };
}

/** Measures one case: a warm-up round, then REPEATS interleaved rounds; returns medians per peer. */
export async function measureCase(testCase) {
  const withUvloop = testCase.uvloop !== undefined && python !== null;
  const samples = { zloop: [], node: [], uvloop: [] };
  for (let round = 0; round <= REPEATS; round++) {
    // Alternate which peer goes first, so neither always runs right after the other's garbage.
    const order = round % 2 === 0 ? ['zloop', 'node'] : ['node', 'zloop'];
    if (withUvloop) order.push('uvloop');
    for (const peer of order) {
      await settle();
      const sample = peer === 'uvloop' ? runUvloop(testCase.uvloop) : await runOnce(testCase[peer], testCase.ops);
      if (round > 0) samples[peer].push(sample);
    }
  }
  return { zloop: summarize(samples.zloop), node: summarize(samples.node), uvloop: withUvloop ? summarize(samples.uvloop) : null };
}

function summarize(samples) {
  const rates = samples.map((sample) => sample.ops / (sample.wallNs / 1e9));
  const cpuNsPerOp = samples.map((sample) => (sample.cpuUs * 1000) / sample.ops);
  const rate = median(rates);
  return {
    rate,
    // Spread: the half-range of the repetitions relative to the median, to show the noise.
    spread: (Math.max(...rates) - Math.min(...rates)) / 2 / rate,
    cpuNsPerOp: median(cpuNsPerOp),
    wallMs: median(samples.map((sample) => sample.wallNs / 1e6)),
  };
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Runs every case of a group and prints its table; returns false if a target was missed. */
export async function runGroup(group) {
  console.log(`\n## ${group.name}: ${group.title}`);
  if (typeof group.run === 'function') return group.run();
  console.log(`median of ${REPEATS} interleaved repetitions after 1 warm-up; ±: half-range of the repetitions`);
  await group.setup?.();
  const rows = [];
  let allMet = true;
  try {
    for (const testCase of group.cases) {
      const result = await measureCase(testCase);
      const byCpu = testCase.compare === 'cpu';
      const ratioOf = (peer) => (peer === null ? NaN : byCpu ? peer.cpuNsPerOp / result.zloop.cpuNsPerOp : result.zloop.rate / peer.rate);
      const ratio = ratioOf(result.node);
      const uvloopRatio = ratioOf(result.uvloop);
      const verdicts = [];
      const targets = [];
      if (testCase.target !== undefined) {
        targets.push(`>= ${testCase.target}x node`);
        verdicts.push(ratio >= testCase.target ? 'yes' : 'NO');
      }
      if (testCase.uvloopTarget !== undefined) {
        targets.push(`>= ${testCase.uvloopTarget}x uvloop`);
        verdicts.push(result.uvloop === null ? 'n/a' : uvloopRatio >= testCase.uvloopTarget ? 'yes' : 'NO');
      }
      if (verdicts.includes('NO')) allMet = false;
      rows.push([
        testCase.name,
        formatRate(result.zloop),
        result.zloop.cpuNsPerOp.toFixed(0),
        formatRate(result.node),
        result.node.cpuNsPerOp.toFixed(0),
        `${ratio.toFixed(2)}x${byCpu ? ' cpu' : ''}`,
        result.uvloop === null ? (testCase.uvloop === undefined ? '-' : 'not installed') : formatRate(result.uvloop),
        result.uvloop === null ? '-' : `${uvloopRatio.toFixed(2)}x`,
        targets.join(', ') || '-',
        verdicts.join(', ') || '-',
      ]);
    }
  } finally {
    await group.teardown?.();
  }
  printTable(
    ['case', 'zloop ops/s', 'cpu ns/op', 'node ops/s', 'cpu ns/op', 'zloop/node', 'uvloop ops/s', 'zloop/uvloop', 'target', 'met'],
    rows,
  );
  return allMet;
}

function formatRate(summary) {
  return `${formatNumber(summary.rate)} ±${(summary.spread * 100).toFixed(0)}%`;
}

export function formatNumber(value) {
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return value.toFixed(0);
}

export function printTable(header, rows) {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells) =>
    `| ${cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((width, column) => (column === 0 ? '-'.repeat(width + 2) : `${'-'.repeat(width + 1)}:`)).join('|')}|`);
  for (const row of rows) console.log(line(row));
}

function positiveInteger(text, fallback) {
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new TypeError(`ZLOOP_BENCH_REPEATS must be a positive integer, got ${text}`);
  return value;
}

/** Reads a positive number from an environment variable, naming the variable in the error. */
export function positiveNumber(variable, text, fallback) {
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`${variable} must be a positive number, got ${text}`);
  return value;
}

/**
 * Runs a load generator (`command` is [file, ...args]) that prints one JSON line and exits 0;
 * resolves with the parsed line. `timeoutS` only catches a hung one: they stop by themselves.
 * `children`, if given, holds the running child so a caller can kill it on exit.
 */
export function runJsonProcess(command, timeoutS, label, children = null) {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    children?.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data) => (stdout += data));
    child.stderr.on('data', (data) => (stderr += data));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      children?.delete(child);
      if (code !== 0) return reject(new Error(`${label} ${signal ?? `status ${code}`}: ${stderr.trim() || 'no message'}`));
      try {
        resolve(JSON.parse(stdout));
      } catch {
        reject(new Error(`${label} printed '${stdout.trim()}'`));
      }
    });
  });
}

export function ratio(value) {
  return Number.isFinite(value) ? `${value.toFixed(2)}x` : '-';
}

/**
 * A ping-pong pair pinned to two CPUs keeps at least one of them busy; when neither is, other
 * processes took the CPUs and req/s measures the scheduler's share rather than the server.
 */
export function warnIfContended(summaries, thresholdPercent) {
  const busiest = Math.max(...[...summaries].map((summary) => Math.max(summary.cpuPercent, summary.clientCpuPercent)));
  if (busiest < thresholdPercent) {
    console.log(
      `warning: no server or client reached ${thresholdPercent}% CPU (busiest ${busiest.toFixed(0)}%): other processes shared these CPUs, ` +
        "so req/s and latency here are not the servers' own; cpu µs/req still is.",
    );
  }
}

/** The pids of `pid` and every process below it (a cluster primary's workers), from /proc. */
export function processTree(pid) {
  const parents = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      // Fields after the command name, which may hold spaces: state, ppid, ...
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), ppid);
    } catch {
      // The process ended while we looked.
    }
  }
  const tree = [pid];
  for (let index = 0; index < tree.length; index++) {
    for (const [child, parent] of parents) if (parent === tree[index]) tree.push(child);
  }
  return tree;
}
