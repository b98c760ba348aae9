// What the supervisor (sharded.ts) and a shard worker (workers/shard.ts) say to each other over
// comlink. Kept in one place so both sides agree.

export type Balance = 'kernel' | 'roundrobin';

/** workerData of a shard. */
export type ShardWorkerData = {
  id: number;
  /** The handler module, as a file URL string. */
  handler: string;
  host: string;
  backlog: number;
  balance: Balance;
  /** createServer options passed through (reuseAddress, keepAlive, ...). */
  serverOptions: Record<string, unknown>;
};

export type ShardStats = {
  id: number;
  connectionsOpen: number;
  accepted: number;
  bytesIn: number;
  bytesOut: number;
};

/** The shard's side, exposed with comlink. */
export interface ShardControl {
  /** Loads the handler module; returns the mailbox of the shard's loop. Rejects if loading fails. */
  hello(): Promise<SharedArrayBuffer>;
  /** Runs setup(shard) and starts serving on `port` (0: pick one); returns the bound port. */
  start(peers: (SharedArrayBuffer | null)[], port: number): Promise<number>;
  /** Replaces the LoopRefs of the other shards (after one restarted). */
  setPeers(peers: (SharedArrayBuffer | null)[]): void;
  stats(): ShardStats;
  /** Graceful close, step one: stop accepting, keep the listener open. */
  pauseAccepting(): void;
  /** Step two: close the listener. */
  closeListener(): void;
  /** Step three: wait for open connections up to `timeout` seconds, then abort the rest. */
  drain(timeout: number): Promise<void>;
  /** Step four: stop and close the loop. */
  stop(): Promise<void>;
}

/** The name a shard registers for connections handed to it (balance: 'roundrobin'). */
export const ADOPT_CONNECTION = 'zloop.shard.adoptConnection';
