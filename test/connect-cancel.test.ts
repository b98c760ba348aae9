// A connection attempt that is given up (waitFor's timeout, the Future's cancel(), an AbortSignal)
// closes its socket and makes no protocol, as asyncio's cancellation of create_connection does.
// The peers are Node's net servers, so what the client does is seen from outside zloop.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { type EventLoop, getRunningLoop, openConnection, run, TimeoutError, waitFor } from 'zloop';
import { fdCount, trackLeaks } from './helpers/leaks.js';
import { Recorder, Signal, within } from './helpers/net.js';

trackLeaks();

/** A Node server; `closed` fires when the first connection it accepted is closed by the client. */
async function nodeServer(): Promise<{ server: net.Server; port: number; accepted: Signal; closed: Signal }> {
  const accepted = new Signal();
  const closed = new Signal();
  const server = net.createServer((socket) => {
    accepted.resolve();
    socket.resume();
    socket.on('close', () => closed.resolve());
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as net.AddressInfo).port, accepted, closed };
}

/**
 * A listener that never accepts, with its accept queue (backlog 0 admits one) full, so a new
 * connect to it stays pending: the kernel drops its SYN.
 */
async function fullBacklog(loop: EventLoop): Promise<{ port: number; close: () => Promise<void> }> {
  const server = await loop.createServer(() => new Recorder(), '127.0.0.1', 0, { backlog: 0, startServing: false });
  const port = (server.sockets[0]!.getsockname() as [string, number])[1];
  const filler = net.connect(port, '127.0.0.1');
  filler.on('error', () => {});
  await within(new Promise((resolve) => filler.once('connect', resolve)), 5000, 'the filler to connect');
  return {
    port,
    close: async () => {
      filler.destroy();
      server.close();
      await server.waitClosed();
    },
  };
}

describe('giving up a connection attempt', () => {
  it('cancel() right after createConnection: the socket is closed, the factory never runs', async () => {
    const { server, port, closed } = await nodeServer();
    try {
      await run(async () => {
        const loop = getRunningLoop();
        let made = 0;
        const before = fdCount();
        const attempt = loop.createConnection(() => (made++, new Recorder()), '127.0.0.1', port);
        // Let the connect reach the kernel, then give up before the loop sees it complete.
        await new Promise((resolve) => setImmediate(resolve));
        expect(attempt.cancel()).toBe(true);
        await expect(attempt).rejects.toMatchObject({ name: 'CancelledError' });
        expect(fdCount()).toBe(before);
        // The server saw our socket go (a positive event), and no protocol was made for it.
        await closed.wait('the server to see the client close');
        expect(made).toBe(0);
      });
    } finally {
      server.close();
    }
  });

  it('waitFor(createConnection(...), timeout) on a connect that hangs: TimeoutError, socket closed', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const peer = await fullBacklog(loop);
      try {
        let made = 0;
        const before = fdCount();
        const error = await waitFor(loop.createConnection(() => (made++, new Recorder()), '127.0.0.1', peer.port), 0.05).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(TimeoutError);
        expect(fdCount()).toBe(before);
        expect(made).toBe(0);
      } finally {
        await peer.close();
      }
    });
  });

  it('an AbortSignal given as options.signal rejects with its reason and closes the socket', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const peer = await fullBacklog(loop);
      try {
        const before = fdCount();
        const controller = new AbortController();
        const attempt = loop.createConnection(() => new Recorder(), '127.0.0.1', peer.port, { signal: controller.signal });
        loop.callLater(0.02, () => controller.abort());
        await expect(within(Promise.resolve(attempt), 5000, 'the aborted attempt')).rejects.toMatchObject({ name: 'AbortError' });
        expect(fdCount()).toBe(before);
        const already = AbortSignal.abort(new Error('given up before'));
        await expect(loop.createConnection(() => new Recorder(), '127.0.0.1', peer.port, { signal: already })).rejects.toThrow('given up before');
        expect(fdCount()).toBe(before);
        expect(() => loop.createConnection(() => new Recorder(), '127.0.0.1', peer.port, { signal: 'no' as never })).toThrow(TypeError);
      } finally {
        await peer.close();
      }
    });
  });

  it('waitFor(openConnection(...), timeout) gives the streams connection up as well', async () => {
    await run(async () => {
      const peer = await fullBacklog(getRunningLoop());
      try {
        const before = fdCount();
        const error = await waitFor(openConnection('127.0.0.1', peer.port), 0.05).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(TimeoutError);
        expect(fdCount()).toBe(before);
      } finally {
        await peer.close();
      }
    });
  });

  it('a TLS attempt given up during the handshake closes its connection; connectionMade never runs', async () => {
    // A peer that accepts and never answers the ClientHello.
    const { server, port, accepted, closed } = await nodeServer();
    try {
      await run(async () => {
        const loop = getRunningLoop();
        const protocol = new Recorder();
        const attempt = loop.createConnection(() => protocol, '127.0.0.1', port, { ssl: true, serverHostname: 'localhost' });
        await accepted.wait('the server to accept');
        const error = await waitFor(attempt, 0.05).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(TimeoutError);
        await closed.wait('the server to see the client close');
        expect(protocol.events).toEqual([]);
      });
    } finally {
      server.close();
    }
  });
});
