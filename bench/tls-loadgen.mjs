// The TLS load generator of the tls bench (the Zig one speaks plain TCP only): a Node tls client
// keeping N connections in ping-pong with S-byte messages. After the warm-up it measures SECONDS,
// reading the server's user+system CPU time from /proc/PID/stat at the window edges, and prints
// one JSON line like bench/native/loadgen.zig does.
// Usage: node tls-loadgen.mjs HOST PORT CONNECTIONS SIZE SECONDS WARMUP_S CA_FILE SERVER_PID
import { readFileSync } from 'node:fs';
import tls from 'node:tls';

const [host, portText, connectionsText, sizeText, secondsText, warmupText, caFile, pidText] = process.argv.slice(2);
const port = Number(portText);
const connections = Number(connectionsText);
const size = Number(sizeText);
const seconds = Number(secondsText);
const warmup = Number(warmupText);
const pid = Number(pidText);
const ca = readFileSync(caFile);
const ticksPerSecond = 100; // USER_HZ on Linux

function serverCpuUs() {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // utime and stime are fields 14 and 15 of the whole line; 12 and 13 after "pid (comm) ".
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / ticksPerSecond;
}

let measuring = false;
let requests = 0;
const payload = Buffer.alloc(size, 0x61);

function connectOne() {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, ca, servername: 'localhost' }, () => {
      socket.setNoDelay(true);
      let received = 0;
      socket.on('data', (data) => {
        received += data.length;
        if (received < size) return;
        received -= size;
        if (measuring) requests++;
        socket.write(payload);
      });
      socket.write(payload);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

const sockets = await Promise.all(Array.from({ length: connections }, connectOne));
await new Promise((resolve) => setTimeout(resolve, warmup * 1000));
const cpuStart = serverCpuUs();
const clientStart = process.cpuUsage();
const wallStart = process.hrtime.bigint();
measuring = true;
await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
measuring = false;
const wallNs = Number(process.hrtime.bigint() - wallStart);
const cpuEnd = serverCpuUs();
const client = process.cpuUsage(clientStart);
for (const socket of sockets) socket.destroy();
const window = wallNs / 1e9;
process.stdout.write(
  `${JSON.stringify({ requests, seconds: window, rps: requests / window, server_cpu_us: cpuEnd - cpuStart, client_cpu_us: client.user + client.system })}\n`,
);
process.exit(0);
