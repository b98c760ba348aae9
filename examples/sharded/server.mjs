// Two shards serve one port; a client talks to it with node:net. The same handler runs under the
// CLI: npx zloop serve examples/sharded/handler.mjs --workers 2 --port 8080
// Run: node examples/sharded/server.mjs
// Prints:
//   shards serving: 2
//   reply: shard N: ping
//   closed
import net from 'node:net';
import { createShardedServer } from 'zloop';

const server = await createShardedServer(new URL('./handler.mjs', import.meta.url), { workers: 2, port: 0 });
console.log(`shards serving: ${server.shards.filter((shard) => shard.state === 'serving').length}`);

const reply = await new Promise((resolve, reject) => {
  const socket = net.connect(server.address.port, server.address.host, () => socket.end('ping'));
  let text = '';
  socket.on('data', (data) => (text += data));
  socket.on('end', () => resolve(text));
  socket.on('error', reject);
});
console.log(`reply: ${reply.replace(/shard \d+/, 'shard N')}`);

await server.close(); // graceful: stop accepting, let connections finish, end the workers
console.log('closed');
