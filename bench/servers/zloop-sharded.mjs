// Echo server for the sharded bench: createShardedServer with zloop-shard-echo.mjs, one process
// whose shards are worker threads, each with its own loop and SO_REUSEPORT listener.
// Prints its port when every shard serves and serves until killed.
// Usage: node zloop-sharded.mjs [HOST] [WORKERS]
import { fileURLToPath } from 'node:url';
import { createShardedServer } from '../../dist/src/index.js';

const handler = fileURLToPath(new URL('./zloop-shard-echo.mjs', import.meta.url));
const server = await createShardedServer(handler, {
  workers: Number(process.argv[3] ?? 2),
  host: process.argv[2] ?? '127.0.0.1',
  port: 0,
});
// Handlers first: the harness may signal as soon as it reads the port.
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void server.close({ timeout: 1 }));
process.stdout.write(`${server.address.port}\n`);
