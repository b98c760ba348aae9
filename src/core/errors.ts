// The exceptions asyncio defines, as Error subclasses with asyncio's names and messages.

/** The operation was cancelled (a cancelled Future or Task, or a task whose signal aborted). */
export class CancelledError extends Error {
  override name = 'CancelledError';
}

/** A Future was used in a state that does not allow the operation (result() before done). */
export class InvalidStateError extends Error {
  override name = 'InvalidStateError';
}

/** An operation exceeded its deadline (waitFor). */
export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/** readexactly() hit EOF first; `partial` holds the bytes read before EOF. */
export class IncompleteReadError extends Error {
  override name = 'IncompleteReadError';
  readonly partial: Uint8Array;
  readonly expected: number | null;

  constructor(partial: Uint8Array, expected: number | null) {
    const wanted = expected === null ? 'undefined' : String(expected);
    super(`${partial.length} bytes read on a total of ${wanted} expected bytes`);
    this.partial = partial;
    this.expected = expected;
  }
}

/** readuntil() found no separator within the limit; `consumed` bytes are left to read. */
export class LimitOverrunError extends Error {
  override name = 'LimitOverrunError';
  readonly consumed: number;

  constructor(message: string, consumed: number) {
    super(message);
    this.consumed = consumed;
  }
}

/** What a loop hands its exception handler (asyncio's context dict). */
export type ExceptionContext = {
  message?: string;
  exception?: unknown;
  [key: string]: unknown;
};
