// listen() of a net.Server (http.Server, https.Server, and every framework's server are
// net.Servers) on a zloop server. Node's net.Server keeps its state in a few fields that its own
// methods read: `_handle` (listening iff set; address(), close(), ref(), unref() call into it) and
// `_connections` (getConnections(), and close() emits 'close' once it is 0). So the server keeps
// all of Node's methods, and zloop only supplies a handle object and the accepted sockets.
import type * as net from 'node:net';
import { isIP } from 'node:net';
import { AF_INET6 } from '../net/dns.js';
import { type CreateServerOptions, createServerNow, createUnixServerNow } from '../net/connections.js';
import { checkPort } from '../core/validate.js';
import type { Server as ZloopServer } from '../net/server.js';
import { acceptedSocket, type AddressInfo, type Socket } from './socket.js';
import { Hold, threadLoop } from './thread-loop.js';

export type ListenOptions = {
  port?: number;
  host?: string;
  path?: string;
  backlog?: number;
  reusePort?: boolean;
  ipv6Only?: boolean;
  exclusive?: boolean;
  signal?: AbortSignal;
};

/** What Node's net.Server has that listen needs (its fields are not in @types/node). */
type NodeServer = net.Server & {
  _handle: ListenHandle | null;
  _connections: number;
  _unref: boolean;
  _pipeName?: string;
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  _emitCloseIfDrained(): void;
};

/**
 * Where a listen() really binds. The default binds what was asked; `zloop serve` installs one
 * that sets SO_REUSEPORT and gives every shard the same port for a port-0 listen.
 */
export type ListenPolicy = (options: ListenOptions, server: net.Server) => ListenOptions | Promise<ListenOptions>;
const bindAsAsked: ListenPolicy = (options) => options;
let policy: ListenPolicy = bindAsAsked;

export function setListenPolicy(next: ListenPolicy): void {
  policy = next;
}

/** The `_handle` of a net.Server listening on a Unix path (address() then returns `_pipeName`). */
export class ListenHandle {
  constructor(
    readonly zloopServer: ZloopServer,
    readonly unixPath: string | null,
    /** Active since the listen began (so the thread's loop lives through the bind). */
    readonly hold: Hold,
  ) {}

  close(): void {
    this.hold.deactivate();
    this.zloopServer.close();
  }

  /** Stops accepting and keeps the listener open (a sharded server's graceful close, step one). */
  pauseAccepting(): void {
    this.zloopServer._pauseAccepting();
  }

  ref(): void {
    this.hold.ref();
  }

  unref(): void {
    this.hold.unref();
  }
}

/** The `_handle` of a net.Server listening on TCP. */
class TcpListenHandle extends ListenHandle {
  /** Node's handle convention: fills `out`, returns 0 or an errno. */
  getsockname(out: Partial<AddressInfo>): number {
    const socket = this.zloopServer.sockets[0];
    const name = socket?.getsockname();
    if (!Array.isArray(name)) return -9; // EBADF: closed
    out.address = name[0];
    out.family = socket!.family;
    out.port = name[1];
    return 0;
  }
}

/**
 * Node's listen() argument forms for TCP and Unix sockets: (port[, host][, backlog][, cb]),
 * (path[, backlog][, cb]), (options[, cb]). Returns null for the forms zloop leaves to Node
 * (a handle, an fd, a cluster-shared listen).
 */
export function parseListenArgs(args: unknown[]): { options: ListenOptions; callback: (() => void) | null } | null {
  const rest = [...args];
  const callback = typeof rest[rest.length - 1] === 'function' ? (rest.pop() as () => void) : null;
  const [first, second, third] = rest;
  let options: ListenOptions;
  if (first !== null && typeof first === 'object') {
    const given = first as ListenOptions & { fd?: number; handle?: unknown; _handle?: unknown };
    if (given.fd !== undefined || given.handle !== undefined || given._handle !== undefined) return null;
    if (given.port === undefined && given.path === undefined) options = { ...given, port: 0 };
    else options = { ...given };
  } else if (typeof first === 'string' && !/^\d+$/.test(first)) {
    options = { path: first, backlog: typeof second === 'number' ? second : undefined };
  } else if (first === undefined || first === null || typeof first === 'number' || typeof first === 'string') {
    options = { port: first === undefined || first === null ? 0 : checkPort(first, 'port') };
    if (typeof second === 'string') {
      options.host = second;
      if (typeof third === 'number') options.backlog = third;
    } else if (typeof second === 'number') {
      options.backlog = second;
    }
  } else {
    return null;
  }
  if (options.port !== undefined) options.port = checkPort(options.port, 'options.port');
  return { options, callback };
}

/**
 * Binds `server` on the thread's zloop loop; 'listening' or 'error' follows, as with Node. As
 * node:net does, a port on an IP address (or on all interfaces) or a Unix path is bound before
 * listen() returns, so server.address() works at once; a host name is looked up first.
 */
export function listenOnZloop(server: net.Server, options: ListenOptions, callback: (() => void) | null): void {
  const node = server as NodeServer;
  if (node._handle !== null && node._handle !== undefined) {
    throw Object.assign(new Error('Listen method has been called more than once without closing.'), { code: 'ERR_SERVER_ALREADY_LISTEN' });
  }
  if (callback !== null) server.once('listening', callback);
  const hold = new Hold();
  hold.activate(); // the thread's loop lives through the bind
  const failed = (error: unknown): void => {
    hold.deactivate();
    server.emit('error', error);
  };
  if (policy === bindAsAsked && (options.path !== undefined || options.host === undefined || isIP(options.host) !== 0)) {
    let handle: ListenHandle;
    try {
      handle = bindNow(node, options, hold);
    } catch (error) {
      process.nextTick(failed, error);
      return;
    }
    installHandle(node, handle, options);
    process.nextTick(() => server.emit('listening'));
    return;
  }
  Promise.resolve(policy(options, server)).then(async (placed) => {
    const handle = await bindLater(node, placed, hold);
    installHandle(node, handle, options);
    server.emit('listening');
  }).catch(failed);
}

function installHandle(server: NodeServer, handle: ListenHandle, options: ListenOptions): void {
  if (options.signal?.aborted) {
    handle.close();
    return;
  }
  server._handle = handle;
  if (handle.unixPath !== null) server._pipeName = handle.unixPath;
  if (server._unref) handle.unref();
  options.signal?.addEventListener('abort', () => server.close(), { once: true });
}

/** The protocol factory of a net.Server's zloop server: each connection is a zloop/net Socket. */
function acceptor(server: NodeServer): () => unknown {
  return () => {
    const { socket, protocol } = acceptedSocket({ allowHalfOpen: server.allowHalfOpen ?? false });
    // After the batch that accepted it: its addresses are known and its first bytes buffered.
    queueMicrotask(() => onConnection(server, socket));
    return protocol;
  };
}

function serverOptions(options: ListenOptions): CreateServerOptions {
  return { backlog: options.backlog, reusePort: options.reusePort ?? false, family: options.ipv6Only ? AF_INET6 : undefined };
}

function bindNow(server: NodeServer, options: ListenOptions, hold: Hold): ListenHandle {
  const loop = threadLoop();
  if (options.path !== undefined) return new ListenHandle(createUnixServerNow(loop, acceptor(server) as never, options.path, { backlog: options.backlog }), options.path, hold);
  return new TcpListenHandle(createServerNow(loop, acceptor(server) as never, options.host ?? null, options.port ?? 0, serverOptions(options)), null, hold);
}

async function bindLater(server: NodeServer, options: ListenOptions, hold: Hold): Promise<ListenHandle> {
  const loop = threadLoop();
  if (options.path !== undefined) return new ListenHandle(await loop.createUnixServer(acceptor(server) as never, options.path, { backlog: options.backlog }), options.path, hold);
  return new TcpListenHandle(await loop.createServer(acceptor(server) as never, options.host ?? null, options.port ?? 0, serverOptions(options)), null, hold);
}

/** What net.Server's onconnection does for each accepted socket. */
function onConnection(server: NodeServer, socket: Socket): void {
  if (socket.destroyed) return;
  if (server.maxConnections !== undefined && server.maxConnections > 0 && server._connections >= server.maxConnections) {
    server.emit('drop', { localAddress: socket.localAddress, localPort: socket.localPort, remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, remoteFamily: socket.remoteFamily });
    socket.destroy();
    return;
  }
  if (server.noDelay) socket.setNoDelay(true);
  if (server.keepAlive) socket.setKeepAlive(true, server.keepAliveInitialDelay ?? 0);
  if (server.pauseOnConnect) socket.pause();
  server._connections++;
  socket.server = server;
  socket._server = server;
  server.emit('connection', socket);
}
