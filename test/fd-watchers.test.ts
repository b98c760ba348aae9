// addReader/addWriter over a real TCP connection on loopback. Node's client socket is paused and
// its libuv reads stopped, so only our reactor watches the fd and our callbacks read it with
// fs.readSync (read(2) works on a socket fd; the fd is non-blocking).
import { readSync, writeSync } from 'node:fs';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type EventLoop, getRunningLoop, Protocol, run } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { runForever, within, withLoop } from './helpers/loops.js';

trackLeaks();

type Connection = { server: net.Server; client: net.Socket; peer: net.Socket; fd: number };

async function connect(): Promise<Connection> {
  const server = net.createServer();
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const client = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  const peer = await accepted;
  client.pause();
  const handle = (client as unknown as { _handle: { fd: number; readStop(): number } })._handle;
  handle.readStop();
  expect(Number.isInteger(handle.fd) && handle.fd > 2).toBe(true);
  return { server, client, peer, fd: handle.fd };
}

async function disconnect(connection: Connection): Promise<void> {
  connection.client.destroy();
  connection.peer.destroy();
  await new Promise<void>((resolve) => connection.server.close(() => resolve()));
}

/** Reads what is there now; null when nothing is (EAGAIN), an empty buffer at EOF. */
function readNow(fd: number): Buffer | null {
  const buffer = Buffer.alloc(65536);
  try {
    return buffer.subarray(0, readSync(fd, buffer));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return null;
    throw error;
  }
}

let connection: Connection;

beforeEach(async () => {
  connection = await connect();
});

afterEach(async () => {
  await disconnect(connection);
});

describe('addReader', () => {
  it('calls back, with its arguments, when data arrives, not before', async () => {
    await withLoop(async (loop) => {
      const { fd, peer } = connection;
      const received: string[] = [];
      let calls = 0;
      let idleIterations = 0;
      loop.addReader(
        fd,
        (tag: string) => {
          calls++;
          const data = readNow(fd);
          expect(data).not.toBe(null);
          received.push(`${tag}:${data!.toString()}`);
          loop.stop();
        },
        'reader',
      );
      // The reader must not fire while nothing was sent: spin a few iterations first.
      const spin = (remaining: number): void => {
        idleIterations++;
        if (remaining > 0) loop.callSoon(spin, remaining - 1);
        else setTimeout(() => peer.write('hello'), 5);
      };
      loop.callSoon(spin, 10);
      await runForever(loop);
      expect(idleIterations).toBe(11);
      expect(calls).toBe(1);
      expect(received).toEqual(['reader:hello']);
      expect(loop.removeReader(fd)).toBe(true);
    });
  });

  it('is level-triggered: fires again while unread data remains', async () => {
    await withLoop(async (loop) => {
      const { fd, peer } = connection;
      let calls = 0;
      loop.addReader(fd, () => {
        calls++;
        if (calls === 3) {
          expect(readNow(fd)!.toString()).toBe('data');
          loop.stop();
        }
      });
      peer.write('data');
      await runForever(loop);
      expect(calls).toBe(3);
      expect(loop.removeReader(fd)).toBe(true);
    });
  });

  it('fires at EOF when the peer closes (read returns 0 bytes)', async () => {
    await withLoop(async (loop) => {
      const { fd, peer } = connection;
      const reads: string[] = [];
      loop.addReader(fd, () => {
        const data = readNow(fd);
        if (data === null) return;
        reads.push(data.length === 0 ? 'EOF' : data.toString());
        if (data.length === 0) {
          loop.removeReader(fd);
          loop.stop();
        }
      });
      peer.end('last words');
      await runForever(loop);
      expect(reads.join('|')).toMatch(/^last words\|EOF$/);
    });
  });

  it('a second addReader on the same fd replaces the callback', async () => {
    await withLoop(async (loop) => {
      const { fd, peer } = connection;
      const calls: string[] = [];
      loop.addReader(fd, () => calls.push('old'));
      loop.addReader(fd, () => {
        calls.push('new');
        readNow(fd);
        loop.stop();
      });
      peer.write('x');
      await runForever(loop);
      expect(calls).toEqual(['new']);
      expect(loop.removeReader(fd)).toBe(true);
      expect(loop.removeReader(fd)).toBe(false);
    });
  });

  it('removeReader returns true once, then false, and the callback stops firing', async () => {
    await withLoop(async (loop) => {
      const { fd, peer } = connection;
      expect(loop.removeReader(fd)).toBe(false);
      let calls = 0;
      loop.addReader(fd, () => {
        calls++;
        // Leave the data unread: a level-triggered reader would fire forever if not removed.
        expect(loop.removeReader(fd)).toBe(true);
        expect(loop.removeReader(fd)).toBe(false);
        loop.callLater(0.02, () => loop.stop());
      });
      peer.write('unread');
      await runForever(loop);
      expect(calls).toBe(1);
      expect(readNow(fd)!.toString()).toBe('unread');
    });
  });
});

describe('addWriter', () => {
  it('calls back when the fd is writable; what it writes reaches the peer', async () => {
    await withLoop(async (loop) => {
      const { fd, peer } = connection;
      const got = new Promise<string>((resolve) => peer.once('data', (data) => resolve(data.toString())));
      let calls = 0;
      loop.addWriter(
        fd,
        (payload: string) => {
          calls++;
          writeSync(fd, payload);
          expect(loop.removeWriter(fd)).toBe(true);
          loop.stop();
        },
        'written by the writer callback',
      );
      await runForever(loop);
      expect(calls).toBe(1);
      expect(await within(got, 5000, 'peer data')).toBe('written by the writer callback');
      expect(loop.removeWriter(fd)).toBe(false);
    });
  });

  it('reader and writer on one fd are independent', async () => {
    await withLoop(async (loop) => {
      const { fd, peer } = connection;
      const events: string[] = [];
      loop.addReader(fd, () => {
        events.push(`read ${readNow(fd)!.toString()}`);
        loop.removeReader(fd);
        loop.stop();
      });
      loop.addWriter(fd, () => {
        events.push('writable');
        // Removing the writer keeps the reader registered (interest goes from rw to r).
        expect(loop.removeWriter(fd)).toBe(true);
        setTimeout(() => peer.write('ping'), 5);
      });
      await runForever(loop);
      expect(events).toEqual(['writable', 'read ping']);
      expect(loop.removeReader(fd)).toBe(false);
      expect(loop.removeWriter(fd)).toBe(false);
    });
  });

  it('a writer on a full socket waits until the peer drains it', async () => {
    await withLoop(async (loop) => {
      const { fd, peer } = connection;
      peer.pause();
      // Fill the send buffer until write(2) says EAGAIN.
      const chunk = Buffer.alloc(65536, 1);
      let sent = 0;
      for (;;) {
        try {
          sent += writeSync(fd, chunk);
        } catch (error) {
          expect((error as NodeJS.ErrnoException).code).toBe('EAGAIN');
          break;
        }
      }
      const order: string[] = [];
      loop.addWriter(fd, () => {
        order.push('writable');
        loop.removeWriter(fd);
        loop.stop();
      });
      let received = 0;
      peer.on('data', (data: Buffer) => {
        received += data.length;
      });
      loop.callLater(0.02, () => {
        order.push('peer resumes');
        peer.resume();
      });
      await runForever(loop);
      expect(order).toEqual(['peer resumes', 'writable']);
      expect(sent).toBeGreaterThan(0);
      await within(
        new Promise<void>((resolve) => {
          const check = (): void => (received >= sent ? resolve() : void setTimeout(check, 2));
          check();
        }),
        5000,
        'peer draining',
      );
    });
  });
});

describe('watcher errors', () => {
  it('an exception in a reader goes to the exception handler and the loop goes on', async () => {
    await withLoop(async (loop) => {
      const { fd, peer } = connection;
      const messages: unknown[] = [];
      loop.setExceptionHandler((_loop, context) => messages.push(context.message));
      let calls = 0;
      loop.addReader(fd, function failingReader() {
        calls++;
        if (calls === 1) throw new Error('reader failed');
        readNow(fd);
        loop.removeReader(fd);
        loop.stop();
      });
      peer.write('x');
      await runForever(loop);
      expect(calls).toBe(2);
      expect(messages).toEqual(['Exception in callback failingReader()']);
    });
  });

  it('removeReader after the fd was closed returns true and does not throw', async () => {
    await withLoop(async (loop) => {
      const extra = await connect();
      try {
        loop.addReader(extra.fd, () => {});
        const closed = new Promise((resolve) => extra.client.once('close', resolve));
        extra.client.destroy();
        await within(closed, 5000, 'client close'); // the fd is closed by now
        expect(loop.removeReader(extra.fd)).toBe(true);
        expect(loop.removeReader(extra.fd)).toBe(false);
      } finally {
        await disconnect(extra);
      }
    });
  });
});

describe("a transport's own socket", () => {
  it('addReader/addWriter/removeReader/removeWriter on it throw an error naming the transport, paused or reading', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const server = await loop.createServer(() => new Protocol(), '127.0.0.1', 0);
      const serverPort = (server.sockets[0]!.getsockname() as [string, number])[1];
      const [transport] = await loop.createConnection(() => new Protocol(), '127.0.0.1', serverPort);
      const fd = (transport.getExtraInfo('socket') as { fd: number }).fd;
      const used = new RegExp(`^File descriptor ${fd} is used by transport <SocketTransport fd=${fd} open>$`);
      for (const reading of [true, false]) {
        if (reading) transport.resumeReading();
        else transport.pauseReading();
        expect(() => loop.addReader(fd, () => {})).toThrow(used);
        expect(() => loop.addWriter(fd, () => {})).toThrow(used);
        expect(() => loop.removeReader(fd)).toThrow(used);
        expect(() => loop.removeWriter(fd)).toThrow(used);
      }
      const listenerFd = server.sockets[0]!.fd;
      expect(() => loop.addReader(listenerFd, () => {})).toThrow(/is used by transport <listening socket/);
      transport.close();
      server.close();
      await server.waitClosed();
    });
  });
});

describe('watchers and close()', () => {
  it('close() forgets the watchers', async () => {
    const { fd } = connection;
    let loop: EventLoop | undefined;
    await withLoop(async (made) => {
      loop = made;
      made.addReader(fd, () => {});
      made.addWriter(fd, () => {});
    });
    expect(loop!.isClosed()).toBe(true);
    expect(loop!.removeReader(fd)).toBe(false);
    expect(loop!.removeWriter(fd)).toBe(false);
  });

  it('two loops can watch the same fd', async () => {
    await withLoop(async (first) => {
      await withLoop(async (second) => {
        const { fd, peer } = connection;
        const calls: string[] = [];
        first.addReader(fd, () => {
          calls.push('first');
          first.stop();
        });
        second.addReader(fd, () => {
          calls.push('second');
          second.stop();
        });
        peer.write('both');
        await runForever(first);
        await runForever(second);
        expect(calls).toEqual(['first', 'second']);
        expect(first.removeReader(fd)).toBe(true);
        expect(second.removeReader(fd)).toBe(true);
      });
    });
  });
});
