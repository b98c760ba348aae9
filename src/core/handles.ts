// Handle and TimerHandle: what callSoon and callLater return (asyncio events.py). A handle runs
// its callback once; an exception goes to the loop's exception handler and the loop goes on.
import type { Callback, Invocable } from './validate.js';

/**
 * What a handle needs of the ready queue's chunk that holds it (ReadyChunk in ready-queue.ts):
 * declared here so handles do not import the queues that import them.
 */
export interface ReadySlots {
  cancel(slot: number, generation: number): void;
}

/** Likewise what a timer handle needs of its per-delay list (TimerList in timer-heap.ts). */
export interface TimerSlots {
  cancel(sequence: number, hint: number): boolean;
}

/** What a handle needs from its loop; kept narrow so handles.ts does not import loop.ts. */
export interface HandleOwner {
  callExceptionHandler(context: Record<string, unknown>): void;
  /** @internal Told when a scheduled timer is cancelled, so the timer queue can be compacted. */
  _timerHandleCancelled(timer: TimerHandle): void;
}

/** The arguments of every callback scheduled without any: one shared array, never written. */
export const NO_ARGS: unknown[] = Object.freeze([]) as unknown as unknown[];

export class Handle {
  // Fields are declared here and assigned in the constructors (not given initializers), so each
  // class sets all of its fields in one place, in the same order for every handle.
  /** @internal */ declare _callback: Callback | null;
  /** @internal */ declare _args: unknown[] | null;
  /** @internal */ declare _cancelled: boolean;
  /** @internal */ declare readonly _loop: HandleOwner;

  /** @internal Handles are made by the loop's callSoon/callLater/callAt and fd watchers. */
  constructor(callback: Callback, args: unknown[], loop: HandleOwner) {
    this._callback = callback;
    this._args = args;
    this._cancelled = false;
    (this as { _loop: HandleOwner })._loop = loop;
  }

  /** Stops the callback from running; does nothing if it already ran or was cancelled. */
  cancel(): void {
    if (this._cancelled) return;
    this._cancelled = true;
    // Drop references so a cancelled handle does not keep its closure alive.
    this._callback = null;
    this._args = null;
  }

  cancelled(): boolean {
    return this._cancelled;
  }

  /** @internal The only place where loop callbacks are called (the queues' fast paths aside). */
  _run(): void {
    const callback = this._callback! as Invocable;
    const args = this._args!;
    try {
      if (args.length === 0) callback();
      else callback(...args);
    } catch (exception) {
      callbackFailed(this._loop, this, callback, exception);
    }
  }

  toString(): string {
    const state = this._cancelled ? ' cancelled' : '';
    const kind = this instanceof TimerHandle ? 'TimerHandle' : 'Handle';
    return `<${kind}${state} ${this._callback ? describeCallback(this._callback) : ''}>`;
  }
}

/**
 * @internal What callSoon returns: a Handle that knows its slot in the ready queue
 * (ready-queue.ts). The queue keeps the callback and its arguments, not this object, so a handle
 * nobody keeps dies young instead of being copied by every scavenge while it waits; cancel()
 * reaches the slot through the chunk, and the generation tells whether the slot still holds this
 * callback or the chunk was reused since.
 */
export class ReadyHandle extends Handle {
  /** @internal */ declare _chunk: ReadySlots | null;
  /** @internal */ declare readonly _slot: number;
  /** @internal */ declare readonly _generation: number;

  /** @internal */
  constructor(callback: Callback, args: unknown[], loop: HandleOwner, chunk: ReadySlots, slot: number, generation: number) {
    super(callback, args, loop);
    this._chunk = chunk;
    (this as { _slot: number })._slot = slot;
    (this as { _generation: number })._generation = generation;
  }

  override cancel(): void {
    if (this._cancelled) return;
    super.cancel();
    const chunk = this._chunk;
    if (chunk !== null) {
      this._chunk = null;
      chunk.cancel(this._slot, this._generation);
    }
  }
}

let nextTimerSequence = 0;

export class TimerHandle extends Handle {
  /** @internal */ declare readonly _when: number;
  /** @internal Breaks ties between equal deadlines: earlier scheduled fires first. */
  declare readonly _sequence: number;
  /**
   * @internal The per-delay list that holds this callLater timer's entry until it runs
   * (timer-heap.ts), or null: a callAt timer, or one that ran or was cancelled.
   */
  declare _list: TimerSlots | null;
  /**
   * @internal Where the entry was put in `_list`: cancel() looks there first, and searches only
   * if the list moved its entries since (a shift or a compaction).
   */
  declare _slot: number;
  /** @internal True while the timer sits in its loop's heap of any-deadline (callAt) timers. */
  declare _scheduled: boolean;

  /** @internal `sequence` is given only for a copy of a timer that already has one. */
  constructor(when: number, callback: Callback, args: unknown[], loop: HandleOwner, sequence = nextTimerSequence++) {
    super(callback, args, loop);
    (this as { _when: number })._when = when;
    (this as { _sequence: number })._sequence = sequence;
    this._list = null;
    this._slot = -1;
    this._scheduled = false;
  }

  /** The absolute time, on the loop's clock (loop.time()), at which the callback is due. */
  when(): number {
    return this._when;
  }

  override cancel(): void {
    if (this._cancelled) return;
    super.cancel();
    if (this._list !== null || this._scheduled) this._loop._timerHandleCancelled(this);
  }
}

/** @internal Reports a callback's exception to the loop's handler, as asyncio's Handle._run. */
export function callbackFailed(loop: HandleOwner, handle: Handle, callback: Callback, exception: unknown): void {
  loop.callExceptionHandler({
    message: `Exception in callback ${describeCallback(callback)}`,
    exception,
    handle,
  });
}

function describeCallback(callback: Callback): string {
  return callback.name ? `${callback.name}()` : '<anonymous>()';
}

// V8 keeps a hidden class (map) alive only while some object has it. A program that drops every
// handle and then runs a full GC (a fresh loop per test or per bench repetition) would get new
// maps for its next handles, and every function optimized for the old ones would be deoptimized
// and optimized again. One dormant handle of each class keeps the maps; their owner, unlike a
// loop, is not what the hot code checks for. Measured on the timer bench: ~30% faster per run.
/** @internal The owner of dormant handles: a loop that is never told anything. */
export const DORMANT_OWNER: HandleOwner = { callExceptionHandler() {}, _timerHandleCancelled() {} };
export const DORMANT_HANDLES: readonly Handle[] = [
  new Handle(() => {}, NO_ARGS, DORMANT_OWNER),
  new TimerHandle(Number.NaN, () => {}, NO_ARGS, DORMANT_OWNER, 0),
];
