// What the transports of the reactor's own sockets (stream and datagram) share: the fd and its
// family, the registration with the loop's socket registry, the socket's extra info, the write
// buffer as the reactor reports it, and the one release that closes the socket and schedules
// connectionLost.
import type { IoLoop, SocketOwner } from '../io/io-loop.js';
import { native } from '../io/native.js';
import { isConnectionLostError, systemError } from '../net/system-error.js';
import type { ExtraInfo } from '../net/protocols.js';
import type { FlowProtocol } from './flow-control.js';
import { asError, callConnectionLost, type LifecycleProtocol, WritableTransportCore } from './transport-core.js';

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

/** "127.0.0.1:80" -> ['127.0.0.1', 80]; "[::1]:80" -> ['::1', 80]; Unix paths as they are. */
export function parseAddress(text: string | null, family: SocketFamily): [string, number] | string | null {
  if (text === null) return null;
  if (family === 'unix') return text;
  const colon = text.lastIndexOf(':');
  let host = text.slice(0, colon);
  if (host.startsWith('[')) host = host.slice(1, -1);
  return [host, Number(text.slice(colon + 1))];
}

export abstract class ReactorSocketTransport<P extends LifecycleProtocol & FlowProtocol>
  extends WritableTransportCore<P, IoLoop>
  implements SocketOwner
{
  /** @internal */
  protected readonly _fd: number;
  /** @internal */
  protected readonly _family: SocketFamily;
  /** @internal connectionLost is scheduled or done; the socket is released (its fd may be reused). */
  protected _lost = false;
  #socket: TransportSocket | undefined;

  /** The reactor already reads `fd`; from now on its records come to this transport. */
  constructor(loop: IoLoop, fd: number, family: SocketFamily, protocol: P) {
    super(loop, protocol);
    this._fd = fd;
    this._family = family;
    loop._registerSocket(fd, this);
  }

  /** @internal One record of the reactor's batch for this socket. */
  abstract _onSocketRecord(kind: number, a: number, b: number): void;

  /** 'socket', and while the socket is open 'sockname' and 'peername'. */
  getExtraInfo<K extends keyof ExtraInfo>(name: K, defaultValue?: ExtraInfo[K]): ExtraInfo[K] | undefined;
  getExtraInfo(name: string, defaultValue?: unknown): unknown;
  getExtraInfo(name: string, defaultValue: unknown = undefined): unknown {
    switch (name) {
      case 'socket':
        this.#socket ??= new TransportSocket(this._fd, this._family);
        return this.#socket;
      case 'sockname':
      case 'peername':
        if (this._lost) return defaultValue;
        return parseAddress(native.socketAddress(this._fd, name === 'peername'), this._family) ?? defaultValue;
      default:
        return defaultValue;
    }
  }

  toString(): string {
    const state = this._lost ? 'closed' : this._closing ? 'closing' : 'open';
    return `<${this.constructor.name} fd=${this._fd} ${state}>`;
  }

  /**
   * The reactor sent queued bytes. The count in the record is what was queued when the batch was
   * collected; callbacks earlier in this batch (this socket's protocol, another transport's) may
   * have written since, so the reactor is asked again. resumeWriting() may write more, and call
   * close(): the caller decides on release with the buffer as it is after the protocol ran.
   * @internal
   */
  protected _refreshWriteBuffer(): void {
    this._bufferSize = native.queuedBytes(this._loop._reactor, this._fd);
    this._flow.update(this._bufferSize);
  }

  /**
   * Starts or stops the reactor reading this socket. A watch that cannot be changed (epoll_ctl
   * out of memory) is fatal: the socket would be read, or not, against what the protocol asked.
   * @internal
   */
  protected _setReading(reading: boolean): void {
    const result = native.setReading(this._loop._reactor, this._fd, reading);
    if (result < 0) this._fatalError(systemError(result, 'epoll_ctl'), 'Fatal error on socket transport');
  }

  /** @internal asyncio's _fatal_error: log unless the peer just went away, then close at once. */
  protected _fatalError(exception: unknown, message: string): void {
    if (!isConnectionLostError(exception)) this._report(exception, message);
    this._closing = true;
    this._release(asError(exception));
  }

  /**
   * Closes the socket now and schedules connectionLost(exc); runs once. `graceful`: everything
   * was sent, so the reactor closes without a reset (see its closeGracefully).
   * @internal
   */
  protected _release(exc: Error | null, graceful = false): void {
    if (this._lost) return;
    this._lost = true;
    this._bufferSize = 0;
    this._loop._releaseSocket(this._fd, graceful);
    if (this._loop.isClosed()) return;
    this._loop.callSoon(() => callConnectionLost(this._loop, this, this._protocol, exc));
  }
}
