// The loop zloop/net runs its sockets and servers on: one per thread, made on first use, running
// in the background from then on (it never takes the thread's running-loop slot, so a user's own
// run() on the same thread still works). It keeps the process alive only while something holds
// it: a ref'd socket that is connecting or open, a ref'd listening server. Node's handles do the
// same through uv_ref/uv_unref; here the holds are counted and the reactor's one uv handle is
// ref'd while the count is above zero.
import { type EventLoop, newEventLoop } from '../io/event-loop.js';

let loop: EventLoop | null = null;
let holds = 0;

/** This thread's zloop/net loop, started on first use. */
export function threadLoop(): EventLoop {
  if (loop === null || loop.isClosed()) {
    loop = newEventLoop();
    loop._runInBackground();
    holds = 0;
    loop._keepProcessAlive(false);
  }
  return loop;
}

/** A ref'd socket or server: the process stays alive until the matching release(). */
function hold(): void {
  if (holds++ === 0) threadLoop()._keepProcessAlive(true);
}

function release(): void {
  if (holds <= 0) throw new Error('zloop/net: release() without hold()');
  if (--holds === 0 && loop !== null && !loop.isClosed()) loop._keepProcessAlive(false);
}

/** One ref'd-or-not hold, as Node's ref()/unref() on a handle: idempotent in both directions. */
export class Hold {
  #held = false;
  #wanted = true;
  #active = false;

  /** The thing has started (connecting, open, listening): it holds the loop if it is ref'd. */
  activate(): void {
    this.#active = true;
    this.#update();
  }

  /** The thing has ended: it holds nothing any more, whatever ref() says. */
  deactivate(): void {
    this.#active = false;
    this.#update();
  }

  ref(): void {
    this.#wanted = true;
    this.#update();
  }

  unref(): void {
    this.#wanted = false;
    this.#update();
  }

  #update(): void {
    const shouldHold = this.#active && this.#wanted;
    if (shouldHold === this.#held) return;
    this.#held = shouldHold;
    if (shouldHold) hold();
    else release();
  }
}
