// What the transports, servers and connections need of a loop beyond scheduling: its reactor,
// the receive buffer the reactor reads into, the socket registry and the fd watchers. EventLoop
// implements it; the feature modules take it as a parameter, so they never import EventLoop.
import type { Loop } from '../core/loop-types.js';
import { _getRunningLoop } from '../core/running.js';
import type { ReactorHandle } from './native.js';
import { argValueError } from '../core/validate.js';

/** Whatever owns a reactor socket (a transport, a listener, a pending connect); internal to zloop. */
export interface SocketOwner {
  /** @internal One record for this socket: kind from RecordKind, a and b as the reactor documents them. */
  _onSocketRecord(kind: number, a: number, b: number): void;
  /** @internal Told when the socket is released (closed) by whoever holds it, if the owner wants to know. */
  _onSocketReleased?(): void;
  /** Names the owner in errors (addReader on a transport's socket). */
  toString(): string;
}

export interface IoLoop extends Loop {
  /** @internal The native reactor; throws 'Event loop is closed' once closed. */
  readonly _reactor: ReactorHandle;
  /** @internal Where the reactor puts the bytes of DATA records. */
  readonly _receiveBuffer: Buffer;
  /** @internal The bytes of one DATA record as a Buffer the caller owns (a view or a copy). */
  _receivedBytes(offset: number, length: number): Buffer;
  /** @internal Routes the reactor's records for `fd` to `owner`. */
  _registerSocket(fd: number, owner: SocketOwner): void;
  /** @internal Stops routing records for `fd` and closes it (gracefully: no reset). */
  _releaseSocket(fd: number, graceful?: boolean): void;
  addReader<A extends unknown[]>(fd: number, callback: (...args: A) => unknown, ...args: A): void;
  removeReader(fd: number): boolean;
  addWriter<A extends unknown[]>(fd: number, callback: (...args: A) => unknown, ...args: A): void;
  removeWriter(fd: number): boolean;
}

/** The running loop as an IoLoop (every loop zloop runs is one); asyncio's message if none runs. */
export function getRunningIoLoop(): IoLoop {
  const loop = _getRunningLoop();
  if (loop === null) throw new Error('no running event loop');
  if (!('_reactor' in loop)) throw argValueError('the running loop has no reactor');
  return loop as IoLoop;
}
