// Which loop runs on this thread. Module state is per thread: each worker loads its own copy.
// The registry holds the core's Loop interface; io/runner.ts gives the public, EventLoop-typed
// getters (every loop registered here is an EventLoop).
import type { Loop } from './loop-types.js';

let runningLoop: Loop | null = null;
let currentLoop: Loop | null = null;

/** The loop running on this thread, or null. */
export function _getRunningLoop(): Loop | null {
  return runningLoop;
}

/** @internal Called by EventLoop when a run starts (loop) and ends (null). */
export function _setRunningLoop(loop: Loop | null): void {
  runningLoop = loop;
}

/** Makes `loop` this thread's current loop, the one getEventLoop() returns when none runs. */
export function _setCurrentLoop(loop: Loop | null): void {
  currentLoop = loop;
}

/** @internal */
export function _getCurrentLoop(): Loop | null {
  return currentLoop;
}
