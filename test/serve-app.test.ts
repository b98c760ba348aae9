// `zloop serve app.mjs` and createShardedServer(app module): an unmodified app that starts its
// own servers at import runs in every shard, all shards on one SO_REUSEPORT port (port 0: shard
// 0 picks it, the others bind it). Clients are Node's http client and fetch, not zloop.
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { createShardedServer, type ShardedServer } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { within } from './helpers/loops.js';

trackLeaks();

const fixture = (name: string): URL => new URL(`./fixtures/${name}`, import.meta.url);

async function withApp<T>(name: string, body: (server: ShardedServer, port: number) => Promise<T>): Promise<T> {
  const server = await within(createShardedServer(fixture(name), { workers: 2 }), 20_000, 'start');
  try {
    return await body(server, server.address.port);
  } finally {
    await within(server.close({ timeout: 2 }), 20_000, 'close');
  }
}

/** One request on a connection of its own (agent: false), so connections spread over the shards. */
function get(port: number, path: string, agent: http.Agent | false = false): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => resolve({ status: res.statusCode!, body }));
      })
      .on('error', reject);
  });
}

describe('an app module on shards', () => {
  it("address is where the app listens, not the configured host (the app chose 127.0.0.1)", async () => {
    const server = await within(createShardedServer(fixture('app-express.mjs'), { workers: 1, host: '::' }), 20_000, 'start');
    try {
      expect(server.address.host).toBe('127.0.0.1');
      expect((await get(server.address.port, '/whoami')).status).toBe(200);
    } finally {
      await within(server.close({ timeout: 2 }), 20_000, 'close');
    }
  });

  it('Express: every shard serves on the one port; JSON bodies; stats count the connections', async () => {
    await withApp('app-express.mjs', async (server, port) => {
      expect(port).toBeGreaterThan(0);
      const threads = new Set<number>();
      for (let index = 0; index < 24; index++) threads.add((JSON.parse((await get(port, '/whoami')).body) as { threadId: number }).threadId);
      // 24 connections hashed over 2 SO_REUSEPORT listeners: both take some (all on one: 2^-23).
      expect(threads.size).toBe(2);
      const echoed = await fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":[1,2]}' });
      expect(((await echoed.json()) as { got: unknown }).got).toEqual({ a: [1, 2] });

      const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
      await Promise.all(Array.from({ length: 4 }, () => get(port, '/whoami', agent)));
      const stats = await server.stats();
      expect(stats.reduce((sum, shard) => sum + shard.connectionsOpen, 0)).toBeGreaterThanOrEqual(4);
      expect(stats.reduce((sum, shard) => sum + shard.accepted, 0)).toBeGreaterThanOrEqual(24 + 4);
      expect(stats.reduce((sum, shard) => sum + shard.bytesIn, 0)).toBeGreaterThan(0);
      agent.destroy();
    });
  });

  it('graceful close: a request in flight completes, idle keep-alive connections are closed', async () => {
    const agent = new http.Agent({ keepAlive: true });
    let slow!: Promise<{ status: number; body: string }>;
    await withApp('app-express.mjs', async (server, port) => {
      await get(port, '/whoami', agent); // an idle keep-alive connection stays open
      slow = get(port, '/slow?ms=300');
      // Wait until the slow request is on a shard: its connection shows in the stats.
      await within(
        (async () => {
          for (;;) {
            const open = (await server.stats()).reduce((sum, shard) => sum + shard.connectionsOpen, 0);
            if (open >= 2) return;
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        })(),
        5000,
        'both connections open',
      );
    });
    // close() has resolved: the request in flight got its whole answer first.
    const answer = await slow;
    expect(answer.status).toBe(200);
    expect(answer.body).toMatch(/^slow done \d+$/);
    agent.destroy();
  });

  it('a crashed shard restarts and serves the same port again', async () => {
    await withApp('app-express.mjs', async (server, port) => {
      const exited = new Promise<number>((resolve) => server.once('exit', (id: number) => resolve(id)));
      const restarted = new Promise<number>((resolve) => server.once('restart', (id: number) => resolve(id)));
      // Keep asking until a /crash lands on some shard (each connection hashes to one of them).
      expect((await get(port, '/crash')).body).toBe('crashing');
      const id = await within(exited, 10_000, 'shard exit');
      expect(await within(restarted, 20_000, 'shard restart')).toBe(id);
      const threads = new Set<number>();
      for (let index = 0; index < 24; index++) threads.add((JSON.parse((await get(port, '/whoami')).body) as { threadId: number }).threadId);
      expect(threads.size).toBe(2);
    });
  });

  it('Fastify with a top-level await app.listen(): the import waits for the port, then serves', async () => {
    await withApp('app-fastify.mjs', async (_server, port) => {
      const answer = JSON.parse((await get(port, '/whoami')).body) as { framework: string };
      expect(answer.framework).toBe('fastify');
    });
  });
});
