// Leak checks at teardown, as uvloop's _testbase.py counts handles: every suite calls
// trackLeaks() once at top level. It records a baseline before the suite, then checks that
// every test closed its loops (the addon's reactorsOpen() is back to 0) and that the suite as
// a whole left no fd, timer or handle behind.
import { readdirSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';

// The same addon the package loaded (src/native.ts picks it the same way).
export const addon = createRequire(import.meta.url)(process.env.ZLOOP_ADDON_BUILD === 'safe' ? '../../build/safe/zloop.node' : '../../build/zloop.node') as {
  reactorsOpen(): number;
  testFailNextCreate(): void;
  /** The next setReading() on this thread returns -errno instead of changing the watch. */
  testFailNextSetReading(errno: number): void;
  /** 1 if the option is on: name 1 SO_BROADCAST, 2 SO_REUSEPORT, 3 TCP_NODELAY, 4 SO_KEEPALIVE. */
  socketFlag(fd: number, name: 1 | 2 | 3 | 4): number;
};

/** Reactors of this thread whose uv handle and fds are not yet released. */
export function reactorsOpen(): number {
  return addon.reactorsOpen();
}

/** Open fds of this process (a worker thread shares them with the whole process). */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** What each open fd is ('socket:[123]', 'anon_inode:[eventpoll]', a path), by fd number. */
export function fdTargets(): Map<string, string> {
  const targets = new Map<string, string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      targets.set(fd, readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // Closed between the listing and the readlink (the listing's own directory fd, for one).
    }
  }
  return targets;
}

/** Counts of process.getActiveResourcesInfo() by kind ('Timeout', 'TCPWrap', ...). */
export function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Waits, a bounded number of libuv turns, until `condition()` holds; returns its last value.
 * uv_close callbacks run in the close phase, after setImmediate callbacks, so a closed loop
 * releases its reactor one or two turns after close().
 */
export async function settle(condition: () => boolean, turns = 200): Promise<boolean> {
  for (let turn = 0; turn < turns; turn++) {
    if (condition()) return true;
    await (turn < 20 ? nextTurn() : new Promise((resolve) => setTimeout(resolve, 5)));
  }
  return condition();
}

export async function expectNoOpenReactors(): Promise<void> {
  await settle(() => reactorsOpen() === 0);
  expect(reactorsOpen(), 'reactors left open: a test did not close its loop').toBe(0);
}

export type LeakOptions = {
  /** Extra fds the suite may leave open (none by default). */
  fdSlack?: number;
};

export function trackLeaks(options: LeakOptions = {}): void {
  let fdsBefore = 0;
  let targetsBefore = new Map<string, string>();
  let resourcesBefore = new Map<string, number>();

  beforeAll(async () => {
    await expectNoOpenReactors();
    // vitest's runner keeps one ref'd timer of its own for up to 100 ms after a task update
    // (its throttled reporter); let it fire so the baseline holds no transient timer.
    await settle(() => !activeResources().has('Timeout'), 100);
    fdsBefore = fdCount();
    targetsBefore = fdTargets();
    resourcesBefore = activeResources();
  });

  afterEach(async () => {
    await expectNoOpenReactors();
  });

  afterAll(async () => {
    await expectNoOpenReactors();
    const fdsAllowed = fdsBefore + (options.fdSlack ?? 0);
    // Up to ~10 s: worker threads (piscina's, the shards') release their fds only once they have
    // exited, which takes longer while other suites load the machine. A real leak stays.
    await settle(() => fdCount() <= fdsAllowed && resourcesGrown(resourcesBefore).length === 0, 2000);
    const leaks = resourcesGrown(resourcesBefore);
    if (fdCount() > fdsAllowed) leaks.push(`fds: ${fdsBefore} -> ${fdCount()}`, ...fdsGrown(targetsBefore));
    expect(leaks, 'fds, timers or handles left by the suite').toEqual([]);
  });
}

/** The fds open now that were not open (or were something else) at the baseline, with what they are. */
function fdsGrown(before: Map<string, string>): string[] {
  const grown: string[] = [];
  for (const [fd, target] of fdTargets()) if (before.get(fd) !== target) grown.push(`fd ${fd}: ${target}`);
  return grown;
}

function resourcesGrown(before: Map<string, number>): string[] {
  const grown: string[] = [];
  for (const [kind, count] of activeResources()) {
    const was = before.get(kind) ?? 0;
    if (count > was) grown.push(`${kind}: ${was} -> ${count}`);
  }
  return grown;
}
