// Echo server for the echo bench: a zloop Protocol whose dataReceived writes the bytes back.
// Prints its port when listening and serves until killed. Usage: node zloop-protocol.mjs [HOST]
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

await run(async () => {
  const loop = getRunningLoop();
  const server = await loop.createServer(() => new EchoProtocol(), process.argv[2] ?? '127.0.0.1', 0);
  const [, port] = server.sockets[0].getsockname();
  process.stdout.write(`${port}\n`);
  await server.serveForever();
});
