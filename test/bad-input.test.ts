// Bad input at the public edge: TypeErrors that name the argument, and asyncio's RuntimeError
// messages for a closed loop, a loop run twice and two loops at once.
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DatagramProtocol, ensureFuture, getRunningLoop, newEventLoop, Protocol, run, sleep, waitFor, type EventLoop } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { runForever, withLoop } from './helpers/loops.js';

trackLeaks();

const notFunctions: unknown[] = [undefined, null, 42, 'callback', {}, [], Symbol('s'), Promise.resolve()];
const notNumbers: unknown[] = ['1', undefined, null, {}, [1], 1n, true];

describe('a non-function callback is a TypeError naming the argument', () => {
  const cases: [string, (loop: EventLoop, callback: any) => unknown][] = [
    ['callSoon', (loop, callback) => loop.callSoon(callback)],
    ['callSoonThreadsafe', (loop, callback) => loop.callSoonThreadsafe(callback)],
    ['callLater', (loop, callback) => loop.callLater(1, callback)],
    ['callAt', (loop, callback) => loop.callAt(1, callback)],
    ['addReader', (loop, callback) => loop.addReader(0, callback)],
    ['addWriter', (loop, callback) => loop.addWriter(1, callback)],
    ['Future.addDoneCallback', (loop, callback) => loop.createFuture().addDoneCallback(callback)],
  ];
  for (const [name, call] of cases) {
    it(name, async () => {
      await withLoop(async (loop) => {
        for (const value of notFunctions) {
          expect(() => call(loop, value), typeof value).toThrow(TypeError);
          expect(() => call(loop, value)).toThrow(/^callback must be a function, not /);
        }
        // Nothing was scheduled or registered by the refused calls.
        expect(loop.scheduledTimerCount).toBe(0);
        expect(loop.removeReader(0)).toBe(false);
        expect(loop.removeWriter(1)).toBe(false);
        let ran = 0;
        loop.callSoon(() => ran++);
        loop.callSoon(() => loop.stop());
        await runForever(loop);
        expect(ran).toBe(1);
      });
    });
  }
});

describe('a non-number delay or deadline is a TypeError, NaN a RangeError (as Node validates numbers)', () => {
  it('callLater names delay', () => {
    const loop = newEventLoop();
    try {
      for (const value of notNumbers) {
        expect(() => loop.callLater(value as number, () => {})).toThrow(TypeError);
        expect(() => loop.callLater(value as number, () => {})).toThrow(/^delay must be a number of seconds, not /);
      }
      expect(() => loop.callLater(NaN, () => {})).toThrow(RangeError);
      expect(() => loop.callLater(NaN, () => {})).toThrow(/delay must be a number of seconds, not NaN/);
      expect(loop.scheduledTimerCount).toBe(0);
    } finally {
      loop.close();
    }
  });

  it('callAt names when', () => {
    const loop = newEventLoop();
    try {
      for (const value of notNumbers) {
        expect(() => loop.callAt(value as number, () => {})).toThrow(TypeError);
        expect(() => loop.callAt(value as number, () => {})).toThrow(/^when must be a number of seconds/);
      }
      expect(() => loop.callAt(NaN, () => {})).toThrow(RangeError);
      expect(loop.scheduledTimerCount).toBe(0);
    } finally {
      loop.close();
    }
  });

  it('sleep names delay (checked before it looks for a running loop)', async () => {
    for (const value of notNumbers) {
      await expect(sleep(value as number)).rejects.toThrow(TypeError);
      await expect(sleep(value as number)).rejects.toThrow(/^delay must be a number/);
    }
    await expect(sleep(NaN)).rejects.toThrow(RangeError);
  });

  it('waitFor names timeout (null and undefined mean no limit)', async () => {
    for (const value of [NaN, '1', {}, true]) {
      await expect(waitFor(Promise.resolve(1), value as number)).rejects.toThrow(/^timeout must be a number/);
    }
  });
});

describe("a closed loop raises 'Event loop is closed'", () => {
  function closedLoop(): EventLoop {
    const loop = newEventLoop();
    loop.close();
    return loop;
  }

  const calls: [string, (loop: EventLoop) => unknown][] = [
    ['callSoon', (loop) => loop.callSoon(() => {})],
    ['callSoonThreadsafe', (loop) => loop.callSoonThreadsafe(() => {})],
    ['callLater', (loop) => loop.callLater(0, () => {})],
    ['callAt', (loop) => loop.callAt(0, () => {})],
    ['createFuture', (loop) => loop.createFuture()],
    ['createTask (function)', (loop) => loop.createTask(async () => 1)],
    ['createTask (promise)', (loop) => loop.createTask(Promise.resolve(1))],
    ['addReader', (loop) => loop.addReader(0, () => {})],
    ['addWriter', (loop) => loop.addWriter(1, () => {})],
  ];
  for (const [name, call] of calls) {
    it(name, () => {
      const loop = closedLoop();
      expect(() => call(loop)).toThrow(/^Event loop is closed$/);
    });
  }

  it('runForever and runUntilComplete reject', async () => {
    const loop = closedLoop();
    await expect(loop.runForever()).rejects.toThrow(/^Event loop is closed$/);
    await expect(loop.runUntilComplete(Promise.resolve(1))).rejects.toThrow(/^Event loop is closed$/);
    await expect(loop.runUntilComplete(async () => 1)).rejects.toThrow(/^Event loop is closed$/);
    expect(loop.isRunning()).toBe(false);
  });

  it('a future of a closed loop cannot deliver its done callbacks', () => {
    const loop = newEventLoop();
    const future = loop.createFuture<number>();
    future.addDoneCallback(() => {});
    loop.close();
    expect(() => future.setResult(1)).toThrow(/^Event loop is closed$/);
  });

  it('removeReader, removeWriter, stop and close do not throw', () => {
    const loop = closedLoop();
    expect(loop.removeReader(0)).toBe(false);
    expect(loop.removeWriter(0)).toBe(false);
    expect(() => loop.stop()).not.toThrow();
    expect(() => loop.close()).not.toThrow();
    expect(loop.isClosed()).toBe(true);
  });

  it('a loop closed after running also refuses', async () => {
    const loop = newEventLoop();
    loop.callSoon(() => loop.stop());
    await runForever(loop);
    loop.close();
    expect(() => loop.callSoon(() => {})).toThrow(/^Event loop is closed$/);
    await expect(loop.runForever()).rejects.toThrow(/^Event loop is closed$/);
  });
});

describe('running loops', () => {
  it("running a loop twice raises 'This event loop is already running'", async () => {
    await withLoop(async (loop) => {
      const errors: unknown[] = [];
      const first = runForever(loop);
      await expect(loop.runForever()).rejects.toThrow(/^This event loop is already running$/);
      await expect(loop.runUntilComplete(Promise.resolve(1))).rejects.toThrow(/^This event loop is already running$/);
      loop.callSoon(() => {
        // From inside its own callback, too.
        loop.runForever().catch((error: unknown) => errors.push(error));
        loop.runUntilComplete(async () => 1).catch((error: unknown) => errors.push(error));
        loop.stop();
      });
      await first;
      await new Promise((resolve) => setImmediate(resolve));
      expect(errors).toHaveLength(2);
      for (const error of errors) expect(error).toMatchObject({ message: 'This event loop is already running' });
      // The refused calls did not break the loop: it stopped once and can run again.
      expect(loop.isRunning()).toBe(false);
      loop.callSoon(() => loop.stop());
      await runForever(loop);
    });
  });

  it("running a second loop while one runs raises 'Cannot run the event loop while another loop is running'", async () => {
    await withLoop(async (loop) => {
      await withLoop(async (other) => {
        const running = runForever(loop);
        await expect(other.runForever()).rejects.toThrow(/^Cannot run the event loop while another loop is running$/);
        await expect(other.runUntilComplete(other.createFuture())).rejects.toThrow(
          /^Cannot run the event loop while another loop is running$/,
        );
        loop.stop();
        await running;
        // Once the first one stopped, the other may run.
        other.callSoon(() => other.stop());
        await runForever(other);
      });
    });
  });

  it('close() of a running loop throws and leaves it running', async () => {
    await withLoop(async (loop) => {
      const running = runForever(loop);
      expect(() => loop.close()).toThrow(/^Cannot close a running event loop$/);
      expect(loop.isClosed()).toBe(false);
      expect(loop.isRunning()).toBe(true);
      let ran = false;
      loop.callSoon(() => {
        ran = true;
        loop.stop();
      });
      await running;
      expect(ran).toBe(true);
    });
  });

  it('runUntilComplete refuses a future of another loop', async () => {
    await withLoop(async (loop) => {
      await withLoop(async (other) => {
        await expect(loop.runUntilComplete(other.createFuture())).rejects.toThrow(/different loop/);
        expect(loop.isRunning()).toBe(false);
      });
    });
  });
});

describe('setExceptionHandler', () => {
  it('refuses a non-function with a TypeError', () => {
    const loop = newEventLoop();
    try {
      for (const value of [42, 'handler', {}, undefined]) {
        expect(() => loop.setExceptionHandler(value as any)).toThrow(TypeError);
        expect(() => loop.setExceptionHandler(value as any)).toThrow(/A callable object or None is expected/);
      }
      expect(loop.getExceptionHandler()).toBe(null);
    } finally {
      loop.close();
    }
  });
});

describe('run() bad input', () => {
  it('refuses a main that is neither an async function nor a promise', async () => {
    for (const value of [42, 'main', null, undefined, {}]) {
      await expect(run(value as any)).rejects.toThrow(TypeError);
      await expect(run(value as any)).rejects.toThrow(/^main must be an async function or a promise$/);
    }
  });

  it('refuses a bad loopFactory', async () => {
    await expect(run(async () => 1, { loopFactory: 42 as any })).rejects.toThrow(/^options\.loopFactory must be a function$/);
    await expect(run(async () => 1, { loopFactory: (() => ({})) as any })).rejects.toThrow(
      /^options\.loopFactory must return an EventLoop$/,
    );
  });

  it('refuses to run inside a running loop', async () => {
    const inner = await run(async () => {
      const nested = run(async () => 1);
      await expect(nested).rejects.toThrow(/^run\(\) cannot be called from a running event loop$/);
      return 'outer done';
    });
    expect(inner).toBe('outer done');
  });

  it('ensureFuture refuses what is not awaitable', () => {
    const loop = newEventLoop();
    try {
      for (const value of [42, 'x', null, {}]) {
        expect(() => ensureFuture(value as any, loop)).toThrow(TypeError);
      }
    } finally {
      loop.close();
    }
  });

  it('createTask refuses what is neither a function nor a promise', () => {
    const loop = newEventLoop();
    try {
      for (const value of [42, 'x', null, {}]) {
        expect(() => loop.createTask(value as any)).toThrow(/^fnOrPromise must be an async function or a promise$/);
      }
      expect(loop.allTasks().size).toBe(0);
    } finally {
      loop.close();
    }
  });
});

describe('fd watchers refuse bad fds', () => {
  it('non-integer fds are TypeErrors, negative or too large ones RangeErrors', () => {
    const loop = newEventLoop();
    try {
      for (const method of ['addReader', 'addWriter'] as const) {
        for (const value of ['3', 1.5, NaN, null, undefined, {}]) {
          expect(() => loop[method](value as number, () => {})).toThrow(TypeError);
          expect(() => loop[method](value as number, () => {})).toThrow(/^fd must be an integer file descriptor/);
        }
        for (const value of [-1, -100, 2 ** 31, Infinity]) {
          const expected = value === Infinity ? TypeError : RangeError;
          expect(() => loop[method](value, () => {})).toThrow(expected);
        }
        expect(() => loop[method](-1, () => {})).toThrow(/^fd must be >= 0, got -1$/);
      }
      for (const method of ['removeReader', 'removeWriter'] as const) {
        expect(() => loop[method]('3' as any)).toThrow(TypeError);
        expect(() => loop[method](-1)).toThrow(RangeError);
      }
    } finally {
      loop.close();
    }
  });

  // Guards a fixed bug: epoll.zig once decoded raw syscall results as libc ones, so epoll_ctl
  // failures read as success.
  it("an fd epoll refuses (a regular file) throws EPERM from epoll_ctl, and stays unregistered", () => {
    const loop = newEventLoop();
    const fd = openSync(fileURLToPath(import.meta.url), 'r');
    try {
      let caught: any;
      try {
        loop.addReader(fd, () => {});
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(Error);
      expect(caught).toMatchObject({ code: 'EPERM', errno: -1, syscall: 'epoll_ctl' });
      expect(String(caught.message)).toMatch(/epoll_ctl EPERM/);
      expect(loop.removeReader(fd)).toBe(false);
      expect(() => loop.addWriter(fd, () => {})).toThrow(/EPERM/);
      expect(loop.removeWriter(fd)).toBe(false);
    } finally {
      closeSync(fd);
      loop.close();
    }
  });

  it('an fd that is not open throws EBADF', () => {
    const loop = newEventLoop();
    try {
      expect(() => loop.addReader(0x7ffffff0, () => {})).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'epoll_ctl' }));
      expect(loop.removeReader(0x7ffffff0)).toBe(false);
    } finally {
      loop.close();
    }
  });
});

describe('ports: one check everywhere', () => {
  it("a string of digits is a port for TCP and UDP alike; out of range is a RangeError ERR_SOCKET_BAD_PORT", async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const [transport] = await loop.createDatagramEndpoint(() => new DatagramProtocol(), { localAddr: ['127.0.0.1', '0' as never] });
      const port = (transport.getExtraInfo('sockname') as [string, number])[1];
      const [client] = await loop.createDatagramEndpoint(() => new DatagramProtocol(), { remoteAddr: ['127.0.0.1', String(port) as never] });
      expect(client.getExtraInfo('peername')).toEqual(['127.0.0.1', port]);
      client.close();
      transport.close();
      for (const bad of [70000, -1]) {
        await expect(loop.createConnection(() => new Protocol(), '127.0.0.1', bad)).rejects.toMatchObject({ name: 'RangeError', code: 'ERR_SOCKET_BAD_PORT' });
        await expect(loop.createDatagramEndpoint(() => new DatagramProtocol(), { localAddr: ['127.0.0.1', bad] })).rejects.toMatchObject({
          name: 'RangeError',
          code: 'ERR_SOCKET_BAD_PORT',
        });
      }
      await expect(loop.createServer(() => new Protocol(), '127.0.0.1', 'http' as never)).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    });
  });
});
