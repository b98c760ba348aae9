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
import { WriteFlowControl } from './flow-control.js';
import { closeSync, fstatSync, readSync, writeSync } from 'node:fs';
import type { IoLoop } from '../io/io-loop.js';
import { native } from '../io/native.js';
import type { AnyProtocol, ProtocolFactory } from '../net/protocols.js';
import { systemError } from '../net/system-error.js';
import { callConnectionLost, joinLines, toBytes } from './transport-core.js';
import { checkFd } from '../core/validate.js';

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
  throw new RangeError(`Pipe transport is for pipes/sockets only (fd ${fd} is not a pipe, a socket or a character device)`);
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

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

export class ReadPipeTransport {
  readonly #loop: IoLoop;
  readonly #fd: number;
  #protocol: AnyProtocol;
  #closing = false;
  #paused = false;
  #fdClosed = false;
  readonly #info: PipeInfo;

  /** @internal Use loop.connectReadPipe. */
  constructor(loop: IoLoop, fd: number, protocol: AnyProtocol) {
    this.#loop = loop;
    this.#fd = fd;
    this.#protocol = protocol;
    this.#info = new PipeInfo(fd);
    pipeKind(fd);
    makeNonBlocking(fd);
    loop.callSoon(() => this.#connectionMade());
    // Reading starts after connectionMade has run, as asyncio schedules _add_reader behind it.
    loop.callSoon(() => {
      if (!this.#closing && !this.#paused) this.#loop.addReader(this.#fd, this.#onReadable);
    });
  }

  #connectionMade(): void {
    try {
      this.#protocol.connectionMade(this as never);
    } catch (exception) {
      this.#fatalError(exception, 'Fatal error: protocol.connectionMade() call failed.');
    }
  }

  readonly #onReadable = (): void => {
    if (this.#closing) return;
    const buffer = Buffer.allocUnsafe(READ_MAX_BYTES);
    let count: number;
    try {
      count = readSync(this.#fd, buffer, 0, READ_MAX_BYTES, null);
    } catch (error) {
      if (isEagain(error)) return;
      this.#fatalError(error, 'Fatal read error on pipe transport');
      return;
    }
    if (count > 0) {
      // A copy of its own for the protocol (it may keep it), sized to what arrived.
      const data = count < READ_MAX_BYTES / 2 ? Buffer.from(buffer.subarray(0, count)) : buffer.subarray(0, count);
      try {
        this.#protocol.dataReceived?.(data);
      } catch (exception) {
        this.#fatalError(exception, 'Fatal error: protocol.dataReceived() call failed.');
      }
      return;
    }
    // EOF: the write end is closed.
    this.#closing = true;
    this.#loop.removeReader(this.#fd);
    this.#loop.callSoon(() => {
      try {
        this.#protocol.eofReceived?.();
      } catch (exception) {
        this.#loop.callExceptionHandler({ message: 'Exception in callback protocol.eofReceived()', exception, transport: this, protocol: this.#protocol });
      }
    });
    this.#loop.callSoon(() => this.#callConnectionLost(null));
  };

  pauseReading(): void {
    if (this.#closing || this.#paused) return;
    this.#paused = true;
    this.#loop.removeReader(this.#fd);
  }

  resumeReading(): void {
    if (this.#closing || !this.#paused) return;
    this.#paused = false;
    this.#loop.addReader(this.#fd, this.#onReadable);
  }

  isReading(): boolean {
    return !this.#paused && !this.#closing;
  }

  /** Stops reading; connectionLost(null) follows and the fd is closed. */
  close(): void {
    if (!this.#closing) this.#close(null);
  }

  isClosing(): boolean {
    return this.#closing;
  }

  getExtraInfo(name: string, defaultValue: unknown = undefined): unknown {
    return name === 'pipe' ? this.#info : defaultValue;
  }

  getProtocol(): AnyProtocol {
    return this.#protocol;
  }

  setProtocol(protocol: AnyProtocol): void {
    this.#protocol = protocol;
  }

  toString(): string {
    return `<ReadPipeTransport fd=${this.#fd} ${this.#fdClosed ? 'closed' : this.#closing ? 'closing' : 'open'}>`;
  }

  #fatalError(exception: unknown, message: string): void {
    // EIO on a pty whose other side went away is the normal end, as asyncio treats it.
    if ((exception as NodeJS.ErrnoException)?.code !== 'EIO') {
      this.#loop.callExceptionHandler({ message, exception, transport: this, protocol: this.#protocol });
    }
    this.#close(asError(exception));
  }

  #close(exc: Error | null): void {
    this.#closing = true;
    if (this.#loop.isClosed()) {
      this.#closeFd();
      return;
    }
    this.#loop.removeReader(this.#fd);
    this.#loop.callSoon(() => this.#callConnectionLost(exc));
  }

  #callConnectionLost(exc: Error | null): void {
    try {
      callConnectionLost(this.#loop, this, this.#protocol, exc);
    } finally {
      this.#closeFd();
    }
  }

  #closeFd(): void {
    if (this.#fdClosed) return;
    this.#fdClosed = true;
    closeSync(this.#fd);
  }
}

export class WritePipeTransport {
  readonly #loop: IoLoop;
  readonly #fd: number;
  #protocol: AnyProtocol;
  readonly #kind: PipeKind;
  readonly #info: PipeInfo;
  /** Bytes the kernel did not take yet, oldest first. */
  #buffer: Uint8Array[] = [];
  #bufferSize = 0;
  #closing = false;
  /** Non-zero once the pipe is lost: counts writes made after that. */
  #connLost = 0;
  #fdClosed = false;
  #watchingClose = false;
  readonly #flow: WriteFlowControl;

  /** @internal Use loop.connectWritePipe. */
  constructor(loop: IoLoop, fd: number, protocol: AnyProtocol) {
    this.#loop = loop;
    this.#flow = new WriteFlowControl(loop, this, () => this.#protocol);
    this.#fd = fd;
    this.#protocol = protocol;
    this.#info = new PipeInfo(fd);
    this.#kind = pipeKind(fd);
    makeNonBlocking(fd);
    loop.callSoon(() => this.#connectionMade());
    // On a pipe, the write end polls readable (EPOLLERR) once the read end is closed: asyncio
    // watches for it to notice a reader that went away while nothing is being written. A
    // socket is not watched: its peer may send data, which is not a close.
    if (this.#kind === 'fifo') {
      loop.callSoon(() => {
        if (this.#closing || this.#fdClosed) return;
        this.#watchingClose = true;
        this.#loop.addReader(this.#fd, this.#onReadEndClosed);
      });
    }
  }

  #connectionMade(): void {
    try {
      this.#protocol.connectionMade(this as never);
    } catch (exception) {
      this.#fatalError(exception, 'Fatal error: protocol.connectionMade() call failed.');
    }
  }

  readonly #onReadEndClosed = (): void => {
    if (this.#bufferSize > 0) this.#close(Object.assign(new Error(`write EPIPE: the read end of pipe fd ${this.#fd} was closed`), { code: 'EPIPE' }));
    else this.#close(null);
  };

  write(data: Uint8Array | ArrayBufferView | string): void {
    const bytes = toBytes(data);
    if (bytes.length === 0) return;
    if (this.#connLost > 0 || this.#closing) {
      if (this.#connLost >= LOG_THRESHOLD_FOR_CONNLOST_WRITES) console.warn('pipe closed by peer or os.write(pipe, data) raised exception.');
      this.#connLost++;
      return;
    }
    let rest = bytes;
    if (this.#bufferSize === 0) {
      let written = 0;
      try {
        written = writeSync(this.#fd, bytes);
      } catch (error) {
        if (!isEagain(error)) {
          this.#connLost++;
          this.#fatalError(error, 'Fatal write error on pipe transport');
          return;
        }
      }
      if (written === bytes.length) return;
      rest = bytes.subarray(written);
      this.#loop.addWriter(this.#fd, this.#onWritable);
    }
    // A copy: the caller may reuse its buffer once write() returns.
    this.#buffer.push(Uint8Array.prototype.slice.call(rest));
    this.#bufferSize += rest.length;
    this.#flow.update(this.#bufferSize);
  }

  /** All the chunks with one write (they are joined first). */
  writelines(list: Iterable<Uint8Array | ArrayBufferView | string>): void {
    this.write(joinLines(list));
  }

  readonly #onWritable = (): void => {
    if (this.#bufferSize === 0 || this.#fdClosed) return;
    const data = this.#buffer.length === 1 ? this.#buffer[0]! : Buffer.concat(this.#buffer);
    this.#buffer = [data];
    let written = 0;
    try {
      written = writeSync(this.#fd, data);
    } catch (error) {
      if (isEagain(error)) return;
      this.#buffer = [];
      this.#bufferSize = 0;
      this.#connLost++;
      // asyncio removes the writer before the error is reported.
      this.#loop.removeWriter(this.#fd);
      this.#fatalError(error, 'Fatal write error on pipe transport');
      return;
    }
    if (written === data.length) {
      this.#buffer = [];
      this.#bufferSize = 0;
      this.#loop.removeWriter(this.#fd);
      this.#flow.update(0);
      // resumeWriting() may have written more and closed: only an empty buffer ends the pipe.
      if (this.#closing && this.#bufferSize === 0) {
        this.#stopWatchingClose();
        this.#callConnectionLost(null);
      }
      return;
    }
    if (written > 0) {
      this.#buffer = [data.subarray(written)];
      this.#bufferSize -= written;
      this.#flow.update(this.#bufferSize);
    }
  };

  canWriteEof(): boolean {
    return true;
  }

  /** For a pipe, EOF is the close of the write end: once the buffer drains, connectionLost(null). */
  writeEof(): void {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#bufferSize === 0) {
      this.#stopWatchingClose();
      if (this.#loop.isClosed()) this.#closeFd();
      else this.#loop.callSoon(() => this.#callConnectionLost(null));
    }
  }

  /** Closes once everything written has been sent. */
  close(): void {
    if (!this.#closing) this.writeEof();
  }

  /** Closes at once, dropping what is buffered. */
  abort(): void {
    this.#close(null);
  }

  isClosing(): boolean {
    return this.#closing;
  }

  getWriteBufferSize(): number {
    return this.#bufferSize;
  }

  setWriteBufferLimits(high?: number | null, low?: number | null): void {
    this.#flow.setLimits(high, low, this.#bufferSize);
  }

  getWriteBufferLimits(): [low: number, high: number] {
    return this.#flow.limits();
  }

  getExtraInfo(name: string, defaultValue: unknown = undefined): unknown {
    return name === 'pipe' ? this.#info : defaultValue;
  }

  getProtocol(): AnyProtocol {
    return this.#protocol;
  }

  setProtocol(protocol: AnyProtocol): void {
    this.#protocol = protocol;
  }

  toString(): string {
    return `<WritePipeTransport fd=${this.#fd} ${this.#fdClosed ? 'closed' : this.#closing ? 'closing' : 'open'} bufsize=${this.#bufferSize}>`;
  }

  #fatalError(exception: unknown, message: string): void {
    // A reader that went away (EPIPE) is how pipes end; asyncio reports it only in debug mode.
    if (!isPipeGone(exception)) {
      this.#loop.callExceptionHandler({ message, exception, transport: this, protocol: this.#protocol });
    }
    this.#close(asError(exception));
  }

  #stopWatchingClose(): void {
    if (!this.#watchingClose) return;
    this.#watchingClose = false;
    this.#loop.removeReader(this.#fd);
  }

  #close(exc: Error | null): void {
    if (this.#fdClosed) return;
    this.#closing = true;
    this.#buffer = [];
    this.#bufferSize = 0;
    if (this.#loop.isClosed()) {
      this.#closeFd();
      return;
    }
    this.#loop.removeWriter(this.#fd);
    this.#stopWatchingClose();
    this.#connLost++;
    this.#loop.callSoon(() => this.#callConnectionLost(exc));
  }

  #callConnectionLost(exc: Error | null): void {
    if (this.#fdClosed) return;
    try {
      callConnectionLost(this.#loop, this, this.#protocol, exc);
    } finally {
      this.#closeFd();
    }
  }

  #closeFd(): void {
    if (this.#fdClosed) return;
    this.#fdClosed = true;
    closeSync(this.#fd);
  }
}

/** loop.connectReadPipe: the transport reads `fd` from the next iteration on. */
export async function connectReadPipe<P extends AnyProtocol>(loop: IoLoop, protocolFactory: ProtocolFactory<P>, fd: number): Promise<[ReadPipeTransport, P]> {
  checkFd(fd);
  if (typeof protocolFactory !== 'function') throw new TypeError('protocolFactory must be a function');
  const protocol = protocolFactory();
  const transport = new ReadPipeTransport(loop, fd, protocol);
  // asyncio resolves after connectionMade has run.
  await new Promise<void>((resolve) => loop.callSoon(resolve));
  return [transport, protocol];
}

export async function connectWritePipe<P extends AnyProtocol>(loop: IoLoop, protocolFactory: ProtocolFactory<P>, fd: number): Promise<[WritePipeTransport, P]> {
  checkFd(fd);
  if (typeof protocolFactory !== 'function') throw new TypeError('protocolFactory must be a function');
  const protocol = protocolFactory();
  const transport = new WritePipeTransport(loop, fd, protocol);
  await new Promise<void>((resolve) => loop.callSoon(resolve));
  return [transport, protocol];
}
