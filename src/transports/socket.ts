// The stream transport for TCP and Unix sockets (asyncio selector_events._SelectorSocketTransport).
// The reactor does the syscalls: it reads into the loop's receive buffer and reports DATA
// records; write() sends at once and the reactor queues only what the kernel did not take, then
// reports WRITTEN records as the queue drains. This class keeps asyncio's state machine.
import type { IoLoop, SocketOwner } from '../io/io-loop.js';
import { native, RecordKind, FailedPhase } from '../io/native.js';
import type { AnyProtocol, Transport } from '../net/protocols.js';
import { WriteFlowControl } from './flow-control.js';
import { callConnectionLost, joinLines, toBytes } from './transport-core.js';

import { isConnectionLostError, systemError } from '../net/system-error.js';


export type SocketFamily = 'IPv4' | 'IPv6' | 'unix';

/** What getExtraInfo('socket') and Server.sockets return: a view of one socket, not the socket. */
export class TransportSocket {
  constructor(
    readonly fd: number,
    readonly family: SocketFamily,
  ) {}

  /** [host, port] for TCP, the path for a Unix socket. */
  getsockname(): [string, number] | string | null {
    return parseAddress(native.socketAddress(this.fd, false), this.family);
  }

  getpeername(): [string, number] | string | null {
    return parseAddress(native.socketAddress(this.fd, true), this.family);
  }
}

export type { Transport } from '../net/protocols.js';

/** Told when a transport of a server comes and goes (Server implements it). */
export interface TransportTracker {
  _attach(transport: SocketTransport): void;
  _detach(transport: SocketTransport): void;
}

export class SocketTransport implements Transport, SocketOwner {
  readonly #loop: IoLoop;
  readonly #fd: number;
  readonly #family: SocketFamily;
  #protocol: AnyProtocol;
  #buffered: boolean;
  readonly #tracker: TransportTracker | null;
  #closing = false;
  /** connectionLost is scheduled or done; the socket is released. */
  #lost = false;
  #eofWritten = false;
  #reading = true;
  #bufferSize = 0;
  readonly #flow: WriteFlowControl;
  #writesAfterLost = 0;
  /** abort() was called: the socket is closed at once (a reset), not gracefully. */
  #aborted = false;
  #socket: TransportSocket | undefined;

  /** @internal Made by createConnection/createServer; the reactor already reads the socket. */
  constructor(loop: IoLoop, fd: number, family: SocketFamily, protocol: AnyProtocol, tracker: TransportTracker | null) {
    this.#loop = loop;
    this.#flow = new WriteFlowControl(loop, this, () => this.#protocol);
    this.#fd = fd;
    this.#family = family;
    this.#protocol = protocol;
    this.#buffered = typeof protocol.getBuffer === 'function';
    this.#tracker = tracker;
    loop._registerSocket(fd, this);
    tracker?._attach(this);
  }

  /** @internal Calls connectionMade; a failure there closes the transport, as asyncio does. */
  _start(): void {
    try {
      this.#protocol.connectionMade(this);
    } catch (exception) {
      this.#fatalError(exception, 'Fatal error: protocol.connectionMade() call failed.');
    }
  }

  /** @internal */
  _onSocketRecord(kind: number, a: number, b: number): void {
    if (this.#lost) return;
    switch (kind) {
      case RecordKind.data:
        this.#onData(a, b);
        break;
      case RecordKind.written:
        this.#onWritten();
        break;
      case RecordKind.eof:
        this.#onEof();
        break;
      case RecordKind.failed: {
        const syscall = b === FailedPhase.write ? 'write' : 'read';
        const message = b === FailedPhase.write ? 'Fatal write error on socket transport' : 'Fatal read error on socket transport';
        this.#fatalError(systemError(a, syscall), message);
        break;
      }
    }
  }

  // ---- writing ----------------------------------------------------------------------------

  write(data: Uint8Array | ArrayBufferView | string): void {
    const bytes = toBytes(data);
    if (this.#eofWritten) throw new Error('Cannot call write() after write_eof()');
    if (bytes.length === 0) return;
    if (this.#lost) {
      // asyncio drops writes after the connection is lost and warns once it looks like a bug.
      if (++this.#writesAfterLost === 5) console.warn('socket.send() raised exception.');
      return;
    }
    const queued = native.write(this.#loop._reactor, this.#fd, bytes);
    if (queued < 0) {
      this.#fatalError(systemError(queued, 'write'), 'Fatal write error on socket transport');
      return;
    }
    this.#bufferSize = queued;
    this.#flow.update(queued);
  }

  /** All the chunks with one write (they are joined first). */
  writelines(list: Iterable<Uint8Array | ArrayBufferView | string>): void {
    this.write(joinLines(list));
  }

  /** Half-closes: the peer sees EOF once every written byte is sent; reading goes on. */
  writeEof(): void {
    if (this.#closing || this.#eofWritten) return;
    this.#eofWritten = true;
    if (this.#lost) return;
    const result = native.shutdownWrite(this.#loop._reactor, this.#fd);
    if (result < 0 && !isConnectionLostError(systemError(result, 'shutdown'))) {
      this.#fatalError(systemError(result, 'shutdown'), 'Fatal error on socket transport');
    }
  }

  canWriteEof(): boolean {
    return true;
  }

  setWriteBufferLimits(high?: number | null, low?: number | null): void {
    this.#flow.setLimits(high, low, this.#bufferSize);
  }

  getWriteBufferLimits(): [low: number, high: number] {
    return this.#flow.limits();
  }

  getWriteBufferSize(): number {
    return this.#bufferSize;
  }

  // ---- reading ----------------------------------------------------------------------------

  pauseReading(): void {
    if (this.#closing || !this.#reading) return;
    this.#reading = false;
    native.setReading(this.#loop._reactor, this.#fd, false);
  }

  resumeReading(): void {
    if (this.#closing || this.#reading) return;
    this.#reading = true;
    native.setReading(this.#loop._reactor, this.#fd, true);
  }

  isReading(): boolean {
    return this.#reading && !this.#closing;
  }

  // ---- closing ----------------------------------------------------------------------------

  /** Stops reading; closes once the write buffer has drained, then calls connectionLost(null). */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#lost || this.#loop.isClosed()) return;
    native.setReading(this.#loop._reactor, this.#fd, false);
    if (this.#bufferSize === 0) this.#release(null);
  }

  /** Closes at once, dropping whatever is still buffered; connectionLost(null) follows. */
  abort(): void {
    this.#closing = true;
    this.#aborted = true;
    this.#release(null);
  }

  isClosing(): boolean {
    return this.#closing;
  }

  // ---- the rest of asyncio's transport API --------------------------------------------------

  getExtraInfo(name: string, defaultValue: unknown = undefined): unknown {
    switch (name) {
      case 'socket':
        this.#socket ??= new TransportSocket(this.#fd, this.#family);
        return this.#socket;
      case 'sockname':
        return parseAddress(native.socketAddress(this.#fd, false), this.#family) ?? defaultValue;
      case 'peername':
        return parseAddress(native.socketAddress(this.#fd, true), this.#family) ?? defaultValue;
      default:
        return defaultValue;
    }
  }

  getProtocol(): AnyProtocol {
    return this.#protocol;
  }

  setProtocol(protocol: AnyProtocol): void {
    this.#protocol = protocol;
    this.#buffered = typeof protocol.getBuffer === 'function';
  }

  toString(): string {
    const state = this.#lost ? 'closed' : this.#closing ? 'closing' : 'open';
    return `<SocketTransport fd=${this.#fd} ${state}>`;
  }

  // ---- internals --------------------------------------------------------------------------

  #onData(offset: number, length: number): void {
    const source = this.#loop._receiveBuffer;
    if (!this.#buffered) {
      // A copy the protocol owns: the receive buffer is reused by the next batch.
      const data = Buffer.allocUnsafe(length);
      source.copy(data, 0, offset, offset + length);
      try {
        this.#protocol.dataReceived!(data);
      } catch (exception) {
        this.#fatalError(exception, 'Fatal error: protocol.dataReceived() call failed.');
      }
      return;
    }
    let position = offset;
    const end = offset + length;
    try {
      while (position < end && !this.#lost) {
        const target = this.#protocol.getBuffer!(end - position);
        if (!(target instanceof Uint8Array) || target.length === 0) {
          throw new RangeError('getBuffer() returned an empty buffer');
        }
        const count = Math.min(target.length, end - position);
        source.copy(target, 0, position, position + count);
        position += count;
        this.#protocol.bufferUpdated!(count);
      }
    } catch (exception) {
      this.#fatalError(exception, 'Fatal error: protocol.getBuffer() or bufferUpdated() call failed.');
    }
  }

  #onEof(): void {
    let keepOpen: boolean | void;
    try {
      keepOpen = this.#protocol.eofReceived?.();
    } catch (exception) {
      this.#fatalError(exception, 'Fatal error: protocol.eofReceived() call failed.');
      return;
    }
    if (keepOpen) {
      // Half-open: the reactor already stopped reading; writing goes on until close().
      this.#reading = false;
    } else {
      this.close();
    }
  }

  /**
   * The reactor sent queued bytes. The count in the record is what was queued when the batch was
   * collected; callbacks earlier in this batch (dataReceived of this socket, another transport's
   * protocol) may have written since, so the count is read again now. resumeWriting() may write
   * more (and call close()): the release decision reads the buffer after it ran.
   */
  #onWritten(): void {
    this.#bufferSize = native.queuedBytes(this.#loop._reactor, this.#fd);
    this.#flow.update(this.#bufferSize);
    if (this.#bufferSize === 0 && this.#closing) this.#release(null);
  }

  /** asyncio's _fatal_error: log unless the peer just went away, then close at once. */
  #fatalError(exception: unknown, message: string): void {
    if (!isConnectionLostError(exception)) {
      this.#loop.callExceptionHandler({ message, exception, transport: this, protocol: this.#protocol });
    }
    this.#closing = true;
    this.#release(exception instanceof Error ? exception : new Error(String(exception)));
  }

  /** Closes the socket now and schedules connectionLost(exc). Runs once. */
  #release(exc: Error | null): void {
    if (this.#lost) return;
    this.#lost = true;
    this.#bufferSize = 0;
    // After close() with everything sent: no reset, which could cost the peer bytes it has not
    // read yet (see the reactor's closeGracefully). abort() and errors close at once.
    this.#loop._releaseSocket(this.#fd, exc === null && !this.#aborted);
    this.#tracker?._detach(this);
    if (this.#loop.isClosed()) return;
    this.#loop.callSoon(() => callConnectionLost(this.#loop, this, this.#protocol, exc));
  }
}

/** "127.0.0.1:80" -> ['127.0.0.1', 80]; "[::1]:80" -> ['::1', 80]; Unix paths as they are. */
export function parseAddress(text: string | null, family: SocketFamily): [string, number] | string | null {
  if (text === null) return null;
  if (family === 'unix') return text;
  const colon = text.lastIndexOf(':');
  let host = text.slice(0, colon);
  if (host.startsWith('[')) host = host.slice(1, -1);
  return [host, Number(text.slice(colon + 1))];
}
