// Every method of the TCP transport, over real loopback connections.
import { describe, expect, it } from 'vitest';
import { BufferedProtocol, getRunningLoop, Protocol, run, TransportSocket } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { connectedPair, hops, pattern, firstPatternBreak, Recorder, shutdown, within } from './helpers/net.js';

trackLeaks();

describe('write', () => {
  it('sends a Uint8Array, a Buffer, a string as UTF-8 and other views as their bytes, in order', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, peer, clientTransport } = await connectedPair(loop);
      const expected = Buffer.concat([
        Buffer.from([1, 2, 3]),
        Buffer.from('buf'),
        Buffer.from('héllo ✓', 'utf8'),
        Buffer.from(new Uint16Array([0x4142, 0x4344]).buffer),
        Buffer.from([9, 8]),
      ]);
      clientTransport.write(new Uint8Array([1, 2, 3]));
      clientTransport.write(Buffer.from('buf'));
      clientTransport.write('héllo ✓');
      clientTransport.write(new Uint16Array([0x4142, 0x4344]));
      clientTransport.write(new DataView(new Uint8Array([7, 9, 8, 7]).buffer, 1, 2));
      clientTransport.write(''); // nothing to send, no error
      clientTransport.write(new Uint8Array(0));
      await peer.untilBytes(expected.length);
      expect(peer.bytes()).toEqual(expected);
      await shutdown(server);
      clientTransport.close();
    });
  });

  it('rejects data that is not bytes or a string with a TypeError naming the type', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, clientTransport } = await connectedPair(loop);
      expect(() => clientTransport.write(42 as never)).toThrow(TypeError);
      expect(() => clientTransport.write({} as never)).toThrow(/bytes-like/);
      expect(() => clientTransport.write(null as never)).toThrow(/null/);
      expect(clientTransport.isClosing()).toBe(false);
      clientTransport.close();
      await shutdown(server);
    });
  });

  it('sends a large write whole and in order (more than the kernel takes at once)', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, peer, clientTransport } = await connectedPair(loop);
      const size = 8 * 1024 * 1024;
      clientTransport.write(pattern(0, size));
      await peer.untilBytes(size);
      expect(peer.received).toBe(size);
      expect(firstPatternBreak(peer.bytes())).toBe(-1);
      await within(settleWrites(clientTransport), 5000, 'write buffer drained');
      clientTransport.close();
      await shutdown(server);
    });
  });
});

/** Resolves once the transport's write buffer is empty. */
async function settleWrites(transport: { getWriteBufferSize(): number }): Promise<void> {
  while (transport.getWriteBufferSize() > 0) await new Promise((resolve) => setImmediate(resolve));
}

describe('writelines', () => {
  it('sends every chunk of the list in order, strings as UTF-8', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, peer, clientTransport } = await connectedPair(loop);
      clientTransport.writelines(['a', Buffer.from('bc'), new Uint8Array([0x64]), 'é']);
      clientTransport.writelines([Buffer.from('-single')]);
      clientTransport.writelines(new Set(['-from', '-set']));
      clientTransport.writelines([]);
      const expected = 'abcdé-single-from-set';
      await peer.untilBytes(Buffer.byteLength(expected));
      expect(peer.text()).toBe(expected);
      expect(() => clientTransport.writelines(5 as never)).toThrow(TypeError);
      expect(() => clientTransport.writelines([1] as never)).toThrow(TypeError);
      clientTransport.close();
      await shutdown(server);
    });
  });
});

describe('writeEof and canWriteEof', () => {
  it('can write EOF; the peer sees the bytes then EOF; write() afterwards throws', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, peer, clientTransport } = await connectedPair(loop);
      expect(clientTransport.canWriteEof()).toBe(true);
      clientTransport.write('last words');
      clientTransport.writeEof();
      clientTransport.writeEof(); // idempotent
      await peer.eof.wait('peer eofReceived');
      expect(peer.text()).toBe('last words');
      expect(() => clientTransport.write('more')).toThrow(/Cannot call write\(\) after writeEof\(\)/);
      // Writing EOF is not closing: the transport still reads.
      expect(clientTransport.isClosing()).toBe(false);
      expect(clientTransport.isReading()).toBe(true);
      clientTransport.close();
      await shutdown(server);
    });
  });

  it('writeEof after a write that had to be queued sends EOF only after the queued bytes', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, peer, clientTransport, peerTransport } = await connectedPair(loop);
      peerTransport.pauseReading();
      const size = 4 * 1024 * 1024;
      clientTransport.write(pattern(0, size));
      expect(clientTransport.getWriteBufferSize()).toBeGreaterThan(0);
      clientTransport.writeEof();
      peerTransport.resumeReading();
      await peer.eof.wait('peer eofReceived');
      expect(peer.received).toBe(size);
      expect(firstPatternBreak(peer.bytes())).toBe(-1);
      clientTransport.close();
      await shutdown(server);
    });
  });
});

describe('close', () => {
  it('flushes what is buffered, then the peer sees EOF and connectionLost(null) runs once', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, peer, client, clientTransport, peerTransport } = await connectedPair(loop);
      peerTransport.pauseReading();
      const size = 4 * 1024 * 1024;
      clientTransport.write(pattern(0, size));
      expect(clientTransport.getWriteBufferSize()).toBeGreaterThan(0);
      expect(clientTransport.isClosing()).toBe(false);
      clientTransport.close();
      expect(clientTransport.isClosing()).toBe(true);
      expect(clientTransport.isReading()).toBe(false);
      clientTransport.close(); // idempotent
      // Still buffered: connectionLost waits for the buffer to drain.
      await hops(loop, 5);
      expect(client.events).not.toContain('lost');
      peerTransport.resumeReading();
      await peer.eof.wait('peer eofReceived');
      expect(peer.received).toBe(size);
      expect(firstPatternBreak(peer.bytes())).toBe(-1);
      expect(await client.lost.wait('client connectionLost')).toBe(null);
      await hops(loop);
      expect(client.events.filter((event) => event === 'lost')).toHaveLength(1);
      await peer.lost.wait('peer connectionLost');
      await shutdown(server);
    });
  });

  it('a write after close() is dropped without an error', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, peer, client, clientTransport } = await connectedPair(loop);
      clientTransport.write('before');
      clientTransport.close();
      await client.lost.wait('client connectionLost');
      expect(() => clientTransport.write('after')).not.toThrow();
      await peer.lost.wait('peer connectionLost');
      expect(peer.text()).toBe('before');
      await shutdown(server);
    });
  });
});

describe('abort', () => {
  it('closes at once, drops the buffered bytes, and calls connectionLost(null)', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, peer, client, clientTransport, peerTransport } = await connectedPair(loop);
      peerTransport.pauseReading();
      const size = 16 * 1024 * 1024;
      clientTransport.write(pattern(0, size));
      const buffered = clientTransport.getWriteBufferSize();
      expect(buffered).toBeGreaterThan(0);
      clientTransport.abort();
      expect(clientTransport.isClosing()).toBe(true);
      expect(clientTransport.getWriteBufferSize()).toBe(0);
      expect(await client.lost.wait('client connectionLost')).toBe(null);
      peerTransport.resumeReading();
      await peer.lost.wait('peer connectionLost');
      // What the kernel had taken may arrive; what was still queued in the transport does not.
      expect(peer.received).toBeLessThanOrEqual(size - buffered);
      expect(firstPatternBreak(peer.bytes())).toBe(-1);
      await shutdown(server);
    });
  });
});

describe('pauseReading, resumeReading, isReading', () => {
  it('no dataReceived while paused, even while a second connection on the loop gets its data', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const first = await connectedPair(loop);
      const probe = await connectedPair(loop);
      expect(first.clientTransport.isReading()).toBe(true);
      first.clientTransport.pauseReading();
      first.clientTransport.pauseReading(); // idempotent
      expect(first.clientTransport.isReading()).toBe(false);
      for (let round = 1; round <= 3; round++) {
        first.peerTransport.write(`paused-${round};`);
        probe.peerTransport.write(`probe-${round};`);
        // The probe's bytes were sent after the paused connection's: once the loop delivered
        // them, it has polled while the paused socket had data waiting.
        await probe.client.untilBytes(probe.client.received + 8);
        await hops(loop, 3);
        expect(first.client.received).toBe(0);
      }
      first.clientTransport.resumeReading();
      first.clientTransport.resumeReading(); // idempotent
      expect(first.clientTransport.isReading()).toBe(true);
      const expected = 'paused-1;paused-2;paused-3;';
      await first.client.untilBytes(expected.length);
      expect(first.client.text()).toBe(expected);
      // Paused reading still lets the transport write.
      first.clientTransport.pauseReading();
      first.clientTransport.write('still writes');
      await first.peer.untilBytes(12);
      expect(first.peer.text()).toBe('still writes');
      first.clientTransport.close();
      expect(first.clientTransport.isReading()).toBe(false);
      first.clientTransport.resumeReading(); // no effect once closing
      expect(first.clientTransport.isReading()).toBe(false);
      probe.clientTransport.close();
      await shutdown(first.server);
      await shutdown(probe.server);
    });
  });
});

describe('write buffer limits', () => {
  it('defaults to asyncio high 64 KiB, low 16 KiB, and derives the missing mark', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, clientTransport: transport } = await connectedPair(loop);
      expect(transport.getWriteBufferLimits()).toEqual([16384, 65536]);
      transport.setWriteBufferLimits(1000);
      expect(transport.getWriteBufferLimits()).toEqual([250, 1000]);
      transport.setWriteBufferLimits(undefined, 100);
      expect(transport.getWriteBufferLimits()).toEqual([100, 400]);
      transport.setWriteBufferLimits(300, 200);
      expect(transport.getWriteBufferLimits()).toEqual([200, 300]);
      transport.setWriteBufferLimits(0, 0);
      expect(transport.getWriteBufferLimits()).toEqual([0, 0]);
      transport.setWriteBufferLimits();
      expect(transport.getWriteBufferLimits()).toEqual([16384, 65536]);
      transport.setWriteBufferLimits(null, null);
      expect(transport.getWriteBufferLimits()).toEqual([16384, 65536]);
      transport.close();
      await shutdown(server);
    });
  });

  it('bad limits throw RangeError and leave the limits as they were', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, clientTransport: transport } = await connectedPair(loop);
      transport.setWriteBufferLimits(2000, 500);
      expect(() => transport.setWriteBufferLimits(100, 200)).toThrow(RangeError);
      expect(() => transport.setWriteBufferLimits(100, 200)).toThrow(/high \(100\) must be >= low \(200\)/);
      expect(() => transport.setWriteBufferLimits(10, -1)).toThrow(RangeError);
      expect(() => transport.setWriteBufferLimits(-4)).toThrow(RangeError);
      expect(() => transport.setWriteBufferLimits(Number.NaN)).toThrow(TypeError);
      expect(() => transport.setWriteBufferLimits('big' as never)).toThrow(TypeError);
      expect(transport.getWriteBufferLimits()).toEqual([500, 2000]);
      transport.close();
      await shutdown(server);
    });
  });

  it('getWriteBufferSize is 0 when the kernel took everything and counts what is queued otherwise', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, peer, clientTransport, peerTransport } = await connectedPair(loop);
      expect(clientTransport.getWriteBufferSize()).toBe(0);
      clientTransport.write('small');
      expect(clientTransport.getWriteBufferSize()).toBe(0);
      peerTransport.pauseReading();
      const size = 8 * 1024 * 1024;
      clientTransport.write(pattern(5, size));
      const queued = clientTransport.getWriteBufferSize();
      expect(queued).toBeGreaterThan(0);
      expect(queued).toBeLessThanOrEqual(size);
      peerTransport.resumeReading();
      await peer.untilBytes(size + 5);
      await within(settleWrites(clientTransport), 5000, 'write buffer drained');
      expect(clientTransport.getWriteBufferSize()).toBe(0);
      clientTransport.close();
      await shutdown(server);
    });
  });

  it('lowering the high-water mark under the buffered size calls pauseWriting; raising it over calls resumeWriting', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, client, clientTransport, peerTransport } = await connectedPair(loop);
      peerTransport.pauseReading();
      clientTransport.setWriteBufferLimits(64 * 1024 * 1024);
      clientTransport.write(pattern(0, 8 * 1024 * 1024));
      expect(client.flow).not.toContain('pause');
      const queued = clientTransport.getWriteBufferSize();
      expect(queued).toBeGreaterThan(1024);
      clientTransport.setWriteBufferLimits(1024);
      expect(client.flow.filter((event) => event === 'pause')).toHaveLength(1);
      clientTransport.setWriteBufferLimits(queued + 1, queued);
      expect(client.flow.at(-1)).toBe('resume');
      clientTransport.abort();
      await shutdown(server);
    });
  });
});

describe('getExtraInfo', () => {
  it("'peername' and 'sockname' are [host, port] pairs that mirror the peer's", async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, clientTransport, peerTransport } = await connectedPair(loop);
      const clientName = clientTransport.getExtraInfo('sockname') as [string, number];
      const clientPeer = clientTransport.getExtraInfo('peername') as [string, number];
      expect(clientName[0]).toBe('127.0.0.1');
      expect(Number.isInteger(clientName[1]) && clientName[1] > 0).toBe(true);
      expect(clientPeer).toEqual(server.sockets[0]!.getsockname());
      expect(peerTransport.getExtraInfo('peername')).toEqual(clientName);
      expect(peerTransport.getExtraInfo('sockname')).toEqual(clientPeer);
      clientTransport.close();
      await shutdown(server);
    });
  });

  it("'socket' is a TransportSocket view with the fd, family and addresses; unknown names give the default", async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, clientTransport } = await connectedPair(loop);
      const socket = clientTransport.getExtraInfo('socket') as TransportSocket;
      expect(socket).toBeInstanceOf(TransportSocket);
      expect(socket.family).toBe('IPv4');
      expect(Number.isInteger(socket.fd) && socket.fd > 2).toBe(true);
      expect(socket.getsockname()).toEqual(clientTransport.getExtraInfo('sockname'));
      expect(socket.getpeername()).toEqual(clientTransport.getExtraInfo('peername'));
      expect(clientTransport.getExtraInfo('socket')).toBe(socket);
      expect(clientTransport.getExtraInfo('no-such-thing')).toBe(undefined);
      expect(clientTransport.getExtraInfo('no-such-thing', 'fallback')).toBe('fallback');
      clientTransport.close();
      await shutdown(server);
    });
  });

  it('works for an IPv6 loopback connection', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const echo = await loop.createServer(() => new Recorder(), '::1', 0);
      const serverPort = (echo.sockets[0]!.getsockname() as [string, number])[1];
      expect(echo.sockets[0]!.family).toBe('IPv6');
      const [transport] = await loop.createConnection(() => new Recorder(), '::1', serverPort);
      expect(transport.getExtraInfo('peername')).toEqual(['::1', serverPort]);
      expect((transport.getExtraInfo('sockname') as [string, number])[0]).toBe('::1');
      expect((transport.getExtraInfo('socket') as TransportSocket).family).toBe('IPv6');
      transport.close();
      await shutdown(echo);
    });
  });
});

describe('getProtocol and setProtocol', () => {
  it('hands later data to the new protocol; a Protocol can be swapped for a BufferedProtocol', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, client, clientTransport, peer, peerTransport } = await connectedPair(loop);
      expect(peerTransport.getProtocol()).toBe(peer);
      expect(clientTransport.getProtocol()).toBe(client);
      clientTransport.write('one;');
      await peer.untilBytes(4);

      const second = new Recorder();
      peerTransport.setProtocol(second);
      expect(peerTransport.getProtocol()).toBe(second);
      clientTransport.write('two;');
      await second.untilBytes(4);
      expect(second.text()).toBe('two;');
      expect(peer.text()).toBe('one;');

      const store = Buffer.alloc(64);
      let filled = 0;
      class Buffered extends BufferedProtocol {
        override getBuffer(): Uint8Array {
          return store.subarray(filled);
        }
        override bufferUpdated(nbytes: number): void {
          filled += nbytes;
        }
      }
      const third = new Buffered();
      peerTransport.setProtocol(third);
      expect(peerTransport.getProtocol()).toBe(third);
      clientTransport.write('three;');
      while (filled < 6) await new Promise((resolve) => setImmediate(resolve));
      expect(store.subarray(0, filled).toString()).toBe('three;');

      // And back to a plain Protocol; connectionLost goes to the protocol set last.
      const fourth = new Recorder();
      peerTransport.setProtocol(fourth);
      clientTransport.write('four;');
      await fourth.untilBytes(5);
      clientTransport.close();
      await fourth.lost.wait('connectionLost of the last protocol');
      expect(second.events).not.toContain('lost');
      expect(peer.events).not.toContain('lost');
      await shutdown(server);
    });
  });

  it('a plain Protocol subclass without overrides is a valid sink', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const server = await loop.createServer(() => new Protocol(), '127.0.0.1', 0);
      const serverPort = (server.sockets[0]!.getsockname() as [string, number])[1];
      const [transport, client] = await loop.createConnection(() => new Recorder(), '127.0.0.1', serverPort);
      transport.write('ignored');
      transport.writeEof();
      // The default eofReceived returns nothing, so the server side closes and we see EOF.
      await client.eof.wait('client eofReceived');
      await client.lost.wait('client connectionLost');
      await shutdown(server);
    });
  });
});
