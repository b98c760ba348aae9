// zloop/net: net.Socket and net.Server's surface on zloop's reactor. Socket is a stream.Duplex
// over a zloop transport; Server is Node's own net.Server whose listen() binds through zloop, so
// every method and event of net.Server (close, address, getConnections, maxConnections, ref,
// unref, 'listening', 'connection', 'close', 'error') behaves as Node's does.
import * as net from 'node:net';
import { type ListenOptions, listenOnZloop, parseListenArgs } from './listen.js';
import { Socket, type SocketConnectOptions, type SocketConstructorOptions } from './socket.js';
import { argValueError } from '../core/validate.js';

export { Socket } from './socket.js';
export type { AddressInfo, SocketConnectOptions, SocketConstructorOptions, TcpConnectOptions, IpcConnectOptions } from './socket.js';
export type { ListenOptions } from './listen.js';
export { isIP, isIPv4, isIPv6 } from 'node:net';

export type ServerOptions = net.ServerOpts;

export class Server extends net.Server {
  constructor(options?: ServerOptions | ((socket: Socket) => void), connectionListener?: (socket: Socket) => void) {
    super(options as net.ServerOpts, connectionListener as never);
  }

  /** listen(port[, host][, backlog][, cb]), listen(path[, backlog][, cb]), listen(options[, cb]). */
  override listen(...args: unknown[]): this {
    const parsed = parseListenArgs(args);
    if (parsed === null) throw argValueError('zloop/net listens on a port or a Unix path; a handle or an fd is not supported');
    listenOnZloop(this, parsed.options, parsed.callback);
    return this;
  }
}

export function createServer(options?: ServerOptions | ((socket: Socket) => void), connectionListener?: (socket: Socket) => void): Server {
  return new Server(options, connectionListener);
}

/** connect(port[, host][, listener]), connect(path[, listener]), connect(options[, listener]). */
export function connect(...args: unknown[]): Socket {
  const first = args[0];
  const socketOptions: SocketConstructorOptions = first !== null && typeof first === 'object' ? { allowHalfOpen: (first as { allowHalfOpen?: boolean }).allowHalfOpen } : {};
  return new Socket(socketOptions).connect(...args);
}

export const createConnection = connect;

export type { SocketConnectOptions as ConnectOptions, ListenOptions as ServerListenOptions };
