// Errors from callbacks go to the exception handler and the loop goes on; debug mode.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { newEventLoop, type EventLoop, type ExceptionContext } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { busyWait, runForever, withLoop } from './helpers/loops.js';

trackLeaks();

afterEach(() => {
  vi.restoreAllMocks();
});

function silenceConsole(method: 'error' | 'warn') {
  return vi.spyOn(console, method).mockImplementation(() => {});
}

describe('an exception in a callback', () => {
  it("goes to the handler with asyncio's message, and the loop keeps running", async () => {
    await withLoop(async (loop) => {
      const calls: [EventLoop, ExceptionContext][] = [];
      loop.setExceptionHandler((handlerLoop, context) => calls.push([handlerLoop, context]));
      const error = new Error('callback failed');
      const order: string[] = [];
      const handle = loop.callSoon(function failing() {
        order.push('failing');
        throw error;
      });
      loop.callSoon(() => order.push('same iteration'));
      loop.callLater(0.001, () => {
        throw 'a string';
      });
      loop.callLater(0.005, () => {
        order.push('later timer');
        loop.stop();
      });
      await runForever(loop);
      expect(order).toEqual(['failing', 'same iteration', 'later timer']);
      expect(calls).toHaveLength(2);
      expect(calls[0]![0]).toBe(loop);
      expect(calls[0]![1]).toMatchObject({ message: 'Exception in callback failing()', exception: error, handle });
      expect(calls[1]![1].message).toMatch(/^Exception in callback /);
      expect(calls[1]![1].exception).toBe('a string');
    });
  });

  it('in a timer or a done callback reaches the same handler', async () => {
    await withLoop(async (loop) => {
      const messages: string[] = [];
      loop.setExceptionHandler((_loop, context) => messages.push(String(context.message)));
      const future = loop.createFuture();
      future.addDoneCallback(function onDone() {
        throw new Error('done callback');
      });
      loop.callLater(0, function timerCallback() {
        throw new Error('timer');
      });
      future.setResult(1);
      loop.callLater(0.002, () => loop.stop());
      await runForever(loop);
      expect(messages.sort()).toEqual(['Exception in callback onDone()', 'Exception in callback timerCallback()']);
    });
  });

  it('goes to the default handler, which logs with console.error, when none is set', async () => {
    const error = silenceConsole('error');
    await withLoop(async (loop) => {
      expect(loop.getExceptionHandler()).toBe(null);
      loop.callSoon(function broken() {
        throw new TypeError('logged');
      });
      loop.callSoon(() => loop.stop());
      await runForever(loop);
    });
    expect(error).toHaveBeenCalledTimes(1);
    const text = String(error.mock.calls[0]![0]);
    expect(text).toMatch(/^Exception in callback broken\(\)/);
    expect(text).toMatch(/TypeError: logged/);
    expect(text).toMatch(/handle: <Handle/);
  });

  it('that the custom handler itself throws falls back to the default handler', async () => {
    const error = silenceConsole('error');
    await withLoop(async (loop) => {
      const handlerError = new Error('handler broke');
      let handlerCalls = 0;
      loop.setExceptionHandler(() => {
        handlerCalls++;
        throw handlerError;
      });
      let after = false;
      loop.callSoon(() => {
        throw new Error('original');
      });
      loop.callSoon(() => {
        after = true;
        loop.stop();
      });
      await runForever(loop);
      expect(handlerCalls).toBe(1);
      expect(after).toBe(true);
    });
    expect(error).toHaveBeenCalledTimes(1);
    const text = String(error.mock.calls[0]![0]);
    expect(text).toMatch(/^Unhandled error in exception handler/);
    expect(text).toMatch(/handler broke/);
  });
});

describe('exception handler API', () => {
  it('setExceptionHandler/getExceptionHandler set, read and reset the handler', () => {
    const loop = newEventLoop();
    try {
      const handler = (): void => {};
      loop.setExceptionHandler(handler);
      expect(loop.getExceptionHandler()).toBe(handler);
      loop.setExceptionHandler(null);
      expect(loop.getExceptionHandler()).toBe(null);
    } finally {
      loop.close();
    }
  });

  it('callExceptionHandler calls the custom handler with the loop and the context as given', () => {
    const loop = newEventLoop();
    try {
      const seen: unknown[][] = [];
      loop.setExceptionHandler((...args) => seen.push(args));
      const context = { message: 'custom', exception: new Error('x'), extra: 1 };
      loop.callExceptionHandler(context);
      expect(seen).toEqual([[loop, context]]);
      expect(seen[0]![1]).toBe(context);
    } finally {
      loop.close();
    }
  });

  it('callExceptionHandler without a handler uses the default one and never throws', () => {
    const error = silenceConsole('error');
    const loop = newEventLoop();
    try {
      loop.callExceptionHandler({ message: 'no handler set', detail: 'abc' });
      expect(error).toHaveBeenCalledTimes(1);
      expect(String(error.mock.calls[0]![0])).toMatch(/^no handler set\ndetail: abc$/);
    } finally {
      loop.close();
    }
  });

  it('defaultExceptionHandler logs message, other keys and the stack with console.error', () => {
    const error = silenceConsole('error');
    const loop = newEventLoop();
    try {
      const custom: unknown[] = [];
      loop.setExceptionHandler((_loop, context) => custom.push(context));
      const exception = new RangeError('boom');
      loop.defaultExceptionHandler({ message: 'something failed', exception, where: 'here' });
      expect(custom).toEqual([]); // the default handler ignores the custom one
      expect(error).toHaveBeenCalledTimes(1);
      const text = String(error.mock.calls[0]![0]);
      expect(text).toMatch(/^something failed\n/);
      expect(text).toMatch(/\nwhere: here\n/);
      expect(text).toMatch(/RangeError: boom\n\s+at /);
      loop.defaultExceptionHandler({});
      expect(String(error.mock.calls[1]![0])).toBe('Unhandled exception in event loop');
      loop.defaultExceptionHandler({ exception: 42 });
      expect(String(error.mock.calls[2]![0])).toBe('Unhandled exception in event loop\n42');
    } finally {
      loop.close();
    }
  });
});

describe('debug mode', () => {
  it('setDebug/getDebug, off by default; slowCallbackDuration defaults to 0.1 s', () => {
    const loop = newEventLoop();
    try {
      expect(loop.getDebug()).toBe(false);
      expect(loop.slowCallbackDuration).toBe(0.1);
      loop.setDebug(true);
      expect(loop.getDebug()).toBe(true);
      loop.setDebug(false);
      expect(loop.getDebug()).toBe(false);
    } finally {
      loop.close();
    }
  });

  async function runSlowCallback(debug: boolean): Promise<ReturnType<typeof silenceConsole>> {
    const warn = silenceConsole('warn');
    await withLoop(async (loop) => {
      loop.setDebug(debug);
      loop.slowCallbackDuration = 0.01;
      loop.callSoon(function slowCallback() {
        busyWait(30);
      });
      loop.callSoon(function quickCallback() {});
      loop.callLater(0.001, function slowTimer() {
        busyWait(30);
        loop.stop();
      });
      await runForever(loop);
    });
    return warn;
  }

  it('warns with console.warn about callbacks slower than slowCallbackDuration', async () => {
    const warn = await runSlowCallback(true);
    const texts = warn.mock.calls.map((call) => String(call[0]));
    expect(texts).toHaveLength(2);
    expect(texts[0]).toMatch(/^Executing <Handle slowCallback\(\)> took \d+\.\d{3} seconds$/);
    expect(texts[1]).toMatch(/^Executing <TimerHandle slowTimer\(\)> took \d+\.\d{3} seconds$/);
  });

  it('does not warn when debug mode is off', async () => {
    const warn = await runSlowCallback(false);
    expect(warn).not.toHaveBeenCalled();
  });

  it('still routes exceptions to the handler in debug mode', async () => {
    await withLoop(async (loop) => {
      loop.setDebug(true);
      const messages: unknown[] = [];
      loop.setExceptionHandler((_loop, context) => messages.push(context.message));
      loop.callSoon(function thrower() {
        throw new Error('debug');
      });
      loop.callSoon(() => loop.stop());
      await runForever(loop);
      expect(messages).toEqual(['Exception in callback thrower()']);
    });
  });
});
