// Loops inside worker threads: each thread has its own addon instance data and running loop; a
// worker that exits or is terminated while its loop runs frees everything without a crash.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { newEventLoop, run, sleep } from 'zloop';
import { fdCount, reactorsOpen, settle, trackLeaks } from './helpers/leaks.js';
import { within } from './helpers/loops.js';

trackLeaks();

const fixture = new URL('./fixtures/loop-worker.mjs', import.meta.url);

function startWorker(workerData: Record<string, unknown>): Worker {
  return new Worker(fixture, { workerData, stdout: false, stderr: false });
}

function nextMessage<T>(worker: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

function exitCode(worker: Worker): Promise<number> {
  return new Promise((resolve) => worker.once('exit', resolve));
}

describe('loops in worker threads', () => {
  it('run() works in a worker, which then exits by itself with nothing open', async () => {
    const worker = startWorker({ mode: 'run', value: 21 });
    const exited = exitCode(worker);
    const message = await within(nextMessage<any>(worker), 10_000, 'worker message');
    expect(message).toEqual({ result: { value: 42, running: true }, reactorsOpen: 0 });
    expect(await within(exited, 10_000, 'worker exit')).toBe(0);
  });

  it('several loops in turn in one worker', async () => {
    const worker = startWorker({ mode: 'loops' });
    const exited = exitCode(worker);
    expect(await within(nextMessage<any>(worker), 10_000, 'worker message')).toEqual({
      results: [1, 2, 3, 4, 5],
      reactorsOpen: 0,
    });
    expect(await within(exited, 10_000, 'worker exit')).toBe(0);
  });

  it('a worker loop and a main-thread loop run at the same time', async () => {
    const result = await run(async () => {
      const worker = startWorker({ mode: 'run', value: 1 });
      const exited = exitCode(worker);
      const [message] = await Promise.all([within(nextMessage<any>(worker), 10_000, 'worker message'), sleep(0.005)]);
      await within(exited, 10_000, 'worker exit');
      return message.result.value;
    });
    expect(result).toBe(2);
  });

  it('process.exit() from a loop callback in a worker ends only that worker', async () => {
    const worker = startWorker({ mode: 'exit' });
    const exited = exitCode(worker);
    expect(await within(nextMessage(worker), 10_000, 'worker message')).toBe('exiting');
    expect(await within(exited, 10_000, 'worker exit')).toBe(7);
    // The main thread's loops are unaffected.
    expect(await run(async () => sleep(0, 'still fine'))).toBe('still fine');
  });

  it('terminating a worker while its loop runs frees its reactor', async () => {
    const before = fdCount();
    const worker = startWorker({ mode: 'forever' });
    const exited = exitCode(worker);
    expect(await within(nextMessage(worker), 10_000, 'worker running')).toBe('running');
    await worker.terminate();
    expect(await within(exited, 10_000, 'worker exit')).toBe(1);
    await settle(() => fdCount() <= before, 400);
    expect(fdCount()).toBeLessThanOrEqual(before);
  });

  it('stress: 200 workers, each terminated while its loop runs: no crash, no fd growth', async () => {
    // Warm up once so fds the first worker opens for good (if any) do not count as growth.
    {
      const worker = startWorker({ mode: 'forever' });
      await within(nextMessage(worker), 10_000, 'warm-up worker running');
      await worker.terminate();
    }
    await new Promise((resolve) => setTimeout(resolve, 50)); // let the warm-up worker's exit settle
    const before = fdCount();
    const total = 200;
    const concurrency = 8;
    let started = 0;
    let terminated = 0;
    const exitCodes = new Map<number, number>();
    const lane = async (): Promise<void> => {
      while (started < total) {
        started++;
        const worker = startWorker({ mode: 'forever' });
        const exited = exitCode(worker);
        expect(await within(nextMessage(worker), 20_000, 'worker running')).toBe('running');
        await worker.terminate();
        const code = await within(exited, 20_000, 'worker exit');
        exitCodes.set(code, (exitCodes.get(code) ?? 0) + 1);
        terminated++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, lane));
    expect(terminated).toBe(total);
    expect(exitCodes).toEqual(new Map([[1, total]])); // terminate() gives exit code 1
    await settle(() => fdCount() <= before, 400);
    expect(fdCount()).toBeLessThanOrEqual(before);
    // This thread's own reactors were never touched, and a loop still works here.
    expect(reactorsOpen()).toBe(0);
    const loop = newEventLoop();
    try {
      expect(await loop.runUntilComplete(async () => sleep(0, 'main ok'))).toBe('main ok');
    } finally {
      loop.close();
    }
  }, 120_000);
});
