// TLS options (asyncio's ssl, server_hostname and timeouts), settled once per server or
// connection into a TlsSetup, and the tls.TLSSocket made over a transport's Duplex with it.
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { argRangeError, argTypeError } from '../core/validate.js';

/** asyncio's defaults, in seconds. */
export const SSL_HANDSHAKE_TIMEOUT = 60;
export const SSL_SHUTDOWN_TIMEOUT = 30;

/** Options for tls.createSecureContext, plus the verification settings a context does not hold. */
export type SslOptions = tls.SecureContextOptions & {
  /** Clients: refuse a certificate that does not verify (default true). Servers: with requestCert. */
  rejectUnauthorized?: boolean;
  /** Servers: ask the client for a certificate. */
  requestCert?: boolean;
  /** Clients: the host name check (default tls.checkServerIdentity). */
  checkServerIdentity?: (hostname: string, cert: tls.PeerCertificate) => Error | undefined;
  ALPNProtocols?: string[];
};

/** `true` (clients: Node's default CAs), a tls.SecureContext, or options for tls.createSecureContext. */
export type SslOption = true | tls.SecureContext | SslOptions;

export type TlsOptions = {
  ssl?: SslOption | null | false;
  /** The name the certificate must match and the SNI name (clients; defaults to the host). */
  serverHostname?: string | null;
  /** Seconds the handshake may take before the connection is aborted (default 60). */
  sslHandshakeTimeout?: number | null;
  /** Seconds close() waits for the peer's close_notify before aborting (default 30). */
  sslShutdownTimeout?: number | null;
};

export type StartTlsOptions = {
  serverSide?: boolean;
  serverHostname?: string | null;
  sslHandshakeTimeout?: number | null;
  sslShutdownTimeout?: number | null;
};

/** What an SSLTransport needs to know about its context and role; internal to zloop. */
export type TlsSetup = {
  serverSide: boolean;
  secureContext: tls.SecureContext;
  rejectUnauthorized: boolean;
  requestCert: boolean;
  checkServerIdentity: ((hostname: string, cert: tls.PeerCertificate) => Error | undefined) | undefined;
  ALPNProtocols: string[] | undefined;
  serverHostname: string | null;
  handshakeTimeout: number;
  shutdownTimeout: number;
};

let defaultClientContext: tls.SecureContext | null = null;

function isSecureContext(value: unknown): value is tls.SecureContext {
  return typeof value === 'object' && value !== null && value.constructor?.name === 'SecureContext' && 'context' in value;
}

/**
 * Checks the TLS options of createServer/createConnection and friends and makes the secure
 * context once (a server shares it among its connections). Returns null without `ssl`.
 */
export function resolveTls(options: TlsOptions, serverSide: boolean, host: string | null): TlsSetup | null {
  const ssl = options.ssl ?? null;
  if (ssl === null || ssl === false) {
    if (options.serverHostname != null) throw new Error('serverHostname is only meaningful with ssl');
    if (options.sslHandshakeTimeout != null) throw new Error('sslHandshakeTimeout is only meaningful with ssl');
    if (options.sslShutdownTimeout != null) throw new Error('sslShutdownTimeout is only meaningful with ssl');
    return null;
  }
  let secureContext: tls.SecureContext;
  let extra: SslOptions = {};
  if (ssl === true) {
    if (serverSide) throw argTypeError('options.ssl must be a tls.SecureContext or options with a key and certificate for a server');
    defaultClientContext ??= tls.createSecureContext();
    secureContext = defaultClientContext;
  } else if (isSecureContext(ssl)) {
    secureContext = ssl;
  } else if (typeof ssl === 'object') {
    extra = ssl;
    secureContext = tls.createSecureContext(ssl);
  } else {
    throw argTypeError('options.ssl must be true, a tls.SecureContext or options for tls.createSecureContext');
  }
  let serverHostname: string | null = null;
  if (serverSide) {
    if (options.serverHostname != null) throw new Error('serverHostname is only meaningful for client connections');
  } else {
    serverHostname = options.serverHostname ?? host;
    if (typeof serverHostname !== 'string' || serverHostname === '') {
      throw new Error('You must set serverHostname when using ssl without a host');
    }
  }
  return {
    serverSide,
    secureContext,
    rejectUnauthorized: extra.rejectUnauthorized ?? true,
    requestCert: extra.requestCert ?? false,
    checkServerIdentity: extra.checkServerIdentity,
    ALPNProtocols: extra.ALPNProtocols,
    serverHostname,
    handshakeTimeout: checkTimeout(options.sslHandshakeTimeout, 'sslHandshakeTimeout', SSL_HANDSHAKE_TIMEOUT),
    shutdownTimeout: checkTimeout(options.sslShutdownTimeout, 'sslShutdownTimeout', SSL_SHUTDOWN_TIMEOUT),
  };
}

function checkTimeout(value: unknown, name: string, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !(value > 0)) throw argRangeError(`${name} should be a positive number, got ${String(value)}`);
  return value;
}

/** The TLSSocket that speaks TLS over `duplex` (the raw transport), server or client side. */
export function tlsSocketOver(duplex: Duplex, setup: TlsSetup): tls.TLSSocket {
  if (setup.serverSide) {
    return new tls.TLSSocket(duplex as never, {
      isServer: true,
      secureContext: setup.secureContext,
      requestCert: setup.requestCert,
      rejectUnauthorized: setup.rejectUnauthorized,
      ALPNProtocols: setup.ALPNProtocols,
    });
  }
  const host = setup.serverHostname!;
  return tls.connect({
    socket: duplex,
    host,
    // SNI carries names only (RFC 6066); the certificate check still uses `host`.
    servername: isIP(host) === 0 ? host : undefined,
    secureContext: setup.secureContext,
    rejectUnauthorized: setup.rejectUnauthorized,
    ...(setup.checkServerIdentity ? { checkServerIdentity: setup.checkServerIdentity } : {}),
    ALPNProtocols: setup.ALPNProtocols,
    // allowHalfOpen comes from the Duplex: a TLSSocket takes its wrapped socket's setting.
  });
}
