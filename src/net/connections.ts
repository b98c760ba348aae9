// createServer / createConnection and their Unix forms (asyncio base_events and unix_events):
// argument checks, name resolution, then one reactor call per socket.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { AF_INET, AF_INET6, AF_UNSPEC } from './dns.js';
import { cancellable, type Future } from '../core/futures.js';
import type { IoLoop } from '../io/io-loop.js';
import { ListenFlag, native, RecordKind } from '../io/native.js';
import type { AnyProtocol, ProtocolFactory } from './protocols.js';
import { type ListeningSocket, removeSocketFile, Server } from './server.js';
import { type SystemError, systemError } from './system-error.js';
import type { SSLTransport } from '../transports/tls.js';
import { tlsClient, tlsServerFactory } from '../transports/tls-connect.js';
import { resolveTls, type TlsOptions } from '../transports/tls-setup.js';
import { type SocketFamily, SocketTransport, type Transport } from '../transports/socket.js';
import { argTypeError, argValueError, checkCallback, checkPort, checkSignal, codedError } from '../core/validate.js';

export type CreateServerOptions = {
  family?: number;
  backlog?: number;
  reuseAddress?: boolean;
  reusePort?: boolean;
  keepAlive?: boolean;
  startServing?: boolean;
  /** TLS: a tls.SecureContext or options for tls.createSecureContext (with key and cert). */
  ssl?: TlsOptions['ssl'];
  sslHandshakeTimeout?: number | null;
  sslShutdownTimeout?: number | null;
  /**
   * Aborting it closes the server, as net.Server.listen's `signal` does; when it is aborted before
   * the server is bound, createServer rejects with its reason and binds nothing.
   */
  signal?: AbortSignal | null;
};

export type CreateConnectionOptions = TlsOptions & {
  /** [host, port] to bind the local end to. */
  localAddr?: [string, number] | null;
  family?: number;
  /** Aborting it gives up the connection attempt (the socket is closed) and rejects with its reason. */
  signal?: AbortSignal | null;
};

export type UnixServerOptions = Pick<CreateServerOptions, 'backlog' | 'startServing' | 'ssl' | 'sslHandshakeTimeout' | 'sslShutdownTimeout' | 'signal'>;

export type UnixConnectionOptions = TlsOptions & Pick<CreateConnectionOptions, 'signal'>;

/**
 * The Future loop.createConnection returns: cancel() (waitFor's timeout) or `signal` aborts the
 * attempt, and a connection that completes in the same turn as the cancel is closed, not leaked.
 */
export function connectionFuture<P>(
  loop: IoLoop,
  signal: AbortSignal | null | undefined,
  connect: (signal: AbortSignal) => Promise<[SocketTransport | SSLTransport, P]>,
): Future<[Transport, P]> {
  return cancellable<[Transport, P]>(loop, signal, connect, ([transport]) => transport.abort());
}

export async function createServer(
  loop: IoLoop,
  protocolFactory: ProtocolFactory,
  host: string | string[] | null | undefined,
  port: number | null | undefined,
  options: CreateServerOptions = {},
): Promise<Server> {
  const setup = serverSetup(loop, protocolFactory, port, options);
  const signal = checkSignal(options.signal, 'options.signal');
  signal?.throwIfAborted();
  const hosts = host === undefined || host === null || host === '' ? null : Array.isArray(host) ? host : [host];
  let addresses: ListenAddress[];
  if (hosts === null) {
    addresses = allInterfaces(setup.family);
  } else {
    addresses = [];
    for (const name of hosts) {
      if (typeof name !== 'string') throw argTypeError('host must be a string or a list of strings');
      for (const entry of await resolve(name, setup.family)) {
        if (!addresses.some((known) => known.address === entry.address)) {
          addresses.push({ address: entry.address, family: entry.family, ipv6Only: entry.family === 'IPv6' });
        }
      }
    }
  }
  signal?.throwIfAborted(); // aborted during the lookup
  return closedOnAbort(bindServer(loop, setup, addresses, hosts === null), signal);
}

function closedOnAbort(server: Server, signal: AbortSignal | null): Server {
  if (signal !== null) server._closeOnAbort(signal);
  return server;
}

/**
 * createServer for a host that needs no lookup: null or '' (all interfaces) or an IP literal.
 * The listeners are bound, and accepting if asked, when it returns; errors are thrown at once.
 * (zloop/net's listen() uses it: node:net binds such addresses synchronously, and callers such as
 * supertest read server.address() right after listen().)
 */
export function createServerNow(loop: IoLoop, protocolFactory: ProtocolFactory, host: string | null, port: number | null | undefined, options: CreateServerOptions = {}): Server {
  const setup = serverSetup(loop, protocolFactory, port, options);
  if (host === null || host === '') return bindServer(loop, setup, allInterfaces(setup.family), true);
  const kind = isIP(host);
  if (kind === 0) throw argValueError(`host must be an IP address here, got ${host}`);
  return bindServer(loop, setup, [{ address: host, family: kind === 6 ? 'IPv6' : 'IPv4', ipv6Only: kind === 6 }], false);
}

type ListenAddress = { address: string; family: SocketFamily; ipv6Only: boolean };
type ServerSetup = { protocolFactory: ProtocolFactory; port: number; backlog: number; family: number; flags: number };

/** The argument checks and listen flags of createServer, before any name is resolved. */
function serverSetup(loop: IoLoop, protocolFactory: ProtocolFactory, port: number | null | undefined, options: CreateServerOptions): ServerSetup {
  checkCallback(protocolFactory, 'protocolFactory');
  const portNumber = checkPort(port ?? 0, 'port');
  const backlog = checkBacklog(options.backlog);
  const tlsSetup = resolveTls(options, true, null);
  if (tlsSetup !== null) protocolFactory = tlsServerFactory(loop, protocolFactory, tlsSetup);
  let flags = ListenFlag.noDelay;
  if (options.reuseAddress ?? true) flags |= ListenFlag.reuseAddress; // asyncio's POSIX default
  if (options.reusePort) flags |= ListenFlag.reusePort;
  if (options.keepAlive) flags |= ListenFlag.keepAlive;
  if (options.startServing ?? true) flags |= ListenFlag.accepting;
  return { protocolFactory, port: portNumber, backlog, family: options.family ?? AF_UNSPEC, flags };
}

/** All interfaces: one dual-stack IPv6 socket, as Node's net does (IPv4 where there is no IPv6). */
function allInterfaces(family: number): ListenAddress[] {
  return family === AF_INET ? [{ address: '0.0.0.0', family: 'IPv4', ipv6Only: false }] : [{ address: '::', family: 'IPv6', ipv6Only: family === AF_INET6 }];
}

/** One listener per address, all or none; then the Server, accepting unless startServing was false. */
function bindServer(loop: IoLoop, setup: ServerSetup, addresses: ListenAddress[], allHosts: boolean): Server {
  const reactor = loop._reactor;
  const { port, backlog, flags } = setup;
  const listeners: ListeningSocket[] = [];
  try {
    for (const candidate of addresses) {
      let fd = native.listen(reactor, candidate.address, port, backlog, flags | (candidate.ipv6Only ? ListenFlag.ipv6Only : 0));
      if (fd === -97 /* EAFNOSUPPORT */ && allHosts) {
        fd = native.listen(reactor, '0.0.0.0', port, backlog, flags);
        candidate.family = 'IPv4';
      }
      if (fd < 0) throw systemError(fd, 'listen', candidate.address, port);
      listeners.push({ fd, family: candidate.family });
    }
  } catch (error) {
    for (const listener of listeners) native.closeSocket(reactor, listener.fd);
    throw error;
  }
  const server = new Server(loop, setup.protocolFactory, listeners, null);
  if (flags & ListenFlag.accepting) void server.startServing(); // synchronous inside; never rejects
  return server;
}

export async function createUnixServer(
  loop: IoLoop,
  protocolFactory: ProtocolFactory,
  path: string,
  options: UnixServerOptions = {},
): Promise<Server> {
  const signal = checkSignal(options.signal, 'options.signal');
  signal?.throwIfAborted();
  return closedOnAbort(createUnixServerNow(loop, protocolFactory, path, options), signal);
}

/** createUnixServer, bound (and accepting if asked) when it returns; errors are thrown at once. */
export function createUnixServerNow(loop: IoLoop, protocolFactory: ProtocolFactory, path: string, options: UnixServerOptions = {}): Server {
  checkCallback(protocolFactory, 'protocolFactory');
  checkPath(path);
  const backlog = checkBacklog(options.backlog);
  const tlsSetup = resolveTls(options, true, null);
  if (tlsSetup !== null) protocolFactory = tlsServerFactory(loop, protocolFactory, tlsSetup);
  // A socket file left by an earlier server would make bind fail with EADDRINUSE.
  removeSocketFile(path);
  const startServing = options.startServing ?? true;
  const fd = native.listenUnix(loop._reactor, path, backlog, startServing ? ListenFlag.accepting : 0);
  if (fd < 0) throw systemError(fd, 'listen', path);
  const server = new Server(loop, protocolFactory, [{ fd, family: 'unix' }], path);
  if (startServing) void server.startServing(); // synchronous inside; never rejects
  return server;
}

export async function createConnection<P extends AnyProtocol>(
  loop: IoLoop,
  protocolFactory: ProtocolFactory<P>,
  host: string,
  port: number,
  options: CreateConnectionOptions,
  signal: AbortSignal,
): Promise<[SocketTransport | SSLTransport, P]> {
  checkCallback(protocolFactory, 'protocolFactory');
  if (typeof host !== 'string' || host === '') throw argTypeError('host must be a non-empty string');
  const portNumber = checkPort(port, 'port');
  const tlsSetup = resolveTls(options, false, host);
  if (tlsSetup !== null) {
    const plain = { ...options, ssl: null, serverHostname: null, sslHandshakeTimeout: null, sslShutdownTimeout: null };
    return withTls(loop, protocolFactory, tlsSetup, signal, (factory) => createConnection(loop, factory, host, port, plain, signal));
  }
  const local = options.localAddr ?? null;
  if (local !== null && (!Array.isArray(local) || typeof local[0] !== 'string')) {
    throw argTypeError('options.localAddr must be a [host, port] pair');
  }
  const candidates = await resolve(host, options.family ?? AF_UNSPEC);
  const errors: SystemError[] = [];
  for (const candidate of candidates) {
    signal.throwIfAborted();
    const fd = native.connect(loop._reactor, candidate.address, portNumber, local?.[0] ?? null, local ? checkPort(local[1], 'localAddr port') : 0);
    if (fd < 0) {
      errors.push(systemError(fd, 'connect', candidate.address, portNumber));
      continue;
    }
    const outcome = await settleConnect(loop, fd, candidate.family, protocolFactory, signal);
    if (outcome instanceof Array) return outcome;
    errors.push(systemError(outcome, 'connect', candidate.address, portNumber));
  }
  throw combineErrors(errors);
}

export async function createUnixConnection<P extends AnyProtocol>(
  loop: IoLoop,
  protocolFactory: ProtocolFactory<P>,
  path: string,
  options: UnixConnectionOptions,
  signal: AbortSignal,
): Promise<[SocketTransport | SSLTransport, P]> {
  checkCallback(protocolFactory, 'protocolFactory');
  checkPath(path);
  const tlsSetup = resolveTls(options, false, null);
  if (tlsSetup !== null) return withTls(loop, protocolFactory, tlsSetup, signal, (factory) => createUnixConnection(loop, factory, path, {}, signal));
  signal.throwIfAborted();
  const fd = native.connectUnix(loop._reactor, path);
  if (fd < 0) throw systemError(fd, 'connect', path);
  const outcome = await settleConnect(loop, fd, 'unix', protocolFactory, signal);
  if (outcome instanceof Array) return outcome;
  throw systemError(outcome, 'connect', path);
}

/**
 * Connects with `connect` (a plain connection whose protocol is the TLS layer), then waits for the
 * handshake: resolves to the TLS transport and the user's protocol, or rejects with the TLS error
 * (the socket is closed by then).
 */
async function withTls<P extends AnyProtocol>(
  loop: IoLoop,
  protocolFactory: ProtocolFactory<P>,
  setup: NonNullable<ReturnType<typeof resolveTls>>,
  signal: AbortSignal,
  connect: (factory: ProtocolFactory) => Promise<[SocketTransport | SSLTransport, AnyProtocol]>,
): Promise<[SSLTransport, P]> {
  let protocol: P | undefined;
  let client: ReturnType<typeof tlsClient<P>> | undefined;
  await connect(() => {
    protocol = protocolFactory();
    client = tlsClient(loop, protocol, setup);
    return client.rawProtocol;
  });
  // Given up during the handshake: close the connection, as the plain connect closes its socket.
  const abort = (): void => client!.transport.abort();
  signal.addEventListener('abort', abort, { once: true });
  try {
    return [await client!.handshake, protocol!];
  } catch (error) {
    throw signal.aborted ? signal.reason : error;
  } finally {
    signal.removeEventListener('abort', abort);
  }
}

/**
 * Waits for the reactor's CONNECTED record or the abort of `signal`. On success the transport and protocol are made
 * right inside the record's dispatch, before any DATA record of that socket can arrive; on
 * failure the socket is closed and the errno returned.
 */
function settleConnect<P extends AnyProtocol>(
  loop: IoLoop,
  fd: number,
  family: SocketFamily,
  protocolFactory: ProtocolFactory<P>,
  signal: AbortSignal,
): Future<[SocketTransport, P] | number> {
  const settled = loop.createFuture<[SocketTransport, P] | number>();
  // Given up before the reactor reported the connect: close the socket, make no protocol.
  const abort = (): void => {
    loop._releaseSocket(fd);
    settled.setException(signal.reason);
  };
  signal.addEventListener('abort', abort, { once: true });
  loop._registerSocket(fd, {
    toString: () => `<connecting socket fd=${fd}>`,
    _onSocketRecord(kind, errno) {
      if (kind !== RecordKind.connected) return;
      signal.removeEventListener('abort', abort);
      if (errno !== 0) {
        loop._releaseSocket(fd);
        settled.setResult(errno);
        return;
      }
      let protocol: P;
      try {
        protocol = protocolFactory();
      } catch (exception) {
        loop._releaseSocket(fd);
        settled.setException(exception);
        return;
      }
      const transport = new SocketTransport(loop, fd, family, protocol, null);
      transport._start();
      settled.setResult([transport, protocol]);
    },
  });
  return settled;
}

async function resolve(host: string, family: number): Promise<{ address: string; family: SocketFamily }[]> {
  const nodeFamily = family === AF_INET ? 4 : family === AF_INET6 ? 6 : 0;
  const entries = await lookup(host, { all: true, family: nodeFamily });
  if (entries.length === 0) throw new Error(`getaddrinfo() returned empty list for ${host}`);
  return entries.map((entry) => ({ address: entry.address, family: entry.family === 6 ? 'IPv6' : 'IPv4' }));
}

/** One error as it is; several with one code as the first; otherwise asyncio's combined error. */
function combineErrors(errors: SystemError[]): Error {
  if (errors.length === 1 || errors.every((error) => error.code === errors[0]!.code)) return errors[0]!;
  const combined = new Error(`Multiple exceptions: ${errors.map((error) => error.message).join(', ')}`);
  Object.assign(combined, { errors, code: errors[0]!.code });
  return combined;
}

function checkBacklog(backlog: unknown): number {
  if (backlog === undefined) return 100;
  if (typeof backlog !== 'number' || !Number.isInteger(backlog) || backlog < 0) {
    throw argTypeError(`options.backlog must be a non-negative integer, got ${String(backlog)}`);
  }
  return backlog;
}

/**
 * A Unix socket path: a filesystem path, or (Linux) an abstract name, '\0' and then the name.
 * A NUL anywhere else is refused: bind() would take the part before it and leave that file behind.
 */
function checkPath(path: unknown): asserts path is string {
  if (typeof path !== 'string' || path === '') throw codedError(new TypeError('path must be a non-empty string'), 'ERR_INVALID_ARG_TYPE');
  if (path.indexOf('\0', 1) !== -1) {
    throw codedError(new TypeError(`path must not contain a NUL byte (an abstract name starts with '\\0' and has no other): ${JSON.stringify(path)}`), 'ERR_INVALID_ARG_VALUE');
  }
}
