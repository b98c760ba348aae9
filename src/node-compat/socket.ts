// zloop/net's Socket: a stream.Duplex with net.Socket's surface, backed by a zloop transport on
// the thread's loop (thread-loop.ts). The transport's protocol callbacks feed the Duplex:
// dataReceived pushes the loop's Buffer as it is (no copy; the loop never reuses that memory),
// and a full readable buffer pauses the transport's reading until _read() asks again. Writes go
// straight to the transport; a _write's callback is held while the transport is over its
// high-water mark (pauseWriting) and released by resumeWriting, so memory stays bounded by the
// transport's limit plus the Duplex's own highWaterMark.
import { Duplex, type DuplexOptions } from 'node:stream';
import type { TimerHandle } from '../core/handles.js';
import type { EventLoop } from '../io/event-loop.js';
import { checkPort } from '../core/validate.js';
import { native } from '../io/native.js';
import type { Transport } from '../net/protocols.js';
import type { TransportSocket } from '../transports/socket-core.js';
import type { SocketTransport } from '../transports/socket.js';
import { Hold, threadLoop } from './thread-loop.js';

export type SocketConstructorOptions = Pick<DuplexOptions, 'allowHalfOpen' | 'readableHighWaterMark' | 'writableHighWaterMark' | 'highWaterMark'>;

export type TcpConnectOptions = { port: number | string; host?: string; localAddress?: string; localPort?: number; timeout?: number; noDelay?: boolean; keepAlive?: boolean; keepAliveInitialDelay?: number };
export type IpcConnectOptions = { path: string; timeout?: number };
export type SocketConnectOptions = TcpConnectOptions | IpcConnectOptions;

export type AddressInfo = { address: string; family: string; port: number };

/** What a server tells an accepted socket about itself, for Node's bookkeeping (_connections). */
export interface SocketOwnerServer {
  _connections: number;
  _emitCloseIfDrained(): void;
}

const TCP_NODELAY = 1;
const SO_KEEPALIVE = 2;
const RESET_ON_CLOSE = 3;

/** The protocol between a zloop transport and a Socket: each callback forwards. */
class SocketProtocol {
  constructor(readonly socket: Socket) {}
  connectionMade(transport: Transport): void {
    this.socket._onConnectionMade(transport);
  }
  dataReceived(data: Buffer): void {
    this.socket._onData(data);
  }
  eofReceived(): boolean {
    this.socket._onEof();
    return true; // Half-open: the Duplex decides (allowHalfOpen) when our side ends.
  }
  connectionLost(exc: Error | null): void {
    this.socket._onConnectionLost(exc);
  }
  pauseWriting(): void {
    this.socket._onWritePaused(true);
  }
  resumeWriting(): void {
    this.socket._onWritePaused(false);
  }
}

export class Socket extends Duplex {
  /** Bytes received so far. */
  bytesRead = 0;
  /** Set by the server that accepted this socket (net.Socket's `server`). */
  server: SocketOwnerServer | null = null;
  /** @internal The accepting server, as net.Socket names it (http and ws read it). */
  _server: SocketOwnerServer | null = null;

  #transport: Transport | null = null;
  /** The loop of the transport (or of the connect under way); timers run on it. */
  #loop: EventLoop | null = null;
  #fd = -1;
  #connecting = false;
  #lost = false;
  #hadError = false;
  #local: AddressInfo | null = null;
  #remote: AddressInfo | null = null;
  #writePaused = false;
  #heldWriteCallback: ((error?: Error | null) => void) | null = null;
  #hold = new Hold();
  #timeoutMs = 0;
  #timer: TimerHandle | null = null;
  #lastActivity = 0;
  #noDelay: boolean | null = null;
  #keepAlive: [boolean, number] | null = null;

  constructor(options: SocketConstructorOptions = {}) {
    // net.Socket's default: a socket whose peer ended ends too (allowHalfOpen false). Its 'close'
    // carries hadError, so the Duplex's own close event is off.
    // Strings stay strings down to the transport, which has the addon encode them in place.
    super({ ...options, allowHalfOpen: options.allowHalfOpen ?? false, emitClose: false, autoDestroy: true, decodeStrings: false });
  }

  // ---- connecting -------------------------------------------------------------------------

  /** connect(port[, host][, listener]), connect(path[, listener]) or connect(options[, listener]). */
  connect(...args: unknown[]): this {
    const listener = typeof args[args.length - 1] === 'function' ? (args.pop() as () => void) : null;
    const options = connectOptions(args);
    const port = 'port' in options ? checkPort(options.port, 'options.port') : 0;
    if (this.#connecting || this.#transport !== null) throw Object.assign(new Error('Socket is already connected'), { code: 'ERR_SOCKET_CONNECTION_ALREADY_OPEN' });
    if (listener !== null) this.once('connect', listener);
    if (options.timeout !== undefined) this.setTimeout(options.timeout);
    if ('port' in options) {
      if (options.noDelay) this.setNoDelay(true);
      if (options.keepAlive) this.setKeepAlive(true, options.keepAliveInitialDelay ?? 0);
    }
    this.#connecting = true;
    this.#hold.activate();
    const loop = (this.#loop = threadLoop());
    const protocol = new SocketProtocol(this);
    const connected =
      'path' in options
        ? loop.createUnixConnection(() => protocol, options.path)
        : loop.createConnection(() => protocol, options.host ?? 'localhost', port, {
            localAddr: options.localAddress !== undefined || options.localPort !== undefined ? [options.localAddress ?? '0.0.0.0', options.localPort ?? 0] : null,
          });
    connected.then(
      () => {
        this.#connecting = false;
        if (this.destroyed) return;
        this.emit('connect');
        this.emit('ready');
      },
      (error: unknown) => {
        this.#connecting = false;
        this.destroy(error as Error);
      },
    );
    return this;
  }

  /** @internal A server's accepted connection, or a connect() that completed. */
  _onConnectionMade(transport: Transport): void {
    this.#transport = transport;
    this.#hold.activate();
    this.#loop ??= threadLoop();
    const socket = transport.getExtraInfo('socket') as TransportSocket;
    this.#fd = socket.fd;
    this.#local = addressInfo(socket.getsockname(), socket.family);
    this.#remote = addressInfo(socket.getpeername(), socket.family);
    if (this.#noDelay !== null) this.setNoDelay(this.#noDelay);
    if (this.#keepAlive !== null) this.setKeepAlive(...this.#keepAlive);
    this.#touch();
    if (this.destroyed) transport.abort();
  }

  // ---- reading ----------------------------------------------------------------------------

  /** @internal */
  _onData(data: Buffer): void {
    this.bytesRead += data.length;
    this.#touch();
    if (!this.push(data)) this.#transport?.pauseReading();
  }

  /** @internal */
  _onEof(): void {
    // As Node's sockets do: read(0) lets 'end' come even when nobody reads (the buffer is empty),
    // so that a connection whose peer has gone is not left open for want of a reader.
    this.push(null);
    this.read(0);
  }

  override _read(): void {
    const transport = this.#transport;
    if (transport !== null && !this.#lost && !transport.isReading() && !this.readableEnded) transport.resumeReading();
  }

  // ---- writing ----------------------------------------------------------------------------

  override _write(chunk: Buffer | string, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#transport === null) {
      if (!this.#connecting) return callback(notConnected());
      this.once('connect', () => this._write(chunk, encoding, callback));
      return;
    }
    this.#send(typeof chunk === 'string' && !isUtf8(encoding) ? Buffer.from(chunk, encoding) : chunk, callback);
  }

  override _writev(chunks: { chunk: Buffer | string; encoding: BufferEncoding }[], callback: (error?: Error | null) => void): void {
    if (this.#transport === null) {
      if (!this.#connecting) return callback(notConnected());
      this.once('connect', () => this._writev(chunks, callback));
      return;
    }
    // Corked writes (http's head and body) leave as one write to the reactor: UTF-8 strings
    // joined as a string (the addon encodes it), anything else joined as one Buffer.
    if (chunks.every(({ chunk, encoding }) => typeof chunk === 'string' && isUtf8(encoding))) {
      let text = '';
      for (const { chunk } of chunks) text += chunk as string;
      return this.#send(text, callback);
    }
    const buffers = chunks.map(({ chunk, encoding }) => (typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk));
    this.#send(Buffer.concat(buffers), callback);
  }

  #send(data: Buffer | string, callback: (error?: Error | null) => void): void {
    if (this.#lost) return callback(notConnected());
    this.#transport!.write(data);
    this.#touch();
    if (this.#writePaused) this.#heldWriteCallback = callback;
    else callback();
  }

  /** @internal */
  _onWritePaused(paused: boolean): void {
    this.#writePaused = paused;
    if (paused) return;
    const callback = this.#heldWriteCallback;
    this.#heldWriteCallback = null;
    callback?.();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#transport === null) {
      if (!this.#connecting) return callback();
      this.once('connect', () => this._final(callback));
      return;
    }
    if (!this.#lost) this.#transport.writeEof();
    callback();
  }

  /** Bytes written so far (accepted by write(), including what is still queued). */
  get bytesWritten(): number {
    return (this.#transport as SocketTransport | null)?._bytesAccepted ?? 0;
  }

  /** What write() buffered and the kernel has not taken yet. */
  get bufferSize(): number {
    return this.writableLength + (this.#transport?.getWriteBufferSize() ?? 0);
  }

  // ---- closing ----------------------------------------------------------------------------

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#clearTimer();
    this.#hadError = error !== null;
    const transport = this.#transport;
    const held = this.#heldWriteCallback;
    this.#heldWriteCallback = null;
    held?.(error ?? notConnected());
    if (transport === null || this.#lost) {
      this.#finishClose();
    } else if (error === null && this.writableFinished) {
      // A clean end: every accepted byte goes out before the socket closes.
      transport.close();
    } else {
      // destroy() before the end, or with an error: what is queued is dropped, as Node drops it.
      transport.abort();
    }
    callback(error);
  }

  /** end(), then destroy() once the write side has finished. */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  /** Closes with a TCP RST instead of a FIN: the peer sees ECONNRESET. */
  resetAndDestroy(): this {
    if (this.#transport !== null && !this.#lost) native.setStreamOption(this.#fd, RESET_ON_CLOSE, 0);
    this.#transport?.abort();
    return this.destroy();
  }

  /** @internal */
  _onConnectionLost(exc: Error | null): void {
    this.#lost = true;
    this.#hold.deactivate();
    if (exc !== null) this.destroy(exc);
    else if (!this.destroyed) {
      if (!this.readableEnded) this.push(null);
      this.destroy();
    }
    if (this.destroyed) this.#finishClose();
  }

  #closeEmitted = false;

  #finishClose(): void {
    if (this.#closeEmitted || (this.#transport !== null && !this.#lost)) return;
    this.#closeEmitted = true;
    this.#hold.deactivate();
    const server = this._server;
    if (server !== null) {
      server._connections--;
      server._emitCloseIfDrained();
    }
    // After the Duplex's 'error' (a nextTick), as Node's close callback comes in a later phase.
    setImmediate(() => this.emit('close', this.#hadError));
  }

  // ---- options ----------------------------------------------------------------------------

  setNoDelay(noDelay = true): this {
    this.#noDelay = noDelay;
    if (this.#fd >= 0 && !this.#lost && !this.#isUnix()) native.setStreamOption(this.#fd, TCP_NODELAY, noDelay ? 1 : 0);
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    this.#keepAlive = [enable, initialDelay];
    if (this.#fd >= 0 && !this.#lost && !this.#isUnix()) native.setStreamOption(this.#fd, SO_KEEPALIVE, enable ? Math.floor(initialDelay / 1000) : -1);
    return this;
  }

  /** 'timeout' after `ms` milliseconds with no reads or writes; 0 turns it off. */
  setTimeout(ms: number, callback?: () => void): this {
    if (typeof ms !== 'number' || !(ms >= 0) || !Number.isFinite(ms)) {
      throw Object.assign(new RangeError(`The value of "msecs" is out of range. It must be a non-negative finite number. Received ${String(ms)}`), { code: 'ERR_OUT_OF_RANGE' });
    }
    if (callback !== undefined) {
      if (ms === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    this.#timeoutMs = ms;
    const loop = this.#loop;
    if (ms === 0 || this.destroyed || loop === null || loop.isClosed()) return this;
    // The period starts now. A timer already armed for no later than that stays (http sets and
    // clears a keep-alive timeout around every request: no timer churn for it); a later one moves.
    this.#lastActivity = loop.time();
    if (this.#timer !== null && this.#timer.when() > this.#lastActivity + ms / 1000) this.#clearTimer();
    this.#touch();
    return this;
  }

  get timeout(): number | undefined {
    return this.#timeoutMs === 0 ? undefined : this.#timeoutMs;
  }

  ref(): this {
    this.#hold.ref();
    return this;
  }

  unref(): this {
    this.#hold.unref();
    return this;
  }

  // ---- state and addresses ----------------------------------------------------------------

  get connecting(): boolean {
    return this.#connecting;
  }

  get pending(): boolean {
    return this.#transport === null || this.#lost;
  }

  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.#connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable && !this.writable) return 'readOnly';
    if (!this.readable && this.writable) return 'writeOnly';
    return 'closed';
  }

  address(): AddressInfo | Record<string, never> {
    return this.#local ?? {};
  }

  get localAddress(): string | undefined {
    return this.#local?.address;
  }

  get localPort(): number | undefined {
    return this.#local?.port;
  }

  get localFamily(): string | undefined {
    return this.#local?.family;
  }

  get remoteAddress(): string | undefined {
    return this.#remote?.address;
  }

  get remotePort(): number | undefined {
    return this.#remote?.port;
  }

  get remoteFamily(): string | undefined {
    return this.#remote?.family;
  }

  /** @internal The socket's fd while it is open, else -1 (tests read its options back). */
  get _fd(): number {
    return this.#lost ? -1 : this.#fd;
  }

  // ---- internals --------------------------------------------------------------------------

  #isUnix(): boolean {
    return this.#local?.family === 'unix';
  }

  /**
   * Activity: the idle period counts from now. The timer is not moved; when it fires early it
   * re-arms for the rest of the period, so a busy socket costs one timer per period, not per read.
   */
  #touch(): void {
    const loop = this.#loop;
    if (this.#timeoutMs === 0 || loop === null || loop.isClosed()) return;
    this.#lastActivity = loop.time();
    if (this.#timer === null) this.#timer = loop.callLater(this.#timeoutMs / 1000, this.#onTimer);
  }

  #onTimer = (): void => {
    this.#timer = null;
    const loop = this.#loop;
    // setTimeout(0) leaves the timer to fire into nothing rather than cancelling it.
    if (this.#timeoutMs === 0 || this.destroyed || loop === null || loop.isClosed()) return;
    const idleFor = loop.time() - this.#lastActivity;
    const limit = this.#timeoutMs / 1000;
    if (idleFor < limit) this.#timer = loop.callLater(limit - idleFor, this.#onTimer);
    else this.emit('timeout');
  };

  #clearTimer(): void {
    this.#timer?.cancel();
    this.#timer = null;
  }
}

/** The accepted-connection side: a Socket and the protocol a zloop server's factory returns. */
export function acceptedSocket(options: SocketConstructorOptions): { socket: Socket; protocol: SocketProtocol } {
  const socket = new Socket(options);
  return { socket, protocol: new SocketProtocol(socket) };
}

function addressInfo(address: [string, number] | string | null, family: string): AddressInfo | null {
  if (address === null) return null;
  if (typeof address === 'string') return { address, family: 'unix', port: 0 };
  return { address: address[0], family, port: address[1] };
}

function isUtf8(encoding: BufferEncoding): boolean {
  return encoding === 'utf8' || encoding === 'utf-8';
}

function notConnected(): Error {
  return Object.assign(new Error('This socket has been ended by the other party'), { code: 'EPIPE' });
}

function connectOptions(args: unknown[]): SocketConnectOptions {
  const [first, second] = args;
  if (first !== null && typeof first === 'object') return first as SocketConnectOptions;
  if (typeof first === 'string' && !/^\d+$/.test(first)) return { path: first };
  if (typeof first === 'number' || typeof first === 'string') return { port: first, host: typeof second === 'string' ? second : undefined };
  throw Object.assign(new TypeError('The "options" or "port" or "path" argument must be specified'), { code: 'ERR_MISSING_ARGS' });
}
