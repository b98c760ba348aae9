// TLS echo server for the tls bench: a zloop Protocol on createServer({ ssl }). Prints its port when
// listening and serves until killed. Usage: node zloop-tls.mjs HOST KEY CERT
import { readFileSync } from 'node:fs';
import { run, getRunningLoop, Protocol } from '../../dist/src/index.js';

class EchoProtocol extends Protocol {
  transport = null;

  connectionMade(transport) {
    this.transport = transport;
  }

  dataReceived(data) {
    this.transport.write(data);
  }
}

const [host, key, cert] = process.argv.slice(2);
await run(async () => {
  const loop = getRunningLoop();
  const server = await loop.createServer(() => new EchoProtocol(), host, 0, { ssl: { key: readFileSync(key), cert: readFileSync(cert) } });
  const [, port] = server.sockets[0].getsockname();
  process.stdout.write(`${port}\n`);
  await server.serveForever();
});
