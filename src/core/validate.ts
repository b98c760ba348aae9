// Argument checks at the public edge. Messages name the argument, as Node's and piscina's do.

/** Any function: the arguments it takes are checked where it is scheduled (a generic signature). */
export type Callback = (...args: never[]) => unknown;
/** How a scheduled callback is called: with the arguments given with it. */
export type Invocable = (...args: unknown[]) => unknown;

/** Node's codes for a bad argument: the type is wrong, the value is wrong, a number is out of range. */
export function argTypeError(message: string): TypeError & { code: string } {
  return codedError(new TypeError(message), 'ERR_INVALID_ARG_TYPE');
}

export function argValueError(message: string): TypeError & { code: string } {
  return codedError(new TypeError(message), 'ERR_INVALID_ARG_VALUE');
}

/** A value of the right type outside what the argument admits (Node's RangeError form). */
export function argRangeError(message: string, code = 'ERR_OUT_OF_RANGE'): RangeError & { code: string } {
  return codedError(new RangeError(message), code);
}

export function checkCallback(value: unknown, name: string): asserts value is Callback {
  if (typeof value !== 'function') {
    throw argTypeError(`${name} must be a function, not ${describeType(value)}`);
  }
}

/** A delay or a time in seconds: any number but NaN (Infinity means "never"). */
export function checkSeconds(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number') {
    throw argTypeError(`${name} must be a number of seconds, not ${describeType(value)}`);
  }
  if (Number.isNaN(value)) throw argRangeError(`${name} must be a number of seconds, not NaN`);
}

export function checkFd(value: unknown, name = 'fd'): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw argTypeError(`${name} must be an integer file descriptor, not ${describeType(value)}`);
  }
  if (value < 0 || value > 0x7fffffff) throw argRangeError(`${name} must be >= 0, got ${value}`);
}

/** An optional AbortSignal option: the signal, or null when absent. */
export function checkSignal(value: unknown, name: string): AbortSignal | null {
  if (value === undefined || value === null) return null;
  if (!(value instanceof AbortSignal)) throw argTypeError(`${name} must be an AbortSignal, not ${describeType(value)}`);
  return value;
}

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  if (type === 'object') return `an instance of ${(value as object).constructor?.name ?? 'Object'}`;
  return `type ${type} (${String(value)})`;
}

/** A TypeError or RangeError with Node's `code` (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE, ...). */
export function codedError<E extends Error>(error: E, code: string): E & { code: string } {
  return Object.assign(error, { code });
}

/** A byte count: an integer (negative where the caller gives that a meaning), never 2.5 or NaN. */
export function checkInteger(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number') {
    throw codedError(new TypeError(`The "${name}" argument must be of type number. Received ${describeType(value)}`), 'ERR_INVALID_ARG_TYPE');
  }
  if (!Number.isInteger(value)) {
    throw codedError(new RangeError(`The value of "${name}" is out of range. It must be an integer. Received ${value}`), 'ERR_OUT_OF_RANGE');
  }
}

/**
 * A TCP/UDP port: an integer 0..65535, or a string of digits (as Node's net and asyncio accept).
 * One check for every place that takes a port. TypeError for a non-number, RangeError (Node's
 * ERR_SOCKET_BAD_PORT) outside the range.
 */
export function checkPort(port: unknown, name: string): number {
  const value = typeof port === 'string' && /^\d+$/.test(port) ? Number(port) : port;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw codedError(new TypeError(`${name} must be an integer, got ${String(port)}`), 'ERR_INVALID_ARG_TYPE');
  }
  if (value < 0 || value > 65535) throw codedError(new RangeError(`${name} must be >= 0 and <= 65535, got ${value}`), 'ERR_SOCKET_BAD_PORT');
  return value;
}
