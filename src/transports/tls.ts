// TLS over zloop transports (asyncio sslproto.py). An SSLTransport sits between a raw stream
// transport (a SocketTransport, or any Transport for startTls) and the user's protocol:
//
//   reactor -> SocketTransport -> SSLProtocol (raw side) -> Duplex -> tls.TLSSocket (OpenSSL)
//           <- write()         <-                        <-        <- SSLTransport.write()
//
// OpenSSL is Node's own, driven through node:tls: the TLSSocket wraps a Duplex whose readable
// side is fed by the raw transport's dataReceived and whose writable side writes to the raw
// transport. Why not OpenSSL from the reactor: see docs/architecture.md ("TLS").
//
// Call order for the user's protocol, as asyncio's: connectionMade (after the handshake) ->
// dataReceived* -> eofReceived? -> connectionLost. Every one of them follows a TLSSocket event
// ('secure', 'data', 'end', 'close'), so they keep the order the stream gives them.
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { TimerHandle } from '../core/handles.js';
import type { IoLoop } from '../io/io-loop.js';
import type { AnyProtocol, ExtraInfo } from '../net/protocols.js';
import type { Transport } from './socket.js';
import { callConnectionLost, feedBufferedProtocol, joinLines, toBytes, WritableTransportCore } from './transport-core.js';
import { type RawSide, SSLProtocol } from './tls-raw-protocol.js';
import { type TlsSetup, tlsSocketOver } from './tls-setup.js';

/** Called once: with the transport when the handshake succeeded, with the error when it failed. */
export type HandshakeDone = (error: Error | null, transport: SSLTransport | null) => void;

/** The transport the user's protocol gets on a TLS connection (asyncio _SSLProtocolTransport). */
export class SSLTransport extends WritableTransportCore<AnyProtocol, IoLoop> implements Transport, RawSide {
  readonly #setup: TlsSetup;
  #buffered: boolean;
  readonly #callConnectionMade: boolean;
  #onHandshake: HandshakeDone | null;
  /** @internal The raw transport's protocol. */
  readonly _rawProtocol: SSLProtocol;
  #raw: Transport | null = null;
  #duplex: Duplex | null = null;
  #tls: tls.TLSSocket | null = null;
  #timer: TimerHandle | null = null;
  #error: Error | null = null;
  /** connectionMade was called on the user's protocol (so connectionLost will be). */
  #made = false;
  /** Until the handshake succeeds or fails; a failure is reported (in debug mode) once. */
  #handshaking = true;
  /** Taken at the handshake, as asyncio does, so they stay readable after the connection is lost. */
  #peercert: tls.PeerCertificate | undefined;
  #cipher: tls.CipherNameAndProtocol | undefined;
  #lost = false;
  #reading = true;
  /** The raw transport asked us to stop writing; the Duplex holds its write callback meanwhile. */
  #rawWritePaused = false;
  #pendingRawCallback: (() => void) | null = null;
  #rawReadPaused = false;
  readonly #afterWrite = (): void => this.#checkResume();
  readonly #isLost = (): boolean => this.#lost;

  /** @internal Made by createConnection/createServer/startTls. */
  constructor(loop: IoLoop, protocol: AnyProtocol, setup: TlsSetup, callConnectionMade: boolean, onHandshake: HandshakeDone | null) {
    super(loop, protocol);
    this.#setup = setup;
    this.#buffered = typeof protocol.getBuffer === 'function';
    this.#callConnectionMade = callConnectionMade;
    this.#onHandshake = onHandshake;
    this._rawProtocol = new SSLProtocol(this);
  }

  // ---- the raw side ------------------------------------------------------------------------

  /** @internal Starts the handshake over `raw`. */
  _rawConnectionMade(raw: Transport): void {
    this.#raw = raw;
    // The raw transport pauses us as soon as it queues anything and resumes us only once it is
    // empty. With its default marks it would go quiet between 16 KiB and 0 bytes, and a paused
    // SSLTransport, whose buffer size counts the raw transport's bytes, would never hear that it
    // drained. Ciphertext waits in the TLSSocket instead; the kernel's socket buffer keeps the
    // connection busy meanwhile.
    raw.setWriteBufferLimits(0, 0);
    const duplex = this.#rawDuplex();
    this.#duplex = duplex;
    this.#startTlsSocket(duplex);
  }

  /** The Duplex the TLSSocket reads ciphertext from and writes it to: the raw transport. */
  #rawDuplex(): Duplex {
    const duplex: Duplex = new Duplex({
      allowHalfOpen: true,
      readableHighWaterMark: 64 * 1024,
      read: () => {
        if (this.#rawReadPaused) {
          this.#rawReadPaused = false;
          this.#raw?.resumeReading();
        }
      },
      write: (chunk: Buffer, _encoding, callback) => {
        this.#rawWrite(chunk, callback);
      },
      writev: (chunks, callback) => {
        this.#rawWrite(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((entry) => entry.chunk as Buffer)), callback);
      },
      final: (callback) => {
        // close_notify has been written: half-close TCP as Node's tls does.
        // Not once the peer has ended its side: it may be gone, and shutdown() would fail.
        const rawTransport = this.#raw;
        if (rawTransport !== null && !rawTransport.isClosing() && !duplex.readableEnded && rawTransport.canWriteEof()) rawTransport.writeEof();
        callback();
      },
      destroy: (error, callback) => {
        // The TLSSocket is gone: flush what is queued and close the socket.
        const rawTransport = this.#raw;
        if (rawTransport !== null && !rawTransport.isClosing()) {
          if (error) rawTransport.abort();
          else rawTransport.close();
        }
        callback(error);
      },
    });
    return duplex;
  }

  #startTlsSocket(duplex: Duplex): void {
    const setup = this.#setup;
    const socket = tlsSocketOver(duplex, setup);
    if (setup.serverSide) {
      socket.once('secure', () => this.#serverSecure());
      // Before the handshake a server-side TLSSocket reports its errors only as '_tlsError'.
      socket.on('_tlsError', (error: Error) => this.#fail(error));
    } else {
      socket.once('secureConnect', () => this.#handshakeDone());
    }
    this.#tls = socket;
    socket.on('error', (error: Error) => this.#fail(error));
    socket.on('data', (data: Buffer) => this.#onData(data));
    socket.on('end', () => this.#onEnd());
    socket.on('drain', this.#afterWrite);
    socket.on('close', () => this.#onClose());
    this.#timer = this._loop.callLater(setup.handshakeTimeout, () => {
      this.#timer = null;
      const error = Object.assign(
        new Error(`SSL handshake is taking longer than ${setup.handshakeTimeout} seconds: aborting the connection`),
        { code: 'ECONNABORTED' },
      );
      this.#fail(error);
      socket.destroy(error);
    });
  }

  /** @internal */
  _rawData(data: Buffer): void {
    const duplex = this.#duplex;
    if (duplex === null || duplex.destroyed) return;
    if (!duplex.push(data) && !this.#rawReadPaused) {
      this.#rawReadPaused = true;
      this.#raw?.pauseReading();
    }
  }

  /** @internal */
  _rawEof(): void {
    const duplex = this.#duplex;
    if (duplex !== null && !duplex.destroyed) duplex.push(null);
  }

  /** @internal */
  _rawLost(exc: Error | null): void {
    if (exc !== null) this.#fail(exc);
    this.#raw = null;
    this.#flushRawCallback();
    // The TLSSocket reports 'close' after it delivered everything it decrypted.
    if (this.#tls !== null) this.#tls.destroy();
    else this.#onClose();
  }

  /** @internal */
  _rawPauseWriting(): void {
    this.#rawWritePaused = true;
  }

  /** @internal */
  _rawResumeWriting(): void {
    this.#rawWritePaused = false;
    this.#flushRawCallback();
    this.#checkResume();
  }

  #rawWrite(chunk: Buffer, callback: (error?: Error | null) => void): void {
    const raw = this.#raw;
    if (raw === null || raw.isClosing()) {
      callback();
      return;
    }
    try {
      raw.write(chunk);
    } catch (error) {
      callback(error as Error);
      return;
    }
    if (this.#rawWritePaused) this.#pendingRawCallback = callback;
    else callback();
  }

  #flushRawCallback(): void {
    const callback = this.#pendingRawCallback;
    this.#pendingRawCallback = null;
    callback?.();
  }

  // ---- handshake ---------------------------------------------------------------------------

  #serverSecure(): void {
    const socket = this.#tls!;
    if (this.#setup.requestCert && this.#setup.rejectUnauthorized) {
      // A TLSSocket without a tls.Server does not check the client's certificate itself.
      const verifyError = (socket as unknown as { _handle: { verifyError(): Error | null } })._handle.verifyError();
      if (verifyError) {
        this.#fail(verifyError);
        socket.destroy(verifyError);
        return;
      }
    }
    this.#handshakeDone();
  }

  #handshakeDone(): void {
    this.#timer?.cancel();
    this.#timer = null;
    this.#handshaking = false;
    const socket = this.#tls!;
    const cert = socket.getPeerCertificate();
    this.#peercert = cert && Object.keys(cert).length > 0 ? cert : undefined;
    this.#cipher = socket.getCipher();
    if (this.#callConnectionMade) {
      this.#made = true;
      try {
        this._protocol.connectionMade(this);
      } catch (exception) {
        this._fatalError(exception, 'Fatal error: protocol.connectionMade() call failed.');
      }
    } else {
      this.#made = true;
    }
    const done = this.#onHandshake;
    this.#onHandshake = null;
    done?.(null, this);
  }

  #fail(error: Error): void {
    this.#error ??= error;
    if (!this.#handshaking) return;
    // Client or server side: asyncio logs a failed handshake in debug mode either way.
    this.#handshaking = false;
    this.#timer?.cancel();
    this.#timer = null;
    if (this._loop.getDebug()) {
      this._loop.callExceptionHandler({ message: 'SSL handshake failed', exception: error, transport: this });
    }
    const done = this.#onHandshake;
    this.#onHandshake = null;
    done?.(error, null);
  }

  // ---- events from the TLSSocket -------------------------------------------------------------

  #onData(data: Buffer): void {
    if (this.#lost || this._closing || !this.#made) return;
    if (!this.#buffered) {
      try {
        this._protocol.dataReceived!(data);
      } catch (exception) {
        this._fatalError(exception, 'Fatal error: protocol.dataReceived() call failed.');
      }
      return;
    }
    try {
      feedBufferedProtocol(this._protocol, data, 0, data.length, this.#isLost);
    } catch (exception) {
      this._fatalError(exception, 'Fatal error: protocol.getBuffer() or bufferUpdated() call failed.');
    }
  }

  #onEnd(): void {
    if (this.#lost) return;
    if (!this.#made) {
      // The peer hung up during the handshake (a client's TLSSocket reports this itself).
      this.#fail(Object.assign(new Error('Connection lost during the SSL handshake'), { code: 'ECONNRESET' }));
      this.#tls?.destroy();
      return;
    }
    if (this._closing) return;
    let keepOpen: boolean | void;
    try {
      keepOpen = this._protocol.eofReceived?.();
    } catch (exception) {
      this._fatalError(exception, 'Fatal error: protocol.eofReceived() call failed.');
      return;
    }
    this.#reading = false;
    if (!keepOpen) this.close();
  }

  #onClose(): void {
    if (this.#lost) return;
    this.#lost = true;
    this._closing = true;
    this.#timer?.cancel();
    this.#timer = null;
    const raw = this.#raw;
    if (raw !== null && !raw.isClosing()) raw.close();
    if (this.#handshaking) {
      this.#fail(this.#error ?? Object.assign(new Error('Connection lost during the SSL handshake'), { code: 'ECONNRESET' }));
    }
    if (!this.#made) return;
    const error = this.#error;
    callConnectionLost(this._loop, this, this._protocol, error);
  }

  // ---- writing ---------------------------------------------------------------------------------

  write(data: Uint8Array | ArrayBufferView | string): void {
    const bytes = toBytes(data);
    if (bytes.length === 0) return;
    const socket = this.#tls;
    if (socket === null || this.#lost || socket.writableEnded) return;
    socket.write(bytes, this.#afterWrite);
    this._flow.update(this.getWriteBufferSize());
  }

  /** All the chunks with one write (they are joined first). */
  writelines(list: Iterable<Uint8Array | ArrayBufferView | string>): void {
    this.write(joinLines(list));
  }

  /** Sends close_notify and half-closes; reading goes on until the peer closes. */
  writeEof(): void {
    if (this._closing || this.#tls === null || this.#tls.writableEnded) return;
    this.#tls.end();
  }

  canWriteEof(): boolean {
    return true;
  }

  /** Cleartext not yet encrypted and sent, plus ciphertext the raw transport still holds. */
  override getWriteBufferSize(): number {
    return (this.#tls?.writableLength ?? 0) + (this.#raw?.getWriteBufferSize() ?? 0);
  }

  /** Called as written bytes leave the buffers: resumes a paused protocol at the low mark. */
  #checkResume(): void {
    if (this._flow.paused && !this.#lost) this._flow.update(this.getWriteBufferSize());
  }

  // ---- reading ---------------------------------------------------------------------------------

  pauseReading(): void {
    if (this._closing || !this.#reading) return;
    this.#reading = false;
    this.#tls?.pause();
  }

  resumeReading(): void {
    if (this._closing || this.#reading) return;
    this.#reading = true;
    this.#tls?.resume();
  }

  isReading(): boolean {
    return this.#reading && !this._closing;
  }

  // ---- closing ---------------------------------------------------------------------------------

  /**
   * Sends what is buffered and close_notify, then waits up to sslShutdownTimeout for the peer to
   * close its side before aborting; connectionLost(null) follows. No data is delivered after it.
   */
  close(): void {
    if (this._closing) return;
    this._closing = true;
    const socket = this.#tls;
    if (socket === null || this.#lost) return;
    socket.resume(); // read on to the peer's close_notify, discarding data
    if (!socket.writableEnded) socket.end();
    if (!this._loop.isClosed()) {
      this.#timer?.cancel();
      this.#timer = this._loop.callLater(this.#setup.shutdownTimeout, () => {
        this.#timer = null;
        this.abort();
      });
    }
  }

  /** Closes at once without close_notify; connectionLost(null) follows. */
  abort(): void {
    this._closing = true;
    this.#raw?.abort();
    this.#tls?.destroy();
  }

  // ---- the rest --------------------------------------------------------------------------------

  /**
   * 'peercert': the peer's certificate as tls.TLSSocket.getPeerCertificate() gives it (undefined
   * without one); 'cipher': getCipher() ({ name, standardName, version }); 'sslObject': the
   * tls.TLSSocket; 'sslcontext': the tls.SecureContext; 'alpnProtocol'; anything else from the raw
   * transport ('socket', 'sockname', 'peername').
   */
  getExtraInfo<K extends keyof ExtraInfo>(name: K, defaultValue?: ExtraInfo[K]): ExtraInfo[K] | undefined;
  getExtraInfo(name: string, defaultValue?: unknown): unknown;
  getExtraInfo(name: string, defaultValue: unknown = undefined): unknown {
    const socket = this.#tls;
    switch (name) {
      case 'peercert':
        return this.#peercert ?? defaultValue;
      case 'cipher':
        return this.#cipher ?? defaultValue;
      case 'sslObject':
      case 'ssl_object':
        return socket ?? defaultValue;
      case 'sslcontext':
        return this.#setup.secureContext;
      case 'alpnProtocol':
        return socket?.alpnProtocol || defaultValue;
      case 'compression':
        return null;
      default:
        return this.#raw?.getExtraInfo(name, defaultValue) ?? defaultValue;
    }
  }

  override setProtocol(protocol: AnyProtocol): void {
    super.setProtocol(protocol);
    this.#buffered = typeof protocol.getBuffer === 'function';
  }

  toString(): string {
    const state = this.#lost ? 'closed' : this._closing ? 'closing' : this.#made ? 'open' : 'handshaking';
    return `<SSLTransport ${state} raw=${String(this.#raw)}>`;
  }

  /** @internal */
  protected _fatalError(exception: unknown, message: string): void {
    this._report(exception, message);
    this.#error ??= exception instanceof Error ? exception : new Error(String(exception));
    this.abort();
  }
}
