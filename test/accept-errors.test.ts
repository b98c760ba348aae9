// Accept failures: out of fds (EMFILE), the listener reports it to the exception handler, pauses
// accepting as asyncio does, and serves the waiting client once fds are free again. The server
// runs in a child process under `ulimit -n`, so the test's own process keeps its fds.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { trackLeaks } from './helpers/leaks.js';
import { within } from './helpers/net.js';

trackLeaks();

const FIXTURE = fileURLToPath(new URL('./fixtures/accept-emfile.mjs', import.meta.url));

describe('accept out of fds', () => {
  it('EMFILE goes to the exception handler, and the waiting client is served once fds are free', async () => {
    const child = spawn('sh', ['-c', `ulimit -n 64 && exec "${process.execPath}" "${FIXTURE}"`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const line = (pattern: RegExp, what: string) =>
      within(
        new Promise<RegExpExecArray>((resolve, reject) => {
          const check = (): void => {
            const match = pattern.exec(stdout);
            if (match) resolve(match);
          };
          child.stdout.on('data', check);
          exited.then(() => reject(new Error(`child exited before ${what}: ${stderr}`)));
          check();
        }),
        15_000,
        what,
      );
    try {
      const port = Number((await line(/^port (\d+)$/m, 'the port line'))[1]);
      const client = net.connect(port, '127.0.0.1');
      client.on('error', () => {});
      expect((await line(/^handler: (.*)$/m, 'the handler line'))[1]).toBe('socket.accept() out of system resource: EMFILE');
      await line(/^served$/m, 'the connection to be served');
      const echoed = new Promise<string>((resolve) => client.once('data', (data) => resolve(data.toString())));
      client.write('still here');
      expect(await within(echoed, 5000, 'the echo')).toBe('still here');
      client.destroy();
      child.stdin.write('stop\n');
      expect(await within(exited, 10_000, 'the child to exit')).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
