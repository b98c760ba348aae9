// An unmodified node:http app answering every request with 16 KiB of JSON (serialized per
// request, as an API server does), on PORT and HOST from the environment.
import http from 'node:http';

const items = Array.from({ length: 160 }, (_, id) => ({ id, name: `item-${id}`, tags: ['alpha', 'beta'], price: id * 1.25, ok: id % 2 === 0 }));
const probe = JSON.stringify({ items });
// Pad to 16 KiB exactly, so the size does not depend on the numbers above.
const payload = { items, pad: 'x'.repeat(Math.max(0, 16 * 1024 - probe.length - 9)) };

http
  .createServer((_req, res) => {
    const body = JSON.stringify(payload);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  })
  .listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1');
