// Large reads reach dataReceived as views of the loop's receive buffer (io/receive-buffer.ts):
// a protocol may keep every chunk it got, and none changes afterwards, across many batches and
// several replacements of the buffer, while small reads (copies) interleave on other sockets.
// The peers are node:net clients sending a known pattern.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { getRunningLoop, Protocol, run, type Transport } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { port, shutdown, Signal } from './helpers/net.js';

trackLeaks();

/** Byte i of stream `seed`: a pattern in which any overwrite shows. */
const patternByte = (seed: number, index: number): number => (index * 31 + seed * 17 + (index >> 12)) & 255;

function pattern(seed: number, length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let index = 0; index < length; index++) bytes[index] = patternByte(seed, index);
  return bytes;
}

/** Keeps every chunk; checks them all only at the end. */
class Keeper extends Protocol {
  readonly chunks: Buffer[] = [];
  readonly done = new Signal<void>();

  override connectionMade(_transport: Transport): void {}

  override dataReceived(data: Buffer): void {
    this.chunks.push(data);
  }

  override eofReceived(): boolean {
    this.done.resolve();
    return false;
  }
}

describe('kept chunks stay intact', () => {
  it('8 MiB in 100 KiB writes on each of 3 connections, plus a trickle of small writes: every kept byte is right', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const keepers: Keeper[] = [];
      const server = await loop.createServer(() => (keepers.push(new Keeper()), keepers.at(-1)!), '127.0.0.1', 0);
      const total = 8 * 1024 * 1024;
      const clients = [1, 2, 3].map((seed) => {
        const socket = net.connect(port(server), '127.0.0.1');
        const data = pattern(seed, total);
        socket.on('connect', () => {
          // The first byte names the stream, so the server side can tell which pattern to expect.
          socket.write(Buffer.from([seed]));
          for (let offset = 0; offset < total; offset += 100 * 1024) socket.write(data.subarray(offset, offset + 100 * 1024));
          socket.end();
        });
        return socket;
      });
      // A trickle of small reads (copies) on another connection meanwhile.
      const small = net.connect(port(server), '127.0.0.1');
      small.on('connect', () => {
        small.write(Buffer.from([9]));
        for (let index = 0; index < 200; index++) small.write(pattern(9, 300).subarray(0, 300));
        small.end();
      });
      await new Promise<void>((resolve) => {
        const check = (): void => {
          if (keepers.length === 4 && keepers.every((keeper) => keeper.done.fired)) resolve();
          else setTimeout(check, 20);
        };
        check();
      });
      let views = 0;
      for (const keeper of keepers) {
        const all = Buffer.concat(keeper.chunks);
        const seed = all[0]!;
        const body = all.subarray(1);
        if (seed === 9) {
          expect(body.length).toBe(200 * 300);
          for (let index = 0; index < body.length; index++) if (body[index] !== patternByte(9, index % 300)) throw new Error(`small stream byte ${index} changed`);
          continue;
        }
        expect(body.length).toBe(total);
        expect(body.equals(pattern(seed, total)), `stream ${seed} kept bytes unchanged`).toBe(true);
        views += keeper.chunks.filter((chunk) => chunk.length >= 32 * 1024).length;
      }
      // The large writes did arrive as large reads (views), so this exercised them.
      expect(views).toBeGreaterThan(20);
      for (const client of [...clients, small]) client.destroy();
      await shutdown(server);
    });
  });
});
