// The public API of zloop: an explicit list, so nothing internal leaks by accident.
export { EventLoop, newEventLoop } from './io/event-loop.js';
export { ensureFuture } from './core/futures.js';
export type { ExceptionContext, ExceptionHandler } from './io/event-loop.js';
export { Handle, TimerHandle } from './core/handles.js';
export { Future, Task } from './core/futures.js';
export type { Loop, TaskTarget } from './core/futures.js';
export type { Callback } from './core/validate.js';
export { run, getEventLoop, getRunningLoop, setEventLoop, sleep, waitFor, toThread } from './io/runner.js';

// asyncio's module API: task helpers, structured concurrency, timeouts, locks, queues.
export { gather, wait, asCompleted, shield, currentTask, allTasks, FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED } from './concurrency/tasks.js';
export type { Awaitable, GatherOptions, ReturnWhen, WaitOptions as WaitForManyOptions } from './concurrency/tasks.js';
export { TaskGroup, ExceptionGroup } from './concurrency/taskgroup.js';
export { Timeout, timeout, timeoutAt } from './concurrency/timeouts.js';
export { Lock, Event, Condition, Semaphore, BoundedSemaphore, Barrier, BrokenBarrierError } from './concurrency/locks.js';
export { Queue, PriorityQueue, LifoQueue, QueueEmpty, QueueFull, QueueShutDown } from './concurrency/queues.js';
export type { Compare } from './concurrency/queues.js';
export type { WaitOptions } from './concurrency/waiting.js';
export type { RunOptions } from './io/runner.js';

export {
  CancelledError,
  InvalidStateError,
  TimeoutError,
  IncompleteReadError,
  LimitOverrunError,
} from './core/errors.js';
export { BaseProtocol, Protocol, BufferedProtocol } from './net/protocols.js';
export type { AnyProtocol, ExtraInfo, ProtocolFactory, SocketAddress, SocketInfo} from './net/protocols.js';
export { SocketTransport, TransportSocket } from './transports/socket.js';
export type { Transport, SocketFamily } from './transports/socket.js';
export { Server } from './net/server.js';
export type { CreateServerOptions, CreateConnectionOptions, UnixServerOptions } from './net/connections.js';
export type { AddrInfo, GetaddrinfoOptions } from './net/dns.js';
export type { SystemError } from './net/system-error.js';
export { StreamReader, StreamWriter, StreamReaderProtocol } from './net/streams.js';
export { openConnection, startServer, openUnixConnection, startUnixServer } from './net/open-streams.js';
export type { ClientConnected, StreamOptions } from './net/streams.js';
export type { OpenConnectionOptions, StartServerOptions, StartUnixServerOptions, OpenUnixConnectionOptions } from './net/open-streams.js';
export { LoopRef, MAX_CALL_BYTES } from './threads/threadsafe.js';
export type { Executor, ExecutorTask } from './process/executor.js';
export { createShardedServer, ShardedServer } from './sharding/supervisor.js';
export type { ShardedServerOptions, ShardInfo, ShardState, ShardedStats } from './sharding/supervisor.js';
export type { Balance, ShardStats } from './sharding/shard-protocol.js';
export type { HandlerModule, ProtocolHandler, Shard, StreamsHandler } from './sharding/handler.js';
export { nodeEndpoint, loopEndpoint } from './threads/endpoints.js';
export type { MessageEndpoint, NodePort } from './threads/endpoints.js';
export { SSLTransport } from './transports/tls.js';
export type { SslOption, SslOptions, TlsOptions, StartTlsOptions } from './transports/tls-setup.js';
export type { UnixConnectionOptions } from './net/connections.js';
export { ReadPipeTransport, WritePipeTransport, PipeInfo } from './transports/pipes.js';
export { SubprocessProtocol, SubprocessTransport, SubprocessReadPipe, SubprocessWritePipe } from './process/subprocess.js';
export type { AnySubprocessProtocol } from './process/subprocess.js';
export { Process, createSubprocessExec, createSubprocessShell } from './process/process.js';
export { PIPE, STDOUT, DEVNULL } from './process/spawn-options.js';
export type { StdioSpec, SubprocessOptions, CreateSubprocessOptions } from './process/spawn-options.js';
export { DatagramProtocol, DatagramTransport } from './transports/datagram.js';
export { AF_UNSPEC, AF_INET, AF_INET6 } from './net/dns.js';
export type { AnyDatagramProtocol, CreateDatagramEndpointOptions, DatagramAddress } from './transports/datagram.js';
export type { TaskFactory } from './io/event-loop.js';
