// UDP endpoints: zloop to zloop, zloop to node:dgram and back, connected mode, ICMP errors,
// socket options, bad input. Real sockets on loopback.
import dgram from 'node:dgram';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { AF_INET, AF_INET6, DatagramProtocol, type DatagramTransport, getRunningLoop, run } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { within } from './helpers/loops.js';

trackLeaks();

type Received = { data: Buffer; addr: readonly [string, number] };

/** Records datagrams and errors; `until(n)` waits for n datagrams in all. */
class DatagramRecorder extends DatagramProtocol {
  readonly datagrams: Received[] = [];
  readonly errors: Error[] = [];
  readonly events: string[] = [];
  transport: DatagramTransport | null = null;
  lostWith: Error | null | undefined = undefined;
  #waiters: { count: number; resolve: () => void }[] = [];
  #errorWaiters: (() => void)[] = [];
  #lostWaiters: (() => void)[] = [];
  /** Echo every datagram back to its sender. */
  echo = false;

  override connectionMade(transport: DatagramTransport): void {
    this.events.push('made');
    this.transport = transport;
  }

  override datagramReceived(data: Buffer, addr: readonly [string, number]): void {
    this.datagrams.push({ data, addr });
    if (this.echo) this.transport!.sendto(data, addr);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (this.datagrams.length < waiter.count) return true;
      waiter.resolve();
      return false;
    });
  }

  override errorReceived(exc: Error): void {
    this.errors.push(exc);
    for (const resolve of this.#errorWaiters.splice(0)) resolve();
  }

  override connectionLost(exc: Error | null): void {
    this.events.push('lost');
    this.lostWith = exc;
    for (const resolve of this.#lostWaiters.splice(0)) resolve();
  }

  until(count: number, what = `${count} datagrams`): Promise<void> {
    if (this.datagrams.length >= count) return Promise.resolve();
    return within(new Promise<void>((resolve) => this.#waiters.push({ count, resolve })), 5000, what);
  }

  untilError(): Promise<void> {
    if (this.errors.length > 0) return Promise.resolve();
    return within(new Promise<void>((resolve) => this.#errorWaiters.push(resolve)), 5000, 'errorReceived');
  }

  untilLost(): Promise<void> {
    if (this.lostWith !== undefined) return Promise.resolve();
    return within(new Promise<void>((resolve) => this.#lostWaiters.push(resolve)), 5000, 'connectionLost');
  }
}

function port(transport: DatagramTransport): number {
  return (transport.getExtraInfo('sockname') as [string, number])[1];
}

describe('zloop to zloop', () => {
  it('sends datagrams both ways with sendto and reports each sender address', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const [a, pa] = await loop.createDatagramEndpoint(() => new DatagramRecorder(), { localAddr: ['127.0.0.1', 0] });
      const [b, pb] = await loop.createDatagramEndpoint(() => new DatagramRecorder(), { localAddr: ['127.0.0.1', 0] });
      expect(pa.events).toEqual(['made']);
      expect(pa.transport).toBe(a);

      const messages = ['one', 'two', 'three', ''];
      for (const text of messages) a.sendto(text, ['127.0.0.1', port(b)]);
      await pb.until(4);
      // Each datagram is its own message, even the empty one; loopback keeps them in order.
      expect(pb.datagrams.map((entry) => entry.data.toString())).toEqual(messages);
      expect(pb.datagrams[0]!.addr).toEqual(['127.0.0.1', port(a)]);

      b.sendto(Buffer.from([1, 2, 3]), pb.datagrams[0]!.addr);
      b.sendto(new Uint16Array([0x0201]), ['127.0.0.1', port(a)]);
      await pa.until(2);
      expect(pa.datagrams[0]!.data).toEqual(Buffer.from([1, 2, 3]));
      expect(pa.datagrams[1]!.data).toEqual(Buffer.from([1, 2]));
      expect(pa.datagrams[0]!.addr).toEqual(['127.0.0.1', port(b)]);
      expect(pa.errors).toEqual([]);

      a.close();
      b.close();
      await pa.untilLost();
      await pb.untilLost();
      expect(pa.lostWith).toBeNull();
      expect(pa.events).toEqual(['made', 'lost']);
      expect(a.isClosing()).toBe(true);
    });
  });

  it('carries a large datagram (60 KiB) and many small ones in one burst', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const [a, pa] = await loop.createDatagramEndpoint(() => new DatagramRecorder(), { localAddr: ['127.0.0.1', 0] });
      const [b, pb] = await loop.createDatagramEndpoint(() => new DatagramRecorder(), { localAddr: ['127.0.0.1', 0] });
      const big = Buffer.alloc(60 * 1024, 7);
      big.writeUInt32BE(0xdeadbeef, 100);
      a.sendto(big, ['127.0.0.1', port(b)]);
      await pb.until(1);
      expect(pb.datagrams[0]!.data.equals(big)).toBe(true);
      // Fewer than the loopback receive buffer holds, so none is dropped.
      for (let index = 0; index < 200; index++) a.sendto(`m${index}`, ['127.0.0.1', port(b)]);
      await pb.until(201);
      expect(pb.datagrams.slice(1).map((entry) => entry.data.toString())).toEqual(Array.from({ length: 200 }, (_, index) => `m${index}`));
      a.close();
      b.close();
      await pa.untilLost();
      await pb.untilLost();
    });
  });

  it('works over IPv6 and resolves host names (localhost) in addresses', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const [a, pa] = await loop.createDatagramEndpoint(() => new DatagramRecorder(), { localAddr: ['::1', 0] });
      const [b, pb] = await loop.createDatagramEndpoint(() => new DatagramRecorder(), { localAddr: ['::1', 0] });
      a.sendto('six', ['::1', port(b)]);
      await pb.until(1);
      expect(pb.datagrams[0]!.addr).toEqual(['::1', port(a)]);
      const [c, pc] = await loop.createDatagramEndpoint(() => new DatagramRecorder(), { localAddr: ['127.0.0.1', 0] });
      const [d, pd] = await loop.createDatagramEndpoint(() => new DatagramRecorder(), { family: AF_INET });
      d.sendto('by name', ['localhost', port(c)]);
      d.sendto('after it', ['127.0.0.1', port(c)]); // waits behind the lookup, order kept
      await pc.until(2);
      expect(pc.datagrams.map((entry) => entry.data.toString())).toEqual(['by name', 'after it']);
      for (const transport of [a, b, c, d]) transport.close();
      for (const protocol of [pa, pb, pc, pd]) await protocol.untilLost();
    });
  });
});

describe('interop with node:dgram', () => {
  it('zloop sends to a node:dgram socket and node:dgram answers back', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const node = dgram.createSocket('udp4');
      node.on('message', (message, rinfo) => node.send(Buffer.concat([Buffer.from('re:'), message]), rinfo.port, rinfo.address));
      node.bind(0, '127.0.0.1');
      await once(node, 'listening');
      const nodePort = node.address().port;

      const [zl, protocol] = await loop.createDatagramEndpoint(() => new DatagramRecorder(), { localAddr: ['127.0.0.1', 0] });
      zl.sendto('hello', ['127.0.0.1', nodePort]);
      zl.sendto('world', ['127.0.0.1', nodePort]);
      await protocol.until(2);
      expect(protocol.datagrams.map((entry) => entry.data.toString()).sort()).toEqual(['re:hello', 're:world']);
      expect(protocol.datagrams[0]!.addr).toEqual(['127.0.0.1', nodePort]);
      zl.close();
      await protocol.untilLost();
      node.close();
    });
  });

  it('node:dgram sends to a zloop endpoint that echoes, and hears the echo', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const [zl, protocol] = await loop.createDatagramEndpoint(
        () => Object.assign(new DatagramRecorder(), { echo: true }),
        { localAddr: ['127.0.0.1', 0] },
      );
      const node = dgram.createSocket('udp4');
      const replies: { text: string; port: number }[] = [];
      const allReplies = new Promise<void>((resolve) =>
        node.on('message', (message, rinfo) => {
          replies.push({ text: message.toString(), port: rinfo.port });
          if (replies.length === 3) resolve();
        }),
      );
      node.bind(0, '127.0.0.1');
      await once(node, 'listening');
      for (const text of ['a', 'bb', 'ccc']) node.send(text, port(zl), '127.0.0.1');
      await within(allReplies, 5000, 'echoes from zloop');
      expect(replies.map((reply) => reply.text).sort()).toEqual(['a', 'bb', 'ccc']);
      expect(replies.every((reply) => reply.port === port(zl))).toBe(true);
      expect(protocol.datagrams[0]!.addr).toEqual(['127.0.0.1', node.address().port]);
      node.close();
      zl.close();
      await protocol.untilLost();
    });
  });

  it('an IPv6 node:dgram peer sees and is seen with its v6 address', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const node = dgram.createSocket('udp6');
      node.on('message', (message, rinfo) => node.send(message, rinfo.port, rinfo.address));
      node.bind(0, '::1');
      await once(node, 'listening');
      const [zl, protocol] = await loop.createDatagramEndpoint(() => new DatagramRecorder(), { remoteAddr: ['::1', node.address().port] });
      zl.sendto('v6');
      await protocol.until(1);
      expect(protocol.datagrams[0]!.data.toString()).toBe('v6');
      expect(protocol.datagrams[0]!.addr).toEqual(['::1', node.address().port]);
      zl.close();
      await protocol.untilLost();
      node.close();
    });
  });
});

describe('connected endpoints (remoteAddr)', () => {
  it('sends without an address, reports peername, and refuses another address', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const [server, ps] = await loop.createDatagramEndpoint(() => Object.assign(new DatagramRecorder(), { echo: true }), {
        localAddr: ['127.0.0.1', 0],
      });
      const [client, pc] = await loop.createDatagramEndpoint(() => new DatagramRecorder(), { remoteAddr: ['127.0.0.1', port(server)] });
      expect(client.getExtraInfo('peername')).toEqual(['127.0.0.1', port(server)]);
      expect(server.getExtraInfo('peername')).toBeUndefined();
      expect(server.getExtraInfo('peername', 'none')).toBe('none');
      client.sendto('ping');
      client.sendto('again', ['127.0.0.1', port(server)]); // the connected address itself is fine
      await pc.until(2);
      expect(pc.datagrams.map((entry) => entry.data.toString())).toEqual(['ping', 'again']);
      expect(() => client.sendto('x', ['127.0.0.1', 1])).toThrow(/Invalid address/);
      expect(ps.datagrams).toHaveLength(2);
      client.close();
      server.close();
      await pc.untilLost();
      await ps.untilLost();
    });
  });

  it('hears ECONNREFUSED in errorReceived when the peer port is closed, and stays open', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const node = dgram.createSocket('udp4');
      node.bind(0, '127.0.0.1');
      await once(node, 'listening');
      const closedPort = node.address().port;
      node.close();
      await once(node, 'close');

      const [client, pc] = await loop.createDatagramEndpoint(() => new DatagramRecorder(), { remoteAddr: ['127.0.0.1', closedPort] });
      client.sendto('anyone?');
      await pc.untilError();
      expect(pc.errors[0]).toMatchObject({ code: 'ECONNREFUSED' });
      expect(client.isClosing()).toBe(false);
      expect(pc.lostWith).toBeUndefined();
      client.close();
      await pc.untilLost();
      expect(pc.lostWith).toBeNull();
    });
  });

  it('reports a send error (an unconnected endpoint without an address) to errorReceived', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const [transport, protocol] = await loop.createDatagramEndpoint(() => new DatagramRecorder(), { family: AF_INET });
      transport.sendto('nowhere');
      await protocol.untilError();
      expect(protocol.errors[0]).toMatchObject({ code: 'EDESTADDRREQ', syscall: 'sendto' });
      transport.close();
      await protocol.untilLost();
    });
  });
});

describe('options', () => {
  it('allowBroadcast sets SO_BROADCAST and reusePort sets SO_REUSEPORT (two sockets share a port)', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { native } = await import('../dist/src/io/native.js');
      const [plain, p0] = await loop.createDatagramEndpoint(() => new DatagramRecorder(), { localAddr: ['127.0.0.1', 0] });
      const [broadcast, p1] = await loop.createDatagramEndpoint(() => new DatagramRecorder(), {
        localAddr: ['127.0.0.1', 0],
        allowBroadcast: true,
      });
      const fd = (transport: DatagramTransport) => (transport.getExtraInfo('socket') as { fd: number }).fd;
      expect(native.socketFlag(fd(plain), 1)).toBe(0);
      expect(native.socketFlag(fd(broadcast), 1)).toBe(1);
      expect(native.socketFlag(fd(broadcast), 2)).toBe(0);

      const [first, p2] = await loop.createDatagramEndpoint(() => new DatagramRecorder(), { localAddr: ['127.0.0.1', 0], reusePort: true });
      const [second, p3] = await loop.createDatagramEndpoint(() => new DatagramRecorder(), {
        localAddr: ['127.0.0.1', port(first)],
        reusePort: true,
      });
      expect(native.socketFlag(fd(first), 2)).toBe(1);
      expect(port(second)).toBe(port(first));
      // Without reusePort the same port is taken.
      await expect(loop.createDatagramEndpoint(() => new DatagramRecorder(), { localAddr: ['127.0.0.1', port(first)] })).rejects.toMatchObject({
        code: 'EADDRINUSE',
        syscall: 'bind',
      });
      for (const transport of [plain, broadcast, first, second]) transport.close();
      for (const protocol of [p0, p1, p2, p3]) await protocol.untilLost();
    });
  });

  it('water marks: limits are set and read back; getWriteBufferSize is 0 when the kernel took everything', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const [transport, protocol] = await loop.createDatagramEndpoint(() => new DatagramRecorder(), { family: AF_INET6 });
      expect(transport.getWriteBufferLimits()).toEqual([16384, 65536]);
      transport.setWriteBufferLimits(1000);
      expect(transport.getWriteBufferLimits()).toEqual([250, 1000]);
      expect(() => transport.setWriteBufferLimits(1, 2)).toThrow(RangeError);
      expect(transport.getWriteBufferSize()).toBe(0);
      expect(String(transport)).toMatch(/DatagramTransport fd=\d+ open/);
      transport.abort();
      await protocol.untilLost();
    });
  });
});

describe('bad input', () => {
  it('rejects bad options and addresses with errors that name them', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const factory = () => new DatagramRecorder();
      await expect(loop.createDatagramEndpoint(null as never)).rejects.toThrow(/protocolFactory must be a function/);
      await expect(loop.createDatagramEndpoint(factory)).rejects.toThrow(/unexpected address family/);
      await expect(loop.createDatagramEndpoint(factory, { family: 1 })).rejects.toThrow(/unexpected address family/);
      await expect(loop.createDatagramEndpoint(factory, { localAddr: '/tmp/x.sock' as never })).rejects.toThrow(/Unix datagram/);
      await expect(loop.createDatagramEndpoint(factory, { localAddr: ['127.0.0.1', 70000] })).rejects.toThrow(RangeError);
      await expect(loop.createDatagramEndpoint(factory, { localAddr: [1 as never, 0] })).rejects.toThrow(/localAddr must be a \[host, port\] pair/);
      await expect(loop.createDatagramEndpoint(factory, { localAddr: ['127.0.0.1', 0], reuseAddress: true })).rejects.toThrow(/reuseAddress/);
      await expect(loop.createDatagramEndpoint(factory, { localAddr: ['::1', 0], family: AF_INET })).rejects.toThrow(/not an IPv4 address/);
      await expect(
        loop.createDatagramEndpoint(factory, { localAddr: ['10.255.255.1', 0] }),
      ).rejects.toMatchObject({ code: 'EADDRNOTAVAIL' });

      const [transport, protocol] = await loop.createDatagramEndpoint(factory, { localAddr: ['127.0.0.1', 0] });
      expect(() => transport.sendto(42 as never, ['127.0.0.1', 1])).toThrow(/bytes-like/);
      expect(() => transport.sendto('x', '127.0.0.1' as never)).toThrow(/addr must be a \[host, port\] pair/);
      expect(() => transport.sendto('x', ['127.0.0.1', -1])).toThrow(RangeError);
      transport.sendto('x', ['no-such-host.invalid', 9]);
      await protocol.untilError();
      expect(protocol.errors[0]).toMatchObject({ code: 'ENOTFOUND' });
      transport.close();
      transport.sendto('dropped after close', ['127.0.0.1', 9]);
      await protocol.untilLost();
    });
  });

  it('a datagramReceived that throws goes to the exception handler and closes the endpoint with the error', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const contexts: { message?: string }[] = [];
      loop.setExceptionHandler((_, context) => contexts.push(context));
      class Throwing extends DatagramRecorder {
        override datagramReceived(): void {
          throw new Error('boom');
        }
      }
      const [server, ps] = await loop.createDatagramEndpoint(() => new Throwing(), { localAddr: ['127.0.0.1', 0] });
      const [client, pc] = await loop.createDatagramEndpoint(() => new DatagramRecorder(), { family: AF_INET });
      client.sendto('x', ['127.0.0.1', port(server)]);
      await ps.untilLost();
      expect(ps.lostWith?.message).toBe('boom');
      expect(contexts[0]?.message).toMatch(/datagramReceived/);
      client.close();
      await pc.untilLost();
    });
  });
});
