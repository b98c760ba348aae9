// createShardedServer: the supervisor. It starts one worker thread per shard (workers/shard.ts),
// each with its own loop and its own SO_REUSEPORT listener on the same address, talks to them
// over comlink, restarts a shard that crashes, and closes them all gracefully.
import { type Remote, releaseProxy, wrap } from 'comlink';
import { EventEmitter } from 'node:events';
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isAbsolute, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { nodeEndpoint } from '../threads/endpoints.js';
import { installErrorTransfer } from '../threads/error-transfer.js';
import type { Balance, ShardControl, ShardStats, ShardWorkerData } from './shard-protocol.js';
import { LoopRef } from '../threads/threadsafe.js';
import { argRangeError, argTypeError, argValueError } from '../core/validate.js';

export type ShardedServerOptions = {
  workers?: number;
  host?: string;
  port?: number;
  backlog?: number;
  /** Restart a shard that crashes (with backoff); default true. */
  restart?: boolean;
  /** Seconds close() waits for open connections before aborting them; default 10. */
  shutdownTimeout?: number;
  /** 'kernel': every shard listens (SO_REUSEPORT); 'roundrobin': shard 0 accepts and hands out. */
  balance?: Balance;
  reuseAddress?: boolean;
  keepAlive?: boolean;
};

type ResolvedOptions = Required<Pick<ShardedServerOptions, 'host' | 'backlog' | 'restart' | 'shutdownTimeout' | 'balance'>> &
  ShardedServerOptions;

export type ShardState = 'starting' | 'serving' | 'restarting' | 'closing' | 'closed';

export type ShardInfo = {
  readonly id: number;
  readonly threadId: number;
  readonly state: ShardState;
  /** The shard's loop, for ref.callSoonThreadsafe(name, ...args). */
  readonly ref: LoopRef | null;
};

export type ShardedStats = ShardStats & { restarts: number };

// Errors thrown in a shard arrive whole (class, code, errno, syscall, address, port).
installErrorTransfer();

const WORKER_ENTRY = fileURLToPath(new URL('../../workers/shard.js', import.meta.url));
const RESTART_DELAY_MIN = 0.1;
const RESTART_DELAY_MAX = 5;
/** A shard that served this long before crashing restarts with the shortest delay again. */
const STABLE_AFTER_SECONDS = 10;

class Shard implements ShardInfo {
  worker: Worker | null = null;
  control: Remote<ShardControl> | null = null;
  /** Rejects when the worker exits or fails: bounds every control call to this worker. */
  exited: Promise<never> | null = null;
  ref: LoopRef | null = null;
  state: ShardState = 'starting';
  restarts = 0;
  consecutiveCrashes = 0;
  startedAt = 0;
  /** Set while we stop the worker on purpose, so its exit is not taken for a crash. */
  stopping = false;

  constructor(readonly id: number) {}

  get threadId(): number {
    return this.worker?.threadId ?? -1;
  }
}

/**
 * The running sharded server. Events: 'exit' (shard id, exit code or error) when a shard's
 * worker ends unexpectedly, 'restart' (shard id) once it serves again, 'error' (error) when a
 * restart failed; it is retried with backoff whether or not anyone listens for 'error'.
 */
export class ShardedServer extends EventEmitter {
  readonly #handler: string;
  readonly #options: ResolvedOptions;
  readonly #shards: Shard[];
  #port = 0;
  /** The host shard 0 reports it bound (an app module chooses its own); null before start. */
  #host: string | null = null;
  #closing: Promise<void> | null = null;
  #restartTimers = new Set<NodeJS.Timeout>();

  /** @internal Use createShardedServer(). */
  constructor(handler: string, workers: number, options: ResolvedOptions) {
    super();
    this.#handler = handler;
    this.#options = options;
    this.#shards = Array.from({ length: workers }, (_, id) => new Shard(id));
  }

  /** Where the shards listen: the host and port an app module's listen() chose, for an app. */
  get address(): { host: string; port: number } {
    return { host: this.#host ?? this.#options.host, port: this.#port };
  }

  get shards(): ShardInfo[] {
    return this.#shards.map((shard) => ({ id: shard.id, threadId: shard.threadId, state: shard.state, ref: shard.ref }));
  }

  /** Per shard: connections open, accepted, bytes in and out, restarts. */
  async stats(): Promise<ShardedStats[]> {
    return Promise.all(
      this.#shards.map(async (shard) => {
        const base = shard.state === 'serving' ? await this.#call(shard, (control) => control.stats()).catch(() => null) : null;
        return { ...(base ?? { id: shard.id, connectionsOpen: 0, accepted: 0, bytesIn: 0, bytesOut: 0 }), restarts: shard.restarts };
      }),
    );
  }

  /**
   * Stops accepting on every shard before any listener closes (closing one SO_REUSEPORT
   * listener resets what is queued on it), closes the listeners, lets open connections finish
   * for up to `timeout` seconds, aborts the rest, and ends the workers.
   */
  close(options: { timeout?: number } = {}): Promise<void> {
    const timeout = options.timeout ?? this.#options.shutdownTimeout;
    if (typeof timeout !== 'number' || !(timeout >= 0)) throw argRangeError('options.timeout must be a number of seconds >= 0');
    this.#closing ??= this.#closeAll(timeout);
    return this.#closing;
  }

  /** `await using server = await createShardedServer(...)`: a graceful close(). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Resolves once close() has finished. */
  async waitClosed(): Promise<void> {
    await new Promise<void>((resolveWhenClosing) => {
      if (this.#closing !== null) resolveWhenClosing();
      else this.once('closing', () => resolveWhenClosing());
    });
    await this.#closing;
  }

  /** @internal Starts every shard; the first picks the port when it is 0. */
  async _start(port: number): Promise<void> {
    this.#port = port;
    try {
      // Load the handler everywhere first, so a bad module fails here, once. Every start is
      // let finish before any worker is terminated: terminating a worker mid-import leaks the
      // files it had open.
      const spawned = await Promise.allSettled(this.#shards.map((shard) => this.#spawn(shard)));
      const failure = spawned.find((outcome) => outcome.status === 'rejected');
      if (failure !== undefined) throw (failure as PromiseRejectedResult).reason;
      const peers = this.#peerBuffers();
      const first = this.#shards[0]!;
      ({ host: this.#host, port: this.#port } = await this.#call(first, (control) => control.start(peers, this.#port)));
      await Promise.all(this.#shards.slice(1).map((shard) => this.#call(shard, (control) => control.start(peers, this.#port))));
      for (const shard of this.#shards) this.#markServing(shard);
    } catch (error) {
      await this.#terminateAll();
      throw error;
    }
  }

  async #spawn(shard: Shard): Promise<void> {
    const data: ShardWorkerData = {
      id: shard.id,
      shards: this.#shards.length,
      handler: this.#handler,
      host: this.#options.host,
      backlog: this.#options.backlog,
      balance: this.#options.balance,
      serverOptions: { reuseAddress: this.#options.reuseAddress, keepAlive: this.#options.keepAlive },
    };
    const worker = new Worker(WORKER_ENTRY, { workerData: data });
    shard.worker = worker;
    shard.stopping = false;
    shard.control = wrap<ShardControl>(nodeEndpoint(worker));
    const exited = new Promise<never>((_, reject) => {
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`shard ${shard.id} exited with code ${code} while starting`)));
    });
    worker.on('error', (error) => this.#onWorkerGone(shard, worker, error));
    worker.on('exit', (code) => this.#onWorkerGone(shard, worker, code));
    exited.catch(() => {}); // only raced
    shard.exited = exited;
    const buffer = await this.#call(shard, (control) => control.hello());
    shard.ref = LoopRef.from(buffer);
  }

  /** One control call to a shard, settled by its answer or by the worker's end, whichever first. */
  #call<T>(shard: Shard, step: (control: Remote<ShardControl>) => Promise<T>): Promise<T> {
    const { control, exited } = shard;
    if (control === null || exited === null) return Promise.reject(new Error(`shard ${shard.id} is not running`));
    return Promise.race([step(control), exited]);
  }

  #markServing(shard: Shard): void {
    shard.state = 'serving';
    shard.startedAt = Date.now();
  }

  #peerBuffers(): (SharedArrayBuffer | null)[] {
    return this.#shards.map((shard) => shard.ref?.buffer ?? null);
  }

  #onWorkerGone(shard: Shard, worker: Worker, reason: unknown): void {
    if (shard.worker !== worker) return; // an older worker of this shard
    if (shard.stopping || this.#closing !== null) return;
    if (shard.state !== 'serving') return; // a start in progress reports it itself
    shard.state = 'restarting';
    shard.worker = null;
    shard.control?.[releaseProxy]();
    shard.control = null;
    shard.exited = null;
    shard.ref = null;
    worker.terminate().catch(() => {});
    this.emit('exit', shard.id, reason);
    // The others stop handing connections to it (balance: 'roundrobin') until it is back.
    const peers = this.#peerBuffers();
    for (const other of this.#shards) {
      if (other.state === 'serving') this.#call(other, (control) => control.setPeers(peers)).catch(() => {});
    }
    if (!this.#options.restart) {
      shard.state = 'closed';
      return;
    }
    if ((Date.now() - shard.startedAt) / 1000 > STABLE_AFTER_SECONDS) shard.consecutiveCrashes = 0;
    this.#scheduleRestart(shard);
  }

  #scheduleRestart(shard: Shard): void {
    const delay = Math.min(RESTART_DELAY_MAX, RESTART_DELAY_MIN * 2 ** shard.consecutiveCrashes);
    shard.consecutiveCrashes++;
    const timer = setTimeout(() => {
      this.#restartTimers.delete(timer);
      void this.#restart(shard);
    }, delay * 1000);
    this.#restartTimers.add(timer);
  }

  async #restart(shard: Shard): Promise<void> {
    if (this.#closing !== null) return;
    try {
      await this.#spawn(shard);
      await this.#call(shard, (control) => control.start(this.#peerBuffers(), this.#port));
    } catch (error) {
      shard.stopping = true;
      shard.control?.[releaseProxy]();
      shard.control = null;
      shard.exited = null;
      shard.ref = null;
      await shard.worker?.terminate().catch(() => {});
      shard.worker = null;
      if (this.#closing !== null) return;
      // Reported to whoever listens; an 'error' event without a listener would throw here, and a
      // supervisor keeps retrying and serving either way.
      if (this.listenerCount('error') > 0) this.emit('error', error);
      this.#scheduleRestart(shard);
      return;
    }
    shard.restarts++;
    this.#markServing(shard);
    // Everyone else gets the new LoopRef of this shard; a shard that dies meanwhile is its own
    // restart's business.
    const peers = this.#peerBuffers();
    const others = this.#shards.filter((other) => other !== shard && other.state === 'serving');
    await Promise.all(others.map((other) => this.#call(other, (control) => control.setPeers(peers)).catch(() => {})));
    this.emit('restart', shard.id);
  }

  async #closeAll(timeout: number): Promise<void> {
    this.emit('closing');
    for (const timer of this.#restartTimers) clearTimeout(timer);
    this.#restartTimers.clear();
    const live = this.#shards.filter((shard) => shard.state === 'serving' && shard.control !== null);
    for (const shard of live) shard.state = 'closing';
    // A shard that dies during a step settles it (and the later ones) through its exit.
    const each = (step: (control: Remote<ShardControl>) => Promise<unknown>) =>
      Promise.all(live.map((shard) => this.#call(shard, step).catch(() => {})));
    await each((control) => control.pauseAccepting());
    await each((control) => control.closeListener());
    await each((control) => control.drain(timeout));
    await each((control) => control.stop());
    await this.#terminateAll();
  }

  async #terminateAll(): Promise<void> {
    await Promise.all(
      this.#shards.map(async (shard) => {
        shard.stopping = true;
        shard.state = 'closed';
        shard.control?.[releaseProxy]();
        shard.control = null;
        shard.exited = null;
        const worker = shard.worker;
        shard.worker = null;
        if (worker !== null) await worker.terminate();
      }),
    );
  }
}

/**
 * Serves `handler` (a module path, file URL string or URL) on `workers` threads, each with its
 * own loop and listener. The module's default export is a streams handler
 * `(reader, writer, shard) => ...` or `{ protocolFactory(shard) }`; an optional `setup(shard)`
 * export runs once per shard before it accepts.
 */
export async function createShardedServer(handler: string | URL, options: ShardedServerOptions = {}): Promise<ShardedServer> {
  const workers = options.workers ?? availableParallelism();
  if (!Number.isInteger(workers) || workers < 1) throw argRangeError(`options.workers must be an integer >= 1, got ${workers}`);
  // Stricter than checkPort: a shard's port is a number only (a string '80' is refused here).
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw argRangeError(`options.port must be 0..65535, got ${port}`, 'ERR_SOCKET_BAD_PORT');
  const balance = options.balance ?? 'kernel';
  if (balance !== 'kernel' && balance !== 'roundrobin') throw argValueError(`options.balance must be 'kernel' or 'roundrobin', got ${String(balance)}`);
  const server = new ShardedServer(handlerUrl(handler), workers, {
    ...options,
    host: options.host ?? '127.0.0.1',
    backlog: options.backlog ?? 100,
    restart: options.restart ?? true,
    shutdownTimeout: options.shutdownTimeout ?? 10,
    balance,
  });
  await server._start(port);
  return server;
}

function handlerUrl(handler: string | URL): string {
  if (handler instanceof URL) return handler.href;
  if (typeof handler !== 'string' || handler === '') throw argTypeError('handler must be a module path, file URL string or URL');
  if (handler.startsWith('file:')) return handler;
  return pathToFileURL(isAbsolute(handler) ? handler : resolve(handler)).href;
}
