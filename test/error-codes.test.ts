// Argument errors carry Node's `code` (ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE,
// ERR_OUT_OF_RANGE, ERR_SOCKET_BAD_PORT, ERR_UNKNOWN_SIGNAL) at every public edge, with the
// class Node gives that code, and the message names the argument.
import { describe, expect, it } from 'vitest';
import {
  Barrier, createShardedServer, createSubprocessExec, Protocol, Queue, Semaphore,
  sleep, StreamReader, timeout, wait, type EventLoop,
} from 'zloop';
import { Socket } from 'zloop/net';
import { trackLeaks } from './helpers/leaks.js';
import { withLoop } from './helpers/loops.js';

trackLeaks();

type Case = [label: string, call: (loop: EventLoop) => unknown, code: string, kind: typeof TypeError | typeof RangeError, names: RegExp];

const never = null as never;
const cases: Case[] = [
  ['callSoon(42)', (loop) => loop.callSoon(42 as never), 'ERR_INVALID_ARG_TYPE', TypeError, /callback/],
  ['callLater("1", f)', (loop) => loop.callLater('1' as never, () => {}), 'ERR_INVALID_ARG_TYPE', TypeError, /delay/],
  ['callLater(NaN, f)', (loop) => loop.callLater(Number.NaN, () => {}), 'ERR_OUT_OF_RANGE', RangeError, /delay/],
  ['callAt({}, f)', (loop) => loop.callAt({} as never, () => {}), 'ERR_INVALID_ARG_TYPE', TypeError, /when/],
  ['addReader("0", f)', (loop) => loop.addReader('0' as never, () => {}), 'ERR_INVALID_ARG_TYPE', TypeError, /fd/],
  ['addReader(-1, f)', (loop) => loop.addReader(-1, () => {}), 'ERR_OUT_OF_RANGE', RangeError, /fd/],
  ['addSignalHandler("SIGNOPE")', (loop) => loop.addSignalHandler('SIGNOPE' as never, () => {}), 'ERR_UNKNOWN_SIGNAL', RangeError, /sig/],
  ['addSignalHandler({})', (loop) => loop.addSignalHandler({} as never, () => {}), 'ERR_INVALID_ARG_TYPE', TypeError, /sig/],
  ['createConnection port "http"', (loop) => loop.createConnection(() => new Protocol(), '127.0.0.1', 'http' as never), 'ERR_INVALID_ARG_TYPE', TypeError, /port/],
  ['createServer port 70000', (loop) => loop.createServer(() => new Protocol(), '127.0.0.1', 70000), 'ERR_SOCKET_BAD_PORT', RangeError, /port/],
  ['createServer backlog -1', (loop) => loop.createServer(() => new Protocol(), '127.0.0.1', 0, { backlog: -1 }), 'ERR_INVALID_ARG_TYPE', TypeError, /backlog/],
  ['createUnixServer path with NUL', (loop) => loop.createUnixServer(() => new Protocol(), 'a\0b'), 'ERR_INVALID_ARG_VALUE', TypeError, /path/],
  ['createDatagramEndpoint(null options)', (loop) => loop.createDatagramEndpoint(() => never, null as never), 'ERR_INVALID_ARG_TYPE', TypeError, /options/],
  ['runInExecutor bad task', (loop) => loop.runInExecutor(null, 42 as never), 'ERR_INVALID_ARG_TYPE', TypeError, /task/],
  ['createTask(42)', (loop) => loop.createTask(42 as never), 'ERR_INVALID_ARG_TYPE', TypeError, /coro|awaitable|promise|function/i],
  ['new StreamReader({ limit: 0 })', () => new StreamReader({ limit: 0 }), 'ERR_OUT_OF_RANGE', RangeError, /Limit/],
  ['StreamReader.read(1.5)', () => new StreamReader().read(1.5), 'ERR_OUT_OF_RANGE', RangeError, /n/],
  ['new Queue(1.5)', () => new Queue(1.5), 'ERR_INVALID_ARG_TYPE', TypeError, /maxsize/],
  ['new Semaphore(-1)', () => new Semaphore(-1), 'ERR_OUT_OF_RANGE', RangeError, /Semaphore/],
  ['new Barrier(0)', () => new Barrier(0), 'ERR_OUT_OF_RANGE', RangeError, /parties/],
  ['wait([], ...)', () => wait([]), 'ERR_INVALID_ARG_VALUE', RangeError, /empty/],
  ['wait(returnWhen: "SOMETIMES")', () => wait([Promise.resolve(1)], { returnWhen: 'SOMETIMES' as never }), 'ERR_INVALID_ARG_VALUE', RangeError, /returnWhen/],
  ['wait(42)', () => wait(42 as never), 'ERR_INVALID_ARG_TYPE', TypeError, /iterable/],
  ['sleep("1")', () => sleep('1' as never), 'ERR_INVALID_ARG_TYPE', TypeError, /delay/],
  ['timeout("1")', () => timeout('1' as never), 'ERR_INVALID_ARG_TYPE', TypeError, /delay/],
  ['createSubprocessExec(42)', () => createSubprocessExec(42 as never), 'ERR_INVALID_ARG_TYPE', TypeError, /program/],
  ['createSubprocessExec("x", { cwd: 1 })', () => createSubprocessExec('x', { cwd: 1 as never }), 'ERR_INVALID_ARG_TYPE', TypeError, /cwd/],
  ['createShardedServer workers 0', () => createShardedServer('./x.mjs', { workers: 0 }), 'ERR_OUT_OF_RANGE', RangeError, /workers/],
  ['createShardedServer port 70000', () => createShardedServer('./x.mjs', { port: 70000 }), 'ERR_SOCKET_BAD_PORT', RangeError, /port/],
  ['createShardedServer balance "random"', () => createShardedServer('./x.mjs', { balance: 'random' as never }), 'ERR_INVALID_ARG_VALUE', TypeError, /balance/],
  ['zloop/net Socket.setTimeout(-1)', () => new Socket().setTimeout(-1), 'ERR_OUT_OF_RANGE', RangeError, /msecs/],
];

/** The error a call throws, or the one its returned promise rejects with. */
async function failureOf(call: () => unknown): Promise<unknown> {
  try {
    const result = call();
    if (result !== null && typeof result === 'object' && 'then' in result) await result;
  } catch (error) {
    return error;
  }
  throw new Error('the call did not fail');
}

describe('argument errors carry Node codes', () => {
  it.each(cases)('%s', async (_label, call, code, kind, names) => {
    await withLoop(async (loop) => {
      // Inside the running loop: the module-level functions (wait, sleep, subprocesses) need one.
      const error = await loop.runUntilComplete(async () => failureOf(() => call(loop)));
      expect(error).toBeInstanceOf(kind);
      expect((error as { code?: string }).code).toBe(code);
      expect((error as Error).message).toMatch(names);
    });
  });

  it('no message names a snake_case method', async () => {
    await withLoop(async (loop) => {
      for (const [, call] of cases) {
        const error = (await loop.runUntilComplete(async () => failureOf(() => call(loop)))) as Error;
        expect(error.message).not.toMatch(/\b[a-z]+_[a-z_]+\(\)/);
      }
    });
  });
});
