// Node keeps working on the same thread while a loop runs, and a stopped or closed loop holds
// nothing that keeps the process alive.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { getRunningLoop, run, sleep } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { runForever, within, withLoop } from './helpers/loops.js';

trackLeaks();

const projectRoot = fileURLToPath(new URL('..', import.meta.url));

describe('Node on the same thread while a loop runs', () => {
  it('setTimeout, setImmediate, promises, fs.promises and MessagePort all work', async () => {
    const result = await run(async () => {
      const steps: string[] = [];
      await new Promise((resolve) => setTimeout(resolve, 2));
      steps.push('setTimeout');
      await new Promise((resolve) => setImmediate(resolve));
      steps.push('setImmediate');
      await new Promise((resolve) => process.nextTick(resolve));
      steps.push('nextTick');
      const text = await readFile(fileURLToPath(import.meta.url), 'utf8');
      steps.push(text.includes('MessagePort all work') ? 'fs.promises' : 'fs.promises read the wrong file');
      const { port1, port2 } = new MessageChannel();
      const echoed = new Promise((resolve) => port2.once('message', resolve));
      port1.postMessage({ hello: 'port' });
      steps.push(`MessagePort ${JSON.stringify(await echoed)}`);
      port1.close();
      await sleep(0.001);
      steps.push('zloop sleep');
      steps.push(getRunningLoop().isRunning() ? 'still running' : 'not running');
      return steps;
    });
    expect(result).toEqual([
      'setTimeout',
      'setImmediate',
      'nextTick',
      'fs.promises',
      'MessagePort {"hello":"port"}',
      'zloop sleep',
      'still running',
    ]);
  });

  it('a loop busy with an endless callSoon chain does not starve Node timers, immediates or fs', async () => {
    await withLoop(async (loop) => {
      let links = 0;
      let stop = false;
      const link = (): void => {
        links++;
        if (stop) loop.stop();
        else loop.callSoon(link);
      };
      loop.callSoon(link);
      const running = runForever(loop, 20_000);
      const seen: string[] = [];
      await within(
        Promise.all([
          new Promise<void>((resolve) => setTimeout(() => (seen.push('timeout'), resolve()), 5)),
          new Promise<void>((resolve) => setImmediate(() => (seen.push('immediate'), resolve()))),
          readFile(fileURLToPath(import.meta.url)).then(() => void seen.push('fs')),
        ]),
        10_000,
        'Node callbacks while the loop is busy',
      );
      const linksWhenNodeRan = links;
      stop = true;
      await running;
      expect(seen.sort()).toEqual(['fs', 'immediate', 'timeout']);
      expect(linksWhenNodeRan).toBeGreaterThan(0);
      expect(links).toBeGreaterThan(linksWhenNodeRan);
    });
  });

  it('promise continuations and nextTicks run between iterations, after each batch', async () => {
    await withLoop(async (loop) => {
      const order: string[] = [];
      loop.callSoon(() => {
        order.push('iteration 1: a');
        Promise.resolve().then(() => order.push('microtask from a'));
        process.nextTick(() => order.push('nextTick from a'));
        loop.callSoon(() => {
          order.push('iteration 2');
          loop.stop();
        });
      });
      loop.callSoon(() => order.push('iteration 1: b'));
      await runForever(loop);
      expect(order).toEqual([
        'iteration 1: a',
        'iteration 1: b',
        'nextTick from a',
        'microtask from a',
        'iteration 2',
      ]);
    });
  });

  it('an async task interleaves with callbacks one await per iteration', async () => {
    await withLoop(async (loop) => {
      const order: string[] = [];
      const task = loop.createTask(async () => {
        order.push('task step 1');
        await Promise.resolve();
        order.push('task step 2 (same batch, microtask)');
        const future = loop.createFuture();
        loop.callSoon(() => future.setResult(undefined));
        await future;
        order.push('task step 3');
      });
      loop.callSoon(() => order.push('callback'));
      await loop.runUntilComplete(task);
      expect(order.slice(0, 3)).toEqual(['task step 1', 'callback', 'task step 2 (same batch, microtask)']);
      expect(order[3]).toBe('task step 3');
    });
  });
});

type ChildResult = { code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string; exitedByItself: boolean };

/** Runs an ES module snippet in a fresh node process (cwd: the package, so 'zloop' resolves). */
function runChild(source: string, waitMs: number, nodeFlags: string[] = []): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, '--input-type=module', '-e', source], {
      cwd: projectRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data) => (stdout += data));
    child.stderr.on('data', (data) => (stderr += data));
    let exitedByItself = true;
    const timer = setTimeout(() => {
      exitedByItself = false;
      child.kill('SIGKILL');
    }, waitMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, exitedByItself });
    });
  });
}

describe('nothing keeps the process alive', () => {
  const scenarios: [string, string][] = [
    ['after run()', `const r = await run(async () => { await sleep(0.01); return 'ok'; }); console.log(r);`],
    [
      'after runForever and stop without close, with timers still scheduled',
      `const loop = newEventLoop();
       loop.callLater(3600, () => {});
       loop.callSoon(() => loop.stop());
       await loop.runForever();
       console.log('ok');`,
    ],
    ['for a loop that was never run nor closed', `const loop = newEventLoop(); loop.callSoon(() => {}); loop.callLater(3600, () => {}); console.log('ok');`],
    [
      'after many loops created, run and closed',
      `for (let i = 0; i < 50; i++) {
         const loop = newEventLoop();
         await loop.runUntilComplete(async () => { await sleep(0); return i; });
         loop.close();
       }
       console.log('ok');`,
    ],
    [
      'after runUntilComplete left a watcher-free loop open',
      `const loop = newEventLoop();
       await loop.runUntilComplete(() => sleep(0.001));
       console.log('ok');`,
    ],
  ];

  for (const [name, body] of scenarios) {
    it(name, async () => {
      const result = await runChild(`import { newEventLoop, run, sleep } from 'zloop';\n${body}`, 15_000);
      expect(result.stderr).toBe('');
      expect(result.exitedByItself).toBe(true);
      expect(result.code).toBe(0);
      expect(result.stdout.trim()).toBe('ok');
    });
  }

  it('(control) a running loop does keep the process alive', async () => {
    const result = await runChild(
      `import { newEventLoop } from 'zloop';
       const loop = newEventLoop();
       loop.runForever();
       console.log('running');`,
      1500,
    );
    expect(result.stdout.trim()).toBe('running');
    expect(result.exitedByItself).toBe(false);
    expect(result.signal).toBe('SIGKILL');
  });
});

describe('a loop dropped without close()', () => {
  // The binding holds the loop's JS objects strongly only while it polls, so an idle loop that
  // is dropped is collected and its finalizer releases the epoll fd, eventfd and timerfd.
  it('is collected by the GC and its fds are released', async () => {
    const result = await runChild(
      `import { newEventLoop, run, sleep } from 'zloop';
       import { readdirSync } from 'node:fs';
       import { createRequire } from 'node:module';
       const addon = createRequire(import.meta.url)(process.env.ZLOOP_ADDON_BUILD === 'safe' ? './build/safe/zloop.node' : './build/zloop.node');
       const fds = () => readdirSync('/proc/self/fd').length;
       const before = fds();
       for (let i = 0; i < 100; i++) {
         const loop = newEventLoop();
         loop.callLater(3600, () => {});
         if (i % 2 === 0) await loop.runUntilComplete(() => sleep(0));
       }
       for (let i = 0; i < 20 && addon.reactorsOpen() > 2; i++) {
         globalThis.gc();
         await new Promise((resolve) => setTimeout(resolve, 5));
       }
       console.log(JSON.stringify({ after: addon.reactorsOpen(), fdGrowth: fds() - before }));`,
      15_000,
      ['--expose-gc'],
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const counts = JSON.parse(result.stdout) as { after: number; fdGrowth: number };
    // V8 may keep the last loop or two alive a little longer; 100 open would be the leak.
    expect(counts.after).toBeLessThanOrEqual(2);
    expect(counts.fdGrowth).toBeLessThanOrEqual(2 * 3 + 3);
  });
});
