// What the supervisor (sharded.ts) and a shard worker (workers/shard.ts) say to each other over
// comlink. Kept in one place so both sides agree.

/** Where a shard listens. */
export type BoundAddress = { host: string; port: number };

export type Balance = 'kernel' | 'roundrobin';

/** workerData of a shard. */
export type ShardWorkerData = {
  id: number;
  /** How many shards the server has (round-robin counts them all, running or not). */
  shards: number;
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
  /**
   * Runs setup(shard) and starts serving on `port` (0: pick one); returns the address bound (an
   * app module's own host, which may not be the configured one).
   */
  start(peers: (SharedArrayBuffer | null)[], port: number): Promise<BoundAddress>;
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

/**
 * balance: 'roundrobin' hand-off, between the accepting shard (the sender) and another (the
 * receiver). The sender detaches an accepted fd from its reactor but keeps it open, remembers it,
 * and calls ADOPT_CONNECTION(fd, senderId) on the receiver. The receiver serves a duplicate of
 * it and answers CONNECTION_ADOPTED(fd), or CONNECTION_REFUSED(fd) if it cannot serve it. Only
 * then does the sender close its fd (adopted) or serve it itself (refused); a receiver that
 * dies before answering is noticed through setPeers(), and the sender serves those fds too.
 * The fd number stays open until the sender lets it go, so no shard can pick up a reused number.
 */
export const ADOPT_CONNECTION = 'zloop.shard.adoptConnection';
export const CONNECTION_ADOPTED = 'zloop.shard.connectionAdopted';
export const CONNECTION_REFUSED = 'zloop.shard.connectionRefused';
