// balance: 'roundrobin': the accepting shard hands connections to the others in turn, and no fd
// is lost on the way (the protocol is described at ADOPT_CONNECTION in shard-protocol.ts). This
// file holds both sides: the sender's record of fds in flight and the receiver's adoption.
import type { EventLoop } from '../io/event-loop.js';
import { native } from '../io/native.js';
import { systemError } from '../net/system-error.js';
import type { Server } from '../net/server.js';
import { ADOPT_CONNECTION, CONNECTION_ADOPTED, CONNECTION_REFUSED } from './shard-protocol.js';
import type { LoopRef } from '../threads/threadsafe.js';

export class HandOff {
  readonly #loop: EventLoop;
  readonly #id: number;
  readonly #shardCount: number;
  readonly #peers: Map<number, LoopRef>;
  #server: Server | null = null;
  #next = 0;
  /** Sender side: fds handed off and not yet answered, with the LoopRef they were sent to. */
  readonly #inFlight = new Map<number, { target: number; ref: LoopRef }>();
  #onSettled: (() => void) | null = null;

  /** `peers` is the shard's live map of the other shards' LoopRefs, by shard id. */
  constructor(loop: EventLoop, id: number, shardCount: number, peers: Map<number, LoopRef>) {
    this.#loop = loop;
    this.#id = id;
    this.#shardCount = shardCount;
    this.#peers = peers;
  }

  /** Registers both sides' functions on the loop; `server` serves what this shard adopts. */
  start(server: Server): void {
    this.#server = server;
    this.#loop.registerThreadsafe(ADOPT_CONNECTION, (fd: number, from: number) => this.#adopt(fd, from));
    this.#loop.registerThreadsafe(CONNECTION_ADOPTED, (fd: number) => this.#answered(fd, true));
    this.#loop.registerThreadsafe(CONNECTION_REFUSED, (fd: number) => this.#answered(fd, false));
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /**
   * The accepting shard's router: hands `fd` to the next shard in turn and returns true, or
   * returns false to serve it here (its own turn, or that shard is down). The turn counts every
   * shard, running or not, so a shard that is down does not shift the others' turns.
   */
  readonly route = (fd: number): boolean => {
    const target = this.#next;
    this.#next = (this.#next + 1) % this.#shardCount;
    if (target === this.#id) return false;
    const ref = this.#peers.get(target);
    if (ref === undefined || !ref.isOpen()) return false;
    if (native.detachSocket(this.#loop._reactor, fd) !== 0) return false;
    try {
      ref.callSoonThreadsafe(ADOPT_CONNECTION, fd, this.#id);
    } catch {
      // That shard closed just now: serve the connection here after all.
      const adopted = native.adoptSocket(this.#loop._reactor, fd);
      if (adopted >= 0) return false;
      // It cannot be watched again (epoll_ctl out of memory): it ends rather than leaks.
      native.closeFd(fd);
      this.#loop.callExceptionHandler({ message: 'Shard could not take back a connection', exception: systemError(adopted, 'epoll_ctl') });
      return true;
    }
    this.#inFlight.set(fd, { target, ref });
    return true;
  };

  /** After setPeers(): fds sent to a shard that is gone (or was replaced) come back here. */
  peersChanged(): void {
    for (const [fd, { target, ref }] of [...this.#inFlight]) {
      if (this.#peers.get(target) !== ref || !ref.isOpen()) this.#answered(fd, false);
    }
  }

  /** Resolves once every fd in flight was answered, or after `seconds`. */
  async settled(seconds: number): Promise<void> {
    if (this.#inFlight.size === 0) return;
    await new Promise<void>((resolve) => {
      const timer = this.#loop.callLater(seconds, resolve);
      this.#onSettled = () => {
        timer.cancel();
        resolve();
      };
    });
    this.#onSettled = null;
  }

  /** Closing: the fds still in flight are closed (their clients see the connection end). */
  closeAll(): void {
    for (const fd of this.#inFlight.keys()) native.closeFd(fd);
    this.#inFlight.clear();
  }

  /**
   * Receiver side: take a duplicate of `fd`, tell the sender it may close its own, then serve the
   * duplicate. The answer is in the sender's ring before the protocol's callbacks (user code) run,
   * so a shard that dies in them cannot leave the sender waiting, or serving the fd a second time.
   */
  #adopt(fd: number, from: number): void {
    const sender = this.#peers.get(from);
    const own = native.duplicateFd(fd);
    if (own < 0 || this.#server === null || !this.#server._isAdopting()) {
      if (own >= 0) native.closeFd(own);
      sender?.callSoonThreadsafe(CONNECTION_REFUSED, fd);
      return;
    }
    sender?.callSoonThreadsafe(CONNECTION_ADOPTED, fd);
    sender?.flush();
    try {
      this.#server._adoptConnection(own);
    } catch (error) {
      // Ours alone now: it ends here (the client sees it close) rather than leaking.
      native.closeFd(own);
      this.#loop.callExceptionHandler({ message: 'Shard could not adopt a handed-off connection', exception: error });
    }
  }

  /** Sender side: the receiver answered (or is gone). */
  #answered(fd: number, adopted: boolean): void {
    if (!this.#inFlight.delete(fd)) return;
    if (adopted) native.closeFd(fd);
    else this.#serveHere(fd);
    if (this.#inFlight.size === 0) this.#onSettled?.();
  }

  #serveHere(fd: number): void {
    try {
      if (this.#server === null) throw new Error('not serving');
      this.#server._adoptConnection(fd);
    } catch {
      // This shard is closing too: the connection ends rather than hangs.
      native.closeFd(fd);
    }
  }
}
