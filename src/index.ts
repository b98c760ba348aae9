// The public API of zloop: an explicit list, so nothing internal leaks by accident.
export { EventLoop, newEventLoop, ensureFuture } from './loop.js';
export type { ExceptionContext, ExceptionHandler } from './loop.js';
export { Handle, TimerHandle } from './handles.js';
export { Future, Task } from './futures.js';
export type { TaskTarget } from './futures.js';
export { run, getEventLoop, sleep, waitFor } from './runner.js';
export type { RunOptions } from './runner.js';
export { getRunningLoop, setEventLoop } from './running.js';
export {
  CancelledError,
  InvalidStateError,
  TimeoutError,
  IncompleteReadError,
  LimitOverrunError,
} from './errors.js';
export { BaseProtocol, Protocol, BufferedProtocol } from './protocols.js';
export type { AnyProtocol, ProtocolFactory } from './protocols.js';
export { SocketTransport, TransportSocket } from './transports.js';
export type { Transport, SocketFamily } from './transports.js';
export { Server } from './server.js';
export type { CreateServerOptions, CreateConnectionOptions, UnixServerOptions } from './connections.js';
export type { AddrInfo, GetaddrinfoOptions } from './dns.js';
export type { SystemError } from './system-error.js';
export {
  StreamReader,
  StreamWriter,
  StreamReaderProtocol,
  openConnection,
  startServer,
  openUnixConnection,
  startUnixServer,
} from './streams.js';
export type { ClientConnected, StreamOptions, OpenConnectionOptions, StartServerOptions, StartUnixServerOptions } from './streams.js';
export { LoopRef, MAX_CALL_BYTES } from './threadsafe.js';
export type { Executor, ExecutorTask } from './executor.js';
export { createShardedServer, ShardedServer } from './sharded.js';
export type { ShardedServerOptions, ShardInfo, ShardState, ShardedStats } from './sharded.js';
export type { Balance, ShardStats } from './shard-protocol.js';
export { nodeEndpoint, loopEndpoint } from './endpoints.js';
export { SSLTransport } from './tls.js';
export type { SslOption, SslOptions, TlsOptions, StartTlsOptions } from './tls.js';
export type { UnixConnectionOptions } from './connections.js';
export type { OpenUnixConnectionOptions } from './streams.js';
export { ReadPipeTransport, WritePipeTransport, PipeInfo } from './pipes.js';
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
} from './subprocess.js';
export type { StdioSpec, SubprocessOptions, CreateSubprocessOptions } from './subprocess.js';
export { DatagramProtocol, DatagramTransport } from './datagram.js';
export { AF_UNSPEC, AF_INET, AF_INET6 } from './dns.js';
export type { AnyDatagramProtocol, CreateDatagramEndpointOptions, DatagramAddress } from './datagram.js';
export type { TaskFactory } from './loop.js';
