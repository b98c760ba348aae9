// Shared pieces of the networking suites: protocols that record what happened to them, an echo
// protocol, and bounded waits. Nothing here measures time: every wait has a deadline only so a
// missing event fails the test instead of hanging it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EventLoop, Protocol, type Server, type Transport } from 'zloop';
import { within } from './loops.js';

export { within };

/** A promise with its resolve function, for events that protocols report. */
export class Signal<T = void> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;
  fired = false;

  constructor() {
    this.promise = new Promise<T>((resolve) => {
      this.resolve = (value: T) => {
        this.fired = true;
        resolve(value);
      };
    });
  }

  wait(what: string, ms = 5000): Promise<T> {
    return within(this.promise, ms, what);
  }
}

/**
 * Records the connection callbacks in order in `events` ('made', 'data' once per run of
 * dataReceived calls, 'eof', 'lost'), the flow-control callbacks in `flow` ('pause', 'resume'),
 * and the bytes received. `eofResult` is what eofReceived returns.
 */
export class Recorder extends Protocol {
  readonly events: string[] = [];
  readonly flow: string[] = [];
  readonly chunks: Buffer[] = [];
  transport: Transport | null = null;
  lostWith: Error | null | undefined = undefined;
  eofResult: boolean | undefined = undefined;
  readonly made = new Signal<Transport>();
  readonly eof = new Signal();
  readonly lost = new Signal<Error | null>();
  #byteWaiters: { count: number; signal: Signal }[] = [];
  received = 0;

  override connectionMade(transport: Transport): void {
    this.events.push('made');
    this.transport = transport;
    this.made.resolve(transport);
  }

  override dataReceived(data: Buffer): void {
    if (this.events.at(-1) !== 'data') this.events.push('data');
    this.chunks.push(data);
    this.received += data.length;
    this.#checkWaiters();
  }

  override eofReceived(): boolean | void {
    this.events.push('eof');
    this.eof.resolve();
    return this.eofResult;
  }

  override connectionLost(exc: Error | null): void {
    this.events.push('lost');
    this.lostWith = exc;
    this.lost.resolve(exc);
  }

  override pauseWriting(): void {
    this.flow.push('pause');
  }

  override resumeWriting(): void {
    this.flow.push('resume');
  }

  text(): string {
    return Buffer.concat(this.chunks).toString();
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Resolves once at least `count` bytes in all arrived. */
  untilBytes(count: number, ms = 5000): Promise<void> {
    const signal = new Signal();
    this.#byteWaiters.push({ count, signal });
    this.#checkWaiters();
    return signal.wait(`${count} bytes (have ${this.received})`, ms);
  }

  #checkWaiters(): void {
    this.#byteWaiters = this.#byteWaiters.filter((waiter) => {
      if (this.received < waiter.count) return true;
      waiter.signal.resolve();
      return false;
    });
  }
}

/** Writes back what it reads; closes when the peer does. */
export class Echo extends Protocol {
  transport: Transport | null = null;
  override connectionMade(transport: Transport): void {
    this.transport = transport;
  }
  override dataReceived(data: Buffer): void {
    this.transport!.write(data);
  }
}

/** [host, port] of a server's first listening socket. */
export function address(server: Server): [string, number] {
  return server.sockets[0]!.getsockname() as [string, number];
}

export function port(server: Server): number {
  return address(server)[1];
}

/** A server on 127.0.0.1 whose accepted connections are Recorders; `accepted` lists them. */
export async function recordingServer(
  loop: EventLoop,
  make: () => Recorder = () => new Recorder(),
): Promise<{ server: Server; port: number; accepted: Recorder[]; next: () => Promise<Recorder> }> {
  const accepted: Recorder[] = [];
  let waiters: Signal<Recorder>[] = [];
  const server = await loop.createServer(
    () => {
      const recorder = make();
      accepted.push(recorder);
      for (const waiter of waiters) waiter.resolve(recorder);
      waiters = [];
      return recorder;
    },
    '127.0.0.1',
    0,
  );
  let taken = 0;
  const next = async (): Promise<Recorder> => {
    if (accepted.length > taken) return accepted[taken++]!;
    const signal = new Signal<Recorder>();
    waiters.push(signal);
    await signal.wait('an accepted connection');
    taken++;
    return accepted[taken - 1]!;
  };
  return { server, port: port(server), accepted, next };
}

/** A connected pair over loopback: the client's and the server's Recorder. */
export async function connectedPair(
  loop: EventLoop,
  options: { client?: () => Recorder; server?: () => Recorder } = {},
): Promise<{ server: Server; client: Recorder; peer: Recorder; clientTransport: Transport; peerTransport: Transport }> {
  const { server, port: serverPort, next } = await recordingServer(loop, options.server);
  const [clientTransport, client] = await loop.createConnection(options.client ?? (() => new Recorder()), '127.0.0.1', serverPort);
  const peer = await next();
  const peerTransport = await peer.made.wait('server connectionMade');
  return { server, client, peer, clientTransport, peerTransport };
}

/** Closes the server and every connection it has, and waits until they are gone. */
export async function shutdown(server: Server): Promise<void> {
  server.close();
  server.abortClients();
  await within(server.waitClosed(), 5000, 'server.waitClosed()');
}

/** A fresh directory under os.tmpdir() for Unix socket paths; `remove()` deletes it. */
export function socketDir(): { path: (name: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'zloop-test-'));
  return { path: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** `count` bytes of a counter pattern starting at byte `start` (byte i is i mod 251). */
export function pattern(start: number, count: number): Buffer {
  const bytes = Buffer.allocUnsafe(count);
  for (let index = 0; index < count; index++) bytes[index] = (start + index) % 251;
  return bytes;
}

/** Index of the first byte that breaks the counter pattern, or -1. */
export function firstPatternBreak(bytes: Buffer, start = 0): number {
  for (let index = 0; index < bytes.length; index++) {
    if (bytes[index] !== (start + index) % 251) return index;
  }
  return -1;
}

/** Runs the loop's ready queue a few iterations (callSoon hops), no timers involved. */
export async function hops(loop: EventLoop, count = 3): Promise<void> {
  for (let index = 0; index < count; index++) await new Promise<void>((resolve) => loop.callSoon(resolve));
}

/** Waits, one libuv turn at a time, until `condition()` holds; fails after `ms` without spinning on. */
export async function until(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
