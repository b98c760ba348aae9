// Streams over loopback TCP: openConnection/startServer, every StreamReader read form and every
// StreamWriter method.
import { describe, expect, it } from 'vitest';
import {
  getRunningLoop,
  IncompleteReadError,
  LimitOverrunError,
  openConnection,
  run,
  type Server,
  startServer,
  StreamReader,
  StreamWriter,
  TransportSocket,
} from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { firstPatternBreak, pattern, port, Signal, within } from './helpers/net.js';

trackLeaks();

type Handler = (reader: StreamReader, writer: StreamWriter) => Promise<void> | void;

/** A stream server whose handler is `handler`; returns it with its port. */
async function serve(handler: Handler, options: { limit?: number } = {}): Promise<{ server: Server; port: number }> {
  const server = await startServer(handler, '127.0.0.1', 0, options);
  return { server, port: port(server) };
}

async function stop(server: Server): Promise<void> {
  server.close();
  server.abortClients();
  await within(server.waitClosed(), 5000, 'waitClosed');
}

/** Echoes everything it reads, then closes at EOF. */
const echoHandler: Handler = async (reader, writer) => {
  for await (const chunk of reader) {
    writer.write(chunk);
    await writer.drain();
  }
  writer.close();
  await writer.waitClosed();
};

describe('openConnection and startServer', () => {
  it('give a reader and writer joined to a connection; `for await` on the server echoes', async () => {
    await run(async () => {
      const { server, port: serverPort } = await serve(echoHandler);
      const [reader, writer] = await openConnection('127.0.0.1', serverPort);
      expect(reader).toBeInstanceOf(StreamReader);
      expect(writer).toBeInstanceOf(StreamWriter);
      writer.write('hello ');
      writer.write(Buffer.from('world'));
      expect(await reader.readexactly(11)).toEqual(Buffer.from('hello world'));
      writer.writeEof();
      expect(await reader.read()).toEqual(Buffer.alloc(0));
      expect(reader.atEof()).toBe(true);
      writer.close();
      await writer.waitClosed();
      await stop(server);
    });
  });

  it('a handler that rejects is reported and its connection closed; the server goes on', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const messages: string[] = [];
      loop.setExceptionHandler((_loop, context) => messages.push(context.message ?? ''));
      let calls = 0;
      const { server, port: serverPort } = await serve(async (reader, writer) => {
        if (++calls === 1) throw new Error('handler failed');
        await echoHandler(reader, writer);
      });
      const [reader1, writer1] = await openConnection('127.0.0.1', serverPort);
      expect(await reader1.read()).toEqual(Buffer.alloc(0));
      expect(messages).toEqual(['Unhandled exception in clientConnected']);
      const [reader2, writer2] = await openConnection('127.0.0.1', serverPort);
      writer2.write('ok');
      expect((await reader2.readexactly(2)).toString()).toBe('ok');
      writer1.close();
      writer2.close();
      await stop(server);
    });
  });
});

describe('StreamReader', () => {
  /** A server that sends `payload` (in the pieces given) then closes. */
  async function sender(pieces: (string | Buffer)[]): Promise<{ server: Server; port: number }> {
    return serve(async (_reader, writer) => {
      for (const piece of pieces) {
        writer.write(piece);
        await writer.drain();
      }
      writer.close();
    });
  }

  it('read(n) returns at most n bytes; read() reads to EOF; an empty Buffer means EOF', async () => {
    await run(async () => {
      const { server, port: serverPort } = await sender(['abcdef', 'ghij', 'klmnop']);
      const [reader, writer] = await openConnection('127.0.0.1', serverPort);
      const first = await reader.read(3);
      expect(first.length).toBeGreaterThan(0);
      expect(first.length).toBeLessThanOrEqual(3);
      expect(await reader.read(0)).toEqual(Buffer.alloc(0));
      const rest = await reader.read();
      expect(Buffer.concat([first, rest]).toString()).toBe('abcdefghijklmnop');
      expect(reader.atEof()).toBe(true);
      expect(await reader.read()).toEqual(Buffer.alloc(0));
      expect(await reader.read(10)).toEqual(Buffer.alloc(0));
      writer.close();
      await stop(server);
    });
  });

  it('read() to EOF gets a large payload whole and in order', async () => {
    await run(async () => {
      const size = 5 * 1024 * 1024 + 17;
      const { server, port: serverPort } = await sender([pattern(0, size)]);
      const [reader, writer] = await openConnection('127.0.0.1', serverPort);
      const all = await reader.read();
      expect(all.length).toBe(size);
      expect(firstPatternBreak(all)).toBe(-1);
      writer.close();
      await stop(server);
    });
  });

  it('readline returns lines with their newline, and the rest without one at EOF', async () => {
    await run(async () => {
      const { server, port: serverPort } = await sender(['one\ntw', 'o\n\nthr', 'ee']);
      const [reader, writer] = await openConnection('127.0.0.1', serverPort);
      expect((await reader.readline()).toString()).toBe('one\n');
      expect((await reader.readline()).toString()).toBe('two\n');
      expect((await reader.readline()).toString()).toBe('\n');
      expect((await reader.readline()).toString()).toBe('three');
      expect((await reader.readline()).toString()).toBe('');
      expect(reader.atEof()).toBe(true);
      writer.close();
      await stop(server);
    });
  });

  it('readexactly waits for n bytes across chunks; at EOF it throws IncompleteReadError with partial and expected', async () => {
    await run(async () => {
      const { server, port: serverPort } = await sender(['12', '345', '6789']);
      const [reader, writer] = await openConnection('127.0.0.1', serverPort);
      expect((await reader.readexactly(4)).toString()).toBe('1234');
      expect(await reader.readexactly(0)).toEqual(Buffer.alloc(0));
      const error = await reader.readexactly(10).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(IncompleteReadError);
      const incomplete = error as IncompleteReadError;
      expect(Buffer.from(incomplete.partial).toString()).toBe('56789');
      expect(incomplete.expected).toBe(10);
      expect(incomplete.message).toBe('5 bytes read on a total of 10 expected bytes');
      await expect(reader.readexactly(-1)).rejects.toThrow(RangeError);
      writer.close();
      await stop(server);
    });
  });

  it('read() and readexactly() refuse sizes that are not integers, and no byte is lost over them', async () => {
    await run(async () => {
      const { server, port: serverPort } = await sender(['abc', 'def']);
      const [reader, writer] = await openConnection('127.0.0.1', serverPort);
      for (const size of [2.5, 0.5, Number.NaN, Infinity]) {
        await expect(reader.read(size)).rejects.toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
        await expect(reader.readexactly(size)).rejects.toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
      }
      await expect(reader.read('2' as never)).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
      expect((await reader.readexactly(6)).toString()).toBe('abcdef');
      writer.close();
      await stop(server);
    });
  });

  it('readuntil returns through the separator; IncompleteReadError at EOF without it', async () => {
    await run(async () => {
      const { server, port: serverPort } = await sender(['key=val', 'ue\r\n\r', '\nbody', 'tail']);
      const [reader, writer] = await openConnection('127.0.0.1', serverPort);
      expect((await reader.readuntil('\r\n')).toString()).toBe('key=value\r\n');
      expect((await reader.readuntil(Buffer.from('\r\n'))).toString()).toBe('\r\n');
      await expect(reader.readuntil('')).rejects.toThrow(/at least one-byte/);
      const error = await reader.readuntil('\n').catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(IncompleteReadError);
      expect(Buffer.from((error as IncompleteReadError).partial).toString()).toBe('bodytail');
      expect((error as IncompleteReadError).expected).toBe(null);
      writer.close();
      await stop(server);
    });
  });

  it('readuntil past the limit throws LimitOverrunError and keeps the bytes; readline past it throws too', async () => {
    await run(async () => {
      const limit = 16;
      const long = 'x'.repeat(40);
      const { server, port: serverPort } = await sender([`${long}\n`, 'short\n', `${'y'.repeat(20)}`]);
      const [reader, writer] = await openConnection('127.0.0.1', serverPort, { limit });
      const error = await reader.readuntil('\n').catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(LimitOverrunError);
      expect((error as LimitOverrunError).consumed).toBeGreaterThan(limit);
      expect((error as LimitOverrunError).message).toMatch(/limit/);
      // The bytes stay in the reader: they can still be read.
      expect((await reader.readexactly(41)).toString()).toBe(`${long}\n`);
      expect((await reader.readline()).toString()).toBe('short\n');
      // 20 bytes and no newline: over the limit of 16.
      await expect(reader.readline()).rejects.toThrow(/limit/);
      writer.close();
      await stop(server);
    });
  });

  it('a limit of 0 or less is refused', () => {
    expect(() => new StreamReader({ limit: 0 })).toThrow(RangeError);
    expect(() => new StreamReader({ limit: -5 })).toThrow(/Limit cannot be <= 0/);
  });

  it('`for await` yields every chunk until EOF', async () => {
    await run(async () => {
      const size = 1024 * 1024;
      const { server, port: serverPort } = await sender([pattern(0, size / 2), pattern(size / 2, size / 2)]);
      const [reader, writer] = await openConnection('127.0.0.1', serverPort);
      const chunks: Buffer[] = [];
      for await (const chunk of reader) {
        expect(chunk.length).toBeGreaterThan(0);
        chunks.push(chunk);
      }
      const all = Buffer.concat(chunks);
      expect(all.length).toBe(size);
      expect(firstPatternBreak(all)).toBe(-1);
      expect(reader.atEof()).toBe(true);
      writer.close();
      await stop(server);
    });
  });

  it('a reader buffering past its limit pauses the transport and resumes it as it is read', async () => {
    await run(async () => {
      const limit = 64 * 1024;
      const size = 4 * 1024 * 1024;
      const { server, port: serverPort } = await sender([pattern(0, size)]);
      const [reader, writer] = await openConnection('127.0.0.1', serverPort, { limit });
      // Let data pile up without reading: the transport stops reading past 2 * limit.
      while (writer.transport.isReading()) await new Promise((resolve) => setImmediate(resolve));
      expect(writer.transport.isReading()).toBe(false);
      const all = await reader.read();
      expect(all.length).toBe(size);
      expect(firstPatternBreak(all)).toBe(-1);
      writer.close();
      await stop(server);
    });
  });
});

describe('StreamWriter', () => {
  it('write, writelines, transport, getExtraInfo, canWriteEof, writeEof, isClosing, close, waitClosed', async () => {
    await run(async () => {
      const received = new Signal<string>();
      const { server, port: serverPort } = await serve(async (reader, writer) => {
        received.resolve((await reader.read()).toString());
        writer.write('bye');
        writer.close();
      });
      const [reader, writer] = await openConnection('127.0.0.1', serverPort);
      expect(writer.transport.getExtraInfo('peername')).toEqual(['127.0.0.1', serverPort]);
      expect(writer.getExtraInfo('peername')).toEqual(['127.0.0.1', serverPort]);
      expect(writer.getExtraInfo('sockname')).toEqual(writer.transport.getExtraInfo('sockname'));
      expect(writer.getExtraInfo('socket')).toBeInstanceOf(TransportSocket);
      expect(writer.getExtraInfo('unknown', 7)).toBe(7);
      writer.write('a');
      writer.writelines(['b', Buffer.from('c'), 'd']);
      expect(writer.canWriteEof()).toBe(true);
      writer.writeEof();
      expect(writer.isClosing()).toBe(false);
      expect(await received.wait('server read to EOF')).toBe('abcd');
      // Half-closed, the client still reads the server's answer.
      expect((await reader.read()).toString()).toBe('bye');
      writer.close();
      expect(writer.isClosing()).toBe(true);
      await within(writer.waitClosed(), 5000, 'waitClosed');
      await within(writer.waitClosed(), 5000, 'waitClosed again');
      await stop(server);
    });
  });

  it('drain waits while the peer does not read, then resolves; every byte arrives', async () => {
    await run(async () => {
      const startReading = new Signal();
      const got = new Signal<Buffer>();
      const { server, port: serverPort } = await serve(async (reader) => {
        await startReading.promise;
        got.resolve(await reader.read());
      });
      const [, writer] = await openConnection('127.0.0.1', serverPort);
      const chunk = 256 * 1024;
      let written = 0;
      // Write until drain() has to wait: the peer is not reading.
      for (;;) {
        writer.write(pattern(written, chunk));
        written += chunk;
        let drained = false;
        const draining = writer.drain().then(() => {
          drained = true;
        });
        await new Promise((resolve) => setImmediate(resolve));
        await new Promise((resolve) => setImmediate(resolve));
        if (!drained) {
          expect(writer.transport.getWriteBufferSize()).toBeGreaterThan(writer.transport.getWriteBufferLimits()[1]);
          startReading.resolve();
          await within(draining, 5000, 'drain after the peer reads');
          break;
        }
        expect(written).toBeLessThan(64 * 1024 * 1024);
      }
      writer.close();
      const all = await got.wait('server read to EOF');
      expect(all.length).toBe(written);
      expect(firstPatternBreak(all)).toBe(-1);
      await stop(server);
    });
  });

  it('drain and waitClosed reject once the connection is lost with an error', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      loop.setExceptionHandler(() => undefined);
      const { server, port: serverPort } = await serve(async (_reader, writer) => {
        // Reset the connection: abort with unread data pending makes the kernel send RST.
        await new Promise((resolve) => setTimeout(resolve, 20));
        writer.transport.abort();
      });
      const [reader, writer] = await openConnection('127.0.0.1', serverPort);
      writer.write('unread by the server');
      // Keep writing until the reset is noticed.
      const failure = await within(
        (async () => {
          for (;;) {
            writer.write(Buffer.alloc(64 * 1024));
            try {
              await writer.drain();
            } catch (error) {
              return error;
            }
            await new Promise((resolve) => setTimeout(resolve, 1));
          }
        })(),
        5000,
        'drain rejects',
      );
      expect(failure).toBeInstanceOf(Error);
      await expect(writer.waitClosed()).rejects.toBe(failure);
      await expect(reader.read()).rejects.toBe(failure);
      await stop(server);
    });
  });
});
