// The public API of zloop: an explicit list, so nothing internal leaks by accident.
export { EventLoop, newEventLoop, ensureFuture } from './io/event-loop.js';
export type { ExceptionContext, ExceptionHandler } from './io/event-loop.js';
export { Handle, TimerHandle } from './core/handles.js';
export { Future, Task } from './core/futures.js';
export type { TaskTarget } from './core/futures.js';
export { run, getEventLoop, getRunningLoop, setEventLoop, sleep, waitFor } from './io/runner.js';
export type { RunOptions } from './io/runner.js';

export {
  CancelledError,
  InvalidStateError,
  TimeoutError,
  IncompleteReadError,
  LimitOverrunError,
} from './core/errors.js';
export { BaseProtocol, Protocol, BufferedProtocol } from './net/protocols.js';
export type { AnyProtocol, ProtocolFactory } from './net/protocols.js';
export { SocketTransport, TransportSocket } from './transports/socket.js';
export type { Transport, SocketFamily } from './transports/socket.js';
export { Server } from './net/server.js';
export type { CreateServerOptions, CreateConnectionOptions, UnixServerOptions } from './net/connections.js';
export type { AddrInfo, GetaddrinfoOptions } from './net/dns.js';
export type { SystemError } from './net/system-error.js';
export {
  StreamReader,
  StreamWriter,
  StreamReaderProtocol,
  openConnection,
  startServer,
  openUnixConnection,
  startUnixServer,
} from './net/streams.js';
export type { ClientConnected, StreamOptions, OpenConnectionOptions, StartServerOptions, StartUnixServerOptions } from './net/streams.js';
export { LoopRef, MAX_CALL_BYTES } from './threads/threadsafe.js';
export type { Executor, ExecutorTask } from './process/executor.js';
export { createShardedServer, ShardedServer } from './sharding/supervisor.js';
export type { ShardedServerOptions, ShardInfo, ShardState, ShardedStats } from './sharding/supervisor.js';
export type { Balance, ShardStats } from './sharding/shard-protocol.js';
export { nodeEndpoint, loopEndpoint } from './threads/endpoints.js';
export { SSLTransport } from './transports/tls.js';
export type { SslOption, SslOptions, TlsOptions, StartTlsOptions } from './transports/tls.js';
export type { UnixConnectionOptions } from './net/connections.js';
export type { OpenUnixConnectionOptions } from './net/streams.js';
export { ReadPipeTransport, WritePipeTransport, PipeInfo } from './transports/pipes.js';
export {
  SubprocessProtocol,
  SubprocessTransport,
  SubprocessReadPipe,
  SubprocessWritePipe,
  Process,
  createSubprocessExec,
  createSubprocessShell,
  PIPE,
  STDOUT,
  DEVNULL,
} from './process/subprocess.js';
export type { StdioSpec, SubprocessOptions, CreateSubprocessOptions } from './process/subprocess.js';
export { DatagramProtocol, DatagramTransport } from './transports/datagram.js';
export { AF_UNSPEC, AF_INET, AF_INET6 } from './net/dns.js';
export type { AnyDatagramProtocol, CreateDatagramEndpointOptions, DatagramAddress } from './transports/datagram.js';
export type { TaskFactory } from './io/event-loop.js';
