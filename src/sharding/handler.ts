// What a handler module given to createShardedServer() or `zloop serve` exports, and what each
// of its functions is given: the contract between user code and a shard.
import type { EventLoop } from '../io/event-loop.js';
import type { AnyProtocol } from '../net/protocols.js';
import type { StreamReader, StreamWriter } from '../net/streams.js';

/** The shard a handler runs on: its id (0..workers-1) and its thread's event loop. */
export interface Shard {
  readonly id: number;
  readonly loop: EventLoop;
}

/** A streams handler: called once per connection, as asyncio.start_server's client_connected_cb. */
export type StreamsHandler = (reader: StreamReader, writer: StreamWriter, shard: Shard) => unknown;

/** A protocol handler: makes one protocol per connection, as loop.createServer's factory. */
export interface ProtocolHandler {
  protocolFactory(shard: Shard): AnyProtocol;
}

/**
 * A handler module's exports. `default` is a StreamsHandler or a ProtocolHandler; `setup`, if
 * given, runs once per shard before it listens. (An app module, one that starts node:http or
 * other net servers while it is imported, needs neither.)
 */
export interface HandlerModule {
  default?: StreamsHandler | ProtocolHandler;
  setup?(shard: Shard): unknown;
}
