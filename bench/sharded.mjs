// A 2-shard zloop echo server (createShardedServer: one process, two worker threads, each with
// its own loop and SO_REUSEPORT listener) against Node `cluster` with 2 worker processes running
// the node:net echo server, TCP over loopback, 100 connections in ping-pong, 1 KiB and 10 KiB.
//
// "On the same CPUs": this machine has 2 CPUs, and the load generator needs one of its own or it
// takes CPU time from whichever server it shares a core with, so the only fair split is every
// thread and process of the server on CPU 0 (`taskset -c 0` on the zloop process, and on the
// cluster primary, whose forked workers inherit it) and the load generator on CPU 1. Both servers
// then run two event loops on one core; what is compared is the cost per request, which decides
// throughput on any number of cores. On a larger machine, give both servers the same 2 CPUs.
//
// Reuses echo.mjs: the Zig load generator (built on demand), server start-up, pinning, one run of
// load. CPU per request is the user+system time of every server process over the measured window,
// read by the load generator at the window's edges: for the zloop server its one process (all
// threads), for cluster the primary and both workers (--pid given once per process).
//
// Environment: ZLOOP_BENCH_SECONDS (measured seconds per run, default 2.5), ZLOOP_BENCH_REPEATS
// (runs per server and size, default 5), ZLOOP_BENCH_ECHO_WARMUP (first warm-up, default 1 s).
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLIENT_CPU, HOST, SECONDS, SERVER_CPU, buildTools, enablePinning, killAll, runLoad, startServer } from './echo.mjs';
import { REPEATS, median, printTable, formatNumber, positiveNumber, processTree, ratio, warnIfContended } from './harness.mjs';

export const name = 'sharded';
export const title = 'TCP echo, 2 shards: zloop createShardedServer (2 threads) vs Node cluster (2 worker processes), same CPU';

const WORKERS = 2;
const SIZES = [1024, 10 * 1024];
const CONNECTIONS = 100;
const TARGET = 1.5;
const FIRST_WARMUP_S = positiveNumber('ZLOOP_BENCH_ECHO_WARMUP', process.env.ZLOOP_BENCH_ECHO_WARMUP, 1);
const LATER_WARMUP_S = 0.25;
const PAUSE_MS = 100;
/** Below this CPU use on both ends of every run, a table is marked as measured under contention. */
const CONTENDED_PERCENT = 80;

const serverScript = (file) => fileURLToPath(new URL(`./servers/${file}`, import.meta.url));
const ZLOOP = 'zloop sharded (2 threads)';
const CLUSTER = 'node cluster (2 processes)';
const SERVERS = [
  { id: ZLOOP, command: [process.execPath, serverScript('zloop-sharded.mjs'), HOST, String(WORKERS)], target: TARGET },
  { id: CLUSTER, command: [process.execPath, serverScript('node-cluster.mjs'), HOST, String(WORKERS)] },
];

function summarize(results) {
  const rps = results.map((result) => result.rps);
  return {
    rps: median(rps),
    spread: (Math.max(...rps) - Math.min(...rps)) / 2 / median(rps),
    p50: median(results.map((result) => result.p50_us)),
    p99: median(results.map((result) => result.p99_us)),
    cpuUsPerRequest: median(results.map((result) => (result.server_cpu_us ?? NaN) / result.requests)),
    cpuPercent: median(results.map((result) => (100 * (result.server_cpu_us ?? NaN)) / (result.seconds * 1e6))),
    clientCpuPercent: median(results.map((result) => (100 * result.client_cpu_us) / (result.seconds * 1e6))),
  };
}

export async function run() {
  const pinned = enablePinning();
  buildTools();
  process.on('exit', killAll);
  const loadBefore = os.loadavg()[0];
  console.log(
    `${REPEATS} runs of ${SECONDS} s per server and size (servers interleaved, order alternating), medians; ${CONNECTIONS} connections; ` +
      (pinned ? `every server thread and process on CPU ${SERVER_CPU}, load generator on CPU ${CLIENT_CPU}` : 'NOT pinned (taskset missing or fewer than 2 CPUs)'),
  );

  const servers = [];
  for (const spec of SERVERS) {
    const started = await startServer(spec);
    // The cluster primary prints its port only once every worker listens, so its tree is whole.
    servers.push(started.skipped === undefined ? { ...spec, ...started, pids: processTree(started.pid) } : { ...spec, ...started });
  }
  const live = servers.filter((server) => server.skipped === undefined);
  console.log(`server processes measured: ${live.map((server) => `${server.id} ${server.pids.length}`).join(', ')}`);

  const missed = [];
  try {
    for (const size of SIZES) {
      const samples = new Map(live.map((server) => [server.id, []]));
      const failures = new Map();
      for (let round = 0; round < REPEATS; round++) {
        const order = round % 2 === 0 ? live : [...live].reverse();
        for (const server of order) {
          if (failures.has(server.id)) continue;
          await sleep(PAUSE_MS);
          try {
            samples.get(server.id).push(await runLoad(server, size, CONNECTIONS, round === 0 ? FIRST_WARMUP_S : LATER_WARMUP_S));
          } catch (error) {
            failures.set(server.id, error.message);
          }
        }
      }
      missed.push(...printSize(size, servers, samples, failures));
    }
  } finally {
    killAll();
    process.off('exit', killAll);
  }
  const loadAfter = os.loadavg()[0];
  console.log(
    `\nnotes: load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after (the 2 pinned sides account for ~2); ` +
      'srv cpu%: all server processes\' CPU time over the window (100% = the one core they share); cli cpu%: the load generator\'s. ' +
      'cpu vs cluster: cluster\'s cpu µs/req divided by this one\'s (higher is better).',
  );
  if (missed.length > 0) console.log(`sharded targets missed: ${missed.join('; ')}`);
  return missed.length === 0;
}

/** Prints one size's table; returns the targets it missed. */
function printSize(size, servers, samples, failures) {
  console.log(`\n### ${size / 1024} KiB messages, ${CONNECTIONS} connections`);
  const summaries = new Map();
  for (const [id, results] of samples) if (results.length > 0 && !failures.has(id)) summaries.set(id, summarize(results));
  const cluster = summaries.get(CLUSTER);
  const missed = [];
  const rows = [];
  for (const server of servers) {
    const reason = server.skipped ?? failures.get(server.id);
    if (reason !== undefined) {
      rows.push([server.id, `skipped: ${reason}`, '', '', '', '', '', '', '', '', '']);
      if (server.target !== undefined) missed.push(`${server.id} at ${size / 1024} KiB (not measured)`);
      continue;
    }
    const summary = summaries.get(server.id);
    const rpsRatio = cluster ? summary.rps / cluster.rps : NaN;
    const cpuRatio = cluster ? cluster.cpuUsPerRequest / summary.cpuUsPerRequest : NaN;
    let targets = '-';
    let verdict = '-';
    if (server.target !== undefined) {
      targets = `>=${server.target}x both`;
      const rpsMet = rpsRatio >= server.target;
      const cpuMet = cpuRatio >= server.target;
      verdict = `${rpsMet ? 'yes' : 'NO'}, ${cpuMet ? 'yes' : 'NO'}`;
      if (!rpsMet) missed.push(`req/s ${ratio(rpsRatio)} of cluster at ${size / 1024} KiB`);
      if (!cpuMet) missed.push(`cpu/req ${ratio(cpuRatio)} better than cluster at ${size / 1024} KiB`);
    }
    rows.push([
      `${server.id}`,
      `${formatNumber(summary.rps)} ±${(summary.spread * 100).toFixed(0)}%`,
      summary.p50.toFixed(0),
      summary.p99.toFixed(0),
      summary.cpuUsPerRequest.toFixed(1),
      `${summary.cpuPercent.toFixed(0)}%`,
      `${summary.clientCpuPercent.toFixed(0)}%`,
      ratio(rpsRatio),
      ratio(cpuRatio),
      targets,
      verdict,
    ]);
  }
  printTable(['server', 'req/s', 'p50 µs', 'p99 µs', 'cpu µs/req', 'srv cpu%', 'cli cpu%', 'req/s vs cluster', 'cpu vs cluster', 'target', 'met'], rows);
  warnIfContended(summaries.values(), CONTENDED_PERCENT);
  return missed;
}

