// TLS write flow control against a reader slower than the writer (Node's tls client, not zloop):
// `await writer.drain()` and resumeWriting() keep firing until the last byte is written, and the
// reader gets every byte in order.
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRunningLoop, run, startServer } from 'zloop';
import { type Certs, makeCerts } from './helpers/certs.js';
import { trackLeaks } from './helpers/leaks.js';
import { pattern, port, shutdown, within } from './helpers/net.js';
import { ResumeWriter, slowRead, TOTAL } from './helpers/writers.js';

trackLeaks();

let certs: Certs;
beforeAll(() => {
  certs = makeCerts();
});
afterAll(() => certs?.remove());

const WRITE = 16 * 1024;

/** A Node tls client that reads to the end in small paused steps; resolves with what it saw. */
function slowTlsRead(serverPort: number): Promise<{ received: number; firstBreak: number }> {
  return slowRead(tls.connect({ port: serverPort, host: '127.0.0.1', ca: certs.caCert, servername: 'localhost' }));
}

describe('TLS writer against a slow reader', () => {
  it('await writer.drain() after each 16 KiB write settles every time, and all 16 MiB arrive', async () => {
    await run(async () => {
      let drains = 0;
      const server = await startServer(
        async (_reader, writer) => {
          for (let offset = 0; offset < TOTAL; offset += WRITE) {
            writer.write(pattern(offset, WRITE));
            await within(writer.drain(), 10_000, `drain() at ${offset} bytes`);
            drains++;
          }
          writer.close();
          await writer.waitClosed();
        },
        '127.0.0.1',
        0,
        { ssl: { key: certs.serverKey, cert: certs.serverCert } },
      );
      const result = await within(slowTlsRead(port(server)), 60_000, 'the slow reader');
      expect(result).toEqual({ received: TOTAL, firstBreak: -1 });
      expect(drains).toBe(TOTAL / WRITE);
      server.close();
      await within(server.waitClosed(), 5000, 'waitClosed');
    });
  });

  it('a protocol writing only from resumeWriting() gets every resume, then closes, and every byte arrives', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const writers: ResumeWriter[] = [];
      const server = await loop.createServer(() => (writers.push(new ResumeWriter()), writers.at(-1)!), '127.0.0.1', 0, {
        ssl: { key: certs.serverKey, cert: certs.serverCert },
      });
      const result = await within(slowTlsRead(port(server)), 60_000, 'the slow reader');
      expect(result).toEqual({ received: TOTAL, firstBreak: -1 });
      expect(await writers[0]!.lost.wait('connectionLost')).toBeNull();
      await shutdown(server);
    });
  });
});
