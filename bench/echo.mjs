// TCP echo over loopback: zloop's Protocol, BufferedProtocol and streams servers against Node's
// `net`, uvloop (protocol and streams), Bun (Bun.listen) and Deno (Deno.listen) where they are
// installed (peers.mjs), and a plain Zig epoll server (the ceiling: what one core does with no
// runtime at all). The load generator (bench/native/loadgen.zig) keeps N connections in ping-pong with
// S-byte messages; it and the ceiling server are built on demand by `zig build bench`.
//
// How it measures:
// - Every server runs for the whole group, pinned to CPU 0 (`taskset -c 0`); the load generator
//   runs pinned to CPU 1, so client and server never compete for a core (other processes on the
//   machine still may: see the notes printed under the tables).
// - Each run: a fresh set of connections, a warm-up (ECHO_WARMUP_S the first time a server sees a
//   configuration, 0.25 s after that), then SECONDS measured. The load generator reads the
//   server's user+system CPU time from /proc/PID/stat at the exact window edges, so CPU per
//   request covers every thread of the server (Node's GC helpers included).
// - Servers are interleaved, with the order rotated every repetition, and medians are reported.
//
// Environment: ZLOOP_BENCH_SECONDS (measured seconds per run, default 2.5),
// ZLOOP_BENCH_ECHO_REPEATS (default 3), ZLOOP_BENCH_ECHO_WARMUP (first warm-up, default 1 s).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { runZig } from '../scripts/zig.mjs';
import { writeEchoChart } from './chart.mjs';
import { median, printTable, formatNumber, positiveNumber, ratio, runJsonProcess, warnIfContended } from './harness.mjs';
import { bun, deno, missingPeersNotice, python } from './peers.mjs';

export const name = 'echo';
export const title = 'TCP echo over loopback: zloop protocol / buffered / streams vs node:net and a Zig epoll ceiling';

export const SECONDS = positiveNumber('ZLOOP_BENCH_SECONDS', process.env.ZLOOP_BENCH_SECONDS, 2.5);
const REPEATS = Math.round(positiveNumber('ZLOOP_BENCH_ECHO_REPEATS', process.env.ZLOOP_BENCH_ECHO_REPEATS, 3));
const FIRST_WARMUP_S = positiveNumber('ZLOOP_BENCH_ECHO_WARMUP', process.env.ZLOOP_BENCH_ECHO_WARMUP, 1);
const LATER_WARMUP_S = 0.25;
const SIZES = [1024, 10 * 1024, 100 * 1024];
const CONNECTIONS = [10, 100];
export const HOST = '127.0.0.1';
export const SERVER_CPU = '0';
export const CLIENT_CPU = '1';
/** Pause between runs, so the previous run's connections are closed on both sides. */
const PAUSE_MS = 100;
/** Below this CPU use on both ends of every run, a table is marked as measured under contention. */
const CONTENDED_PERCENT = 80;

const root = fileURLToPath(new URL('..', import.meta.url));
const LOADGEN = `${root}build/bench/zloop-loadgen`;
const CEILING = `${root}build/bench/echo-ceiling`;
const serverScript = (file) => fileURLToPath(new URL(`./servers/${file}`, import.meta.url));

const NODE_NET = 'node:net';
const CEILING_ID = 'ceiling (zig epoll)';
const UVLOOP_STREAMS = 'uvloop streams';
/** The lowest CPU per request of these, in each configuration, is "the best peer". */
const FAST_PEERS = ['uvloop protocol', 'bun (Bun.listen)', 'deno (Deno.listen)'];
const BEST_PEER = 'best of uvloop, Bun, Deno';

/**
 * The servers in the order of the table; a peer whose runtime is not installed has `missing`.
 * `cpuAtMost`: the CPU-per-request targets, each a ratio to another server (or to BEST_PEER) that
 * must hold at every size and connection count (issue 11's goals).
 */
const SERVERS = [
  { id: 'zloop protocol', command: [process.execPath, serverScript('zloop-protocol.mjs'), HOST], cpuAtMost: [[CEILING_ID, 1.2], [BEST_PEER, 0.9]] },
  { id: 'zloop buffered', command: [process.execPath, serverScript('zloop-buffered.mjs'), HOST], cpuAtMost: [[CEILING_ID, 1.1]] },
  { id: 'zloop streams', command: [process.execPath, serverScript('zloop-streams.mjs'), HOST], cpuAtMost: [[UVLOOP_STREAMS, 0.9]] },
  { id: NODE_NET, command: [process.execPath, serverScript('node-net.mjs'), HOST] },
  { id: 'uvloop protocol', command: python && [python, serverScript('uvloop-protocol.py'), HOST], missing: !python && 'uvloop not installed' },
  { id: UVLOOP_STREAMS, command: python && [python, serverScript('uvloop-streams.py'), HOST], missing: !python && 'uvloop not installed' },
  { id: 'bun (Bun.listen)', command: bun && [bun, serverScript('bun-listen.mjs'), HOST], missing: !bun && 'bun not installed' },
  { id: 'deno (Deno.listen)', command: deno && [deno, 'run', '--allow-net', serverScript('deno-echo.mjs'), HOST], missing: !deno && 'deno not installed' },
  { id: CEILING_ID, command: [CEILING, HOST, '0'] },
];

const children = new Set();
let pinned = false;

function pin(cpu, command) {
  return pinned ? ['taskset', '-c', cpu, ...command] : command;
}

/**
 * Turns pinning on if this machine can do it (taskset works, 2 CPUs or more); returns whether it
 * did. startServer and runLoad pin only after this (sharded.mjs uses them too).
 */
export function enablePinning() {
  pinned = os.cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  return pinned;
}

/** Builds the load generator and the ceiling (a no-op when they are up to date). */
export function buildTools() {
  const status = runZig(['build', 'bench', '-Doptimize=ReleaseFast', '--prefix', 'build']);
  if (status !== 0 || !existsSync(LOADGEN) || !existsSync(CEILING)) {
    throw new Error(`echo: \`zig build bench\` failed (status ${status})`);
  }
}

/** Starts one server; resolves to { pid, port } once it printed its port, or { skipped }. */
export function startServer(spec) {
  const [file, ...args] = pin(SERVER_CPU, spec.command);
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (data) => (stderr += data));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ skipped: 'did not print its port within 15 s' });
    }, 15_000);
    child.stdout.on('data', (data) => {
      stdout += data;
      const newline = stdout.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      const port = Number(stdout.slice(0, newline));
      resolve(Number.isInteger(port) && port > 0 ? { child, pid: child.pid, port } : { skipped: `printed '${stdout.trim()}', not a port` });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ skipped: `exited (${signal ?? `status ${code}`}) before listening: ${stderr.trim().split('\n').pop() || 'no message'}` });
    });
  });
}

/**
 * Runs the load generator once against a server; resolves to its JSON result. Its
 * server_cpu_us covers `server.pids` when given (a multi-process server), else `server.pid`.
 */
export function runLoad(server, size, connections, warmupS) {
  const pidArgs = (server.pids ?? [server.pid]).flatMap((pid) => ['--pid', String(pid)]);
  const args = [HOST, String(server.port), String(connections), String(size), String(SECONDS), '--warmup', String(warmupS), ...pidArgs];
  // The load generator stops by itself; the timeout only catches a hung one.
  return runJsonProcess(pin(CLIENT_CPU, [LOADGEN, ...args]), warmupS + SECONDS + 15, 'load generator', children);
}

export function killAll() {
  for (const child of children) child.kill('SIGKILL');
}

/** Measures every configuration and prints one table each; returns false if a target was missed. */
export async function run() {
  enablePinning();
  buildTools();
  process.on('exit', killAll);
  const loadBefore = os.loadavg()[0];
  console.log(
    `${REPEATS} repetitions of ${SECONDS} s per server and configuration (servers interleaved, order rotated), medians; ` +
      (pinned ? `server on CPU ${SERVER_CPU}, load generator on CPU ${CLIENT_CPU}` : 'NOT pinned (taskset missing or fewer than 2 CPUs)'),
  );

  const notice = missingPeersNotice();
  if (notice !== null) console.log(notice);
  const servers = [];
  for (const spec of SERVERS) servers.push({ ...spec, ...(spec.missing ? { skipped: spec.missing } : await startServer(spec)) });
  const live = servers.filter((server) => server.skipped === undefined);

  let allMet = true;
  const missed = [];
  /** id -> [{ size, connections, rps, cpu }] for the chart. */
  const chartData = new Map();
  try {
    for (const size of SIZES) {
      for (const connections of CONNECTIONS) {
        const samples = new Map(live.map((server) => [server.id, []]));
        const failures = new Map();
        for (let round = 0; round < REPEATS; round++) {
          const order = live.map((_, index) => live[(index + round) % live.length]);
          for (const server of order) {
            if (failures.has(server.id)) continue;
            await sleep(PAUSE_MS);
            try {
              const result = await runLoad(server, size, connections, round === 0 ? FIRST_WARMUP_S : LATER_WARMUP_S);
              samples.get(server.id).push(result);
            } catch (error) {
              failures.set(server.id, error.message);
            }
          }
        }
        const met = printConfig(size, connections, servers, samples, failures, chartData);
        for (const miss of met) missed.push(`${miss} at ${formatSize(size)} x ${connections}`);
        if (met.length > 0) allMet = false;
      }
    }
  } finally {
    killAll();
    process.off('exit', killAll);
  }
  const chartFile = writeEchoChart(chartData, SIZES, CONNECTIONS);
  console.log(`\nchart: ${chartFile}`);
  const loadAfter = os.loadavg()[0];
  console.log(
    `notes: load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after (2 pinned processes account for ~2); ` +
      `srv cpu% / cli cpu%: the server's / load generator's CPU time over the window; when both are well below 100%, ` +
      `other processes held the CPUs (req/s and latency then understate; cpu µs/req is the steadier figure).`,
  );
  if (missed.length > 0) console.log(`echo targets missed: ${missed.join('; ')}`);
  return allMet;
}

function summarize(results) {
  const usPerRequest = results.map((result) => (result.server_cpu_us ?? NaN) / result.requests);
  return {
    rps: median(results.map((result) => result.rps)),
    spread: (Math.max(...results.map((r) => r.rps)) - Math.min(...results.map((r) => r.rps))) / 2 / median(results.map((r) => r.rps)),
    p50: median(results.map((result) => result.p50_us)),
    p99: median(results.map((result) => result.p99_us)),
    cpuUsPerRequest: median(usPerRequest),
    cpuPercent: median(results.map((result) => (100 * (result.server_cpu_us ?? NaN)) / (result.seconds * 1e6))),
    clientCpuPercent: median(results.map((result) => (100 * result.client_cpu_us) / (result.seconds * 1e6))),
  };
}

/** Prints one configuration's table; returns the targets it missed. */
function printConfig(size, connections, servers, samples, failures, chartData) {
  console.log(`\n### ${formatSize(size)} messages, ${connections} connections`);
  const summaries = new Map();
  for (const [id, results] of samples) if (results.length > 0 && !failures.has(id)) summaries.set(id, summarize(results));
  for (const [id, summary] of summaries) {
    if (!chartData.has(id)) chartData.set(id, []);
    chartData.get(id).push({ size, connections, rps: summary.rps, cpu: summary.cpuUsPerRequest });
  }
  const net = summaries.get(NODE_NET);
  const ceiling = summaries.get(CEILING_ID);
  const fastPeers = FAST_PEERS.map((id) => summaries.get(id)).filter((summary) => summary !== undefined);
  const bestPeerCpu = fastPeers.length > 0 ? Math.min(...fastPeers.map((summary) => summary.cpuUsPerRequest)) : NaN;
  const cpuOf = (id) => (id === BEST_PEER ? bestPeerCpu : (summaries.get(id)?.cpuUsPerRequest ?? NaN));
  const missed = [];
  const rows = [];
  for (const server of servers) {
    const reason = server.skipped ?? failures.get(server.id);
    if (reason !== undefined) {
      rows.push([server.id, `skipped: ${reason}`, '', '', '', '', '', '', '', '', '', '']);
      continue;
    }
    const summary = summaries.get(server.id);
    const targets = [];
    const verdicts = [];
    for (const [other, limit] of server.cpuAtMost ?? []) {
      const value = summary.cpuUsPerRequest / cpuOf(other);
      targets.push(`cpu<=${limit}x ${other === CEILING_ID ? 'ceiling' : other === BEST_PEER ? 'best peer' : other}`);
      if (Number.isNaN(value)) {
        verdicts.push('n/a');
        continue;
      }
      const ok = value <= limit;
      verdicts.push(ok ? 'yes' : 'NO');
      if (!ok) missed.push(`${server.id} cpu/req ${ratio(value)} of ${other} (target ${limit}x)`);
    }
    rows.push([
      server.id,
      `${formatNumber(summary.rps)} ±${(summary.spread * 100).toFixed(0)}%`,
      summary.p50.toFixed(0),
      summary.p99.toFixed(0),
      summary.cpuUsPerRequest.toFixed(1),
      `${summary.cpuPercent.toFixed(0)}%`,
      `${summary.clientCpuPercent.toFixed(0)}%`,
      ratio(net ? summary.rps / net.rps : NaN),
      ratio(ceiling ? summary.cpuUsPerRequest / ceiling.cpuUsPerRequest : NaN),
      ratio(summary.cpuUsPerRequest / bestPeerCpu),
      targets.join(', ') || '-',
      verdicts.join(', ') || '-',
    ]);
  }
  printTable(['server', 'req/s', 'p50 µs', 'p99 µs', 'cpu µs/req', 'srv cpu%', 'cli cpu%', 'req/s vs net', 'cpu vs ceiling', 'cpu vs best peer', 'target', 'met'], rows);
  warnIfContended(summaries.values(), CONTENDED_PERCENT);
  return missed;
}

function formatSize(bytes) {
  return `${bytes / 1024} KiB`;
}
