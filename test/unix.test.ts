// Unix domain sockets: createUnixServer/createUnixConnection and the stream forms, with paths
// under os.tmpdir(), one directory per test, removed afterwards.
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getRunningLoop, openUnixConnection, run, startUnixServer, TransportSocket } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { Echo, firstPatternBreak, pattern, Recorder, shutdown, Signal, socketDir, within } from './helpers/net.js';

trackLeaks();

let dir: ReturnType<typeof socketDir>;
beforeEach(() => {
  dir = socketDir();
});
afterEach(() => {
  dir.remove();
});

describe('createUnixServer and createUnixConnection', () => {
  it('echo over a Unix socket; the socket file goes away on close', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const path = dir.path('echo.sock');
      const server = await loop.createUnixServer(() => new Echo(), path);
      expect(lstatSync(path).isSocket()).toBe(true);
      expect(server.isServing()).toBe(true);
      expect(server.sockets).toHaveLength(1);
      expect(server.sockets[0]!.family).toBe('unix');
      const [transport, client] = await loop.createUnixConnection(() => new Recorder(), path);
      const socket = transport.getExtraInfo('socket') as TransportSocket;
      expect(socket.family).toBe('unix');
      const message = pattern(0, 3 * 1024 * 1024);
      transport.write(message);
      await client.untilBytes(message.length);
      expect(firstPatternBreak(client.bytes())).toBe(-1);
      transport.close();
      await client.lost.wait('client connectionLost');
      await shutdown(server);
      expect(existsSync(path)).toBe(false);
    });
  });

  it('a path with a NUL byte is refused with a TypeError and binds nothing', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const path = dir.path('nul.sock');
      for (const bad of [`${path}\0tail`, `\0abstract\0tail`]) {
        await expect(loop.createUnixServer(() => new Echo(), bad)).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
        await expect(loop.createUnixConnection(() => new Recorder(), bad)).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
      }
      expect(existsSync(path)).toBe(false);
    });
  });

  it.skipIf(process.platform !== 'linux')('an abstract name (Linux) binds exactly that name, serves and reads back whole', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const name = `\0zloop-test-${process.pid}-${Date.now()}`;
      const server = await loop.createUnixServer(() => new Echo(), name);
      expect(server.sockets[0]!.getsockname()).toBe(name);
      // The kernel's own table: the name as bound ('@' for the NUL), without padding. (Node 20's
      // net pads abstract names with NULs to the full sun_path, so it cannot reach this name.)
      const table = readFileSync('/proc/net/unix', 'latin1').split('\n');
      expect(table.some((line) => line.endsWith(` @${name.slice(1)}`))).toBe(true);
      const [transport, recorder] = await loop.createUnixConnection(() => new Recorder(), name);
      expect(transport.getExtraInfo('peername')).toBe(name);
      expect(transport.getExtraInfo('sockname')).toBe('');
      transport.write('abstract');
      await recorder.untilBytes(8);
      expect(recorder.text()).toBe('abstract');
      transport.close();
      await recorder.lost.wait('client connectionLost');
      await shutdown(server);
    });
  });

  it('protocol order and half-close on a Unix socket', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const path = dir.path('half.sock');
      const accepted = new Signal<Recorder>();
      const server = await loop.createUnixServer(() => {
        const recorder = Object.assign(new Recorder(), { eofResult: true });
        accepted.resolve(recorder);
        return recorder;
      }, path);
      const [transport, client] = await loop.createUnixConnection(() => new Recorder(), path);
      expect(transport.canWriteEof()).toBe(true);
      transport.write('question');
      transport.writeEof();
      const peer = await accepted.wait('accepted');
      await peer.eof.wait('peer eof');
      expect(peer.text()).toBe('question');
      peer.transport!.write('answer after eof');
      peer.transport!.close();
      await client.lost.wait('client lost');
      expect(client.text()).toBe('answer after eof');
      expect(client.events).toEqual(['made', 'data', 'eof', 'lost']);
      expect(peer.events).toEqual(['made', 'data', 'eof', 'lost']);
      await shutdown(server);
    });
  });

  it('pauseReading, backpressure and resume over a Unix socket', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const path = dir.path('flow.sock');
      const accepted = new Signal<Recorder>();
      const server = await loop.createUnixServer(() => {
        const recorder = new Recorder();
        accepted.resolve(recorder);
        return recorder;
      }, path);
      const [transport, client] = await loop.createUnixConnection(() => new Recorder(), path);
      const peer = await accepted.wait('accepted');
      peer.transport!.pauseReading();
      const size = 8 * 1024 * 1024;
      transport.write(pattern(0, size));
      expect(transport.getWriteBufferSize()).toBeGreaterThan(64 * 1024);
      expect(client.flow).toEqual(['pause']);
      peer.transport!.resumeReading();
      await peer.untilBytes(size);
      expect(firstPatternBreak(peer.bytes())).toBe(-1);
      await within(
        (async () => {
          while (!client.flow.includes('resume')) await new Promise((resolve) => setImmediate(resolve));
        })(),
        5000,
        'resumeWriting',
      );
      transport.close();
      await shutdown(server);
    });
  });

  it('replaces a stale socket file but refuses to bind over a regular file', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const path = dir.path('stale.sock');
      // A socket file left behind by a process that died without cleaning up.
      const child = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
      expect(child.signal).toBe('SIGKILL');
      expect(lstatSync(path).isSocket()).toBe(true);
      await expect(loop.createUnixConnection(() => new Recorder(), path)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      const server = await loop.createUnixServer(() => new Echo(), path);
      const [transport, client] = await loop.createUnixConnection(() => new Recorder(), path);
      transport.write('ok');
      await client.untilBytes(2);
      transport.close();
      await shutdown(server);

      const regular = dir.path('regular-file');
      writeFileSync(regular, 'not a socket');
      await expect(loop.createUnixServer(() => new Echo(), regular)).rejects.toMatchObject({ code: 'EADDRINUSE', syscall: 'listen' });
      expect(existsSync(regular)).toBe(true);
    });
  });

  it('a second server on a live socket path takes it over (asyncio removes the old file)', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const path = dir.path('twice.sock');
      const first = await loop.createUnixServer(() => new Echo(), path);
      const second = await loop.createUnixServer(() => new Echo(), path);
      const [transport, client] = await loop.createUnixConnection(() => new Recorder(), path);
      transport.write('to the second');
      await client.untilBytes(13);
      transport.close();
      await shutdown(second);
      await shutdown(first);
    });
  });

  it('refuses an empty path', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      await expect(loop.createUnixServer(() => new Echo(), '')).rejects.toThrow(TypeError);
      await expect(loop.createUnixConnection(() => new Recorder(), '')).rejects.toThrow(TypeError);
    });
  });
});

describe('Unix socket addresses', () => {
  // Guards a fixed bug: addressOf once read AF_UNIX addresses as IPv6 ones, cutting paths to 26 bytes.
  it('sockets, sockname and peername give the full path, and "" for an unnamed client', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const path = dir.path('addresses.sock');
      const accepted = new Signal<Recorder>();
      const server = await loop.createUnixServer(() => {
        const recorder = new Recorder();
        accepted.resolve(recorder);
        return recorder;
      }, path);
      try {
        const [transport] = await loop.createUnixConnection(() => new Recorder(), path);
        const peer = await accepted.wait('accepted');
        try {
          expect(server.sockets[0]!.getsockname()).toBe(path);
          expect(transport.getExtraInfo('peername')).toBe(path);
          expect((transport.getExtraInfo('socket') as TransportSocket).getpeername()).toBe(path);
          expect(peer.transport!.getExtraInfo('sockname')).toBe(path);
          // An unbound client socket has no name, as asyncio reports it.
          expect(transport.getExtraInfo('sockname')).toBe('');
          expect(peer.transport!.getExtraInfo('peername')).toBe('');
        } finally {
          transport.close();
        }
      } finally {
        await shutdown(server);
      }
    });
  });
});

describe('startUnixServer and openUnixConnection', () => {
  it('streams over a Unix socket: readline, readexactly, writeEof, read to EOF', async () => {
    await run(async () => {
      const path = dir.path('streams.sock');
      const server = await startUnixServer(async (reader, writer) => {
        const line = await reader.readline();
        writer.write(`you said: ${line.toString()}`);
        const rest = await reader.read();
        writer.write(`and ${rest.length} more bytes`);
        writer.close();
      }, path);
      const [reader, writer] = await openUnixConnection(path);
      writer.write('hello\n');
      writer.write(Buffer.alloc(100_000, 1));
      writer.writeEof();
      expect((await reader.readline()).toString()).toBe('you said: hello\n');
      expect((await reader.read()).toString()).toBe('and 100000 more bytes');
      expect(reader.atEof()).toBe(true);
      writer.close();
      await writer.waitClosed();
      server.close();
      await within(server.waitClosed(), 5000, 'waitClosed');
      expect(existsSync(path)).toBe(false);
    });
  });

  it('openUnixConnection to a missing path rejects with ENOENT', async () => {
    await run(async () => {
      await expect(openUnixConnection(dir.path('missing.sock'))).rejects.toMatchObject({ code: 'ENOENT', syscall: 'connect' });
    });
  });
});
