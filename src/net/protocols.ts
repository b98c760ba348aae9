// Protocol base classes (asyncio protocols.py), with no-op defaults so a subclass overrides only
// what it needs. Call order, as asyncio documents it:
//
//   Protocol:          connectionMade -> dataReceived* -> eofReceived? -> connectionLost
//   BufferedProtocol:  connectionMade -> (getBuffer -> bufferUpdated)* -> eofReceived? -> connectionLost
//
// pauseWriting and resumeWriting alternate, each at most once in a row, between connectionMade
// and connectionLost. The Transport interface is here too: the two halves of a connection refer
// to each other, so they are declared side by side (asyncio's transports.py and protocols.py).

import type { ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { CipherNameAndProtocol, PeerCertificate, SecureContext, TLSSocket } from 'node:tls';

/** A socket's address: [host, port] for TCP and UDP, the path for a Unix socket. */
export type SocketAddress = [host: string, port: number] | string;

/** What getExtraInfo('socket') returns: a view of the transport's socket, not the socket. */
export interface SocketInfo {
  readonly fd: number;
  readonly family: 'IPv4' | 'IPv6' | 'unix';
  getsockname(): SocketAddress | null;
  getpeername(): SocketAddress | null;
}

/**
 * The names getExtraInfo() knows and what each returns (asyncio's names; TLS's also in camelCase).
 * A name a transport does not have gives the default value.
 */
export interface ExtraInfo {
  socket: SocketInfo;
  sockname: SocketAddress;
  peername: SocketAddress;
  peercert: PeerCertificate;
  cipher: CipherNameAndProtocol;
  sslObject: TLSSocket;
  ssl_object: TLSSocket;
  sslcontext: SecureContext;
  alpnProtocol: string;
  compression: null;
  /** A pipe transport's fd (fileno()), or a subprocess pipe's Node stream. */
  pipe: { fileno(): number } | Readable | Writable;
  subprocess: ChildProcess;
}

/** The transport interface of asyncio (ReadTransport + WriteTransport), as zloop implements it. */
export interface Transport {
  write(data: Uint8Array | ArrayBufferView | string): void;
  writelines(list: Iterable<Uint8Array | ArrayBufferView | string>): void;
  writeEof(): void;
  canWriteEof(): boolean;
  close(): void;
  abort(): void;
  isClosing(): boolean;
  pauseReading(): void;
  resumeReading(): void;
  isReading(): boolean;
  setWriteBufferLimits(high?: number | null, low?: number | null): void;
  getWriteBufferLimits(): [low: number, high: number];
  getWriteBufferSize(): number;
  getExtraInfo<K extends keyof ExtraInfo>(name: K, defaultValue?: ExtraInfo[K]): ExtraInfo[K] | undefined;
  getExtraInfo(name: string, defaultValue?: unknown): unknown;
  getProtocol(): AnyProtocol;
  setProtocol(protocol: AnyProtocol): void;
}


export class BaseProtocol {
  /** Called once, when the connection is made; `transport` is the connection. */
  connectionMade(_transport: Transport): void {}

  /** Called once, when the connection is closed: `exc` is null for a clean close or EOF. */
  connectionLost(_exc: Error | null): void {}

  /** The transport's write buffer went over its high-water mark. */
  pauseWriting(): void {}

  /** The transport's write buffer drained to its low-water mark. */
  resumeWriting(): void {}
}

export class Protocol extends BaseProtocol {
  /**
   * Bytes arrived. `data` is a Buffer of its own: it stays valid forever and the loop never
   * reuses its memory, so a protocol may keep it without copying.
   */
  dataReceived(_data: Buffer): void {}

  /** The peer finished sending. Return true to keep the connection half-open (we can still write). */
  eofReceived(): boolean | void {
    return undefined;
  }
}

export class BufferedProtocol extends BaseProtocol {
  /**
   * Returns the buffer the next bytes are copied into; `sizeHint` is how many bytes are waiting
   * (a hint: any non-empty buffer works). The loop writes only the first `bufferUpdated(n)` bytes
   * and does not keep the buffer after that call.
   */
  getBuffer(_sizeHint: number): Uint8Array {
    throw new Error('BufferedProtocol.getBuffer() must be implemented');
  }

  /** `nbytes` bytes were written at the start of the buffer getBuffer() returned. */
  bufferUpdated(_nbytes: number): void {}

  eofReceived(): boolean | void {
    return undefined;
  }
}

/** What a transport calls on its protocol; Protocol and BufferedProtocol both satisfy it. */
export type AnyProtocol = BaseProtocol & {
  dataReceived?(data: Buffer): void;
  getBuffer?(sizeHint: number): Uint8Array;
  bufferUpdated?(nbytes: number): void;
  eofReceived?(): boolean | void;
};

export type ProtocolFactory<P extends AnyProtocol = AnyProtocol> = () => P;
