// Which loop runs on this thread. Module state is per thread: each worker loads its own copy.
import type { EventLoop } from '../io/event-loop.js';

let runningLoop: EventLoop | null = null;
let currentLoop: EventLoop | null = null;

/** The loop running on this thread, or null. */
export function _getRunningLoop(): EventLoop | null {
  return runningLoop;
}

/** @internal Called by EventLoop when a run starts (loop) and ends (null). */
export function _setRunningLoop(loop: EventLoop | null): void {
  runningLoop = loop;
}

/** The running loop; throws asyncio's RuntimeError message when none runs on this thread. */
export function getRunningLoop(): EventLoop {
  if (runningLoop === null) throw new Error('no running event loop');
  return runningLoop;
}

/** Makes `loop` this thread's current loop, the one getEventLoop() returns when none runs. */
export function setEventLoop(loop: EventLoop | null): void {
  currentLoop = loop;
}

/** @internal */
export function _getCurrentLoop(): EventLoop | null {
  return currentLoop;
}
