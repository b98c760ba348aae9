// Writers and readers for the flow-control suites: a protocol that writes from resumeWriting()
// and closes right after its last write, and a slow reader over any Node stream socket.
import type net from 'node:net';
import { Protocol, type Transport } from 'zloop';
import { firstPatternBreak, pattern, Signal } from './net.js';

const CHUNK = 64 * 1024;
export const TOTAL = 16 * 1024 * 1024;

/**
 * Writes TOTAL bytes of the counter pattern. Until the first pauseWriting it writes in
 * connectionMade; after that only in resumeWriting, writing on until the buffer passes the high
 * mark again (or, with `all`, the whole rest at once), and calls close() right after the last write.
 */
export class ResumeWriter extends Protocol {
  transport: Transport | null = null;
  written = 0;
  paused = false;
  readonly lost = new Signal<Error | null>();

  constructor(readonly all = false) {
    super();
  }

  override connectionMade(transport: Transport): void {
    this.transport = transport;
    this.#writeSome(false);
  }

  override pauseWriting(): void {
    this.paused = true;
  }

  override resumeWriting(): void {
    this.paused = false;
    this.#writeSome(this.all);
  }

  override connectionLost(exc: Error | null): void {
    this.lost.resolve(exc);
  }

  #writeSome(ignorePause: boolean): void {
    const transport = this.transport!;
    while ((ignorePause || !this.paused) && this.written < TOTAL) {
      const size = Math.min(CHUNK, TOTAL - this.written);
      transport.write(pattern(this.written, size));
      this.written += size;
    }
    if (this.written === TOTAL) transport.close();
  }
}

/** Reads `stream` to its end in small, paused steps; resolves with the count and the first break. */
export function slowRead(stream: net.Socket): Promise<{ received: number; firstBreak: number }> {
  return new Promise((resolve, reject) => {
    let received = 0;
    let firstBreak = -1;
    stream.on('data', (data: Buffer) => {
      if (firstBreak < 0) {
        const at = firstPatternBreak(data, received);
        if (at >= 0) firstBreak = received + at;
      }
      received += data.length;
      // Stop now and then so the writer's buffer fills and drains many times.
      stream.pause();
      setImmediate(() => stream.resume());
    });
    stream.on('end', () => resolve({ received, firstBreak }));
    stream.on('error', reject);
  });
}

