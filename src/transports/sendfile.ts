// loop.sendfile (asyncio base_events.sendfile): sendfile(2) from a file to a stream transport's
// socket, done by the reactor. The transport's write buffer drains first (asyncio waits for it
// too); then the reactor sends from the file as the socket turns writable, and reports one
// SENDFILE_DONE record (or a FAILED one, phase sendfile). Bytes written to the transport while it
// runs are queued natively behind the file, so they reach the peer after it, in order.
//
// Meanwhile the transport's records pass through a SendfileOwner, which forwards everything but
// the sendfile's own records to the transport. Transports that are not plain sockets (none today
// but TLS ones) take the fallback: read the file and write() it, as asyncio's _sendfile_fallback.
import { fstatSync, read } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { IoLoop, SocketOwner } from '../io/io-loop.js';
import { FailedPhase, native, RecordKind } from '../io/native.js';
import { systemError } from '../net/system-error.js';
import { SocketTransport, type Transport, TransportSocket } from './socket.js';
import { argRangeError, argTypeError } from '../core/validate.js';

const readAsync = promisify(read);
const FALLBACK_CHUNK_BYTES = 256 * 1024;

/** Transports with a sendfile under way: asyncio allows one at a time per transport. */
const busy = new WeakSet<object>();

export async function sendfile(
  loop: IoLoop,
  transport: Transport,
  file: FileHandle | number,
  offset: number = 0,
  count: number | null = null,
  fallback = true,
): Promise<number> {
  if (transport === null || typeof transport !== 'object' || typeof transport.isClosing !== 'function') {
    throw argTypeError('transport must be a transport');
  }
  const fileFd = fileDescriptor(file);
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw argRangeError(`offset must be a non-negative integer (got ${String(offset)})`);
  }
  if (count !== null && count !== undefined && (typeof count !== 'number' || !Number.isSafeInteger(count) || count <= 0)) {
    throw argRangeError(`count must be a positive integer (got ${String(count)})`);
  }
  if (transport.isClosing()) throw new Error('Transport is closing');
  if (busy.has(transport)) throw new Error('sendfile is already in progress on this transport');

  const stats = fstatSync(fileFd);
  if (!stats.isFile()) throw argTypeError('file must be a regular file');
  const available = Math.max(0, stats.size - offset);
  const wanted = count === null || count === undefined ? available : Math.min(count, available);
  if (wanted === 0) return 0;

  busy.add(transport);
  try {
    if (transport instanceof SocketTransport) {
      return await sendNative(loop, transport, fileFd, offset, wanted);
    }
    if (!fallback) throw new Error(`sendfile is not supported for transport ${String(transport)}`);
    return await sendByWriting(loop, transport, fileFd, offset, wanted);
  } finally {
    busy.delete(transport);
  }
}

function fileDescriptor(file: unknown): number {
  const fd = typeof file === 'number' ? file : (file as { fd?: unknown } | null)?.fd;
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) {
    throw argTypeError('file must be a FileHandle (node:fs/promises) or a file descriptor');
  }
  return fd;
}

/** Routes the transport's records while the reactor sends the file. */
class SendfileOwner implements SocketOwner {
  readonly #loop: IoLoop;
  readonly #transport: SocketTransport;
  readonly #fd: number;
  readonly #fileFd: number;
  readonly #offset: number;
  readonly #count: number;
  #started = false;
  #settled = false;
  readonly #resolve: (sent: number) => void;
  readonly #reject: (error: Error) => void;

  constructor(loop: IoLoop, transport: SocketTransport, fd: number, fileFd: number, offset: number, count: number, resolve: (sent: number) => void, reject: (error: Error) => void) {
    this.#loop = loop;
    this.#transport = transport;
    this.#fd = fd;
    this.#fileFd = fileFd;
    this.#offset = offset;
    this.#count = count;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  /** Starts the native sendfile, now if the write buffer is empty, else once it has drained. */
  begin(): void {
    this.#loop._registerSocket(this.#fd, this);
    if (this.#transport.getWriteBufferSize() === 0) this.#start();
  }

  _onSocketRecord(kind: number, a: number, b: number): void {
    if (kind === RecordKind.sendfileDone) {
      this.#finish();
      if (!this.#settled) {
        this.#settled = true;
        this.#resolve(a * 2 ** 31 + b);
      }
      return;
    }
    if (kind === RecordKind.failed && b === FailedPhase.sendfile) {
      const error = systemError(a, 'sendfile');
      this.#finish();
      this.#fail(error);
      // The socket cannot be written any more: the transport fails as a failed write does.
      this.#transport._onSocketRecord(RecordKind.failed, a, FailedPhase.write);
      return;
    }
    this.#transport._onSocketRecord(kind, a, b);
    if (!this.#started && !this.#settled && kind === RecordKind.written && a === 0) this.#start();
  }

  /** @internal The transport closed the socket while the file was being sent. */
  _onSocketReleased(): void {
    this.#fail(new Error('Connection lost while sendfile was in progress'));
  }

  #start(): void {
    // A transport closed while its buffer drained released the socket: we were failed already.
    if (this.#settled) return;
    this.#started = true;
    const result = native.sendfile(this.#loop._reactor, this.#fd, this.#fileFd, this.#offset, this.#count);
    if (result < 0) {
      this.#finish();
      this.#fail(systemError(result, 'sendfile'));
    }
  }

  /** Gives the socket's records back to the transport (unless it was released meanwhile). */
  #finish(): void {
    if (!this.#settled) this.#loop._registerSocket(this.#fd, this.#transport);
  }

  #fail(error: Error): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#reject(error);
  }
}

function sendNative(loop: IoLoop, transport: SocketTransport, fileFd: number, offset: number, count: number): Promise<number> {
  const socket = transport.getExtraInfo('socket') as TransportSocket;
  return new Promise<number>((resolve, reject) => {
    new SendfileOwner(loop, transport, socket.fd, fileFd, offset, count, resolve, reject).begin();
  });
}

/** asyncio's _sendfile_fallback: read chunks and write them, keeping the buffer under its high-water mark. */
async function sendByWriting(loop: IoLoop, transport: Transport, fileFd: number, offset: number, count: number): Promise<number> {
  let sent = 0;
  const [, high] = transport.getWriteBufferLimits();
  while (sent < count) {
    const chunk = Buffer.allocUnsafe(Math.min(FALLBACK_CHUNK_BYTES, count - sent));
    const { bytesRead } = await readAsync(fileFd, chunk, 0, chunk.length, offset + sent);
    if (bytesRead === 0) break;
    if (transport.isClosing()) throw new Error('Connection closed by peer');
    transport.write(chunk.subarray(0, bytesRead));
    sent += bytesRead;
    while (transport.getWriteBufferSize() > high && !transport.isClosing()) {
      await new Promise<void>((resolve) => loop.callLater(0.001, resolve));
    }
  }
  return sent;
}
