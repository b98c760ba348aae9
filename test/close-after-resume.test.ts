// The asyncio pattern "write the rest in resumeWriting(), then close()": close() waits for the
// write buffer to drain, so every byte arrives, even when those last writes filled the buffer
// again. The peers are Node's own sockets and pipes (not zloop), reading slowly.
import { constants as fs, mkdtempSync, openSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRunningLoop, run } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { port, shutdown, socketDir } from './helpers/net.js';
import { ResumeWriter, slowRead, TOTAL } from './helpers/writers.js';

trackLeaks();

describe('close() right after the last writes made in resumeWriting()', () => {
  for (const all of [false, true]) {
    const shape = all ? 'the whole rest at once' : 'until paused again';
    it(`TCP: a slow node:net reader gets every byte (${shape})`, async () => {
      await run(async () => {
        const loop = getRunningLoop();
        const writers: ResumeWriter[] = [];
        const server = await loop.createServer(() => (writers.push(new ResumeWriter(all)), writers.at(-1)!), '127.0.0.1', 0);
        const client = net.connect(port(server), '127.0.0.1');
        const result = await slowRead(client);
        expect(await writers[0]!.lost.wait('connectionLost')).toBeNull();
        expect(result).toEqual({ received: TOTAL, firstBreak: -1 });
        client.destroy();
        await shutdown(server);
      });
    });

    it(`Unix: a slow node:net reader gets every byte (${shape})`, async () => {
      const dir = socketDir();
      try {
        await run(async () => {
          const loop = getRunningLoop();
          const writers: ResumeWriter[] = [];
          const file = dir.path('resume.sock');
          const server = await loop.createUnixServer(() => (writers.push(new ResumeWriter(all)), writers.at(-1)!), file);
          const client = net.connect(file);
          const result = await slowRead(client);
          expect(await writers[0]!.lost.wait('connectionLost')).toBeNull();
          expect(result).toEqual({ received: TOTAL, firstBreak: -1 });
          client.destroy();
          await shutdown(server);
        });
      } finally {
        dir.remove();
      }
    });
  }
});

describe('pipes', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'zloop-resume-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const all of [false, true]) {
    it(`a write pipe closed from resumeWriting() delivers every byte to a slow reader (${all ? 'all at once' : 'until paused'})`, async () => {
      const file = path.join(dir, `fifo-${all}`);
      execFileSync('mkfifo', [file]);
      const readFd = openSync(file, fs.O_RDONLY | fs.O_NONBLOCK);
      const writeFd = openSync(file, fs.O_WRONLY | fs.O_NONBLOCK);
      const reader = new net.Socket({ fd: readFd, readable: true, writable: false });
      const reading = slowRead(reader);
      try {
        await run(async () => {
          const writer = new ResumeWriter(all);
          await getRunningLoop().connectWritePipe(() => writer, writeFd);
          expect(await writer.lost.wait('connectionLost')).toBeNull();
        });
        expect(await reading).toEqual({ received: TOTAL, firstBreak: -1 });
      } finally {
        // The transport owns writeFd and closed it with connectionLost.
        reader.destroy();
      }
    });
  }
});
