// What every transport kind (socket, datagram, pipe, TLS, subprocess) shares: the bytes a
// write() takes, writelines() as one joined write, and calling connectionLost with asyncio's
// handling of a protocol that throws there.
import type { Loop } from '../core/loop-types.js';

/** Bytes to send: strings as UTF-8; any TypedArray or DataView as its bytes. */
export function toBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  const type = data === null ? 'null' : typeof data === 'object' ? (data as object).constructor?.name : typeof data;
  throw new TypeError(`data argument must be a bytes-like object, not '${type}'`);
}

/** writelines(list): the chunks as one buffer, so they go out with one write. */
export function joinLines(list: Iterable<Uint8Array | ArrayBufferView | string>): Uint8Array {
  if (list === null || typeof (list as Iterable<unknown>)?.[Symbol.iterator] !== 'function') {
    throw new TypeError('list must be an iterable of bytes-like objects');
  }
  const chunks = Array.from(list, toBytes);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/** protocol.connectionLost(exc); what it throws goes to the loop's exception handler. */
export function callConnectionLost(loop: Loop, transport: object, protocol: { connectionLost(exc: Error | null): void }, exc: Error | null): void {
  try {
    protocol.connectionLost(exc);
  } catch (exception) {
    loop.callExceptionHandler({ message: 'Exception in callback protocol.connectionLost()', exception, transport, protocol });
  }
}
