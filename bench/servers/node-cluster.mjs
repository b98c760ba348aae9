// Echo server for the sharded bench: Node's `cluster` with WORKERS worker processes, each running
// the node:net echo server of node-net.mjs (setNoDelay, 'data' -> write), the way a Node user
// scales a server over cores. The primary distributes connections (round-robin, Node's default
// on Linux) and prints the port once every worker listens; serves until killed.
// Usage: node node-cluster.mjs [HOST] [WORKERS]
import cluster from 'node:cluster';
import net from 'node:net';

const host = process.argv[2] ?? '127.0.0.1';
const workers = Number(process.argv[3] ?? 2);

if (cluster.isPrimary) {
  let listening = 0;
  cluster.on('listening', (_worker, address) => {
    // Workers that listen on port 0 share the one port the primary bound for the first of them.
    if (++listening === workers) process.stdout.write(`${address.port}\n`);
  });
  cluster.on('exit', (worker, code, signal) => {
    process.stderr.write(`cluster worker ${worker.process.pid} exited (${signal ?? code})\n`);
    process.exit(1);
  });
  for (let index = 0; index < workers; index++) cluster.fork();
} else {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (data) => socket.write(data));
    socket.on('error', () => socket.destroy());
  });
  server.listen(0, host);
}
