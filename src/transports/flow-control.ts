// Write-buffer water marks for transports (asyncio's _FlowControlMixin): the protocol's
// pauseWriting() runs once the buffer passes the high mark and resumeWriting() once it drains to
// the low mark, each at most once in a row. TCP, Unix, TLS, UDP and pipe transports share it.
import type { ExceptionContext } from '../core/loop-types.js';
import { argRangeError, argTypeError } from '../core/validate.js';

/** asyncio's default high-water mark; the low-water mark defaults to a quarter of it. */
export const DEFAULT_HIGH_WATER = 64 * 1024;

export type FlowProtocol = { pauseWriting?(): void; resumeWriting?(): void };
type ExceptionOwner = { callExceptionHandler(context: ExceptionContext): void };

export class WriteFlowControl {
  readonly #loop: ExceptionOwner;
  readonly #transport: object;
  readonly #protocol: () => FlowProtocol;
  #high = DEFAULT_HIGH_WATER;
  #low = DEFAULT_HIGH_WATER / 4;
  #paused = false;

  /** `protocol` is read at each call, so a transport's setProtocol() is followed. */
  constructor(loop: ExceptionOwner, transport: object, protocol: () => FlowProtocol) {
    this.#loop = loop;
    this.#transport = transport;
    this.#protocol = protocol;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** asyncio's set_write_buffer_limits, then the marks are applied to the current `size`. */
  setLimits(high: number | null | undefined, low: number | null | undefined, size: number): void {
    let highWater = high ?? null;
    let lowWater = low ?? null;
    if (highWater === null) highWater = lowWater === null ? DEFAULT_HIGH_WATER : 4 * lowWater;
    if (lowWater === null) lowWater = Math.floor(highWater / 4);
    if (typeof highWater !== 'number' || typeof lowWater !== 'number' || Number.isNaN(highWater) || Number.isNaN(lowWater)) {
      throw argTypeError('high and low must be numbers');
    }
    if (!(highWater >= lowWater && lowWater >= 0)) {
      throw argRangeError(`high (${highWater}) must be >= low (${lowWater}) must be >= 0`);
    }
    this.#high = highWater;
    this.#low = lowWater;
    this.update(size);
  }

  limits(): [low: number, high: number] {
    return [this.#low, this.#high];
  }

  /** Pauses the protocol past the high mark, resumes it at or below the low mark. */
  update(size: number): void {
    if (size > this.#high) this.#pause();
    else if (size <= this.#low) this.#resume();
  }

  #pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#call('pauseWriting');
  }

  #resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#call('resumeWriting');
  }

  #call(method: 'pauseWriting' | 'resumeWriting'): void {
    const protocol = this.#protocol();
    try {
      protocol[method]?.();
    } catch (exception) {
      this.#loop.callExceptionHandler({ message: `protocol.${method}() failed`, exception, transport: this.#transport, protocol });
    }
  }
}
