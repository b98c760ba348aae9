// OS errors in Node's shape: message "connect ECONNREFUSED 127.0.0.1:8080", with code, errno
// (negative, as libuv reports it), syscall, and address/port when there is one.
import { getSystemErrorName } from 'node:util';

export interface SystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  address?: string;
  port?: number;
}

/** `errno` is positive (as the reactor reports it) or negative (as libuv does). */
export function systemError(errno: number, syscall: string, address?: string, port?: number): SystemError {
  const negative = -Math.abs(errno);
  let code: string;
  try {
    code = getSystemErrorName(negative);
  } catch {
    code = `Unknown system error ${negative}`;
  }
  let where = '';
  if (address !== undefined) where = port !== undefined && port !== null ? ` ${address}:${port}` : ` ${address}`;
  const error = new Error(`${syscall} ${code}${where}`) as SystemError;
  error.errno = negative;
  error.code = code;
  error.syscall = syscall;
  if (address !== undefined) error.address = address;
  if (port !== undefined) error.port = port;
  return error;
}

/** Errors a peer causes by going away; asyncio closes the transport without logging them. */
export function isConnectionLostError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ESHUTDOWN' || code === 'ECONNABORTED' || code === 'ETIMEDOUT';
}
