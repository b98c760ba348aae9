// Cross-thread scheduling. A loop's mailbox is a SharedArrayBuffer holding a native
// multi-producer ring (native/reactor/mailbox.zig); a LoopRef is a handle to it that can be sent
// to any thread. ref.callSoonThreadsafe(name, ...args) structured-clones [name, args] into the
// ring (call-codec.ts), and the producer that turns the ring non-empty writes the target's
// eventfd.
import { CallWriter, decodeCall } from './call-codec.js';
import { native } from '../io/native.js';
import { type Callback, type Invocable, argTypeError } from '../core/validate.js';

/** Ring size per loop; a producer that finds it full keeps its calls and retries (FIFO kept). */
export const MAILBOX_BYTES = 4 * 1024 * 1024;
/**
 * The largest cross-thread call (its encoded name and arguments). Any call up to it arrives: an
 * empty ring always takes it (mailbox.zig payloadMax, with room to spare). A larger one is a
 * RangeError at the call site, and the calls around it are unaffected.
 */
export const MAX_CALL_BYTES = MAILBOX_BYTES - 1024;
/** A producer pushes its batch at once when this much is waiting, else when its job ends. */
const BATCH_FLUSH_BYTES = 64 * 1024;
const STATE_WORD = 1;
const STATE_OPEN = 1;
const HEADER_HEAD_WORD = 3;
const HEADER_TAIL_WORD = 4;

const CLOSED = -2;
const TOO_LARGE = -3;

/** A reference to a loop that any thread can use to run its registered functions. */
export class LoopRef {
  /** The mailbox memory; what postMessage/workerData carry. */
  readonly buffer: SharedArrayBuffer;
  readonly #view: Uint8Array;
  readonly #words: Int32Array;
  /**
   * Calls made on this thread and not yet in the ring. They are pushed with one native call
   * per batch: when the current job ends (a microtask), or at once past BATCH_FLUSH_BYTES.
   */
  readonly #batch = new CallWriter();
  #flushQueued = false;
  #retryQueued = false;

  constructor(buffer: SharedArrayBuffer) {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < 1024) {
      throw argTypeError('buffer must be the SharedArrayBuffer of a LoopRef');
    }
    this.buffer = buffer;
    this.#view = new Uint8Array(buffer);
    this.#words = new Int32Array(buffer, 0, 16);
  }

  /** Rebuilds a LoopRef after postMessage/workerData (structured clone keeps only `buffer`). */
  static from(value: LoopRef | { buffer: SharedArrayBuffer } | SharedArrayBuffer): LoopRef {
    if (value instanceof LoopRef) return value;
    if (value instanceof SharedArrayBuffer) return new LoopRef(value);
    if (value !== null && typeof value === 'object' && value.buffer instanceof SharedArrayBuffer) return new LoopRef(value.buffer);
    throw argTypeError('value must be a LoopRef or what postMessage made of one');
  }

  /**
   * Runs the function the target registered as `name` with `args` (structured-cloned) on the
   * target's thread, in its loop order; calls from one thread arrive in the order made.
   * Throws if the target loop is closed.
   */
  callSoonThreadsafe(name: string, ...args: unknown[]): void {
    if (typeof name !== 'string') throw argTypeError('name must be a string');
    if (!this.isOpen()) throw new Error('Event loop is closed: the LoopRef target no longer accepts calls');
    this.#batch.append(name, args, MAX_CALL_BYTES);
    if (this.#batch.pending >= BATCH_FLUSH_BYTES && !this.#retryQueued) this.#flush();
    else if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => {
        this.#flushQueued = false;
        if (!this.#retryQueued) this.#flush();
      });
    }
  }

  /**
   * Pushes the calls made so far now instead of when this job ends. For a call that must be in
   * the target's ring before this thread runs anything else (a shard confirming it took over a
   * connection before user code runs).
   */
  flush(): void {
    if (!this.#retryQueued) this.#flush();
  }

  /** True while the target loop accepts calls. */
  isOpen(): boolean {
    return Atomics.load(this.#words, STATE_WORD) === STATE_OPEN;
  }

  /** Pushes what the ring takes; retries the rest from a later turn while the ring is full. */
  #flush(): void {
    const batch = this.#batch;
    if (batch.pending === 0) return;
    const result = native.mailboxPushMany(this.#view, batch.buffer.subarray(batch.start), batch.pending);
    if (result === CLOSED) {
      batch.consumed(batch.pending); // nobody is left to run them
      return;
    }
    // append() refused every call above MAX_CALL_BYTES, and the ring takes any call up to it.
    if (result === TOO_LARGE) throw new Error('assertion failed: the mailbox refused a call within MAX_CALL_BYTES');
    batch.consumed(result);
    if (batch.pending > 0 && !this.#retryQueued) {
      this.#retryQueued = true;
      setImmediate(() => {
        this.#retryQueued = false;
        this.#flush();
      });
    }
  }
}

/** The owner side of a mailbox: drains it and looks up registered functions. */
export class Mailbox {
  readonly buffer = new SharedArrayBuffer(MAILBOX_BYTES);
  readonly #view = new Uint8Array(this.buffer);
  readonly #words = new Int32Array(this.buffer, 0, 16);
  readonly #out = Buffer.allocUnsafeSlow(MAILBOX_BYTES);
  readonly #functions = new Map<string, Invocable>();

  hasMessages(): boolean {
    return Atomics.load(this.#words, HEADER_HEAD_WORD) !== Atomics.load(this.#words, HEADER_TAIL_WORD);
  }

  register(name: string, fn: Callback): void {
    this.#functions.set(name, fn as Invocable); // called with what the other thread sent
  }

  unregister(name: string): boolean {
    return this.#functions.delete(name);
  }

  /** Takes every queued call out of the ring, as one Buffer of (u32 length, call)*; null if none. */
  take(): Buffer | null {
    const length = native.mailboxDrain(this.#view, this.#out);
    if (length === 0) return null;
    // A copy: the batch runs later in this iteration, and #out is reused by the next take().
    const batch = Buffer.allocUnsafeSlow(length);
    this.#out.copy(batch, 0, 0, length);
    return batch;
  }

  /**
   * Runs the calls of a batch from take(), in order, each looked up by name when it runs.
   * One ready-queue entry per batch instead of one per call keeps the consumer's cost per call
   * to decoding it and calling it; an exception in one call does not stop the others.
   */
  runCalls(batch: Buffer, onError: (context: { message: string; exception?: unknown; args: unknown[] }) => void): void {
    let offset = 0;
    while (offset < batch.length) {
      const size = batch.readUInt32LE(offset);
      const [name, args] = decodeCall(batch, offset + 4, offset + 4 + size);
      offset += 4 + size;
      const fn = this.#functions.get(name);
      if (fn === undefined) {
        onError({ message: `No threadsafe function registered as '${name}'`, args });
        continue;
      }
      try {
        if (args.length === 0) fn();
        else fn(...args);
      } catch (exception) {
        onError({ message: `Exception in callback ${name}()`, exception, args });
      }
    }
  }

  get view(): Uint8Array {
    return this.#view;
  }
}
