// Pipe transports over any fd (asyncio unix_events._UnixReadPipeTransport and
// _UnixWritePipeTransport): loop.connectReadPipe / loop.connectWritePipe.
//
// The fd is made non-blocking (native.setBlocking: Node has no API for it) and watched by the
// loop's own reactor with addReader/addWriter; the reads and writes are plain read(2)/write(2)
// through fs.readSync/fs.writeSync, which never block on a non-blocking fd (EAGAIN instead).
// The reactor's socket path (recv/send) is not used: those calls fail on a pipe with ENOTSOCK.
//
// Call order, as asyncio's:
//   read pipe:  connectionMade -> dataReceived* -> eofReceived? -> connectionLost
//   write pipe: connectionMade -> (pauseWriting -> resumeWriting)* -> connectionLost
// The transport owns the fd: it closes it after connectionLost, as asyncio closes its pipe.
import { closeSync, fstatSync, readSync, writeSync } from 'node:fs';
import type { IoLoop } from '../io/io-loop.js';
import { native } from '../io/native.js';
import type { AnyProtocol, ExtraInfo, ProtocolFactory } from '../net/protocols.js';
import { systemError } from '../net/system-error.js';
import { asError, callConnectionLost, joinLines, toBytes, TransportCore, WritableTransportCore } from './transport-core.js';
import { checkFd, argRangeError, argTypeError } from '../core/validate.js';

/** asyncio's max_size for one read of a pipe. */
const READ_MAX_BYTES = 256 * 1024;
/** asyncio logs a warning once this many writes were made after the pipe was lost. */
const LOG_THRESHOLD_FOR_CONNLOST_WRITES = 5;

/** What getExtraInfo('pipe') returns: the fd the transport reads or writes (asyncio: the pipe file object). */
export class PipeInfo {
  constructor(readonly fd: number) {}

  fileno(): number {
    return this.fd;
  }
}

type PipeKind = 'fifo' | 'socket' | 'character device';

/** Pipe transports are for pipes, sockets and character devices only, as asyncio's. */
function pipeKind(fd: number): PipeKind {
  const stat = fstatSync(fd);
  if (stat.isFIFO()) return 'fifo';
  if (stat.isSocket()) return 'socket';
  if (stat.isCharacterDevice()) return 'character device';
  throw argRangeError(`Pipe transport is for pipes/sockets only (fd ${fd} is not a pipe, a socket or a character device)`, 'ERR_INVALID_ARG_VALUE');
}

function makeNonBlocking(fd: number): void {
  const result = native.setBlocking(fd, false);
  if (result < 0) throw systemError(result, 'fcntl');
}

function isEagain(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException)?.code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR';
}

function isPipeGone(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException)?.code;
  return code === 'EPIPE' || code === 'ECONNRESET';
}

/** The fd a pipe transport owns: closed once, after connectionLost, as asyncio closes its pipe. */
class OwnedPipe {
  readonly info: PipeInfo;
  closed = false;

  constructor(readonly fd: number) {
    this.info = new PipeInfo(fd);
  }

  /** connectionLost(exc) on `transport`'s protocol, then the fd is closed whatever it threw. */
  lost(loop: IoLoop, transport: TransportCore<AnyProtocol, IoLoop>, exc: Error | null): void {
    if (this.closed) return;
    try {
      callConnectionLost(loop, transport, transport.getProtocol(), exc);
    } finally {
      this.close();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  state(closing: boolean): string {
    return this.closed ? 'closed' : closing ? 'closing' : 'open';
  }
}

export class ReadPipeTransport extends TransportCore<AnyProtocol, IoLoop> {
  readonly #pipe: OwnedPipe;
  #paused = false;

  /** @internal Use loop.connectReadPipe. */
  constructor(loop: IoLoop, fd: number, protocol: AnyProtocol) {
    super(loop, protocol);
    this.#pipe = new OwnedPipe(fd);
    pipeKind(fd);
    makeNonBlocking(fd);
    loop.callSoon(() => this._start());
    // Reading starts after connectionMade has run, as asyncio schedules _add_reader behind it.
    loop.callSoon(() => {
      if (!this._closing && !this.#paused) this._loop.addReader(fd, this.#onReadable);
    });
  }

  readonly #onReadable = (): void => {
    if (this._closing) return;
    const buffer = Buffer.allocUnsafe(READ_MAX_BYTES);
    let count: number;
    try {
      count = readSync(this.#pipe.fd, buffer, 0, READ_MAX_BYTES, null);
    } catch (error) {
      if (isEagain(error)) return;
      this._fatalError(error, 'Fatal read error on pipe transport');
      return;
    }
    if (count > 0) {
      // A copy of its own for the protocol (it may keep it), sized to what arrived.
      const data = count < READ_MAX_BYTES / 2 ? Buffer.from(buffer.subarray(0, count)) : buffer.subarray(0, count);
      try {
        this._protocol.dataReceived?.(data);
      } catch (exception) {
        this._fatalError(exception, 'Fatal error: protocol.dataReceived() call failed.');
      }
      return;
    }
    // EOF: the write end is closed.
    this._closing = true;
    this._loop.removeReader(this.#pipe.fd);
    this._loop.callSoon(() => {
      try {
        this._protocol.eofReceived?.();
      } catch (exception) {
        this._report(exception, 'Exception in callback protocol.eofReceived()');
      }
    });
    this._loop.callSoon(() => this.#callConnectionLost(null));
  };

  pauseReading(): void {
    if (this._closing || this.#paused) return;
    this.#paused = true;
    this._loop.removeReader(this.#pipe.fd);
  }

  resumeReading(): void {
    if (this._closing || !this.#paused) return;
    this.#paused = false;
    this._loop.addReader(this.#pipe.fd, this.#onReadable);
  }

  isReading(): boolean {
    return !this.#paused && !this._closing;
  }

  /** Stops reading; connectionLost(null) follows and the fd is closed. */
  close(): void {
    if (!this._closing) this.#close(null);
  }

  getExtraInfo<K extends keyof ExtraInfo>(name: K, defaultValue?: ExtraInfo[K]): ExtraInfo[K] | undefined;
  getExtraInfo(name: string, defaultValue?: unknown): unknown;
  getExtraInfo(name: string, defaultValue: unknown = undefined): unknown {
    return name === 'pipe' ? this.#pipe.info : defaultValue;
  }

  toString(): string {
    return `<ReadPipeTransport fd=${this.#pipe.fd} ${this.#pipe.state(this._closing)}>`;
  }

  /** @internal EIO on a pty whose other side went away is the normal end, as asyncio treats it. */
  protected _fatalError(exception: unknown, message: string): void {
    if ((exception as NodeJS.ErrnoException)?.code !== 'EIO') this._report(exception, message);
    this.#close(asError(exception));
  }
  #close(exc: Error | null): void {
    this._closing = true;
    if (this._loop.isClosed()) {
      this.#pipe.close();
      return;
    }
    this._loop.removeReader(this.#pipe.fd);
    this._loop.callSoon(() => this.#callConnectionLost(exc));
  }

  #callConnectionLost(exc: Error | null): void {
    this.#pipe.lost(this._loop, this, exc);
  }
}

export class WritePipeTransport extends WritableTransportCore<AnyProtocol, IoLoop> {
  readonly #pipe: OwnedPipe;
  readonly #kind: PipeKind;
  /** Bytes the kernel did not take yet, oldest first. */
  #buffer: Uint8Array[] = [];
  /** Non-zero once the pipe is lost: counts writes made after that. */
  #connLost = 0;
  #watchingClose = false;

  /** @internal Use loop.connectWritePipe. */
  constructor(loop: IoLoop, fd: number, protocol: AnyProtocol) {
    super(loop, protocol);
    this.#pipe = new OwnedPipe(fd);
    this.#kind = pipeKind(fd);
    makeNonBlocking(fd);
    loop.callSoon(() => this._start());
    // On a pipe, the write end polls readable (EPOLLERR) once the read end is closed: asyncio
    // watches for it to notice a reader that went away while nothing is being written. A
    // socket is not watched: its peer may send data, which is not a close.
    if (this.#kind === 'fifo') {
      loop.callSoon(() => {
        if (this._closing || this.#pipe.closed) return;
        this.#watchingClose = true;
        this._loop.addReader(fd, this.#onReadEndClosed);
      });
    }
  }

  readonly #onReadEndClosed = (): void => {
    if (this._bufferSize > 0) this.#close(Object.assign(new Error(`write EPIPE: the read end of pipe fd ${this.#pipe.fd} was closed`), { code: 'EPIPE' }));
    else this.#close(null);
  };

  write(data: Uint8Array | ArrayBufferView | string): void {
    const bytes = toBytes(data);
    if (bytes.length === 0) return;
    if (this.#connLost > 0 || this._closing) {
      if (this.#connLost >= LOG_THRESHOLD_FOR_CONNLOST_WRITES) console.warn('pipe closed by peer or os.write(pipe, data) raised exception.');
      this.#connLost++;
      return;
    }
    let rest = bytes;
    if (this._bufferSize === 0) {
      let written = 0;
      try {
        written = writeSync(this.#pipe.fd, bytes);
      } catch (error) {
        if (!isEagain(error)) {
          this.#connLost++;
          this._fatalError(error, 'Fatal write error on pipe transport');
          return;
        }
      }
      if (written === bytes.length) return;
      rest = bytes.subarray(written);
      this._loop.addWriter(this.#pipe.fd, this.#onWritable);
    }
    // A copy: the caller may reuse its buffer once write() returns.
    this.#buffer.push(Uint8Array.prototype.slice.call(rest));
    this._bufferSize += rest.length;
    this._flow.update(this._bufferSize);
  }

  /** All the chunks with one write (they are joined first). */
  writelines(list: Iterable<Uint8Array | ArrayBufferView | string>): void {
    this.write(joinLines(list));
  }

  readonly #onWritable = (): void => {
    if (this._bufferSize === 0 || this.#pipe.closed) return;
    const data = this.#buffer.length === 1 ? this.#buffer[0]! : Buffer.concat(this.#buffer);
    this.#buffer = [data];
    let written = 0;
    try {
      written = writeSync(this.#pipe.fd, data);
    } catch (error) {
      if (isEagain(error)) return;
      this.#buffer = [];
      this._bufferSize = 0;
      this.#connLost++;
      // asyncio removes the writer before the error is reported.
      this._loop.removeWriter(this.#pipe.fd);
      this._fatalError(error, 'Fatal write error on pipe transport');
      return;
    }
    if (written === data.length) {
      this.#buffer = [];
      this._bufferSize = 0;
      this._loop.removeWriter(this.#pipe.fd);
      this._flow.update(0);
      // resumeWriting() may have written more and closed: only an empty buffer ends the pipe.
      if (this._closing && this._bufferSize === 0) {
        this.#stopWatchingClose();
        this.#callConnectionLost(null);
      }
      return;
    }
    if (written > 0) {
      this.#buffer = [data.subarray(written)];
      this._bufferSize -= written;
      this._flow.update(this._bufferSize);
    }
  };

  canWriteEof(): boolean {
    return true;
  }

  /** For a pipe, EOF is the close of the write end: once the buffer drains, connectionLost(null). */
  writeEof(): void {
    if (this._closing) return;
    this._closing = true;
    if (this._bufferSize === 0) {
      this.#stopWatchingClose();
      if (this._loop.isClosed()) this.#pipe.close();
      else this._loop.callSoon(() => this.#callConnectionLost(null));
    }
  }

  /** Closes once everything written has been sent. */
  close(): void {
    if (!this._closing) this.writeEof();
  }

  /** Closes at once, dropping what is buffered. */
  abort(): void {
    this.#close(null);
  }

  getExtraInfo<K extends keyof ExtraInfo>(name: K, defaultValue?: ExtraInfo[K]): ExtraInfo[K] | undefined;
  getExtraInfo(name: string, defaultValue?: unknown): unknown;
  getExtraInfo(name: string, defaultValue: unknown = undefined): unknown {
    return name === 'pipe' ? this.#pipe.info : defaultValue;
  }

  toString(): string {
    return `<WritePipeTransport fd=${this.#pipe.fd} ${this.#pipe.state(this._closing)} bufsize=${this._bufferSize}>`;
  }

  /** @internal A reader that went away (EPIPE) is how pipes end; asyncio reports it only in debug mode. */
  protected _fatalError(exception: unknown, message: string): void {
    if (!isPipeGone(exception)) this._report(exception, message);
    this.#close(asError(exception));
  }
  #stopWatchingClose(): void {
    if (!this.#watchingClose) return;
    this.#watchingClose = false;
    this._loop.removeReader(this.#pipe.fd);
  }

  #close(exc: Error | null): void {
    if (this.#pipe.closed) return;
    this._closing = true;
    this.#buffer = [];
    this._bufferSize = 0;
    if (this._loop.isClosed()) {
      this.#pipe.close();
      return;
    }
    this._loop.removeWriter(this.#pipe.fd);
    this.#stopWatchingClose();
    this.#connLost++;
    this._loop.callSoon(() => this.#callConnectionLost(exc));
  }

  #callConnectionLost(exc: Error | null): void {
    this.#pipe.lost(this._loop, this, exc);
  }
}

/** loop.connectReadPipe: the transport reads `fd` from the next iteration on. */
export async function connectReadPipe<P extends AnyProtocol>(loop: IoLoop, protocolFactory: ProtocolFactory<P>, fd: number): Promise<[ReadPipeTransport, P]> {
  checkFd(fd);
  if (typeof protocolFactory !== 'function') throw argTypeError('protocolFactory must be a function');
  const protocol = protocolFactory();
  const transport = new ReadPipeTransport(loop, fd, protocol);
  // asyncio resolves after connectionMade has run.
  await new Promise<void>((resolve) => loop.callSoon(resolve));
  return [transport, protocol];
}

export async function connectWritePipe<P extends AnyProtocol>(loop: IoLoop, protocolFactory: ProtocolFactory<P>, fd: number): Promise<[WritePipeTransport, P]> {
  checkFd(fd);
  if (typeof protocolFactory !== 'function') throw argTypeError('protocolFactory must be a function');
  const protocol = protocolFactory();
  const transport = new WritePipeTransport(loop, fd, protocol);
  await new Promise<void>((resolve) => loop.callSoon(resolve));
  return [transport, protocol];
}
