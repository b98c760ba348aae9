// balance: 'roundrobin' when a receiving shard crashes. Kept apart from sharded.test.ts because
// it restarts shards while connections are being handed over.
//
// Guards a fixed bug: connections handed to a shard whose worker had died vanished (its mailbox
// still took calls). Now the dead reactor's mailbox is closed with its environment, so the
// hand-off fails and shard 0 serves the connection, and the supervisor stops routing to the dead
// shard at once.
import { describe, expect, it } from 'vitest';
import { createShardedServer, type ShardedServer } from 'zloop';
import { LineClient, shardOf } from './helpers/line-client.js';
import { within } from './helpers/loops.js';
import { trackLeaks } from './helpers/leaks.js';

trackLeaks();

const HANDLER = new URL('./fixtures/shard-handler.mjs', import.meta.url);

async function withServer<T>(
  handler: URL | string,
  options: Parameters<typeof createShardedServer>[1],
  body: (server: ShardedServer, clients: LineClient[]) => Promise<T>,
): Promise<T> {
  const server = await createShardedServer(handler, options);
  const clients: LineClient[] = [];
  try {
    return await body(server, clients);
  } finally {
    for (const client of clients) client.destroy();
    await within(server.close({ timeout: 1 }), 20_000, 'server.close');
  }
}

async function connectAll(port: number, count: number, clients: LineClient[]): Promise<number[]> {
  const ids: number[] = [];
  for (let index = 0; index < count; index++) {
    const client = await LineClient.connect(port);
    clients.push(client);
    ids.push(shardOf(await client.request('id', 2000)));
  }
  return ids;
}

describe("createShardedServer, balance: 'roundrobin', a receiving shard crashes", () => {
  it("balance: 'roundrobin': a crashed receiving shard is restarted and no handed-off connection is lost", async () => {
    await withServer(HANDLER, { workers: 3, balance: 'roundrobin' }, async (server, clients) => {
      const exited = new Promise<number>((resolve) => server.once('exit', resolve));
      const restarted = new Promise<number>((resolve) => server.once('restart', resolve));
      const ids: number[] = [];
      ids.push(...(await connectAll(server.address.port, 6, clients)));
      const victimIndex = ids.indexOf(2);
      expect(victimIndex).toBeGreaterThanOrEqual(0);
      clients[victimIndex]!.socket.write('exit\n');
      expect(await within(exited, 10_000, 'exit event')).toBe(2);
      // Right after the exit (the restart waits ~100 ms): every new connection is still served,
      // by whichever shard; connectAll fails if one gets no reply.
      const during = await connectAll(server.address.port, 6, clients);
      expect(during).toHaveLength(6);
      expect(await within(restarted, 10_000, 'restart event')).toBe(2);
      const after: number[] = [];
      after.push(...(await connectAll(server.address.port, 6, clients)));
      expect(new Set(after)).toEqual(new Set([0, 1, 2]));
    });
  });
});
