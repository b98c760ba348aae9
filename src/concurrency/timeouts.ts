// asyncio.timeout and asyncio.timeout_at (timeouts.py). A Timeout has a deadline on the loop's
// clock (reschedulable) and an AbortSignal that aborts at the deadline with a TimeoutError as its
// reason, so whatever awaits with that signal (zloop's primitives, Node's APIs that take one)
// rejects with TimeoutError there, as asyncio raises it in the awaiting code. Two forms:
//
//   const value = await timeout(5, async (signal) => reader.read(100, { signal }));
//   { await using t = timeout(5); await queue.get({ signal: t.signal }); }
//
// With a body, the returned promise rejects with TimeoutError at the deadline (the body is told
// through its signal; JavaScript cannot stop it otherwise). `await using` clears the deadline at
// the end of the block.
import { TimeoutError } from '../core/errors.js';
import type { Loop } from '../core/futures.js';
import type { TimerHandle } from '../core/handles.js';
import { checkCallback, checkSeconds } from '../core/validate.js';
import { runningLoop } from './waiting.js';

type TimeoutState = 'pending' | 'expired' | 'finished';

export class Timeout {
  readonly #loop: Loop;
  #when: number | null = null;
  #timer: TimerHandle | null = null;
  #state: TimeoutState = 'pending';
  readonly #controller = new AbortController();

  /** @internal Use timeout() or timeoutAt(). */
  constructor(loop: Loop, when: number | null) {
    this.#loop = loop;
    this.reschedule(when);
  }

  /** Aborts at the deadline, with a TimeoutError as its reason. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The deadline on the loop's clock (loop.time()), or null for none. */
  when(): number | null {
    return this.#when;
  }

  /** Moves the deadline (null: none). A deadline in the past expires on the next iteration. */
  reschedule(when: number | null): void {
    if (when !== null) checkSeconds(when, 'when');
    if (this.#state !== 'pending') throw new Error(`Cannot change state of ${this.#state} Timeout`);
    this.#when = when;
    this.#timer?.cancel();
    this.#timer = when === null ? null : this.#loop.callAt(when, this.#expire);
  }

  /** True once the deadline passed (the signal aborted). */
  expired(): boolean {
    return this.#state === 'expired';
  }

  /** Runs `body(signal)`; rejects with TimeoutError if the deadline comes first. */
  async run<T>(body: (signal: AbortSignal) => T | PromiseLike<T>): Promise<T> {
    checkCallback(body, 'body');
    const signal = this.signal;
    const expiry = new Promise<never>((_resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    expiry.catch(() => {});
    try {
      return await Promise.race([Promise.resolve().then(() => body(signal)), expiry]);
    } finally {
      this.#finish();
    }
  }

  /** Clears the deadline (the end of an `await using` block). */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#finish();
  }

  toString(): string {
    return `<Timeout [${this.#state}]${this.#when === null ? '' : ` when=${this.#when}`}>`;
  }

  readonly #expire = (): void => {
    if (this.#state !== 'pending') return;
    this.#state = 'expired';
    this.#timer = null;
    this.#controller.abort(new TimeoutError());
  };

  #finish(): void {
    this.#timer?.cancel();
    this.#timer = null;
    if (this.#state === 'pending') this.#state = 'finished';
  }
}

/** asyncio.timeout(delay): a Timeout `delay` seconds from now (null: none); with `body`, runs it under it. */
export function timeout(delay: number | null): Timeout;
export function timeout<T>(delay: number | null, body: (signal: AbortSignal) => T | PromiseLike<T>): Promise<T>;
export function timeout<T>(delay: number | null, body?: (signal: AbortSignal) => T | PromiseLike<T>): Timeout | Promise<T> {
  if (delay !== null) checkSeconds(delay, 'delay');
  const loop = runningLoop();
  return timeoutAt(delay === null ? null : loop.time() + delay, body as (signal: AbortSignal) => T);
}

/** asyncio.timeout_at(when): a Timeout at `when` on the loop's clock (null: none). */
export function timeoutAt(when: number | null): Timeout;
export function timeoutAt<T>(when: number | null, body: (signal: AbortSignal) => T | PromiseLike<T>): Promise<T>;
export function timeoutAt<T>(when: number | null, body?: (signal: AbortSignal) => T | PromiseLike<T>): Timeout | Promise<T> {
  const context = new Timeout(runningLoop(), when);
  return body === undefined ? context : context.run(body);
}
