// Unmodified node:http apps (bench/apps: hello world, 16 KiB of JSON) under `zloop serve
// --workers 2` (one process, two shard threads, the app's listen on zloop with SO_REUSEPORT)
// and under node:cluster with 2 worker processes, loaded by wrk with keep-alive. Interleaved
// rounds, medians. Per server: req/s, server CPU µs per request (user+system of the whole
// process tree over the measured window, from /proc), and total RSS of the tree after the run.
//
// Pinning as in sharded.mjs: every server thread and process on CPU 0, wrk on CPU 1 (this
// machine has 2 CPUs); what decides is the cost per request.
//
// Environment: ZLOOP_BENCH_SECONDS (seconds per wrk run, rounded, default 3), ZLOOP_BENCH_REPEATS
// (rounds, default 5), ZLOOP_BENCH_HTTP_CONNECTIONS (default 50).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPEATS, formatNumber, median, positiveNumber, printTable, processTree, ratio } from './harness.mjs';

export const name = 'http';
export const title = 'HTTP apps (node:http, unmodified): zloop serve --workers 2 vs node:cluster with 2 workers, wrk keep-alive, same CPU';

// wrk takes whole seconds.
const SECONDS = Math.max(1, Math.round(positiveNumber('ZLOOP_BENCH_SECONDS', process.env.ZLOOP_BENCH_SECONDS, 3)));
const CONNECTIONS = positiveNumber('ZLOOP_BENCH_HTTP_CONNECTIONS', process.env.ZLOOP_BENCH_HTTP_CONNECTIONS, 50);
const WORKERS = 2;
const RPS_TARGET = 1.2;
const SERVER_CPU = '0';
const CLIENT_CPU = '1';
const TICKS_PER_SECOND = 100; // USER_HZ on Linux
const PAGE_KB = 4;

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const APPS = [
  { id: 'hello world', file: here('./apps/hello.mjs') },
  { id: '16 KiB JSON', file: here('./apps/json16k.mjs') },
];
const ZLOOP = 'zloop serve (2 shards)';
const CLUSTER = 'node cluster (2 workers)';
const SERVERS = [
  { id: ZLOOP, command: (app) => [process.execPath, here('../dist/src/sharding/cli.js'), 'serve', app, '--workers', String(WORKERS)], ready: /serving .* on [\d.]+:\d+/ },
  { id: CLUSTER, command: (app) => [process.execPath, here('./servers/http-cluster.mjs'), app, String(WORKERS)], ready: /^\d+$/m },
];

function has(program) {
  return spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Starts a server on `port` pinned to SERVER_CPU; resolves once it says it is ready. */
function start(server, app, port) {
  const child = spawn('taskset', ['-c', SERVER_CPU, ...server.command(app)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PORT: String(port), HOST: '127.0.0.1' } });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${server.id} did not start within 15 s: ${output.trim()}`)), 15_000);
    const onData = (data) => {
      output += data;
      if (server.ready.test(output)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${server.id} exited (${code}) before it was ready: ${output.trim()}`));
    });
  });
}

async function stop(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const outcome = await Promise.race([exited, sleep(5000).then(() => 'late')]);
  if (outcome === 'late') {
    child.kill('SIGKILL');
    await exited;
  }
}

/** Sum over the tree: CPU ticks (user + system) and resident pages. */
function treeUsage(pids) {
  let ticks = 0;
  let pages = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const after = fields.slice(fields.lastIndexOf(')') + 2).split(' ');
      ticks += Number(after[11]) + Number(after[12]); // utime, stime (fields 14 and 15)
      pages += Number(readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ')[1]);
    } catch {
      // Gone while we looked.
    }
  }
  return { ticks, pages };
}

/** One wrk run: requests per second, requests, and the server tree's CPU µs per request. */
function runWrk(port, pids, seconds) {
  const before = treeUsage(pids);
  const result = spawnSync('taskset', ['-c', CLIENT_CPU, 'wrk', '-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, `http://127.0.0.1:${port}/`], { encoding: 'utf8', timeout: (seconds + 20) * 1000 });
  const after = treeUsage(pids);
  if (result.status !== 0) throw new Error(`wrk failed: ${result.stderr || result.stdout}`);
  const requests = Number(/(\d+) requests in/.exec(result.stdout)?.[1]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(result.stdout)?.[1]);
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(result.stdout);
  if (errors) throw new Error(`wrk reported errors: ${errors[0]}`);
  const cpuUs = ((after.ticks - before.ticks) / TICKS_PER_SECOND) * 1e6;
  return { rps, requests, cpuUsPerRequest: cpuUs / requests, rssMb: (after.pages * PAGE_KB) / 1024 };
}

export async function run() {
  if (!has('wrk') || !has('taskset')) {
    console.log(`http: skipped: ${has('wrk') ? 'taskset' : 'wrk'} is not installed (apt-get install wrk)`);
    return false;
  }
  console.log(`${REPEATS} rounds of ${SECONDS} s per server and app (interleaved, order alternating), medians; wrk -t1 -c${CONNECTIONS} keep-alive on CPU ${CLIENT_CPU}, servers on CPU ${SERVER_CPU}`);
  const missed = [];
  for (const app of APPS) {
    const samples = new Map(SERVERS.map((server) => [server.id, []]));
    const running = [];
    try {
      for (const server of SERVERS) {
        const port = await freePort();
        const child = await start(server, app.file, port);
        await sleep(300); // let every worker finish starting
        running.push({ server, child, port, pids: processTree(child.pid) });
      }
      for (const entry of running) runWrk(entry.port, entry.pids, 1); // warm-up
      for (let round = 0; round < REPEATS; round++) {
        const order = round % 2 === 0 ? running : [...running].reverse();
        for (const entry of order) samples.get(entry.server.id).push(runWrk(entry.port, entry.pids, SECONDS));
      }
    } finally {
      await Promise.all(running.map((entry) => stop(entry.child)));
    }
    missed.push(...printApp(app, samples));
  }
  console.log('\nnotes: cpu µs/req and RSS cover the whole process tree (zloop: one process; cluster: the primary and its workers). rps vs cluster and cpu vs cluster are higher-is-better ratios.');
  if (missed.length > 0) console.log(`http targets missed: ${missed.join('; ')}`);
  return missed.length === 0;
}

function printApp(app, samples) {
  console.log(`\n### ${app.id}, ${CONNECTIONS} keep-alive connections`);
  const summary = new Map();
  for (const [id, results] of samples) {
    summary.set(id, { rps: median(results.map((r) => r.rps)), cpu: median(results.map((r) => r.cpuUsPerRequest)), rss: median(results.map((r) => r.rssMb)) });
  }
  const cluster = summary.get(CLUSTER);
  const zloop = summary.get(ZLOOP);
  const rows = [...summary].map(([id, s]) => [id, formatNumber(s.rps), s.cpu.toFixed(1), s.rss.toFixed(0), ratio(s.rps / cluster.rps), ratio(cluster.cpu / s.cpu), ratio(cluster.rss / s.rss)]);
  printTable(['server', 'req/s', 'cpu µs/req', 'RSS MB', 'rps vs cluster', 'cpu vs cluster', 'RSS vs cluster'], rows);
  const missed = [];
  if (!(zloop.rps >= RPS_TARGET * cluster.rps)) missed.push(`${app.id}: req/s ${ratio(zloop.rps / cluster.rps)} cluster (target ${RPS_TARGET}x)`);
  if (!(zloop.cpu <= cluster.cpu)) missed.push(`${app.id}: cpu/req ${ratio(zloop.cpu / cluster.cpu)} cluster (target <= 1x)`);
  if (!(zloop.rss < cluster.rss)) missed.push(`${app.id}: RSS ${ratio(zloop.rss / cluster.rss)} cluster (target < 1x)`);
  return missed;
}
