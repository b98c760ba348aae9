// An unmodified node:http hello-world app for the http bench: it starts its server at import,
// on PORT (default 0) and HOST (default 127.0.0.1) from the environment.
import http from 'node:http';

http.createServer((_req, res) => res.end('Hello, world!')).listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1');
