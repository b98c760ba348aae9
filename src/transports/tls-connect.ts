// Making TLS connections: a server factory whose accepted connections speak TLS, a client
// connection's raw protocol, and loop.startTls for a connection that is already open.
import type { IoLoop } from '../io/io-loop.js';
import type { AnyProtocol } from '../net/protocols.js';
import type { Transport } from './socket.js';
import { type HandshakeDone, SSLTransport } from './tls.js';
import type { SSLProtocol } from './tls-raw-protocol.js';
import { resolveTls, type SslOption, type StartTlsOptions, type TlsSetup } from './tls-setup.js';
import { argTypeError, argValueError } from '../core/validate.js';

/** Wraps a protocol factory so each accepted connection speaks TLS (createServer with ssl). */
export function tlsServerFactory(loop: IoLoop, factory: () => AnyProtocol, setup: TlsSetup): () => AnyProtocol {
  return () => new SSLTransport(loop, factory(), setup, true, null)._rawProtocol;
}

/** Makes the raw protocol for a client connection; `handshake` settles when the handshake does. */
export function tlsClient<P extends AnyProtocol>(
  loop: IoLoop,
  protocol: P,
  setup: TlsSetup,
  callConnectionMade = true,
): { rawProtocol: SSLProtocol; transport: SSLTransport; handshake: Promise<SSLTransport> } {
  let settle!: HandshakeDone;
  const handshake = new Promise<SSLTransport>((resolve, reject) => {
    settle = (error, transport) => (error === null ? resolve(transport!) : reject(error));
  });
  const transport = new SSLTransport(loop, protocol, setup, callConnectionMade, settle);
  return { rawProtocol: transport._rawProtocol, transport, handshake };
}

/**
 * loop.startTls: switches `transport` (already connected, carrying `protocol`) to TLS and resolves
 * to the new transport once the handshake is done. The protocol's connectionMade is not called
 * again, as in asyncio; the old transport must not be used afterwards.
 */
export async function startTls(
  loop: IoLoop,
  transport: Transport,
  protocol: AnyProtocol,
  sslContext: SslOption,
  options: StartTlsOptions = {},
): Promise<SSLTransport> {
  if (transport === null || typeof transport !== 'object' || typeof transport.setProtocol !== 'function') {
    throw argTypeError('transport must be a zloop Transport');
  }
  if (transport instanceof SSLTransport) throw argValueError('transport is already a TLS transport');
  if (transport.isClosing()) throw new Error('transport is closing');
  const serverSide = Boolean(options.serverSide);
  const setup = resolveTls(
    {
      ssl: sslContext,
      serverHostname: options.serverHostname,
      sslHandshakeTimeout: options.sslHandshakeTimeout,
      sslShutdownTimeout: options.sslShutdownTimeout,
    },
    serverSide,
    null,
  );
  if (setup === null) throw argTypeError('sslContext must be true, a tls.SecureContext or options for tls.createSecureContext');
  const client = tlsClient(loop, protocol, setup, false);
  // Hand over reading first so no byte of the handshake goes to the old protocol.
  transport.pauseReading();
  transport.setProtocol(client.rawProtocol);
  client.rawProtocol.connectionMade(transport);
  transport.resumeReading();
  return client.handshake;
}
