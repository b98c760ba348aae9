// A node:net client that speaks one line per request and one line per reply, for the sharded
// server and CLI suites. Every wait is bounded so a missing reply fails the test, not hangs it.
import { connect, type Socket } from 'node:net';
import { within } from './loops.js';

export class LineClient {
  readonly socket: Socket;
  #buffered = '';
  #waiters: { resolve: (line: string) => void; reject: (error: Error) => void }[] = [];
  #lines: string[] = [];
  #failure: Error | null = null;
  readonly errors: Error[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.#onData(chunk));
    socket.on('error', (error) => {
      this.errors.push(error);
      this.#fail(error);
    });
    socket.on('end', () => this.#fail(new Error('connection ended by the server')));
    socket.on('close', () => this.#fail(new Error('connection closed')));
  }

  static connect(port: number, host = '127.0.0.1', ms = 5000): Promise<LineClient> {
    return within(
      new Promise<LineClient>((resolve, reject) => {
        const socket = connect(port, host);
        socket.once('connect', () => {
          socket.off('error', reject);
          resolve(new LineClient(socket));
        });
        socket.once('error', reject);
      }),
      ms,
      `connect to ${host}:${port}`,
    );
  }

  /** Writes `line` and a newline; returns the next reply line (without its newline). */
  request(line: string, ms = 5000): Promise<string> {
    this.socket.write(`${line}\n`);
    return this.next(ms, line);
  }

  /** The next reply line. */
  next(ms = 5000, what = 'reply'): Promise<string> {
    const queued = this.#lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#failure !== null) return Promise.reject(this.#failure);
    return within(
      new Promise<string>((resolve, reject) => this.#waiters.push({ resolve, reject })),
      ms,
      `reply to ${what.slice(0, 40)}`,
    );
  }

  /** Ends our side and waits until the socket is closed. */
  async end(ms = 5000): Promise<void> {
    if (this.socket.destroyed) return;
    const closed = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    this.socket.end();
    await within(closed, ms, 'close').catch(() => this.socket.destroy());
  }

  destroy(): void {
    this.socket.destroy();
  }

  #onData(chunk: string): void {
    this.#buffered += chunk;
    let newline: number;
    while ((newline = this.#buffered.indexOf('\n')) !== -1) {
      const line = this.#buffered.slice(0, newline);
      this.#buffered = this.#buffered.slice(newline + 1);
      const waiter = this.#waiters.shift();
      if (waiter !== undefined) waiter.resolve(line);
      else this.#lines.push(line);
    }
  }

  #fail(error: Error): void {
    if (this.#failure === null) this.#failure = error;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
  }
}

/** The shard id in a "shard:<id>" reply. */
export function shardOf(reply: string): number {
  const match = /^shard:(\d+)$/.exec(reply);
  if (match === null) throw new Error(`not a shard id reply: ${JSON.stringify(reply)}`);
  return Number(match[1]);
}
