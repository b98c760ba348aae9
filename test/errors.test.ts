// The exception classes asyncio defines, with asyncio's names and messages.
import { describe, expect, it } from 'vitest';
import { CancelledError, IncompleteReadError, InvalidStateError, LimitOverrunError, TimeoutError } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';

trackLeaks();

describe('error classes', () => {
  it('CancelledError, InvalidStateError and TimeoutError are named Error subclasses', () => {
    for (const [Class, name] of [
      [CancelledError, 'CancelledError'],
      [InvalidStateError, 'InvalidStateError'],
      [TimeoutError, 'TimeoutError'],
    ] as const) {
      const error = new Class('message here');
      expect(error).toBeInstanceOf(Error);
      expect(error).toBeInstanceOf(Class);
      expect(error.name).toBe(name);
      expect(error.message).toBe('message here');
      expect(String(error)).toBe(`${name}: message here`);
      expect(error.stack).toMatch(new RegExp(`^${name}: message here\\n`));
    }
    expect(new CancelledError()).not.toBeInstanceOf(TimeoutError);
    expect(new TimeoutError().message).toBe('');
  });

  it("IncompleteReadError keeps the partial bytes and the expected count, with asyncio's message", () => {
    const partial = new Uint8Array([1, 2, 3]);
    const error = new IncompleteReadError(partial, 10);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('IncompleteReadError');
    expect(error.partial).toBe(partial);
    expect(error.expected).toBe(10);
    expect(error.message).toBe('3 bytes read on a total of 10 expected bytes');
    const open = new IncompleteReadError(new Uint8Array(0), null);
    expect(open.expected).toBe(null);
    expect(open.message).toBe('0 bytes read on a total of undefined expected bytes');
  });

  it('LimitOverrunError keeps the message and how many bytes were consumed', () => {
    const error = new LimitOverrunError('Separator is not found, and chunk exceed the limit', 65536);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('LimitOverrunError');
    expect(error.message).toBe('Separator is not found, and chunk exceed the limit');
    expect(error.consumed).toBe(65536);
  });
});
