// asyncio's Queue and Lock on zloop against the same programs on uvloop (Python's asyncio, in
// bench/servers/uvloop-scheduling.py), interleaved, medians: a producer and a consumer task
// passing 1e5 items through an unbounded Queue; two tasks taking turns on a Lock 1e5 times, each
// holding it across one sleep(0). Skipped with a notice when uvloop is not installed.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Lock, newEventLoop, Queue, sleep, gather } from '../dist/src/index.js';
import { formatNumber, median, printTable, REPEATS } from './harness.mjs';
import { python } from './peers.mjs';

export const name = 'primitives';
export const title = 'asyncio Queue and Lock: zloop against uvloop';

const OPS = 100_000;
const UVLOOP = fileURLToPath(new URL('./servers/uvloop-scheduling.py', import.meta.url));

/** Runs `main` as a task on a fresh loop; returns { wallNs, cpuNs } per operation. */
async function measure(main) {
  const loop = newEventLoop();
  try {
    const cpu = process.cpuUsage();
    const start = process.hrtime.bigint();
    await loop.runUntilComplete(loop.createTask(main));
    const wallNs = Number(process.hrtime.bigint() - start) / OPS;
    const used = process.cpuUsage(cpu);
    return { wallNs, cpuNs: ((used.user + used.system) * 1000) / OPS };
  } finally {
    loop.close();
  }
}

const CASES = [
  {
    name: 'Queue put/get, 1 producer 1 consumer, 1e5 items',
    uvloop: 'queue',
    zloop: () =>
      measure(async () => {
        const queue = new Queue();
        const consumer = (async () => {
          for (let index = 0; index < OPS; index++) await queue.get();
        })();
        for (let index = 0; index < OPS; index++) await queue.put(index);
        await consumer;
      }),
  },
  {
    name: 'Lock acquire/release, 2 tasks taking turns, 1e5 times',
    uvloop: 'lock',
    zloop: () =>
      measure(async () => {
        const lock = new Lock();
        const worker = async () => {
          for (let index = 0; index < OPS / 2; index++) {
            await lock.run(() => sleep(0));
          }
        };
        await gather(worker, worker);
      }),
  },
];

function runUvloop(caseName) {
  const child = spawnSync(python, [UVLOOP, caseName, '1'], { encoding: 'utf8', timeout: 300_000 });
  if (child.status !== 0) throw new Error(`uvloop ${caseName}: ${child.stderr.trim().split('\n').pop()}`);
  return JSON.parse(child.stdout)[caseName][0];
}

export async function run() {
  if (python === null) {
    console.log('skipped: uvloop not installed (apt-get install python3-uvloop)');
    return true;
  }
  console.log(`median of ${REPEATS} interleaved repetitions after 1 warm-up, each peer in its own run`);
  const rows = [];
  for (const testCase of CASES) {
    const samples = { zloop: [], uvloop: [] };
    for (let round = 0; round <= REPEATS; round++) {
      const zloop = await testCase.zloop();
      const uvloop = runUvloop(testCase.uvloop);
      if (round === 0) continue;
      samples.zloop.push(zloop);
      samples.uvloop.push(uvloop);
    }
    const z = { wall: median(samples.zloop.map((s) => s.wallNs)), cpu: median(samples.zloop.map((s) => s.cpuNs)) };
    const u = { wall: median(samples.uvloop.map((s) => s.wallNs)), cpu: median(samples.uvloop.map((s) => s.cpuNs)) };
    rows.push([testCase.name, formatNumber(1e9 / z.wall), z.cpu.toFixed(0), formatNumber(1e9 / u.wall), u.cpu.toFixed(0), `${(u.wall / z.wall).toFixed(2)}x`]);
  }
  printTable(['case', 'zloop ops/s', 'cpu ns/op', 'uvloop ops/s', 'cpu ns/op', 'zloop/uvloop'], rows);
  return true;
}
