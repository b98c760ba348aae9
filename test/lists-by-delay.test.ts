// The timer queue's table of per-delay lists (src/lists-by-delay.ts) against a Map: the same
// answers after any mix of adds and deletes, through growth and long probe runs.
import { describe, expect, it } from 'vitest';
import { trackLeaks } from './helpers/leaks.js';
import { seededRandom } from './helpers/random.js';

trackLeaks();

// An internal module: imported from the build, as the package's own exports would be.
const { ListsByDelay } = await import('../dist/src/core/lists-by-delay.js');
type List = Parameters<InstanceType<typeof ListsByDelay>['add']>[1];

describe('ListsByDelay', () => {
  it('answers as a Map does through 20,000 random adds and deletes', () => {
    const table = new ListsByDelay();
    const model = new Map<number, List>();
    const next = seededRandom(12345);
    // Few distinct delays, some of them neighbours in the double's bits, so probe runs get long.
    const delays = [
      ...Array.from({ length: 300 }, (_, index) => (1 + index / 100) / 1000),
      ...Array.from({ length: 100 }, (_, index) => index),
      0.1 + 0.2,
      0.3,
      Infinity,
      -1,
      1e-9,
    ];
    for (let step = 0; step < 20_000; step++) {
      const delay = delays[Math.floor(next() * delays.length)]!;
      if (model.has(delay)) {
        expect(table.get(delay)).toBe(model.get(delay));
        if (next() < 0.5) {
          table.delete(delay);
          model.delete(delay);
        }
      } else {
        expect(table.get(delay)).toBeUndefined();
        const list = { delay } as unknown as List;
        table.add(delay, list);
        model.set(delay, list);
      }
      if (step % 997 === 0) for (const key of delays) expect(table.get(key)).toBe(model.get(key));
    }
    for (const key of delays) expect(table.get(key)).toBe(model.get(key));
    table.clear();
    for (const key of delays) expect(table.get(key)).toBeUndefined();
  });

  it('finds the list of 0 by -0 and the other way round', () => {
    const table = new ListsByDelay();
    const list = {} as unknown as List;
    table.add(-0, list);
    expect(table.get(0)).toBe(list);
    table.delete(0);
    expect(table.get(-0)).toBeUndefined();
  });
});
