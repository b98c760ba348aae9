// Subprocesses: loop.subprocessExec/subprocessShell with a SubprocessProtocol, and the streams
// level createSubprocessExec/createSubprocessShell with a Process. Real children (/bin/sh, cat,
// node), never mocks.
import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  createSubprocessExec,
  createSubprocessShell,
  DEVNULL,
  getRunningLoop,
  PIPE,
  Process,
  run,
  STDOUT,
  StreamReader,
  StreamWriter,
  SubprocessProtocol,
  SubprocessReadPipe,
  SubprocessTransport,
  SubprocessWritePipe,
} from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { within } from './helpers/loops.js';

trackLeaks();

/** Records every callback in order, with the loop that was running when it came. */
class Recorder extends SubprocessProtocol {
  events: string[] = [];
  out: Record<number, Buffer[]> = { 1: [], 2: [] };
  loops: unknown[] = [];
  transport: SubprocessTransport | null = null;
  readonly #done: Promise<void>;
  #finish!: () => void;

  constructor() {
    super();
    this.#done = new Promise((resolve) => (this.#finish = resolve));
  }

  override connectionMade(transport: unknown): void {
    this.transport = transport as SubprocessTransport;
    this.events.push('connectionMade');
    this.loops.push(getRunningLoop());
  }

  override pipeDataReceived(fd: number, data: Buffer): void {
    if (this.events.at(-1) !== `data${fd}`) this.events.push(`data${fd}`);
    this.out[fd]!.push(data);
    this.loops.push(getRunningLoop());
  }

  override pipeConnectionLost(fd: number, exc: Error | null): void {
    this.events.push(`pipeLost${fd}:${exc === null ? 'ok' : (exc as NodeJS.ErrnoException).code}`);
  }

  override processExited(): void {
    this.events.push(`exited:${this.transport!.getReturncode()}`);
  }

  override connectionLost(exc: Error | null): void {
    this.events.push(`lost:${exc}`);
    this.#finish();
  }

  text(fd: number): string {
    return Buffer.concat(this.out[fd]!).toString();
  }

  done(): Promise<void> {
    return within(this.#done, 10_000, 'connectionLost');
  }
}

describe('loop.subprocessExec', () => {
  it('runs a program: stdin to stdout round trip, callbacks in asyncio order, inside the loop', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const [transport, protocol] = await loop.subprocessExec(() => new Recorder(), 'cat');
      expect(transport).toBeInstanceOf(SubprocessTransport);
      expect(protocol.events).toEqual(['connectionMade']);
      expect(transport.getPid()).toBeGreaterThan(0);
      expect(transport.getReturncode()).toBe(null);
      const stdin = transport.getPipeTransport(0) as SubprocessWritePipe;
      expect(stdin).toBeInstanceOf(SubprocessWritePipe);
      expect(transport.getPipeTransport(1)).toBeInstanceOf(SubprocessReadPipe);
      expect(transport.getPipeTransport(2)).toBeInstanceOf(SubprocessReadPipe);
      expect(transport.getPipeTransport(3)).toBe(null);
      stdin.write('hello ');
      stdin.writelines([Buffer.from('from '), 'cat\n']);
      stdin.writeEof();
      expect(stdin.isClosing()).toBe(true);
      await protocol.done();
      expect(protocol.text(1)).toBe('hello from cat\n');
      expect(protocol.text(2)).toBe('');
      expect(transport.getReturncode()).toBe(0);
      expect(protocol.loops.every((running) => running === loop)).toBe(true);
      // connectionMade first, connectionLost last and once; each pipe lost once; exited once.
      const events = protocol.events;
      expect(events[0]).toBe('connectionMade');
      expect(events.at(-1)).toBe('lost:null');
      expect(events.filter((event) => event.startsWith('lost')).length).toBe(1);
      expect(events.filter((event) => event === 'exited:0').length).toBe(1);
      for (const fd of [0, 1, 2]) expect(events.filter((event) => event === `pipeLost${fd}:ok`).length).toBe(1);
      // Data on stdout comes before stdout's pipe is lost.
      expect(events.indexOf('data1')).toBeLessThan(events.indexOf('pipeLost1:ok'));
      transport.close();
    });
  });

  it('reports stdout and stderr apart, and the exit status as the returncode', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const [transport, protocol] = await loop.subprocessExec(
        () => new Recorder(),
        '/bin/sh',
        '-c',
        'echo out; echo err >&2; exit 3',
        { stdin: DEVNULL },
      );
      expect(transport.getPipeTransport(0)).toBe(null);
      await protocol.done();
      expect(protocol.text(1)).toBe('out\n');
      expect(protocol.text(2)).toBe('err\n');
      expect(transport.getReturncode()).toBe(3);
      expect(protocol.events).toContain('exited:3');
      transport.close();
    });
  });

  it('merges stderr into stdout with STDOUT, keeping the program as the process (same pid)', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const [transport, protocol] = await loop.subprocessExec(
        () => new Recorder(),
        process.execPath,
        '-e',
        'process.stdout.write("a\\n"); process.stderr.write(process.pid + "\\n"); process.exitCode = 4',
        { stdin: DEVNULL, stderr: STDOUT },
      );
      expect(transport.getPipeTransport(2)).toBe(null);
      await protocol.done();
      const lines = protocol.text(1).trim().split('\n').sort();
      expect(lines).toEqual(['a', String(transport.getPid())].sort());
      expect(transport.getReturncode()).toBe(4);
      transport.close();
    });
  });

  it('passes args unchanged (no shell), cwd and env', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const [transport, protocol] = await loop.subprocessExec(
        () => new Recorder(),
        process.execPath,
        '-e',
        'console.log(JSON.stringify([process.argv.slice(1), process.cwd(), process.env.ZLOOP_TEST]))',
        '$HOME; echo no',
        'two words',
        { cwd: '/tmp', env: { ZLOOP_TEST: 'yes', PATH: process.env.PATH } },
      );
      await protocol.done();
      expect(JSON.parse(protocol.text(1))).toEqual([['$HOME; echo no', 'two words'], '/tmp', 'yes']);
      transport.close();
    });
  });

  it('rejects with ENOENT for a program that does not exist, with or without STDOUT merging', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      await expect(loop.subprocessExec(() => new Recorder(), '/nonexistent/zloop-program')).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(loop.subprocessExec(() => new Recorder(), 'zloop-no-such-program', { stderr: STDOUT })).rejects.toMatchObject({
        code: 'ENOENT',
        message: expect.stringMatching(/spawn zloop-no-such-program ENOENT/),
      });
    });
  });
});

describe('signals to a child', () => {
  for (const [method, signal] of [
    ['terminate', 'SIGTERM'],
    ['kill', 'SIGKILL'],
    ['sendSignal', 'SIGUSR1'],
  ] as const) {
    it(`${method}() gives the returncode -${signal} (${constants.signals[signal]}) as asyncio reports it`, async () => {
      await run(async () => {
        const loop = getRunningLoop();
        // The child says it is ready, so the signal finds it running rather than starting.
        const [transport, protocol] = await loop.subprocessExec(() => new Recorder(), '/bin/sh', '-c', 'echo ready; exec sleep 30', {
          stdin: DEVNULL,
        });
        const out = transport.getPipeTransport(1) as SubprocessReadPipe;
        expect(out.isReading()).toBe(true);
        while (!protocol.text(1).includes('ready')) await new Promise<void>((resolve) => loop.callSoon(() => resolve()));
        if (method === 'sendSignal') transport.sendSignal(signal);
        else transport[method]();
        await protocol.done();
        expect(transport.getReturncode()).toBe(-constants.signals[signal]);
        expect(protocol.events).toContain(`exited:${-constants.signals[signal]}`);
        // Once it exited, more signals do nothing.
        transport.kill();
        transport.sendSignal(15);
        transport.close();
      });
    });
  }

  it('sendSignal accepts numbers, and rejects unknown signals by name', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const [transport, protocol] = await loop.subprocessExec(() => new Recorder(), 'sleep', '30', { stdin: DEVNULL });
      expect(() => transport.sendSignal('SIGNOPE' as NodeJS.Signals)).toThrow(/SIGNOPE/);
      expect(() => transport.sendSignal({} as never)).toThrow(TypeError);
      transport.sendSignal(constants.signals.SIGTERM);
      await protocol.done();
      expect(transport.getReturncode()).toBe(-15);
      transport.close();
    });
  });

  it('close() kills a child that still runs, as asyncio does', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const [transport, protocol] = await loop.subprocessExec(() => new Recorder(), 'sleep', '30', { stdin: DEVNULL });
      transport.close();
      expect(transport.isClosing()).toBe(true);
      await protocol.done();
      expect(transport.getReturncode()).toBe(-9);
    });
  });
});

describe('loop.subprocessShell', () => {
  it('runs a shell command line with pipes and redirections', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const [transport, protocol] = await loop.subprocessShell(() => new Recorder(), 'tr a-z A-Z | sed s/^/got:/; echo oops >&2; exit 7');
      const stdin = transport.getPipeTransport(0) as SubprocessWritePipe;
      stdin.write('shell\n');
      stdin.close();
      await protocol.done();
      expect(protocol.text(1)).toBe('got:SHELL\n');
      expect(protocol.text(2)).toBe('oops\n');
      expect(transport.getReturncode()).toBe(7);
      transport.close();
    });
  });

  it('merges stderr with STDOUT', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const [transport, protocol] = await loop.subprocessShell(() => new Recorder(), 'echo one; echo two >&2', { stdin: DEVNULL, stderr: STDOUT });
      await protocol.done();
      expect(protocol.text(1)).toBe('one\ntwo\n');
      expect(transport.getPipeTransport(2)).toBe(null);
      transport.close();
    });
  });

  it('reports "command not found" as exit status 127, as a shell does', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const [transport, protocol] = await loop.subprocessShell(() => new Recorder(), 'zloop-no-such-command', { stdin: DEVNULL });
      await protocol.done();
      expect(transport.getReturncode()).toBe(127);
      expect(protocol.text(2)).toMatch(/zloop-no-such-command/);
      transport.close();
    });
  });
});

describe('bad input', () => {
  it('rejects bad arguments and options with errors that name them', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const factory = (): Recorder => new Recorder();
      await expect(loop.subprocessExec(null as never, 'cat')).rejects.toThrow(/protocolFactory must be a function/);
      await expect(loop.subprocessExec(factory, 42 as never)).rejects.toThrow(/program must be a non-empty string/);
      await expect(loop.subprocessExec(factory, 'echo', 1 as never)).rejects.toThrow(/argument 1 is type number/);
      await expect(loop.subprocessExec(factory, 'echo', { shell: true } as never)).rejects.toThrow(/options.shell is not supported/);
      await expect(loop.subprocessExec(factory, 'echo', { stdout: STDOUT } as never)).rejects.toThrow(/STDOUT can be used for stderr only/);
      await expect(loop.subprocessExec(factory, 'echo', { stdin: 'file' } as never)).rejects.toThrow(/options.stdin must be PIPE/);
      await expect(loop.subprocessExec(factory, 'echo', { cwd: 5 } as never)).rejects.toThrow(/options.cwd must be a string/);
      await expect(loop.subprocessShell(factory, ['ls'] as never)).rejects.toThrow(/cmd must be a string/);
      await expect(loop.subprocessExec(factory, 'echo', { cwd: '/nonexistent/zloop' })).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(createSubprocessExec('echo', { limit: 0 })).rejects.toThrow(/options.limit must be a positive number/);
    });
  });

  it('a throwing protocol callback goes to the exception handler and the child still finishes', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const contexts: string[] = [];
      loop.setExceptionHandler((_loop, context) => contexts.push(String(context.message)));
      class Throws extends Recorder {
        override pipeDataReceived(fd: number, data: Buffer): void {
          super.pipeDataReceived(fd, data);
          throw new Error('boom');
        }
      }
      const [transport, protocol] = await loop.subprocessExec(() => new Throws(), 'echo', 'x', { stdin: DEVNULL });
      await protocol.done();
      expect(contexts).toContain('Exception in callback protocol.pipeDataReceived()');
      expect(transport.getReturncode()).toBe(0);
      transport.close();
    });
  });
});

describe('createSubprocessExec and createSubprocessShell (Process)', () => {
  it('communicate(input) writes stdin, reads stdout and stderr to the end and waits', async () => {
    await run(async () => {
      const proc = await createSubprocessExec('/bin/sh', '-c', 'cat; echo done >&2; exit 2', { stdin: PIPE, stdout: PIPE, stderr: PIPE });
      expect(proc).toBeInstanceOf(Process);
      expect(proc.stdin).toBeInstanceOf(StreamWriter);
      expect(proc.stdout).toBeInstanceOf(StreamReader);
      expect(proc.pid).toBeGreaterThan(0);
      const input = Buffer.alloc(512 * 1024, 'z'); // larger than a pipe buffer: needs drain()
      const [stdout, stderr] = await proc.communicate(input);
      expect(stdout!.equals(input)).toBe(true);
      expect(stderr!.toString()).toBe('done\n');
      expect(proc.returncode).toBe(2);
      expect(await proc.wait()).toBe(2);
    });
  });

  it('Process streams: readline from stdout while writing stdin, then wait()', async () => {
    await run(async () => {
      const proc = await createSubprocessExec('cat', { stdin: PIPE, stdout: PIPE });
      expect(proc.stderr).toBe(null);
      proc.stdin!.write('line one\n');
      expect((await proc.stdout!.readline()).toString()).toBe('line one\n');
      proc.stdin!.write('line two\n');
      await proc.stdin!.drain();
      expect((await proc.stdout!.readline()).toString()).toBe('line two\n');
      expect(proc.returncode).toBe(null);
      proc.stdin!.close();
      expect((await proc.stdout!.read()).length).toBe(0);
      expect(await proc.wait()).toBe(0);
      expect(proc.returncode).toBe(0);
    });
  });

  it('defaults to inheriting stdio (asyncio None), and communicate() without pipes just waits', async () => {
    await run(async () => {
      const proc = await createSubprocessExec('true');
      expect([proc.stdin, proc.stdout, proc.stderr]).toEqual([null, null, null]);
      expect(await proc.communicate()).toEqual([null, null]);
      expect(proc.returncode).toBe(0);
      await expect(proc.communicate('x')).rejects.toThrow(/needs stdin=PIPE/);
    });
  });

  it('createSubprocessShell: output, exit code, and kill() giving -9', async () => {
    await run(async () => {
      const proc = await createSubprocessShell('echo $((6 * 7)); exit 5', { stdout: PIPE });
      expect((await proc.stdout!.read()).toString()).toBe('42\n');
      expect(await proc.wait()).toBe(5);

      const sleeper = await createSubprocessShell('exec sleep 30', { stdout: PIPE });
      sleeper.kill();
      expect(await sleeper.wait()).toBe(-9);
      expect(sleeper.returncode).toBe(-constants.signals.SIGKILL);
    });
  });

  it('a child that exits without reading its stdin: communicate() still resolves', async () => {
    await run(async () => {
      const proc = await createSubprocessExec('/bin/sh', '-c', 'exit 0', { stdin: PIPE, stdout: PIPE });
      const [stdout] = await proc.communicate(Buffer.alloc(1024 * 1024, 1));
      expect(stdout!.length).toBe(0);
      expect(proc.returncode).toBe(0);
    });
  });

  it('terminate() while a reader waits: the reader sees EOF and the returncode is -15', async () => {
    await run(async () => {
      const proc = await createSubprocessExec('/bin/sh', '-c', 'echo up; exec sleep 30', { stdout: PIPE });
      expect((await proc.stdout!.readline()).toString()).toBe('up\n');
      const rest = proc.stdout!.read();
      proc.terminate();
      expect((await rest).length).toBe(0);
      expect(await proc.wait()).toBe(-15);
    });
  });
});
