// A TCP echo server and a client on the streams API (asyncio's start_server / open_connection).
// Run: node examples/echo-streams.mjs
// Prints:
//   hello
//   world
import { openConnection, run, startServer } from 'zloop';

await run(async () => {
  const server = await startServer(async (reader, writer) => {
    for await (const chunk of reader) {
      writer.write(chunk);
      await writer.drain(); // backpressure: wait while the client reads slower than we write
    }
    writer.close();
  }, '127.0.0.1', 0);
  const [, port] = server.sockets[0].getsockname();

  const [reader, writer] = await openConnection('127.0.0.1', port);
  writer.write('hello\nworld\n');
  console.log(String(await reader.readline()).trimEnd());
  console.log(String(await reader.readline()).trimEnd());
  writer.close();
  await writer.waitClosed();

  server.close();
  await server.waitClosed();
});
