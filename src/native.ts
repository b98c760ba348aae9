// The typed view of the Zig addon (build/zloop.node) and the layout of the memory it shares with
// JS. Keep the constants in sync with native/reactor/reactor.zig.
import { createRequire } from 'node:module';

/** An opaque reference to one native reactor (an N-API external). */
export type ReactorHandle = { readonly __reactor: unique symbol };

export interface NativeAddon {
  create(shared: Int32Array, onBatch: (recordCount: number) => void): ReactorHandle;
  start(reactor: ReactorHandle): void;
  stop(reactor: ReactorHandle): void;
  close(reactor: ReactorHandle): void;
  wake(reactor: ReactorHandle): void;
  armTimer(reactor: ReactorHandle, delayMs: number): void;
  setInterest(reactor: ReactorHandle, fd: number, nextMask: number, previousMask: number): void;
  reactorsOpen(): number;
}

const require = createRequire(import.meta.url);
// dist/src/native.js -> build/zloop.node at the package root.
export const native: NativeAddon = require('../../build/zloop.node');

/** The shared Int32Array: a header, then fixed-size records. */
export const Header = {
  inDispatch: 0,
  workPending: 1,
  timerExpired: 2,
  ints: 4,
} as const;

export const RECORD_INTS = 4;
/** Records per batch; more ready fds wait for the next batch (readiness is level-triggered). */
export const RECORDS_MAX = 256;

export const RecordKind = { fdReady: 1 } as const;

export const ReadyFlag = { readable: 1, writable: 2, hangup: 4 } as const;

export const InterestMask = { readable: 1, writable: 2 } as const;
