// listen() of a net.Server (http.Server, https.Server, and every framework's server are
// net.Servers) on a zloop server. Node's net.Server keeps its state in a few fields that its own
// methods read: `_handle` (listening iff set; address(), close(), ref(), unref() call into it) and
// `_connections` (getConnections(), and close() emits 'close' once it is 0). So the server keeps
// all of Node's methods, and zloop only supplies a handle object and the accepted sockets.
import type * as net from 'node:net';
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
let policy: ListenPolicy = (options) => options;

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

/** Binds `server` on the thread's zloop loop; 'listening' or 'error' follows, as with Node. */
export function listenOnZloop(server: net.Server, options: ListenOptions, callback: (() => void) | null): void {
  const node = server as NodeServer;
  if (node._handle !== null && node._handle !== undefined) {
    throw Object.assign(new Error('Listen method has been called more than once without closing.'), { code: 'ERR_SERVER_ALREADY_LISTEN' });
  }
  if (callback !== null) server.once('listening', callback);
  bind(node, options).then(
    (handle) => {
      if (options.signal?.aborted) {
        handle.close();
        return;
      }
      node._handle = handle;
      if (handle.unixPath !== null) node._pipeName = handle.unixPath;
      if (node._unref) handle.unref();
      options.signal?.addEventListener('abort', () => server.close(), { once: true });
      server.emit('listening');
    },
    (error: Error) => server.emit('error', error),
  );
}

async function bind(server: NodeServer, asked: ListenOptions): Promise<ListenHandle> {
  const hold = new Hold();
  hold.activate();
  try {
    return await bindHeld(server, asked, hold);
  } catch (error) {
    hold.deactivate();
    throw error;
  }
}

async function bindHeld(server: NodeServer, asked: ListenOptions, hold: Hold): Promise<ListenHandle> {
  const options = await policy(asked, server);
  const loop = threadLoop();
  const accept = (): unknown => {
    const { socket, protocol } = acceptedSocket({ allowHalfOpen: server.allowHalfOpen ?? false });
    queueMicrotask(() => onConnection(server, socket));
    return protocol;
  };
  let zloopServer: ZloopServer;
  if (options.path !== undefined) {
    zloopServer = await loop.createUnixServer(accept as never, options.path, { backlog: options.backlog });
  } else {
    zloopServer = await loop.createServer(accept as never, options.host ?? null, options.port ?? 0, {
      backlog: options.backlog,
      reusePort: options.reusePort ?? false,
      family: options.ipv6Only ? 10 /* AF_INET6 */ : undefined,
    });
  }
  return options.path !== undefined ? new ListenHandle(zloopServer, options.path, hold) : new TcpListenHandle(zloopServer, null, hold);
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
