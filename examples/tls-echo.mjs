// TLS on zloop: a server with a certificate and a client that verifies it against its CA, on the
// streams API (`ssl` takes a tls.SecureContext or tls.createSecureContext's options).
// The certificates are the test suite's (test/fixtures/certs, made by make.sh; test keys).
// Run: node examples/tls-echo.mjs
// Prints:
//   cipher: TLSv1.3
//   echoed: secret
import { readFileSync } from 'node:fs';
import { openConnection, run, startServer } from 'zloop';

const cert = (name) => readFileSync(new URL(`../test/fixtures/certs/${name}`, import.meta.url));

await run(async () => {
  const server = await startServer(
    async (reader, writer) => {
      writer.write(await reader.readline());
      await writer.drain();
      writer.close();
    },
    '127.0.0.1', 0,
    { ssl: { key: cert('server.key'), cert: cert('server.crt') } },
  );
  const [, port] = server.sockets[0].getsockname();

  const [reader, writer] = await openConnection('127.0.0.1', port, {
    ssl: { ca: cert('ca.crt') },
    serverHostname: 'localhost',
  });
  console.log(`cipher: ${writer.getExtraInfo('cipher')?.version}`);
  writer.write('secret\n');
  console.log(`echoed: ${String(await reader.readline()).trimEnd()}`);
  writer.close();
  await writer.waitClosed();
  server.close();
  await server.waitClosed();
});
