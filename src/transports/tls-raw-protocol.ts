// The protocol of a TLS connection's raw transport (the socket): it hands every event to the
// raw side of an SSLTransport (tls.ts), declared here as an interface so the two files do not
// import each other.
import { Protocol, type Transport } from '../net/protocols.js';

/** What SSLProtocol calls: SSLTransport's raw side. */
// Its members are stripped from the .d.ts files, as the SSLTransport methods that implement them are.
export interface RawSide {
  /** @internal */
  _rawConnectionMade(raw: Transport): void;
  /** @internal */
  _rawData(data: Buffer): void;
  /** @internal */
  _rawEof(): void;
  /** @internal */
  _rawLost(exc: Error | null): void;
  /** @internal */
  _rawPauseWriting(): void;
  /** @internal */
  _rawResumeWriting(): void;
}

/**
 * The protocol of the raw transport: it feeds the Duplex the TLSSocket reads, and relays the raw
 * transport's flow control. Everything else lives in SSLTransport.
 */
export class SSLProtocol extends Protocol {
  /** @internal */
  readonly _owner: RawSide;

  constructor(owner: RawSide) {
    super();
    this._owner = owner;
  }

  override connectionMade(transport: Transport): void {
    this._owner._rawConnectionMade(transport);
  }

  override dataReceived(data: Buffer): void {
    this._owner._rawData(data);
  }

  /** The TLSSocket decides what EOF means (a truncated stream, or after close_notify). */
  override eofReceived(): boolean {
    this._owner._rawEof();
    return true;
  }

  override connectionLost(exc: Error | null): void {
    this._owner._rawLost(exc);
  }

  override pauseWriting(): void {
    this._owner._rawPauseWriting();
  }

  override resumeWriting(): void {
    this._owner._rawResumeWriting();
  }
}
