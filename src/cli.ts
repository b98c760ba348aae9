#!/usr/bin/env node
// The zloop command: `zloop serve ./handler.js --workers 4 --host 127.0.0.1 --port 8080` runs a
// handler module on a sharded server until SIGINT or SIGTERM, then closes it gracefully.
import { parseArgs } from 'node:util';
import { createShardedServer } from './sharded.js';

const USAGE = `usage: zloop serve <handler module> [--workers N] [--host HOST] [--port PORT]
                   [--balance kernel|roundrobin] [--shutdown-timeout SECONDS]`;

async function main(argv: string[]): Promise<number> {
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
  if (values.help || positionals[0] !== 'serve' || positionals.length !== 2) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  const server = await createShardedServer(positionals[1]!, {
    workers: values.workers === undefined ? undefined : integer(values.workers, '--workers'),
    host: values.host,
    port: values.port === undefined ? undefined : integer(values.port, '--port'),
    balance: values.balance as 'kernel' | 'roundrobin' | undefined,
    shutdownTimeout: values['shutdown-timeout'] === undefined ? undefined : Number(values['shutdown-timeout']),
  });
  server.on('exit', (id, reason) => console.error(`zloop: shard ${id} exited (${String(reason)}); restarting`));
  server.on('restart', (id) => console.error(`zloop: shard ${id} serves again`));
  const { host, port } = server.address;
  console.log(`zloop: serving ${positionals[1]} on ${host}:${port} with ${server.shards.length} shards`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      console.error(`zloop: ${signal}: closing`);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      server.close().then(resolve, resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  console.error('zloop: closed');
  return 0;
}

function integer(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isInteger(value)) throw new TypeError(`${flag} must be an integer, got ${text}`);
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
