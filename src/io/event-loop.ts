// EventLoop: asyncio's base event loop on a Zig reactor. The ready queue and the timer heap live
// here; the reactor (native/) watches fds, the wakeup eventfd and the one timer deadline, and
// calls #onBatch once per iteration. See ../shared/DESIGN.md ("How a wakeup flows").
import {
  createConnection,
  type CreateConnectionOptions,
  createServer,
  type CreateServerOptions,
  createUnixConnection,
  createUnixServer,
  type UnixConnectionOptions,
  type UnixServerOptions,
} from '../net/connections.js';
import { type SslOption, startTls, type StartTlsOptions } from '../transports/tls.js';
import { ReadyQueue } from '../core/ready-queue.js';
import { type AddrInfo, getaddrinfo, type GetaddrinfoOptions, getnameinfo } from '../net/dns.js';
import { checkExecutor, createDefaultExecutor, type Executor, type ExecutorTask, runTask } from '../process/executor.js';
import { cancellable, Future, Task, type TaskTarget } from '../core/futures.js';
import { Handle, NO_ARGS, TimerHandle } from '../core/handles.js';
import {
  Header,
  InterestMask,
  native,
  ReadyFlag,
  RecordKind,
  RECEIVE_BUFFER_BYTES,
  RECORD_INTS,
  RECORDS_MAX,
  type ReactorHandle,
} from './native.js';
import type { AnyProtocol, BaseProtocol, ProtocolFactory } from '../net/protocols.js';
import { _getRunningLoop, _setRunningLoop } from '../core/running.js';
import type { Server } from '../net/server.js';
import { LoopRef, Mailbox } from '../threads/threadsafe.js';
import { connectReadPipe, connectWritePipe, type ReadPipeTransport, type WritePipeTransport } from '../transports/pipes.js';
import { SignalHandlers } from '../process/signals.js';
import { subprocessExec, subprocessShell, type SubprocessOptions, type SubprocessTransport } from '../process/subprocess.js';
import { TimerQueue } from '../core/timer-heap.js';
import { type AnyDatagramProtocol, createDatagramEndpoint, type CreateDatagramEndpointOptions, type DatagramTransport } from '../transports/datagram.js';
import { sendfile } from '../transports/sendfile.js';
import type { Transport } from '../transports/socket.js';
import { type Callback, checkCallback, checkFd, checkSeconds, isThenable } from '../core/validate.js';
import type { FileHandle } from 'node:fs/promises';
import type { ExceptionContext } from '../core/loop-types.js';
import type { IoLoop, SocketOwner } from './io-loop.js';

export type { ExceptionContext } from '../core/loop-types.js';
export type { SocketOwner } from './io-loop.js';
export type ExceptionHandler = (loop: EventLoop, context: ExceptionContext) => void;
export type TaskFactory = (loop: EventLoop, target: TaskTarget<any>, options: { name?: string }) => Task<any>;

const CLOCK_RESOLUTION = 1e-6;
/**
 * How long a gracefully closed stream waits for the peer's EOF before it is closed anyway (what
 * the peer still sends meanwhile is dropped): long enough for a peer to read the last bytes and
 * hang up, short enough that a peer that never does cannot hold fds for long.
 */
const LINGER_SECONDS = 2;

/**
 * Node's global `performance` is a lazy getter on globalThis: reading it costs a getter call, a
 * fifth of what time() costs (and callLater calls time()). The object itself does not change.
 */
const clock = performance;

export class EventLoop implements IoLoop {
  readonly #ready = new ReadyQueue();
  readonly #timers = new TimerQueue();
  /**
   * While an iteration runs, timers due by this time are the ones it runs; a timer scheduled
   * meanwhile that is due by then waits in #lateTimers for the next iteration, as in asyncio.
   */
  #dueUntil = -Infinity;
  #lateTimers: TimerHandle[] = [];
  readonly #shared = new Int32Array(Header.ints + RECORDS_MAX * RECORD_INTS);
  readonly #receiveBuffer = Buffer.allocUnsafeSlow(RECEIVE_BUFFER_BYTES);
  /** The native side holds these three weakly while the loop is idle, so the loop owns them. */
  readonly #batchCallback = (recordCount: number): void => this.#onBatch(recordCount);
  readonly #reactor: ReactorHandle;
  readonly #readers = new Map<number, Handle>();
  readonly #writers = new Map<number, Handle>();
  readonly #socketOwners: (SocketOwner | undefined)[] = [];
  /** Sockets released during a batch close after it, so their fd numbers are not reused mid-batch. */
  #socketsToClose: number[] = [];
  #dispatchingRecords = false;
  readonly #tasks = new Set<Task<any>>();
  /** Made by the first ref(); other threads push calls into it. */
  #mailbox: Mailbox | null = null;
  #defaultExecutor: Executor | null = null;
  /** This loop's addSignalHandler handlers (signals.ts); made on first use. */
  #signalHandlers: SignalHandlers | null = null;
  #taskFactory: TaskFactory | null = null;
  #tasksAfterPrune = 0;

  #closed = false;
  #running = false;
  #stopping = false;
  #inRunOnce = false;
  /** An eventfd write is in flight; more callSoon calls before the batch need no other. */
  #wakeRequested = false;
  /** The deadline the native timer is armed for (Infinity: disarmed). */
  #armedDeadline = Infinity;
  #finishRun: (() => void) | null = null;

  #exceptionHandler: ExceptionHandler | null = null;
  #debug = false;
  /** In debug mode, callbacks that take longer than this many seconds are logged. */
  slowCallbackDuration = 0.1;

  /** @internal The argument is for the module's dormant loop only (see DORMANT below). */
  constructor(dormant?: typeof DORMANT) {
    if (dormant === DORMANT) {
      // Closed from the start, with no reactor: it exists only for its hidden class.
      this.#reactor = null as unknown as ReactorHandle;
      this.#closed = true;
      return;
    }
    this.#reactor = native.create(this.#shared, this.#receiveBuffer, this.#batchCallback);
    dormantLoop ??= new EventLoop(DORMANT);
  }

  // ---- scheduling -------------------------------------------------------------------------

  /** The loop's clock in seconds: monotonic, the clock callAt deadlines are measured on. */
  time(): number {
    return clock.now() / 1000;
  }

  callSoon(callback: Callback, ...args: unknown[]): Handle;
  callSoon(callback: Callback): Handle {
    this.#checkClosed();
    checkCallback(callback, 'callback');
    // `arguments`, not a rest parameter: the usual call without arguments allocates no array.
    let args = NO_ARGS;
    const count = arguments.length;
    if (count > 1) {
      args = new Array(count - 1);
      for (let index = 1; index < count; index++) args[index - 1] = arguments[index];
    }
    const handle = this.#ready.pushCallback(callback, args, this);
    if (!this.#inRunOnce) this.#requestIteration();
    return handle;
  }

  /**
   * callSoon that may be called from outside the loop's own callbacks (a Node timer or I/O
   * callback on this thread). Functions cannot cross threads in JavaScript; for other threads
   * see LoopRef.callSoonThreadsafe.
   */
  callSoonThreadsafe(callback: Callback, ...args: unknown[]): Handle;
  callSoonThreadsafe(): Handle {
    return this.callSoon.apply(this, arguments as unknown as [Callback]);
  }

  callLater(delay: number, callback: Callback, ...args: unknown[]): TimerHandle;
  callLater(delay: number, callback: Callback): TimerHandle {
    checkSeconds(delay, 'delay');
    this.#checkClosed();
    checkCallback(callback, 'callback');
    let args = NO_ARGS;
    const count = arguments.length;
    if (count > 2) {
      args = new Array(count - 2);
      for (let index = 2; index < count; index++) args[index - 2] = arguments[index];
    }
    const when = this.time() + delay;
    const timer = new TimerHandle(when, callback, args, this);
    // One FIFO list per delay (timer-heap.ts): when() is time() + delay, as asyncio's call_later.
    if (when > this.#dueUntil) this.#timers.pushLater(delay, timer);
    else this.#lateTimers.push(timer);
    if (!this.#inRunOnce && when < this.#armedDeadline) this.#armTimer();
    return timer;
  }

  callAt(when: number, callback: Callback, ...args: unknown[]): TimerHandle;
  callAt(when: number, callback: Callback): TimerHandle {
    checkSeconds(when, 'when');
    this.#checkClosed();
    checkCallback(callback, 'callback');
    let args = NO_ARGS;
    const count = arguments.length;
    if (count > 2) {
      args = new Array(count - 2);
      for (let index = 2; index < count; index++) args[index - 2] = arguments[index];
    }
    const timer = new TimerHandle(when, callback, args, this);
    if (when > this.#dueUntil) this.#timers.pushAt(timer);
    else this.#lateTimers.push(timer);
    if (!this.#inRunOnce && when < this.#armedDeadline) this.#armTimer();
    return timer;
  }

  /** @internal Called by TimerHandle.cancel(). */
  _timerHandleCancelled(timer: TimerHandle): void {
    this.#timers.cancel(timer);
  }

  /** Diagnostics: timers scheduled and not run yet, cancelled ones not yet dropped included. */
  get scheduledTimerCount(): number {
    return this.#timers.size + this.#lateTimers.length;
  }

  // ---- running ----------------------------------------------------------------------------

  /** Runs until stop() is called; the promise resolves once the loop has stopped. */
  runForever(): Promise<void> {
    try {
      this.#checkClosed();
      this.#checkNotRunning();
    } catch (error) {
      return Promise.reject(error);
    }
    this.#running = true;
    _setRunningLoop(this);
    native.start(this.#reactor);
    this.#wakeRequested = true;
    native.wake(this.#reactor);
    this.#armedDeadline = Infinity;
    this.#armTimer();
    return new Promise<void>((resolve) => {
      this.#finishRun = resolve;
    });
  }

  /** Runs until `awaitable` (a Future, a promise, or an async function) is done; returns its result. */
  async runUntilComplete<T>(awaitable: Future<T> | TaskTarget<T>): Promise<T> {
    this.#checkClosed();
    this.#checkNotRunning();
    const future = awaitable instanceof Future ? awaitable : this.createTask(awaitable);
    if (future.getLoop() !== this) throw new Error('The future belongs to a different loop than the one specified as the loop argument');
    const stopWhenDone = (): void => this.stop();
    future.addDoneCallback(stopWhenDone);
    try {
      await this.runForever();
    } finally {
      future.removeDoneCallback(stopWhenDone);
    }
    if (!future.done()) throw new Error('Event loop stopped before Future completed.');
    return future.result();
  }

  /** Stops after the current iteration; a loop that is not running stops after its next one. */
  stop(): void {
    this.#stopping = true;
    if (this.#running) this.#requestIteration();
  }

  isRunning(): boolean {
    return this.#running;
  }

  isClosed(): boolean {
    return this.#closed;
  }

  /** Drops pending callbacks and timers and releases the reactor. Idempotent. */
  close(): void {
    if (this.#running) throw new Error('Cannot close a running event loop');
    if (this.#closed) return;
    this.#closed = true;
    this.#signalHandlers?.removeAll();
    this.#ready.clear();
    this.#timers.clear();
    this.#lateTimers = [];
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

  // ---- futures and tasks --------------------------------------------------------------------

  createFuture<T = unknown>(): Future<T> {
    this.#checkClosed();
    return new Future<T>(this);
  }

  createTask<T>(fnOrPromise: TaskTarget<T>, options: { name?: string } = {}): Task<T> {
    this.#checkClosed();
    const factory = this.#taskFactory;
    const task = factory === null ? new Task<T>(this, fnOrPromise, options.name) : (factory(this, fnOrPromise, options) as Task<T>);
    this.#tasks.add(task);
    // Done tasks are dropped in bulk once the set doubles, so tracking costs O(1) per task.
    if (this.#tasks.size > 2 * this.#tasksAfterPrune + 64) this.allTasks();
    return task;
  }

  /**
   * Makes createTask call `factory(loop, target, options)` instead of `new Task(...)`; null
   * restores the default. As asyncio's, the factory must return a Task (or a subclass) of this loop.
   */
  setTaskFactory(factory: TaskFactory | null): void {
    if (factory !== null && typeof factory !== 'function') throw new TypeError('task factory must be a callable or None');
    this.#taskFactory = factory;
  }

  getTaskFactory(): TaskFactory | null {
    return this.#taskFactory;
  }

  /** The tasks of this loop that are not done yet. */
  allTasks(): Set<Task<any>> {
    for (const task of this.#tasks) if (task.done()) this.#tasks.delete(task);
    this.#tasksAfterPrune = this.#tasks.size;
    return new Set(this.#tasks);
  }

  // ---- errors and debug -------------------------------------------------------------------

  setExceptionHandler(handler: ExceptionHandler | null): void {
    if (handler !== null && typeof handler !== 'function') {
      throw new TypeError(`A callable object or None is expected, got ${String(handler)}`);
    }
    this.#exceptionHandler = handler;
  }

  getExceptionHandler(): ExceptionHandler | null {
    return this.#exceptionHandler;
  }

  /** Routes an error to the exception handler; never throws (handler failures are logged). */
  callExceptionHandler(context: ExceptionContext): void {
    const handler = this.#exceptionHandler;
    if (handler === null) {
      try {
        this.defaultExceptionHandler(context);
      } catch (error) {
        console.error('Exception in default exception handler', error);
      }
      return;
    }
    try {
      handler(this, context);
    } catch (exception) {
      try {
        this.defaultExceptionHandler({ message: 'Unhandled error in exception handler', exception, context });
      } catch (error) {
        console.error('Exception in default exception handler while handling an unexpected error in custom exception handler', error);
      }
    }
  }

  /** Logs the context with console.error, as asyncio logs it with logger.error. */
  defaultExceptionHandler(context: ExceptionContext): void {
    const lines = [context.message || 'Unhandled exception in event loop'];
    for (const [key, value] of Object.entries(context)) {
      if (key === 'message' || key === 'exception') continue;
      lines.push(`${key}: ${String(value)}`);
    }
    const exception = context.exception;
    if (exception !== undefined) {
      lines.push(exception instanceof Error ? (exception.stack ?? String(exception)) : String(exception));
    }
    console.error(lines.join('\n'));
  }

  setDebug(enabled: boolean): void {
    this.#debug = Boolean(enabled);
  }

  getDebug(): boolean {
    return this.#debug;
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
    return cancellable<[Transport, P]>(this, options?.signal, (signal) => createConnection(this, protocolFactory, host, port, options, signal), closeConnection);
  }

  createUnixServer(protocolFactory: ProtocolFactory, path: string, options?: UnixServerOptions): Promise<Server> {
    return createUnixServer(this, protocolFactory, path, options);
  }

  createUnixConnection<P extends AnyProtocol>(
    protocolFactory: ProtocolFactory<P>,
    path: string,
    options: UnixConnectionOptions = {},
  ): Future<[Transport, P]> {
    return cancellable<[Transport, P]>(this, options?.signal, (signal) => createUnixConnection(this, protocolFactory, path, options, signal), closeConnection);
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
    this.#checkClosed();
    if (executor === null || executor === undefined) {
      executor = this.#defaultExecutor ??= createDefaultExecutor();
    } else {
      checkExecutor(executor);
    }
    const future = this.createFuture<T>();
    runTask(executor, task, args).then(
      (value) => {
        if (!this.#closed && !future.done()) future.setResult(value as T);
      },
      (exception: unknown) => {
        if (!this.#closed && !future.done()) future.setException(exception);
      },
    );
    return future;
  }

  setDefaultExecutor(executor: Executor): void {
    checkExecutor(executor);
    this.#defaultExecutor = executor;
  }

  /** Waits for the default executor's threads to finish, then lets it go. */
  async shutdownDefaultExecutor(): Promise<void> {
    const executor = this.#defaultExecutor;
    this.#defaultExecutor = null;
    await executor?.destroy();
  }

  // ---- cross-thread calls (threadsafe.ts) -------------------------------------------------

  /** A reference to this loop that can be sent to any thread (postMessage, workerData). */
  ref(): LoopRef {
    this.#checkClosed();
    if (this.#mailbox === null) {
      this.#mailbox = new Mailbox();
      native.mailboxAttach(this.#reactor, this.#mailbox.view);
    }
    return new LoopRef(this.#mailbox.buffer);
  }

  /** Makes `fn` callable from other threads as ref.callSoonThreadsafe(name, ...args). */
  registerThreadsafe(name: string, fn: Callback): void {
    if (typeof name !== 'string' || name === '') throw new TypeError('name must be a non-empty string');
    checkCallback(fn, 'fn');
    this.#checkClosed();
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
      this.#ready.pushCallback(this.#runMail, [batch], this);
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
  addSignalHandler(sig: NodeJS.Signals | number, callback: Callback, ...args: unknown[]): void {
    this.#checkClosed();
    (this.#signalHandlers ??= new SignalHandlers(this)).add(sig, callback, args);
  }

  /** Returns true if a handler for `sig` was removed. */
  removeSignalHandler(sig: NodeJS.Signals | number): boolean {
    return (this.#signalHandlers ??= new SignalHandlers(this)).remove(sig);
  }

  // ---- fd watchers ------------------------------------------------------------------------

  /** Calls `callback(...args)` whenever `fd` is readable (level-triggered, as asyncio's selector). */
  addReader(fd: number, callback: Callback, ...args: unknown[]): void {
    this.#addWatcher(this.#readers, fd, callback, args);
  }

  /** Returns true if a reader was registered for `fd`. */
  removeReader(fd: number): boolean {
    return this.#removeWatcher(this.#readers, fd);
  }

  addWriter(fd: number, callback: Callback, ...args: unknown[]): void {
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
    this.#checkClosed();
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
    if (this.#closed) return false;
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
      this.#armedDeadline = Infinity;
    }
    if (recordCount > 0) this.#processRecords(recordCount);
    this.#runOnce();
    if (this.#stopping) {
      this.#endRun();
      return;
    }
    if (this.#ready.length > 0) {
      shared[Header.workPending] = 1;
    } else if (this.#timers.size > 0 && this.#timers.nextDeadline() !== this.#armedDeadline) {
      this.#armTimer();
    }
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
        if (reader !== undefined && !reader._cancelled) this.#ready.push(reader);
      }
      if (flags & (ReadyFlag.writable | ReadyFlag.hangup)) {
        const writer = this.#writers.get(fd);
        if (writer !== undefined && !writer._cancelled) this.#ready.push(writer);
      }
    }
    this.#dispatchingRecords = false;
    const toClose = this.#socketsToClose;
    if (toClose.length > 0 && !this.#closed) {
      this.#socketsToClose = [];
      // A graceful close is queued as ~fd (negative), a plain one as fd.
      for (const entry of toClose) this.#closeSocket(entry < 0 ? ~entry : entry, entry < 0);
    }
  }

  // ---- sockets (used by transports.ts and server.ts) ----------------------------------------

  /** @internal The native reactor; throws 'Event loop is closed' once closed. */
  get _reactor(): ReactorHandle {
    this.#checkClosed();
    return this.#reactor;
  }

  /** @internal Where the reactor puts the bytes of DATA records. */
  get _receiveBuffer(): Buffer {
    return this.#receiveBuffer;
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
    if (this.#closed) return; // closing the reactor closed every socket
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

  /**
   * Runs the callbacks that were ready at its start, then the timers due at its start, as
   * asyncio's _run_once does (it moves those timers behind the ready callbacks; they run here
   * straight from the timer queue, which is the same order).
   */
  #runOnce(): void {
    this.#inRunOnce = true;
    const timers = this.#timers;
    const dueUntil = timers.size > 0 ? this.time() + CLOCK_RESOLUTION : -Infinity;
    this.#dueUntil = dueUntil;
    const ready = this.#ready;
    const count = ready.length;
    const debug = this.#debug;
    if (debug) {
      for (let index = 0; index < count; index++) {
        const handle = ready.shift(this);
        if (handle !== null && !handle._cancelled) this.#runTimed(handle);
      }
    } else {
      ready.run(count, this);
    }
    if (dueUntil !== -Infinity) timers.runDue(dueUntil, this, debug ? this.#runTimed : null);
    this.#dueUntil = -Infinity;
    if (this.#lateTimers.length > 0) this.#queueLateTimers();
    this.#inRunOnce = false;
  }

  /** Queues the timers scheduled during the iteration that were due by its start (see #dueUntil). */
  #queueLateTimers(): void {
    const late = this.#lateTimers;
    this.#lateTimers = [];
    for (const timer of late) if (!timer._cancelled) this.#timers.pushAt(timer);
  }

  readonly #runTimed = (handle: Handle): void => {
    const started = this.time();
    handle._run();
    const elapsed = this.time() - started;
    if (elapsed >= this.slowCallbackDuration) {
      console.warn(`Executing ${handle.toString()} took ${elapsed.toFixed(3)} seconds`);
    }
  };

  #endRun(): void {
    this.#stopping = false;
    this.#running = false;
    _setRunningLoop(null);
    native.stop(this.#reactor);
    const finish = this.#finishRun;
    this.#finishRun = null;
    finish?.();
  }

  /** Makes sure an iteration follows soon: flag it mid-dispatch, else write the eventfd once. */
  #requestIteration(): void {
    if (!this.#running) return;
    if (this.#shared[Header.inDispatch] !== 0) {
      this.#shared[Header.workPending] = 1;
    } else if (!this.#wakeRequested) {
      this.#wakeRequested = true;
      native.wake(this.#reactor);
    }
  }

  /** Arms the native timer for the earliest live deadline (only the deadline crosses to Zig). */
  #armTimer(): void {
    if (!this.#running) return;
    const next = this.#timers.nextDeadline();
    if (next === this.#armedDeadline) return;
    this.#armedDeadline = next;
    native.armTimer(this.#reactor, next === Infinity ? -1 : Math.max(0, (next - this.time()) * 1000));
  }

  #checkClosed(): void {
    if (this.#closed) throw new Error('Event loop is closed');
  }

  #checkNotRunning(): void {
    if (this.#running) throw new Error('This event loop is already running');
    if (_getRunningLoop() !== null) {
      throw new Error('Cannot run the event loop while another loop is running');
    }
  }
}

const DORMANT: unique symbol = Symbol('dormant loop');

/**
 * A closed loop without a reactor that the module keeps, made with the thread's first loop. V8
 * keeps a hidden class (map) alive only while some object has it: once every loop is closed and
 * collected (a fresh loop per test, per bench repetition or per request), the next loop's
 * EventLoop, ReadyQueue and TimerQueue would get new maps, and every function optimized for the
 * old ones would be deoptimized and optimized again (measured on the timer bench: ~1.5x slower per
 * run). See also DORMANT_HANDLES (handles.ts).
 */
let dormantLoop: EventLoop | undefined;

/** Creates a loop for this thread (any thread: main or worker). */
export function newEventLoop(): EventLoop {
  return new EventLoop();
}

/** Wraps a promise or async function in a Task of `loop`; passes Futures through. */
/** A connection that completed after its Future was cancelled: nobody holds it, so it goes. */
function closeConnection([transport]: [Transport, unknown]): void {
  transport.abort();
}

export function ensureFuture<T>(awaitable: Future<T> | TaskTarget<T>, loop: EventLoop): Future<T> {
  if (awaitable instanceof Future) return awaitable;
  if (typeof awaitable === 'function' || isThenable(awaitable)) return loop.createTask(awaitable);
  throw new TypeError('An asyncio.Future, a coroutine or an awaitable is required');
}
