// Pipe transports: loop.connectReadPipe / loop.connectWritePipe over real OS pipes (a FIFO made
// with mkfifo in a temp dir, both ends in this process, and a child process writing into one).
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants as fs, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRunningLoop, PipeInfo, Protocol, ReadPipeTransport, run, WritePipeTransport } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { within } from './helpers/loops.js';

trackLeaks();

let dir: string;
let fifoCount = 0;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'zloop-pipes-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A new FIFO; returns its read end (non-blocking open, so no writer is needed yet) and its path. */
function fifo(): { readFd: number; file: string } {
  const file = path.join(dir, `fifo${fifoCount++}`);
  execFileSync('mkfifo', [file]);
  return { readFd: openSync(file, fs.O_RDONLY | fs.O_NONBLOCK), file };
}

/** The O_NONBLOCK bit of `fd`, from /proc/self/fdinfo (flags are octal there). */
function isNonBlocking(fd: number): boolean {
  const flags = /flags:\s*([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!;
  return (parseInt(flags, 8) & fs.O_NONBLOCK) !== 0;
}

function isOpen(fd: number): boolean {
  try {
    readFileSync(`/proc/self/fdinfo/${fd}`);
    return true;
  } catch {
    return false;
  }
}

class Recorder extends Protocol {
  events: string[] = [];
  chunks: Buffer[] = [];
  loops: unknown[] = [];
  readonly lost: Promise<Error | null>;
  #lost!: (exc: Error | null) => void;

  constructor() {
    super();
    this.lost = new Promise((resolve) => (this.#lost = resolve));
  }

  override connectionMade(): void {
    this.events.push('made');
    this.loops.push(getRunningLoop());
  }

  override dataReceived(data: Buffer): void {
    if (this.events.at(-1) !== 'data') this.events.push('data');
    this.chunks.push(data);
    this.loops.push(getRunningLoop());
  }

  override eofReceived(): void {
    this.events.push('eof');
  }

  override pauseWriting(): void {
    this.events.push('pause');
  }

  override resumeWriting(): void {
    this.events.push('resume');
  }

  override connectionLost(exc: Error | null): void {
    this.events.push(`lost:${exc === null ? 'null' : (exc as NodeJS.ErrnoException).code}`);
    this.#lost(exc);
  }

  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  waitLost(): Promise<Error | null> {
    return within(this.lost, 10_000, 'connectionLost');
  }
}

/** Lets the loop run `count` iterations. */
async function iterations(count: number): Promise<void> {
  const loop = getRunningLoop();
  for (let index = 0; index < count; index++) await new Promise<void>((resolve) => loop.callSoon(() => resolve()));
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const loop = getRunningLoop();
  await within(
    (async () => {
      while (!condition()) await new Promise<void>((resolve) => loop.callLater(0.001, () => resolve()));
    })(),
    10_000,
    what,
  );
}

describe('connectReadPipe', () => {
  it('delivers data, then eofReceived and connectionLost(null) when the writer closes; closes the fd', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { readFd, file } = fifo();
      const writeFd = openSync(file, fs.O_WRONLY);
      const [transport, protocol] = await loop.connectReadPipe(() => new Recorder(), readFd);
      expect(transport).toBeInstanceOf(ReadPipeTransport);
      expect(protocol.events).toEqual(['made']);
      expect(transport.isReading()).toBe(true);
      const info = transport.getExtraInfo('pipe') as PipeInfo;
      expect(info).toBeInstanceOf(PipeInfo);
      expect(info.fileno()).toBe(readFd);
      expect(transport.getExtraInfo('nope', 'default')).toBe('default');
      writeSync(writeFd, 'first ');
      await until(() => protocol.bytes.length === 6, 'first bytes');
      // Small writes only: this thread also runs the reader, so a blocking write of more than
      // the pipe holds would never return. Large transfers are in the connectWritePipe tests.
      writeSync(writeFd, 'x'.repeat(30_000));
      closeSync(writeFd);
      await protocol.waitLost();
      expect(protocol.bytes.toString()).toBe('first ' + 'x'.repeat(30_000));
      expect(protocol.events).toEqual(['made', 'data', 'eof', 'lost:null']);
      expect(protocol.loops.every((running) => running === loop)).toBe(true);
      expect(transport.isClosing()).toBe(true);
      expect(isOpen(readFd)).toBe(false);
    });
  });

  it('pauseReading stops dataReceived until resumeReading', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { readFd, file } = fifo();
      const writeFd = openSync(file, fs.O_WRONLY);
      const [transport, protocol] = await loop.connectReadPipe(() => new Recorder(), readFd);
      transport.pauseReading();
      expect(transport.isReading()).toBe(false);
      writeSync(writeFd, 'while paused');
      await iterations(50);
      expect(protocol.chunks).toEqual([]);
      transport.resumeReading();
      expect(transport.isReading()).toBe(true);
      await until(() => protocol.bytes.toString() === 'while paused', 'data after resume');
      transport.close();
      expect(transport.isClosing()).toBe(true);
      expect(transport.isReading()).toBe(false);
      await protocol.waitLost();
      expect(protocol.events).toEqual(['made', 'data', 'lost:null']);
      closeSync(writeFd);
    });
  });

  it('reads what a child process writes into the pipe, until the child exits', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { readFd, file } = fifo();
      const writeFd = openSync(file, fs.O_WRONLY);
      const [, protocol] = await loop.connectReadPipe(() => new Recorder(), readFd);
      const child = spawn('/bin/sh', ['-c', 'for i in 1 2 3; do echo line $i; done'], { stdio: ['ignore', writeFd, 'inherit'] });
      closeSync(writeFd); // the child holds the only write end now
      await protocol.waitLost();
      expect(protocol.bytes.toString()).toBe('line 1\nline 2\nline 3\n');
      await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
    });
  });

  it('makes a blocking fd non-blocking', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const file = path.join(dir, `fifo${fifoCount++}`);
      execFileSync('mkfifo', [file]);
      const readFd = openSync(file, fs.O_RDWR); // O_RDWR opens a FIFO without waiting for a writer, blocking
      expect(isNonBlocking(readFd)).toBe(false);
      const [transport, protocol] = await loop.connectReadPipe(() => new Recorder(), readFd);
      expect(isNonBlocking(readFd)).toBe(true);
      transport.close();
      await protocol.waitLost();
    });
  });
});

describe('connectWritePipe', () => {
  it('writes more than the pipe holds: pauseWriting, resumeWriting, every byte intact, EOF at close', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { readFd, file } = fifo();
      const writeFd = openSync(file, fs.O_WRONLY); // blocking: connectWritePipe must make it non-blocking
      const [writer, writeProtocol] = await loop.connectWritePipe(() => new Recorder(), writeFd);
      expect(writer).toBeInstanceOf(WritePipeTransport);
      expect(isNonBlocking(writeFd)).toBe(true);
      expect(writer.canWriteEof()).toBe(true);
      expect(writer.getWriteBufferLimits()).toEqual([16384, 65536]);
      const payload = Buffer.alloc(1024 * 1024);
      for (let index = 0; index < payload.length; index++) payload[index] = (index * 7) & 0xff;
      writer.write(payload.subarray(0, 1000));
      writer.writelines([payload.subarray(1000, 500_000), payload.subarray(500_000)]);
      // The kernel took at most a pipe's worth; the rest waits in the transport.
      expect(writer.getWriteBufferSize()).toBeGreaterThan(65536);
      expect(writeProtocol.events).toEqual(['made', 'pause']);
      payload.fill(0, 0, 1000); // the transport copied what it could not send yet
      const [, readProtocol] = await loop.connectReadPipe(() => new Recorder(), readFd);
      writer.close();
      expect(writer.isClosing()).toBe(true);
      writer.write('dropped after close');
      await writeProtocol.waitLost();
      await readProtocol.waitLost();
      expect(writer.getWriteBufferSize()).toBe(0);
      const expected = Buffer.alloc(1024 * 1024);
      for (let index = 0; index < expected.length; index++) expected[index] = (index * 7) & 0xff;
      expect(readProtocol.bytes.equals(expected)).toBe(true);
      expect(writeProtocol.events).toEqual(['made', 'pause', 'resume', 'lost:null']);
      expect(readProtocol.events.at(-2)).toBe('eof');
      expect(isOpen(writeFd)).toBe(false);
    });
  });

  it('writeEof closes the pipe: the reader sees EOF', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { readFd, file } = fifo();
      const [, reader] = await loop.connectReadPipe(() => new Recorder(), readFd);
      const [writer, protocol] = await loop.connectWritePipe(() => new Recorder(), openSync(file, fs.O_WRONLY));
      writer.write('bye');
      writer.writeEof();
      await protocol.waitLost();
      await reader.waitLost();
      expect(reader.bytes.toString()).toBe('bye');
      expect(reader.events).toEqual(['made', 'data', 'eof', 'lost:null']);
    });
  });

  it('a reader that goes away: connectionLost(null) while idle, EPIPE with bytes pending', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const contexts: unknown[] = [];
      loop.setExceptionHandler((_loop, context) => contexts.push(context));

      const idle = fifo();
      const [, idleProtocol] = await loop.connectWritePipe(() => new Recorder(), openSync(idle.file, fs.O_WRONLY));
      closeSync(idle.readFd);
      expect(await idleProtocol.waitLost()).toBe(null);

      const busy = fifo();
      const [writer, busyProtocol] = await loop.connectWritePipe(() => new Recorder(), openSync(busy.file, fs.O_WRONLY));
      writer.write(Buffer.alloc(200_000));
      expect(writer.getWriteBufferSize()).toBeGreaterThan(0);
      closeSync(busy.readFd);
      const exc = await busyProtocol.waitLost();
      expect((exc as NodeJS.ErrnoException).code).toBe('EPIPE');
      // A reader going away is how pipes end: not reported to the exception handler.
      expect(contexts).toEqual([]);
    });
  });

  it('abort() drops what is buffered and closes at once', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { readFd, file } = fifo();
      const [writer, protocol] = await loop.connectWritePipe(() => new Recorder(), openSync(file, fs.O_WRONLY));
      writer.write(Buffer.alloc(300_000));
      expect(writer.getWriteBufferSize()).toBeGreaterThan(0);
      writer.abort();
      expect(writer.getWriteBufferSize()).toBe(0);
      expect(await protocol.waitLost()).toBe(null);
      closeSync(readFd);
    });
  });

  it('setWriteBufferLimits checks its arguments and moves the marks', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { readFd, file } = fifo();
      const [writer, protocol] = await loop.connectWritePipe(() => new Recorder(), openSync(file, fs.O_WRONLY));
      writer.setWriteBufferLimits(100);
      expect(writer.getWriteBufferLimits()).toEqual([25, 100]);
      writer.setWriteBufferLimits(null, 10);
      expect(writer.getWriteBufferLimits()).toEqual([10, 40]);
      expect(() => writer.setWriteBufferLimits(1, 2)).toThrow(RangeError);
      expect(() => writer.setWriteBufferLimits('x' as never)).toThrow(TypeError);
      writer.close();
      await protocol.waitLost();
      closeSync(readFd);
    });
  });
});

describe('bad input', () => {
  it('rejects fds that are not pipes, sockets or character devices, bad fds, and non-integers', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const file = path.join(dir, 'regular');
      const fd = openSync(file, 'w');
      await expect(loop.connectReadPipe(() => new Recorder(), fd)).rejects.toThrow(/Pipe transport is for pipes\/sockets only/);
      await expect(loop.connectWritePipe(() => new Recorder(), fd)).rejects.toThrow(/Pipe transport is for pipes\/sockets only/);
      closeSync(fd);
      await expect(loop.connectReadPipe(() => new Recorder(), 1.5)).rejects.toThrow(/fd must be an integer file descriptor/);
      await expect(loop.connectWritePipe(() => new Recorder(), -1)).rejects.toThrow(RangeError);
      await expect(loop.connectReadPipe(() => new Recorder(), 1_000_000)).rejects.toMatchObject({ code: 'EBADF' });
      await expect(loop.connectReadPipe(null as never, 0)).rejects.toThrow(/protocolFactory must be a function/);
    });
  });
});
