// createShardedServer with a handler module that fails to load: the start rejects with that
// error, once, and leaves no worker, thread or listener behind.
import { readdirSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createShardedServer } from 'zloop';
import { fdCount, settle, trackLeaks } from './helpers/leaks.js';

trackLeaks();

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
  // Guards a fixed bug: terminating shards while they were still importing leaked their open files.
  it('20 failed starts of a 4-shard server leak no fd', { timeout: 120_000 }, async () => {
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
