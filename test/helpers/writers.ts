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

/** What a reader of the counter pattern saw: bytes so far and the first one out of place (-1). */
export class PatternTally {
  received = 0;
  firstBreak = -1;

  add(data: Buffer): void {
    if (this.firstBreak < 0) {
      const at = firstPatternBreak(data, this.received);
      if (at >= 0) this.firstBreak = this.received + at;
    }
    this.received += data.length;
  }

  get result(): { received: number; firstBreak: number } {
    return { received: this.received, firstBreak: this.firstBreak };
  }
}

/** Reads `stream` to its end in small, paused steps; resolves with the count and the first break. */
export function slowRead(stream: net.Socket): Promise<{ received: number; firstBreak: number }> {
  return new Promise((resolve, reject) => {
    const tally = new PatternTally();
    stream.on('data', (data: Buffer) => {
      tally.add(data);
      // Stop now and then so the writer's buffer fills and drains many times.
      stream.pause();
      setImmediate(() => stream.resume());
    });
    stream.on('end', () => {
      // A TLS or half-open peer ends its side too; a plain one has already.
      if (stream.writable) stream.end();
      resolve(tally.result);
    });
    stream.on('error', reject);
  });
}
