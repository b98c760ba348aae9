#!/usr/bin/env node
// The zloop command: `zloop serve ./handler.js --workers 4 --host 127.0.0.1 --port 8080` runs a
// handler module on a sharded server until SIGINT or SIGTERM, then closes it gracefully.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import { createShardedServer, type ShardedServerOptions } from './supervisor.js';

const USAGE = `usage: zloop serve <app or handler module> [options]

Runs the handler module on a sharded server (one worker thread, loop and listener per shard)
until SIGINT or SIGTERM, then closes gracefully.

The module is one of:
- an app module that starts its own servers when imported (node:http, Express, Fastify, Koa,
  ws...): it runs unmodified in every shard, its listen() calls bind through zloop with
  SO_REUSEPORT, and a port-0 listen gets one port that all shards share (--host and --port
  are the app's to choose then);
- a handler module whose default export is a streams handler, (reader, writer, shard) => ...,
  or an object { protocolFactory(shard) } returning a Protocol; an optional setup(shard) export
  runs once in each shard before it accepts.

options:
  --workers N                 shards (worker threads), an integer >= 1; default: the CPUs
  --host HOST                 address to listen on; default 127.0.0.1
  --port PORT                 port, 0..65535 (0: any free port); default 0
  --balance kernel|roundrobin kernel: every shard listens (SO_REUSEPORT); roundrobin: shard 0
                              accepts and hands connections out in turn; default kernel
  --shutdown-timeout SECONDS  how long close waits for open connections before aborting them,
                              a number >= 0; default 10
  -h, --help                  print this and exit
  --version                   print the version and exit`;

/** The young generation's minimum semi-space of each shard's V8 heap, in MiB (see serve()). */
const SHARD_MIN_SEMI_SPACE_MB = 8;

/** Bad usage: exit 2. The message names the flag; an empty message prints the usage alone. */
class UsageError extends Error {}

type Serve = { kind: 'serve'; handler: string; options: ShardedServerOptions };
type Parsed = { kind: 'help' } | { kind: 'version' } | Serve;

async function main(argv: string[]): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parseOptions(argv);
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    if (!(error instanceof UsageError) && !code.startsWith('ERR_PARSE_ARGS')) throw error;
    const message = (error as Error).message;
    console.error(message === '' ? USAGE : `zloop: ${message}\n${USAGE}`);
    return 2;
  }
  if (parsed.kind === 'help') {
    console.log(USAGE);
    return 0;
  }
  if (parsed.kind === 'version') {
    console.log(`zloop ${packageVersion()}`);
    return 0;
  }
  return serve(parsed.handler, parsed.options);
}

/** Every option is checked here, before anything starts: a bad one exits 2 naming its flag. */
function parseOptions(argv: string[]): Parsed {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      workers: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      balance: { type: 'string' },
      'shutdown-timeout': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
  });
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  if (positionals[0] !== 'serve' || positionals.length !== 2) throw new UsageError('');
  const balance = values.balance;
  if (balance !== undefined && balance !== 'kernel' && balance !== 'roundrobin') {
    throw new UsageError(`--balance must be kernel or roundrobin, got ${balance}`);
  }
  if (values.host !== undefined && values.host.trim() === '') throw new UsageError('--host must not be empty');
  return {
    kind: 'serve',
    handler: positionals[1]!,
    options: {
      workers: values.workers === undefined ? undefined : integer(values.workers, '--workers', 1, 1024),
      host: values.host,
      port: values.port === undefined ? undefined : integer(values.port, '--port', 0, 65535),
      balance,
      shutdownTimeout: values['shutdown-timeout'] === undefined ? undefined : seconds(values['shutdown-timeout'], '--shutdown-timeout'),
    },
  };
}

function integer(text: string, flag: string, min: number, max: number): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got ${text}`);
  }
  return value;
}

function seconds(text: string, flag: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0) throw new UsageError(`${flag} must be a number of seconds >= 0, got ${text}`);
  return value;
}

function packageVersion(): string {
  const manifest = readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8');
  return (JSON.parse(manifest) as { version: string }).version;
}

async function serve(handler: string, options: ShardedServerOptions): Promise<number> {
  // Shards are worker threads, whose V8 heaps start with a small young generation that grows and
  // shrinks with the load: an app that allocates per request (JSON, strings) then faults in fresh
  // pages all the time (16 KiB JSON responses: ~3k page faults a second, ~12 µs each here).
  // An 8 MiB minimum semi-space ends that (~100 a second) at about the same RSS. The flag is set
  // before the shards' isolates exist; the CLI's process is zloop's own, so nothing else sees it.
  v8.setFlagsFromString(`--min-semi-space-size=${SHARD_MIN_SEMI_SPACE_MB}`);
  const server = await createShardedServer(handler, options);
  server.on('exit', (id, reason) => console.error(`zloop: shard ${id} exited (${String(reason)}); restarting`));
  server.on('restart', (id) => console.error(`zloop: shard ${id} serves again`));
  // A failed restart is retried by the supervisor; the CLI says so and keeps serving.
  server.on('error', (error: unknown) => console.error(`zloop: ${error instanceof Error ? error.message : String(error)}; retrying`));
  const { host, port } = server.address;
  // The handlers go in before the serving line: whoever reads that line may signal at once, and
  // a SIGTERM that arrives before process.on() has taken effect kills the process outright.
  const closed = new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      console.error(`zloop: ${signal}: closing`);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      server.close().then(resolve, resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  console.log(`zloop: serving ${handler} on ${host}:${port} with ${server.shards.length} shards`);
  await closed;
  console.error('zloop: closed');
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`zloop: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
