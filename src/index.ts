// The public API of zloop: an explicit list, so nothing internal leaks by accident.
export { EventLoop, newEventLoop, ensureFuture } from './loop.js';
export type { ExceptionContext, ExceptionHandler } from './loop.js';
export { Handle, TimerHandle } from './handles.js';
export { Future, Task } from './futures.js';
export type { TaskTarget } from './futures.js';
export { run, getEventLoop, sleep, waitFor } from './runner.js';
export type { RunOptions } from './runner.js';
export { getRunningLoop, setEventLoop } from './running.js';
export {
  CancelledError,
  InvalidStateError,
  TimeoutError,
  IncompleteReadError,
  LimitOverrunError,
} from './errors.js';
