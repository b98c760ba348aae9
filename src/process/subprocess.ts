// Subprocesses (asyncio base_subprocess, unix_events and subprocess.py).
//
// Node's child_process.spawn does the fork/exec, owns the SIGCHLD handler and reaps the child
// (waitpid), so zloop does not install a child watcher of its own: two owners of SIGCHLD would
// steal each other's exit statuses. Each stdio pipe is Node's stream for it, wrapped in a pipe
// transport whose events go through loop.callSoon, so every protocol callback runs inside the
// loop, in asyncio's order:
//
//   connectionMade(transport) -> pipeDataReceived(fd, data)* -> pipeConnectionLost(fd, exc) per pipe
//   processExited() once (before or after the pipes' ends) -> connectionLost(null) once all are done
//
// Returncodes are asyncio's: the exit status, or -N when signal N killed the process.
import { type ChildProcess, spawn, type StdioOptions } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { IoLoop } from '../io/io-loop.js';
import { WriteFlowControl } from '../transports/flow-control.js';
import { BaseProtocol, type ExtraInfo } from '../net/protocols.js';
import { signalName, signalNumber } from './signals.js';
import { joinLines, toBytes } from '../transports/transport-core.js';
import { describeType, argTypeError } from '../core/validate.js';
import { checkOptions, findProgram, type NodeStdio, PIPE, splitArgs, STDOUT, stdioOf, type SubprocessOptions } from './spawn-options.js';



/** What a subprocess protocol gets; every method is optional to override (asyncio SubprocessProtocol). */
export class SubprocessProtocol extends BaseProtocol {
  /** `data` arrived on the child's stdout (fd 1) or stderr (fd 2); the Buffer is the protocol's to keep. */
  pipeDataReceived(_fd: number, _data: Buffer): void {}

  /** One of the child's pipes closed: `exc` is null for a clean end. */
  pipeConnectionLost(_fd: number, _exc: Error | null): void {}

  /** The child exited; transport.getReturncode() tells how. */
  processExited(): void {}
}

export type AnySubprocessProtocol = BaseProtocol & {
  pipeDataReceived?(fd: number, data: Buffer): void;
  pipeConnectionLost?(fd: number, exc: Error | null): void;
  processExited?(): void;
};

/** What the child's pipes share: their transport, which fd they are, and the one report of their end. */
abstract class SubprocessPipeEnd {
  /** @internal */
  protected readonly _owner: SubprocessTransport;
  /** @internal 0, 1 or 2: the child's stdin, stdout or stderr. */
  protected readonly _fd: number;
  /** @internal */
  protected _closing = false;
  #lost = false;

  constructor(owner: SubprocessTransport, fd: number) {
    this._owner = owner;
    this._fd = fd;
  }

  /** @internal Runs once, inside the loop. */
  _lost(exc: Error | null): void {
    if (this.#lost) return;
    this.#lost = true;
    this._closing = true;
    this._owner._pipeConnectionLost(this._fd, exc);
  }

  get _disconnected(): boolean {
    return this.#lost;
  }

  isClosing(): boolean {
    return this._closing;
  }

  toString(): string {
    return `<${this.constructor.name} fd=${this._fd}${this.#lost ? ' closed' : ''}>`;
  }
}

/** The read end of the child's stdout or stderr (asyncio: a read pipe transport). */
export class SubprocessReadPipe extends SubprocessPipeEnd {
  readonly #stream: Readable;
  #paused = false;

  /** @internal */
  constructor(owner: SubprocessTransport, fd: number, stream: Readable) {
    super(owner, fd);
    this.#stream = stream;
    stream.on('data', (chunk: Buffer) => owner._schedule(() => {
      if (!this._closing) owner._pipeDataReceived(fd, chunk);
    }));
    stream.on('end', () => owner._schedule(() => this._lost(null)));
    stream.on('error', (error: Error) => owner._schedule(() => this._lost(error)));
    stream.on('close', () => owner._schedule(() => this._lost(null)));
  }

  pauseReading(): void {
    if (this._closing || this.#paused) return;
    this.#paused = true;
    this.#stream.pause();
  }

  resumeReading(): void {
    if (this._closing || !this.#paused) return;
    this.#paused = false;
    this.#stream.resume();
  }

  isReading(): boolean {
    return !this.#paused && !this._closing;
  }

  close(): void {
    if (this._closing) return;
    this._closing = true;
    this.#stream.destroy();
  }

  getExtraInfo<K extends keyof ExtraInfo>(name: K, defaultValue?: ExtraInfo[K]): ExtraInfo[K] | undefined;
  getExtraInfo(name: string, defaultValue?: unknown): unknown;
  getExtraInfo(name: string, defaultValue: unknown = undefined): unknown {
    return name === 'pipe' ? this.#stream : defaultValue;
  }
}

/** The write end of the child's stdin (asyncio: a write pipe transport). */
export class SubprocessWritePipe extends SubprocessPipeEnd {
  readonly #stream: Writable;
  #writesAfterLost = 0;
  /** The marks apply to Node's stream buffer; the transport relays pause/resume to its protocol. */
  readonly #flow: WriteFlowControl;

  /** @internal */
  constructor(owner: SubprocessTransport, stream: Writable) {
    super(owner, 0);
    this.#stream = stream;
    const relay = { pauseWriting: () => owner._pauseWriting(), resumeWriting: () => owner._resumeWriting() };
    this.#flow = new WriteFlowControl(owner._loopForErrors, this, () => relay);
    // A child that exits before reading its stdin makes our writes fail with EPIPE: that is how
    // the pipe ends, reported through pipeConnectionLost(0, exc), never thrown.
    stream.on('error', (error: Error) => owner._schedule(() => this._lost(error)));
    stream.on('close', () => owner._schedule(() => this._lost(null)));
  }

  write(data: Uint8Array | ArrayBufferView | string): void {
    const bytes = toBytes(data);
    if (bytes.length === 0) return;
    if (this._disconnected || this._closing) {
      if (++this.#writesAfterLost === 5) console.warn('pipe closed by peer or os.write(pipe, data) raised exception.');
      return;
    }
    // A copy: Node's stream keeps the chunk until the kernel takes it, the caller may reuse it now.
    this.#stream.write(Buffer.from(bytes), () => this._owner._schedule(() => this.#maybeResume()));
    this.#flow.update(this.#stream.writableLength);
  }

  /** All the chunks with one write (they are joined first). */
  writelines(list: Iterable<Uint8Array | ArrayBufferView | string>): void {
    this.write(joinLines(list));
  }

  #maybeResume(): void {
    if (this.#flow.paused && !this._disconnected) this.#flow.update(this.#stream.writableLength);
  }

  canWriteEof(): boolean {
    return true;
  }

  /** Closes the child's stdin once what was written is sent (for a pipe, EOF is the close). */
  writeEof(): void {
    if (this._closing) return;
    this._closing = true;
    this.#stream.end();
  }

  close(): void {
    this.writeEof();
  }

  abort(): void {
    this._closing = true;
    this.#stream.destroy();
  }

  getWriteBufferSize(): number {
    return this._disconnected ? 0 : this.#stream.writableLength;
  }

  setWriteBufferLimits(high?: number | null, low?: number | null): void {
    this.#flow.setLimits(high, low, this.getWriteBufferSize());
  }

  getWriteBufferLimits(): [low: number, high: number] {
    return this.#flow.limits();
  }

  getExtraInfo<K extends keyof ExtraInfo>(name: K, defaultValue?: ExtraInfo[K]): ExtraInfo[K] | undefined;
  getExtraInfo(name: string, defaultValue?: unknown): unknown;
  getExtraInfo(name: string, defaultValue: unknown = undefined): unknown {
    return name === 'pipe' ? this.#stream : defaultValue;
  }
}

export class SubprocessTransport {
  readonly #loop: IoLoop;
  #protocol: AnySubprocessProtocol;
  readonly #child: ChildProcess;
  readonly #pipes = new Map<number, SubprocessReadPipe | SubprocessWritePipe>();
  #returncode: number | null = null;
  #closed = false;
  #finished = false;
  #exitWaiters: ((returncode: number) => void)[] = [];

  /** @internal Made by subprocessExec/subprocessShell once the child is running. */
  constructor(loop: IoLoop, protocol: AnySubprocessProtocol, child: ChildProcess) {
    this.#loop = loop;
    this.#protocol = protocol;
    this.#child = child;
    if (child.stdin) this.#pipes.set(0, new SubprocessWritePipe(this, child.stdin));
    if (child.stdout) this.#pipes.set(1, new SubprocessReadPipe(this, 1, child.stdout));
    if (child.stderr) this.#pipes.set(2, new SubprocessReadPipe(this, 2, child.stderr));
    child.on('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      const returncode = code ?? -signalNumber(signal!);
      this._schedule(() => this.#processExited(returncode));
    });
    // After a successful spawn, 'error' means a signal could not be sent; kill() reports that itself.
    child.on('error', () => {});
    loop.callSoon(() => this.#call('connectionMade', this));
  }

  getPid(): number {
    return this.#child.pid!;
  }

  /** The exit status, -N if signal N killed the child, or null while it runs. */
  getReturncode(): number | null {
    return this.#returncode;
  }

  /** The transport of the child's fd 0, 1 or 2, or null when that one is not a pipe. */
  getPipeTransport(fd: number): SubprocessReadPipe | SubprocessWritePipe | null {
    return this.#pipes.get(fd) ?? null;
  }

  /** Sends `sig` (a name or a number); does nothing once the child has exited. */
  sendSignal(sig: NodeJS.Signals | number): void {
    const name = signalName(sig);
    this.#checkProc();
    if (this.#returncode !== null || this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    try {
      this.#child.kill(name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }

  terminate(): void {
    this.sendSignal('SIGTERM');
  }

  kill(): void {
    this.sendSignal('SIGKILL');
  }

  /** Closes the pipes and kills the child if it still runs, as asyncio's close(). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const pipe of this.#pipes.values()) pipe.close();
    if (this.#returncode === null && this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill('SIGKILL');
    }
  }

  isClosing(): boolean {
    return this.#closed;
  }

  getProtocol(): AnySubprocessProtocol {
    return this.#protocol;
  }

  setProtocol(protocol: AnySubprocessProtocol): void {
    this.#protocol = protocol;
  }

  getExtraInfo<K extends keyof ExtraInfo>(name: K, defaultValue?: ExtraInfo[K]): ExtraInfo[K] | undefined;
  getExtraInfo(name: string, defaultValue?: unknown): unknown;
  getExtraInfo(name: string, defaultValue: unknown = undefined): unknown {
    return name === 'subprocess' ? this.#child : defaultValue;
  }

  toString(): string {
    const state = this.#closed ? ' closed' : this.#returncode !== null ? ` returncode=${this.#returncode}` : ' running';
    return `<SubprocessTransport pid=${this.#child.pid}${state}>`;
  }

  /** @internal Resolves with the returncode once the child exited and every pipe closed (asyncio 3.12+). */
  _wait(): Promise<number> {
    if (this.#finished && this.#returncode !== null) return Promise.resolve(this.#returncode);
    return new Promise((resolve) => this.#exitWaiters.push(resolve));
  }

  /** @internal Runs `fn` in the loop; events that come after the loop closed are dropped. */
  _schedule(fn: () => void): void {
    if (!this.#loop.isClosed()) this.#loop.callSoon(fn);
  }

  /** @internal */
  _pipeDataReceived(fd: number, data: Buffer): void {
    this.#call('pipeDataReceived', fd, data);
  }

  /** @internal */
  _pipeConnectionLost(fd: number, exc: Error | null): void {
    this.#call('pipeConnectionLost', fd, exc);
    this.#tryFinish();
  }

  /** @internal Where the stdin pipe's flow control reports a failing callback. */
  get _loopForErrors(): IoLoop {
    return this.#loop;
  }

  /** @internal The stdin pipe went over its high-water mark. */
  _pauseWriting(): void {
    this.#call('pauseWriting');
  }

  /** @internal */
  _resumeWriting(): void {
    this.#call('resumeWriting');
  }

  #processExited(returncode: number): void {
    if (this.#returncode !== null) return;
    this.#returncode = returncode;
    this.#call('processExited');
    this.#tryFinish();
  }

  #tryFinish(): void {
    if (this.#finished || this.#returncode === null) return;
    for (const pipe of this.#pipes.values()) if (!pipe._disconnected) return;
    this.#finished = true;
    this.#loop.callSoon(() => {
      this.#call('connectionLost', null);
      const returncode = this.#returncode!;
      for (const resolve of this.#exitWaiters.splice(0)) resolve(returncode);
    });
  }

  #call(method: 'connectionMade' | 'pipeDataReceived' | 'pipeConnectionLost' | 'processExited' | 'connectionLost' | 'pauseWriting' | 'resumeWriting', ...args: unknown[]): void {
    const protocol = this.#protocol as unknown as Record<string, ((...args: unknown[]) => void) | undefined>;
    try {
      protocol[method]?.(...args);
    } catch (exception) {
      this.#loop.callExceptionHandler({
        message: `Exception in callback protocol.${method}()`,
        exception,
        transport: this,
        protocol: this.#protocol,
      });
    }
  }

  #checkProc(): void {
    if (this.#closed && this.#returncode === null && this.#child.exitCode === null && this.#child.signalCode === null) {
      // asyncio raises ProcessLookupError once the transport is closed.
      throw Object.assign(new Error('The subprocess transport is closed'), { name: 'ProcessLookupError', code: 'ESRCH' });
    }
  }
}

// ---- starting a child ------------------------------------------------------------------------

/** Spawns; resolves once the child runs, rejects with Node's spawn error (ENOENT, EACCES, ...). */
async function startChild(
  loop: IoLoop,
  protocolFactory: () => AnySubprocessProtocol,
  file: string,
  args: string[],
  options: SubprocessOptions,
  shell: boolean,
): Promise<[SubprocessTransport, AnySubprocessProtocol]> {
  if (loop.isClosed()) throw new Error('Event loop is closed');
  const stdin = stdioOf(options.stdin === undefined ? PIPE : options.stdin, 'stdin');
  const stdout = stdioOf(options.stdout === undefined ? PIPE : options.stdout, 'stdout');
  let stderr: NodeStdio;
  let argv = args;
  if (options.stderr === STDOUT) {
    if (stdout === 'pipe') {
      // Node cannot hand the child one pipe as two fds, so a shell makes fd 2 a copy of fd 1 and
      // then execs the program (same pid, so signals and the returncode are the program's).
      if (!shell) findProgram(file, options);
      argv = shell ? ['-c', `exec 2>&1\n${args[1]}`] : ['-c', 'exec 2>&1; exec "$@"', 'sh', file, ...args];
      file = shell ? file : '/bin/sh';
      stderr = 'ignore';
    } else {
      // 'inherit' means our fd 1; an fd or 'ignore' is shared as it is.
      stderr = stdout === 'inherit' ? 1 : stdout;
    }
  } else {
    stderr = stdioOf(options.stderr === undefined ? PIPE : options.stderr, 'stderr');
  }
  const protocol = protocolFactory();
  const stdio: StdioOptions = [stdin, stdout, stderr];
  const child = spawn(file, argv, { stdio, cwd: options.cwd, env: options.env, windowsHide: true });
  if (child.pid === undefined) {
    // Node reports a failed spawn on the next tick as 'error'.
    const error = await new Promise<Error>((resolve) => child.once('error', resolve));
    for (const stream of [child.stdin, child.stdout, child.stderr]) stream?.destroy();
    throw error;
  }
  const transport = new SubprocessTransport(loop, protocol, child);
  // asyncio resolves after connectionMade has run.
  await new Promise<void>((resolve) => loop.callSoon(resolve));
  return [transport, protocol];
}

export function subprocessExec<P extends AnySubprocessProtocol>(
  loop: IoLoop,
  protocolFactory: () => P,
  program: string,
  rest: unknown[],
): Promise<[SubprocessTransport, P]> {
  try {
    if (typeof protocolFactory !== 'function') throw argTypeError(`protocolFactory must be a function, not ${describeType(protocolFactory)}`);
    if (typeof program !== 'string' || program === '') throw argTypeError(`program must be a non-empty string, not ${describeType(program)}`);
    const { args, options } = splitArgs(rest);
    checkOptions(options);
    return startChild(loop, protocolFactory, program, args, options, false) as Promise<[SubprocessTransport, P]>;
  } catch (error) {
    return Promise.reject(error);
  }
}

export function subprocessShell<P extends AnySubprocessProtocol>(
  loop: IoLoop,
  protocolFactory: () => P,
  cmd: string,
  options: SubprocessOptions = {},
): Promise<[SubprocessTransport, P]> {
  try {
    if (typeof protocolFactory !== 'function') throw argTypeError(`protocolFactory must be a function, not ${describeType(protocolFactory)}`);
    if (typeof cmd !== 'string') throw argTypeError(`cmd must be a string, not ${describeType(cmd)}`);
    checkOptions(options);
    return startChild(loop, protocolFactory, '/bin/sh', ['-c', cmd], options, true) as Promise<[SubprocessTransport, P]>;
  } catch (error) {
    return Promise.reject(error);
  }
}
