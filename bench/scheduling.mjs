// Scheduling and timers: zloop's callSoon and callLater against Node's setImmediate and
// setTimeout. Every zloop run uses a fresh loop (newEventLoop, runForever, stop from the last
// callback) and closes it afterwards; creating and closing the loop is outside the measurement.
import { newEventLoop } from '../dist/src/index.js';

export const name = 'scheduling';
export const title = 'callSoon / callLater against setImmediate / setTimeout';

const CHAIN = 1_000_000;
const BATCH = 1_000_000;
const TIMERS = 100_000;

/** The i-th timer's delay in milliseconds: 1 ms plus a spread of 0 to 0.99 ms over 100 values. */
const delayMs = (index) => 1 + (index % 100) / 100;

/** Runs `body(loop, finish)` on a fresh loop until `finish()` is called, then closes the loop. */
async function withLoop(body) {
  const loop = newEventLoop();
  try {
    body(loop, () => loop.stop());
    await loop.runForever();
  } finally {
    loop.close();
  }
}

/** Runs `body(finish)` and waits until `finish()` is called. */
function withNode(body) {
  return new Promise((resolve) => body(resolve));
}

export const cases = [
  {
    // CHAIN callbacks, each scheduled by the one before, so every step is a loop iteration of its
    // own (asyncio: a callback scheduled while the ready queue runs waits for the next iteration),
    // just as an immediate scheduled from an immediate waits for the next libuv turn.
    // Measured: from scheduling the first callback to the start of the last one.
    name: 'callSoon chain 1e6 vs setImmediate chain',
    ops: CHAIN,
    zloop: (clock) =>
      withLoop((loop, finish) => {
        let left = CHAIN;
        const step = () => {
          if (--left > 0) {
            loop.callSoon(step);
          } else {
            clock.stop();
            finish();
          }
        };
        clock.start();
        loop.callSoon(step);
      }),
    node: (clock) =>
      withNode((finish) => {
        let left = CHAIN;
        const step = () => {
          if (--left > 0) {
            setImmediate(step);
          } else {
            clock.stop();
            finish();
          }
        };
        clock.start();
        setImmediate(step);
      }),
  },
  {
    // BATCH callbacks scheduled in one go from outside any callback, then run.
    // Measured: from the first callSoon / setImmediate to the start of the last callback, so the
    // cost of scheduling (allocating the handles) and of running them are both in.
    name: 'callSoon batch 1e6 vs setImmediate batch',
    ops: BATCH,
    target: 5,
    zloop: (clock) =>
      withLoop((loop, finish) => {
        let ran = 0;
        const callback = () => {
          if (++ran === BATCH) {
            clock.stop();
            finish();
          }
        };
        clock.start();
        for (let index = 0; index < BATCH; index++) loop.callSoon(callback);
      }),
    node: (clock) =>
      withNode((finish) => {
        let ran = 0;
        const callback = () => {
          if (++ran === BATCH) {
            clock.stop();
            finish();
          }
        };
        clock.start();
        for (let index = 0; index < BATCH; index++) setImmediate(callback);
      }),
  },
  {
    // TIMERS timers scheduled in one go from outside any callback, with delays 1.00, 1.01, ...,
    // 1.99 ms (100 distinct deadlines, each shared by 1000 timers), for callLater (in seconds)
    // and setTimeout (in milliseconds; Node keeps the fractional part as the list key).
    // Measured: from the first callLater / setTimeout to the start of the last callback to run,
    // i.e. scheduling cost + waiting for the deadlines + firing cost. The wait is at most ~2 ms
    // from the first scheduling and is usually over before scheduling finishes, so this mostly
    // measures the cost of the timer queue; cpu ns/op shows that cost without the idle wait.
    name: 'callLater 1e5 vs setTimeout, 1-2 ms',
    ops: TIMERS,
    target: 1.5,
    zloop: (clock) =>
      withLoop((loop, finish) => {
        let ran = 0;
        const callback = () => {
          if (++ran === TIMERS) {
            clock.stop();
            finish();
          }
        };
        clock.start();
        for (let index = 0; index < TIMERS; index++) loop.callLater(delayMs(index) / 1000, callback);
      }),
    node: (clock) =>
      withNode((finish) => {
        let ran = 0;
        const callback = () => {
          if (++ran === TIMERS) {
            clock.stop();
            finish();
          }
        };
        clock.start();
        for (let index = 0; index < TIMERS; index++) setTimeout(callback, delayMs(index));
      }),
  },
];
