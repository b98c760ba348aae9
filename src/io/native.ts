// The typed view of the Zig addon (build/zloop.node) and the layout of the memory it shares with
// JS. Keep the constants in sync with native/reactor/reactor.zig.
import { createRequire } from 'node:module';
import { resolveAddon } from './addon-path.js';

/** An opaque reference to one native reactor (an N-API external). */
export type ReactorHandle = { readonly __reactor: unique symbol };

export interface NativeAddon {
  create(shared: Int32Array, receiveBuffer: Uint8Array, onBatch: (recordCount: number) => void): ReactorHandle;
  start(reactor: ReactorHandle): void;
  stop(reactor: ReactorHandle): void;
  close(reactor: ReactorHandle): void;
  wake(reactor: ReactorHandle): void;
  armTimer(reactor: ReactorHandle, delayMs: number): void;
  /** Whether the polling reactor keeps the thread's libuv loop (the process) alive; on by default. */
  keepAlive(reactor: ReactorHandle, keep: boolean): void;
  setInterest(reactor: ReactorHandle, fd: number, nextMask: number, previousMask: number): void;
  reactorsOpen(): number;

  // Sockets: these return an fd or a byte count, or a negative errno (JS builds the error).
  listen(reactor: ReactorHandle, host: string, port: number, backlog: number, flags: number): number;
  listenUnix(reactor: ReactorHandle, path: string, backlog: number, flags: number): number;
  connect(reactor: ReactorHandle, host: string, port: number, localHost: string | null, localPort: number): number;
  connectUnix(reactor: ReactorHandle, path: string): number;
  /** Sends now if nothing is queued; returns the bytes still queued after the call. */
  write(reactor: ReactorHandle, fd: number, data: Uint8Array): number;
  /** write() of a string's UTF-8 bytes, encoded in native memory in one pass (`length`: data.length): bytes encoded, or -errno. */
  writeString(reactor: ReactorHandle, fd: number, data: string, length: number): number;
  shutdownWrite(reactor: ReactorHandle, fd: number): number;
  setReading(reactor: ReactorHandle, fd: number, reading: boolean): number;
  closeSocket(reactor: ReactorHandle, fd: number): void;
  /** Shuts the write side and closes once the peer's EOF came (what it still sends is dropped). */
  closeGracefully(reactor: ReactorHandle, fd: number): void;
  /** Ends a graceful close that is still waiting for the peer. */
  closeLingering(reactor: ReactorHandle, fd: number): void;
  /** "host:port", "[v6]:port", a Unix path, or null. */
  socketAddress(fd: number, peer: boolean): string | null;
  socketsOpen(reactor: ReactorHandle): number;
  /** Lets go of a connected socket without closing it (0 or -errno), for another loop to adopt. */
  detachSocket(reactor: ReactorHandle, fd: number): number;
  /** Takes over a connected socket; returns the fd or -errno. */
  adoptSocket(reactor: ReactorHandle, fd: number): number;
  /** A new fd for the same socket (close-on-exec), or -errno. */
  duplicateFd(fd: number): number;
  /** close(2) of an fd no reactor holds (nothing to retry: the fd is released either way). */
  closeFd(fd: number): void;
  /** The reactor reads into `buffer` from the next collect on. */
  setReceiveBuffer(reactor: ReactorHandle, buffer: Buffer): void;
  /** Bytes the reactor still holds to send on `fd` now (0 if none). */
  queuedBytes(reactor: ReactorHandle, fd: number): number;
  /** [accepted, bytesIn, bytesOut] since the reactor was made. */
  reactorCounters(reactor: ReactorHandle): [number, number, number];

  // UDP and sendfile (src/datagram.ts, src/sendfile.ts). Hosts are IP literals: JS resolves names.
  /** A UDP socket, bound and/or connected when the hosts are given: fd or -errno. */
  openDatagram(
    reactor: ReactorHandle,
    family: 4 | 6,
    localHost: string | null,
    localPort: number,
    remoteHost: string | null,
    remotePort: number,
    flags: number,
  ): number;
  /** One datagram to host:port (or the connected peer when host is null): bytes still queued, or -errno. */
  sendDatagram(reactor: ReactorHandle, fd: number, data: Uint8Array, host: string | null, port: number): number;
  /** 1 if the option is on: name 1 SO_BROADCAST, 2 SO_REUSEPORT, 3 TCP_NODELAY, 4 SO_KEEPALIVE. */
  socketFlag(fd: number, name: 1 | 2 | 3 | 4): number;
  /** name 1 TCP_NODELAY (value 0/1); 2 SO_KEEPALIVE (value < 0 off, 0 on, > 0 on with that many idle seconds); 3 SO_LINGER 0 (close resets): 0 or -errno. */
  setStreamOption(fd: number, name: 1 | 2 | 3, value: number): number;
  /** Starts sendfile(2) of fileFd[offset, offset + count) to a stream socket: 0, then a sendfileDone or failed record; or -errno. */
  sendfile(reactor: ReactorHandle, fd: number, fileFd: number, offset: number, count: number): number;

  // The cross-thread mailbox (native/reactor/mailbox.zig); `mailbox` views a SharedArrayBuffer.
  mailboxAttach(reactor: ReactorHandle, mailbox: Uint8Array): void;
  mailboxClose(mailbox: Uint8Array): void;
  /** Pushes payload[0, length): 1 pushed and woke the owner, 0 pushed, -1 full, -2 closed, -3 too large. */
  mailboxPush(mailbox: Uint8Array, payload: Uint8Array, length: number): number;
  /** Pushes the (u32 length, bytes) messages of batch[0, length) under one lock: bytes taken, -2 closed, -3 too large. */
  mailboxPushMany(mailbox: Uint8Array, batch: Uint8Array, length: number): number;
  mailboxDrain(mailbox: Uint8Array, out: Uint8Array): number;

  /** Sets or clears O_NONBLOCK on `fd` (pipe transports): 0 or -errno. */
  setBlocking(fd: number, blocking: boolean): number;
}

const require = createRequire(import.meta.url);
// addon-path.ts picks the file: a build from source, else the prebuilt one for this platform.
// ZLOOP_ADDON_BUILD=safe loads the ReleaseSafe build (build/safe/zloop.node, every Zig assertion
// and safety check compiled in), which `npm test` runs the whole suite against a second time.
export const native: NativeAddon = require(resolveAddon());

/** The shared Int32Array: a header, then fixed-size records. */
export const Header = {
  inDispatch: 0,
  workPending: 1,
  timerExpired: 2,
  /** Where the next collect starts writing in the receive buffer (what is before is JS's). */
  receiveStart: 3,
  ints: 4,
} as const;

export const RECORD_INTS = 4;
/** Records per batch; more ready fds wait for the next batch (readiness is level-triggered). */
export const RECORDS_MAX = 256;

/** Records are (kind, fd, a, b); see RecordKind in native/reactor/reactor.zig. */
export const RecordKind = {
  fdReady: 1,
  accepted: 2,
  data: 3,
  eof: 4,
  failed: 5,
  written: 6,
  connected: 7,
  /** a = offset of the sender's address (DATAGRAM_ADDRESS_BYTES), the payload follows; b = payload length. */
  datagram: 8,
  /** bytes sent = a * 2^31 + b. */
  sendfileDone: 9,
} as const;

export const FailedPhase = { read: 1, write: 2, accept: 3, sendfile: 4 } as const;

/** The sender's address in front of each datagram's payload (sockets.encodeAddress in Zig). */
export const DATAGRAM_ADDRESS_BYTES = 32;

export const DatagramFlag = { reuseAddress: 1, reusePort: 2, broadcast: 4 } as const;

export const ListenFlag = {
  reuseAddress: 1,
  reusePort: 2,
  ipv6Only: 4,
  keepAlive: 8,
  accepting: 16,
  noDelay: 32,
} as const;

/** Bytes of one receive buffer; batches fill it from receiveStart on (see EventLoop._receivedBytes). */
export const RECEIVE_BUFFER_BYTES = 1024 * 1024;
/**
 * A buffer with less than this left after the start is replaced by a new one: a batch may read
 * up to 256 KiB from each of several sockets (stream.zig), and reads stop below 2 KiB of room.
 */
export const RECEIVE_BUFFER_REPLACE_BELOW = 512 * 1024;
/**
 * Reads at least this large reach dataReceived as views of the receive buffer, which is then
 * never written there again (the next batch starts after them; a full buffer is replaced, not
 * reused); smaller reads are copied. A view keeps its whole 1 MiB buffer alive, at most 32 times
 * its own size; copying a 100 KiB read cost ~6 µs of a ~35 µs echo request (A/B, 2026-12-02).
 */
export const RECEIVE_VIEW_MIN_BYTES = 32 * 1024;

export const ReadyFlag = { readable: 1, writable: 2, hangup: 4 } as const;

export const InterestMask = { readable: 1, writable: 2 } as const;
