// Protocol and BufferedProtocol callbacks over loopback TCP: their order, half-close both ways,
// and what happens when a callback throws (only its own transport closes).
import { describe, expect, it } from 'vitest';
import { BufferedProtocol, type ExceptionContext, getRunningLoop, Protocol, run, type Transport } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { connectedPair, Echo, port, Recorder, shutdown, Signal } from './helpers/net.js';

trackLeaks();

describe('Protocol call order', () => {
  it('connectionMade -> dataReceived* -> eofReceived -> connectionLost on both ends', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, client, peer, clientTransport } = await connectedPair(loop);
      // The client's connectionMade ran before createConnection resolved.
      expect(client.events).toEqual(['made']);
      expect(peer.events).toEqual(['made']);
      clientTransport.write('ping');
      await peer.untilBytes(4);
      clientTransport.writeEof();
      // The server side returns nothing from eofReceived, so it closes: the client sees EOF.
      await peer.lost.wait('peer connectionLost');
      await client.lost.wait('client connectionLost');
      expect(peer.events).toEqual(['made', 'data', 'eof', 'lost']);
      expect(client.events).toEqual(['made', 'eof', 'lost']);
      expect(peer.lostWith).toBe(null);
      expect(client.lostWith).toBe(null);
      expect(peer.text()).toBe('ping');
      await shutdown(server);
    });
  });

  it('connectionLost(null) without eofReceived when the transport is closed locally', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, client, peer, clientTransport } = await connectedPair(loop);
      clientTransport.close();
      await client.lost.wait('client connectionLost');
      await peer.lost.wait('peer connectionLost');
      expect(client.events).toEqual(['made', 'lost']);
      expect(peer.events).toEqual(['made', 'eof', 'lost']);
      await shutdown(server);
    });
  });

  it('eofReceived returning a falsy value closes the transport', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, peer, peerTransport, clientTransport } = await connectedPair(loop);
      clientTransport.writeEof();
      await peer.eof.wait('peer eofReceived');
      expect(peerTransport.isClosing()).toBe(true);
      await peer.lost.wait('peer connectionLost');
      clientTransport.close();
      await shutdown(server);
    });
  });
});

describe('half-close', () => {
  it('client writeEof: the server, staying half-open, keeps writing and the client reads it all', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const halfOpen = (): Recorder => Object.assign(new Recorder(), { eofResult: true });
      const { server, client, peer, clientTransport, peerTransport } = await connectedPair(loop, { server: halfOpen });
      clientTransport.write('request');
      clientTransport.writeEof();
      await peer.eof.wait('peer eofReceived');
      expect(peer.text()).toBe('request');
      expect(peerTransport.isClosing()).toBe(false);
      expect(peerTransport.isReading()).toBe(false);
      // The server answers after the client's EOF, in several writes, then closes.
      const reply: string[] = [];
      for (let index = 0; index < 100; index++) reply.push(`line ${index}\n`);
      for (const line of reply) peerTransport.write(line);
      peerTransport.write(Buffer.alloc(1024 * 1024, 'z'));
      peerTransport.close();
      await client.eof.wait('client eofReceived');
      const expected = reply.join('') + 'z'.repeat(1024 * 1024);
      expect(client.text()).toBe(expected);
      await client.lost.wait('client connectionLost');
      await peer.lost.wait('peer connectionLost');
      expect(peer.events).toEqual(['made', 'data', 'eof', 'lost']);
      expect(client.events).toEqual(['made', 'data', 'eof', 'lost']);
      await shutdown(server);
    });
  });

  it('server writeEof: the client, staying half-open, keeps writing and the server reads it all', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const halfOpen = (): Recorder => Object.assign(new Recorder(), { eofResult: true });
      const { server, client, peer, clientTransport, peerTransport } = await connectedPair(loop, { client: halfOpen });
      peerTransport.write('greeting');
      peerTransport.writeEof();
      await client.eof.wait('client eofReceived');
      expect(client.text()).toBe('greeting');
      expect(clientTransport.isClosing()).toBe(false);
      for (let index = 0; index < 50; index++) clientTransport.write(`msg ${index};`);
      clientTransport.write(Buffer.alloc(512 * 1024, 'q'));
      clientTransport.writeEof();
      await peer.eof.wait('peer eofReceived');
      let expected = '';
      for (let index = 0; index < 50; index++) expected += `msg ${index};`;
      expected += 'q'.repeat(512 * 1024);
      expect(peer.text()).toBe(expected);
      // Both directions are shut: the server closes on its eof, then the client closes.
      await peer.lost.wait('peer connectionLost');
      clientTransport.close();
      await client.lost.wait('client connectionLost');
      expect(client.events).toEqual(['made', 'data', 'eof', 'lost']);
      await shutdown(server);
    });
  });
});

describe('BufferedProtocol', () => {
  it('bytes land in the buffers it hands out; order is connectionMade, (getBuffer, bufferUpdated)*, eofReceived, connectionLost', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const events: string[] = [];
      const parts: Buffer[] = [];
      const lost = new Signal<Error | null>();
      const hints: number[] = [];
      class Small extends BufferedProtocol {
        // Seven bytes at a time, so one read needs several getBuffer/bufferUpdated rounds.
        readonly #buffer = Buffer.alloc(7);
        override connectionMade(): void {
          events.push('made');
        }
        override getBuffer(sizeHint: number): Uint8Array {
          hints.push(sizeHint);
          if (events.at(-1) !== 'get') events.push('get');
          return this.#buffer;
        }
        override bufferUpdated(nbytes: number): void {
          expect(nbytes).toBeGreaterThan(0);
          expect(nbytes).toBeLessThanOrEqual(7);
          parts.push(Buffer.from(this.#buffer.subarray(0, nbytes)));
        }
        override eofReceived(): void {
          events.push('eof');
        }
        override connectionLost(exc: Error | null): void {
          events.push('lost');
          lost.resolve(exc);
        }
      }
      const server = await loop.createServer(() => new Small(), '127.0.0.1', 0);
      const [transport] = await loop.createConnection(() => new Protocol(), '127.0.0.1', port(server));
      const message = 'the quick brown fox jumps over the lazy dog, '.repeat(500);
      transport.write(message);
      transport.writeEof();
      expect(await lost.wait('buffered connectionLost')).toBe(null);
      expect(Buffer.concat(parts).toString()).toBe(message);
      expect(events).toEqual(['made', 'get', 'eof', 'lost']);
      expect(hints.every((hint) => hint > 0)).toBe(true);
      expect(Math.max(...hints)).toBeGreaterThan(7);
      transport.close();
      await shutdown(server);
    });
  });

  it('a getBuffer that returns an empty buffer is a fatal error for that transport only', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const contexts: ExceptionContext[] = [];
      loop.setExceptionHandler((_loop, context) => contexts.push(context));
      const lost = new Signal<Error | null>();
      class Empty extends BufferedProtocol {
        override getBuffer(): Uint8Array {
          return new Uint8Array(0);
        }
        override connectionLost(exc: Error | null): void {
          lost.resolve(exc);
        }
      }
      const server = await loop.createServer(() => new Empty(), '127.0.0.1', 0);
      const [transport, client] = await loop.createConnection(() => new Recorder(), '127.0.0.1', port(server));
      transport.write('x');
      const exc = await lost.wait('connectionLost after the failed getBuffer');
      expect(exc).toBeInstanceOf(Error);
      expect(contexts).toHaveLength(1);
      expect(contexts[0]!.message).toMatch(/^Fatal error: protocol\.getBuffer\(\)/);
      expect(contexts[0]!.exception).toBe(exc);
      await client.lost.wait('client sees the close');
      await shutdown(server);
    });
  });
});

describe('a callback that throws', () => {
  it('a throwing dataReceived closes only its own transport; the loop and the other connections go on', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const contexts: ExceptionContext[] = [];
      loop.setExceptionHandler((_loop, context) => contexts.push(context));
      const boom = new Error('boom');
      const serverSide: { transport: Transport; lost: Signal<Error | null> }[] = [];
      class EchoUnlessBoom extends Echo {
        readonly lost = new Signal<Error | null>();
        override connectionMade(transport: Transport): void {
          super.connectionMade(transport);
          serverSide.push({ transport, lost: this.lost });
        }
        override dataReceived(data: Buffer): void {
          if (data.includes('boom')) throw boom;
          super.dataReceived(data);
        }
        override connectionLost(exc: Error | null): void {
          this.lost.resolve(exc);
        }
      }
      const server = await loop.createServer(() => new EchoUnlessBoom(), '127.0.0.1', 0);
      const clients: [Transport, Recorder][] = [];
      for (let index = 0; index < 5; index++) {
        clients.push(await loop.createConnection(() => new Recorder(), '127.0.0.1', port(server)));
      }
      for (const [index, [transport, recorder]] of clients.entries()) {
        transport.write(`hello ${index};`);
        await recorder.untilBytes(`hello ${index};`.length);
      }
      const [victimTransport, victim] = clients[2]!;
      victimTransport.write('boom');
      expect(await serverSide[2]!.lost.wait('the throwing transport is lost')).toBe(boom);
      await victim.lost.wait('the client of the throwing transport sees the close');
      expect(contexts).toHaveLength(1);
      expect(contexts[0]!.message).toBe('Fatal error: protocol.dataReceived() call failed.');
      expect(contexts[0]!.exception).toBe(boom);
      expect(contexts[0]!.transport).toBe(serverSide[2]!.transport);
      expect(contexts[0]!.protocol).toBeInstanceOf(EchoUnlessBoom);
      expect(serverSide[2]!.transport.isClosing()).toBe(true);
      // Everyone else still echoes, and the server still accepts.
      for (const [index, [transport, recorder]] of clients.entries()) {
        if (index === 2) continue;
        expect(transport.isClosing()).toBe(false);
        expect(serverSide[index]!.lost.fired).toBe(false);
        const before = recorder.received;
        transport.write(`again ${index};`);
        await recorder.untilBytes(before + `again ${index};`.length);
        expect(recorder.text()).toBe(`hello ${index};again ${index};`);
      }
      const [late, lateRecorder] = await loop.createConnection(() => new Recorder(), '127.0.0.1', port(server));
      late.write('late');
      await lateRecorder.untilBytes(4);
      expect(server.isServing()).toBe(true);
      for (const [transport] of clients) transport.close();
      late.close();
      await shutdown(server);
    });
  });

  it('a throwing connectionMade closes that transport with asyncio\'s message', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const contexts: ExceptionContext[] = [];
      loop.setExceptionHandler((_loop, context) => contexts.push(context));
      class Fails extends Protocol {
        override connectionMade(): void {
          throw new Error('no thanks');
        }
      }
      const server = await loop.createServer(() => new Fails(), '127.0.0.1', 0);
      const [transport, client] = await loop.createConnection(() => new Recorder(), '127.0.0.1', port(server));
      await client.lost.wait('client sees the server close');
      expect(contexts.map((context) => context.message)).toEqual(['Fatal error: protocol.connectionMade() call failed.']);
      expect((contexts[0]!.exception as Error).message).toBe('no thanks');
      transport.close();
      await shutdown(server);
    });
  });

  it('a throwing eofReceived and a throwing connectionLost are reported; the loop goes on', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const contexts: ExceptionContext[] = [];
      loop.setExceptionHandler((_loop, context) => contexts.push(context));
      const lostCalled = new Signal();
      class Fails extends Protocol {
        override eofReceived(): boolean {
          throw new Error('eof failed');
        }
        override connectionLost(): void {
          lostCalled.resolve();
          throw new Error('lost failed');
        }
      }
      const server = await loop.createServer(() => new Fails(), '127.0.0.1', 0);
      const [transport, client] = await loop.createConnection(() => new Recorder(), '127.0.0.1', port(server));
      transport.writeEof();
      await lostCalled.wait('connectionLost of the failing protocol');
      await client.lost.wait('client sees the close');
      await new Promise<void>((resolve) => loop.callSoon(resolve));
      expect(contexts.map((context) => context.message)).toEqual([
        'Fatal error: protocol.eofReceived() call failed.',
        'Exception in callback protocol.connectionLost()',
      ]);
      await shutdown(server);
    });
  });

  it('a throwing protocol factory on the server drops that connection only', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const contexts: ExceptionContext[] = [];
      loop.setExceptionHandler((_loop, context) => contexts.push(context));
      let calls = 0;
      const server = await loop.createServer(() => {
        if (++calls === 1) throw new Error('factory failed');
        return new Echo();
      }, '127.0.0.1', 0);
      const [first, firstRecorder] = await loop.createConnection(() => new Recorder(), '127.0.0.1', port(server));
      await firstRecorder.lost.wait('the first client is dropped');
      expect(contexts.map((context) => context.message)).toEqual(['Error on transport creation for incoming connection']);
      const [second, secondRecorder] = await loop.createConnection(() => new Recorder(), '127.0.0.1', port(server));
      second.write('works');
      await secondRecorder.untilBytes(5);
      expect(secondRecorder.text()).toBe('works');
      first.close();
      second.close();
      await shutdown(server);
    });
  });
});
