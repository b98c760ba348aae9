// setTaskFactory / getTaskFactory (asyncio's set_task_factory): createTask goes through the factory.
import { describe, expect, it } from 'vitest';
import { type EventLoop, getRunningLoop, run, Task, type TaskTarget } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';

trackLeaks();

class TaggedTask<T> extends Task<T> {
  tag = 'tagged';
}

describe('setTaskFactory', () => {
  it('createTask calls the factory with the loop, the target and the options; null restores Task', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      expect(loop.getTaskFactory()).toBe(null);
      const calls: unknown[][] = [];
      const factory = (owner: EventLoop, target: TaskTarget<unknown>, options: { name?: string }): Task<unknown> => {
        calls.push([owner, options]);
        return new TaggedTask(owner, target, options.name);
      };
      loop.setTaskFactory(factory);
      expect(loop.getTaskFactory()).toBe(factory);
      const task = loop.createTask(async () => 42, { name: 'answer' });
      expect(task).toBeInstanceOf(TaggedTask);
      expect(await task).toBe(42);
      expect(calls).toEqual([[loop, { name: 'answer' }]]);
      loop.setTaskFactory(null);
      const plain = loop.createTask(async () => 1);
      expect(plain).not.toBeInstanceOf(TaggedTask);
      expect(await plain).toBe(1);
      expect(() => loop.setTaskFactory('x' as never)).toThrow(/task factory must be a callable or None/);
    });
  });
});
