// Cross-thread scheduling. A loop's mailbox is a SharedArrayBuffer holding a native
// multi-producer ring (native/reactor/mailbox.zig); a LoopRef is a handle to it that can be sent
// to any thread. ref.callSoonThreadsafe(name, ...args) structured-clones [name, args] into the
// ring (call-codec.ts), and the producer that turns the ring non-empty writes the target's
// eventfd.
import { CallEncoder, decodeCall } from './call-codec.js';
import { native } from './native.js';

/** Ring size per loop; a producer that finds it full keeps its calls and retries (FIFO kept). */
export const MAILBOX_BYTES = 1024 * 1024;
const HEADER_HEAD_WORD = 3;
const HEADER_TAIL_WORD = 4;

const PUSHED = 0;
const FULL = -1;
const CLOSED = -2;
const TOO_LARGE = -3;
const EMPTY_PAYLOAD = new Uint8Array(0);
/** One encoder per thread: encode() output is copied into the ring (or the backlog) at once. */
const encoder = new CallEncoder();

/** A reference to a loop that any thread can use to run its registered functions. */
export class LoopRef {
  /** The mailbox memory; what postMessage/workerData carry. */
  readonly buffer: SharedArrayBuffer;
  readonly #view: Uint8Array;
  /** Calls that found the ring full, in order, from #backlogHead on; flushed before newer calls. */
  #backlog: Uint8Array[] = [];
  #backlogHead = 0;
  #flushScheduled = false;

  constructor(buffer: SharedArrayBuffer) {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < 1024) {
      throw new TypeError('buffer must be the SharedArrayBuffer of a LoopRef');
    }
    this.buffer = buffer;
    this.#view = new Uint8Array(buffer);
  }

  /** Rebuilds a LoopRef after postMessage/workerData (structured clone keeps only `buffer`). */
  static from(value: LoopRef | { buffer: SharedArrayBuffer } | SharedArrayBuffer): LoopRef {
    if (value instanceof LoopRef) return value;
    if (value instanceof SharedArrayBuffer) return new LoopRef(value);
    if (value !== null && typeof value === 'object' && value.buffer instanceof SharedArrayBuffer) return new LoopRef(value.buffer);
    throw new TypeError('value must be a LoopRef or what postMessage made of one');
  }

  /**
   * Runs the function the target registered as `name` with `args` (structured-cloned) on the
   * target's thread, in its loop order; calls from one thread arrive in the order made.
   * Throws if the target loop is closed.
   */
  callSoonThreadsafe(name: string, ...args: unknown[]): void {
    if (typeof name !== 'string') throw new TypeError('name must be a string');
    const length = encoder.encode(name, args);
    if (this.#backlogHead < this.#backlog.length) {
      this.#checkOpen();
      this.#backlog.push(Buffer.from(encoder.scratch.subarray(0, length))); // a copy: the scratch is reused
      return;
    }
    this.#push(length);
  }

  /** True while the target loop accepts calls. */
  isOpen(): boolean {
    return Atomics.load(new Int32Array(this.buffer, 0, 2), 1) === 1;
  }

  #checkOpen(): void {
    if (!this.isOpen()) throw new Error('Event loop is closed: the LoopRef target no longer accepts calls');
  }

  /** Pushes the encoder's scratch[0, length). */
  #push(length: number): void {
    const code = native.mailboxPush(this.#view, encoder.scratch, length);
    if (code >= PUSHED) return;
    if (code === CLOSED) throw new Error('Event loop is closed: the LoopRef target no longer accepts calls');
    if (code === TOO_LARGE) throw new RangeError(`the arguments serialize to ${length} bytes, more than a mailbox holds`);
    if (code === FULL) {
      this.#backlog.push(Buffer.from(encoder.scratch.subarray(0, length))); // a copy: the scratch is reused
      this.#scheduleFlush();
    }
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      const backlog = this.#backlog;
      while (this.#backlogHead < backlog.length) {
        const payload = backlog[this.#backlogHead]!;
        const code = native.mailboxPush(this.#view, payload, payload.length);
        if (code === FULL) break;
        backlog[this.#backlogHead++] = EMPTY_PAYLOAD;
        // A target that closed meanwhile drops what is left: there is nobody to run it.
        if (code === CLOSED) this.#backlogHead = backlog.length;
      }
      if (this.#backlogHead === backlog.length) {
        this.#backlog = [];
        this.#backlogHead = 0;
      } else {
        this.#scheduleFlush();
      }
    });
  }
}

/** The owner side of a mailbox: drains it and looks up registered functions. */
export class Mailbox {
  readonly buffer = new SharedArrayBuffer(MAILBOX_BYTES);
  readonly #view = new Uint8Array(this.buffer);
  readonly #words = new Int32Array(this.buffer, 0, 16);
  readonly #out = Buffer.allocUnsafeSlow(MAILBOX_BYTES);
  readonly #functions = new Map<string, (...args: any[]) => unknown>();

  hasMessages(): boolean {
    return Atomics.load(this.#words, HEADER_HEAD_WORD) !== Atomics.load(this.#words, HEADER_TAIL_WORD);
  }

  register(name: string, fn: (...args: any[]) => unknown): void {
    this.#functions.set(name, fn);
  }

  unregister(name: string): boolean {
    return this.#functions.delete(name);
  }

  /** Calls `deliver(fn, args, name)` for every queued message, in order; unknown names get fn undefined. */
  drain(deliver: (fn: ((...args: any[]) => unknown) | undefined, args: unknown[], name: string) => void): void {
    for (;;) {
      const length = native.mailboxDrain(this.#view, this.#out);
      if (length === 0) return;
      let offset = 0;
      while (offset < length) {
        const size = this.#out.readUInt32LE(offset);
        const [name, args] = decodeCall(this.#out, offset + 4, offset + 4 + size);
        deliver(this.#functions.get(name), args, name);
        offset += 4 + size;
      }
    }
  }

  get view(): Uint8Array {
    return this.#view;
  }
}
