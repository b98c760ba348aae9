// comlink Endpoints: one over a Node MessagePort or Worker (supervisor <-> shard control), and
// one over two loops' mailboxes (comlink between loops, on the native cross-thread channel).
import type { TransferListItem } from 'node:worker_threads';
import type { EventLoop } from '../io/event-loop.js';
import { LoopRef } from './threadsafe.js';

// comlink's types name DOM globals (EventListenerOrEventListenerObject, MessageEvent, Transferable)
// that a Node project does not load, so neither the listeners nor the endpoints use them: a
// project type-checking zloop's .d.ts files (skipLibCheck off) must not need the DOM library.

/**
 * What comlink's `wrap()` and `expose()` take (comlink's Endpoint), declared without DOM types.
 * Listeners are `object` because comlink passes DOM EventListeners; methods compare their
 * parameters both ways, so a MessageEndpoint is a comlink Endpoint.
 */
export interface MessageEndpoint {
  postMessage(message: unknown, transfer?: readonly unknown[]): void;
  addEventListener(type: string, listener: object, options?: object): void;
  removeEventListener(type: string, listener: object, options?: object): void;
}

type MessageLike = { data: unknown };
type Listener = ((event: MessageLike) => void) | { handleEvent(event: MessageLike): void };
type EndpointShape = {
  postMessage(message: unknown, transfer?: unknown[]): void;
  addEventListener(type: string, listener: Listener): void;
  removeEventListener(type: string, listener: Listener): void;
};

/** A worker_threads Worker, MessagePort or parentPort: what nodeEndpoint() wraps. */
export interface NodePort {
  postMessage(message: unknown, transfer?: readonly TransferListItem[]): void;
  on(event: 'message', listener: (data: unknown) => void): unknown;
  off(event: 'message', listener: (data: unknown) => void): unknown;
}

/** A comlink Endpoint over a worker_threads Worker, MessagePort or parentPort. */
export function nodeEndpoint(port: NodePort): MessageEndpoint {
  const adapters = new Map<Listener, (data: unknown) => void>();
  const endpoint: EndpointShape = {
    postMessage: (message, transfer) => port.postMessage(message, transfer as readonly TransferListItem[] | undefined),
    addEventListener(_type, listener) {
      const adapter = (data: unknown): void => deliver(listener, data);
      adapters.set(listener, adapter);
      port.on('message', adapter);
    },
    removeEventListener(_type, listener) {
      const adapter = adapters.get(listener);
      if (adapter === undefined) return;
      adapters.delete(listener);
      port.off('message', adapter);
    },
  };
  return endpoint as unknown as MessageEndpoint;
}

/**
 * A comlink Endpoint from `loop` to the loop behind `peer`, over their mailboxes. Both sides make
 * one with the same `channel` name, each pointing at the other. Messages are structured-cloned;
 * transferables (MessagePorts, transferred ArrayBuffers) cannot cross this channel.
 */
export function loopEndpoint(loop: EventLoop, peer: LoopRef | { buffer: SharedArrayBuffer }, channel = 'comlink'): MessageEndpoint {
  const target = LoopRef.from(peer);
  const name = `zloop.comlink:${channel}`;
  const listeners = new Set<Listener>();
  loop.registerThreadsafe(name, (data: unknown) => {
    for (const listener of listeners) deliver(listener, data);
  });
  const endpoint: EndpointShape = {
    postMessage(message) {
      // Like a MessagePort whose other end closed, a closed loop drops what is sent to it
      // (comlink posts release messages from finalizers, long after either side may be gone).
      if (!target.isOpen()) return;
      try {
        target.callSoonThreadsafe(name, message);
      } catch (error) {
        if (target.isOpen()) throw error;
      }
    },
    addEventListener: (_type, listener) => void listeners.add(listener),
    removeEventListener: (_type, listener) => void listeners.delete(listener),
  };
  return endpoint as unknown as MessageEndpoint;
}

function deliver(listener: Listener, data: unknown): void {
  const event: MessageLike = { data };
  if (typeof listener === 'function') listener(event);
  else listener.handleEvent(event);
}
