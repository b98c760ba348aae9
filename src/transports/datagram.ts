// UDP: createDatagramEndpoint, DatagramTransport and DatagramProtocol (asyncio base_events
// create_datagram_endpoint and selector_events._SelectorDatagramTransport).
//
// The reactor reads datagrams with recvmmsg into the loop's receive buffer, each one preceded by
// its sender's address in a fixed 32-byte form (native.ts DATAGRAM_ADDRESS_BYTES), and reports
// one DATAGRAM record per datagram. sendto() sends at once; a datagram the kernel cannot take now
// (EAGAIN, ENOBUFS) is queued whole in the reactor and sent when the socket is writable, with
// WRITTEN records driving asyncio's write-buffer water marks. Errors of one datagram (an ICMP
// "port unreachable" on a connected socket, EMSGSIZE, ...) go to errorReceived; the endpoint stays.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { AF_INET, AF_INET6, AF_UNSPEC } from '../net/dns.js';
import type { IoLoop } from '../io/io-loop.js';
import { DATAGRAM_ADDRESS_BYTES, DatagramFlag, FailedPhase, native, RecordKind } from '../io/native.js';
import { type SystemError, systemError } from '../net/system-error.js';
import { ReactorSocketTransport } from './socket-core.js';
import { toBytes } from './transport-core.js';
import { checkCallback, checkPort, argTypeError, argValueError } from '../core/validate.js';

/** [host, port], as asyncio's (host, port) tuples; IPv6 hosts without brackets. */
export type DatagramAddress = readonly [host: string, port: number];

/**
 * The protocol of a datagram endpoint, with no-op defaults. Call order:
 *
 *   connectionMade -> (datagramReceived | errorReceived)* -> connectionLost
 *
 * pauseWriting and resumeWriting alternate between connectionMade and connectionLost, when the
 * datagrams the kernel could not take yet pass the transport's high-water mark and drain again.
 */
export class DatagramProtocol {
  connectionMade(_transport: DatagramTransport): void {}

  /**
   * One datagram arrived from `addr`. `data` is a Buffer of its own (the protocol may keep it);
   * `addr` is a frozen [host, port] that the transport may hand out again for the same sender.
   */
  datagramReceived(_data: Buffer, _addr: DatagramAddress): void {}

  /**
   * A send or receive failed for one datagram (for example ECONNREFUSED on a connected endpoint
   * after the peer's port answered "unreachable"). The endpoint stays open.
   */
  errorReceived(_exc: Error): void {}

  connectionLost(_exc: Error | null): void {}

  pauseWriting(): void {}

  resumeWriting(): void {}
}

/** What the transport calls; DatagramProtocol satisfies it, a plain object with these methods does too. */
export type AnyDatagramProtocol = {
  connectionMade(transport: DatagramTransport): void;
  datagramReceived(data: Buffer, addr: DatagramAddress): void;
  errorReceived(exc: Error): void;
  connectionLost(exc: Error | null): void;
  pauseWriting?(): void;
  resumeWriting?(): void;
};

export type CreateDatagramEndpointOptions = {
  /** [host, port] to bind to; port 0 picks a free one. */
  localAddr?: readonly [string, number] | null;
  /** [host, port] to connect to: sendto() then needs no address and ICMP errors are heard. */
  remoteAddr?: readonly [string, number] | null;
  /** AF_INET or AF_INET6 (zloop's exports of the OS numbers); required without either address. */
  family?: number;
  /** SO_REUSEPORT: several sockets may bind the same address and port. */
  reusePort?: boolean;
  /** SO_BROADCAST: datagrams may go to broadcast addresses. */
  allowBroadcast?: boolean;
  /** Not supported, as in asyncio since 3.8 (SO_REUSEADDR lets another process steal UDP datagrams). */
  reuseAddress?: boolean;
};

/** Sender addresses remembered per transport so a busy peer costs no string formatting. */
const ADDRESS_CACHE_MAX = 4096;

export class DatagramTransport extends ReactorSocketTransport<AnyDatagramProtocol> {
  /** The connected peer (remoteAddr as resolved), or null. */
  readonly #address: DatagramAddress | null;
  #sendsAfterLost = 0;
  /** Sends waiting for a host name to resolve keep later sends behind them, in order. */
  #pending: Promise<void> | null = null;
  #pendingCount = 0;
  readonly #addresses = new Map<number, DatagramAddress>();

  /** @internal Made by createDatagramEndpoint; the reactor already reads the socket. */
  constructor(loop: IoLoop, fd: number, family: 'IPv4' | 'IPv6', protocol: AnyDatagramProtocol, address: DatagramAddress | null) {
    super(loop, fd, family, protocol);
    this.#address = address;
  }

  /** @internal */
  _onSocketRecord(kind: number, a: number, b: number): void {
    if (this._lost) return;
    switch (kind) {
      case RecordKind.datagram:
        this.#onDatagram(a, b);
        break;
      case RecordKind.written:
        this._refreshWriteBuffer();
        if (this._bufferSize === 0 && this._closing && this.#pendingCount === 0) this._release(null);
        break;
      case RecordKind.failed:
        this.#errorReceived(systemError(a, b === FailedPhase.write ? 'sendto' : 'recvfrom'));
        break;
    }
  }

  /**
   * Sends `data` as one datagram to `addr`, or to the connected peer when `addr` is omitted.
   * A host name (not an IP address) is resolved first; sends made meanwhile wait behind it.
   * Errors of the send itself go to protocol.errorReceived, as asyncio's do.
   */
  sendto(data: Uint8Array | ArrayBufferView | string, addr?: readonly [string, number] | null): void {
    const bytes = toBytes(data);
    let host: string | null = null;
    let port = 0;
    if (addr !== undefined && addr !== null) {
      if (!Array.isArray(addr) || typeof addr[0] !== 'string') throw argTypeError('addr must be a [host, port] pair');
      port = checkPort(addr[1], 'addr port');
      host = addr[0];
      if (this.#address !== null && (host !== this.#address[0] || port !== this.#address[1])) {
        throw new Error(`Invalid address: must be null or ${this.#address[0]}:${this.#address[1]}`);
      }
      if (this.#address !== null) host = null; // connected: send(), as asyncio does
    }
    if (this._closing || this._lost) {
      if (++this.#sendsAfterLost === 5) console.warn('socket.sendto() raised exception.');
      return;
    }
    // Copied now: the caller may reuse its buffer while a name resolves.
    if (host !== null && isIP(host) === 0) {
      this.#sendLater(Buffer.from(bytes), resolveHost(host, this._family === 'IPv6' ? 6 : 4), port);
      return;
    }
    if (this.#pendingCount > 0) {
      this.#sendLater(Buffer.from(bytes), Promise.resolve(host), port);
      return;
    }
    this.#send(bytes, host, port);
  }

  close(): void {
    if (this._closing) return;
    this._closing = true;
    if (this._lost || this._loop.isClosed()) return;
    this._setReading(false);
    if (this._bufferSize === 0 && this.#pendingCount === 0) this._release(null);
  }

  abort(): void {
    this._closing = true;
    this._release(null);
  }

  // ---- internals --------------------------------------------------------------------------

  #send(bytes: Uint8Array, host: string | null, port: number): void {
    if (this._lost) return;
    const queued = native.sendDatagram(this._loop._reactor, this._fd, bytes, host, port);
    if (queued < 0) {
      this.#errorReceived(systemError(queued, 'sendto', host ?? this.#address?.[0], host === null ? this.#address?.[1] : port));
      return;
    }
    this._bufferSize = queued;
    this._flow.update(queued);
  }

  #sendLater(bytes: Buffer, host: Promise<string | null>, port: number): void {
    this.#pendingCount++;
    const previous = this.#pending ?? Promise.resolve();
    const next = previous
      .then(() => host)
      .then(
        (address) => this.#send(bytes, address, port),
        (error: unknown) => {
          if (!this._lost) this.#errorReceived(error instanceof Error ? error : new Error(String(error)));
        },
      )
      .finally(() => {
        if (--this.#pendingCount === 0) {
          this.#pending = null;
          if (this._closing && this._bufferSize === 0) this._release(null);
        }
      });
    this.#pending = next;
  }

  #onDatagram(offset: number, length: number): void {
    const source = this._loop._receiveBuffer;
    const addr = this.#addressAt(source, offset);
    const start = offset + DATAGRAM_ADDRESS_BYTES;
    // A copy the protocol owns: the receive buffer is reused by the next batch.
    const data = Buffer.allocUnsafe(length);
    source.copy(data, 0, start, start + length);
    try {
      this._protocol.datagramReceived(data, addr);
    } catch (exception) {
      this._fatalError(exception, 'Fatal error: protocol.datagramReceived() call failed.');
    }
  }

  /** The sender's address in front of a datagram (sockets.encodeAddress in native/reactor). */
  #addressAt(source: Buffer, offset: number): DatagramAddress {
    const family = source[offset]!;
    const port = (source[offset + 2]! << 8) | source[offset + 3]!;
    if (family === 4) {
      const ip = source.readUInt32BE(offset + 4);
      const key = ip * 65536 + port;
      let addr = this.#addresses.get(key);
      if (addr === undefined) {
        addr = Object.freeze([`${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`, port] as const);
        if (this.#addresses.size >= ADDRESS_CACHE_MAX) this.#addresses.clear();
        this.#addresses.set(key, addr);
      }
      return addr;
    }
    if (family === 6) {
      const scope = source.readUInt32LE(offset + 24);
      const host = formatIPv6(source.subarray(offset + 8, offset + 24));
      return Object.freeze([scope === 0 ? host : `${host}%${scope}`, port] as const);
    }
    return Object.freeze(['', 0] as const);
  }

  #errorReceived(exc: Error): void {
    try {
      this._protocol.errorReceived(exc);
    } catch (exception) {
      this._fatalError(exception, 'Fatal error: protocol.errorReceived() call failed.');
    }
  }
}

/** asyncio's loop.create_datagram_endpoint. */
export async function createDatagramEndpoint<P extends AnyDatagramProtocol>(
  loop: IoLoop,
  protocolFactory: () => P,
  options: CreateDatagramEndpointOptions = {},
): Promise<[DatagramTransport, P]> {
  checkCallback(protocolFactory, 'protocolFactory');
  if (options === null || typeof options !== 'object') throw argTypeError('options must be an object');
  if (options.reuseAddress) {
    throw new Error('Passing reuseAddress: true is no longer supported, as it is a security risk (use reusePort)');
  }
  const family = options.family ?? AF_UNSPEC;
  if (family !== AF_UNSPEC && family !== AF_INET && family !== AF_INET6) {
    throw new Error(`unexpected address family ${String(family)} (zloop supports AF_INET and AF_INET6 datagram endpoints)`);
  }
  const local = checkAddr(options.localAddr, 'options.localAddr');
  const remote = checkAddr(options.remoteAddr, 'options.remoteAddr');
  let flags = 0;
  if (options.reusePort) flags |= DatagramFlag.reusePort;
  if (options.allowBroadcast) flags |= DatagramFlag.broadcast;

  const wanted = family === AF_INET ? 4 : family === AF_INET6 ? 6 : 0;
  const locals = local === null ? null : await resolveAll(local[0], wanted);
  const remotes = remote === null ? null : await resolveAll(remote[0], wanted);
  const pairs: { family: 4 | 6; local: string | null; remote: string | null }[] = [];
  if (locals === null && remotes === null) {
    if (wanted === 0) throw new Error('unexpected address family: options.family is required without localAddr or remoteAddr');
    pairs.push({ family: wanted, local: null, remote: null });
  } else {
    for (const remoteHost of remotes ?? [null]) {
      for (const localHost of locals ?? [null]) {
        const pairFamily = (isIP(remoteHost ?? localHost!) === 6 ? 6 : 4) as 4 | 6;
        if (localHost !== null && remoteHost !== null && isIP(localHost) !== isIP(remoteHost)) continue;
        pairs.push({ family: pairFamily, local: localHost, remote: remoteHost });
      }
    }
    if (pairs.length === 0) throw new Error('Cannot find a local and a remote address of the same family');
  }

  const errors: SystemError[] = [];
  for (const pair of pairs) {
    const fd = native.openDatagram(loop._reactor, pair.family, pair.local, local?.[1] ?? 0, pair.remote, remote?.[1] ?? 0, flags);
    if (fd < 0) {
      const failedAt = pair.remote !== null ? [pair.remote, remote![1]] : pair.local !== null ? [pair.local, local![1]] : [undefined, undefined];
      errors.push(systemError(fd, pair.remote !== null ? 'connect' : 'bind', failedAt[0] as string | undefined, failedAt[1] as number | undefined));
      continue;
    }
    let protocol: P;
    try {
      protocol = protocolFactory();
    } catch (exception) {
      native.closeSocket(loop._reactor, fd);
      throw exception;
    }
    const address = pair.remote !== null ? (Object.freeze([pair.remote, remote![1]] as const) as DatagramAddress) : null;
    const transport = new DatagramTransport(loop, fd, pair.family === 6 ? 'IPv6' : 'IPv4', protocol, address);
    transport._start();
    return [transport, protocol];
  }
  throw errors[0]!;
}

function checkAddr(value: unknown, name: string): readonly [string, number] | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') {
    throw argValueError(`${name}: Unix datagram sockets are not supported; pass a [host, port] pair`);
  }
  if (!Array.isArray(value) || value.length < 2 || typeof value[0] !== 'string') {
    throw argTypeError(`${name} must be a [host, port] pair`);
  }
  return [value[0], checkPort(value[1], `${name} port`)];
}


async function resolveAll(host: string, family: 0 | 4 | 6): Promise<string[]> {
  if (isIP(host) !== 0) {
    if (family !== 0 && isIP(host) !== family) throw new Error(`${host} is not an IPv${family} address`);
    return [host];
  }
  const entries = await lookup(host, { all: true, family });
  if (entries.length === 0) throw new Error(`getaddrinfo() returned empty list for ${host}`);
  return [...new Set(entries.map((entry) => entry.address))];
}

async function resolveHost(host: string, family: 4 | 6): Promise<string> {
  const entries = await lookup(host, { all: true, family });
  if (entries.length === 0) throw new Error(`getaddrinfo() returned empty list for ${host}`);
  return entries[0]!.address;
}

/** RFC 5952 text of 16 address bytes: lower case, the longest run of zero groups as '::'. */
export function formatIPv6(bytes: Uint8Array): string {
  if (bytes.subarray(0, 10).every((byte) => byte === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  const groups: number[] = [];
  for (let index = 0; index < 16; index += 2) groups.push((bytes[index]! << 8) | bytes[index + 1]!);
  let bestStart = -1;
  let bestLength = 1; // a single zero group is not compressed
  for (let index = 0; index < 8; ) {
    if (groups[index] !== 0) {
      index++;
      continue;
    }
    let end = index;
    while (end < 8 && groups[end] === 0) end++;
    if (end - index > bestLength) {
      bestStart = index;
      bestLength = end - index;
    }
    index = end;
  }
  const text = groups.map((group) => group.toString(16));
  if (bestStart < 0) return text.join(':');
  return `${text.slice(0, bestStart).join(':')}::${text.slice(bestStart + bestLength).join(':')}`;
}
