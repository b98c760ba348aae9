// The ready queue: what runs in the loop's next iteration, in FIFO order.
//
// The ready queue stores what callSoon schedules (the callback and its arguments) in fixed chunks
// of CHUNK_SLOTS slots, not the Handle that callSoon returns: the handle only points at its slot.
// So a handle the caller drops dies young, and a burst of a million callSoon calls leaves nothing
// per call for the scavenger to copy but two pointers in a chunk. Chunks are linked, never grown
// and copied, and the ones that were used up are kept for reuse by any loop of the thread (up to
// POOLED_CHUNKS_MAX): a chunk is too big for V8's young generation, so each new one is memory
// fresh from the OS and costs a page fault per 4 KiB touched (measured on a fresh loop, a burst
// of 1e6 callSoon: 4,200 faults without the pool, 2,000 with 64 chunks kept).
// Measured on the bench (1e6 callSoon then run): the old design (one Handle plus a rest-arguments
// array per call, in one doubling ring) spent ~70% of its time in GC.
import { callbackFailed, DORMANT_OWNER, type Handle, type HandleOwner, NO_ARGS, ReadyHandle } from './handles.js';
import type { Callback, Invocable } from './validate.js';

/** Slots per chunk; each slot is two entries: the callback (or a Handle) and its arguments. */
const CHUNK_SLOTS = 8192;
/**
 * Spare chunks kept per thread, for any loop: at most 128 of 128 KiB (16 MiB), what a burst of
 * 1e6 callSoon takes, and only after a burst that big. Measured on that burst with a fresh loop:
 * 64 chunks kept made it ~15% faster than none, 128 another ~20%.
 */
const POOLED_CHUNKS_MAX = 128;

/**
 * @internal One block of the ready queue. A slot holds (callback, args) from callSoon, (Handle,
 * null) for a handle queued as itself (fd watchers), or (null, null) once it ran or was cancelled.
 * A slot is written once per generation; the generation goes up whenever the chunk starts over,
 * so a stale handle cannot cancel whoever holds its old slot now.
 */
export class ReadyChunk {
  readonly entries: (Callback | Handle | unknown[] | null)[] = new Array(CHUNK_SLOTS * 2).fill(null);
  generation = 0;
  next: ReadyChunk | null = null;

  /** Empties `slot` if it still holds what was put there in `generation`. */
  cancel(slot: number, generation: number): void {
    if (generation !== this.generation) return;
    this.entries[slot * 2] = null;
    this.entries[slot * 2 + 1] = null;
  }
}

export class ReadyQueue {
  #head = takeChunk();
  #headSlot = 0;
  #tail = this.#head;
  #tailSlot = 0;
  #length = 0;

  /** Entries queued, cancelled ones that were not reached yet included. */
  get length(): number {
    return this.#length;
  }

  /** Queues `callback(...args)`; returns the handle that can cancel it. */
  pushCallback(callback: Callback, args: unknown[], owner: HandleOwner): Handle {
    let chunk = this.#tail;
    let slot = this.#tailSlot;
    if (slot === CHUNK_SLOTS) {
      chunk = this.#appendChunk();
      slot = 0;
    }
    const entries = chunk.entries;
    entries[slot * 2] = callback;
    entries[slot * 2 + 1] = args;
    this.#tailSlot = slot + 1;
    this.#length++;
    return new ReadyHandle(callback, args, owner, chunk, slot, chunk.generation);
  }

  /** Queues a handle as itself; it runs unless its `_cancelled` is set by then. */
  push(handle: Handle): void {
    let chunk = this.#tail;
    let slot = this.#tailSlot;
    if (slot === CHUNK_SLOTS) {
      chunk = this.#appendChunk();
      slot = 0;
    }
    chunk.entries[slot * 2] = handle;
    this.#tailSlot = slot + 1;
    this.#length++;
  }

  /**
   * Runs the `count` oldest entries (the caller checks `count <= length`). Callbacks queued while
   * this runs go behind them. An exception goes to `owner`'s exception handler, with a Handle equal
   * to the one callSoon returned (the queue does not keep that one; see the top of this file).
   */
  run(count: number, owner: HandleOwner): void {
    for (let index = 0; index < count; index++) {
      const chunk = this.#head;
      const slot = this.#headSlot;
      const generation = chunk.generation;
      const entries = chunk.entries;
      const entry = entries[slot * 2]!;
      const args = entries[slot * 2 + 1] as unknown[];
      entries[slot * 2] = null;
      entries[slot * 2 + 1] = null;
      this.#advance(chunk, slot);
      if (typeof entry === 'function') {
        try {
          if (args.length === 0) (entry as Invocable)();
          else (entry as Invocable)(...args);
        } catch (exception) {
          callbackFailed(owner, new ReadyHandle(entry, args, owner, chunk, slot, generation), entry, exception);
        }
      } else if (entry !== null) {
        const handle = entry as Handle;
        if (!handle._cancelled) handle._run();
      }
    }
  }

  /**
   * Removes the oldest entry (the caller checks `length` first) and returns it as a Handle, or null
   * for a cancelled callSoon slot. A callSoon entry comes back as a new Handle equal to the one
   * callSoon returned. For debug mode, which times each callback; `run` is the fast path.
   */
  shift(owner: HandleOwner): Handle | null {
    const chunk = this.#head;
    const slot = this.#headSlot;
    const generation = chunk.generation;
    const entries = chunk.entries;
    const entry = entries[slot * 2]!;
    const args = entries[slot * 2 + 1] as unknown[];
    entries[slot * 2] = null;
    entries[slot * 2 + 1] = null;
    this.#advance(chunk, slot);
    if (typeof entry === 'function') return new ReadyHandle(entry, args, owner, chunk, slot, generation);
    return entry as Handle | null;
  }

  /** Drops everything queued; handles that point into the queue can no longer reach it. */
  clear(): void {
    for (let chunk: ReadyChunk | null = this.#head; chunk !== null; ) {
      const next: ReadyChunk | null = chunk.next;
      chunk.entries.fill(null);
      chunk.generation++;
      chunk.next = null;
      giveBackChunk(chunk);
      chunk = next;
    }
    this.#head = takeChunk();
    this.#headSlot = 0;
    this.#tail = this.#head;
    this.#tailSlot = 0;
    this.#length = 0;
  }

  /** Steps the head past `slot` of `chunk`, the head chunk, whose entries were just taken. */
  #advance(chunk: ReadyChunk, slot: number): void {
    if (--this.#length === 0) {
      // Empty: start the (only) chunk over, so a queue that never holds much stays in one chunk.
      chunk.generation++;
      this.#headSlot = 0;
      this.#tailSlot = 0;
    } else if (slot + 1 === CHUNK_SLOTS) {
      // The head chunk is used up and more entries follow, so there is a next chunk.
      this.#head = chunk.next!;
      this.#headSlot = 0;
      chunk.next = null;
      chunk.generation++;
      giveBackChunk(chunk);
    } else {
      this.#headSlot = slot + 1;
    }
  }

  #appendChunk(): ReadyChunk {
    const chunk = takeChunk();
    this.#tail.next = chunk;
    this.#tail = chunk;
    return chunk;
  }
}

/** Chunks no queue uses, all slots empty; their generation was raised when they were given back. */
const chunkPool: ReadyChunk[] = [];

function takeChunk(): ReadyChunk {
  return chunkPool.pop() ?? new ReadyChunk();
}

function giveBackChunk(chunk: ReadyChunk): void {
  if (chunkPool.length < POOLED_CHUNKS_MAX) chunkPool.push(chunk);
}

/** Keeps ReadyHandle's hidden class alive between loops (see DORMANT_HANDLES in handles.ts). */
export const DORMANT_READY_HANDLE = new ReadyHandle(() => {}, NO_ARGS, DORMANT_OWNER, new ReadyChunk(), 0, 0);
DORMANT_READY_HANDLE.cancel();
