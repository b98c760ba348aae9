// The binding's error convention (docs/architecture.md): a socket export that returns -errno is
// never ignored. setReading (an epoll_ctl MOD) can fail with ENOMEM, which loopback cannot
// provoke, so the addon's test hook makes the next call fail; the peers are node:net sockets.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { AF_INET, DatagramProtocol, type ExceptionContext, getRunningLoop, run } from 'zloop';
import { addon, trackLeaks } from './helpers/leaks.js';
import { port, Recorder, shutdown, Signal } from './helpers/net.js';

trackLeaks();

const ENOMEM = 12;

/** The loop's exception handler records what it hears. */
function recordExceptions(): ExceptionContext[] {
  const heard: ExceptionContext[] = [];
  getRunningLoop().setExceptionHandler((_loop, context) => heard.push(context));
  return heard;
}

describe('setReading that fails', () => {
  it('pauseReading(): the socket transport closes with the error, in Node shape, and the peer sees the close', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const heard = recordExceptions();
      const recorder = new Recorder();
      const server = await loop.createServer(() => recorder, '127.0.0.1', 0);
      const client = net.connect(port(server), '127.0.0.1');
      const closed = new Promise((resolve) => client.on('close', resolve));
      client.on('error', () => {});
      const transport = await recorder.made.wait('connectionMade');
      addon.testFailNextSetReading(ENOMEM);
      transport.pauseReading();
      const exc = await recorder.lost.wait('connectionLost');
      expect(exc).toMatchObject({ code: 'ENOMEM', errno: -ENOMEM, syscall: 'epoll_ctl' });
      expect(heard).toHaveLength(1);
      expect(heard[0]).toMatchObject({ message: 'Fatal error on socket transport', exception: exc, transport });
      expect(transport.isClosing()).toBe(true);
      await closed;
      await shutdown(server);
    });
  });

  it('a datagram endpoint closes with the error when close() cannot stop reading', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const heard = recordExceptions();
      const lost = new Signal<Error | null>();
      const protocol = new (class extends DatagramProtocol {
        override connectionLost(exc: Error | null): void {
          lost.resolve(exc);
        }
      })();
      const [transport] = await loop.createDatagramEndpoint(() => protocol, { localAddr: ['127.0.0.1', 0], family: AF_INET });
      addon.testFailNextSetReading(ENOMEM);
      transport.close();
      const exc = await lost.wait('connectionLost');
      expect(exc).toMatchObject({ code: 'ENOMEM', syscall: 'epoll_ctl' });
      expect(heard.map((context) => context.message)).toEqual(['Fatal error on socket transport']);
    });
  });

  it('a server that cannot start accepting says so, tries again, then serves a node:net client', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const heard = recordExceptions();
      const served = new Recorder();
      const server = await loop.createServer(() => served, '127.0.0.1', 0, { startServing: false });
      addon.testFailNextSetReading(ENOMEM);
      await server.startServing();
      expect(heard).toHaveLength(1);
      expect(heard[0]).toMatchObject({ message: 'Error on resuming socket.accept()', exception: { code: 'ENOMEM', syscall: 'epoll_ctl' } });
      expect(heard[0]!.socket).toBe(server.sockets[0]);
      // The kernel queues the connection; the listener is watched again a second later.
      const client = net.connect(port(server), '127.0.0.1');
      await served.made.wait('connectionMade');
      expect(heard).toHaveLength(1);
      client.destroy();
      await shutdown(server);
    });
  });
});

describe('the test hook', () => {
  it('takes a positive errno only', () => {
    expect(() => addon.testFailNextSetReading(0)).toThrow(TypeError);
    expect(() => addon.testFailNextSetReading(-5)).toThrow(TypeError);
  });
});
