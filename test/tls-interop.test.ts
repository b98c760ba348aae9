// TLS interop: zloop against peers that are not zloop. openssl s_client against a zloop server,
// Node's tls client against a zloop server, and a zloop client against Node's tls server.
import { spawn } from 'node:child_process';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRunningLoop, openConnection, run, startServer } from 'zloop';
import { type Certs, makeCerts } from './helpers/certs.js';
import { needsProgram } from './helpers/programs.js';
import { trackLeaks } from './helpers/leaks.js';
import { Echo, port, Recorder, shutdown, within } from './helpers/net.js';

trackLeaks();

let certs: Certs;
beforeAll(() => {
  certs = makeCerts();
});
afterAll(() => certs?.remove());

const opensslSuite = needsProgram('openssl', 'openssl s_client');
describe.skipIf(opensslSuite.missing)(opensslSuite.title, () => {
  it('verifies a zloop server against the test CA and gets its lines echoed', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const echoes: Echo[] = [];
      const server = await loop.createServer(() => (echoes.push(new Echo()), echoes.at(-1)!), '127.0.0.1', 0, {
        ssl: { key: certs.serverKey, cert: certs.serverCert },
      });
      const child = spawn(
        'openssl',
        ['s_client', '-connect', `127.0.0.1:${port(server)}`, '-CAfile', certs.path('ca.crt'), '-verify_return_error', '-servername', 'localhost', '-quiet'],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stderr.on('data', (data) => (stderr += data));
      const echoed = new Promise<void>((resolve) => {
        child.stdout.on('data', (data) => {
          stdout += data;
          if (stdout.includes('ping from openssl\n')) resolve();
        });
      });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      child.stdin.write('ping from openssl\n');
      await within(echoed, 10_000, `echo to s_client (stderr: ${stderr})`);
      // -quiet prints the verification chain to stderr: depth 0 is our server certificate, verified.
      expect(stderr).toMatch(/verify return:1/);
      expect(stderr).not.toMatch(/verify error/);
      // Closing the server's side sends close_notify; s_client then exits by itself.
      echoes[0]!.transport!.close();
      child.stdin.end();
      expect(await within(exited, 10_000, 's_client exit')).toBe(0);
      await shutdown(server);
    });
  });

  it('s_client refuses a zloop server whose certificate its CA did not sign', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const server = await loop.createServer(() => new Echo(), '127.0.0.1', 0, { ssl: { key: certs.selfKey, cert: certs.selfCert } });
      const child = spawn(
        'openssl',
        ['s_client', '-connect', `127.0.0.1:${port(server)}`, '-CAfile', certs.path('ca.crt'), '-verify_return_error', '-quiet'],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (data) => (stderr += data));
      const code = await within(new Promise<number | null>((resolve) => child.on('exit', (status) => resolve(status))), 10_000, 's_client exit');
      expect(code).not.toBe(0);
      expect(stderr).toMatch(/self[- ]signed certificate/);
      await shutdown(server);
    });
  });
});

describe("Node's tls", () => {
  it("Node's tls client talks to a zloop streams server", async () => {
    await run(async () => {
      const server = await startServer(
        async (reader, writer) => {
          for await (const chunk of reader) {
            writer.write(Buffer.from(chunk.toString().toUpperCase()));
            await writer.drain();
          }
          writer.close();
        },
        '127.0.0.1',
        0,
        { ssl: { key: certs.serverKey, cert: certs.serverCert } },
      );
      const socket = tls.connect({ host: '127.0.0.1', port: port(server), ca: certs.caCert });
      const secured = new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      });
      await within(secured, 5000, 'secureConnect');
      expect(socket.authorized).toBe(true);
      let received = '';
      const ended = new Promise<void>((resolve) => {
        socket.on('data', (data) => (received += data));
        socket.once('end', resolve);
      });
      socket.write('hello from node');
      socket.end();
      await within(ended, 5000, 'zloop server ends');
      expect(received).toBe('HELLO FROM NODE');
      await within(new Promise((resolve) => socket.once('close', resolve)), 5000, 'socket close');
      await shutdown(server);
    });
  });

  it("a zloop client talks to Node's tls server, both ways, and sees Node's close as EOF", async () => {
    const nodeServer = tls.createServer({ key: certs.serverKey, cert: certs.serverCert }, (socket) => {
      socket.on('data', (data) => socket.write(`node got ${data.length} bytes\n`));
      socket.on('end', () => socket.end('bye\n'));
      socket.on('error', () => socket.destroy());
    });
    await new Promise<void>((resolve) => nodeServer.listen(0, '127.0.0.1', resolve));
    const nodePort = (nodeServer.address() as { port: number }).port;
    try {
      await run(async () => {
        const loop = getRunningLoop();
        const [transport, client] = await loop.createConnection(() => new Recorder(), 'localhost', nodePort, { ssl: { ca: certs.caCert } });
        transport.write(Buffer.alloc(1000, 1));
        await client.untilBytes('node got 1000 bytes\n'.length);
        expect(client.text()).toBe('node got 1000 bytes\n');
        // Our half-close (close_notify) makes Node's server answer and end too.
        transport.writeEof();
        await client.lost.wait('connectionLost');
        expect(client.text()).toBe('node got 1000 bytes\nbye\n');
        expect(client.events).toEqual(['made', 'data', 'eof', 'lost']);
        expect(client.lostWith).toBeNull();

        // Streams against the same server, and a mismatched name refused with Node's own error.
        const [reader, writer] = await openConnection('127.0.0.1', nodePort, { ssl: { ca: certs.caCert } });
        writer.write('abc');
        expect((await reader.readline()).toString()).toBe('node got 3 bytes\n');
        writer.close();
        await writer.waitClosed();
        await expect(
          openConnection('127.0.0.1', nodePort, { ssl: { ca: certs.caCert }, serverHostname: 'not-localhost.test' }),
        ).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
      });
    } finally {
      await new Promise((resolve) => nodeServer.close(resolve));
    }
  });
});
