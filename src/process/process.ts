// asyncio.subprocess, the streams level: createSubprocessExec/createSubprocessShell give a Process
// whose stdin is a StreamWriter and whose stdout/stderr are StreamReaders.
import type { IoLoop } from '../io/io-loop.js';
import { getRunningIoLoop as getRunningLoop } from '../io/io-loop.js';
import { StreamReader, StreamReaderProtocol, StreamWriter } from '../net/streams.js';
import type { Transport } from '../transports/socket.js';
import { toBytes } from '../transports/transport-core.js';
import { describeType, argRangeError, argTypeError } from '../core/validate.js';
import { type CreateSubprocessOptions, splitArgs, type SubprocessOptions } from './spawn-options.js';
import { subprocessExec, SubprocessProtocol, subprocessShell, type SubprocessTransport } from './subprocess.js';

/** Feeds the child's pipes into StreamReaders and gives stdin a StreamWriter (asyncio SubprocessStreamProtocol). */
class SubprocessStreamProtocol extends SubprocessProtocol {
  readonly #loop: IoLoop;
  readonly #limit: number | undefined;
  stdin: StreamWriter | null = null;
  stdout: StreamReader | null = null;
  stderr: StreamReader | null = null;
  /** Flow control and connection state for the stdin writer (drain, waitClosed). */
  readonly #stdinProtocol: StreamReaderProtocol;

  constructor(loop: IoLoop, limit: number | undefined) {
    super();
    this.#loop = loop;
    this.#limit = limit;
    this.#stdinProtocol = new StreamReaderProtocol(new StreamReader(), null, loop);
  }

  override connectionMade(transport: Transport): void {
    const subprocess = transport as unknown as SubprocessTransport;
    const stdout = subprocess.getPipeTransport(1);
    if (stdout !== null) {
      this.stdout = new StreamReader({ limit: this.#limit });
      this.stdout.setTransport(stdout as unknown as Transport);
    }
    const stderr = subprocess.getPipeTransport(2);
    if (stderr !== null) {
      this.stderr = new StreamReader({ limit: this.#limit });
      this.stderr.setTransport(stderr as unknown as Transport);
    }
    const stdin = subprocess.getPipeTransport(0);
    if (stdin !== null) this.stdin = new StreamWriter(stdin as unknown as Transport, this.#stdinProtocol, null, this.#loop);
  }

  override pipeDataReceived(fd: number, data: Buffer): void {
    (fd === 1 ? this.stdout : fd === 2 ? this.stderr : null)?.feedData(data);
  }

  override pipeConnectionLost(fd: number, exc: Error | null): void {
    if (fd === 0) {
      this.#stdinProtocol.connectionLost(exc);
      return;
    }
    const reader = fd === 1 ? this.stdout : fd === 2 ? this.stderr : null;
    if (reader === null) return;
    if (exc === null) reader.feedEof();
    else reader.setException(exc);
  }

  override pauseWriting(): void {
    this.#stdinProtocol.pauseWriting();
  }

  override resumeWriting(): void {
    this.#stdinProtocol.resumeWriting();
  }
}

/** A child started by createSubprocessExec/createSubprocessShell (asyncio.subprocess.Process). */
export class Process {
  readonly #transport: SubprocessTransport;
  readonly #protocol: SubprocessStreamProtocol;
  readonly stdin: StreamWriter | null;
  readonly stdout: StreamReader | null;
  readonly stderr: StreamReader | null;
  readonly pid: number;

  /** @internal */
  constructor(transport: SubprocessTransport, protocol: SubprocessStreamProtocol) {
    this.#transport = transport;
    this.#protocol = protocol;
    this.stdin = protocol.stdin;
    this.stdout = protocol.stdout;
    this.stderr = protocol.stderr;
    this.pid = transport.getPid();
  }

  /** null while the child runs; then its exit status, or -N if signal N killed it. */
  get returncode(): number | null {
    return this.#transport.getReturncode();
  }

  /** Resolves with the returncode once the child exited and its pipes closed. */
  wait(): Promise<number> {
    return this.#transport._wait();
  }

  sendSignal(sig: NodeJS.Signals | number): void {
    this.#transport.sendSignal(sig);
  }

  terminate(): void {
    this.#transport.terminate();
  }

  kill(): void {
    this.#transport.kill();
  }

  /**
   * Writes `input` to stdin and closes it, reads stdout and stderr to EOF and waits for the exit;
   * resolves with [stdout, stderr] (null for one that is not a pipe). A child that exits without
   * reading its input is not an error, as in asyncio.
   */
  async communicate(input?: Uint8Array | string | null): Promise<[Buffer | null, Buffer | null]> {
    if (input !== undefined && input !== null && this.stdin === null) {
      throw new Error('communicate(input) needs stdin=PIPE');
    }
    const feed = async (): Promise<void> => {
      const stdin = this.stdin;
      if (stdin === null) return;
      try {
        if (input !== undefined && input !== null && toBytes(input).length > 0) {
          stdin.write(input);
          await stdin.drain();
        }
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'EPIPE' && code !== 'ECONNRESET') throw error;
      }
      stdin.close();
    };
    const [, stdout, stderr] = await Promise.all([
      feed(),
      this.stdout === null ? null : this.stdout.read(),
      this.stderr === null ? null : this.stderr.read(),
    ]);
    await this.wait();
    return [stdout, stderr];
  }

  toString(): string {
    return `<Process ${this.pid}>`;
  }

  /** @internal */
  get _protocol(): SubprocessStreamProtocol {
    return this.#protocol;
  }
}

function streamOptions(options: CreateSubprocessOptions): [SubprocessOptions, number | undefined] {
  if (options === null || typeof options !== 'object') throw argTypeError(`options must be an object, not ${describeType(options)}`);
  const { limit, ...rest } = options;
  if (limit !== undefined && (typeof limit !== 'number' || !(limit > 0))) throw argRangeError('options.limit must be a positive number');
  // asyncio.create_subprocess_* default to None (inherit) for all three, unlike the loop methods.
  return [{ stdin: null, stdout: null, stderr: null, ...rest }, limit];
}

/** asyncio.create_subprocess_exec(program, ...args, { stdin, stdout, stderr, cwd, env, limit }). */
export async function createSubprocessExec(program: string, ...rest: unknown[]): Promise<Process> {
  const loop = getRunningLoop();
  const { args, options } = splitArgs(rest);
  const [spawnOptions, limit] = streamOptions(options as CreateSubprocessOptions);
  const [transport, protocol] = await subprocessExec(loop, () => new SubprocessStreamProtocol(loop, limit), program, [...args, spawnOptions]);
  return new Process(transport, protocol);
}

/** asyncio.create_subprocess_shell(cmd, { stdin, stdout, stderr, cwd, env, limit }). */
export async function createSubprocessShell(cmd: string, options: CreateSubprocessOptions = {}): Promise<Process> {
  const loop = getRunningLoop();
  const [spawnOptions, limit] = streamOptions(options);
  const [transport, protocol] = await subprocessShell(loop, () => new SubprocessStreamProtocol(loop, limit), cmd, spawnOptions);
  return new Process(transport, protocol);
}
