// The stream transport for TCP and Unix sockets (asyncio selector_events._SelectorSocketTransport).
// The reactor does the syscalls: it reads into the loop's receive buffer and reports DATA
// records; write() sends at once and the reactor queues only what the kernel did not take, then
// reports WRITTEN records as the queue drains. This class keeps asyncio's state machine.
import type { IoLoop } from '../io/io-loop.js';
import { native, RecordKind, FailedPhase } from '../io/native.js';
import type { AnyProtocol, Transport } from '../net/protocols.js';
import { isConnectionLostError, systemError } from '../net/system-error.js';
import { ReactorSocketTransport, type SocketFamily } from './socket-core.js';
import { feedBufferedProtocol, joinLines, toBytes } from './transport-core.js';

export { parseAddress, type SocketFamily, TransportSocket } from './socket-core.js';
export type { Transport } from '../net/protocols.js';

/** Told when a transport of a server comes and goes (Server implements it). */
export interface TransportTracker {
  /** @internal */
  _attach(transport: SocketTransport): void;
  /** @internal */
  _detach(transport: SocketTransport): void;
}

export class SocketTransport extends ReactorSocketTransport<AnyProtocol> implements Transport {
  #buffered: boolean;
  readonly #tracker: TransportTracker | null;
  #eofWritten = false;
  #reading = true;
  #writesAfterLost = 0;
  /** abort() was called: the socket is closed at once (a reset), not gracefully. */
  #aborted = false;
  readonly #isLost = (): boolean => this._lost;

  /** @internal Made by createConnection/createServer; the reactor already reads the socket. */
  constructor(loop: IoLoop, fd: number, family: SocketFamily, protocol: AnyProtocol, tracker: TransportTracker | null) {
    super(loop, fd, family, protocol);
    this.#buffered = typeof protocol.getBuffer === 'function';
    this.#tracker = tracker;
    tracker?._attach(this);
  }

  /** @internal */
  _onSocketRecord(kind: number, a: number, b: number): void {
    if (this._lost) return;
    switch (kind) {
      case RecordKind.data:
        this.#onData(a, b);
        break;
      case RecordKind.written:
        this._refreshWriteBuffer();
        if (this._bufferSize === 0 && this._closing) this._release(null);
        break;
      case RecordKind.eof:
        this.#onEof();
        break;
      case RecordKind.failed: {
        const syscall = b === FailedPhase.write ? 'write' : 'read';
        const message = b === FailedPhase.write ? 'Fatal write error on socket transport' : 'Fatal read error on socket transport';
        this._fatalError(systemError(a, syscall), message);
        break;
      }
    }
  }

  // ---- writing ----------------------------------------------------------------------------

  /** @internal Bytes write() has taken so far (sent or queued); zloop/net's bytesWritten. */
  _bytesAccepted = 0;

  write(data: Uint8Array | ArrayBufferView | string): void {
    // A string is encoded by the addon straight into native memory: no Buffer per write.
    const text = typeof data === 'string';
    const bytes = text ? null : toBytes(data);
    if (this.#eofWritten) throw new Error('Cannot call write() after writeEof()');
    if (text ? data.length === 0 : bytes!.length === 0) return;
    if (this._lost) {
      // asyncio drops writes after the connection is lost and warns once it looks like a bug.
      if (++this.#writesAfterLost === 5) console.warn('socket.send() raised exception.');
      return;
    }
    let queued: number;
    if (text) {
      const encoded = native.writeString(this._loop._reactor, this._fd, data, data.length);
      if (encoded >= 0) this._bytesAccepted += encoded;
      queued = encoded < 0 ? encoded : native.queuedBytes(this._loop._reactor, this._fd);
    } else {
      queued = native.write(this._loop._reactor, this._fd, bytes!);
      if (queued >= 0) this._bytesAccepted += bytes!.length;
    }
    if (queued < 0) {
      this._fatalError(systemError(queued, 'write'), 'Fatal write error on socket transport');
      return;
    }
    this._bufferSize = queued;
    this._flow.update(queued);
  }

  /** All the chunks with one write (they are joined first). */
  writelines(list: Iterable<Uint8Array | ArrayBufferView | string>): void {
    this.write(joinLines(list));
  }

  /** Half-closes: the peer sees EOF once every written byte is sent; reading goes on. */
  writeEof(): void {
    if (this._closing || this.#eofWritten) return;
    this.#eofWritten = true;
    if (this._lost) return;
    const result = native.shutdownWrite(this._loop._reactor, this._fd);
    // ENOTCONN: the peer reset the connection first; nothing is left to half-close, and the
    // read side reports the loss itself.
    if (result < 0 && result !== -107 /* ENOTCONN */ && !isConnectionLostError(systemError(result, 'shutdown'))) {
      this._fatalError(systemError(result, 'shutdown'), 'Fatal error on socket transport');
    }
  }

  canWriteEof(): boolean {
    return true;
  }

  // ---- reading ----------------------------------------------------------------------------

  pauseReading(): void {
    if (this._closing || !this.#reading) return;
    this.#reading = false;
    this._setReading(false);
  }

  resumeReading(): void {
    if (this._closing || this.#reading) return;
    this.#reading = true;
    this._setReading(true);
  }

  isReading(): boolean {
    return this.#reading && !this._closing;
  }

  // ---- closing ----------------------------------------------------------------------------

  /** Stops reading; closes once the write buffer has drained, then calls connectionLost(null). */
  close(): void {
    if (this._closing) return;
    this._closing = true;
    if (this._lost || this._loop.isClosed()) return;
    this._setReading(false);
    if (this._bufferSize === 0) this._release(null);
  }

  /** Closes at once, dropping whatever is still buffered; connectionLost(null) follows. */
  abort(): void {
    this._closing = true;
    this.#aborted = true;
    this._release(null);
  }

  override setProtocol(protocol: AnyProtocol): void {
    super.setProtocol(protocol);
    this.#buffered = typeof protocol.getBuffer === 'function';
  }

  // ---- internals --------------------------------------------------------------------------

  #onData(offset: number, length: number): void {
    if (!this.#buffered) {
      // Bytes the protocol owns (a copy, or a view of a region never written again).
      const data = this._loop._receivedBytes(offset, length);
      try {
        this._protocol.dataReceived!(data);
      } catch (exception) {
        this._fatalError(exception, 'Fatal error: protocol.dataReceived() call failed.');
      }
      return;
    }
    try {
      feedBufferedProtocol(this._protocol, this._loop._receiveBuffer, offset, offset + length, this.#isLost);
    } catch (exception) {
      this._fatalError(exception, 'Fatal error: protocol.getBuffer() or bufferUpdated() call failed.');
    }
  }

  #onEof(): void {
    let keepOpen: boolean | void;
    try {
      keepOpen = this._protocol.eofReceived?.();
    } catch (exception) {
      this._fatalError(exception, 'Fatal error: protocol.eofReceived() call failed.');
      return;
    }
    if (keepOpen) {
      // Half-open: the reactor already stopped reading; writing goes on until close().
      this.#reading = false;
    } else {
      this.close();
    }
  }

  /** @internal After close() with everything sent, no reset: it could cost the peer bytes it has not read yet. */
  protected override _release(exc: Error | null): void {
    if (this._lost) return;
    super._release(exc, exc === null && !this.#aborted);
    this.#tracker?._detach(this);
  }
}
