// What every transport kind (socket, datagram, pipe, TLS, subprocess) shares: the bytes a
// write() takes, writelines() as one joined write, calling connectionLost with asyncio's
// handling of a protocol that throws there, and the base classes that keep the loop, the
// protocol, the closing flag and the write buffer's water marks.
import type { Loop } from '../core/loop-types.js';
import { type FlowProtocol, WriteFlowControl } from './flow-control.js';
import { argTypeError } from '../core/validate.js';

/** Bytes to send: strings as UTF-8; any TypedArray or DataView as its bytes. */
export function toBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  const type = data === null ? 'null' : typeof data === 'object' ? (data as object).constructor?.name : typeof data;
  throw argTypeError(`data argument must be a bytes-like object, not '${type}'`);
}

/** writelines(list): the chunks as one buffer, so they go out with one write. */
export function joinLines(list: Iterable<Uint8Array | ArrayBufferView | string>): Uint8Array {
  if (list === null || typeof (list as Iterable<unknown>)?.[Symbol.iterator] !== 'function') {
    throw argTypeError('list must be an iterable of bytes-like objects');
  }
  const chunks = Array.from(list, toBytes);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/** The half of a BufferedProtocol that receives: it hands out buffers and is told what was written. */
type BufferedReceiver = { getBuffer?(sizeHint: number): Uint8Array; bufferUpdated?(nbytes: number): void };

/**
 * Gives source[start, end) to a BufferedProtocol: getBuffer(), a copy into it, bufferUpdated(),
 * until every byte is given or `stopped()` (the protocol closed the transport meanwhile). What the
 * protocol throws propagates; an empty buffer is a RangeError.
 */
export function feedBufferedProtocol(protocol: BufferedReceiver, source: Buffer, start: number, end: number, stopped: () => boolean): void {
  let position = start;
  while (position < end && !stopped()) {
    const target = protocol.getBuffer!(end - position);
    if (!(target instanceof Uint8Array) || target.length === 0) throw new RangeError('getBuffer() returned an empty buffer');
    const count = Math.min(target.length, end - position);
    source.copy(target, 0, position, position + count);
    position += count;
    protocol.bufferUpdated!(count);
  }
}

/** protocol.connectionLost(exc); what it throws goes to the loop's exception handler. */
export function callConnectionLost(loop: Loop, transport: object, protocol: { connectionLost(exc: Error | null): void }, exc: Error | null): void {
  try {
    protocol.connectionLost(exc);
  } catch (exception) {
    loop.callExceptionHandler({ message: 'Exception in callback protocol.connectionLost()', exception, transport, protocol });
  }
}

/** The protocol calls every transport makes. */
export interface LifecycleProtocol {
  connectionMade(transport: never): void;
  connectionLost(exc: Error | null): void;
}

/** An exception as the Error connectionLost receives. */
export function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/**
 * What every transport keeps: its loop, its protocol (setProtocol swaps it), whether it is
 * closing, and asyncio's handling of a protocol callback that throws (a fatal error that the
 * loop's exception handler hears of, with this transport and its protocol).
 */
export abstract class TransportCore<P extends LifecycleProtocol, L extends Loop = Loop> {
  /** @internal */
  protected readonly _loop: L;
  /** @internal */
  protected _protocol: P;
  /** @internal close() or an error started the end; nothing new is read or accepted for writing. */
  protected _closing = false;

  constructor(loop: L, protocol: P) {
    this._loop = loop;
    this._protocol = protocol;
  }

  /** @internal Calls connectionMade; a failure there closes the transport, as asyncio does. */
  _start(): void {
    try {
      this._protocol.connectionMade(this as never);
    } catch (exception) {
      this._fatalError(exception, 'Fatal error: protocol.connectionMade() call failed.');
    }
  }

  isClosing(): boolean {
    return this._closing;
  }

  getProtocol(): P {
    return this._protocol;
  }

  setProtocol(protocol: P): void {
    this._protocol = protocol;
  }

  /** @internal asyncio's _fatal_error: report `exception` (unless it is how this kind ends), close at once. */
  protected abstract _fatalError(exception: unknown, message: string): void;

  /** @internal The loop's exception handler hears of `exception`, with this transport and its protocol. */
  protected _report(exception: unknown, message: string): void {
    this._loop.callExceptionHandler({ message, exception, transport: this, protocol: this._protocol });
  }
}

/**
 * A transport that buffers writes the kernel (or TLS) has not taken yet, with asyncio's water
 * marks: pauseWriting()/resumeWriting() on its protocol as the buffer crosses them.
 */
export abstract class WritableTransportCore<P extends LifecycleProtocol & FlowProtocol, L extends Loop = Loop> extends TransportCore<P, L> {
  /** @internal Bytes accepted by write() and not yet sent. */
  protected _bufferSize = 0;
  /** @internal */
  protected readonly _flow: WriteFlowControl;

  constructor(loop: L, protocol: P) {
    super(loop, protocol);
    this._flow = new WriteFlowControl(loop, this, () => this._protocol);
  }

  getWriteBufferSize(): number {
    return this._bufferSize;
  }

  setWriteBufferLimits(high?: number | null, low?: number | null): void {
    this._flow.setLimits(high, low, this.getWriteBufferSize());
  }

  getWriteBufferLimits(): [low: number, high: number] {
    return this._flow.limits();
  }
}
