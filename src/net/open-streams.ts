// asyncio's open_connection / start_server and their Unix forms: connections as (reader, writer)
// pairs of streams.ts, made with the connection functions of connections.ts.
import { cancellable, type Future } from '../core/futures.js';
import { getRunningIoLoop as getRunningLoop, type IoLoop } from '../io/io-loop.js';
import { checkCallback } from '../core/validate.js';
import type { Transport } from '../transports/socket.js';
import {
  createConnection,
  type CreateConnectionOptions,
  createServer,
  type CreateServerOptions,
  createUnixConnection,
  createUnixServer,
  type UnixConnectionOptions,
  type UnixServerOptions,
} from './connections.js';
import type { Server } from './server.js';
import { type ClientConnected, StreamReader, StreamReaderProtocol, type StreamOptions, StreamWriter } from './streams.js';

export type OpenConnectionOptions = StreamOptions & CreateConnectionOptions;
export type StartServerOptions = StreamOptions & CreateServerOptions;
export type StartUnixServerOptions = StreamOptions & UnixServerOptions;
export type OpenUnixConnectionOptions = StreamOptions & UnixConnectionOptions;

/**
 * A connection as a (reader, writer) pair. Like loop.createConnection it returns a Future:
 * cancelling it (waitFor's timeout) or aborting `options.signal` gives the attempt up.
 */
export function openConnection(host: string, port: number, options: OpenConnectionOptions = {}): Future<[StreamReader, StreamWriter]> {
  return openStreams(options, (loop, factory, signal) => createConnection(loop, factory, host, port, options, signal));
}

export async function startServer(
  clientConnected: ClientConnected,
  host?: string | string[] | null,
  port?: number | null,
  options: StartServerOptions = {},
): Promise<Server> {
  checkCallback(clientConnected, 'clientConnected');
  const loop = getRunningLoop();
  return createServer(loop, () => new StreamReaderProtocol(new StreamReader(options), clientConnected, loop), host, port, options);
}

export function openUnixConnection(path: string, options: OpenUnixConnectionOptions = {}): Future<[StreamReader, StreamWriter]> {
  return openStreams(options, (loop, factory, signal) => createUnixConnection(loop, factory, path, options, signal));
}

function openStreams(
  options: StreamOptions & { signal?: AbortSignal | null },
  connect: (loop: IoLoop, factory: () => StreamReaderProtocol, signal: AbortSignal) => PromiseLike<[Transport, unknown]>,
): Future<[StreamReader, StreamWriter]> {
  const loop = getRunningLoop();
  const reader = new StreamReader(options);
  const protocol = new StreamReaderProtocol(reader, null, loop);
  return cancellable(
    loop,
    options.signal,
    async (signal) => {
      const [transport] = await connect(loop, () => protocol, signal);
      return [reader, new StreamWriter(transport, protocol, reader, loop)];
    },
    ([, writer]) => writer.transport.abort(),
  );
}

export async function startUnixServer(clientConnected: ClientConnected, path: string, options: StartUnixServerOptions = {}): Promise<Server> {
  checkCallback(clientConnected, 'clientConnected');
  const loop = getRunningLoop();
  return createUnixServer(loop, () => new StreamReaderProtocol(new StreamReader(options), clientConnected, loop), path, options);
}
