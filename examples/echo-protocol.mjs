// An echo server on transports and protocols (asyncio's Protocol), with backpressure passed on to
// the client: while our writes pile up, we stop reading from it.
// Run: node examples/echo-protocol.mjs
// Prints:
//   echoed 1048576 bytes
import { getRunningLoop, Protocol, run } from 'zloop';

class Echo extends Protocol {
  connectionMade(transport) {
    this.transport = transport;
  }
  dataReceived(data) {
    this.transport.write(data); // `data` is the protocol's to keep: no copy needed
  }
  pauseWriting() {
    this.transport.pauseReading();
  }
  resumeWriting() {
    this.transport.resumeReading();
  }
}

class Client extends Protocol {
  received = 0;
  constructor(expected, done) {
    super();
    this.expected = expected;
    this.done = done;
  }
  connectionMade(transport) {
    transport.write(Buffer.alloc(this.expected, 'z'));
    this.transport = transport;
  }
  dataReceived(data) {
    this.received += data.length;
    if (this.received === this.expected) this.transport.close();
  }
  connectionLost(error) {
    if (error) this.done.setException(error);
    else this.done.setResult(this.received);
  }
}

await run(async () => {
  const loop = getRunningLoop();
  const server = await loop.createServer(() => new Echo(), '127.0.0.1', 0);
  const [, port] = server.sockets[0].getsockname();

  const done = loop.createFuture();
  await loop.createConnection(() => new Client(1 << 20, done), '127.0.0.1', port);
  console.log(`echoed ${await done} bytes`);

  server.close();
  await server.waitClosed();
});
