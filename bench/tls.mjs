// TLS echo over loopback: a zloop TLS server (createServer with ssl: Node's OpenSSL driven through
// a tls.TLSSocket over the zloop transport, see docs/architecture.md "TLS") against Node's own tls
// server, at 1 KiB and 10 KiB, in the same run. Certificates are made with the openssl CLI.
//
// How it measures: both servers run for the whole group pinned to CPU 0; the load generator
// (bench/tls-loadgen.mjs, a Node tls client, the same for both servers) runs pinned to CPU 1 with
// CONNECTIONS connections in ping-pong. Servers are interleaved with the order rotated every
// repetition; medians are reported. cpu µs/req is the server's user+system time from /proc/PID/stat
// (10 ms ticks) over the measured window divided by the requests.
//
// Environment: ZLOOP_BENCH_SECONDS (default 2.5), ZLOOP_BENCH_TLS_REPEATS (default 3).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLIENT_CPU, enablePinning, HOST, killAll, SECONDS, startServer } from './echo.mjs';
import { formatNumber, median, positiveNumber, printTable, runJsonProcess } from './harness.mjs';

export const name = 'tls';
export const title = "TLS echo over loopback: zloop (ssl option) vs Node's tls server";

const REPEATS = Math.round(positiveNumber('ZLOOP_BENCH_TLS_REPEATS', process.env.ZLOOP_BENCH_TLS_REPEATS, 3));
const SIZES = [1024, 10 * 1024];
const CONNECTIONS = 10;
const FIRST_WARMUP_S = 1;
const LATER_WARMUP_S = 0.5;
const LOADGEN = fileURLToPath(new URL('./tls-loadgen.mjs', import.meta.url));
const serverScript = (file) => fileURLToPath(new URL(`./servers/${file}`, import.meta.url));

function makeCerts() {
  const dir = mkdtempSync(join(os.tmpdir(), 'zloop-bench-tls-'));
  const openssl = (args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=bench CA']);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  writeFileSync(join(dir, 'ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext']);
  return { dir, key: join(dir, 'server.key'), cert: join(dir, 'server.crt'), ca: join(dir, 'ca.crt') };
}

function runLoad(server, size, warmupS, ca, pinned) {
  const args = [LOADGEN, HOST, String(server.port), String(CONNECTIONS), String(size), String(SECONDS), String(warmupS), ca, String(server.pid)];
  const command = pinned ? ['taskset', '-c', CLIENT_CPU, process.execPath, ...args] : [process.execPath, ...args];
  return runJsonProcess(command, warmupS + SECONDS + 20, 'tls load generator');
}

export async function run() {
  const pinned = enablePinning();
  const certs = makeCerts();
  process.on('exit', killAll);
  console.log(
    `${REPEATS} repetitions of ${SECONDS} s per server and size, ${CONNECTIONS} connections, servers interleaved, medians; ` +
      (pinned ? `server on CPU 0, Node tls load generator on CPU ${CLIENT_CPU}` : 'NOT pinned'),
  );
  const specs = [
    { id: 'zloop tls', command: [process.execPath, serverScript('zloop-tls.mjs'), HOST, certs.key, certs.cert] },
    { id: 'node:tls', command: [process.execPath, serverScript('node-tls.mjs'), HOST, certs.key, certs.cert] },
  ];
  const servers = [];
  try {
    for (const spec of specs) servers.push({ ...spec, ...(await startServer(spec)) });
    const rows = [];
    for (const size of SIZES) {
      const samples = new Map(servers.map((server) => [server.id, []]));
      const failures = new Map();
      for (let round = 0; round < REPEATS; round++) {
        const order = servers.map((_, index) => servers[(index + round) % servers.length]);
        for (const server of order) {
          if (server.skipped || failures.has(server.id)) continue;
          await sleep(100);
          try {
            samples.get(server.id).push(await runLoad(server, size, round === 0 ? FIRST_WARMUP_S : LATER_WARMUP_S, certs.ca, pinned));
          } catch (error) {
            failures.set(server.id, error.message);
          }
        }
      }
      const summaries = new Map();
      for (const [id, results] of samples) {
        if (results.length === 0) continue;
        summaries.set(id, {
          rps: median(results.map((result) => result.rps)),
          cpu: median(results.map((result) => result.server_cpu_us / result.requests)),
          srv: median(results.map((result) => (100 * result.server_cpu_us) / (result.seconds * 1e6))),
          cli: median(results.map((result) => (100 * result.client_cpu_us) / (result.seconds * 1e6))),
        });
      }
      const node = summaries.get('node:tls');
      for (const server of servers) {
        const reason = server.skipped ?? failures.get(server.id);
        const summary = summaries.get(server.id);
        if (reason !== undefined || summary === undefined) {
          rows.push([`${size / 1024} KiB`, server.id, `skipped: ${reason ?? 'no samples'}`, '', '', '', '', '']);
          continue;
        }
        rows.push([
          `${size / 1024} KiB`,
          server.id,
          formatNumber(summary.rps),
          summary.cpu.toFixed(1),
          `${summary.srv.toFixed(0)}%`,
          `${summary.cli.toFixed(0)}%`,
          node ? `${(summary.rps / node.rps).toFixed(2)}x` : '-',
          node ? `${(summary.cpu / node.cpu).toFixed(2)}x` : '-',
        ]);
      }
    }
    printTable(['size', 'server', 'req/s', 'cpu µs/req', 'srv cpu%', 'cli cpu%', 'req/s vs node:tls', 'cpu/req vs node:tls'], rows);
    console.log(
      'notes: one Node tls client process drives both servers; when cli cpu% is near 100% the client is the limit and ' +
        'req/s understates the faster server, so cpu µs/req is the figure to compare.',
    );
  } finally {
    killAll();
    process.off('exit', killAll);
    rmSync(certs.dir, { recursive: true, force: true });
  }
  return true;
}
