// 10,000 connect/close cycles, 100 at a time: no fd is left behind, on either end.
import { describe, expect, it } from 'vitest';
import { getRunningLoop, run } from 'zloop';
import { fdCount, settle, trackLeaks } from './helpers/leaks.js';
import { Echo, port, Recorder, within } from './helpers/net.js';

trackLeaks();

const CYCLES = 10_000;
const PARALLEL = 100;

describe('connect/close churn', () => {
  it('10,000 connections made, used and closed leave the fd count where it was', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      let made = 0;
      let lost = 0;
      class Counted extends Echo {
        override connectionMade(transport: Parameters<Echo['connectionMade']>[0]): void {
          made++;
          super.connectionMade(transport);
        }
        override connectionLost(): void {
          lost++;
        }
      }
      const server = await loop.createServer(() => new Counted(), '127.0.0.1', 0, { backlog: PARALLEL * 2 });
      const serverPort = port(server);
      // One warm-up cycle so lazily opened fds (if any) are counted in the baseline.
      {
        const [transport, recorder] = await loop.createConnection(() => new Recorder(), '127.0.0.1', serverPort);
        transport.close();
        await recorder.lost.wait('warm-up lost');
        await settle(() => lost === 1);
      }
      const fdsBefore = fdCount();
      const cycle = async (index: number): Promise<void> => {
        const [transport, recorder] = await loop.createConnection(() => new Recorder(), '127.0.0.1', serverPort);
        // Every other connection sends a byte and waits for the echo; the rest close at once.
        if (index % 2 === 0) {
          transport.write('x');
          await recorder.untilBytes(1);
        }
        if (index % 10 === 0) transport.abort();
        else transport.close();
        await recorder.lost.wait('client connectionLost');
      };
      for (let start = 0; start < CYCLES; start += PARALLEL) {
        await Promise.all(Array.from({ length: PARALLEL }, (_, offset) => cycle(start + offset)));
      }
      await within(
        (async () => {
          while (lost < CYCLES + 1) await new Promise((resolve) => setImmediate(resolve));
        })(),
        10_000,
        'every server-side connectionLost',
      );
      expect(made).toBe(CYCLES + 1);
      expect(lost).toBe(CYCLES + 1);
      await settle(() => fdCount() <= fdsBefore);
      expect(fdCount()).toBeLessThanOrEqual(fdsBefore);
      server.close();
      await within(server.waitClosed(), 5000, 'waitClosed');
    });
  });
});
