// A shard that runs an ordinary app module: one that starts its servers (node:http, Express,
// Fastify, ...) when it is imported. zloop/register's listen goes through a policy installed
// here, which holds every listen() until the supervisor says which port the shards share, then
// binds it with SO_REUSEPORT. The first port-0 listen of the app gets the shared port: shard 0
// binds port 0 and reports what the kernel chose, and the others bind that port. (Later port-0
// listens of the same app get a port of their own in each shard.)
//
// The shard can tell an app module from a handler module only by watching the import: a
// module that calls listen() while it loads is an app; one that finishes loading without a
// listen() is a handler module, as before.
import type * as net from 'node:net';
import { type ListenHandle, type ListenOptions, setListenPolicy } from '../node-compat/listen.js';
import type { BoundAddress, ShardStats } from './shard-protocol.js';

type AppServer = net.Server & { _handle: ListenHandle | null; _connections: number };

export class AppShard {
  readonly #servers: AppServer[] = [];
  #accepted = 0;
  /** The server whose listen got the shared port (the port the supervisor reports). */
  #sharedServer: AppServer | null = null;
  #portGate: Promise<number>;
  #openPortGate!: (port: number) => void;
  #listenSeen!: () => void;
  /** Resolves at the app's first listen(). */
  readonly listenRequested: Promise<void>;

  constructor() {
    this.#portGate = new Promise((resolve) => (this.#openPortGate = resolve));
    this.listenRequested = new Promise((resolve) => (this.#listenSeen = resolve));
    setListenPolicy((options, server) => this.#place(options, server as AppServer));
  }

  get isApp(): boolean {
    return this.#servers.length > 0;
  }

  /** Lets the held listens bind: `port` for the first port-0 listen (0 on shard 0: any port). */
  begin(port: number): void {
    this.#openPortGate(port);
  }

  /**
   * Once every server the app started is listening: the shared port (else the first TCP
   * server's port). Rejects with a listen's error.
   */
  async listening(fallbackHost: string): Promise<BoundAddress> {
    await Promise.all(this.#servers.map((server) => (server.listening ? undefined : waitListening(server))));
    const first = this.#sharedServer ?? this.#servers[0];
    for (const server of first === undefined ? [] : [first, ...this.#servers]) {
      const address = server.address();
      if (address !== null && typeof address === 'object') return { host: address.address, port: address.port };
    }
    return { host: fallbackHost, port: 0 };
  }

  stats(id: number): Omit<ShardStats, 'bytesIn' | 'bytesOut'> {
    let open = 0;
    for (const server of this.#servers) open += server._connections;
    return { id, connectionsOpen: open, accepted: this.#accepted };
  }

  /** Graceful close, step one: the listeners stay open but accept nothing more. */
  pauseAccepting(): void {
    for (const server of this.#servers) server._handle?.pauseAccepting();
  }

  /**
   * Steps two and three: close every server (http's close also closes idle keep-alive
   * connections), wait up to `timeout` seconds for the connections in flight, then cut the rest.
   */
  async drain(timeout: number): Promise<void> {
    const closed = this.#servers.map((server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve())));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeout * 1000)));
    const outcome = await Promise.race([Promise.all(closed), deadline]);
    clearTimeout(timer);
    if (outcome === 'late') {
      for (const server of this.#servers) (server as Partial<{ closeAllConnections(): void }>).closeAllConnections?.();
      await Promise.all(closed);
    }
  }

  async #place(options: ListenOptions, server: AppServer): Promise<ListenOptions> {
    if (!this.#servers.includes(server)) {
      this.#servers.push(server);
      server.on('connection', () => this.#accepted++);
    }
    this.#listenSeen();
    const shared = await this.#portGate;
    // A Unix path is bound as given: every shard binding one path would take it from the others.
    if (options.path !== undefined) return options;
    let port = options.port ?? 0;
    if (port === 0 && this.#sharedServer === null) {
      this.#sharedServer = server;
      port = shared;
    }
    return { ...options, port, reusePort: true };
  }
}

function waitListening(server: net.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
  });
}
