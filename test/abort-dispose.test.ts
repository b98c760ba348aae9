// AbortSignal options (sleep, createServer and its stream and Unix forms) and Symbol.asyncDispose
// (StreamWriter, EventLoop, ShardedServer). Clients and peers are node:net, so what zloop closed
// is seen from outside it.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  CancelledError, createShardedServer, getRunningLoop, newEventLoop, openConnection, run, sleep, startServer,
  startUnixServer, timeout, TimeoutError,
} from 'zloop';
import { fdCount, trackLeaks } from './helpers/leaks.js';
import { Echo, port, Signal, socketDir, within } from './helpers/net.js';

trackLeaks();

/** How a node:net client fares against `target`: 'connected' or the error code. */
function nodeConnect(target: { port: number } | { path: string }): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(target as net.NetConnectOpts);
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

describe('sleep(delay, value, { signal })', () => {
  it('an abort cancels the timer and rejects with CancelledError carrying the reason', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const controller = new AbortController();
      const sleeping = sleep(60, 'late', { signal: controller.signal });
      await sleep(0);
      expect(loop.scheduledTimerCount).toBe(1);
      controller.abort(new Error('stop waiting'));
      const error = await sleeping.catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(CancelledError);
      expect((error as Error & { cause?: Error }).cause?.message).toBe('stop waiting');
      await sleep(0); // a cancelled timer leaves the queue at the loop's next turn
      expect(loop.scheduledTimerCount).toBe(0);
    });
  });

  it('an aborted signal rejects at once; an unaborted one changes nothing', async () => {
    await run(async () => {
      await expect(sleep(60, 1, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(CancelledError);
      await expect(sleep(0, 1, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(CancelledError);
      expect(await sleep(0.001, 'value', { signal: new AbortController().signal })).toBe('value');
      expect(getRunningLoop().scheduledTimerCount).toBe(0);
    });
  });

  it("under timeout() the signal's expiry is a TimeoutError", async () => {
    await run(async () => {
      const scope = timeout(0.01);
      await expect(sleep(60, null, { signal: scope.signal })).rejects.toBeInstanceOf(TimeoutError);
    });
  });

  it('a signal that is not an AbortSignal is a TypeError naming it', async () => {
    await run(async () => {
      await expect(sleep(1, null, { signal: {} as AbortSignal })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', message: /options\.signal/ });
    });
  });
});

describe('servers with { signal }', () => {
  it('createServer: an abort closes the listener; connections already accepted stay open', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const controller = new AbortController();
      const server = await loop.createServer(() => new Echo(), '127.0.0.1', 0, { signal: controller.signal });
      const serverPort = port(server);
      const client = net.connect(serverPort, '127.0.0.1');
      await new Promise((resolve) => client.once('connect', resolve));
      controller.abort();
      expect(server.sockets).toHaveLength(0);
      expect(await nodeConnect({ port: serverPort })).toBe('ECONNREFUSED');
      // The accepted connection still echoes.
      client.write('still here');
      const echoed = await within(new Promise<string>((resolve) => client.once('data', (data) => resolve(data.toString()))), 5000, 'echo');
      expect(echoed).toBe('still here');
      client.end();
      await server.waitClosed();
      client.destroy();
    });
  });

  it('createServer with an aborted signal rejects with its reason and binds nothing', async () => {
    await run(async () => {
      const before = fdCount();
      const reason = new Error('not today');
      await expect(getRunningLoop().createServer(() => new Echo(), '127.0.0.1', 0, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
      await expect(startServer(() => {}, 'localhost', 0, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
      expect(fdCount()).toBe(before);
    });
  });

  it('startServer and startUnixServer close on abort', async () => {
    const dir = socketDir();
    try {
      await run(async () => {
        const controller = new AbortController();
        const tcp = await startServer((_reader, writer) => writer.close(), '127.0.0.1', 0, { signal: controller.signal });
        const path = dir.path('abort.sock');
        const unix = await startUnixServer((_reader, writer) => writer.close(), path, { signal: controller.signal });
        const tcpPort = port(tcp);
        expect(await nodeConnect({ port: tcpPort })).toBe('connected');
        expect(await nodeConnect({ path })).toBe('connected');
        controller.abort();
        expect(await nodeConnect({ port: tcpPort })).toBe('ECONNREFUSED');
        expect(await nodeConnect({ path })).toBe('ENOENT');
        await tcp.waitClosed();
        await unix.waitClosed();
      });
    } finally {
      dir.remove();
    }
  });

  it('a server closed before its signal aborts lets go of the signal', async () => {
    await run(async () => {
      const controller = new AbortController();
      const server = await getRunningLoop().createServer(() => new Echo(), '127.0.0.1', 0, { signal: controller.signal });
      server.close();
      // Node counts the listeners an AbortSignal holds: none is left once the server is closed.
      expect(EventEmitter.getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      await server.waitClosed();
    });
  });
});

describe('Symbol.asyncDispose', () => {
  it('await using a StreamWriter closes the connection at the end of the block', async () => {
    const ended = new Signal<string>();
    const peer = net.createServer((socket) => {
      let got = '';
      socket.on('data', (data) => (got += data.toString()));
      socket.on('end', () => ended.resolve(got));
    });
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    try {
      await run(async () => {
        const [, writer] = await openConnection('127.0.0.1', (peer.address() as net.AddressInfo).port);
        {
          await using disposable = writer;
          disposable.write('last words');
        }
        expect(writer.isClosing()).toBe(true);
        expect(await within(ended.wait('peer end'), 5000, 'end')).toBe('last words');
      });
    } finally {
      await new Promise((resolve) => peer.close(resolve));
    }
  });

  it('await using an EventLoop closes it at the end of the block', async () => {
    let kept: ReturnType<typeof newEventLoop>;
    {
      await using loop = newEventLoop();
      kept = loop;
      expect(await loop.runUntilComplete(async () => 7)).toBe(7);
    }
    expect(kept.isClosed()).toBe(true);
  });

  it('await using a ShardedServer closes it gracefully at the end of the block', async () => {
    const handler = new URL('./fixtures/shard-handler.mjs', import.meta.url);
    let serverPort = 0;
    let kept: Awaited<ReturnType<typeof createShardedServer>>;
    {
      await using server = await within(createShardedServer(handler, { workers: 1 }), 20_000, 'start');
      kept = server;
      serverPort = server.address.port;
      expect(await nodeConnect({ port: serverPort })).toBe('connected');
    }
    expect(kept.shards.every((shard) => shard.state === 'closed')).toBe(true);
    expect(await nodeConnect({ port: serverPort })).toBe('ECONNREFUSED');
  });
});
