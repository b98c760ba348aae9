// createShardedServer with a handler module that fails to load: the start rejects with that
// error, once, and leaves no worker, thread or listener behind.
//
// No trackLeaks() here, because of the bug below: a failed start leaks fds at random, which
// would make the suite-level fd check flaky. Add trackLeaks() once it is fixed.
import { readdirSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createShardedServer } from 'zloop';
import { fdCount, settle } from './helpers/leaks.js';

const fixture = (name: string): URL => new URL(`./fixtures/${name}`, import.meta.url);

function threadCount(): number {
  return readdirSync('/proc/self/task').length;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createNetServer();
    probe.once('error', () => resolve(false));
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

describe('createShardedServer: a handler module that fails to load', () => {
  async function expectStartFails(handler: URL | string, pattern: RegExp): Promise<void> {
    const threadsBefore = threadCount();
    const port = await freePort();
    await expect(createShardedServer(handler, { workers: 4, port })).rejects.toThrow(pattern);
    // No worker is left running, and nobody holds the port.
    await settle(() => threadCount() <= threadsBefore, 400);
    expect(threadCount()).toBeLessThanOrEqual(threadsBefore);
    expect(await portIsFree(port)).toBe(true);
  }

  it('one that throws at import rejects with that error, no restart loop, no worker left', async () => {
    await expectStartFails(fixture('shard-import-throws.mjs'), /this module fails to load/);
  });

  it('one whose default export is not a handler rejects with a TypeError message', async () => {
    await expectStartFails(fixture('shard-bad-export.mjs'), /default export must be a streams handler/);
  });

  it('one whose setup(shard) throws rejects with that error', async () => {
    await expectStartFails(fixture('shard-setup-throws.mjs'), /setup failed/);
  });

  it('one that does not exist rejects', async () => {
    await expectStartFails(fixture('no-such-handler.mjs'), /Cannot find module|no-such-handler/);
  });
});

describe('createShardedServer: a failed start leaves no fd behind', () => {
  // Bug: ShardedServer._start() spawns every shard with Promise.all(... #spawn ...), so the first
  // shard whose hello() rejects makes _start() terminate the other workers at once, while they
  // are still loading (their ESM loader is reading dist/src/*.js). A worker terminated in the
  // middle of module loading leaks the fds of those reads for good: measured here, 10 failed
  // starts of a 4-shard server leak 6 to 80 fds (readlink shows dist/src/*.js), at random.
  // Fix: in _start(), wait for every spawn to settle before terminating,
  //   const settled = await Promise.allSettled(this.#shards.map((shard) => this.#spawn(shard)));
  //   const failed = settled.find((result) => result.status === 'rejected');
  //   if (failed !== undefined) throw failed.reason;
  // (tried on a copy of dist/src/sharded.js: 0 fds leaked over 20 failed starts).
  it.fails('20 failed starts of a 4-shard server leak no fd', { timeout: 120_000 }, async () => {
    const fdsBefore = fdCount();
    for (let index = 0; index < 10; index++) {
      for (const name of ['shard-import-throws.mjs', 'shard-bad-export.mjs']) {
        await expect(createShardedServer(fixture(name), { workers: 4 })).rejects.toThrow();
      }
    }
    await settle(() => fdCount() <= fdsBefore, 400);
    expect(fdCount()).toBeLessThanOrEqual(fdsBefore);
  });
});
