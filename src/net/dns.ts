// getaddrinfo and getnameinfo on Node's resolver (libuv's threadpool getaddrinfo), shaped as
// asyncio returns them.
import { lookup, lookupService } from 'node:dns/promises';
import { argRangeError, argTypeError } from '../core/validate.js';

/** Address families as the OS numbers them (Linux: AF_INET 2, AF_INET6 10). */
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = process.platform === 'linux' ? 10 : 30;
export const SOCK_STREAM = 1;
export const IPPROTO_TCP = 6;

export type AddrInfo = [family: number, type: number, proto: number, canonname: string, sockaddr: [string, number]];

export type GetaddrinfoOptions = { family?: number; type?: number; proto?: number; flags?: number };

/** asyncio's loop.getaddrinfo: a list of (family, type, proto, canonname, [host, port]). */
export async function getaddrinfo(
  host: string | null,
  port: number | string | null,
  options: GetaddrinfoOptions = {},
): Promise<AddrInfo[]> {
  const family = options.family ?? AF_UNSPEC;
  const portNumber = port === null || port === undefined ? 0 : Number(port);
  if (!Number.isInteger(portNumber) || portNumber < 0 || portNumber > 65535) {
    throw argRangeError(`port must be an integer from 0 to 65535, got ${String(port)}`);
  }
  const nodeFamily = family === AF_INET ? 4 : family === AF_INET6 ? 6 : 0;
  const addresses = await lookup(host ?? 'localhost', { all: true, family: nodeFamily });
  return addresses.map((entry) => [
    entry.family === 6 ? AF_INET6 : AF_INET,
    options.type ?? SOCK_STREAM,
    options.proto ?? IPPROTO_TCP,
    '',
    [entry.address, portNumber],
  ]);
}

/** asyncio's loop.getnameinfo: [host, service] for a [host, port] address. */
export async function getnameinfo(sockaddr: [string, number], _flags = 0): Promise<[string, string]> {
  if (!Array.isArray(sockaddr) || typeof sockaddr[0] !== 'string') {
    throw argTypeError('sockaddr must be a [host, port] pair');
  }
  const { hostname, service } = await lookupService(sockaddr[0], Number(sockaddr[1]));
  return [hostname, service];
}
