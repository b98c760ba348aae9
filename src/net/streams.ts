// Streams (asyncio streams.py): StreamReader, StreamWriter and the protocol that joins them to a
// transport; openConnection/startServer and their Unix forms are in open-streams.ts.
//
// Waiting readers and drain() are woken with plain promises resolved from the protocol
// callbacks, not Futures: the continuation runs right after the batch that brought the data
// (when microtasks run) instead of one loop iteration later.
import { IncompleteReadError, LimitOverrunError } from '../core/errors.js';
import { getRunningIoLoop as getRunningLoop, type IoLoop } from '../io/io-loop.js';
import { type ExtraInfo, Protocol } from './protocols.js';
import { startTls } from '../transports/tls-connect.js';
import type { SslOption } from '../transports/tls-setup.js';
import type { Transport } from '../transports/socket.js';
import { checkInteger, isThenable, argRangeError } from '../core/validate.js';

/** asyncio's default limit for readuntil()/readline(): 64 KiB. */
const DEFAULT_LIMIT = 64 * 1024;
/** read() with no size, and `for await`, hand out chunks of at most this many bytes. */
const CHUNK_BYTES = 64 * 1024;
const EMPTY = Buffer.alloc(0);
const RESOLVED = Promise.resolve();

export type StreamOptions = { limit?: number };
export type ClientConnected = (reader: StreamReader, writer: StreamWriter) => unknown;

export class StreamReader implements AsyncIterable<Buffer> {
  readonly #limit: number;
  /** Unread bytes: chunks[0] from `#head`, then the other chunks whole. */
  #chunks: Buffer[] = [];
  #head = 0;
  #length = 0;
  #eof = false;
  #exception: Error | null = null;
  #waiter: { resolve: () => void; reject: (error: unknown) => void } | null = null;
  #transport: Transport | null = null;
  #paused = false;

  constructor(options: StreamOptions = {}) {
    const limit = options.limit ?? DEFAULT_LIMIT;
    if (typeof limit !== 'number' || !(limit > 0)) throw argRangeError('Limit cannot be <= 0');
    this.#limit = limit;
  }

  exception(): Error | null {
    return this.#exception;
  }

  /** True once EOF was fed and every byte has been read. */
  atEof(): boolean {
    return this.#eof && this.#length === 0;
  }

  /** Up to `n` bytes (n < 0: everything until EOF); an empty Buffer means EOF. */
  read(n = -1): Promise<Buffer> {
    // Not an async function: when bytes are buffered (the common case under load) the result is
    // one already-resolved promise, without an async frame or an extra await tick.
    try {
      checkInteger(n, 'n');
      this.#throwIfFailed();
      if (n === 0) return Promise.resolve(EMPTY);
      if (n < 0) return this.#readToEof();
      if (this.#length > 0 || this.#eof) return Promise.resolve(this.#take(Math.min(n, this.#length)));
      return this.#waitForData('read').then(() => this.#take(Math.min(n, this.#length)));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async #readToEof(): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (;;) {
      const chunk = await this.read(CHUNK_BYTES);
      if (chunk.length === 0) return Buffer.concat(parts);
      parts.push(chunk);
    }
  }

  /** A line ending in '\n' (or the rest before EOF); throws ValueError-like Error past the limit. */
  async readline(): Promise<Buffer> {
    try {
      return await this.readuntil('\n');
    } catch (error) {
      if (error instanceof IncompleteReadError) return Buffer.from(error.partial);
      if (error instanceof LimitOverrunError) {
        const buffered = this.#peekAll();
        if (buffered.subarray(error.consumed, error.consumed + 1).toString() === '\n') this.#take(error.consumed + 1);
        else this.#take(this.#length);
        this.#maybeResumeTransport();
        throw new Error(error.message);
      }
      throw error;
    }
  }

  /** Bytes up to and including `separator`; IncompleteReadError at EOF, LimitOverrunError past the limit. */
  async readuntil(separator: string | Uint8Array = '\n'): Promise<Buffer> {
    const needle = typeof separator === 'string' ? Buffer.from(separator) : Buffer.from(separator);
    if (needle.length === 0) throw new Error('Separator should be at least one-byte string');
    let offset = 0;
    for (;;) {
      this.#throwIfFailed();
      const buffered = this.#peekAll();
      const index = buffered.indexOf(needle, offset);
      if (index !== -1) {
        if (index + needle.length > this.#limit) {
          throw new LimitOverrunError('Separator is found, but chunk is longer than limit', index);
        }
        return this.#take(index + needle.length);
      }
      offset = Math.max(0, buffered.length + 1 - needle.length);
      if (offset > this.#limit) throw new LimitOverrunError('Separator is not found, and chunk exceed the limit', offset);
      if (this.#eof) {
        const partial = this.#take(this.#length);
        throw new IncompleteReadError(partial, null);
      }
      await this.#waitForData('readuntil');
    }
  }

  /** Exactly `n` bytes; IncompleteReadError (with the partial bytes) if EOF comes first. */
  async readexactly(n: number): Promise<Buffer> {
    checkInteger(n, 'n');
    if (n < 0) throw argRangeError('readexactly size can not be less than zero');
    this.#throwIfFailed();
    if (n === 0) return EMPTY;
    while (this.#length < n) {
      if (this.#eof) {
        const partial = this.#take(this.#length);
        throw new IncompleteReadError(partial, n);
      }
      await this.#waitForData('readexactly');
    }
    return this.#take(n);
  }

  /** Chunks until EOF. */
  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    // A plain iterator over read(), cheaper per chunk than an async generator.
    return {
      next: () => this.read(CHUNK_BYTES).then((chunk) => (chunk.length === 0 ? { done: true, value: undefined } : { done: false, value: chunk })),
      return: () => Promise.resolve({ done: true, value: undefined }),
    };
  }

  // ---- fed by the protocol ----------------------------------------------------------------

  feedData(data: Buffer): void {
    if (this.#eof) throw new Error('feedData after feedEof');
    if (data.length === 0) return;
    this.#chunks.push(data);
    this.#length += data.length;
    this.#wake();
    // Stop reading the socket while twice the limit is buffered (asyncio's flow control).
    if (this.#transport !== null && !this.#paused && this.#length > 2 * this.#limit) {
      try {
        this.#transport.pauseReading();
        this.#paused = true;
      } catch {
        this.#transport = null; // a transport that cannot pause is read at full speed
      }
    }
  }

  feedEof(): void {
    this.#eof = true;
    this.#wake();
  }

  setException(exception: Error): void {
    this.#exception = exception;
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.reject(exception);
  }

  setTransport(transport: Transport): void {
    if (this.#transport !== null) throw new Error('Transport already set');
    this.#transport = transport;
  }

  /** @internal startTls: flow control now goes to the TLS transport. */
  _replaceTransport(transport: Transport): void {
    this.#transport = transport;
    if (this.#paused) transport.pauseReading();
  }

  // ---- internals --------------------------------------------------------------------------

  #throwIfFailed(): void {
    if (this.#exception !== null) throw this.#exception;
  }

  #wake(): void {
    const waiter = this.#waiter;
    if (waiter === null) return;
    this.#waiter = null;
    waiter.resolve();
  }

  #waitForData(caller: string): Promise<void> {
    if (this.#waiter !== null) {
      throw new Error(`${caller}() called while another coroutine is already waiting for incoming data`);
    }
    if (this.#eof) throw new Error('_waitForData after EOF');
    this.#maybeResumeTransport(true);
    return new Promise<void>((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  #maybeResumeTransport(force = false): void {
    if (this.#paused && (force || this.#length <= this.#limit)) {
      this.#paused = false;
      this.#transport?.resumeReading();
    }
  }

  /** All unread bytes as one Buffer (joins the chunks once, so repeated searches stay cheap). */
  #peekAll(): Buffer {
    if (this.#chunks.length === 0) return EMPTY;
    if (this.#chunks.length > 1 || this.#head > 0) {
      const joined = Buffer.concat([this.#chunks[0]!.subarray(this.#head), ...this.#chunks.slice(1)]);
      this.#chunks = [joined];
      this.#head = 0;
    }
    return this.#chunks[0]!;
  }

  /** Removes and returns the next `n` bytes; a whole chunk is handed out without copying. */
  #take(n: number): Buffer {
    if (n === 0) return EMPTY;
    let result: Buffer;
    const first = this.#chunks[0]!;
    const available = first.length - this.#head;
    if (n <= available) {
      result = this.#head === 0 && n === first.length ? first : first.subarray(this.#head, this.#head + n);
      this.#head += n;
      if (this.#head === first.length) {
        this.#chunks.shift();
        this.#head = 0;
      }
    } else {
      result = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const chunk = this.#chunks[0]!;
        const count = Math.min(chunk.length - this.#head, n - filled);
        chunk.copy(result, filled, this.#head, this.#head + count);
        filled += count;
        this.#head += count;
        if (this.#head === chunk.length) {
          this.#chunks.shift();
          this.#head = 0;
        }
      }
    }
    this.#length -= n;
    this.#maybeResumeTransport();
    return result;
  }
}

/** Joins a StreamReader (and, for servers, the client_connected callback) to a transport. */
export class StreamReaderProtocol extends Protocol {
  readonly #loop: IoLoop;
  readonly #reader: StreamReader;
  readonly #clientConnected: ClientConnected | null;
  #writingPaused = false;
  #connectionLost = false;
  #lostError: Error | null = null;
  #drainWaiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  #closedWaiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];

  constructor(reader: StreamReader, clientConnected: ClientConnected | null = null, loop: IoLoop = getRunningLoop()) {
    super();
    this.#reader = reader;
    this.#clientConnected = clientConnected;
    this.#loop = loop;
  }

  override connectionMade(transport: Transport): void {
    this.#reader.setTransport(transport);
    if (this.#clientConnected === null) return;
    const writer = new StreamWriter(transport, this, this.#reader, this.#loop);
    const outcome = this.#clientConnected(this.#reader, writer);
    if (isThenable(outcome)) {
      Promise.resolve(outcome).then(undefined, (exception: unknown) => {
        this.#loop.callExceptionHandler({ message: 'Unhandled exception in clientConnected', exception, transport });
        transport.close();
      });
    }
  }

  override connectionLost(exc: Error | null): void {
    this.#connectionLost = true;
    this.#lostError = exc;
    if (exc === null) this.#reader.feedEof();
    else this.#reader.setException(exc);
    for (const waiter of this.#closedWaiters.splice(0)) {
      if (exc === null) waiter.resolve();
      else waiter.reject(exc);
    }
    this.#wakeDrainWaiters(exc ?? connectionResetError());
  }

  override dataReceived(data: Buffer): void {
    this.#reader.feedData(data);
  }

  /** Keeps the connection half-open so the writer can still send after the peer's EOF. */
  override eofReceived(): boolean {
    this.#reader.feedEof();
    return true;
  }

  override pauseWriting(): void {
    this.#writingPaused = true;
  }

  override resumeWriting(): void {
    this.#writingPaused = false;
    this.#wakeDrainWaiters(null);
  }

  /** @internal startTls serves the side that accepted the connection as the TLS server. */
  _isServerSide(): boolean {
    return this.#clientConnected !== null;
  }

  /** @internal startTls: the reader pauses and resumes the TLS transport from now on. */
  _replaceTransport(transport: Transport): void {
    this.#reader._replaceTransport(transport);
  }

  /** @internal Resolves when writing may go on; throws once the connection is lost. */
  _drainHelper(): Promise<void> {
    if (this.#connectionLost) return Promise.reject(this.#lostError ?? connectionResetError());
    if (!this.#writingPaused) return RESOLVED;
    return new Promise((resolve, reject) => this.#drainWaiters.push({ resolve, reject }));
  }

  /** @internal Resolves once connectionLost has run. */
  _closed(): Promise<void> {
    if (this.#connectionLost) return this.#lostError === null ? Promise.resolve() : Promise.reject(this.#lostError);
    return new Promise((resolve, reject) => this.#closedWaiters.push({ resolve, reject }));
  }

  #wakeDrainWaiters(error: Error | null): void {
    for (const waiter of this.#drainWaiters.splice(0)) {
      if (error === null) waiter.resolve();
      else waiter.reject(error);
    }
  }
}

export class StreamWriter {
  #transport: Transport;
  readonly #protocol: StreamReaderProtocol;
  readonly #reader: StreamReader | null;
  readonly #loop: IoLoop;

  constructor(transport: Transport, protocol: StreamReaderProtocol, reader: StreamReader | null, loop: IoLoop) {
    this.#transport = transport;
    this.#protocol = protocol;
    this.#reader = reader;
    this.#loop = loop;
  }

  get transport(): Transport {
    return this.#transport;
  }

  write(data: Uint8Array | ArrayBufferView | string): void {
    this.#transport.write(data);
  }

  writelines(list: Iterable<Uint8Array | ArrayBufferView | string>): void {
    this.#transport.writelines(list);
  }

  writeEof(): void {
    this.#transport.writeEof();
  }

  canWriteEof(): boolean {
    return this.#transport.canWriteEof();
  }

  close(): void {
    this.#transport.close();
  }

  isClosing(): boolean {
    return this.#transport.isClosing();
  }

  /** Resolves once the connection is closed (rejects with its error, if it failed). */
  waitClosed(): Promise<void> {
    return this.#protocol._closed();
  }

  /**
   * `await using writer`: close() and wait until the connection is gone. The connection's own
   * error, if it failed, is not rethrown here: waitClosed() reports it to whoever asks.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.waitClosed().catch(() => undefined);
  }

  getExtraInfo<K extends keyof ExtraInfo>(name: K, defaultValue?: ExtraInfo[K]): ExtraInfo[K] | undefined;
  getExtraInfo(name: string, defaultValue?: unknown): unknown;
  getExtraInfo(name: string, defaultValue?: unknown): unknown {
    return this.#transport.getExtraInfo(name, defaultValue);
  }

  /** Waits until the write buffer is below its high-water mark; throws if the connection is lost. */
  drain(): Promise<void> {
    const failure = this.#reader?.exception();
    if (failure) return Promise.reject(failure);
    if (this.#transport.isClosing()) {
      // Let connectionLost run first, so a lost connection is reported below.
      return new Promise<void>((resolve) => this.#loop.callSoon(resolve)).then(() => this.#protocol._drainHelper());
    }
    // Usually nothing to wait for: one shared resolved promise, no async frame.
    return this.#protocol._drainHelper();
  }

  /**
   * Upgrades the connection to TLS (asyncio StreamWriter.start_tls): the side that accepted it
   * is the TLS server. Resolves once the handshake is done; reads and writes are TLS from then on.
   */
  async startTls(
    sslContext: SslOption,
    options: { serverHostname?: string | null; sslHandshakeTimeout?: number | null; sslShutdownTimeout?: number | null } = {},
  ): Promise<void> {
    const serverSide = this.#protocol._isServerSide();
    await this.drain();
    const transport = await startTls(this.#loop, this.#transport, this.#protocol, sslContext, { ...options, serverSide });
    this.#transport = transport;
    this.#protocol._replaceTransport(transport);
  }

  toString(): string {
    return `<StreamWriter transport=${String(this.#transport)}>`;
  }
}

function connectionResetError(): Error {
  return Object.assign(new Error('Connection lost'), { code: 'ECONNRESET' });
}
