// Certificates for the TLS suites, committed in test/fixtures/certs (made by its make.sh, valid
// for 100 years) so the suites run where openssl is not installed: a CA, a server certificate for
// localhost and 127.0.0.1 signed by it, a client certificate signed by it, and a self-signed
// certificate for the same names.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export type Certs = {
  dir: string;
  caCert: Buffer;
  serverKey: Buffer;
  serverCert: Buffer;
  clientKey: Buffer;
  clientCert: Buffer;
  selfKey: Buffer;
  selfCert: Buffer;
  path: (name: string) => string;
  remove: () => void;
};

const dir = fileURLToPath(new URL('../fixtures/certs/', import.meta.url));

export function makeCerts(): Certs {
  const read = (name: string) => readFileSync(join(dir, name));
  return {
    dir,
    caCert: read('ca.crt'),
    serverKey: read('server.key'),
    serverCert: read('server.crt'),
    clientKey: read('client.key'),
    clientCert: read('client.crt'),
    selfKey: read('self.key'),
    selfCert: read('self.crt'),
    path: (name) => join(dir, name),
    // The files are fixtures: nothing to remove.
    remove: () => {},
  };
}
