// Write flow control over loopback: a peer that stops reading makes the write buffer pass the
// high-water mark, pauseWriting is called and a writer that honours it keeps memory bounded; when
// the peer reads again resumeWriting is called and every byte arrives, in order.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { type EventLoop, getRunningLoop, Protocol, run, type Server, type Transport } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { firstPatternBreak, pattern, port, Recorder, shutdown, Signal, until } from './helpers/net.js';

trackLeaks();

const CHUNK = 64 * 1024;
const TOTAL = 24 * 1024 * 1024;

/**
 * Writes TOTAL bytes of the counter pattern in CHUNK writes, stopping whenever pauseWriting is
 * called and going on when resumeWriting is. Records the largest write buffer it ever saw.
 */
class Producer extends Protocol {
  transport: Transport | null = null;
  written = 0;
  paused = false;
  readonly events: string[] = [];
  maxBuffered = 0;
  bufferedAtPause: number[] = [];
  readonly firstPause = new Signal();
  readonly done = new Signal();
  readonly lost = new Signal<Error | null>();

  constructor(readonly limits?: [number, number]) {
    super();
  }

  override connectionMade(transport: Transport): void {
    this.transport = transport;
    if (this.limits) transport.setWriteBufferLimits(...this.limits);
    this.#pump();
  }

  override pauseWriting(): void {
    expect(this.paused).toBe(false);
    this.paused = true;
    this.events.push('pause');
    this.bufferedAtPause.push(this.transport!.getWriteBufferSize());
    this.firstPause.resolve();
  }

  override resumeWriting(): void {
    expect(this.paused).toBe(true);
    this.paused = false;
    this.events.push('resume');
    // Called from the transport's own bookkeeping: write on the next iteration, as a protocol would.
    getRunningLoop().callSoon(() => this.#pump());
  }

  override connectionLost(exc: Error | null): void {
    this.lost.resolve(exc);
  }

  #pump(): void {
    const transport = this.transport!;
    while (!this.paused && this.written < TOTAL && !transport.isClosing()) {
      const size = Math.min(CHUNK, TOTAL - this.written);
      transport.write(pattern(this.written, size));
      this.written += size;
      this.maxBuffered = Math.max(this.maxBuffered, transport.getWriteBufferSize());
      expect(transport.getWriteBufferSize()).toBeLessThanOrEqual(this.written);
    }
    if (this.written === TOTAL && !this.done.fired) {
      this.done.resolve();
      transport.close();
    }
  }
}

function expectBounded(producer: Producer, high: number): void {
  // The writer stops at the first pause, so the buffer never holds more than the mark plus a chunk.
  expect(producer.maxBuffered).toBeLessThanOrEqual(high + CHUNK);
  for (const size of producer.bufferedAtPause) expect(size).toBeGreaterThan(high);
}

function expectAlternating(events: string[]): void {
  expect(events.length).toBeGreaterThanOrEqual(2);
  events.forEach((event, index) => expect(event).toBe(index % 2 === 0 ? 'pause' : 'resume'));
}

async function producerServer(loop: EventLoop, limits?: [number, number]): Promise<{ server: Server; producer: Promise<Producer> }> {
  const made = new Signal<Producer>();
  const server = await loop.createServer(
    () => {
      const producer = new Producer(limits);
      made.resolve(producer);
      return producer;
    },
    '127.0.0.1',
    0,
  );
  return { server, producer: made.wait('producer connection') };
}

describe('a zloop server writing to a node:net client that stops reading', () => {
  it('pauses at the high-water mark, stays bounded, resumes when the client reads, and delivers every byte in order', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, producer: producerPromise } = await producerServer(loop);
      const socket = net.connect(port(server), '127.0.0.1');
      socket.pause();
      const chunks: Buffer[] = [];
      let received = 0;
      const ended = new Signal();
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
      });
      socket.on('end', () => ended.resolve());
      const producer = await producerPromise;
      await producer.firstPause.wait('pauseWriting');
      expect(producer.paused).toBe(true);
      expect(producer.written).toBeLessThan(TOTAL);
      const transport = producer.transport!;
      const [, high] = transport.getWriteBufferLimits();
      expect(transport.getWriteBufferSize()).toBeGreaterThan(high);
      expect(transport.getWriteBufferSize()).toBeLessThanOrEqual(producer.written);
      // Nothing reads: the producer stays paused and writes nothing more.
      const writtenWhilePaused = producer.written;
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(producer.written).toBe(writtenWhilePaused);
      expect(producer.events).toEqual(['pause']);

      socket.resume();
      await producer.done.wait('all bytes written', 10_000);
      await ended.wait('client end', 10_000);
      expect(received).toBe(TOTAL);
      expect(firstPatternBreak(Buffer.concat(chunks))).toBe(-1);
      expectAlternating(producer.events);
      expectBounded(producer, high);
      await producer.lost.wait('producer connectionLost');
      socket.destroy();
      await shutdown(server);
    });
  });
});

describe('a zloop server writing to a zloop client that pauses reading', () => {
  it('pauseWriting, then resumeWriting after resumeReading; with custom limits; every byte arrives in order', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const high = 256 * 1024;
      const low = 32 * 1024;
      const { server, producer: producerPromise } = await producerServer(loop, [high, low]);
      const [clientTransport, client] = await loop.createConnection(() => new Recorder(), '127.0.0.1', port(server));
      clientTransport.pauseReading();
      const producer = await producerPromise;
      expect(producer.transport!.getWriteBufferLimits()).toEqual([low, high]);
      await producer.firstPause.wait('pauseWriting');
      expect(producer.transport!.getWriteBufferSize()).toBeGreaterThan(high);
      expect(client.received).toBe(0);

      clientTransport.resumeReading();
      await producer.done.wait('all bytes written', 10_000);
      await client.untilBytes(TOTAL, 10_000);
      await client.lost.wait('client connectionLost');
      expect(client.received).toBe(TOTAL);
      expect(firstPatternBreak(client.bytes())).toBe(-1);
      expectAlternating(producer.events);
      expectBounded(producer, high);
      await shutdown(server);
    });
  });

  it('pauses and resumes again and again when the reader keeps stopping', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, producer: producerPromise } = await producerServer(loop);
      const [clientTransport, client] = await loop.createConnection(() => new Recorder(), '127.0.0.1', port(server));
      const producer = await producerPromise;
      // Read in bursts: stop reading after every 2 MiB until the producer has paused, then go on.
      for (let burst = 1; burst <= 3; burst++) {
        await client.untilBytes(burst * 2 * 1024 * 1024, 10_000);
        clientTransport.pauseReading();
        await until(() => producer.paused, `pauseWriting in burst ${burst}`, 10_000);
        clientTransport.resumeReading();
      }
      await client.lost.wait('client connectionLost', 10_000);
      expect(client.received).toBe(TOTAL);
      expect(firstPatternBreak(client.bytes())).toBe(-1);
      expect(producer.events.filter((event) => event === 'pause').length).toBeGreaterThanOrEqual(3);
      expectAlternating(producer.events);
      expectBounded(producer, 64 * 1024);
      await shutdown(server);
    });
  });
});

describe('a zloop client writing to a node:net server that stops reading', () => {
  it('pauses, resumes when the server reads, and the server gets every byte in order', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const chunks: Buffer[] = [];
      let peer: net.Socket | null = null;
      const ended = new Signal();
      const nodeServer = net.createServer((socket) => {
        peer = socket;
        socket.pause();
        socket.on('data', (chunk: Buffer) => chunks.push(chunk));
        socket.on('end', () => {
          ended.resolve();
          socket.end();
        });
      });
      await new Promise<void>((resolve) => nodeServer.listen(0, '127.0.0.1', resolve));
      const nodePort = (nodeServer.address() as net.AddressInfo).port;
      const [, producer] = await loop.createConnection(() => new Producer(), '127.0.0.1', nodePort);
      await producer.firstPause.wait('pauseWriting');
      expect(producer.written).toBeLessThan(TOTAL);
      await until(() => peer !== null, 'node:net connection');
      peer!.resume();
      await producer.done.wait('all bytes written', 10_000);
      await ended.wait('node server end', 10_000);
      const all = Buffer.concat(chunks);
      expect(all.length).toBe(TOTAL);
      expect(firstPatternBreak(all)).toBe(-1);
      expectAlternating(producer.events);
      expectBounded(producer, 64 * 1024);
      await producer.lost.wait('client connectionLost');
      await new Promise<void>((resolve) => nodeServer.close(() => resolve()));
    });
  });
});
