// loop.sendfile: sendfile(2) in the reactor from a file to a TCP transport. A file larger than the
// socket buffers arrives whole (compared by hash), ranges, writes around it, and bad input.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRunningLoop, run } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { connectedPair, shutdown } from './helpers/net.js';

trackLeaks();

const SIZE = 8 * 1024 * 1024;
let directory = '';
let path = '';
let content: Buffer;

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), 'zloop-sendfile-'));
  path = join(directory, 'payload.bin');
  content = randomBytes(SIZE);
  writeFileSync(path, content);
});

afterAll(() => rmSync(directory, { recursive: true, force: true }));

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('sendfile', () => {
  it('sends an 8 MiB file (larger than the socket buffers) whole, from a FileHandle', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, peer, clientTransport } = await connectedPair(loop);
      // The peer is slow to start reading, so the kernel buffers fill and the reactor must wait.
      const file = await open(path, 'r');
      const sent = await loop.sendfile(clientTransport, file);
      expect(sent).toBe(SIZE);
      await peer.untilBytes(SIZE);
      expect(peer.received).toBe(SIZE);
      expect(sha256(peer.bytes())).toBe(sha256(content));
      await file.close();
      clientTransport.close();
      await shutdown(server);
    });
  });

  it('sends a range (offset, count) of an fd, with writes before and during it arriving in order', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, peer, clientTransport } = await connectedPair(loop);
      const fd = openSync(path, 'r');
      const offset = 12345;
      const count = 3 * 1024 * 1024 + 17;
      const before = Buffer.alloc(2 * 1024 * 1024, 0x61); // more than the kernel takes at once
      clientTransport.write(before);
      const pending = loop.sendfile(clientTransport, fd, offset, count);
      clientTransport.write('-after');
      expect(await pending).toBe(count);
      const expected = Buffer.concat([before, content.subarray(offset, offset + count), Buffer.from('-after')]);
      await peer.untilBytes(expected.length);
      expect(sha256(peer.bytes())).toBe(sha256(expected));
      closeSync(fd);
      clientTransport.close();
      await shutdown(server);
    });
  });

  it('stops at the end of the file: count past it sends what there is; offset at the end sends 0', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, peer, clientTransport } = await connectedPair(loop);
      const file = await open(path, 'r');
      expect(await loop.sendfile(clientTransport, file, SIZE - 10, 1000)).toBe(10);
      expect(await loop.sendfile(clientTransport, file, SIZE)).toBe(0);
      await peer.untilBytes(10);
      expect(peer.bytes()).toEqual(content.subarray(SIZE - 10));
      await file.close();
      clientTransport.close();
      await shutdown(server);
    });
  });

  it('rejects bad arguments with errors that name them', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, clientTransport } = await connectedPair(loop);
      const file = await open(path, 'r');
      await expect(loop.sendfile(clientTransport, file, -1)).rejects.toThrow(/offset must be a non-negative integer/);
      await expect(loop.sendfile(clientTransport, file, 0, 0)).rejects.toThrow(/count must be a positive integer/);
      await expect(loop.sendfile(clientTransport, file, 1.5)).rejects.toThrow(/offset/);
      await expect(loop.sendfile(clientTransport, 'nope' as never)).rejects.toThrow(/FileHandle .* or a file descriptor/);
      await expect(loop.sendfile(null as never, file)).rejects.toThrow(/transport must be a transport/);
      await expect(loop.sendfile(clientTransport, directory as never)).rejects.toThrow(TypeError);
      const dirFd = openSync(directory, 'r');
      await expect(loop.sendfile(clientTransport, dirFd)).rejects.toThrow(/regular file/);
      closeSync(dirFd);
      const running = loop.sendfile(clientTransport, file);
      await expect(loop.sendfile(clientTransport, file)).rejects.toThrow(/already in progress/);
      await running;
      clientTransport.close();
      await expect(loop.sendfile(clientTransport, file)).rejects.toThrow(/Transport is closing/);
      await file.close();
      await shutdown(server);
    });
  });

  it('fails the sendfile when the transport is aborted while it runs', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const { server, clientTransport, peer } = await connectedPair(loop);
      peer.transport?.pauseReading();
      const file = await open(path, 'r');
      const pending = loop.sendfile(clientTransport, file);
      await new Promise((resolve) => setTimeout(resolve, 20));
      clientTransport.abort();
      await expect(pending).rejects.toThrow(/Connection lost while sendfile was in progress/);
      await file.close();
      await shutdown(server);
    });
  });
});
