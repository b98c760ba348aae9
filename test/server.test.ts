// Server: close, waitClosed, closeClients, abortClients, serveForever, startServing, isServing,
// sockets, getLoop, `await using`, host lists and all interfaces.
import { describe, expect, it } from 'vitest';
import { CancelledError, getRunningLoop, run, Server, type Transport } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { address, Echo, hops, pattern, firstPatternBreak, port, Recorder, recordingServer, shutdown, Signal, within } from './helpers/net.js';

trackLeaks();

/** Connects, sends `text` and waits for the echo; returns the client transport and recorder. */
async function echoOnce(host: string, serverPort: number, text: string): Promise<[Transport, Recorder]> {
  const [transport, recorder] = await getRunningLoop().createConnection(() => new Recorder(), host, serverPort);
  transport.write(text);
  await recorder.untilBytes(Buffer.byteLength(text));
  expect(recorder.text()).toBe(text);
  return [transport, recorder];
}

async function expectRefused(host: string, serverPort: number): Promise<void> {
  await expect(getRunningLoop().createConnection(() => new Recorder(), host, serverPort)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
}

describe('createServer', () => {
  it('listens on the given host and port; sockets shows the bound address; getLoop is the loop', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const server = await loop.createServer(() => new Echo(), '127.0.0.1', 0);
      expect(server).toBeInstanceOf(Server);
      expect(server.getLoop()).toBe(loop);
      expect(server.isServing()).toBe(true);
      expect(server.sockets).toHaveLength(1);
      const [host, serverPort] = address(server);
      expect(host).toBe('127.0.0.1');
      expect(serverPort).toBeGreaterThan(0);
      expect(server.sockets[0]!.family).toBe('IPv4');
      const [transport] = await echoOnce('127.0.0.1', serverPort, 'hello');
      transport.close();
      await shutdown(server);
    });
  });

  it('listens on every address of a host list', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const first = await loop.createServer(() => new Echo(), '127.0.0.1', 0);
      const serverPort = port(first);
      await shutdown(first);
      // The port was free a moment ago; bind both loopback addresses to it.
      const server = await loop.createServer(() => new Echo(), ['127.0.0.1', '::1'], serverPort);
      const names = server.sockets.map((socket) => [socket.family, socket.getsockname()]);
      expect(names).toEqual([
        ['IPv4', ['127.0.0.1', serverPort]],
        ['IPv6', ['::1', serverPort]],
      ]);
      const [a] = await echoOnce('127.0.0.1', serverPort, 'over IPv4');
      const [b] = await echoOnce('::1', serverPort, 'over IPv6');
      a.close();
      b.close();
      await shutdown(server);
      await expectRefused('127.0.0.1', serverPort);
      await expectRefused('::1', serverPort);
    });
  });

  it('with no host listens on all interfaces, reachable over 127.0.0.1 and ::1', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      for (const host of [undefined, null, '']) {
        const server = await loop.createServer(() => new Echo(), host, 0);
        expect(server.sockets.length).toBeGreaterThanOrEqual(1);
        const [bound, serverPort] = address(server);
        expect(['::', '0.0.0.0']).toContain(bound);
        const [a] = await echoOnce('127.0.0.1', serverPort, 'v4');
        const [b] = await echoOnce('::1', serverPort, 'v6');
        a.close();
        b.close();
        await shutdown(server);
      }
    });
  });

  it("family AF_INET with no host binds 0.0.0.0 only", async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const server = await loop.createServer(() => new Echo(), null, 0, { family: 2 });
      expect(address(server)[0]).toBe('0.0.0.0');
      const [a] = await echoOnce('127.0.0.1', port(server), 'v4');
      a.close();
      await expectRefused('::1', port(server));
      await shutdown(server);
    });
  });

  it('reusePort lets two servers share a port', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const one = await loop.createServer(() => new Echo(), '127.0.0.1', 0, { reusePort: true });
      const two = await loop.createServer(() => new Echo(), '127.0.0.1', port(one), { reusePort: true });
      expect(port(two)).toBe(port(one));
      const [a] = await echoOnce('127.0.0.1', port(one), 'shared');
      a.close();
      await shutdown(one);
      const [b] = await echoOnce('127.0.0.1', port(two), 'still there');
      b.close();
      await shutdown(two);
    });
  });

  it('keepAlive and a backlog are accepted; bad arguments are refused at the edge', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const server = await loop.createServer(() => new Echo(), '127.0.0.1', 0, { keepAlive: true, backlog: 5 });
      const [a] = await echoOnce('127.0.0.1', port(server), 'alive');
      a.close();
      await shutdown(server);
      await expect(loop.createServer(() => new Echo(), '127.0.0.1', 70000)).rejects.toThrow(RangeError);
      await expect(loop.createServer(() => new Echo(), '127.0.0.1', 1.5)).rejects.toThrow(TypeError);
      await expect(loop.createServer(() => new Echo(), '127.0.0.1', 0, { backlog: -1 })).rejects.toThrow(/options\.backlog/);
      await expect(loop.createServer('nope' as never, '127.0.0.1', 0)).rejects.toThrow(TypeError);
    });
  });
});

describe('close and waitClosed', () => {
  it('close stops accepting and empties sockets; open connections keep working; waitClosed waits for them', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, port: serverPort, next } = await recordingServer(loop);
      const [transport, client] = await loop.createConnection(() => new Recorder(), '127.0.0.1', serverPort);
      const peer = await next();
      server.close();
      server.close(); // idempotent
      expect(server.isServing()).toBe(false);
      expect(server.sockets).toEqual([]);
      await expectRefused('127.0.0.1', serverPort);

      let closed = false;
      const waiting = server.waitClosed().then(() => {
        closed = true;
      });
      // The accepted connection still carries bytes both ways.
      transport.write('after close');
      await peer.untilBytes(11);
      peer.transport!.write('reply');
      await client.untilBytes(5);
      await hops(loop, 5);
      expect(closed).toBe(false);

      transport.close();
      await within(waiting, 5000, 'waitClosed');
      expect(closed).toBe(true);
      await peer.lost.wait('peer connectionLost');
      // Once closed, waitClosed resolves at once.
      await within(server.waitClosed(), 1000, 'waitClosed again');
    });
  });

  it('waitClosed resolves at once for a closed server with no connections', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const server = await loop.createServer(() => new Echo(), '127.0.0.1', 0);
      server.close();
      await within(server.waitClosed(), 1000, 'waitClosed');
    });
  });

  it('closeClients closes every connection gracefully: buffered bytes are sent first', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, port: serverPort, next } = await recordingServer(loop);
      const clients: [Transport, Recorder][] = [];
      const peers: Recorder[] = [];
      for (let index = 0; index < 3; index++) {
        clients.push(await loop.createConnection(() => new Recorder(), '127.0.0.1', serverPort));
        peers.push(await next());
      }
      const size = 4 * 1024 * 1024;
      for (const [transport] of clients) transport.pauseReading();
      for (const peer of peers) peer.transport!.write(pattern(0, size));
      expect(peers.some((peer) => peer.transport!.getWriteBufferSize() > 0)).toBe(true);
      server.closeClients();
      for (const peer of peers) expect(peer.transport!.isClosing()).toBe(true);
      for (const [transport] of clients) transport.resumeReading();
      for (const [, client] of clients) {
        await client.lost.wait('client connectionLost');
        expect(client.received).toBe(size);
        expect(firstPatternBreak(client.bytes())).toBe(-1);
        expect(client.events).toEqual(['made', 'data', 'eof', 'lost']);
      }
      // closeClients does not close the listener.
      expect(server.isServing()).toBe(true);
      const [late] = await loop.createConnection(() => new Recorder(), '127.0.0.1', serverPort);
      const latePeer = await next();
      expect(latePeer.transport!.isClosing()).toBe(false);
      late.close();
      server.close();
      await within(server.waitClosed(), 5000, 'waitClosed');
    });
  });

  it('abortClients drops every connection at once and waitClosed then resolves', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, port: serverPort, next } = await recordingServer(loop);
      const clients: [Transport, Recorder][] = [];
      const peers: Recorder[] = [];
      for (let index = 0; index < 3; index++) {
        clients.push(await loop.createConnection(() => new Recorder(), '127.0.0.1', serverPort));
        peers.push(await next());
      }
      for (const [transport] of clients) transport.pauseReading();
      for (const peer of peers) peer.transport!.write(pattern(0, 16 * 1024 * 1024));
      server.close();
      server.abortClients();
      await within(server.waitClosed(), 5000, 'waitClosed');
      for (const peer of peers) {
        expect(await peer.lost.wait('peer connectionLost')).toBe(null);
        expect(peer.transport!.getWriteBufferSize()).toBe(0);
      }
      for (const [transport, client] of clients) {
        transport.resumeReading();
        await client.lost.wait('client connectionLost');
        expect(client.received).toBeLessThan(16 * 1024 * 1024);
      }
    });
  });
});

describe('serveForever and startServing', () => {
  it('serveForever accepts until close(), then rejects with CancelledError', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const server = await loop.createServer(() => new Echo(), '127.0.0.1', 0, { startServing: false });
      expect(server.isServing()).toBe(false);
      const forever = server.serveForever();
      const outcome = forever.then(
        () => 'resolved',
        (error: unknown) => error,
      );
      expect(server.isServing()).toBe(true);
      await expect(server.serveForever()).rejects.toThrow(/already being awaited on serveForever/);
      const [transport] = await echoOnce('127.0.0.1', port(server), 'served');
      transport.close();
      server.close();
      expect(await within(outcome, 5000, 'serveForever settles')).toBeInstanceOf(CancelledError);
      await within(server.waitClosed(), 5000, 'waitClosed');
      await expect(server.serveForever()).rejects.toThrow(/is closed/);
    });
  });

  it('startServing: false binds but does not accept until startServing()', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const made = new Signal();
      const server = await loop.createServer(
        () => {
          made.resolve();
          return new Echo();
        },
        '127.0.0.1',
        0,
        { startServing: false },
      );
      expect(server.isServing()).toBe(false);
      expect(server.sockets).toHaveLength(1);
      // The kernel completes the handshake into the backlog; nobody accepts it yet.
      const [transport, client] = await loop.createConnection(() => new Recorder(), '127.0.0.1', port(server));
      transport.write('queued');
      const [probe] = await echoOnce('127.0.0.1', await probeServerPort(), 'probe');
      await hops(loop, 5);
      expect(made.fired).toBe(false);
      await server.startServing();
      expect(server.isServing()).toBe(true);
      await made.wait('accepted after startServing');
      await client.untilBytes(6);
      expect(client.text()).toBe('queued');
      await server.startServing(); // already serving: no-op
      expect(server.isServing()).toBe(true);
      transport.close();
      probe.close();
      await shutdown(server);
      await shutdown(probeServer!);
      probeServer = null;
    });
  });

  it('startServing after close does not serve', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const server = await loop.createServer(() => new Echo(), '127.0.0.1', 0, { startServing: false });
      server.close();
      await server.startServing();
      expect(server.isServing()).toBe(false);
      await within(server.waitClosed(), 1000, 'waitClosed');
    });
  });
});

let probeServer: Server | null = null;
/** A second echo server on the same loop: its round trip shows the loop polled meanwhile. */
async function probeServerPort(): Promise<number> {
  probeServer ??= await getRunningLoop().createServer(() => new Echo(), '127.0.0.1', 0);
  return port(probeServer);
}

describe('await using', () => {
  it('disposes the server: listener closed, connections gone, waitClosed resolved', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      let serverPort = 0;
      let client: Recorder;
      let peerLost: Promise<Error | null>;
      {
        const { server, port: boundPort, next } = await recordingServer(loop);
        await using disposable = server;
        serverPort = boundPort;
        expect(typeof disposable[Symbol.asyncDispose]).toBe('function');
        const [transport, recorder] = await loop.createConnection(() => new Recorder(), '127.0.0.1', serverPort);
        client = recorder;
        const peer = await next();
        peerLost = peer.lost.wait('peer lost');
        // The client closes while disposal waits; otherwise dispose would wait for it forever.
        loop.callLater(0.01, () => transport.close());
      }
      await peerLost;
      await client.lost.wait('client lost');
      await expectRefused('127.0.0.1', serverPort);
    });
  });
});
