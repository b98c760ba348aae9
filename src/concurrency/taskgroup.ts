// asyncio.TaskGroup (taskgroups.py): structured concurrency. The group's tasks run until all are
// done; the first that fails cancels the others (and the body, through its signal), and the group
// then rejects with an ExceptionGroup holding every failure. Two forms:
//
//   const result = await TaskGroup.run(async (tg, signal) => { tg.createTask(...); ... });
//   { await using tg = new TaskGroup(); tg.createTask(...); }   // waits for the tasks at the end
//
// run() is the full form: a failure in the body cancels the tasks and joins the group's errors.
// With `await using`, the disposer cannot see an exception thrown in the block (JavaScript does
// not pass it), so the block's own failure does not cancel the tasks; prefer run() there.
import { CancelledError } from '../core/errors.js';
import type { Future, Task, TaskTarget } from '../core/futures.js';
import { checkCallback } from '../core/validate.js';
import { runningLoop } from './waiting.js';

/** Several failures at once (Python's ExceptionGroup): `exceptions` holds them, in order. */
export class ExceptionGroup extends AggregateError {
  override name = 'ExceptionGroup';

  get exceptions(): unknown[] {
    return this.errors;
  }
}

type GroupState = 'open' | 'aborting' | 'finished';

export class TaskGroup {
  readonly #tasks = new Set<Task<unknown>>();
  readonly #errors: unknown[] = [];
  #state: GroupState = 'open';
  #joining: Future<void> | null = null;
  #abortBody: (() => void) | null = null;

  /** Runs `body(tg, signal)`, then waits for every task it started; resolves to body's result. */
  static async run<T>(body: (group: TaskGroup, signal: AbortSignal) => T | PromiseLike<T>): Promise<T> {
    checkCallback(body, 'body');
    const group = new TaskGroup();
    const controller = new AbortController();
    group.#abortBody = () => controller.abort(new CancelledError());
    let result: T | undefined;
    let cancelled: CancelledError | null = null;
    try {
      result = await body(group, controller.signal);
    } catch (error) {
      if (error instanceof CancelledError) {
        cancelled = error;
      } else {
        group.#errors.push(error);
        group.#abort();
      }
    }
    await group.#join();
    if (cancelled !== null) throw cancelled;
    return result as T;
  }

  /** A task of the running loop that belongs to the group. RuntimeError's messages once it ends. */
  createTask<T>(target: TaskTarget<T>, options: { name?: string } = {}): Task<T> {
    if (this.#state === 'finished') throw new Error(`TaskGroup ${this.toString()} is finished`);
    if (this.#state === 'aborting') throw new Error(`TaskGroup ${this.toString()} is shutting down`);
    const task = runningLoop().createTask(target, options);
    this.#tasks.add(task as Task<unknown>);
    task.addDoneCallback(this.#onTaskDone as (task: Future<T>) => void);
    return task;
  }

  /** Waits for the tasks (the `await using` form). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.#join();
  }

  toString(): string {
    const parts = [`tasks=${this.#tasks.size}`];
    if (this.#errors.length > 0) parts.push(`errors=${this.#errors.length}`);
    if (this.#state !== 'open') parts.push(this.#state);
    return `<TaskGroup ${parts.join(' ')}>`;
  }

  readonly #onTaskDone = (task: Future<unknown>): void => {
    this.#tasks.delete(task as Task<unknown>);
    if (this.#tasks.size === 0 && this.#joining !== null && !this.#joining.done()) this.#joining.setResult();
    if (task.cancelled()) return;
    const exception = task.exception();
    if (exception === null) return;
    this.#errors.push(exception);
    if (this.#state === 'open') this.#abort();
  };

  #abort(): void {
    this.#state = 'aborting';
    for (const task of this.#tasks) task.cancel();
    this.#abortBody?.();
  }

  async #join(): Promise<void> {
    while (this.#tasks.size > 0) {
      this.#joining = runningLoop().createFuture<void>();
      await this.#joining;
    }
    this.#state = 'finished';
    if (this.#errors.length > 0) {
      const count = this.#errors.length;
      throw new ExceptionGroup(this.#errors, `unhandled errors in a TaskGroup (${count} sub-exception${count === 1 ? '' : 's'})`);
    }
  }
}
