// Peers that are not zloop: Node's net on either side, and socat (Debian's package; .ci/run
// installs it) as a client of zloop servers over TCP and over a Unix socket.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { getRunningLoop, openConnection, run, startServer, startUnixServer } from 'zloop';
import { needsProgram } from './helpers/programs.js';
import { trackLeaks } from './helpers/leaks.js';
import { Echo, firstPatternBreak, pattern, port, Recorder, shutdown, Signal, socketDir, within } from './helpers/net.js';

trackLeaks();

/** Runs socat with `args`, feeding `input` on stdin; resolves with its stdout and exit code. */
function socat(args: string[], input: Buffer): Promise<{ stdout: Buffer; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn('socat', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout: Buffer.concat(out), stderr, code }));
    child.stdin.end(input);
  });
}

describe('node:net peers', () => {
  it('a zloop client against a node:net echo server', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const nodeServer = net.createServer((socket) => {
        socket.setNoDelay(true);
        socket.on('data', (data) => socket.write(data));
        socket.on('end', () => socket.end());
      });
      await new Promise<void>((resolve) => nodeServer.listen(0, '127.0.0.1', resolve));
      const nodePort = (nodeServer.address() as net.AddressInfo).port;
      const [transport, client] = await loop.createConnection(() => new Recorder(), '127.0.0.1', nodePort);
      const size = 4 * 1024 * 1024;
      transport.write(pattern(0, size));
      transport.writeEof();
      await client.lost.wait('connectionLost after the server ends', 10_000);
      expect(client.received).toBe(size);
      expect(firstPatternBreak(client.bytes())).toBe(-1);
      expect(client.events).toEqual(['made', 'data', 'eof', 'lost']);
      // Streams against the same server.
      const [reader, writer] = await openConnection('127.0.0.1', nodePort);
      writer.write('line one\nline two\n');
      expect((await reader.readline()).toString()).toBe('line one\n');
      expect((await reader.readline()).toString()).toBe('line two\n');
      writer.close();
      await writer.waitClosed();
      await new Promise<void>((resolve) => nodeServer.close(() => resolve()));
    });
  });

  it('a node:net client against a zloop echo server, with half-close', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const server = await loop.createServer(() => new Echo(), '127.0.0.1', 0);
      const size = 4 * 1024 * 1024;
      const received: Buffer[] = [];
      const ended = new Signal();
      const closed = new Signal();
      const socket = net.connect({ port: port(server), host: '127.0.0.1', allowHalfOpen: true });
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      socket.on('end', () => ended.resolve());
      socket.on('close', () => closed.resolve());
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      socket.end(pattern(0, size));
      await ended.wait('end from the zloop server', 10_000);
      const all = Buffer.concat(received);
      expect(all.length).toBe(size);
      expect(firstPatternBreak(all)).toBe(-1);
      await closed.wait('socket close');
      await shutdown(server);
    });
  });

  it('a node:net client against a zloop stream server', async () => {
    await run(async () => {
      const server = await startServer(async (reader, writer) => {
        for (;;) {
          const line = await reader.readline();
          if (line.length === 0) break;
          writer.write(line.toString().toUpperCase());
          await writer.drain();
        }
        writer.close();
      }, '127.0.0.1', 0);
      const socket = net.connect(port(server), '127.0.0.1');
      let text = '';
      const closed = new Signal();
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      socket.on('close', () => closed.resolve());
      socket.end('abc\ndef\n');
      await closed.wait('socket close');
      expect(text).toBe('ABC\nDEF\n');
      server.close();
      await within(server.waitClosed(), 5000, 'waitClosed');
    });
  });
});

const socatSuite = needsProgram('socat', 'socat as a client');
describe.skipIf(socatSuite.missing)(socatSuite.title, () => {
  it('echoes a megabyte back to socat over TCP', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const server = await loop.createServer(() => new Echo(), '127.0.0.1', 0);
      const input = pattern(0, 1024 * 1024);
      // -t 10: after stdin ends, wait up to 10 s for the server's EOF (it comes with the echo).
      const result = await within(socat(['-t', '10', '-', `TCP:127.0.0.1:${port(server)}`], input), 15_000, 'socat');
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout.length).toBe(input.length);
      expect(firstPatternBreak(result.stdout)).toBe(-1);
      await shutdown(server);
    });
  });

  it('talks to a zloop stream server over TCP and IPv6', async () => {
    await run(async () => {
      const server = await startServer(async (reader, writer) => {
        const name = (await reader.readline()).toString().trim();
        writer.write(`hello, ${name}\n`);
        writer.close();
      }, '::1', 0);
      const result = await within(socat(['-t', '10', '-', `TCP6:[::1]:${port(server)}`], Buffer.from('socat\n')), 15_000, 'socat');
      expect(result.code).toBe(0);
      expect(result.stdout.toString()).toBe('hello, socat\n');
      server.close();
      await within(server.waitClosed(), 5000, 'waitClosed');
    });
  });

  it('echoes back to socat over a Unix socket, protocol and stream servers', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const dir = socketDir();
      try {
        const path = dir.path('socat.sock');
        const server = await loop.createUnixServer(() => new Echo(), path);
        const input = pattern(7, 512 * 1024);
        const result = await within(socat(['-t', '10', '-', `UNIX-CONNECT:${path}`], input), 15_000, 'socat');
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
        expect(result.stdout.equals(input)).toBe(true);
        await shutdown(server);

        const streamPath = dir.path('socat-streams.sock');
        const streamServer = await startUnixServer(async (reader, writer) => {
          const body = await reader.read();
          writer.write(`${body.length} bytes\n`);
          writer.close();
        }, streamPath);
        const counted = await within(socat(['-t', '10', '-', `UNIX-CONNECT:${streamPath}`], Buffer.alloc(300_000, 65)), 15_000, 'socat');
        expect(counted.code).toBe(0);
        expect(counted.stdout.toString()).toBe('300000 bytes\n');
        streamServer.close();
        await within(streamServer.waitClosed(), 5000, 'waitClosed');
      } finally {
        dir.remove();
      }
    });
  });
});
