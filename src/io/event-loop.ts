// EventLoop: BaseLoop (core/base-loop.ts: scheduling, running, tasks, errors) on a Zig reactor.
// The reactor (native/) watches fds, the wakeup eventfd and the one timer deadline, and calls
// #onBatch once per iteration. This is the one file that binds the features (connections,
// servers, TLS, UDP, pipes, subprocesses, signals, executors, cross-thread calls) to the loop's
// methods. See ../shared/DESIGN.md ("How a wakeup flows") and docs/architecture.md.
import { connectionFuture, createConnection, createServer, createUnixConnection, createUnixServer } from '../net/connections.js';
import type { CreateConnectionOptions, CreateServerOptions, UnixConnectionOptions, UnixServerOptions } from '../net/connections.js';
import { startTls } from '../transports/tls-connect.js';
import type { SslOption, StartTlsOptions } from '../transports/tls-setup.js';
import { BaseLoop } from '../core/base-loop.js';
import { type AddrInfo, getaddrinfo, type GetaddrinfoOptions, getnameinfo } from '../net/dns.js';
import { checkExecutor, createDefaultExecutor, type Executor, type ExecutorTask, runTask } from '../process/executor.js';
import { type Future, Task, type TaskTarget } from '../core/futures.js';
import { Handle } from '../core/handles.js';
import { Header, InterestMask, native, ReadyFlag, RecordKind, RECORD_INTS, RECORDS_MAX, type ReactorHandle } from './native.js';
import { ReceiveBuffer } from './receive-buffer.js';
import type { AnyProtocol, BaseProtocol, ProtocolFactory } from '../net/protocols.js';
import { _getRunningLoop, _setRunningLoop } from '../core/running.js';
import type { Server } from '../net/server.js';
import { LoopRef, Mailbox } from '../threads/threadsafe.js';
import { connectReadPipe, connectWritePipe, type ReadPipeTransport, type WritePipeTransport } from '../transports/pipes.js';
import { SignalHandlers } from '../process/signals.js';
import { subprocessExec, subprocessShell, type SubprocessTransport } from '../process/subprocess.js';
import type { SubprocessOptions } from '../process/spawn-options.js';
import { type AnyDatagramProtocol, createDatagramEndpoint, type CreateDatagramEndpointOptions, type DatagramTransport } from '../transports/datagram.js';
import { sendfile } from '../transports/sendfile.js';
import type { Transport } from '../transports/socket.js';
import { type Callback, checkCallback, checkFd, argTypeError } from '../core/validate.js';
import type { FileHandle } from 'node:fs/promises';
import type { ExceptionContext } from '../core/loop-types.js';
import type { IoLoop, SocketOwner } from './io-loop.js';

export type { ExceptionContext } from '../core/loop-types.js';
export type { SocketOwner } from './io-loop.js';
export type ExceptionHandler = (loop: EventLoop, context: ExceptionContext) => void;
export type TaskFactory = (loop: EventLoop, target: TaskTarget<unknown>, options: { name?: string }) => Task<unknown>;

/**
 * How long a gracefully closed stream waits for the peer's EOF before it is closed anyway (what
 * the peer still sends meanwhile is dropped): long enough for a peer to read the last bytes and
 * hang up, short enough that a peer that never does cannot hold fds for long.
 */
const LINGER_SECONDS = 2;


export class EventLoop extends BaseLoop implements IoLoop {
  readonly #shared = new Int32Array(Header.ints + RECORDS_MAX * RECORD_INTS);
  /** The buffer the reactor reads into, and the views of it handed to protocols. */
  readonly #received = new ReceiveBuffer(this.#shared);
  /** The native side holds these three weakly while the loop is idle, so the loop owns them. */
  readonly #batchCallback = (recordCount: number): void => this.#onBatch(recordCount);
  readonly #reactor: ReactorHandle;
  readonly #readers = new Map<number, Handle>();
  readonly #writers = new Map<number, Handle>();
  readonly #socketOwners: (SocketOwner | undefined)[] = [];
  /** Sockets released during a batch close after it, so their fd numbers are not reused mid-batch. */
  #socketsToClose: number[] = [];
  #dispatchingRecords = false;
  /** Made by the first ref(); other threads push calls into it. */
  #mailbox: Mailbox | null = null;
  #defaultExecutor: Executor | null = null;
  /** This loop's addSignalHandler handlers (signals.ts); made on first use. */
  #signalHandlers: SignalHandlers | null = null;
  /** An eventfd write is in flight; more callSoon calls before the batch need no other. */
  #wakeRequested = false;

  /** @internal The argument is for the module's dormant loop only (see DORMANT below). */
  constructor(dormant?: typeof DORMANT) {
    super(dormant === DORMANT);
    if (dormant === DORMANT) {
      // Closed from the start, with no reactor: it exists only for its hidden class.
      this.#reactor = null as unknown as ReactorHandle;
      return;
    }
    this.#reactor = native.create(this.#shared, this.#received.buffer, this.#batchCallback);
    dormantLoop ??= new EventLoop(DORMANT);
  }

  // ---- the hooks of BaseLoop ----------------------------------------------------------------

  protected _startPolling(): void {
    native.start(this.#reactor);
    this.#wakeRequested = true;
    native.wake(this.#reactor);
  }

  protected _stopPolling(): void {
    native.stop(this.#reactor);
  }

  /** @internal Whether this loop, while it runs, keeps the thread's libuv loop (the process) alive; on by default. */
  _keepProcessAlive(keep: boolean): void {
    this._checkClosed();
    native.keepAlive(this.#reactor, keep);
  }

  /** Mid-dispatch a flag is enough (Zig runs another iteration); else one eventfd write. */
  protected _wake(): void {
    if (this.#shared[Header.inDispatch] !== 0) {
      this.#shared[Header.workPending] = 1;
    } else if (!this.#wakeRequested) {
      this.#wakeRequested = true;
      native.wake(this.#reactor);
    }
  }

  /** Only the earliest deadline crosses to Zig. */
  protected _setTimer(delayMs: number): void {
    native.armTimer(this.#reactor, delayMs);
  }

  protected _releaseAll(): void {
    this.#signalHandlers?.removeAll();
    this.#readers.clear();
    this.#writers.clear();
    this.#socketOwners.length = 0;
    this.#socketsToClose = [];
    if (this.#mailbox !== null) native.mailboxClose(this.#mailbox.view);
    // asyncio's close() shuts the default executor down without waiting for it.
    void this.#defaultExecutor?.destroy();
    this.#defaultExecutor = null;
    native.close(this.#reactor);
  }

  // ---- networking (connections.ts, server.ts, transports.ts) -----------------------------

  /** Listens on `host` (a name, a list, or every interface when omitted) and `port`. */
  createServer(
    protocolFactory: ProtocolFactory,
    host?: string | string[] | null,
    port?: number | null,
    options?: CreateServerOptions,
  ): Promise<Server> {
    return createServer(this, protocolFactory, host, port, options);
  }

  /**
   * Connects to `host`:`port`, trying each address getaddrinfo returns in turn. The Future's
   * cancel() (waitFor's timeout does it) and `options.signal` give the attempt up and close its
   * socket, so no protocol is made for a connection nobody holds.
   */
  createConnection<P extends AnyProtocol>(
    protocolFactory: ProtocolFactory<P>,
    host: string,
    port: number,
    options: CreateConnectionOptions = {},
  ): Future<[Transport, P]> {
    return connectionFuture(this, options?.signal, (signal) => createConnection(this, protocolFactory, host, port, options, signal));
  }

  createUnixServer(protocolFactory: ProtocolFactory, path: string, options?: UnixServerOptions): Promise<Server> {
    return createUnixServer(this, protocolFactory, path, options);
  }

  createUnixConnection<P extends AnyProtocol>(
    protocolFactory: ProtocolFactory<P>,
    path: string,
    options: UnixConnectionOptions = {},
  ): Future<[Transport, P]> {
    return connectionFuture(this, options?.signal, (signal) => createUnixConnection(this, protocolFactory, path, options, signal));
  }

  /** A UDP endpoint (datagram.ts): bound to localAddr and/or connected to remoteAddr. */
  createDatagramEndpoint<P extends AnyDatagramProtocol>(
    protocolFactory: () => P,
    options?: CreateDatagramEndpointOptions,
  ): Promise<[DatagramTransport, P]> {
    return createDatagramEndpoint(this, protocolFactory, options);
  }

  /**
   * Sends `count` bytes (to its end when null) of `file` (a FileHandle or an fd) from `offset`
   * over `transport` with sendfile(2) (sendfile.ts); resolves to the bytes sent.
   */
  sendfile(transport: Transport, file: FileHandle | number, offset = 0, count: number | null = null, fallback = true): Promise<number> {
    return sendfile(this, transport, file, offset, count, fallback);
  }

  /**
   * Upgrades a connected `transport` (carrying `protocol`) to TLS; resolves to the new transport
   * once the handshake is done (tls.ts). The old transport must not be used afterwards.
   */
  startTls(transport: Transport, protocol: AnyProtocol, sslContext: SslOption, options?: StartTlsOptions): Promise<Transport> {
    return startTls(this, transport, protocol, sslContext, options);
  }

  getaddrinfo(host: string | null, port: number | string | null, options?: GetaddrinfoOptions): Promise<AddrInfo[]> {
    return getaddrinfo(host, port, options);
  }

  getnameinfo(sockaddr: [string, number], flags = 0): Promise<[string, string]> {
    return getnameinfo(sockaddr, flags);
  }

  // ---- executors (executor.ts) ------------------------------------------------------------

  /**
   * Runs `task` (a module and an export, in piscina's terms: { filename, name }) with `args` on
   * `executor`, or on the default executor (a piscina pool made on first use) when it is null.
   */
  runInExecutor<T = unknown>(executor: Executor | null, task: ExecutorTask, ...args: unknown[]): Future<T> {
    this._checkClosed();
    if (executor === null || executor === undefined) {
      executor = this.#defaultExecutor ??= createDefaultExecutor();
    } else {
      checkExecutor(executor);
    }
    const future = this.createFuture<T>();
    runTask(executor, task, args).then(
      (value) => {
        if (!this.isClosed() && !future.done()) future.setResult(value as T);
      },
      (exception: unknown) => {
        if (!this.isClosed() && !future.done()) future.setException(exception);
      },
    );
    return future;
  }

  setDefaultExecutor(executor: Executor): void {
    checkExecutor(executor);
    this.#defaultExecutor = executor;
  }

  /** Waits for the default executor's threads to finish, then lets it go. */
  override async shutdownDefaultExecutor(): Promise<void> {
    const executor = this.#defaultExecutor;
    this.#defaultExecutor = null;
    await executor?.destroy();
  }

  // ---- cross-thread calls (threadsafe.ts) -------------------------------------------------

  /** A reference to this loop that can be sent to any thread (postMessage, workerData). */
  ref(): LoopRef {
    this._checkClosed();
    if (this.#mailbox === null) {
      this.#mailbox = new Mailbox();
      native.mailboxAttach(this.#reactor, this.#mailbox.view);
    }
    return new LoopRef(this.#mailbox.buffer);
  }

  /** Makes `fn` callable from other threads as ref.callSoonThreadsafe(name, ...args). */
  registerThreadsafe(name: string, fn: Callback): void {
    if (typeof name !== 'string' || name === '') throw argTypeError('name must be a non-empty string');
    checkCallback(fn, 'fn');
    this._checkClosed();
    if (this.#mailbox === null) this.ref();
    this.#mailbox!.register(name, fn);
  }

  unregisterThreadsafe(name: string): boolean {
    return this.#mailbox?.unregister(name) ?? false;
  }

  /** Queues the calls waiting in the mailbox to run in this iteration, in arrival order. */
  #deliverMail(): void {
    for (;;) {
      const batch = this.#mailbox!.take();
      if (batch === null) return;
      this._pushReadyCallback(this.#runMail, [batch]);
    }
  }

  readonly #runMail = (batch: Buffer): void => {
    this.#mailbox!.runCalls(batch, (context) => this.callExceptionHandler(context));
  };

  // ---- pipes, subprocesses and signals (pipes.ts, subprocess.ts, signals.ts) ---------------

  /** Reads `fd` (a pipe, socket or character device) with a new protocol; the transport owns the fd. */
  connectReadPipe<P extends AnyProtocol>(protocolFactory: ProtocolFactory<P>, fd: number): Promise<[ReadPipeTransport, P]> {
    return connectReadPipe(this, protocolFactory, fd);
  }

  /** Writes `fd` (a pipe, socket or character device) for a new protocol; the transport owns the fd. */
  connectWritePipe<P extends AnyProtocol>(protocolFactory: ProtocolFactory<P>, fd: number): Promise<[WritePipeTransport, P]> {
    return connectWritePipe(this, protocolFactory, fd);
  }

  /**
   * Runs `program` with `args`; a last argument that is an object is the options
   * ({ stdin, stdout, stderr, cwd, env }; each stdio defaults to PIPE, as asyncio's).
   */
  subprocessExec<P extends BaseProtocol>(
    protocolFactory: () => P,
    program: string,
    ...args: (string | SubprocessOptions)[]
  ): Promise<[SubprocessTransport, P]> {
    return subprocessExec(this, protocolFactory, program, args);
  }

  /** Runs `cmd` with /bin/sh -c. */
  subprocessShell<P extends BaseProtocol>(protocolFactory: () => P, cmd: string, options?: SubprocessOptions): Promise<[SubprocessTransport, P]> {
    return subprocessShell(this, protocolFactory, cmd, options);
  }

  /** Runs `callback(...args)` on this loop whenever signal `sig` (a name or number) arrives; main thread only. */
  addSignalHandler<A extends unknown[]>(sig: NodeJS.Signals | number, callback: (...args: A) => unknown, ...args: A): void {
    this._checkClosed();
    (this.#signalHandlers ??= new SignalHandlers(this)).add(sig, callback, args);
  }

  /** Returns true if a handler for `sig` was removed. */
  removeSignalHandler(sig: NodeJS.Signals | number): boolean {
    return (this.#signalHandlers ??= new SignalHandlers(this)).remove(sig);
  }

  // ---- fd watchers ------------------------------------------------------------------------

  /** Calls `callback(...args)` whenever `fd` is readable (level-triggered, as asyncio's selector). */
  addReader<A extends unknown[]>(fd: number, callback: (...args: A) => unknown, ...args: A): void {
    this.#addWatcher(this.#readers, fd, callback, args);
  }

  /** Returns true if a reader was registered for `fd`. */
  removeReader(fd: number): boolean {
    return this.#removeWatcher(this.#readers, fd);
  }

  addWriter<A extends unknown[]>(fd: number, callback: (...args: A) => unknown, ...args: A): void {
    this.#addWatcher(this.#writers, fd, callback, args);
  }

  removeWriter(fd: number): boolean {
    return this.#removeWatcher(this.#writers, fd);
  }

  #interest(fd: number): number {
    return (this.#readers.has(fd) ? InterestMask.readable : 0) | (this.#writers.has(fd) ? InterestMask.writable : 0);
  }

  #addWatcher(watchers: Map<number, Handle>, fd: number, callback: Callback, args: unknown[]): void {
    checkFd(fd);
    this._checkClosed();
    checkCallback(callback, 'callback');
    this.#ensureNoTransport(fd);
    const handle = new Handle(callback, args, this);
    const previous = watchers.get(fd);
    if (previous !== undefined) {
      previous.cancel();
      watchers.set(fd, handle);
      return;
    }
    const before = this.#interest(fd);
    watchers.set(fd, handle);
    try {
      native.setInterest(this.#reactor, fd, this.#interest(fd), before);
    } catch (error) {
      watchers.delete(fd);
      throw error;
    }
  }

  /**
   * asyncio's _ensure_fd_no_transport: the reactor already watches a transport's socket, and a
   * second watcher would either fail in epoll_ctl or, while the transport is paused, spin.
   */
  #ensureNoTransport(fd: number): void {
    const owner = this.#socketOwners[fd];
    if (owner !== undefined) throw new Error(`File descriptor ${fd} is used by transport ${String(owner)}`);
  }

  #removeWatcher(watchers: Map<number, Handle>, fd: number): boolean {
    checkFd(fd);
    if (this.isClosed()) return false;
    this.#ensureNoTransport(fd);
    const handle = watchers.get(fd);
    if (handle === undefined) return false;
    handle.cancel();
    const before = this.#interest(fd);
    watchers.delete(fd);
    try {
      native.setInterest(this.#reactor, fd, this.#interest(fd), before);
    } catch {
      // The fd was closed before it was unregistered; the kernel already forgot it.
    }
    return true;
  }

  // ---- the iteration ----------------------------------------------------------------------

  /** One native batch: `recordCount` readiness records, then one iteration of the loop. */
  #onBatch(recordCount: number): void {
    this.#wakeRequested = false;
    if (this.#mailbox !== null && this.#mailbox.hasMessages()) this.#deliverMail();
    const shared = this.#shared;
    if (shared[Header.timerExpired] !== 0) {
      shared[Header.timerExpired] = 0;
      this._timerFired();
    }
    if (recordCount > 0) this.#processRecords(recordCount);
    this.#received.afterBatch(this.#reactor);
    if (this._iterate()) shared[Header.workPending] = 1;
  }

  #processRecords(recordCount: number): void {
    const shared = this.#shared;
    this.#dispatchingRecords = true;
    for (let index = 0; index < recordCount; index++) {
      const base = Header.ints + index * RECORD_INTS;
      const kind = shared[base]!;
      const fd = shared[base + 1]!;
      if (kind !== RecordKind.fdReady) {
        const owner = this.#socketOwners[fd];
        if (owner === undefined) continue;
        try {
          owner._onSocketRecord(kind, shared[base + 2]!, shared[base + 3]!);
        } catch (exception) {
          // Owners catch protocol errors themselves; this guards the loop against our own bugs.
          this.callExceptionHandler({ message: 'Unexpected error while dispatching socket events', exception });
        }
        continue;
      }
      const flags = shared[base + 2]!;
      if (flags & (ReadyFlag.readable | ReadyFlag.hangup)) {
        const reader = this.#readers.get(fd);
        if (reader !== undefined && !reader._cancelled) this._pushReady(reader);
      }
      if (flags & (ReadyFlag.writable | ReadyFlag.hangup)) {
        const writer = this.#writers.get(fd);
        if (writer !== undefined && !writer._cancelled) this._pushReady(writer);
      }
    }
    this.#dispatchingRecords = false;
    const toClose = this.#socketsToClose;
    if (toClose.length > 0 && !this.isClosed()) {
      this.#socketsToClose = [];
      // A graceful close is queued as ~fd (negative), a plain one as fd.
      for (const entry of toClose) this.#closeSocket(entry < 0 ? ~entry : entry, entry < 0);
    }
  }

  // ---- sockets (used by transports.ts and server.ts) ----------------------------------------

  /** @internal The native reactor; throws 'Event loop is closed' once closed. */
  get _reactor(): ReactorHandle {
    this._checkClosed();
    return this.#reactor;
  }

  /** @internal Where the reactor puts the bytes of DATA records. */
  get _receiveBuffer(): Buffer {
    return this.#received.buffer;
  }

  /** @internal The bytes of one DATA record as a Buffer the protocol owns (receive-buffer.ts). */
  _receivedBytes(offset: number, length: number): Buffer {
    return this.#received.bytes(offset, length);
  }

  /** @internal Routes the reactor's records for `fd` to `owner`. */
  _registerSocket(fd: number, owner: SocketOwner): void {
    this.#socketOwners[fd] = owner;
  }

  /** @internal Stops routing records for `fd` and closes it (after the current batch, if any). */
  _releaseSocket(fd: number, graceful = false): void {
    const owner = this.#socketOwners[fd];
    if (owner === undefined) return;
    this.#socketOwners[fd] = undefined;
    owner._onSocketReleased?.();
    if (this.isClosed()) return; // closing the reactor closed every socket
    if (this.#dispatchingRecords) this.#socketsToClose.push(graceful ? ~fd : fd);
    else this.#closeSocket(fd, graceful);
  }

  /**
   * `graceful` (a stream whose writes were all sent): no reset for the peer. The reactor shuts
   * the write side and closes once the peer's EOF came, or after LINGER_SECONDS at the latest.
   */
  #closeSocket(fd: number, graceful: boolean): void {
    if (!graceful) {
      native.closeSocket(this.#reactor, fd);
      return;
    }
    native.closeGracefully(this.#reactor, fd);
    const reactor = this.#reactor;
    this.callLater(LINGER_SECONDS, () => native.closeLingering(reactor, fd));
  }
}

const DORMANT: unique symbol = Symbol('dormant loop');

/**
 * A closed loop without a reactor, kept so V8 keeps the hidden classes (maps) of EventLoop and its
 * queues once every real loop is collected: new maps would deoptimize every function tuned for the
 * old ones (timer bench: ~1.5x slower per run). See also DORMANT_HANDLES (handles.ts).
 */
let dormantLoop: EventLoop | undefined;

/** Creates a loop for this thread (any thread: main or worker). */
export function newEventLoop(): EventLoop {
  return new EventLoop();
}
