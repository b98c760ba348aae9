// loop.runInExecutor: a task names a module and an export (piscina's terms), runs on a worker
// thread of the executor (the default one is a piscina pool made on first use) and comes back as
// a Future. Task functions live in test/fixtures/executor-tasks.mjs.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { threadId as mainThreadId } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { describe, expect, it } from 'vitest';
import { type EventLoop, Future, newEventLoop } from 'zloop';
import { settle, trackLeaks } from './helpers/leaks.js';
import { within, withLoop } from './helpers/loops.js';

trackLeaks();

const TASKS_URL = new URL('./fixtures/executor-tasks.mjs', import.meta.url);
const TASKS = fileURLToPath(TASKS_URL);
/** zloop's own piscina task runner, which every executor is given tasks for. */
const RUNNER = fileURLToPath(new URL('../dist/workers/executor-task.js', import.meta.url));

function threadCount(): number {
  return readdirSync('/proc/self/task').length;
}

/** Runs `body` with a loop, then shuts its default executor down and closes it. */
async function withExecutorLoop<T>(body: (loop: EventLoop) => Promise<T>): Promise<T> {
  return withLoop(async (loop) => {
    try {
      return await body(loop);
    } finally {
      await loop.shutdownDefaultExecutor();
    }
  });
}

describe('runInExecutor on the default executor', () => {
  it('returns a Future that resolves with the task\'s result', async () => {
    await withExecutorLoop(async (loop) => {
      const future = loop.runInExecutor(null, { filename: TASKS, name: 'add' }, 2, 3);
      expect(future).toBeInstanceOf(Future);
      expect(await within(loop.runUntilComplete(future), 20_000, 'add')).toBe(5);
      expect(future.result()).toBe(5);
      // Async task functions, the default export, structured-cloned arguments, and a real other thread.
      const results = await within(
        loop.runUntilComplete(async () =>
          Promise.all([
            loop.runInExecutor(null, { filename: TASKS, name: 'slowDouble' }, 21),
            loop.runInExecutor(null, { filename: TASKS }, 'x'),
            loop.runInExecutor(null, { filename: TASKS, name: 'echo' }, { a: [1, 2] }, 'two', null, -0.5),
            loop.runInExecutor(null, { filename: TASKS, name: 'whereAmI' }),
          ]),
        ),
        20_000,
        'tasks',
      );
      expect(results.slice(0, 3)).toEqual([42, 'default:x', [{ a: [1, 2] }, 'two', null, -0.5]]);
      expect(results[3]).not.toBe(mainThreadId);
    });
  });

  it('a URL or a file URL string works as filename', async () => {
    await withExecutorLoop(async (loop) => {
      const fromUrl = await within(loop.runUntilComplete(loop.runInExecutor(null, { filename: TASKS_URL, name: 'add' }, 1, 1)), 20_000, 'URL');
      expect(fromUrl).toBe(2);
      const fromString = await within(
        loop.runUntilComplete(loop.runInExecutor(null, { filename: TASKS_URL.href, name: 'add' }, 2, 2)),
        20_000,
        'file URL string',
      );
      expect(fromString).toBe(4);
    });
  });

  it('an error thrown in the task rejects the future with it', async () => {
    await withExecutorLoop(async (loop) => {
      const thrown = loop.runInExecutor(null, { filename: TASKS, name: 'fail' }, 'task failed on purpose');
      await expect(within(loop.runUntilComplete(thrown), 20_000, 'fail')).rejects.toThrow('task failed on purpose');
      expect(thrown.exception()).toBeInstanceOf(Error);
      const later = loop.runInExecutor(null, { filename: TASKS, name: 'failLater' }, 'async failure');
      await expect(within(loop.runUntilComplete(later), 20_000, 'failLater')).rejects.toThrow('async failure');
      const missing = loop.runInExecutor(null, { filename: TASKS, name: 'nope' });
      await expect(within(loop.runUntilComplete(missing), 20_000, 'missing export')).rejects.toThrow(/no exported function 'nope'/);
      const notFunction = loop.runInExecutor(null, { filename: TASKS, name: 'notAFunction' });
      await expect(within(loop.runUntilComplete(notFunction), 20_000, 'not a function')).rejects.toThrow(/no exported function/);
      const noModule = loop.runInExecutor(null, { filename: fileURLToPath(new URL('./fixtures/no-such-task.mjs', import.meta.url)) });
      await expect(within(loop.runUntilComplete(noModule), 20_000, 'missing module')).rejects.toThrow(/Cannot find module|no-such-task/);
      // The executor still works after all of that.
      expect(await within(loop.runUntilComplete(loop.runInExecutor(null, { filename: TASKS, name: 'add' }, 3, 4)), 20_000, 'add')).toBe(7);
    });
  });

  it('shutdownDefaultExecutor() ends its threads; the next call makes a new one', async () => {
    const threadsBefore = threadCount();
    await withLoop(async (loop) => {
      expect(await within(loop.runUntilComplete(loop.runInExecutor(null, { filename: TASKS, name: 'add' }, 1, 2)), 20_000, 'add')).toBe(3);
      expect(threadCount()).toBeGreaterThan(threadsBefore);
      await within(loop.shutdownDefaultExecutor(), 20_000, 'shutdown');
      await settle(() => threadCount() <= threadsBefore, 400);
      expect(threadCount()).toBeLessThanOrEqual(threadsBefore);
      // Shutting down again, with no default executor, is harmless.
      await loop.shutdownDefaultExecutor();
      expect(await within(loop.runUntilComplete(loop.runInExecutor(null, { filename: TASKS, name: 'add' }, 2, 2)), 20_000, 'add again')).toBe(4);
      await within(loop.shutdownDefaultExecutor(), 20_000, 'shutdown again');
    });
    await settle(() => threadCount() <= threadsBefore, 400);
    expect(threadCount()).toBeLessThanOrEqual(threadsBefore);
  });

  it('shutdownDefaultExecutor() after the pool grew past its minimum leaves no thread behind', async () => {
    const threadsBefore = threadCount();
    await withLoop(async (loop) => {
      // Six slow tasks at once make the pool start more threads than its minimum; once they are
      // done those extra threads are idle. None may retire on its own and be left out of the
      // shutdown's wait (or, exiting after it, be replaced by a fresh thread on the dead pool).
      const slow = Array.from({ length: 6 }, (_, index) => loop.runInExecutor(null, { filename: TASKS, name: 'slowDouble' }, index));
      expect(await within(loop.runUntilComplete(async () => Promise.all(slow)), 20_000, 'slow tasks')).toEqual([0, 2, 4, 6, 8, 10]);
      expect(threadCount(), 'the pool grew past one thread').toBeGreaterThan(threadsBefore + 1);
      // A few timer turns, in which an idle thread with a retire timer would be terminated.
      for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setTimeout(resolve, 1));
      expect(threadCount(), 'no idle thread retired by itself').toBeGreaterThan(threadsBefore + 1);
      await within(loop.shutdownDefaultExecutor(), 20_000, 'shutdown');
      // Every thread is gone when the shutdown resolves, not some time later.
      expect(threadCount()).toBeLessThanOrEqual(threadsBefore);
    });
  });
});

describe('runInExecutor with an executor of your own', () => {
  it('setDefaultExecutor(piscina pool) sends null-executor tasks to that pool', async () => {
    const pool = new Piscina({ filename: RUNNER, minThreads: 1, maxThreads: 2 });
    try {
      await withLoop(async (loop) => {
        loop.setDefaultExecutor(pool);
        const results = await within(
          loop.runUntilComplete(async () =>
            Promise.all([
              loop.runInExecutor(null, { filename: TASKS, name: 'add' }, 5, 6),
              loop.runInExecutor(null, { filename: TASKS, name: 'whereAmI' }),
            ]),
          ),
          20_000,
          'tasks on the pool',
        );
        expect(results[0]).toBe(11);
        // It ran on a worker thread of this pool: not here, and the pool counted both tasks. (The
        // pool may retire or add threads meanwhile, so its current thread list proves nothing.)
        expect(results[1]).not.toBe(mainThreadId);
        expect(pool.completed).toBe(2);
        // Passed explicitly, too.
        expect(await within(loop.runUntilComplete(loop.runInExecutor(pool, { filename: TASKS, name: 'add' }, 1, 1)), 20_000, 'explicit')).toBe(2);
        expect(pool.completed).toBe(3);
        // The default executor is the pool: shutting it down destroys the pool.
        await within(loop.shutdownDefaultExecutor(), 20_000, 'shutdown');
      });
    } finally {
      await pool.destroy().catch(() => {});
    }
  });

  it('an explicit executor is not the default one: shutdownDefaultExecutor leaves it alone', async () => {
    const pool = new Piscina({ filename: RUNNER, minThreads: 1, maxThreads: 1 });
    try {
      await withLoop(async (loop) => {
        expect(await within(loop.runUntilComplete(loop.runInExecutor(pool, { filename: TASKS, name: 'add' }, 1, 2)), 20_000, 'explicit')).toBe(3);
        await loop.shutdownDefaultExecutor();
        expect(await within(loop.runUntilComplete(loop.runInExecutor(pool, { filename: TASKS, name: 'add' }, 2, 3)), 20_000, 'still alive')).toBe(5);
      });
    } finally {
      await pool.destroy();
    }
  });

  it('a bad executor or a bad task throws a TypeError', async () => {
    await withExecutorLoop(async (loop) => {
      const task = { filename: TASKS, name: 'add' };
      for (const executor of [{}, 42, 'pool', { run() {} }, { destroy() {} }]) {
        expect(() => loop.runInExecutor(executor as never, task), JSON.stringify(executor)).toThrow(TypeError);
        expect(() => loop.setDefaultExecutor(executor as never), JSON.stringify(executor)).toThrow(TypeError);
      }
      expect(() => loop.setDefaultExecutor(null as never)).toThrow(/executor must be/);
      for (const badTask of [null, {}, 'module.mjs', { filename: 42 }, { filename: TASKS, name: 42 }]) {
        expect(() => loop.runInExecutor(null, badTask as never), JSON.stringify(badTask)).toThrow(TypeError);
      }
    });
  });

  it('a closed loop refuses new tasks', () => {
    const loop = newEventLoop();
    loop.close();
    expect(() => loop.runInExecutor(null, { filename: TASKS, name: 'add' }, 1, 2)).toThrow(/Event loop is closed/);
  });
});

describe('run() and the default executor', () => {
  it('run() shuts the default executor down, so the process exits by itself', async () => {
    const child = spawn(process.execPath, [fileURLToPath(new URL('./fixtures/executor-child.mjs', import.meta.url))], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const code = await within(exited, 20_000, 'child exits by itself');
      expect(stderr).toBe('');
      expect(stdout).toBe('result:3,42\n');
      expect(code).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
