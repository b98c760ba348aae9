// Handle and TimerHandle: what callSoon and callLater return (asyncio events.py). A handle runs
// its callback once; an exception goes to the loop's exception handler and the loop goes on.
import type { Callback } from './validate.js';

/** What a handle needs from its loop; kept narrow so handles.ts does not import loop.ts. */
export interface HandleOwner {
  callExceptionHandler(context: Record<string, unknown>): void;
  /** @internal Told when a scheduled timer is cancelled, so the heap can be compacted. */
  _timerHandleCancelled(timer: TimerHandle): void;
}

export class Handle {
  /** @internal */ _callback: Callback | null;
  /** @internal */ _args: unknown[] | null;
  /** @internal */ _cancelled = false;
  /** @internal */ readonly _loop: HandleOwner;

  /** @internal Handles are made by the loop's callSoon/callLater/callAt. */
  constructor(callback: Callback, args: unknown[], loop: HandleOwner) {
    this._callback = callback;
    this._args = args;
    this._loop = loop;
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

  /** @internal The only place where loop callbacks are called. */
  _run(): void {
    const callback = this._callback!;
    const args = this._args!;
    try {
      if (args.length === 0) callback();
      else callback(...args);
    } catch (exception) {
      this._loop.callExceptionHandler({
        message: `Exception in callback ${describeCallback(callback)}`,
        exception,
        handle: this,
      });
    }
  }

  toString(): string {
    const state = this._cancelled ? ' cancelled' : '';
    return `<${this.constructor.name}${state} ${this._callback ? describeCallback(this._callback) : ''}>`;
  }
}

let nextTimerSequence = 0;

export class TimerHandle extends Handle {
  /** @internal */ readonly _when: number;
  /** @internal Breaks ties between equal deadlines: earlier scheduled fires first. */
  readonly _sequence = nextTimerSequence++;
  /** @internal True while the timer sits in its loop's heap. */
  _scheduled = true;

  /** @internal */
  constructor(when: number, callback: Callback, args: unknown[], loop: HandleOwner) {
    super(callback, args, loop);
    this._when = when;
  }

  /** The absolute time, on the loop's clock (loop.time()), at which the callback is due. */
  when(): number {
    return this._when;
  }

  override cancel(): void {
    if (this._cancelled) return;
    super.cancel();
    if (this._scheduled) this._loop._timerHandleCancelled(this);
  }
}

function describeCallback(callback: Callback): string {
  return callback.name ? `${callback.name}()` : '<anonymous>()';
}
