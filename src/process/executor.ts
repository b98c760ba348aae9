// Executors for loop.runInExecutor. JavaScript cannot send a function to another thread, so a
// task names a module and an export, as piscina does: { filename, name }. The default executor
// is a piscina pool made on first use; any object with piscina's run(task, options) works too.
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { argTypeError } from '../core/validate.js';

/** A task in piscina's terms: the module (path or file URL) and the export to call. */
export type ExecutorTask = { filename: string | URL; name?: string };

/** What runInExecutor needs of an executor: piscina's run() and destroy(). */
export interface Executor {
  run(task: unknown, options?: { name?: string; filename?: string }): Promise<unknown>;
  destroy(): Promise<void>;
}

const TASK_RUNNER = fileURLToPath(new URL('../../workers/executor-task.js', import.meta.url));

export function createDefaultExecutor(): Executor {
  // Threads never retire while the pool lives (asyncio's ThreadPoolExecutor keeps its threads
  // too). With piscina's default idleTimeout of 0 a thread above minThreads is terminated when
  // idle and left out of destroy()'s wait; if its 'exit' comes after destroy() has finished,
  // piscina takes it for a crash and starts a new minimum thread on the destroyed pool, which
  // then lives until the process ends (a thread and its 4 fds after shutdownDefaultExecutor).
  return new Piscina({ filename: TASK_RUNNER, idleTimeout: Infinity }) as unknown as Executor;
}

/** Runs `task(...args)` on `executor`; resolves with its result. */
export function runTask(executor: Executor, task: ExecutorTask, args: unknown[]): Promise<unknown> {
  if (task === null || typeof task !== 'object' || (typeof task.filename !== 'string' && !(task.filename instanceof URL))) {
    throw argTypeError('task must be { filename, name? } naming a module and its export');
  }
  const filename = task.filename instanceof URL ? fileURLToPath(task.filename) : task.filename;
  const name = task.name ?? 'default';
  if (typeof name !== 'string') throw argTypeError('task.name must be a string');
  return executor.run({ filename, name, args }, { filename: TASK_RUNNER, name: 'default' });
}

export function checkExecutor(executor: unknown): asserts executor is Executor {
  const candidate = executor as Partial<Executor> | null;
  if (candidate === null || typeof candidate !== 'object' || typeof candidate.run !== 'function' || typeof candidate.destroy !== 'function') {
    throw argTypeError('executor must be a piscina pool (an object with run() and destroy()) or null');
  }
}
