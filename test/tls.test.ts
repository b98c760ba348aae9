// TLS over zloop transports: echo over protocols and streams with certificates made here, clients
// refusing untrusted and mismatched certificates, startTls on both sides, Unix sockets, extra info.
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BufferedProtocol,
  type EventLoop,
  getRunningLoop,
  openConnection,
  openUnixConnection,
  Protocol,
  run,
  SSLTransport,
  startServer,
  startUnixServer,
  type Transport,
} from 'zloop';
import { type Certs, makeCerts } from './helpers/certs.js';
import { trackLeaks } from './helpers/leaks.js';
import { Echo, firstPatternBreak, pattern, port, Recorder, shutdown, Signal, socketDir, until, within } from './helpers/net.js';

trackLeaks();

let certs: Certs;
beforeAll(() => {
  certs = makeCerts();
});
afterAll(() => certs?.remove());

const serverSsl = () => ({ key: certs.serverKey, cert: certs.serverCert });
const clientSsl = () => ({ ca: certs.caCert });

async function echoServer(loop: EventLoop, ssl: object = serverSsl()) {
  const accepted: Recorder[] = [];
  const server = await loop.createServer(
    () => {
      const recorder = new EchoRecorder();
      accepted.push(recorder);
      return recorder;
    },
    '127.0.0.1',
    0,
    { ssl },
  );
  return { server, port: port(server), accepted };
}

/** Records like Recorder and echoes what it gets. */
class EchoRecorder extends Recorder {
  override dataReceived(data: Buffer): void {
    super.dataReceived(data);
    this.transport!.write(data);
  }
}

describe('TLS echo', () => {
  it('echoes over createServer/createConnection with a CA made in the test, calling the protocol in asyncio order', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, port: serverPort, accepted } = await echoServer(loop);
      const [transport, client] = await loop.createConnection(() => new Recorder(), '127.0.0.1', serverPort, { ssl: clientSsl() });
      expect(transport).toBeInstanceOf(SSLTransport);
      expect(client.events).toEqual(['made']);
      transport.write('hello over tls');
      await client.untilBytes(14);
      expect(client.text()).toBe('hello over tls');
      transport.close();
      expect(transport.isClosing()).toBe(true);
      await client.lost.wait('client connectionLost');
      expect(client.lostWith).toBeNull();
      expect(client.events).toEqual(['made', 'data', 'lost']);
      const peer = accepted[0]!;
      await peer.lost.wait('server connectionLost');
      // The server saw close_notify as EOF before the connection went.
      expect(peer.events).toEqual(['made', 'data', 'eof', 'lost']);
      expect(peer.lostWith).toBeNull();
      await shutdown(server);
    });
  });

  it('carries 4 MiB both ways intact, with pauseWriting/resumeWriting on the way', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, port: serverPort } = await echoServer(loop);
      const [transport, client] = await loop.createConnection(() => new Recorder(), 'localhost', serverPort, { ssl: clientSsl() });
      const size = 4 * 1024 * 1024;
      transport.write(pattern(0, size));
      expect(client.flow).toEqual(['pause']);
      await client.untilBytes(size, 20_000);
      expect(firstPatternBreak(client.bytes())).toBe(-1);
      expect(client.flow).toEqual(['pause', 'resume']);
      transport.close();
      await client.lost.wait('client connectionLost');
      await shutdown(server);
    });
  });

  it('delivers to a BufferedProtocol through getBuffer/bufferUpdated', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, port: serverPort } = await echoServer(loop);
      const done = new Signal<Buffer>();
      class Collect extends BufferedProtocol {
        readonly buffer = Buffer.alloc(100);
        readonly parts: Buffer[] = [];
        override getBuffer(): Uint8Array {
          return this.buffer.subarray(0, 7); // smaller than a record: several calls per chunk
        }
        override bufferUpdated(nbytes: number): void {
          this.parts.push(Buffer.from(this.buffer.subarray(0, nbytes)));
          if (Buffer.concat(this.parts).length === 26) done.resolve(Buffer.concat(this.parts));
        }
      }
      const [transport] = await loop.createConnection(() => new Collect(), '127.0.0.1', serverPort, { ssl: clientSsl() });
      transport.write('abcdefghijklmnopqrstuvwxyz');
      expect((await done.wait('26 bytes')).toString()).toBe('abcdefghijklmnopqrstuvwxyz');
      transport.close();
      await shutdown(server);
    });
  });

  it('echoes over startServer/openConnection streams, and readexactly reads across TLS records', async () => {
    await run(async () => {
      const server = await startServer(
        async (reader, writer) => {
          for (;;) {
            const line = await reader.readline();
            if (line.length === 0) break;
            writer.write(line);
            await writer.drain();
          }
          writer.close();
          await writer.waitClosed();
        },
        '127.0.0.1',
        0,
        { ssl: serverSsl(), limit: 1024 * 1024 },
      );
      const [reader, writer] = await openConnection('127.0.0.1', port(server), { ssl: clientSsl(), limit: 1024 * 1024 });
      const big = 'x'.repeat(200_000);
      writer.write(`one\n${big}\nthree\n`);
      expect((await reader.readline()).toString()).toBe('one\n');
      expect((await reader.readexactly(big.length + 1)).length).toBe(big.length + 1);
      expect((await reader.readline()).toString()).toBe('three\n');
      writer.writeEof();
      expect((await reader.read()).length).toBe(0);
      writer.close();
      await writer.waitClosed();
      await shutdown(server);
    });
  });
});

describe('certificate checks', () => {
  it('refuses a certificate from a CA it does not trust (the default trust store)', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, port: serverPort, accepted } = await echoServer(loop);
      const made: string[] = [];
      await expect(
        loop.createConnection(() => new Recorder(), '127.0.0.1', serverPort, { ssl: true }),
      ).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', message: expect.stringMatching(/unable to verify the first certificate/) });
      for (const recorder of accepted) made.push(...recorder.events);
      expect(made).not.toContain('made');
      await shutdown(server);
    });
  });

  it('refuses a self-signed certificate', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, port: serverPort } = await echoServer(loop, { key: certs.selfKey, cert: certs.selfCert });
      let created = 0;
      await expect(
        loop.createConnection(() => (created++, new Recorder()), 'localhost', serverPort, { ssl: clientSsl() }),
      ).rejects.toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT', message: expect.stringMatching(/self[- ]signed certificate/) });
      // The protocol was made but never told of a connection.
      expect(created).toBe(1);
      await shutdown(server);
    });
  });

  it('refuses a certificate whose names do not match serverHostname, naming both', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, port: serverPort } = await echoServer(loop);
      const client = new Recorder();
      await expect(
        loop.createConnection(() => client, '127.0.0.1', serverPort, { ssl: clientSsl(), serverHostname: 'example.com' }),
      ).rejects.toMatchObject({
        code: 'ERR_TLS_CERT_ALTNAME_INVALID',
        message: expect.stringMatching(/example\.com.*localhost/),
      });
      expect(client.events).toEqual([]);
      await shutdown(server);
    });
  });

  it('checks an IP address against the IP names of the certificate', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, port: serverPort } = await echoServer(loop);
      // 127.0.0.1 is in the certificate; connecting by IP but naming 127.0.0.2 is not.
      await expect(
        loop.createConnection(() => new Recorder(), '127.0.0.1', serverPort, { ssl: clientSsl(), serverHostname: '127.0.0.2' }),
      ).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
      await shutdown(server);
    });
  });

  it('accepts an untrusted certificate only when told to (rejectUnauthorized: false)', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, port: serverPort } = await echoServer(loop, { key: certs.selfKey, cert: certs.selfCert });
      const [transport, client] = await loop.createConnection(() => new Recorder(), '127.0.0.1', serverPort, { ssl: { rejectUnauthorized: false } });
      transport.write('ok');
      await client.untilBytes(2);
      expect((transport.getExtraInfo('sslObject') as tls.TLSSocket).authorized).toBe(false);
      transport.close();
      await client.lost.wait('lost');
      await shutdown(server);
    });
  });

  it('a server with requestCert refuses a client without a certificate and accepts one signed by its CA', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, port: serverPort, accepted } = await echoServer(loop, { ...serverSsl(), ca: certs.caCert, requestCert: true });
      // TLS 1.3: the client finishes its handshake before the server checks; the server then drops it.
      const outcome = await loop
        .createConnection(() => new Recorder(), '127.0.0.1', serverPort, { ssl: clientSsl() })
        .then(async ([transport, client]) => {
          transport.write('hi');
          return await client.lost.wait('client dropped');
        })
        .catch((error: Error) => error);
      expect(outcome).toBeInstanceOf(Error);
      expect(accepted.every((recorder) => !recorder.events.includes('made'))).toBe(true);

      const [transport, client] = await loop.createConnection(() => new Recorder(), '127.0.0.1', serverPort, {
        ssl: { ...clientSsl(), key: certs.clientKey, cert: certs.clientCert },
      });
      transport.write('with cert');
      await client.untilBytes(9);
      const peer = accepted.find((recorder) => recorder.events.includes('made'))!;
      const peercert = peer.transport!.getExtraInfo('peercert') as tls.PeerCertificate;
      expect(peercert.subject.CN).toBe('zloop test client');
      transport.close();
      await client.lost.wait('lost');
      await shutdown(server);
    });
  });

  it("'peercert' and 'cipher' stay readable inside connectionLost and after it", async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, port: serverPort } = await echoServer(loop);
      const seenInLost: unknown[] = [];
      class Remembering extends Recorder {
        override connectionLost(exc: Error | null): void {
          seenInLost.push(this.transport!.getExtraInfo('peercert'), this.transport!.getExtraInfo('cipher'));
          super.connectionLost(exc);
        }
      }
      const [transport, client] = await loop.createConnection(() => new Remembering(), '127.0.0.1', serverPort, { ssl: clientSsl() });
      transport.close();
      await client.lost.wait('lost');
      const [certInLost, cipherInLost] = seenInLost as [tls.PeerCertificate, tls.CipherNameAndProtocol];
      expect(certInLost.subject.CN).toBe('localhost');
      expect(cipherInLost.version).toMatch(/^TLSv1\.[23]$/);
      expect((transport.getExtraInfo('peercert') as tls.PeerCertificate).subject.CN).toBe('localhost');
      expect(transport.getExtraInfo('cipher')).toEqual(cipherInLost);
      await shutdown(server);
    });
  });
});

describe('debug mode', () => {
  it('a server-side handshake failure reaches the exception handler', async () => {
    await run(
      async () => {
        const loop = getRunningLoop();
        const reported = new Signal<{ message: string; exception: unknown }>();
        loop.setExceptionHandler((_loop, context) => reported.resolve(context as { message: string; exception: unknown }));
        const { server, port: serverPort } = await echoServer(loop);
        // Not a ClientHello: the server's handshake fails.
        const plain = await import('node:net').then((net) => net.connect(serverPort, '127.0.0.1'));
        plain.on('error', () => {});
        plain.write('GET / HTTP/1.0\r\n\r\n');
        const context = await reported.wait('the exception handler');
        expect(context.message).toBe('SSL handshake failed');
        expect(context.exception).toBeInstanceOf(Error);
        plain.destroy();
        await shutdown(server);
      },
      { debug: true },
    );
  });
});

describe('getExtraInfo', () => {
  it("gives 'peercert', 'cipher', 'sslObject' and the raw transport's 'peername' and 'sockname'", async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, port: serverPort, accepted } = await echoServer(loop);
      const [transport, client] = await loop.createConnection(() => new Recorder(), '127.0.0.1', serverPort, { ssl: clientSsl() });
      const peercert = transport.getExtraInfo('peercert') as tls.PeerCertificate;
      expect(peercert.subject.CN).toBe('localhost');
      expect(peercert.issuer.CN).toBe('zloop test CA');
      expect(peercert.subjectaltname).toContain('IP Address:127.0.0.1');
      const cipher = transport.getExtraInfo('cipher') as tls.CipherNameAndProtocol;
      expect(cipher.version).toMatch(/^TLSv1\.[23]$/);
      expect(typeof cipher.name).toBe('string');
      const sslObject = transport.getExtraInfo('sslObject') as tls.TLSSocket;
      expect(sslObject).toBeInstanceOf(tls.TLSSocket);
      expect(sslObject.authorized).toBe(true);
      expect(transport.getExtraInfo('peername')).toEqual(['127.0.0.1', serverPort]);
      expect((transport.getExtraInfo('sockname') as [string, number])[0]).toBe('127.0.0.1');
      expect(transport.getExtraInfo('no such thing', 'fallback')).toBe('fallback');
      transport.write('x');
      await client.untilBytes(1);
      // The server did not ask for a client certificate.
      expect(accepted[0]!.transport!.getExtraInfo('peercert', 'none')).toBe('none');
      transport.close();
      await client.lost.wait('lost');
      await shutdown(server);
    });
  });
});

describe('startTls', () => {
  /** A line protocol: "STARTTLS\n" gets "GO\n" and then the server side upgrades. */
  class StartTlsServer extends Protocol {
    transport: Transport | null = null;
    received = '';
    tlsTransport: Transport | null = null;
    readonly secured = new Signal<Transport>();
    readonly lines: string[] = [];
    readonly failures: Error[] = [];
    constructor(readonly loop: EventLoop) {
      super();
    }
    override connectionMade(transport: Transport): void {
      this.transport = transport;
    }
    override dataReceived(data: Buffer): void {
      this.received += data.toString();
      let newline: number;
      while ((newline = this.received.indexOf('\n')) !== -1) {
        const line = this.received.slice(0, newline);
        this.received = this.received.slice(newline + 1);
        this.lines.push(line);
        if (line === 'STARTTLS') {
          this.transport!.write('GO\n');
          this.loop.startTls(this.transport!, this, serverSsl(), { serverSide: true }).then(
            (upgraded) => {
              this.tlsTransport = upgraded;
              this.secured.resolve(upgraded);
            },
            (error: Error) => this.failures.push(error),
          );
        } else if (this.tlsTransport !== null) {
          this.tlsTransport.write(`secure echo: ${line}\n`);
        }
      }
    }
  }

  it('loop.startTls upgrades a plain connection on both sides', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      let serverProtocol: StartTlsServer | null = null;
      const server = await loop.createServer(() => (serverProtocol = new StartTlsServer(loop)), '127.0.0.1', 0);
      const [plain, client] = await loop.createConnection(() => new Recorder(), '127.0.0.1', port(server));
      plain.write('STARTTLS\n');
      await client.untilBytes(3);
      expect(client.text()).toBe('GO\n');
      const upgraded = await loop.startTls(plain, client, clientSsl(), { serverHostname: 'localhost' });
      expect(upgraded).toBeInstanceOf(SSLTransport);
      expect(upgraded.getProtocol()).toBe(client);
      await serverProtocol!.secured.wait('server handshake');
      upgraded.write('after upgrade\n');
      await client.untilBytes(3 + 'secure echo: after upgrade\n'.length);
      expect(client.text()).toBe('GO\nsecure echo: after upgrade\n');
      expect((upgraded.getExtraInfo('peercert') as tls.PeerCertificate).subject.CN).toBe('localhost');
      // connectionMade is not called again, as in asyncio.
      expect(client.events).toEqual(['made', 'data']);
      upgraded.close();
      await client.lost.wait('client lost');
      expect(client.lostWith).toBeNull();
      await shutdown(server);
    });
  });

  it('StreamWriter.startTls upgrades a stream connection on both sides', async () => {
    await run(async () => {
      const serverDone = new Signal<string>();
      const server = await startServer(
        async (reader, writer) => {
          expect((await reader.readline()).toString()).toBe('STARTTLS\n');
          writer.write('GO\n');
          await writer.startTls(serverSsl());
          const line = await reader.readline();
          writer.write(`secure: ${line.toString()}`);
          await writer.drain();
          serverDone.resolve(String((writer.getExtraInfo('cipher') as tls.CipherNameAndProtocol).version));
          writer.close();
        },
        '127.0.0.1',
        0,
      );
      const [reader, writer] = await openConnection('127.0.0.1', port(server));
      writer.write('STARTTLS\n');
      expect((await reader.readline()).toString()).toBe('GO\n');
      await writer.startTls(clientSsl(), { serverHostname: 'localhost' });
      expect(writer.transport).toBeInstanceOf(SSLTransport);
      writer.write('hello\n');
      expect((await reader.readline()).toString()).toBe('secure: hello\n');
      expect(await serverDone.wait('server side')).toMatch(/^TLSv1/);
      expect((await reader.read()).length).toBe(0);
      writer.close();
      await writer.waitClosed();
      await shutdown(server);
    });
  });

  it('rejects with the certificate error when the upgraded peer is not trusted', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      let serverProtocol: StartTlsServer | null = null;
      const server = await loop.createServer(() => (serverProtocol = new StartTlsServer(loop)), '127.0.0.1', 0);
      const [plain, client] = await loop.createConnection(() => new Recorder(), '127.0.0.1', port(server));
      plain.write('STARTTLS\n');
      await client.untilBytes(3);
      await expect(loop.startTls(plain, client, true, { serverHostname: 'localhost' })).rejects.toMatchObject({
        code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      });
      // The server side's handshake fails too: the client hung up on it.
      await until(() => serverProtocol!.failures.length > 0, 'server-side startTls rejected');
      await shutdown(server);
    });
  });
});

describe('Unix sockets', () => {
  it('speaks TLS over a Unix socket with serverHostname, and requires serverHostname', async () => {
    const dir = socketDir();
    try {
      await run(async () => {
        const loop = getRunningLoop();
        const path = dir.path('tls.sock');
        const server = await loop.createUnixServer(() => new Echo(), path, { ssl: serverSsl() });
        await expect(loop.createUnixConnection(() => new Recorder(), path, { ssl: clientSsl() })).rejects.toThrow(/serverHostname/);
        const [transport, client] = await loop.createUnixConnection(() => new Recorder(), path, { ssl: clientSsl(), serverHostname: 'localhost' });
        transport.write('over unix');
        await client.untilBytes(9);
        expect(client.text()).toBe('over unix');
        transport.close();
        await client.lost.wait('lost');

        const streamServer = await startUnixServer(
          async (reader, writer) => {
            writer.write(await reader.readline());
            writer.close();
          },
          dir.path('streams.sock'),
          { ssl: serverSsl() },
        );
        const [reader, writer] = await openUnixConnection(dir.path('streams.sock'), { ssl: clientSsl(), serverHostname: 'localhost' });
        writer.write('line\n');
        expect((await reader.readline()).toString()).toBe('line\n');
        writer.close();
        await writer.waitClosed();
        await shutdown(server);
        await shutdown(streamServer);
      });
    } finally {
      dir.remove();
    }
  });
});

describe('options and failures', () => {
  it('checks the ssl options at the edge with messages that name them', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      await expect(loop.createServer(() => new Echo(), '127.0.0.1', 0, { ssl: true as never })).rejects.toThrow(/options\.ssl/);
      await expect(loop.createConnection(() => new Echo(), '127.0.0.1', 1, { serverHostname: 'x' })).rejects.toThrow(/serverHostname is only meaningful with ssl/);
      await expect(loop.createConnection(() => new Echo(), '127.0.0.1', 1, { sslHandshakeTimeout: 1 })).rejects.toThrow(/sslHandshakeTimeout/);
      await expect(loop.createConnection(() => new Echo(), '127.0.0.1', 1, { ssl: true, sslHandshakeTimeout: -1 })).rejects.toThrow(RangeError);
      await expect(loop.createConnection(() => new Echo(), '127.0.0.1', 1, { ssl: 42 as never })).rejects.toThrow(/options\.ssl/);
    });
  });

  it('accepts a tls.SecureContext made by the caller', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, port: serverPort } = await echoServer(loop, tls.createSecureContext(serverSsl()));
      const [transport, client] = await loop.createConnection(() => new Recorder(), '127.0.0.1', serverPort, {
        ssl: tls.createSecureContext({ ca: readFileSync(certs.path('ca.crt')) }),
      });
      transport.write('ctx');
      await client.untilBytes(3);
      transport.close();
      await client.lost.wait('lost');
      await shutdown(server);
    });
  });

  it('aborts a handshake the peer never answers after sslHandshakeTimeout', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      // A plain server that reads and never answers: the handshake cannot finish.
      const server = await loop.createServer(() => new Recorder(), '127.0.0.1', 0);
      await expect(
        loop.createConnection(() => new Recorder(), '127.0.0.1', port(server), { ssl: clientSsl(), sslHandshakeTimeout: 0.2 }),
      ).rejects.toMatchObject({ code: 'ECONNABORTED', message: expect.stringMatching(/SSL handshake is taking longer than 0.2 seconds/) });
      await shutdown(server);
    });
  });

  it('reports a peer that closes during the handshake as a reset, and a server survives garbage', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, port: serverPort, accepted } = await echoServer(loop);
      // A plain client sends something that is not TLS: the server drops it without telling the protocol.
      const [plain, garbage] = await loop.createConnection(() => new Recorder(), '127.0.0.1', serverPort);
      plain.write('GET / HTTP/1.0\r\n\r\n');
      await garbage.lost.wait('server dropped the plain client', 5000);
      expect(accepted.every((recorder) => recorder.events.length === 0)).toBe(true);
      // A plain server that closes at once.
      const closer = await loop.createServer(
        () =>
          new (class extends Protocol {
            override connectionMade(transport: Transport): void {
              transport.close();
            }
          })(),
        '127.0.0.1',
        0,
      );
      await expect(loop.createConnection(() => new Recorder(), '127.0.0.1', port(closer), { ssl: clientSsl() })).rejects.toMatchObject({
        code: 'ECONNRESET',
      });
      await shutdown(closer);
      await shutdown(server);
    });
  });

  it('abort() drops the connection at once and connectionLost(null) follows', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, port: serverPort, accepted } = await echoServer(loop);
      const [transport, client] = await loop.createConnection(() => new Recorder(), '127.0.0.1', serverPort, { ssl: clientSsl() });
      transport.write('x');
      await client.untilBytes(1);
      transport.abort();
      await client.lost.wait('client lost');
      expect(client.lostWith).toBeNull();
      await within(accepted[0]!.lost.promise, 5000, 'server lost');
      await shutdown(server);
    });
  });
});
