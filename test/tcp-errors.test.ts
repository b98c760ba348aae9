// OS errors in Node's shape (ECONNREFUSED, EADDRINUSE, ENOENT for Unix paths), argument checks of
// createConnection, and getaddrinfo/getnameinfo.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { getRunningLoop, run, type SystemError } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { Echo, port, Recorder, shutdown, socketDir } from './helpers/net.js';

trackLeaks();

/** A port that was just listened on and is now closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: free } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return free;
}

function expectSystemError(error: unknown, code: string, syscall: string): SystemError {
  expect(error).toBeInstanceOf(Error);
  const system = error as SystemError;
  expect(system.code).toBe(code);
  expect(typeof system.errno).toBe('number');
  expect(system.errno).toBeLessThan(0);
  expect(system.syscall).toBe(syscall);
  return system;
}

describe('ECONNREFUSED', () => {
  it("createConnection to a closed port rejects with Node's shape", async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const target = await closedPort();
      const error = await loop.createConnection(() => new Recorder(), '127.0.0.1', target).catch((caught: unknown) => caught);
      const system = expectSystemError(error, 'ECONNREFUSED', 'connect');
      expect(system.errno).toBe(-111);
      expect(system.address).toBe('127.0.0.1');
      expect(system.port).toBe(target);
      expect(system.message).toMatch(/^connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
      expect(system.message).toBe(`connect ECONNREFUSED 127.0.0.1:${target}`);
      // Node's own error for the same thing has the same code, errno and message.
      const nodeError = await new Promise<NodeJS.ErrnoException>((resolve) => net.connect(target, '127.0.0.1').on('error', resolve));
      expect([system.code, system.errno, system.syscall, system.message]).toEqual([nodeError.code, nodeError.errno, nodeError.syscall, nodeError.message]);
    });
  });

  it('over IPv6 too, with the IPv6 address in the message', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const target = await closedPort();
      const error = await loop.createConnection(() => new Recorder(), '::1', target).catch((caught: unknown) => caught);
      const system = expectSystemError(error, 'ECONNREFUSED', 'connect');
      expect(system.address).toBe('::1');
      expect(system.message).toMatch(/^connect ECONNREFUSED ::1:\d+$/);
    });
  });

  it('the loop keeps working after a refused connect', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const target = await closedPort();
      for (let attempt = 0; attempt < 20; attempt++) {
        await expect(loop.createConnection(() => new Recorder(), '127.0.0.1', target)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      }
      const server = await loop.createServer(() => new Echo(), '127.0.0.1', 0);
      const [transport, client] = await loop.createConnection(() => new Recorder(), '127.0.0.1', port(server));
      transport.write('fine');
      await client.untilBytes(4);
      transport.close();
      await shutdown(server);
    });
  });
});

describe('EADDRINUSE', () => {
  it("a second server on the same host and port fails with Node's shape (SO_REUSEADDR does not allow two listeners)", async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const first = await loop.createServer(() => new Echo(), '127.0.0.1', 0);
      const taken = port(first);
      for (const reuseAddress of [undefined, true, false]) {
        const error = await loop.createServer(() => new Echo(), '127.0.0.1', taken, { reuseAddress }).catch((caught: unknown) => caught);
        const system = expectSystemError(error, 'EADDRINUSE', 'listen');
        expect(system.errno).toBe(-98);
        expect(system.address).toBe('127.0.0.1');
        expect(system.port).toBe(taken);
        expect(system.message).toBe(`listen EADDRINUSE 127.0.0.1:${taken}`);
      }
      // A port Node's net holds is in use for us too.
      const nodeServer = net.createServer();
      await new Promise<void>((resolve) => nodeServer.listen(0, '127.0.0.1', resolve));
      const nodePort = (nodeServer.address() as net.AddressInfo).port;
      await expect(loop.createServer(() => new Echo(), '127.0.0.1', nodePort)).rejects.toMatchObject({ code: 'EADDRINUSE', syscall: 'listen', port: nodePort });
      await new Promise<void>((resolve) => nodeServer.close(() => resolve()));
      // The failed attempts left the first server serving.
      const [transport, client] = await loop.createConnection(() => new Recorder(), '127.0.0.1', taken);
      transport.write('still');
      await client.untilBytes(5);
      transport.close();
      await shutdown(first);
    });
  });

  it('a host list that fails on its second address closes the first listener', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const blocker = await loop.createServer(() => new Echo(), '::1', 0);
      const taken = port(blocker);
      // 127.0.0.1:taken may be free; ::1:taken is not.
      const error = await loop.createServer(() => new Echo(), ['127.0.0.1', '::1'], taken).catch((caught: unknown) => caught);
      expectSystemError(error, 'EADDRINUSE', 'listen');
      // The IPv4 listener made before the failure must be gone: we can bind it again.
      const again = await loop.createServer(() => new Echo(), '127.0.0.1', taken);
      await shutdown(again);
      await shutdown(blocker);
    });
  });
});

describe('Unix socket errors', () => {
  it('connecting to a path nobody listens on rejects with ENOENT and the path', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const dir = socketDir();
      try {
        const path = dir.path('nobody.sock');
        const error = await loop.createUnixConnection(() => new Recorder(), path).catch((caught: unknown) => caught);
        const system = expectSystemError(error, 'ENOENT', 'connect');
        expect(system.address).toBe(path);
        expect(system.message).toBe(`connect ENOENT ${path}`);
      } finally {
        dir.remove();
      }
    });
  });
});

describe('createConnection argument checks', () => {
  it('refuses a bad host, port or localAddr, and an unknown host fails to resolve', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      await expect(loop.createConnection(() => new Recorder(), '', 80)).rejects.toThrow(TypeError);
      await expect(loop.createConnection(() => new Recorder(), '127.0.0.1', 65536)).rejects.toThrow(RangeError);
      await expect(loop.createConnection(() => new Recorder(), '127.0.0.1', -1)).rejects.toThrow(RangeError);
      await expect(loop.createConnection(() => new Recorder(), '127.0.0.1', 80, { localAddr: 'x' as never })).rejects.toThrow(/localAddr/);
      await expect(loop.createConnection(() => new Recorder(), 'no-such-host.invalid', 80)).rejects.toMatchObject({ code: expect.stringMatching(/ENOTFOUND|EAI_AGAIN/) });
    });
  });

  it('localAddr binds the local end', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const server = await loop.createServer(() => new Echo(), '127.0.0.1', 0);
      const localPort = await closedPort();
      const [transport] = await loop.createConnection(() => new Recorder(), '127.0.0.1', port(server), { localAddr: ['127.0.0.1', localPort] });
      expect(transport.getExtraInfo('sockname')).toEqual(['127.0.0.1', localPort]);
      transport.close();
      await shutdown(server);
    });
  });
});

describe('getaddrinfo and getnameinfo', () => {
  it("getaddrinfo('localhost', 80) gives [family, type, proto, canonname, [host, port]] entries", async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const entries = await loop.getaddrinfo('localhost', 80);
      expect(entries.length).toBeGreaterThanOrEqual(1);
      for (const entry of entries) {
        expect(entry).toHaveLength(5);
        const [family, type, proto, canonname, sockaddr] = entry;
        expect([2, 10]).toContain(family);
        expect(type).toBe(1); // SOCK_STREAM
        expect(proto).toBe(6); // IPPROTO_TCP
        expect(canonname).toBe('');
        expect(sockaddr[1]).toBe(80);
        expect(net.isIP(sockaddr[0])).toBe(family === 2 ? 4 : 6);
      }
      expect(entries.map((entry) => entry[4][0])).toContain(entries.some((entry) => entry[0] === 2) ? '127.0.0.1' : '::1');
      const v4 = await loop.getaddrinfo('localhost', '8080', { family: 2 });
      expect(v4.every((entry) => entry[0] === 2 && entry[4][1] === 8080)).toBe(true);
      expect(await loop.getaddrinfo('127.0.0.1', null)).toEqual([[2, 1, 6, '', ['127.0.0.1', 0]]]);
      await expect(loop.getaddrinfo('localhost', 70000)).rejects.toThrow(RangeError);
    });
  });

  it("getnameinfo(['127.0.0.1', 80]) gives [host, service]", async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const [host, service] = await loop.getnameinfo(['127.0.0.1', 80]);
      expect(typeof host).toBe('string');
      expect(host.length).toBeGreaterThan(0);
      expect(['http', '80']).toContain(service);
      await expect(loop.getnameinfo('127.0.0.1' as never)).rejects.toThrow(TypeError);
    });
  });
});
