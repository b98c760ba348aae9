// The timer queue against a model: random callLater/callAt timers, cancelled before the loop runs
// or by each other's callbacks (enough of them to make the queue compact mid-run), must fire
// exactly as one sorted list of (when(), scheduling order) says, skipping what was cancelled
// before its turn. No timing assertions: the order is computed from the handles' when().
import { describe, expect, it } from 'vitest';
import { type TimerHandle } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { runForever, withLoop } from './helpers/loops.js';
import { seededRandom } from './helpers/random.js';

trackLeaks();

/** Few distinct delays (many timers per list), or a new delay for nearly every timer. */
type Delays = 'few' | 'random';

async function checkSeed(
  seed: number,
  count: number,
  cancelledBefore: number,
  cancelsFromCallbacks: number,
  delayKind: Delays = 'few',
): Promise<void> {
  await withLoop(async (loop) => {
    const next = seededRandom(seed);
    const fired: number[] = [];
    const timers: TimerHandle[] = [];
    // Who each timer cancels when it runs (-1: nobody); drawn before anything runs.
    const victimOf = Array.from({ length: count }, () => (next() < cancelsFromCallbacks ? Math.floor(next() * count) : -1));
    const base = loop.time();
    // Few distinct delays (many timers per list) or random ones (more delays than the queue keeps
    // lists for, so most go to its heap), and some callAt deadlines between them.
    const delays = [-0.001, 0, 0.0005, 0.001, 0.001, 0.002, 0.003];
    const delay = (): number => (delayKind === 'few' ? delays[Math.floor(next() * delays.length)]! : next() * 0.004 - 0.001);
    for (let index = 0; index < count; index++) {
      const run = (): void => {
        fired.push(index);
        const victim = victimOf[index]!;
        if (victim >= 0) timers[victim]!.cancel();
      };
      timers.push(
        next() < 0.8
          ? loop.callLater(delay(), run)
          : loop.callAt(base + next() * 0.004 - 0.001, run),
      );
    }
    const cancelled = new Set<number>();
    for (let index = 0; index < count; index++) {
      if (next() < cancelledBefore) {
        timers[index]!.cancel();
        cancelled.add(index);
      }
    }
    loop.callLater(0.05, () => loop.stop());
    await runForever(loop);

    const expected: number[] = [];
    const order = timers.map((_, index) => index).sort((a, b) => timers[a]!.when() - timers[b]!.when() || a - b);
    for (const index of order) {
      if (cancelled.has(index)) continue;
      expected.push(index);
      const victim = victimOf[index]!;
      if (victim >= 0) cancelled.add(victim);
    }
    expect(fired).toEqual(expected);
    expect(loop.scheduledTimerCount).toBe(0);
  });
}

describe('timer queue against a sorted model', () => {
  it('few cancellations', async () => {
    for (const seed of [1, 2, 3]) await checkSeed(seed, 2000, 0.05, 0.05);
  });

  it('most timers cancelled up front (the queue compacts before it runs)', async () => {
    for (const seed of [4, 5]) await checkSeed(seed, 2000, 0.7, 0.05);
  });

  it('many cancellations from callbacks (the queue compacts while it runs)', async () => {
    for (const seed of [6, 7]) await checkSeed(seed, 2000, 0.1, 0.9);
  });

  it('more timers of one delay than one list takes (a full list drains beside its successor)', async () => {
    // ~4300-8600 timers per delay: past the queue's 4096-timer lists, with cancellations both ways.
    for (const seed of [10, 11]) await checkSeed(seed, 30000, 0.2, 0.2);
  });

  it('a new delay for nearly every timer, with cancellations both ways', async () => {
    for (const seed of [8, 9]) await checkSeed(seed, 2000, 0.3, 0.5, 'random');
  });
});
