// UDP echo over loopback: a zloop DatagramProtocol echo server against a node:dgram one. The load
// generator (bench/native/udp_loadgen.zig, built by `zig build bench`) keeps IN_FLIGHT datagrams
// of SIZE bytes in flight on one connected socket; each reply sends the next one.
//
// How it measures (as echo.mjs): both servers run for the whole group pinned to CPU 0, the load
// generator runs pinned to CPU 1; servers are interleaved with the order rotated each repetition;
// the load generator reads the server's CPU time from /proc/PID/stat at the window edges, so
// cpu µs/req covers every thread of the server. Medians of ZLOOP_BENCH_ECHO_REPEATS (default 3)
// runs of ZLOOP_BENCH_SECONDS (default 2.5) each.
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildTools, CLIENT_CPU, enablePinning, HOST, killAll, SECONDS, startServer } from './echo.mjs';
import { formatNumber, median, positiveNumber, printTable, runJsonProcess } from './harness.mjs';

export const name = 'udp';
export const title = 'UDP echo over loopback: zloop DatagramProtocol vs node:dgram';

const REPEATS = Math.round(positiveNumber('ZLOOP_BENCH_ECHO_REPEATS', process.env.ZLOOP_BENCH_ECHO_REPEATS, 3));
const CONFIGS = [
  { size: 64, inFlight: 1 },
  { size: 64, inFlight: 32 },
  { size: 1024, inFlight: 32 },
];
const root = fileURLToPath(new URL('..', import.meta.url));
const LOADGEN = `${root}build/bench/udp-loadgen`;
const serverScript = (file) => fileURLToPath(new URL(`./servers/${file}`, import.meta.url));
const SERVERS = [
  { id: 'zloop udp', command: [process.execPath, serverScript('zloop-udp.mjs'), HOST] },
  { id: 'node:dgram', command: [process.execPath, serverScript('node-dgram.mjs'), HOST] },
];
let pinned = false;

function runLoad(server, size, inFlight, warmupS) {
  const args = [HOST, String(server.port), String(inFlight), String(size), String(SECONDS), '--warmup', String(warmupS), '--pid', String(server.pid)];
  const command = pinned ? ['taskset', '-c', CLIENT_CPU, LOADGEN, ...args] : [LOADGEN, ...args];
  return runJsonProcess(command, warmupS + SECONDS + 15, 'udp load generator');
}

export async function run() {
  pinned = enablePinning();
  buildTools();
  process.on('exit', killAll);
  console.log(
    `${REPEATS} repetitions of ${SECONDS} s per server and configuration (interleaved, order rotated), medians; ` +
      (pinned ? 'servers on CPU 0, load generator on CPU 1' : 'NOT pinned'),
  );
  const servers = [];
  for (const spec of SERVERS) servers.push({ ...spec, ...(await startServer(spec)) });
  const rows = [];
  try {
    for (const config of CONFIGS) {
      const samples = new Map(servers.map((server) => [server.id, []]));
      const failures = new Map();
      for (let round = 0; round < REPEATS; round++) {
        const order = servers.map((_, index) => servers[(index + round) % servers.length]);
        for (const server of order) {
          if (server.skipped !== undefined || failures.has(server.id)) continue;
          await sleep(100);
          try {
            samples.get(server.id).push(await runLoad(server, config.size, config.inFlight, round === 0 ? 1 : 0.25));
          } catch (error) {
            failures.set(server.id, error.message);
          }
        }
      }
      const summaries = new Map();
      for (const [id, results] of samples) {
        if (results.length === 0) continue;
        const rps = results.map((result) => result.rps);
        summaries.set(id, {
          rps: median(rps),
          spread: (Math.max(...rps) - Math.min(...rps)) / 2 / median(rps),
          cpuUs: median(results.map((result) => result.server_cpu_us / result.requests)),
          srvPercent: median(results.map((result) => (100 * result.server_cpu_us) / (result.seconds * 1e6))),
          cliPercent: median(results.map((result) => (100 * result.client_cpu_us) / (result.seconds * 1e6))),
          refills: median(results.map((result) => result.refills)),
        });
      }
      const node = summaries.get('node:dgram');
      for (const server of servers) {
        const reason = server.skipped ?? failures.get(server.id);
        const label = `${config.size} B x ${config.inFlight}`;
        if (reason !== undefined || !summaries.has(server.id)) {
          rows.push([label, server.id, `skipped: ${reason ?? 'no result'}`, '', '', '', '', '']);
          continue;
        }
        const summary = summaries.get(server.id);
        rows.push([
          label,
          server.id,
          `${formatNumber(summary.rps)} ±${(summary.spread * 100).toFixed(0)}%`,
          summary.cpuUs.toFixed(2),
          `${summary.srvPercent.toFixed(0)}%`,
          `${summary.cliPercent.toFixed(0)}%`,
          String(summary.refills),
          node ? `${(summary.rps / node.rps).toFixed(2)}x` : '-',
        ]);
      }
    }
  } finally {
    killAll();
    process.off('exit', killAll);
  }
  printTable(['datagrams', 'server', 'req/s', 'cpu µs/req', 'srv cpu%', 'cli cpu%', 'refills', 'vs node:dgram'], rows);
  return true;
}
