// Echo server for the echo bench: a zloop BufferedProtocol. getBuffer() hands out one
// preallocated 64 KiB buffer, and bufferUpdated(n) writes its first n bytes back. Reusing the
// buffer is safe because transport.write() copies synchronously, into the kernel or into the
// transport's native queue, before it returns.
// Prints its port when listening and serves until killed. Usage: node zloop-buffered.mjs [HOST]
import { run, getRunningLoop, BufferedProtocol } from '../../dist/src/index.js';

class EchoBufferedProtocol extends BufferedProtocol {
  transport = null;
  buffer = new Uint8Array(64 * 1024);

  connectionMade(transport) {
    this.transport = transport;
  }

  getBuffer(_sizeHint) {
    return this.buffer;
  }

  bufferUpdated(nbytes) {
    this.transport.write(this.buffer.subarray(0, nbytes));
  }
}

await run(async () => {
  const loop = getRunningLoop();
  const server = await loop.createServer(() => new EchoBufferedProtocol(), process.argv[2] ?? '127.0.0.1', 0);
  const [, port] = server.sockets[0].getsockname();
  process.stdout.write(`${port}\n`);
  await server.serveForever();
});
