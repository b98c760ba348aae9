// The loop zloop/net runs its sockets and servers on: one per thread, made on first use, running
// in the background (it never takes the thread's running-loop slot, so a user's own run() on the
// same thread still works). Two counts drive it, as libuv's handles drive uv_run:
// - active: sockets that are connecting or open and servers that are listening. When it falls to
//   zero the loop is stopped and closed a turn later (its fds go back), and the next use makes a
//   new one.
// - held: the active ones that are ref'd (Node's ref()/unref()). The process stays alive while it
//   is above zero: the reactor's one uv handle is ref'd then, unref'd otherwise.
import { type EventLoop, newEventLoop } from '../io/event-loop.js';

let loop: EventLoop | null = null;
let active = 0;
let held = 0;
let retireScheduled = false;

/** This thread's zloop/net loop, started on first use. */
export function threadLoop(): EventLoop {
  if (loop === null) {
    const made = newEventLoop();
    loop = made;
    made._keepProcessAlive(false);
    void made._runInBackground().then(() => made.close());
    // Whoever asked for it holds it by now (or never will: a listen that failed at once).
    scheduleRetire();
  }
  return loop;
}

/** The zloop/net loop of this thread if there is one now (stats read its counters). */
export function existingThreadLoop(): EventLoop | null {
  return loop;
}

function changeCounts(activeDelta: number, heldDelta: number): void {
  active += activeDelta;
  const heldBefore = held;
  held += heldDelta;
  if (active < 0 || held < 0 || held > active) throw new Error(`zloop/net: counts out of balance (active ${active}, held ${held})`);
  if (heldBefore === 0 && held > 0) threadLoop()._keepProcessAlive(true);
  else if (heldBefore > 0 && held === 0 && loop !== null) loop._keepProcessAlive(false);
  if (active === 0) scheduleRetire();
}

function scheduleRetire(): void {
  if (retireScheduled || loop === null) return;
  // A turn later, so that a close followed at once by a new socket keeps the loop.
  retireScheduled = true;
  setImmediate(retireIfUnused);
}

function retireIfUnused(): void {
  retireScheduled = false;
  if (active !== 0 || loop === null) return;
  const retiring = loop;
  loop = null;
  retiring.stop();
}

/** One socket's or server's share of the counts; activate/deactivate and ref/unref are idempotent. */
export class Hold {
  #active = false;
  #wanted = true;

  /** It has started (connecting, open, listening). */
  activate(): void {
    if (this.#active) return;
    this.#active = true;
    changeCounts(1, this.#wanted ? 1 : 0);
  }

  /** It has ended: it holds nothing any more, whatever ref() says. */
  deactivate(): void {
    if (!this.#active) return;
    this.#active = false;
    changeCounts(-1, this.#wanted ? -1 : 0);
  }

  ref(): void {
    if (this.#wanted) return;
    this.#wanted = true;
    if (this.#active) changeCounts(0, 1);
  }

  unref(): void {
    if (!this.#wanted) return;
    this.#wanted = false;
    if (this.#active) changeCounts(0, -1);
  }
}
