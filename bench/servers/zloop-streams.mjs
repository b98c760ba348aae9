// Echo server for the echo bench: zloop streams (startServer with a StreamReader/StreamWriter
// pair per connection), in the shape an asyncio user would write it.
// Prints its port when listening and serves until killed. Usage: node zloop-streams.mjs [HOST]
// Exits with status 3 and a message on stderr if this build of zloop has no streams yet.
import * as zloop from '../../dist/src/index.js';

if (typeof zloop.startServer !== 'function') {
  process.stderr.write('zloop streams are not built yet: startServer is not exported from dist/src/index.js\n');
  process.exit(3);
}

async function echo(reader, writer) {
  for (;;) {
    const data = await reader.read(65536);
    if (data.length === 0) break;
    writer.write(data);
    await writer.drain();
  }
  writer.close();
}

await zloop.run(async () => {
  const server = await zloop.startServer(echo, process.argv[2] ?? '127.0.0.1', 0);
  const [, port] = server.sockets[0].getsockname();
  process.stdout.write(`${port}\n`);
  await server.serveForever();
});
