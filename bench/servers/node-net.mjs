// Echo server for the echo bench: Node's own `net`, the way a Node user writes it (setNoDelay,
// 'data' -> write). Prints its port when listening and serves until killed.
// Usage: node node-net.mjs [HOST]
import net from 'node:net';

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('data', (data) => socket.write(data));
  socket.on('error', () => socket.destroy());
});
server.listen(0, process.argv[2] ?? '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
