// TLS echo server for the tls bench: Node's own tls, the way a Node user writes it. Prints its port
// when listening and serves until killed. Usage: node node-tls.mjs HOST KEY CERT
import { readFileSync } from 'node:fs';
import tls from 'node:tls';

const [host, key, cert] = process.argv.slice(2);
const server = tls.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (socket) => {
  socket.setNoDelay(true);
  socket.on('data', (data) => socket.write(data));
  socket.on('error', () => socket.destroy());
});
server.listen(0, host, () => {
  process.stdout.write(`${server.address().port}\n`);
});
