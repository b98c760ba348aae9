// 1,000 concurrent connections on one loop, all open at once, all echoing their own bytes.
import { describe, expect, it } from 'vitest';
import { getRunningLoop, openConnection, run, startServer, type Transport } from 'zloop';
import { fdCount, trackLeaks } from './helpers/leaks.js';
import { Echo, port, Recorder, shutdown, within } from './helpers/net.js';

trackLeaks();

const CONNECTIONS = 1000;
const BATCH = 100;

describe('1,000 concurrent connections', () => {
  it('protocol echo: every connection gets exactly its own bytes back', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      let accepted = 0;
      const server = await loop.createServer(
        () => {
          accepted++;
          return new Echo();
        },
        '127.0.0.1',
        0,
        { backlog: BATCH * 2 },
      );
      const fdsBefore = fdCount();
      const clients: [Transport, Recorder][] = [];
      // Open in batches so the accept queue is never asked for more than the backlog.
      for (let start = 0; start < CONNECTIONS; start += BATCH) {
        const batch = Array.from({ length: BATCH }, () => loop.createConnection(() => new Recorder(), '127.0.0.1', port(server)));
        clients.push(...(await Promise.all(batch)));
      }
      expect(clients).toHaveLength(CONNECTIONS);
      await within(
        (async () => {
          while (accepted < CONNECTIONS) await new Promise((resolve) => setImmediate(resolve));
        })(),
        10_000,
        'every connection accepted',
      );
      // Both ends of every connection are open at once.
      expect(fdCount() - fdsBefore).toBeGreaterThanOrEqual(2 * CONNECTIONS);

      const messages = clients.map((_, index) => `connection ${index}: ${'#'.repeat(index % 97)};`);
      clients.forEach(([transport], index) => transport.write(messages[index]!));
      await Promise.all(clients.map(([, recorder], index) => recorder.untilBytes(Buffer.byteLength(messages[index]!), 10_000)));
      clients.forEach(([, recorder], index) => expect(recorder.text()).toBe(messages[index]));

      // A second round on every connection, interleaved, still lands on the right one.
      clients.forEach(([transport], index) => transport.writelines([`|${index}`, '|end']));
      await Promise.all(
        clients.map(([, recorder], index) => recorder.untilBytes(Buffer.byteLength(messages[index]! + `|${index}|end`), 10_000)),
      );
      clients.forEach(([, recorder], index) => expect(recorder.text()).toBe(`${messages[index]}|${index}|end`));

      for (const [transport] of clients) transport.close();
      await Promise.all(clients.map(([, recorder]) => recorder.lost.wait('client connectionLost', 10_000)));
      server.close();
      await within(server.waitClosed(), 10_000, 'waitClosed');
    });
  });

  it('stream echo: 1,000 openConnection clients at once', async () => {
    await run(async () => {
      const server = await startServer(
        async (reader, writer) => {
          const line = await reader.readline();
          writer.write(line);
          await writer.drain();
          writer.close();
        },
        '127.0.0.1',
        0,
        { backlog: BATCH * 2 },
      );
      const streams = [];
      for (let start = 0; start < CONNECTIONS; start += BATCH) {
        streams.push(...(await Promise.all(Array.from({ length: BATCH }, () => openConnection('127.0.0.1', port(server))))));
      }
      streams.forEach(([, writer], index) => writer.write(`stream ${index}\n`));
      const answers = await within(
        Promise.all(streams.map(([reader]) => reader.read())),
        10_000,
        'every stream answered',
      );
      answers.forEach((answer, index) => expect(answer.toString()).toBe(`stream ${index}\n`));
      for (const [, writer] of streams) writer.close();
      await Promise.all(streams.map(([, writer]) => writer.waitClosed()));
      await shutdown(server);
    });
  });
});
