// zloop/net: Socket and Server with net's surface, tested against node:net peers over loopback
// TCP and Unix sockets: events and their order, byte-exact transfers with backpressure, half-open,
// resets, timeouts, connection counts and limits, ref/unref in a child process, OS errors in
// Node's shape, bad arguments.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import * as nodeNet from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as net from 'zloop/net';
import { addon, trackLeaks } from './helpers/leaks.js';
import { within } from './helpers/loops.js';

trackLeaks();

const scratch = mkdtempSync(join(tmpdir(), 'zloop-net-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A zloop/net server listening on 127.0.0.1, port chosen by the kernel. */
async function listening(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await within(once(server, 'listening'), 5000, 'listening');
  return (server.address() as nodeNet.AddressInfo).port;
}

function closeServer(server: nodeNet.Server): Promise<void> {
  return within(new Promise<void>((resolve) => server.close(() => resolve())), 5000, 'server close');
}

/** Deterministic bytes: a position-dependent pattern, so reordering or loss shows. */
function pattern(length: number, seed = 7): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let index = 0; index < length; index++) bytes[index] = (index * 31 + seed + (index >> 11)) & 0xff;
  return bytes;
}

function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

describe('zloop/net Server with node:net clients', () => {
  it('echoes, reports addresses and counts, and emits end, finish and close in order', async () => {
    const events: string[] = [];
    let serverSocket: net.Socket | null = null;
    let serverSocketClosed!: Promise<unknown>;
    const server = net.createServer((socket) => {
      serverSocket = socket as net.Socket;
      serverSocketClosed = once(socket, 'close');
      socket.on('data', (chunk) => socket.write(chunk));
      socket.on('end', () => {
        events.push('end');
        socket.end();
      });
      socket.on('finish', () => events.push('finish'));
      socket.on('close', (hadError: boolean) => events.push(`close:${hadError}`));
    });
    const port = await listening(server);
    expect(server.listening).toBe(true);
    expect(server.address()).toEqual({ address: '127.0.0.1', family: 'IPv4', port });

    const client = nodeNet.connect(port, '127.0.0.1');
    await once(client, 'connect');
    const clientPort = client.localPort;
    const received = collect(client);
    const message = pattern(100_000);
    client.end(message);
    expect((await within(received, 5000, 'echo')).equals(message)).toBe(true);
    await within(once(client, 'close'), 5000, 'client close');
    await within(serverSocketClosed, 5000, 'server socket close');

    expect(events).toEqual(['end', 'finish', 'close:false']);
    const socket = serverSocket!;
    expect(socket).toBeInstanceOf(net.Socket);
    expect(socket.bytesRead).toBe(message.length);
    expect(socket.bytesWritten).toBe(message.length);
    expect(socket.remoteAddress).toBe('127.0.0.1');
    expect(socket.remotePort).toBe(clientPort);
    expect(socket.remoteFamily).toBe('IPv4');
    expect(socket.localPort).toBe(port);
    expect(socket.readyState).toBe('closed');
    await closeServer(server);
    expect(server.listening).toBe(false);
  });

  it('getConnections counts open connections; close(cb) waits for them; maxConnections drops the extra ones', async () => {
    const accepted: nodeNet.Socket[] = [];
    const server = net.createServer((socket) => {
      accepted.push(socket as never);
      socket.resume(); // read to the end, so that the client's end ends the connection
    });
    server.maxConnections = 2;
    const drops: unknown[] = [];
    server.on('drop', (info) => drops.push(info));
    const port = await listening(server);
    const clients = [nodeNet.connect(port, '127.0.0.1'), nodeNet.connect(port, '127.0.0.1')];
    await Promise.all(clients.map((client) => once(client, 'connect')));
    await within(new Promise<void>((resolve) => { const check = (): void => void (accepted.length === 2 ? resolve() : setTimeout(check, 2)); check(); }), 5000, 'two accepted');
    expect(await new Promise((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count))))).toBe(2);

    const third = nodeNet.connect(port, '127.0.0.1');
    third.on('error', () => {});
    await within(once(third, 'close'), 5000, 'third connection dropped');
    expect(drops).toHaveLength(1);
    expect(accepted).toHaveLength(2);

    let closed = false;
    const serverClosed = new Promise<void>((resolve) => server.close(() => { closed = true; resolve(); }));
    expect(server.listening).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false); // two connections are still open
    for (const client of clients) client.end();
    await within(serverClosed, 5000, 'close once the connections are gone');
    for (const client of clients) client.destroy();
  });

  it('listen() on an IP address binds before it returns, as node:net does: address() works at once', async () => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    const address = server.address() as nodeNet.AddressInfo;
    expect(address.port).toBeGreaterThan(0);
    expect(server.listening).toBe(true);
    let listeningEmitted = false;
    server.on('listening', () => (listeningEmitted = true));
    await new Promise((resolve) => process.nextTick(resolve));
    expect(listeningEmitted).toBe(true); // on the next tick, as node:net emits it
    // A host name is looked up first: listening comes later, and address() is null until then.
    const named = net.createServer();
    named.listen(0, 'localhost');
    expect(named.address()).toBeNull();
    await within(once(named, 'listening'), 5000, 'named listening');
    expect((named.address() as nodeNet.AddressInfo).port).toBeGreaterThan(0);
    await closeServer(named);
    await closeServer(server);
  });

  it('listen({ reusePort: true }): two servers share one port; without it the second gets EADDRINUSE', async () => {
    const first = net.createServer((socket) => socket.end('first'));
    first.listen({ port: 0, host: '127.0.0.1', reusePort: true });
    const port = (first.address() as nodeNet.AddressInfo).port;
    const second = net.createServer((socket) => socket.end('second'));
    second.listen({ port, host: '127.0.0.1', reusePort: true });
    expect((second.address() as nodeNet.AddressInfo).port).toBe(port);
    const third = net.createServer();
    third.listen({ port, host: '127.0.0.1' });
    const [error] = (await within(once(third, 'error'), 5000, 'third error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('EADDRINUSE');
    // Connections reach one of the two sharing servers.
    const answers = new Set<string>();
    for (let index = 0; index < 8; index++) answers.add((await within(collect(nodeNet.connect(port, '127.0.0.1')), 5000, 'answer')).toString());
    for (const answer of answers) expect(['first', 'second']).toContain(answer);
    await closeServer(first);
    await closeServer(second);
  });

  it('close(cb) on a server that is not listening calls back with ERR_SERVER_NOT_RUNNING', async () => {
    const server = net.createServer();
    const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => server.close((err) => resolve(err)));
    expect(error?.code).toBe('ERR_SERVER_NOT_RUNNING');
  });

  it('a port in use is an error event in Node\'s shape (code, errno, syscall, address, port)', async () => {
    const holder = nodeNet.createServer().listen(0, '127.0.0.1');
    await once(holder, 'listening');
    const port = (holder.address() as nodeNet.AddressInfo).port;
    const server = net.createServer();
    server.listen(port, '127.0.0.1');
    const [error] = (await within(once(server, 'error'), 5000, 'error')) as [NodeJS.ErrnoException & { address: string; port: number }];
    expect(error).toMatchObject({ code: 'EADDRINUSE', syscall: 'listen', address: '127.0.0.1', port });
    expect(error.errno).toBe(-98);
    expect(server.listening).toBe(false);
    await closeServer(holder);
  });

  it('listens on a Unix path: address() is the path, node:net clients connect', async () => {
    const path = join(scratch, 'server.sock');
    const server = net.createServer((socket) => socket.end('hello over unix'));
    server.listen(path);
    await within(once(server, 'listening'), 5000, 'listening');
    expect(server.address()).toBe(path);
    const client = nodeNet.connect(path);
    expect((await within(collect(client), 5000, 'unix read')).toString()).toBe('hello over unix');
    await closeServer(server);
  });

  it('a slow reader: write() returns false, memory stays bounded, drain comes, every byte arrives in order', async () => {
    const total = 32 * 1024 * 1024;
    const chunk = 64 * 1024;
    let maxBuffered = 0;
    let sawBackpressure = false;
    const server = net.createServer(async (socket) => {
      for (let offset = 0; offset < total; offset += chunk) {
        const more = socket.write(pattern(chunk, offset / chunk));
        maxBuffered = Math.max(maxBuffered, (socket as net.Socket).bufferSize);
        if (!more) {
          sawBackpressure = true;
          await once(socket, 'drain');
        }
      }
      socket.end();
    });
    const port = await listening(server);
    const client = nodeNet.connect(port, '127.0.0.1');
    client.pause();
    await once(client, 'connect');
    // The client reads nothing until the server has had to wait for a drain.
    await within(new Promise<void>((resolve) => { const check = (): void => void (sawBackpressure ? resolve() : setTimeout(check, 5)); check(); }), 10_000, 'backpressure');
    const received = await within(collect(client.resume()), 30_000, 'slow read');
    expect(received.length).toBe(total);
    for (let offset = 0; offset < total; offset += chunk) {
      if (!received.subarray(offset, offset + chunk).equals(pattern(chunk, offset / chunk))) throw new Error(`bytes differ in the chunk at ${offset}`);
    }
    // Bounded, not 32 MiB: the transport's high-water mark (64 KiB) and the write that crossed
    // it, plus the Duplex's own highWaterMark (16 KiB) and the chunk that found it full.
    expect(maxBuffered).toBeLessThanOrEqual(64 * 1024 + 16 * 1024 + 2 * chunk);
    await closeServer(server);
  });
});

describe('zloop/net Socket with node:net servers', () => {
  it('connects (connect, then ready), sends what was written before the connection, reads the reply', async () => {
    const server = nodeNet.createServer((socket) => socket.pipe(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as nodeNet.AddressInfo).port;
    const events: string[] = [];
    const socket = net.connect(port, '127.0.0.1', () => events.push('callback'));
    expect(socket.connecting).toBe(true);
    expect(socket.readyState).toBe('opening');
    expect(socket.pending).toBe(true);
    socket.on('connect', () => events.push('connect'));
    socket.on('ready', () => events.push('ready'));
    const message = pattern(300_000, 3);
    socket.write(message.subarray(0, 1000)); // before the connection is made
    socket.end(message.subarray(1000));
    const received = await within(collect(socket), 5000, 'echo');
    expect(received.equals(message)).toBe(true);
    expect(events).toEqual(['callback', 'connect', 'ready']);
    expect(socket.remotePort).toBe(port);
    expect(socket.localAddress).toBe('127.0.0.1');
    await within(once(socket, 'close'), 5000, 'close');
    await closeServer(server);
  });

  it('strings go out as UTF-8 in every encoding asked for; bytesWritten counts bytes, not characters', async () => {
    // allowHalfOpen: the peer answers after our end (a default node:net socket ends itself first).
    const server = nodeNet.createServer({ allowHalfOpen: true }, (peer) => collect(peer).then((all) => peer.end(all)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const socket = net.connect((server.address() as nodeNet.AddressInfo).port, '127.0.0.1');
    await once(socket, 'connect');
    const text = 'héllo wörld ✓ 漢字 🚀 '.repeat(5000); // multi-byte UTF-8 and a surrogate pair, ~170 KB
    socket.write(text);
    socket.write('cafe', 'hex');
    socket.cork();
    socket.write('ä');
    socket.write('🚀');
    socket.uncork();
    socket.end(Buffer.from([0, 255]));
    const expected = Buffer.concat([Buffer.from(text, 'utf8'), Buffer.from('cafe', 'hex'), Buffer.from('ä🚀', 'utf8'), Buffer.from([0, 255])]);
    const received = await within(collect(socket), 5000, 'echo');
    let firstDifference = -1;
    for (let index = 0; index < Math.max(received.length, expected.length); index++) if (received[index] !== expected[index]) { firstDifference = index; break; }
    expect({ length: received.length, firstDifference }).toEqual({ length: expected.length, firstDifference: -1 });
    expect(socket.bytesWritten).toBe(expected.length);
    await closeServer(server);
  });

  it('allowHalfOpen keeps the write side open after the peer ends', async () => {
    const server = nodeNet.createServer((peer) => {
      peer.end('first');
      collect(peer).then((rest) => peer.destroy(rest.length === 0 ? new Error('nothing came back') : undefined));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as nodeNet.AddressInfo).port;
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true } as never);
    const received = await within(collect(socket), 5000, 'read to end');
    expect(received.toString()).toBe('first');
    expect(socket.writable).toBe(true);
    socket.end('after the end');
    await within(once(socket, 'close'), 5000, 'close');
    await closeServer(server);
  });

  it('a refused connection is an error in Node\'s shape, then close with hadError', async () => {
    const holder = nodeNet.createServer().listen(0, '127.0.0.1');
    await once(holder, 'listening');
    const port = (holder.address() as nodeNet.AddressInfo).port;
    await closeServer(holder);
    const socket = net.connect(port, '127.0.0.1');
    const [error] = (await within(once(socket, 'error'), 5000, 'error')) as [NodeJS.ErrnoException & { address: string; port: number }];
    expect(error).toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect', address: '127.0.0.1', port });
    const [hadError] = await within(once(socket, 'close'), 5000, 'close');
    expect(hadError).toBe(true);
  });

  it('resetAndDestroy() resets: the peer gets ECONNRESET', async () => {
    const server = nodeNet.createServer();
    const peerError = new Promise<NodeJS.ErrnoException>((resolve) => {
      server.on('connection', (peer) => peer.on('error', resolve));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const socket = net.connect((server.address() as nodeNet.AddressInfo).port, '127.0.0.1');
    await once(socket, 'connect');
    socket.resetAndDestroy();
    expect((await within(peerError, 5000, 'peer error')).code).toBe('ECONNRESET');
    await closeServer(server);
  });

  it('setTimeout emits timeout after idleness, once per idle period; setTimeout(0) turns it off', async () => {
    const server = nodeNet.createServer((peer) => peer.on('data', (chunk) => peer.write(chunk)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const socket = net.connect((server.address() as nodeNet.AddressInfo).port, '127.0.0.1');
    await once(socket, 'connect');
    let timeouts = 0;
    socket.setTimeout(30, () => timeouts++);
    expect(socket.timeout).toBe(30);
    await within(once(socket, 'timeout'), 5000, 'first timeout');
    socket.write('activity');
    await once(socket, 'data');
    await within(once(socket, 'timeout'), 5000, 'timeout after activity');
    socket.setTimeout(0);
    expect(socket.timeout).toBeUndefined();
    socket.destroy();
    await once(socket, 'close');
    await closeServer(server);
  });

  it('setNoDelay and setKeepAlive apply to the socket (read back from the kernel)', async () => {
    const server = nodeNet.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const socket = net.connect((server.address() as nodeNet.AddressInfo).port, '127.0.0.1');
    socket.setKeepAlive(true, 5000); // before the connection: applied once it is made
    await once(socket, 'connect');
    expect(addon.socketFlag(socket._fd, 4)).toBe(1);
    expect(socket.setNoDelay(false)).toBe(socket);
    expect(addon.socketFlag(socket._fd, 3)).toBe(0);
    socket.setNoDelay();
    expect(addon.socketFlag(socket._fd, 3)).toBe(1);
    socket.setKeepAlive(false);
    expect(addon.socketFlag(socket._fd, 4)).toBe(0);
    socket.end();
    socket.resume();
    await within(once(socket, 'close'), 5000, 'close');
    await closeServer(server);
  });
});

describe('zloop/net and the process lifetime', () => {
  const child = fileURLToPath(new URL('./fixtures/net-lifetime-child.mjs', import.meta.url));

  async function runChild(mode: string, withClient: boolean): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const proc = spawn(process.execPath, [child, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
    const portLine = new Promise<number>((resolve) => {
      proc.stdout.setEncoding('utf8').on('data', (text: string) => {
        stdout += text;
        const match = /port (\d+)/.exec(stdout);
        if (match) resolve(Number(match[1]));
      });
    });
    if (withClient) {
      const port = await within(portLine, 10_000, 'child port');
      const client = nodeNet.connect(port, '127.0.0.1');
      client.end('bye');
      client.resume();
      await once(client, 'close');
    }
    try {
      return { code: await within(exited, 10_000, 'child exits by itself'), stdout, stderr };
    } finally {
      proc.kill('SIGKILL');
    }
  }

  it('an unref\'d server does not keep the process alive', async () => {
    const result = await runChild('unref', false);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('a ref\'d server keeps the process alive until it closes', async () => {
    const result = await runChild('ref', true);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('got bye');
    expect(result.code).toBe(0);
  });
});

describe('zloop/net bad input', () => {
  it('refuses bad ports and timeouts with Node\'s codes', () => {
    expect(() => net.createServer().listen(70000)).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }));
    expect(() => net.connect({ port: -1, host: '127.0.0.1' })).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }));
    expect(() => new net.Socket().setTimeout(-5)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => net.connect(undefined as never)).toThrow(expect.objectContaining({ code: 'ERR_MISSING_ARGS' }));
  });
});
