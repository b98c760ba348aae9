// Server (asyncio base_events.Server): the listening sockets of createServer/createUnixServer
// and the transports they accepted. Closing stops accepting; waitClosed() resolves once the
// listeners and every connection are gone.
import { lstatSync, unlinkSync } from 'node:fs';
import { CancelledError } from '../core/errors.js';
import type { Future } from '../core/futures.js';
import type { IoLoop, SocketOwner } from '../io/io-loop.js';
import { native, RecordKind } from '../io/native.js';
import type { ProtocolFactory } from './protocols.js';
import { systemError } from './system-error.js';
import { SSLTransport } from '../transports/tls.js';
import { type SocketFamily, SocketTransport, type Transport, TransportSocket, type TransportTracker } from '../transports/socket.js';

const RESOURCE_ERRORS = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);

/** asyncio waits this long before accepting again after EMFILE and friends. */
const ACCEPT_RETRY_DELAY = 1;

export type ListeningSocket = { fd: number; family: SocketFamily };

export class Server implements TransportTracker {
  readonly #loop: IoLoop;
  readonly #protocolFactory: ProtocolFactory;
  readonly #listeners: ListeningSocket[];
  readonly #sockets: TransportSocket[];
  readonly #transports = new Set<SocketTransport>();
  /** The socket file a Unix server bound, and its inode: close() removes only that file. */
  readonly #unixFile: { path: string; inode: number } | null;
  #serving = false;
  #closed = false;
  #forgetSignal: (() => void) | null = null;
  #waiters: Future<void>[] = [];
  #acceptedTotal = 0;
  /** Sharding: decides who serves an accepted fd; returns false to serve it here. */
  #router: ((fd: number) => boolean) | null = null;
  #servingForever: Future<void> | null = null;

  /** @internal Made by loop.createServer / loop.createUnixServer. */
  constructor(loop: IoLoop, protocolFactory: ProtocolFactory, listeners: ListeningSocket[], unixPath: string | null) {
    this.#loop = loop;
    this.#protocolFactory = protocolFactory;
    this.#listeners = listeners;
    this.#unixFile = unixPath === null ? null : { path: unixPath, inode: inodeOf(unixPath) };
    this.#sockets = listeners.map((listener) => new TransportSocket(listener.fd, listener.family));
    for (const listener of listeners) {
      const owner: SocketOwner = {
        _onSocketRecord: (kind, a) => this.#onListenerRecord(listener, kind, a),
        toString: () => `<listening socket fd=${listener.fd}>`,
      };
      loop._registerSocket(listener.fd, owner);
    }
  }

  getLoop(): IoLoop {
    return this.#loop;
  }

  /** The listening sockets; empty once closed. */
  get sockets(): TransportSocket[] {
    return this.#closed ? [] : [...this.#sockets];
  }

  isServing(): boolean {
    return this.#serving;
  }

  /** Starts accepting (createServer does this unless startServing: false). */
  async startServing(): Promise<void> {
    this.#startAccepting();
  }

  /** Accepts until the server is closed; then rejects with CancelledError, as asyncio does. */
  async serveForever(): Promise<void> {
    if (this.#servingForever !== null) throw new Error(`server ${this.toString()} is already being awaited on serveForever()`);
    if (this.#closed) throw new Error(`server ${this.toString()} is closed`);
    this.#startAccepting();
    this.#servingForever = this.#loop.createFuture<void>();
    try {
      await this.#servingForever;
    } catch (error) {
      if (error instanceof CancelledError) {
        this.close();
        await this.waitClosed();
      }
      throw error;
    } finally {
      this.#servingForever = null;
    }
  }

  /** Stops accepting and closes the listening sockets; open connections stay open. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#forgetSignal?.();
    this.#forgetSignal = null;
    this.#serving = false;
    for (const listener of this.#listeners) this.#loop._releaseSocket(listener.fd);
    // A later server may have taken the path over; its file is not ours to remove.
    if (this.#unixFile !== null && inodeOf(this.#unixFile.path) === this.#unixFile.inode) {
      removeSocketFile(this.#unixFile.path);
    }
    if (this.#servingForever !== null && !this.#servingForever.done()) this.#servingForever.cancel();
    this.#wakeWaitersIfDone();
  }

  /** Closes every connection gracefully (each flushes its write buffer first). */
  closeClients(): void {
    for (const transport of [...this.#transports]) userFacing(transport).close();
  }

  /** Aborts every connection at once. */
  abortClients(): void {
    for (const transport of [...this.#transports]) userFacing(transport).abort();
  }

  /** Resolves once the server is closed and every connection it accepted is gone. */
  async waitClosed(): Promise<void> {
    if (this.#closed && this.#transports.size === 0) return;
    const waiter = this.#loop.createFuture<void>();
    this.#waiters.push(waiter);
    await waiter;
  }

  /** @internal createServer's `signal` option: aborting it closes this server. */
  _closeOnAbort(signal: AbortSignal): void {
    if (signal.aborted) return this.close();
    const onAbort = (): void => this.close();
    signal.addEventListener('abort', onAbort, { once: true });
    // A signal that outlives the server must not keep it (and its loop) reachable.
    this.#forgetSignal = () => signal.removeEventListener('abort', onAbort);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.waitClosed();
  }

  toString(): string {
    return `<Server sockets=${this.#sockets.map((socket) => JSON.stringify(socket.getsockname())).join(',')}>`;
  }

  /** @internal */
  _attach(transport: SocketTransport): void {
    this.#transports.add(transport);
  }

  /** @internal */
  _detach(transport: SocketTransport): void {
    this.#transports.delete(transport);
    this.#wakeWaitersIfDone();
  }

  /** Diagnostics: connections accepted and not yet closed. */
  get activeConnections(): number {
    return this.#transports.size;
  }

  /** Diagnostics: connections this server has served since it started. */
  get acceptedConnections(): number {
    return this.#acceptedTotal;
  }

  /** @internal Stops accepting but keeps the listeners open (sharded close, step one). */
  _pauseAccepting(): void {
    if (!this.#serving || this.#closed) return;
    this.#serving = false;
    for (const listener of this.#listeners) this.#setAccepting(listener, false);
  }

  /** @internal Sharding: `router(fd)` may hand an accepted fd to another loop (returns true). */
  _setRouter(router: ((fd: number) => boolean) | null): void {
    this.#router = router;
  }

  /** @internal Sharding: whether _adoptConnection would take a connection now (not closed). */
  _isAdopting(): boolean {
    return !this.#closed;
  }

  /** @internal Serves a connected socket accepted elsewhere (another shard's listener). */
  _adoptConnection(fd: number): void {
    if (this.#closed) throw new Error(`server ${this.toString()} is closed`);
    const adopted = native.adoptSocket(this.#loop._reactor, fd);
    if (adopted < 0) throw systemError(adopted, 'adopt');
    const local = native.socketAddress(fd, false) ?? '';
    this.#serve(fd, local.startsWith('[') ? 'IPv6' : /^\d/.test(local) ? 'IPv4' : 'unix');
  }

  #startAccepting(): void {
    if (this.#serving || this.#closed) return;
    this.#serving = true;
    for (const listener of this.#listeners) this.#setAccepting(listener, true);
  }

  #onListenerRecord(listener: ListeningSocket, kind: number, a: number): void {
    if (kind === RecordKind.accepted) this.#accept(listener, a);
    else if (kind === RecordKind.failed) this.#acceptFailed(listener, a);
  }

  #accept(listener: ListeningSocket, fd: number): void {
    if (this.#router !== null && this.#router(fd)) return;
    this.#serve(fd, listener.family);
  }

  #serve(fd: number, family: SocketFamily): void {
    let protocol;
    try {
      protocol = this.#protocolFactory();
    } catch (exception) {
      native.closeSocket(this.#loop._reactor, fd);
      this.#loop.callExceptionHandler({ message: 'Error on transport creation for incoming connection', exception });
      return;
    }
    this.#acceptedTotal++;
    const transport = new SocketTransport(this.#loop, fd, family, protocol, this);
    transport._start();
  }

  /**
   * The reactor already took the next connection after a failure of the pending one (ECONNABORTED,
   * the network errors of accept(2)); what reaches us is out of resources (EMFILE, ENFILE,
   * ENOBUFS, ENOMEM), where asyncio pauses accepting for a second, or a broken listener, which
   * would fail again at once and is paused the same way rather than spun on.
   */
  #acceptFailed(listener: ListeningSocket, errno: number): void {
    const exception = systemError(errno, 'accept');
    const outOfResources = RESOURCE_ERRORS.has(exception.code);
    this.#loop.callExceptionHandler({
      message: outOfResources ? 'socket.accept() out of system resource' : 'Error on socket.accept()',
      exception,
      socket: this.#sockets.find((socket) => socket.fd === listener.fd),
    });
    this.#setAccepting(listener, false);
    this.#resumeAcceptingLater(listener);
  }

  #resumeAcceptingLater(listener: ListeningSocket): void {
    this.#loop.callLater(ACCEPT_RETRY_DELAY, () => {
      if (this.#serving && !this.#closed) this.#setAccepting(listener, true);
    });
  }

  /**
   * Starts or stops accepting on one listener. A watch that cannot be changed (epoll_ctl out of
   * memory) is logged; a listener that could not start is tried again a second later, as after
   * an accept that ran out of resources; one that could not stop goes on accepting.
   */
  #setAccepting(listener: ListeningSocket, accepting: boolean): void {
    const result = native.setReading(this.#loop._reactor, listener.fd, accepting);
    if (result >= 0) return;
    this.#loop.callExceptionHandler({
      message: accepting ? 'Error on resuming socket.accept()' : 'Error on pausing socket.accept()',
      exception: systemError(result, 'epoll_ctl'),
      socket: this.#sockets.find((socket) => socket.fd === listener.fd),
    });
    if (accepting) this.#resumeAcceptingLater(listener);
  }

  #wakeWaitersIfDone(): void {
    if (!this.#closed || this.#transports.size > 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) if (!waiter.done()) waiter.setResult();
  }
}

/**
 * The transport the user's protocol holds: for a TLS connection, the SSLTransport over this raw
 * one, so closing sends close_notify first.
 */
function userFacing(transport: SocketTransport): Transport {
  const owner = (transport.getProtocol() as { _owner?: unknown })._owner;
  return owner instanceof SSLTransport ? owner : transport;
}

function inodeOf(path: string): number {
  try {
    return lstatSync(path).ino;
  } catch {
    return -1;
  }
}

/** Removes a Unix socket file we bound (or a stale one), never any other kind of file. */
export function removeSocketFile(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // Already gone.
  }
}
