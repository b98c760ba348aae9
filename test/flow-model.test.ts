// Write flow control against a model, for every stream transport kind (TCP, Unix, TLS, a pipe).
// Each seed draws a program: writes, writelines, pauseReading/resumeReading, new water marks,
// then one ending (close, writeEof then close, or abort), issued from inside the protocol's
// callbacks (connectionMade, dataReceived, pauseWriting, resumeWriting) and from loop callbacks.
// The peer is Node's own socket (not zloop) and reads slowly, stopping and going on at random.
// The model: the peer gets exactly the bytes write() accepted, in order (a prefix of them after
// abort), then the end; pauseWriting and resumeWriting alternate, and after a pause a resume
// always follows once the peer has read everything; connectionLost runs exactly once.
// The peer also sends a few bytes now and then, which the writer may never read: closing must
// not answer them with a reset that destroys what the peer has not read yet.
// ZLOOP_MODEL_SEEDS=n runs n seeds per kind; ZLOOP_MODEL_SEED=s replays one seed.
import { execFileSync } from 'node:child_process';
import { constants as fs, mkdtempSync, openSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventLoop, getRunningLoop, Protocol, run, type Transport } from 'zloop';
import { type Certs, makeCerts } from './helpers/certs.js';
import { trackLeaks } from './helpers/leaks.js';
import { hops, pattern, port, shutdown, within } from './helpers/net.js';
import { PatternTally } from './helpers/writers.js';
import { seededRandom } from './helpers/random.js';

trackLeaks();

type Kind = 'tcp' | 'unix' | 'tls' | 'pipe';
type Ending = 'close' | 'writeEof' | 'abort';
type Where = 'made' | 'data' | 'pause' | 'resume' | 'soon';

const SEEDS_PER_KIND = Number(process.env.ZLOOP_MODEL_SEEDS ?? 60);
const REPLAY = process.env.ZLOOP_MODEL_SEED === undefined ? null : Number(process.env.ZLOOP_MODEL_SEED);

let certs: Certs;
let dir: string;
beforeAll(() => {
  certs = makeCerts();
  dir = mkdtempSync(path.join(tmpdir(), 'zloop-flow-model-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One step of a program. */
type Step =
  | { op: 'write'; size: number }
  | { op: 'writelines'; sizes: number[] }
  | { op: 'pauseReading' | 'resumeReading' }
  | { op: 'limits'; high: number }
  | { op: 'end'; ending: Ending };

function drawProgram(next: () => number, kind: Kind): Step[] {
  const steps: Step[] = [];
  const count = 5 + Math.floor(next() * 40);
  for (let index = 0; index < count; index++) {
    const roll = next();
    // Mostly small writes, now and then a large one that passes any high-water mark at once.
    const size = (): number => (next() < 0.15 ? 64 * 1024 + Math.floor(next() * 512 * 1024) : 1 + Math.floor(next() * 16 * 1024));
    if (roll < 0.6) steps.push({ op: 'write', size: size() });
    else if (roll < 0.75) steps.push({ op: 'writelines', sizes: Array.from({ length: 1 + Math.floor(next() * 4) }, size) });
    else if (roll < 0.85 && kind !== 'pipe') steps.push({ op: next() < 0.5 ? 'pauseReading' : 'resumeReading' });
    else steps.push({ op: 'limits', high: [0, 1024, 16 * 1024, 64 * 1024, 256 * 1024][Math.floor(next() * 5)]! });
  }
  const roll = next();
  const ending: Ending = roll < 0.15 ? 'abort' : roll < 0.4 && kind !== 'pipe' ? 'writeEof' : 'close';
  steps.push({ op: 'end', ending });
  return steps;
}

/** Runs a program from wherever the seed says, and records what the model needs. */
class ModelWriter extends Protocol {
  transport: Transport | null = null;
  written = 0;
  flow: ('pause' | 'resume')[] = [];
  lostCount = 0;
  ending: Ending | null = null;
  readonly steps: Step[];
  readonly ranIn: Where[] = [];
  #step = 0;
  readonly lost: Promise<void>;
  #resolveLost!: () => void;

  constructor(
    readonly loop: EventLoop,
    readonly next: () => number,
    kind: Kind,
  ) {
    super();
    this.steps = drawProgram(next, kind);
    this.lost = new Promise((resolve) => (this.#resolveLost = resolve));
  }

  override connectionMade(transport: Transport): void {
    this.transport = transport;
    this.#maybeRun('made');
    this.#soon();
  }

  override dataReceived(): void {
    this.#maybeRun('data');
  }

  override eofReceived(): boolean {
    return true; // keep writing after the peer's half-close
  }

  override pauseWriting(): void {
    this.flow.push('pause');
    this.#maybeRun('pause');
  }

  override resumeWriting(): void {
    this.flow.push('resume');
    this.#maybeRun('resume');
  }

  override connectionLost(): void {
    this.lostCount++;
    this.#resolveLost();
  }

  get done(): boolean {
    return this.#step >= this.steps.length;
  }

  /** Loop callbacks keep the program going when no protocol callback comes. */
  #soon(): void {
    if (this.done) return;
    const go = (): void => {
      if (this.lostCount > 0) return;
      this.#runStep('soon');
      this.#soon();
    };
    if (this.next() < 0.5) this.loop.callSoon(go);
    else this.loop.callLater(this.next() * 0.002, go);
  }

  #maybeRun(where: Where): void {
    // Inside a callback, run one or a few steps now (a burst of writes from resumeWriting, ...).
    while (!this.done && this.lostCount === 0 && this.next() < 0.5) this.#runStep(where);
  }

  #runStep(where: Where): void {
    if (this.done) return;
    const step = this.steps[this.#step++]!;
    const transport = this.transport!;
    this.ranIn.push(where);
    switch (step.op) {
      case 'write': {
        // Counted before the call: write() may call pauseWriting, and the program goes on inside.
        const chunk = pattern(this.written, step.size);
        this.written += step.size;
        transport.write(chunk);
        break;
      }
      case 'writelines': {
        const chunks = step.sizes.map((size) => {
          const chunk = pattern(this.written, size);
          this.written += size;
          return chunk;
        });
        transport.writelines(chunks);
        break;
      }
      case 'pauseReading':
        transport.pauseReading();
        break;
      case 'resumeReading':
        transport.resumeReading();
        break;
      case 'limits':
        transport.setWriteBufferLimits(step.high);
        break;
      case 'end':
        this.ending = step.ending;
        if (step.ending === 'abort') transport.abort();
        else if (step.ending === 'writeEof') {
          transport.writeEof();
          // The rest of the connection's life: close a little later, from a loop callback.
          this.loop.callLater(this.next() * 0.002, () => transport.close());
        } else transport.close();
        break;
    }
  }
}

/** Reads `stream` to its end, stopping and going on at random; resolves with what it saw. */
function slowReader(stream: net.Socket, next: () => number, talkBack: boolean): Promise<{ received: number; firstBreak: number }> {
  return new Promise((resolve) => {
    const tally = new PatternTally();
    stream.on('data', (data: Buffer) => {
      tally.add(data);
      // Now and then a few bytes back, so the writer's dataReceived runs too.
      if (talkBack && next() < 0.05 && stream.writable) stream.write('ping');
      const roll = next();
      if (roll < 0.3) {
        stream.pause();
        if (roll < 0.1) setTimeout(() => stream.resume(), next() * 3);
        else setImmediate(() => stream.resume());
      }
    });
    const finish = (): void => resolve(tally.result);
    stream.on('end', () => {
      if (stream.writable) stream.end();
      finish();
    });
    stream.on('close', finish);
    stream.on('error', () => {});
  });
}

async function runSeed(kind: Kind, seed: number): Promise<void> {
  const next = seededRandom(seed);
  await run(async () => {
    const loop = getRunningLoop();
    let writer: ModelWriter | null = null;
    let reading: Promise<{ received: number; firstBreak: number }>;
    const factory = () => (writer = new ModelWriter(loop, next, kind));
    if (kind === 'pipe') {
      const file = path.join(dir, `fifo-${seed}`);
      execFileSync('mkfifo', [file]);
      const readFd = openSync(file, fs.O_RDONLY | fs.O_NONBLOCK);
      const writeFd = openSync(file, fs.O_WRONLY | fs.O_NONBLOCK);
      rmSync(file);
      const reader = new net.Socket({ fd: readFd, readable: true, writable: false });
      reading = slowReader(reader, next, false);
      await loop.connectWritePipe(factory, writeFd);
      await check(writer!, reading);
      reader.destroy();
      return;
    }
    const ssl = kind === 'tls' ? { ssl: { key: certs.serverKey, cert: certs.serverCert } } : {};
    const socketPath = path.join(dir, `model-${seed}.sock`);
    const server = kind === 'unix' ? await loop.createUnixServer(factory, socketPath, ssl) : await loop.createServer(factory, '127.0.0.1', 0, ssl);
    const peer =
      kind === 'tls'
        ? tls.connect({ port: port(server), host: '127.0.0.1', ca: certs.caCert, servername: 'localhost', allowHalfOpen: true } as tls.ConnectionOptions)
        : kind === 'unix'
          ? net.connect({ path: socketPath, allowHalfOpen: true })
          : net.connect({ port: port(server), host: '127.0.0.1', allowHalfOpen: true });
    reading = slowReader(peer, next, true);
    await check(await until(() => writer), reading);
    peer.destroy();
    await shutdown(server);
  });
}

async function until<T>(value: () => T | null): Promise<T> {
  for (let turn = 0; turn < 10_000; turn++) {
    const current = value();
    if (current !== null) return current;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error('no connection was made');
}

async function check(writer: ModelWriter, reading: Promise<{ received: number; firstBreak: number }>): Promise<void> {
  await within(writer.lost, 20_000, `connectionLost (program ${JSON.stringify(writer.steps.map((step) => step.op))})`);
  const result = await within(reading, 20_000, 'the peer to see the end');
  await hops(writer.loop, 3);
  expect(writer.done, 'the whole program ran').toBe(true);
  expect(writer.lostCount, 'connectionLost calls').toBe(1);
  expect(result.firstBreak, 'first byte out of order').toBe(-1);
  if (writer.ending === 'abort') expect(result.received).toBeLessThanOrEqual(writer.written);
  else expect(result.received, `bytes delivered (ending: ${writer.ending})`).toBe(writer.written);
  // pause and resume alternate, starting with pause.
  writer.flow.forEach((event, index) => expect(event, `flow event ${index}`).toBe(index % 2 === 0 ? 'pause' : 'resume'));
  if (writer.ending !== 'abort') expect(writer.flow.length % 2, 'a pause without the resume that must follow it').toBe(0);
}

describe('write flow control against a model', () => {
  (['tcp', 'unix', 'tls', 'pipe'] as const).forEach((kind, kindIndex) => {
    it(`${kind}: ${REPLAY ?? SEEDS_PER_KIND} seeded programs`, { timeout: 240_000 }, async () => {
      const seeds = REPLAY !== null ? [REPLAY] : Array.from({ length: SEEDS_PER_KIND }, (_, index) => 1 + index * 7919 + kindIndex * 100_003);
      for (const seed of seeds) {
        try {
          await runSeed(kind, seed);
        } catch (error) {
          (error as Error).message = `seed ${seed} (${kind}; replay with ZLOOP_MODEL_SEED=${seed}): ${(error as Error).message}`;
          throw error;
        }
      }
    });
  });
});
