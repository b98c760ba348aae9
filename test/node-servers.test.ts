// Node's own servers on zloop: with zloop/register imported, node:http, https, Express, Fastify
// and ws listen through zloop, unchanged, and their connections are zloop/net Sockets. Clients
// are not zloop: Node's http and fetch, raw node:net, ws's client, curl and Python's http.client.
import 'zloop/register';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import * as nodeNet from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import * as zloopNet from 'zloop/net';
import { makeCerts } from './helpers/certs.js';
import { trackLeaks } from './helpers/leaks.js';
import { within } from './helpers/loops.js';
import { needsProgram } from './helpers/programs.js';

trackLeaks();

async function listen(server: http.Server | https.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await within(once(server, 'listening'), 5000, 'listening');
  return (server.address() as nodeNet.AddressInfo).port;
}

function close(server: http.Server | https.Server): Promise<void> {
  server.closeAllConnections();
  return within(new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))), 5000, 'server close');
}

/** Deterministic bytes: a position-dependent pattern. */
function pattern(length: number, seed = 1): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let index = 0; index < length; index++) bytes[index] = (index * 13 + seed + (index >> 9)) & 0xff;
  return bytes;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** One request with Node's http client (not zloop: client sockets stay Node's). */
function request(options: http.RequestOptions & { body?: Buffer | string }): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('node:http on zloop', () => {
  it('serves fetch: its sockets are zloop/net Sockets; bodies, headers and status come through', async () => {
    let socketKind = '';
    const server = http.createServer((req, res) => {
      socketKind = req.socket instanceof zloopNet.Socket ? 'zloop' : 'node';
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        res.setHeader('x-method', req.method!);
        res.statusCode = req.url === '/missing' ? 404 : 200;
        res.end(JSON.stringify({ url: req.url, body: Buffer.concat(chunks).toString() }));
      });
    });
    const port = await listen(server);
    const posted = await fetch(`http://127.0.0.1:${port}/echo?x=1`, { method: 'POST', body: 'hello zloop' });
    expect(posted.status).toBe(200);
    expect(posted.headers.get('x-method')).toBe('POST');
    expect(await posted.json()).toEqual({ url: '/echo?x=1', body: 'hello zloop' });
    expect(socketKind).toBe('zloop');
    expect((await fetch(`http://127.0.0.1:${port}/missing`)).status).toBe(404);
    await close(server);
  });

  it('a 50 MB chunked upload and a 50 MB chunked download arrive byte-exact', async () => {
    const size = 50 * 1024 * 1024;
    const body = pattern(size, 5);
    const server = http.createServer((req, res) => {
      if (req.method === 'POST') {
        const hash = createHash('sha256');
        let length = 0;
        req.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          length += chunk.length;
        });
        req.on('end', () => res.end(JSON.stringify({ length, sha: hash.digest('hex'), chunked: req.headers['transfer-encoding'] })));
        return;
      }
      // Chunked: written in 1 MiB pieces without a content-length, honouring backpressure.
      let offset = 0;
      const writeMore = (): void => {
        while (offset < size) {
          const piece = body.subarray(offset, offset + 1024 * 1024);
          offset += piece.length;
          if (!res.write(piece)) return void res.once('drain', writeMore);
        }
        res.end();
      };
      writeMore();
    });
    const port = await listen(server);

    const uploaded = await within(
      new Promise<string>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/upload' }, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve(text));
        });
        req.on('error', reject);
        for (let offset = 0; offset < size; offset += 4 * 1024 * 1024) req.write(body.subarray(offset, offset + 4 * 1024 * 1024));
        req.end();
      }),
      60_000,
      'upload',
    );
    expect(JSON.parse(uploaded)).toEqual({ length: size, sha: sha256(body), chunked: 'chunked' });

    const downloaded = await within(request({ port, path: '/download' }), 60_000, 'download');
    expect(downloaded.headers['transfer-encoding']).toBe('chunked');
    expect(downloaded.body.length).toBe(size);
    expect(sha256(downloaded.body)).toBe(sha256(body));
    await close(server);
  });

  it('a slow reader: the response waits on drain, the socket buffers a bounded amount, every byte arrives', async () => {
    const size = 32 * 1024 * 1024;
    const piece = 256 * 1024;
    let maxBuffered = 0;
    let waitedForDrain = false;
    const server = http.createServer((_req, res) => {
      let offset = 0;
      const writeMore = (): void => {
        while (offset < size) {
          const more = res.write(pattern(piece, offset / piece));
          offset += piece;
          maxBuffered = Math.max(maxBuffered, (res.socket as unknown as zloopNet.Socket).bufferSize);
          if (!more) {
            waitedForDrain = true;
            return void res.once('drain', writeMore);
          }
        }
        res.end();
      };
      writeMore();
    });
    const port = await listen(server);
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => http.get({ host: '127.0.0.1', port, path: '/' }, resolve).on('error', reject));
    response.pause();
    await within(new Promise<void>((resolve) => { const check = (): void => void (waitedForDrain ? resolve() : setTimeout(check, 5)); check(); }), 10_000, 'drain wait');
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.resume();
    await within(once(response, 'end'), 30_000, 'read');
    const received = Buffer.concat(chunks);
    expect(received.length).toBe(size);
    for (let offset = 0; offset < size; offset += piece) {
      if (!received.subarray(offset, offset + piece).equals(pattern(piece, offset / piece))) throw new Error(`bytes differ at ${offset}`);
    }
    // Bounded by the transport's and the streams' high-water marks plus a piece or two, not 32 MiB.
    expect(maxBuffered).toBeLessThan(2 * 1024 * 1024);
    await close(server);
  });

  it('keep-alive reuses one connection; pipelined requests are answered in order', async () => {
    const server = http.createServer((req, res) => res.end(`${req.url} on ${req.socket.remotePort}`));
    const port = await listen(server);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const first = await request({ port, path: '/a', agent });
    const second = await request({ port, path: '/b', agent });
    const [, firstPort] = first.body.toString().split(' on ');
    expect(second.body.toString()).toBe(`/b on ${firstPort}`);
    agent.destroy();

    const raw = nodeNet.connect(port, '127.0.0.1');
    await once(raw, 'connect');
    let text = '';
    raw.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    raw.write('GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\nGET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await within(once(raw, 'end'), 5000, 'pipelined responses');
    const bodies = [...text.matchAll(/\r\n\r\n(\/\w+) on/g)].map((match) => match[1]);
    expect(bodies).toEqual(['/one', '/two', '/three']);
    raw.destroy();
    await close(server);
  });

  it('graceful close: a request in flight finishes, idle keep-alive connections are closed, then close', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const server = http.createServer(async (req, res) => {
      if (req.url === '/slow') await gate;
      res.end(`done ${req.url}`);
    });
    const port = await listen(server);
    const idleAgent = new http.Agent({ keepAlive: true });
    await request({ port, path: '/warm', agent: idleAgent }); // leaves an idle keep-alive connection
    const slow = request({ port, path: '/slow', agent: false });
    await within(new Promise<void>((resolve) => { const check = (): void => void (server.listenerCount('request') > 0 && (server as unknown as { _connections: number })._connections >= 2 ? resolve() : setTimeout(check, 2)); check(); }), 5000, 'both connected');
    let closed = false;
    const serverClosed = new Promise<void>((resolve) => server.close(() => { closed = true; resolve(); }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    release();
    expect((await within(slow, 5000, 'slow request')).body.toString()).toBe('done /slow');
    await within(serverClosed, 5000, 'server closes after the request in flight');
    idleAgent.destroy();
  });
});

describe('frameworks on zloop', () => {
  it('Express: routing, params, JSON bodies, 404s', async () => {
    const app = express();
    app.use(express.json());
    app.get('/users/:id', (req, res) => void res.json({ id: req.params.id, kind: req.socket instanceof zloopNet.Socket ? 'zloop' : 'node' }));
    app.post('/sum', (req, res) => void res.json({ sum: (req.body.values as number[]).reduce((a, b) => a + b, 0) }));
    const server = http.createServer(app);
    const port = await listen(server);
    expect(await (await fetch(`http://127.0.0.1:${port}/users/42`)).json()).toEqual({ id: '42', kind: 'zloop' });
    const sum = await fetch(`http://127.0.0.1:${port}/sum`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ values: [1, 2, 3.5] }) });
    expect(await sum.json()).toEqual({ sum: 6.5 });
    expect((await fetch(`http://127.0.0.1:${port}/nowhere`)).status).toBe(404);
    await close(server);
  });

  it('Express app.listen() goes through zloop too', async () => {
    const app = express();
    app.get('/', (_req, res) => void res.send('root'));
    const server = app.listen(0, '127.0.0.1');
    await within(once(server, 'listening'), 5000, 'listening');
    const port = (server.address() as nodeNet.AddressInfo).port;
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('root');
    await close(server);
  });

  it('Fastify: routes, JSON schema validation, close()', async () => {
    const app = Fastify();
    app.post('/double', { schema: { body: { type: 'object', required: ['n'], properties: { n: { type: 'number' } } } } }, async (req) => ({ doubled: (req.body as { n: number }).n * 2, kind: req.raw.socket instanceof zloopNet.Socket ? 'zloop' : 'node' }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as nodeNet.AddressInfo).port;
    const ok = await fetch(`http://127.0.0.1:${port}/double`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":21}' });
    expect(await ok.json()).toEqual({ doubled: 42, kind: 'zloop' });
    const bad = await fetch(`http://127.0.0.1:${port}/double`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":"x"}' });
    expect(bad.status).toBe(400);
    await within(app.close(), 5000, 'fastify close');
  });

  it('ws: a WebSocket echo through the HTTP upgrade, text and binary', async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    wss.on('connection', (socket, req) => {
      socket.send(req.socket instanceof zloopNet.Socket ? 'zloop' : 'node');
      socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
    });
    const port = await listen(server);
    const client = new WebSocket(`ws://127.0.0.1:${port}/`);
    const messages: (string | Buffer)[] = [];
    client.on('message', (data: Buffer, isBinary: boolean) => messages.push(isBinary ? data : data.toString()));
    await within(once(client, 'open'), 5000, 'open');
    const binary = pattern(200_000, 9);
    client.send('hello');
    client.send(binary);
    await within(new Promise<void>((resolve) => { const check = (): void => void (messages.length >= 3 ? resolve() : setTimeout(check, 2)); check(); }), 5000, 'echoes');
    expect(messages[0]).toBe('zloop');
    expect(messages[1]).toBe('hello');
    expect(Buffer.isBuffer(messages[2]) && (messages[2] as Buffer).equals(binary)).toBe(true);
    client.close();
    await within(once(client, 'close'), 5000, 'ws close');
    wss.close();
    await close(server);
  });

  it('https: TLS over the zloop socket, with a certificate from the test fixtures', async () => {
    const certs = makeCerts();
    const server = https.createServer({ key: certs.serverKey, cert: certs.serverCert }, (req, res) => res.end(`secure ${req.url} ${(req.socket as { encrypted?: boolean }).encrypted === true}`));
    const port = await listen(server);
    const body = await within(
      new Promise<string>((resolve, reject) => {
        https.get({ host: '127.0.0.1', port, path: '/tls', ca: certs.caCert, servername: 'localhost' }, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve(text));
        }).on('error', reject);
      }),
      5000,
      'https get',
    );
    expect(body).toBe('secure /tls true');
    await close(server);
  });
});

/** Runs a program to its end; its stdout. */
function run(program: string, args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

const curl = needsProgram('curl', 'curl against node:http on zloop');
describe.skipIf(curl.missing)(curl.title, () => {
  it('GET and POST with keep-alive between them', async () => {
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk)).on('end', () => res.end(`${req.method} ${req.url} ${body}`));
    });
    const port = await listen(server);
    const result = await within(run('curl', ['-s', `http://127.0.0.1:${port}/first`, '--next', '-s', '-d', 'payload', `http://127.0.0.1:${port}/second`]), 10_000, 'curl');
    expect(result.stdout).toBe('GET /first POST /second payload');
    await close(server);
  });
});

const python = needsProgram('python3', "Python's http.client against node:http on zloop");
describe.skipIf(python.missing)(python.title, () => {
  it('three requests on one keep-alive connection', async () => {
    const server = http.createServer((req, res) => res.end(`${req.url}:${req.socket.remotePort}`));
    const port = await listen(server);
    const script = [
      'import http.client, sys',
      `c = http.client.HTTPConnection("127.0.0.1", ${port})`,
      'out = []',
      'for path in ("/a", "/b", "/c"):',
      '    c.request("GET", path)',
      '    out.append(c.getresponse().read().decode())',
      'print(" ".join(out))',
    ].join('\n');
    const result = await within(run('python3', ['-c', script]), 10_000, 'python');
    expect(result.stderr).toBe('');
    const answers = result.stdout.trim().split(' ');
    expect(answers.map((answer) => answer.split(':')[0])).toEqual(['/a', '/b', '/c']);
    expect(new Set(answers.map((answer) => answer.split(':')[1])).size).toBe(1); // one connection
    await close(server);
  });
});

const wrk = needsProgram('wrk', 'wrk against Express on zloop');
describe.skipIf(wrk.missing)(wrk.title, () => {
  it('many keep-alive requests from 10 connections: every answer is a 200 with the whole body', async () => {
    const app = express();
    const body = 'x'.repeat(10_000);
    let served = 0;
    app.get('/', (_req, res) => {
      served++;
      res.send(body);
    });
    const server = http.createServer(app);
    const port = await listen(server);
    const result = await within(run('wrk', ['-t1', '-c10', '-d1s', `http://127.0.0.1:${port}/`]), 20_000, 'wrk');
    expect(result.code).toBe(0);
    expect(result.stdout).not.toMatch(/Non-2xx|Socket errors/);
    const requests = Number(/(\d+) requests in/.exec(result.stdout)?.[1]);
    expect(requests).toBeGreaterThan(0);
    // wrk counts the answers it read whole; the server answered at least as many.
    expect(served).toBeGreaterThanOrEqual(requests);
    await close(server);
  });
});
