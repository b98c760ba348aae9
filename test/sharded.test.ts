// createShardedServer: one loop and one SO_REUSEPORT listener per worker thread, driven by a
// supervisor. Clients are plain node:net sockets on loopback; the handler fixture replies with the
// id of the shard that served it, so each test can see where connections landed.
import { readdirSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createShardedServer, LoopRef, type ShardedServer } from 'zloop';
import { fdCount, settle, trackLeaks } from './helpers/leaks.js';
import { LineClient, shardOf } from './helpers/line-client.js';
import { within } from './helpers/loops.js';

trackLeaks();

const fixture = (name: string): URL => new URL(`./fixtures/${name}`, import.meta.url);
const HANDLER = fixture('shard-handler.mjs');

function threadCount(): number {
  return readdirSync('/proc/self/task').length;
}

/** Resolves true if `port` on 127.0.0.1 can be bound by a plain listener (nobody holds it). */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createNetServer();
    probe.once('error', () => resolve(false));
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/** Runs `body` with a server, closing it (and every client) whatever happens. */
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

/** Opens `count` connections, `parallel` at a time, asks each for its shard id. */
async function connectAll(port: number, count: number, clients: LineClient[], parallel = 25): Promise<number[]> {
  const shardIds: number[] = [];
  for (let start = 0; start < count; start += parallel) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(parallel, count - start) }, async () => {
        const client = await LineClient.connect(port);
        clients.push(client);
        return { client, id: shardOf(await client.request('id')) };
      }),
    );
    for (const { id } of batch) shardIds.push(id);
  }
  return shardIds;
}

function tally(ids: number[], shards: number): number[] {
  const counts = new Array<number>(shards).fill(0);
  for (const id of ids) counts[id]!++;
  return counts;
}

describe('createShardedServer: spreading connections', () => {
  it('with 4 shards and 200 connections every shard serves some', async () => {
    await withServer(HANDLER, { workers: 4 }, async (server, clients) => {
      const ids = await connectAll(server.address.port, 200, clients);
      const counts = tally(ids, 4);
      expect(counts.reduce((a, b) => a + b)).toBe(200);
      for (const count of counts) expect(count).toBeGreaterThan(0);
    });
  });

  it("balance: 'roundrobin' hands connections to every shard in turn", async () => {
    await withServer(HANDLER, { workers: 4, balance: 'roundrobin' }, async (server, clients) => {
      // One at a time, so the order of accepts is the order of connects.
      const ids: number[] = [];
      for (let index = 0; index < 40; index++) ids.push(...(await connectAll(server.address.port, 1, clients)));
      const counts = tally(ids, 4);
      for (const count of counts) expect(count).toBeGreaterThan(0);
      // Round-robin, not merely "somewhere": no shard is more than a couple behind another.
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(2);
      // Connections handed to another shard are fully served there.
      for (const client of clients) expect(await client.request('echo still here')).toBe('still here');
      const stats = await server.stats();
      expect(stats.map((shard) => shard.connectionsOpen)).toEqual(counts);
    });
  });
});

describe('createShardedServer: the server object', () => {
  it('address, shards and waitClosed()', async () => {
    const server = await createShardedServer(HANDLER, { workers: 4 });
    try {
      expect(server.address.host).toBe('127.0.0.1');
      expect(server.address.port).toBeGreaterThan(0);
      const shards = server.shards;
      expect(shards.map((shard) => shard.id)).toEqual([0, 1, 2, 3]);
      expect(shards.every((shard) => shard.state === 'serving')).toBe(true);
      const threadIds = shards.map((shard) => shard.threadId);
      expect(new Set(threadIds).size).toBe(4);
      for (const threadId of threadIds) expect(threadId).toBeGreaterThan(0);
      for (const shard of shards) expect(shard.ref).toBeInstanceOf(LoopRef);
    } finally {
      const waited = server.waitClosed();
      await within(server.close(), 20_000, 'close');
      await within(waited, 5000, 'waitClosed');
    }
    expect(server.shards.every((shard) => shard.state === 'closed')).toBe(true);
    await within(server.waitClosed(), 5000, 'waitClosed after close');
    // close() again is harmless and resolves.
    await within(server.close(), 5000, 'second close');
  });

  it('stats(): per shard connections open, accepted, bytes in and out, restarts', async () => {
    await withServer(HANDLER, { workers: 4 }, async (server, clients) => {
      const ids = await connectAll(server.address.port, 40, clients);
      const counts = tally(ids, 4);
      const stats = await server.stats();
      expect(stats).toHaveLength(4);
      stats.forEach((shard, id) => {
        expect(shard).toEqual({
          id,
          connectionsOpen: counts[id],
          accepted: counts[id],
          bytesIn: expect.any(Number),
          bytesOut: expect.any(Number),
          restarts: 0,
        });
        // Each client sent "id\n" and got "shard:N\n".
        expect(shard.bytesIn).toBeGreaterThanOrEqual(3 * counts[id]!);
        expect(shard.bytesOut).toBeGreaterThanOrEqual(8 * counts[id]!);
      });
      await Promise.all(clients.map((client) => client.end()));
      // The shards see the clients leave shortly after: poll, with a bound.
      let last = await server.stats();
      for (let attempt = 0; attempt < 100 && !last.every((shard) => shard.connectionsOpen === 0); attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        last = await server.stats();
      }
      expect(last.map((shard) => shard.connectionsOpen)).toEqual([0, 0, 0, 0]);
      expect(last.map((shard) => shard.accepted)).toEqual(counts);
    });
  });

  it('a { protocolFactory(shard) } handler, with setup(shard) run before accepting', async () => {
    await withServer(fixture('shard-protocol-handler.mjs'), { workers: 2 }, async (server, clients) => {
      const seen = new Set<number>();
      for (let attempt = 0; attempt < 100 && seen.size < 2; attempt++) {
        const client = await LineClient.connect(server.address.port);
        clients.push(client);
        const reply = await client.request('hello');
        const match = /^proto:(\d):true:hello$/.exec(reply);
        expect(match, reply).not.toBeNull();
        seen.add(Number(match![1]));
      }
      expect([...seen].sort()).toEqual([0, 1]);
    });
  });

  it('a streams handler gets its shard, and setup(shard) ran with the peers of that shard', async () => {
    await withServer(HANDLER, { workers: 3 }, async (server, clients) => {
      const replies = new Map<number, string>();
      for (let attempt = 0; attempt < 100 && replies.size < 3; attempt++) {
        const client = await LineClient.connect(server.address.port);
        clients.push(client);
        const id = shardOf(await client.request('id'));
        replies.set(id, await client.request('setup'));
      }
      expect(replies.get(0)).toMatch(/^setup:true:\w+:1,2$/);
      expect(replies.get(1)).toMatch(/^setup:true:\w+:0,2$/);
      expect(replies.get(2)).toMatch(/^setup:true:\w+:0,1$/);
    });
  });
});

describe('createShardedServer: graceful close', () => {
  it('every request sent before close() gets its complete reply', async () => {
    const server = await createShardedServer(HANDLER, { workers: 4 });
    const clients: LineClient[] = [];
    try {
      const { port } = server.address;
      const ids = await connectAll(port, 40, clients);
      expect(new Set(ids).size).toBeGreaterThan(1);
      const size = 200_000;
      // The handler waits ~100 ms before it replies, so close() starts with every request in flight.
      const replies = clients.map((client) => client.request(`slow ${size}`, 20_000));
      const closed = server.close();
      const lines = await Promise.all(replies);
      for (const line of lines) {
        expect(line.length).toBe(size);
        expect(/^x+$/.test(line)).toBe(true);
      }
      // The clients finish; then close() completes, without waiting for its timeout.
      await Promise.all(clients.map((client) => client.end()));
      await within(closed, 8000, 'close after the clients left');
      for (const client of clients) expect(client.errors).toEqual([]);
      expect(await portIsFree(port)).toBe(true);
    } finally {
      for (const client of clients) client.destroy();
      await server.close();
    }
  });

  it('close({ timeout }) aborts connections still open after the timeout', async () => {
    const server = await createShardedServer(HANDLER, { workers: 2 });
    const clients: LineClient[] = [];
    try {
      await connectAll(server.address.port, 4, clients);
      const gone = clients.map((client) => new Promise<void>((resolve) => client.socket.once('close', () => resolve())));
      // The clients never leave by themselves; close() must not wait for the default 10 s.
      await within(server.close({ timeout: 0.2 }), 8000, 'close with timeout');
      await within(Promise.all(gone), 5000, 'clients disconnected');
    } finally {
      for (const client of clients) client.destroy();
      await server.close();
    }
  });

  it('new connections are refused once close() has finished', async () => {
    const server = await createShardedServer(HANDLER, { workers: 2 });
    const { port } = server.address;
    await server.close();
    await expect(LineClient.connect(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('createShardedServer: a shard that crashes', () => {
  async function crashOneShard(command: 'exit' | 'throw'): Promise<void> {
    await withServer(HANDLER, { workers: 4 }, async (server, clients) => {
      const events: [string, number, unknown][] = [];
      server.on('exit', (id, reason) => events.push(['exit', id, reason]));
      server.on('restart', (id) => events.push(['restart', id, undefined]));
      const serverErrors: unknown[] = [];
      server.on('error', (error) => serverErrors.push(error));
      const restarted = new Promise<number>((resolve) => server.once('restart', resolve));

      const ids = await connectAll(server.address.port, 40, clients);
      const counts = tally(ids, 4);
      const victim = counts.findIndex((count) => count > 0);
      const victimClient = clients[ids.indexOf(victim)]!;
      const others = clients.filter((_, index) => ids[index] !== victim);
      expect(others.length).toBeGreaterThan(0);

      // Clients of the other shards keep sending requests while the victim dies and comes back.
      let stop = false;
      const failures: unknown[] = [];
      const repliesAfterRestart = new Array<number>(others.length).fill(0);
      let restartedYet = false;
      const traffic = others.map(async (client, index) => {
        for (let n = 0; !stop; n++) {
          try {
            const reply = await client.request(`echo ${index}:${n}`);
            if (reply !== `${index}:${n}`) failures.push(new Error(`wrong reply ${reply}`));
            if (restartedYet) repliesAfterRestart[index]!++;
          } catch (error) {
            failures.push(error);
            return;
          }
        }
      });

      victimClient.socket.write(`${command}\n`);
      expect(await within(restarted, 15_000, 'restart event')).toBe(victim);
      restartedYet = true;
      // Let every client of the other shards get a few more replies after the restart.
      await within(
        (async () => {
          while (repliesAfterRestart.some((count) => count < 3) && failures.length === 0) {
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
        })(),
        10_000,
        'traffic after the restart',
      );
      stop = true;
      await within(Promise.all(traffic), 10_000, 'traffic stopped');
      expect(failures).toEqual([]);
      for (const client of others) expect(client.errors).toEqual([]);

      expect(events.map(([kind, id]) => [kind, id])).toEqual([
        ['exit', victim],
        ['restart', victim],
      ]);
      if (command === 'exit') expect(events[0]![2]).toBe(1);
      else expect(events[0]![2]).toBeInstanceOf(Error);
      expect(serverErrors).toEqual([]);

      const stats = await server.stats();
      expect(stats.map((shard) => shard.restarts)).toEqual([0, 1, 2, 3].map((id) => (id === victim ? 1 : 0)));
      expect(server.shards[victim]!.state).toBe('serving');

      // The restarted shard serves again, and no new connection lands on a dead listener:
      // every one of 100 fresh connections is answered.
      const fresh: LineClient[] = [];
      const freshIds = await connectAll(server.address.port, 100, fresh);
      clients.push(...fresh);
      expect(freshIds).toContain(victim);
    });
  }

  it('process.exit(1) in one shard mid-traffic: exit, then restart; other shards\' clients see no error', async () => {
    await crashOneShard('exit');
  });

  it('an uncaught exception in one shard mid-traffic: exit, then restart; others unaffected', async () => {
    await crashOneShard('throw');
  });

  it('between a shard\'s exit and its restart, new connections are served by the other shards', async () => {
    await withServer(HANDLER, { workers: 4 }, async (server, clients) => {
      const exited = new Promise<number>((resolve) => server.once('exit', resolve));
      const restarted = new Promise<number>((resolve) => server.once('restart', resolve));
      const ids = await connectAll(server.address.port, 20, clients);
      clients[0]!.socket.write('exit\n');
      const victim = await within(exited, 10_000, 'exit event');
      expect(victim).toBe(ids[0]);
      // The dead shard's listener must be gone: none of these may land on it and hang.
      const during: LineClient[] = [];
      const duringIds = await connectAll(server.address.port, 40, during);
      clients.push(...during);
      expect(duringIds).not.toContain(victim);
      expect(await within(restarted, 10_000, 'restart event')).toBe(victim);
    });
  });

  it("balance: 'roundrobin': the accepting shard 0 crashes and is restarted on the same port", async () => {
    await withServer(HANDLER, { workers: 2, balance: 'roundrobin' }, async (server, clients) => {
      const restarted = new Promise<number>((resolve) => server.once('restart', resolve));
      const [first] = await connectAll(server.address.port, 1, clients);
      expect(first).toBe(0);
      clients[0]!.socket.write('exit\n');
      expect(await within(restarted, 10_000, 'restart event')).toBe(0);
      const ids: number[] = [];
      for (let index = 0; index < 4; index++) ids.push(...(await connectAll(server.address.port, 1, clients)));
      expect(new Set(ids)).toEqual(new Set([0, 1]));
    });
  });

  it('close() while a shard is waiting to restart: no restart, no worker left', async () => {
    const threadsBefore = threadCount();
    const server = await createShardedServer(HANDLER, { workers: 2 });
    const clients: LineClient[] = [];
    let restarts = 0;
    server.on('restart', () => restarts++);
    try {
      const exited = new Promise<number>((resolve) => server.once('exit', resolve));
      await connectAll(server.address.port, 1, clients);
      clients[0]!.socket.write('exit\n');
      await within(exited, 10_000, 'exit event');
      await within(server.close({ timeout: 1 }), 10_000, 'close');
      await new Promise((resolve) => setTimeout(resolve, 300)); // past the first restart delay
      expect(restarts).toBe(0);
      expect(server.shards.every((shard) => shard.state === 'closed')).toBe(true);
      await settle(() => threadCount() <= threadsBefore, 400);
      expect(threadCount()).toBeLessThanOrEqual(threadsBefore);
    } finally {
      for (const client of clients) client.destroy();
      await server.close();
    }
  });

  it('restart: false leaves a crashed shard closed and the others serving', async () => {
    await withServer(HANDLER, { workers: 2, restart: false }, async (server, clients) => {
      const exited = new Promise<number>((resolve) => server.once('exit', resolve));
      let restarts = 0;
      server.on('restart', () => restarts++);
      const ids = await connectAll(server.address.port, 20, clients);
      const victim = ids[0]!;
      const survivor = clients[ids.findIndex((id) => id !== victim)];
      expect(survivor).toBeDefined();
      clients[0]!.socket.write('exit\n');
      expect(await within(exited, 10_000, 'exit event')).toBe(victim);
      expect(server.shards[victim]!.state).toBe('closed');
      expect(await survivor!.request('echo ok')).toBe('ok');
      await new Promise((resolve) => setTimeout(resolve, 300)); // past the first restart delay
      expect(restarts).toBe(0);
    });
  });
});

describe('createShardedServer: bad options', () => {
  it('rejects bad workers, port, balance and handler with RangeError/TypeError', async () => {
    for (const workers of [0, -1, 1.5, Number.NaN, '2' as unknown as number]) {
      await expect(createShardedServer(HANDLER, { workers }), String(workers)).rejects.toThrow(RangeError);
    }
    for (const port of [-1, 65536, 80.5, '80' as unknown as number]) {
      await expect(createShardedServer(HANDLER, { workers: 1, port }), String(port)).rejects.toThrow(RangeError);
    }
    await expect(createShardedServer(HANDLER, { workers: 1, balance: 'random' as never })).rejects.toThrow(
      /options\.balance/,
    );
    await expect(createShardedServer(HANDLER, { workers: 1, balance: 'random' as never })).rejects.toThrow(TypeError);
    for (const handler of ['', 42, null, undefined, {}]) {
      await expect(createShardedServer(handler as never, { workers: 1 }), String(handler)).rejects.toThrow(TypeError);
    }
  });

  it('close() with a bad timeout throws a RangeError and the server keeps serving', async () => {
    await withServer(HANDLER, { workers: 1 }, async (server, clients) => {
      for (const timeout of [-1, Number.NaN, '1' as unknown as number]) {
        expect(() => server.close({ timeout }), String(timeout)).toThrow(RangeError);
      }
      await connectAll(server.address.port, 1, clients);
      expect(await clients[0]!.request('echo alive')).toBe('alive');
    });
  });
});

describe('createShardedServer: no leaks', () => {
  it('starting and closing a 4-shard server 50 times leaves no fd, thread or listener behind', { timeout: 240_000 }, async () => {
    const cycle = async (): Promise<number> => {
      const server = await createShardedServer(HANDLER, { workers: 4 });
      const { port } = server.address;
      const client = await LineClient.connect(port);
      try {
        expect(shardOf(await client.request('id'))).toBeGreaterThanOrEqual(0);
        await client.end();
      } finally {
        client.destroy();
        await server.close();
      }
      return port;
    };
    await cycle(); // warm-up: whatever Node opens once for good does not count
    await settle(() => false, 20);
    const fdsBefore = fdCount();
    const threadsBefore = threadCount();
    const ports: number[] = [];
    for (let index = 0; index < 50; index++) ports.push(await cycle());
    await settle(() => fdCount() <= fdsBefore && threadCount() <= threadsBefore, 400);
    expect(fdCount()).toBeLessThanOrEqual(fdsBefore);
    expect(threadCount()).toBeLessThanOrEqual(threadsBefore);
    for (const port of new Set(ports.slice(-5))) expect(await portIsFree(port), `port ${port}`).toBe(true);
  });
});
