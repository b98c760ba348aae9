// Unix signal handlers (asyncio unix_events: add_signal_handler / remove_signal_handler).
//
// Node already owns the process's signal dispositions (libuv's signal pipe, and SIGCHLD for
// child_process), so a handler is a process.on(signal) listener that schedules the callback on
// the loop with callSoonThreadsafe: the callback runs inside the loop, like any other, and never
// in the middle of another callback. Signals are delivered to the main thread only, so workers
// get a clear error instead of a handler that would never run.
import { constants } from 'node:os';
import { isMainThread } from 'node:worker_threads';
import type { IoLoop } from '../io/io-loop.js';
import { type Callback, checkCallback, describeType, type Invocable, argRangeError, argTypeError } from '../core/validate.js';

const SIGNAL_NUMBERS = constants.signals as Record<string, number>;
const SIGNAL_NAMES = new Map<number, NodeJS.Signals>();
for (const [name, number] of Object.entries(SIGNAL_NUMBERS)) {
  if (!SIGNAL_NAMES.has(number)) SIGNAL_NAMES.set(number, name as NodeJS.Signals);
}

/** A signal name ('SIGINT') or number (2) as Node's signal name; throws naming a bad one. */
export function signalName(sig: unknown, name = 'sig'): NodeJS.Signals {
  if (typeof sig === 'string') {
    if (Object.hasOwn(SIGNAL_NUMBERS, sig)) return sig as NodeJS.Signals;
    throw argRangeError(`${name} must be a signal name or number, got unknown signal '${sig}'`, 'ERR_UNKNOWN_SIGNAL');
  }
  if (typeof sig === 'number' && Number.isInteger(sig)) {
    const found = SIGNAL_NAMES.get(sig);
    if (found !== undefined) return found;
    throw argRangeError(`${name} ${sig} is not a signal number of this platform`, 'ERR_UNKNOWN_SIGNAL');
  }
  throw argTypeError(`${name} must be a signal name or number, not ${describeType(sig)}`);
}

/** The signal's number (SIGTERM -> 15), as asyncio reports returncodes of killed processes. */
export function signalNumber(sig: NodeJS.Signals): number {
  return SIGNAL_NUMBERS[sig]!;
}

type Entry = { listener: () => void; callback: Callback; args: unknown[]; removed: boolean };

/** @internal The signal handlers of one loop; IoLoop makes it on first use. */
export class SignalHandlers {
  readonly #loop: IoLoop;
  readonly #entries = new Map<NodeJS.Signals, Entry>();

  constructor(loop: IoLoop) {
    this.#loop = loop;
  }

  add(sig: unknown, callback: unknown, args: unknown[]): void {
    const name = signalName(sig);
    checkCallback(callback, 'callback');
    if (callback.constructor?.name === 'AsyncFunction' || callback.constructor?.name === 'AsyncGeneratorFunction') {
      throw argTypeError('coroutines cannot be used with addSignalHandler()');
    }
    if (name === 'SIGKILL' || name === 'SIGSTOP') throw new Error(`sig ${name} cannot be caught`);
    if (!isMainThread) {
      throw new Error(
        'addSignalHandler() works only in the main thread: Node delivers signals to the main thread only, so a handler in a worker would never run',
      );
    }
    if (this.#loop.isClosed()) throw new Error('Event loop is closed');
    const entry: Entry = {
      callback,
      args,
      removed: false,
      listener: () => {
        if (entry.removed || this.#loop.isClosed()) return;
        this.#loop.callSoonThreadsafe(() => {
          // Removed after the signal came but before the callback ran: asyncio cancels the handle.
          if (!entry.removed) (entry.callback as Invocable)(...entry.args);
        });
      },
    };
    this.remove(name);
    process.on(name, entry.listener);
    this.#entries.set(name, entry);
  }

  /** True if a handler was removed. */
  remove(sig: unknown): boolean {
    const name = signalName(sig);
    if (!isMainThread) throw new Error('removeSignalHandler() works only in the main thread');
    const entry = this.#entries.get(name);
    if (entry === undefined) return false;
    entry.removed = true;
    process.removeListener(name, entry.listener);
    this.#entries.delete(name);
    return true;
  }

  /** Called by loop.close(): the loop's handlers are removed, as asyncio's close() removes them. */
  removeAll(): void {
    for (const name of [...this.#entries.keys()]) this.remove(name);
  }

  get size(): number {
    return this.#entries.size;
  }
}
