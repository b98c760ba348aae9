#!/usr/bin/env node
// The zloop command: `zloop serve ./handler.js --workers 4 --host 127.0.0.1 --port 8080` runs a
// handler module on a sharded server until SIGINT or SIGTERM, then closes it gracefully.
import { parseArgs } from 'node:util';
import { createShardedServer } from './sharded.js';

const USAGE = `usage: zloop serve <handler module> [--workers N] [--host HOST] [--port PORT]
                   [--balance kernel|roundrobin] [--shutdown-timeout SECONDS]`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseOptions(argv);
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    if (!(error instanceof UsageError) && !code.startsWith('ERR_PARSE_ARGS')) throw error;
    const message = (error as Error).message;
    console.error(message === '' ? USAGE : `zloop: ${message}\n${USAGE}`);
    return 2;
  }
  return serve(parsed);
}

function parseOptions(argv: string[]) {
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
    },
  });
  if (values.help) return { help: true as const };
  if (positionals[0] !== 'serve' || positionals.length !== 2) throw new UsageError('');
  return {
    help: false as const,
    handler: positionals[1]!,
    options: {
      workers: values.workers === undefined ? undefined : integer(values.workers, '--workers'),
      host: values.host,
      port: values.port === undefined ? undefined : integer(values.port, '--port'),
      balance: values.balance as 'kernel' | 'roundrobin' | undefined,
      shutdownTimeout: values['shutdown-timeout'] === undefined ? undefined : Number(values['shutdown-timeout']),
    },
  };
}

async function serve(parsed: ReturnType<typeof parseOptions>): Promise<number> {
  if (parsed.help) {
    console.error(USAGE);
    return 0;
  }
  const handler = parsed.handler;
  const server = await createShardedServer(handler, parsed.options);
  server.on('exit', (id, reason) => console.error(`zloop: shard ${id} exited (${String(reason)}); restarting`));
  server.on('restart', (id) => console.error(`zloop: shard ${id} serves again`));
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

function integer(text: string, flag: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isInteger(value)) throw new UsageError(`${flag} must be an integer, got ${text}`);
  return value;
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
