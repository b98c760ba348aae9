// The native create() error path: a reactor whose creation fails after its uv handle exists
// releases its epoll, eventfd and timerfd exactly once. Closing them twice would close whatever
// this (or another) thread opened in between under the same numbers.
import { closeSync, fstatSync, openSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { newEventLoop } from 'zloop';
import { addon, fdCount, reactorsOpen, settle, trackLeaks } from './helpers/leaks.js';

trackLeaks();

describe('a reactor whose creation fails', () => {
  it('closes its fds once: files opened right after keep their fds', async () => {
    const before = fdCount();
    addon.testFailNextCreate();
    expect(() => newEventLoop()).toThrow(/testFailNextCreate/);
    // Take the lowest free numbers now, as any code running next would.
    const files = Array.from({ length: 4 }, () => openSync('/dev/null', 'r'));
    expect(await settle(() => reactorsOpen() === 0)).toBe(true);
    for (const fd of files) expect(() => fstatSync(fd)).not.toThrow();
    for (const fd of files) closeSync(fd);
    expect(fdCount()).toBe(before);
    // The next create works as usual.
    newEventLoop().close();
  });
});
