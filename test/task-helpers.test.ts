// asyncio's module-level task helpers on zloop: gather, wait, asCompleted, shield, currentTask,
// allTasks, TaskGroup, timeout/timeoutAt, toThread, with the orderings asyncio documents.
import { describe, expect, it } from 'vitest';
import {
  ALL_COMPLETED,
  allTasks,
  asCompleted,
  CancelledError,
  currentTask,
  ExceptionGroup,
  FIRST_COMPLETED,
  FIRST_EXCEPTION,
  gather,
  getRunningLoop,
  run,
  shield,
  sleep,
  TaskGroup,
  timeout,
  timeoutAt,
  TimeoutError,
  toThread,
  wait,
} from 'zloop';
import { trackLeaks } from './helpers/leaks.js';

trackLeaks();

/** An async function that resolves to `value` after `seconds`, honouring its task's signal. */
const after = <T>(seconds: number, value: T, log?: string[]) => async (signal?: AbortSignal): Promise<T> => {
  await sleep(seconds);
  if (signal?.aborted) throw new CancelledError();
  log?.push(String(value));
  return value;
};

const failAfter = (seconds: number, message: string) => async (): Promise<never> => {
  await sleep(seconds);
  throw new Error(message);
};

describe('gather', () => {
  it('resolves to the results in the order given, not the order they finish', async () => {
    await run(async () => {
      const finished: string[] = [];
      const results = await gather(after(0.03, 'a', finished), after(0.01, 'b', finished), Promise.resolve('c'));
      expect(results).toEqual(['a', 'b', 'c']);
      expect(finished).toEqual(['b', 'a']);
    });
  });

  it('fails with the first failure; the others keep running', async () => {
    await run(async () => {
      const finished: string[] = [];
      const slow = getRunningLoop().createTask(after(0.3, 'slow', finished));
      await expect(gather(failAfter(0.01, 'boom'), slow)).rejects.toThrow('boom');
      expect(slow.done()).toBe(false);
      expect(await slow).toBe('slow');
    });
  });

  it('returnExceptions puts failures and cancellations among the results', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const cancelled = loop.createFuture<number>();
      cancelled.cancel();
      const results = await gather(after(0.01, 1), failAfter(0, 'bad'), cancelled, { returnExceptions: true });
      expect(results[0]).toBe(1);
      expect(results[1]).toBeInstanceOf(Error);
      expect((results[1] as Error).message).toBe('bad');
      expect(results[2]).toBeInstanceOf(CancelledError);
    });
  });

  it('cancelling the gather cancels every child still running', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const children = [loop.createTask(after(10, 1)), loop.createTask(after(10, 2))];
      const gathered = gather(...children);
      await sleep(0);
      expect(gathered.cancel()).toBe(true);
      await expect(gathered).rejects.toBeInstanceOf(CancelledError);
      expect(children.every((child) => child.cancelled())).toBe(true);
    });
  });

  it('of nothing is an empty list; the same future twice appears twice', async () => {
    await run(async () => {
      expect(await gather()).toEqual([]);
      const future = getRunningLoop().createFuture<string>();
      getRunningLoop().callSoon(() => future.setResult('x'));
      expect(await gather(future, future)).toEqual(['x', 'x']);
    });
  });
});

describe('wait', () => {
  it('ALL_COMPLETED (the default) returns when everything is done', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const tasks = [loop.createTask(after(0.01, 1)), loop.createTask(after(0.02, 2))];
      const [done, pending] = await wait(tasks, { returnWhen: ALL_COMPLETED });
      expect(done).toEqual(new Set(tasks));
      expect(pending.size).toBe(0);
    });
  });

  it('FIRST_COMPLETED returns with the first one done, the rest pending and still running', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const fast = loop.createTask(after(0.01, 'fast'));
      const slow = loop.createTask(after(0.3, 'slow'));
      const [done, pending] = await wait([fast, slow], { returnWhen: FIRST_COMPLETED });
      expect([...done]).toEqual([fast]);
      expect([...pending]).toEqual([slow]);
      expect(await slow).toBe('slow');
    });
  });

  it('FIRST_EXCEPTION returns at the first failure, or when all are done if none fails', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const failing = loop.createTask(failAfter(0.01, 'x'));
      const slow = loop.createTask(after(0.3, 'slow'));
      const [done, pending] = await wait([failing, slow], { returnWhen: FIRST_EXCEPTION });
      expect([...done]).toEqual([failing]);
      expect([...pending]).toEqual([slow]);
      await slow;
      const [allDone, none] = await wait([loop.createTask(after(0.01, 1)), loop.createTask(after(0.02, 2))], { returnWhen: FIRST_EXCEPTION });
      expect(allDone.size).toBe(2);
      expect(none.size).toBe(0);
    });
  });

  it('on timeout returns what is done and cancels nothing', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const slow = loop.createTask(after(0.3, 'slow'));
      const [done, pending] = await wait([slow], { timeout: 0.01 });
      expect(done.size).toBe(0);
      expect([...pending]).toEqual([slow]);
      expect(slow.cancelled()).toBe(false);
      await slow;
    });
  });

  it('rejects an empty set and a bad returnWhen with asyncio messages', async () => {
    await run(async () => {
      await expect(wait([])).rejects.toThrow('Set of Tasks/Futures is empty.');
      await expect(wait([Promise.resolve(1)], { returnWhen: 'SOMETIMES' as never })).rejects.toThrow(/Invalid returnWhen value/);
      await expect(wait([Promise.resolve(1)], { timeout: 'soon' as never })).rejects.toThrow(TypeError);
    });
  });
});

describe('asCompleted', () => {
  it('yields results in the order they finish', async () => {
    await run(async () => {
      const seen: string[] = [];
      for await (const value of asCompleted([after(0.03, 'c'), after(0.01, 'a'), after(0.02, 'b')])) seen.push(value);
      expect(seen).toEqual(['a', 'b', 'c']);
    });
  });

  it('throws a failure where its result would come, and TimeoutError past the timeout', async () => {
    await run(async () => {
      const seen: unknown[] = [];
      await expect(
        (async () => {
          for await (const value of asCompleted([after(0.01, 'a'), failAfter(0.02, 'bad')])) seen.push(value);
        })(),
      ).rejects.toThrow('bad');
      expect(seen).toEqual(['a']);
      const early: unknown[] = [];
      await expect(
        (async () => {
          for await (const value of asCompleted([after(0.005, 'quick'), after(1, 'late')], { timeout: 0.03 })) early.push(value);
        })(),
      ).rejects.toBeInstanceOf(TimeoutError);
      expect(early).toEqual(['quick']); // run() cancels the task still sleeping
    });
  });
});

describe('shield', () => {
  it('cancelling the shield leaves the inner task running to its result', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const inner = loop.createTask(after(0.02, 'kept'));
      const outer = shield(inner);
      outer.cancel();
      await expect(outer).rejects.toBeInstanceOf(CancelledError);
      expect(await inner).toBe('kept');
    });
  });

  it('passes the inner outcome through, failures included', async () => {
    await run(async () => {
      expect(await shield(after(0.01, 5))).toBe(5);
      await expect(shield(failAfter(0.01, 'inner failed'))).rejects.toThrow('inner failed');
    });
  });
});

describe('currentTask and allTasks', () => {
  it('currentTask is the task whose code runs, across awaits; null outside tasks', async () => {
    expect(() => allTasks()).toThrow('no running event loop');
    currentTask();
    await run(async () => {
      const loop = getRunningLoop();
      const main = currentTask();
      expect(main).not.toBeNull();
      // Wrapped: a Task is a thenable, and an async function returning one would wait for it.
      const child = loop.createTask(async () => {
        await sleep(0.001);
        return { task: currentTask() };
      });
      expect((await child).task).toBe(child);
      expect(currentTask()).toBe(main);
      expect(allTasks().has(main!)).toBe(true);
    });
    expect(currentTask()).toBeNull();
  });
});

describe('TaskGroup', () => {
  it('run() waits for every task and resolves to the body result', async () => {
    await run(async () => {
      const finished: string[] = [];
      const result = await TaskGroup.run(async (group) => {
        group.createTask(after(0.02, 'x', finished));
        group.createTask(after(0.01, 'y', finished));
        return 'body';
      });
      expect(result).toBe('body');
      expect(finished).toEqual(['y', 'x']);
    });
  });

  it('the first failure cancels the rest and the body; every failure is in the ExceptionGroup', async () => {
    await run(async () => {
      let sibling: { cancelled(): boolean } | null = null;
      let bodySignal: AbortSignal | null = null;
      const outcome = TaskGroup.run(async (group, signal) => {
        bodySignal = signal;
        sibling = group.createTask(after(10, 'never'));
        group.createTask(failAfter(0.01, 'first'));
        group.createTask(failAfter(0.01, 'second'));
        await sleep(0.05);
      });
      const error = await outcome.catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ExceptionGroup);
      expect((error as ExceptionGroup).exceptions.map((exception) => (exception as Error).message)).toEqual(['first', 'second']);
      expect((error as Error).message).toBe('unhandled errors in a TaskGroup (2 sub-exceptions)');
      expect(sibling!.cancelled()).toBe(true);
      expect(bodySignal!.aborted).toBe(true);
    });
  });

  it('a failing body cancels the tasks and joins the errors; createTask after the end is refused', async () => {
    await run(async () => {
      let task: { cancelled(): boolean } | null = null;
      let kept: TaskGroup | null = null;
      const error = await TaskGroup.run(async (group) => {
        kept = group;
        task = group.createTask(after(10, 'never'));
        throw new Error('body failed');
      }).catch((caught: unknown) => caught);
      expect((error as ExceptionGroup).exceptions.map((exception) => (exception as Error).message)).toEqual(['body failed']);
      expect(task!.cancelled()).toBe(true);
      expect(() => kept!.createTask(after(0, 1))).toThrow(/is finished/);
    });
  });

  it('await using waits for the tasks at the end of the block', async () => {
    await run(async () => {
      const finished: string[] = [];
      {
        await using group = new TaskGroup();
        group.createTask(after(0.01, 'inside', finished));
        expect(finished).toEqual([]);
      }
      expect(finished).toEqual(['inside']);
    });
  });
});

describe('timeout and timeoutAt', () => {
  it('with a body: the result in time, TimeoutError past the deadline with the signal aborted', async () => {
    await run(async () => {
      expect(await timeout(1, after(0.01, 'in time'))).toBe('in time');
      let seen: AbortSignal | null = null;
      await expect(
        timeout(0.01, async (signal) => {
          seen = signal;
          await sleep(1);
        }),
      ).rejects.toBeInstanceOf(TimeoutError);
      expect(seen!.aborted).toBe(true);
      expect(seen!.reason).toBeInstanceOf(TimeoutError);
    });
  });

  it('await using: a wait under the signal gets TimeoutError; reschedule and expired()', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { Queue } = await import('zloop');
      const queue = new Queue<number>();
      await expect(
        (async () => {
          await using t = timeout(0.01);
          await queue.get({ signal: t.signal });
        })(),
      ).rejects.toBeInstanceOf(TimeoutError);
      const t = timeoutAt(loop.time() + 10);
      t.reschedule(loop.time() + 0.01);
      expect(t.expired()).toBe(false);
      await sleep(0.03);
      expect(t.expired()).toBe(true);
      expect(() => t.reschedule(null)).toThrow(/Cannot change state of expired Timeout/);
      const none = timeout(null);
      expect(none.when()).toBeNull();
      await none[Symbol.asyncDispose]();
    });
  });

  it('a deadline already due expires on the next iteration, not synchronously', async () => {
    await run(async () => {
      const t = timeoutAt(getRunningLoop().time() - 1);
      expect(t.expired()).toBe(false);
      await sleep(0);
      await sleep(0);
      expect(t.expired()).toBe(true);
    });
  });
});

describe('boundaries and bad input', () => {
  it('at the deadline itself the timeout wins, even over a result set earlier in that iteration', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      // As in asyncio: the result wakes the waiter through a callback of the next iteration,
      // and the timeout (due in this one) cancels it first (Task.cancel's _must_cancel).
      const when = loop.time() + 0.02;
      const sameInstant = loop.createFuture<string>();
      loop.callAt(when, () => sameInstant.setResult('same instant'));
      await expect(timeoutAt(when, () => sameInstant)).rejects.toBeInstanceOf(TimeoutError);
      // A result set before the deadline's iteration is in time.
      const early = loop.createFuture<string>();
      loop.callSoon(() => early.setResult('in time'));
      expect(await timeoutAt(loop.time() + 5, () => early)).toBe('in time');
    });
  });

  it('bad arguments fail with TypeError or RangeError naming them', async () => {
    await run(async () => {
      expect(() => gather(42 as never)).toThrow(TypeError);
      await expect(wait(7 as never)).rejects.toThrow(/iterable/);
      await expect(TaskGroup.run('body' as never)).rejects.toThrow(/body must be a function/);
      expect(() => timeout('soon' as never)).toThrow(/delay must be a number of seconds/);
      expect(() => timeoutAt(Number.NaN)).toThrow(/when must be a number of seconds/);
      await expect(timeout(1, 'body' as never)).rejects.toThrow(/body must be a function/);
    });
  });
});

describe('toThread', () => {
  it('runs a module export on the default executor', async () => {
    const result = await run(async () => toThread<number>({ filename: new URL('./fixtures/executor-tasks.mjs', import.meta.url), name: 'add' }, 2, 3));
    expect(result).toBe(5);
  });
});
