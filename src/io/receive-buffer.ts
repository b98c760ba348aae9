// Where the reactor puts the bytes it reads: one 1 MiB buffer, filled by each batch from the
// header's receiveStart on. Large reads reach dataReceived as views of it (no copy); the region
// they cover is then never written again: the next batch starts after it, and a buffer with too
// little room left is replaced by a new one rather than reused. Small reads are copied.
import { Header, native, RECEIVE_BUFFER_BYTES, RECEIVE_BUFFER_REPLACE_BELOW, RECEIVE_VIEW_MIN_BYTES, type ReactorHandle } from './native.js';

export class ReceiveBuffer {
  #buffer = Buffer.allocUnsafeSlow(RECEIVE_BUFFER_BYTES);
  /** The end of the last view handed out. */
  #handedOut = 0;
  readonly #shared: Int32Array;

  constructor(shared: Int32Array) {
    this.#shared = shared;
    shared[Header.receiveStart] = 0;
  }

  /** The buffer the reactor writes now. */
  get buffer(): Buffer {
    return this.#buffer;
  }

  /** The bytes of one DATA record as a Buffer the caller owns: a view for large reads, else a copy. */
  bytes(offset: number, length: number): Buffer {
    const source = this.#buffer;
    if (length >= RECEIVE_VIEW_MIN_BYTES) {
      const end = offset + length;
      if (end > this.#handedOut) this.#handedOut = end;
      return source.subarray(offset, end);
    }
    const data = Buffer.allocUnsafe(length);
    source.copy(data, 0, offset, offset + length);
    return data;
  }

  /** After a batch's records: the next batch writes after the views handed out, or in a new buffer. */
  afterBatch(reactor: ReactorHandle): void {
    const shared = this.#shared;
    if (this.#handedOut <= shared[Header.receiveStart]!) return;
    const start = (this.#handedOut + 63) & ~63;
    if (this.#buffer.length - start >= RECEIVE_BUFFER_REPLACE_BELOW) {
      shared[Header.receiveStart] = start;
      return;
    }
    this.#buffer = Buffer.allocUnsafeSlow(RECEIVE_BUFFER_BYTES);
    native.setReceiveBuffer(reactor, this.#buffer);
    shared[Header.receiveStart] = 0;
    this.#handedOut = 0;
  }
}
