// A shard: one worker thread with its own event loop and its own listener on the shared
// address (SO_REUSEPORT), serving the handler module. The supervisor drives it over comlink.
import { expose } from 'comlink';
import { parentPort, workerData } from 'node:worker_threads';
import { nodeEndpoint } from '../src/threads/endpoints.js';
import { newEventLoop } from '../src/io/event-loop.js';
import type { AnyProtocol } from '../src/net/protocols.js';
import type { Server } from '../src/net/server.js';
import { installErrorTransfer } from '../src/threads/error-transfer.js';
import { HandOff } from '../src/sharding/handoff.js';
import type { ShardControl, ShardStats, ShardWorkerData } from '../src/sharding/shard-protocol.js';
import { StreamReader, StreamReaderProtocol, type StreamWriter } from '../src/net/streams.js';
import { native } from '../src/io/native.js';
import { LoopRef } from '../src/threads/threadsafe.js';
import { Server as ServerClass } from '../src/net/server.js';
// An app module's net.Server listens go through zloop (and the AppShard's policy).
import '../src/node-compat/register.js';
import { AppShard } from '../src/sharding/app-shard.js';
import { existingThreadLoop } from '../src/node-compat/thread-loop.js';
import type { HandlerModule, ProtocolHandler, Shard, StreamsHandler } from '../src/sharding/handler.js';

const config = workerData as ShardWorkerData;
const loop = newEventLoop();
const peers = new Map<number, LoopRef>();
const shard: Shard & { peers: Map<number, LoopRef> } = { id: config.id, loop, peers };
let server: Server | null = null;
let handlerModule: HandlerModule | null = null;
const handOff = new HandOff(loop, config.id, config.shards, peers);
const app = new AppShard();
/** An app module's import, still under way while its listens wait for start(). */
let appImport: Promise<unknown> | null = null;

// Errors thrown here reach the supervisor whole (class, code, errno, syscall, address, port).
installErrorTransfer();

// The loop runs for the worker's whole life; comlink calls arrive on the same thread between
// its iterations, like any Node callback.
const running = loop.runForever();

function protocolFactory(): () => AnyProtocol {
  // Checked here: a module is user code, whatever its types said.
  const handler: unknown = handlerModule!.default;
  if (typeof handler === 'function') {
    const handle = handler as StreamsHandler;
    return () => new StreamReaderProtocol(new StreamReader(), (reader: StreamReader, writer: StreamWriter) => handle(reader, writer, shard), loop);
  }
  if (handler !== null && typeof handler === 'object' && typeof (handler as ProtocolHandler).protocolFactory === 'function') {
    const factory = handler as ProtocolHandler;
    return () => factory.protocolFactory(shard);
  }
  throw new TypeError(
    `${config.handler}: the default export must be a streams handler (reader, writer, shard) => ... or { protocolFactory(shard) }`,
  );
}

function setPeers(buffers: (SharedArrayBuffer | null)[]): void {
  peers.clear();
  buffers.forEach((buffer, id) => {
    if (buffer !== null && id !== config.id) peers.set(id, LoopRef.from(buffer));
  });
  // Connections handed to a shard that is gone come back here.
  handOff.peersChanged();
}

const control: ShardControl = {
  async hello() {
    const imported = import(config.handler).then((module: Record<string, any>) => (handlerModule = module));
    // A module that calls listen() while it loads is an app; its listens wait for start().
    const first = await Promise.race([imported.then(() => 'loaded' as const), app.listenRequested.then(() => 'listen' as const)]);
    if (first === 'listen' || app.isApp) {
      if (config.balance !== 'kernel') throw new TypeError(`${config.handler} starts its own servers: balance must be 'kernel' for an app module`);
      appImport = imported;
    } else {
      protocolFactory(); // checks the export's shape now, so a bad module fails the start
    }
    return loop.ref().buffer;
  },

  async start(peerBuffers, port) {
    setPeers(peerBuffers);
    if (appImport !== null) {
      app.begin(port);
      await appImport;
      return app.listening(config.host);
    }
    if (typeof handlerModule!.setup === 'function') await handlerModule!.setup(shard);
    const factory = protocolFactory();
    const acceptsHere = config.balance === 'kernel' || config.id === 0;
    if (acceptsHere) {
      server = await loop.createServer(factory, config.host, port, {
        ...config.serverOptions,
        backlog: config.backlog,
        reusePort: config.balance === 'kernel',
      });
      if (config.balance === 'roundrobin') server._setRouter(handOff.route);
    } else {
      server = new ServerClass(loop, factory, [], null);
    }
    handOff.start(server);
    const sockets = server.sockets;
    return { host: config.host, port: sockets.length > 0 ? (sockets[0]!.getsockname() as [string, number])[1] : port };
  },

  setPeers,

  stats(): ShardStats {
    if (appImport !== null) {
      // The app's sockets live on the thread's zloop/net loop, not on the shard's own.
      const appLoop = existingThreadLoop();
      const [, appBytesIn, appBytesOut] = appLoop === null ? [0, 0, 0] : native.reactorCounters(appLoop._reactor);
      return { ...app.stats(config.id), bytesIn: appBytesIn, bytesOut: appBytesOut };
    }
    const [, bytesIn, bytesOut] = native.reactorCounters(loop._reactor);
    return {
      id: config.id,
      connectionsOpen: server?.activeConnections ?? 0,
      accepted: server?.acceptedConnections ?? 0,
      bytesIn,
      bytesOut,
    };
  },

  pauseAccepting() {
    server?._pauseAccepting();
    app.pauseAccepting();
  },

  closeListener() {
    server?.close();
  },

  async drain(timeout) {
    if (appImport !== null) return app.drain(timeout);
    if (server === null) return;
    server.close();
    // Hand-offs in flight are answered by shards that are still running (refused: closed).
    await handOff.settled(timeout);
    const closed = server.waitClosed();
    const timer = loop.callLater(timeout, () => server!.abortClients());
    await closed;
    timer.cancel();
  },

  async stop() {
    handOff.closeAll();
    loop.stop();
    await running;
    loop.close();
  },
};

expose(control, nodeEndpoint(parentPort!));
