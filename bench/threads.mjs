// Cross-thread one-way calls: a producer worker thread makes CALLS calls to a consumer on the
// main thread, through zloop (ref.callSoonThreadsafe('hit', i) into a loop that registered 'hit'
// with registerThreadsafe) and through a MessageChannel between the same two threads
// (port.postMessage(['hit', [i]]), dispatched by name in port.on('message')). Both consumers
// check that every call arrives once and in order.
//
// How it measures:
// - One producer worker (threads-producer.mjs) serves every run. Before each run it gets the job
//   (the LoopRef's buffer or a fresh MessagePort), acknowledges it and blocks on a shared flag;
//   the window opens when the main thread raises the flag (the 'go') and closes when the consumer
//   sees the last call. A fresh loop / channel per run; making and closing it is outside.
// - Peers are interleaved (order alternating), one warm-up pair is thrown away, medians of
//   REPEATS pairs are reported, with a collected heap and a short pause before each run.
// - CPU per call is each thread's own CPU time over the window, read from
//   /proc/thread-self/schedstat (thread-cpu.mjs): the consumer's from the go to the last call, the
//   producer's from the go until it is asked afterwards. process.cpuUsage() would sum both
//   threads (and Node's helper threads), which says nothing about either side.
//
// Environment: ZLOOP_BENCH_THREADS_CALLS (calls per run, default 1e6), ZLOOP_BENCH_REPEATS.
import { once } from 'node:events';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { MessageChannel, Worker } from 'node:worker_threads';
import { newEventLoop } from '../dist/src/index.js';
import { REPEATS, median, printTable, formatNumber, positiveNumber } from './harness.mjs';
import { threadCpuNs } from './thread-cpu.mjs';

export const name = 'threads';
export const title = 'cross-thread one-way calls, worker -> main thread: zloop callSoonThreadsafe vs MessagePort postMessage';

const CALLS = Math.round(positiveNumber('ZLOOP_BENCH_THREADS_CALLS', process.env.ZLOOP_BENCH_THREADS_CALLS, 1e6));
const TARGET = 5;
const PAUSE_MS = 30;
/** Below this CPU use of both threads in every run, the table is marked as measured under contention. */
const CONTENDED_PERCENT = 80;

let worker = null;

/** Hands the producer its job and waits until it is blocked on the go flag. */
async function prepare(job, transfer) {
  const flag = new SharedArrayBuffer(4);
  const ready = once(worker, 'message');
  worker.postMessage({ kind: 'job', count: CALLS, flag, ...job }, transfer);
  const [reply] = await ready;
  if (reply !== 'ready') throw new Error(`threads: producer answered ${JSON.stringify(reply)}`);
  return new Int32Array(flag);
}

/** Opens the window: raises the flag the producer waits on. */
function go(words, window) {
  window.cpuStartNs = threadCpuNs();
  window.wallStart = process.hrtime.bigint();
  Atomics.store(words, 0, 1);
  Atomics.notify(words, 0);
}

/** A consumer for `hit(i)` that checks order and closes the window at the last call. */
function consumer(window, finish) {
  let expected = 0;
  return (index) => {
    if (index !== expected) throw new Error(`threads: call ${index} arrived where ${expected} was expected`);
    if (++expected === CALLS) {
      window.wallEnd = process.hrtime.bigint();
      window.cpuEndNs = threadCpuNs();
      finish();
    }
  };
}

async function producerCpuNs() {
  const reply = once(worker, 'message');
  worker.postMessage({ kind: 'report' });
  const [{ cpuNs }] = await reply;
  return cpuNs;
}

const PEERS = {
  async zloop() {
    const window = {};
    const loop = newEventLoop();
    try {
      loop.registerThreadsafe('hit', consumer(window, () => loop.stop()));
      const words = await prepare({ peer: 'zloop', ref: loop.ref().buffer });
      const running = loop.runForever();
      go(words, window);
      await running;
    } finally {
      loop.close();
    }
    return { ...window, producerCpuNs: await producerCpuNs() };
  },

  async port() {
    const window = {};
    const { port1, port2 } = new MessageChannel();
    const done = new Promise((resolve) => {
      const handlers = { hit: consumer(window, resolve) };
      port1.on('message', ([callName, args]) => handlers[callName](...args));
    });
    try {
      const words = await prepare({ peer: 'port', port: port2 }, [port2]);
      go(words, window);
      await done;
    } finally {
      port1.close();
    }
    return { ...window, producerCpuNs: await producerCpuNs() };
  },
};

function summarize(samples) {
  const wallNs = samples.map((sample) => Number(sample.wallEnd - sample.wallStart));
  const rates = wallNs.map((ns) => CALLS / (ns / 1e9));
  const rate = median(rates);
  return {
    rate,
    spread: (Math.max(...rates) - Math.min(...rates)) / 2 / rate,
    consumerNsPerCall: median(samples.map((sample) => (sample.cpuEndNs - sample.cpuStartNs) / CALLS)),
    producerNsPerCall: median(samples.map((sample) => sample.producerCpuNs / CALLS)),
    consumerPercent: median(samples.map((sample, index) => (100 * (sample.cpuEndNs - sample.cpuStartNs)) / wallNs[index])),
    producerPercent: median(samples.map((sample, index) => (100 * sample.producerCpuNs) / wallNs[index])),
  };
}

export async function run() {
  const loadBefore = os.loadavg()[0];
  console.log(
    `${formatNumber(CALLS)} calls per run; median of ${REPEATS} interleaved repetitions after 1 warm-up; ±: half-range of the repetitions; ` +
      'cpu: each thread\'s own CPU time per call (consumer = main thread, producer = worker)',
  );
  worker = new Worker(new URL('./threads-producer.mjs', import.meta.url));
  await once(worker, 'online');
  const samples = { zloop: [], port: [] };
  try {
    for (let round = 0; round <= REPEATS; round++) {
      const order = round % 2 === 0 ? ['zloop', 'port'] : ['port', 'zloop'];
      for (const peer of order) {
        globalThis.gc?.();
        await sleep(PAUSE_MS);
        const sample = await PEERS[peer]();
        if (round > 0) samples[peer].push(sample);
      }
    }
  } finally {
    await worker.terminate();
    worker = null;
  }
  const zloop = summarize(samples.zloop);
  const port = summarize(samples.port);
  const ratio = zloop.rate / port.rate;
  const met = ratio >= TARGET;
  // CPU both threads spent per call, MessagePort's over zloop's: steadier than calls/s when other
  // processes hold the CPUs, since time spent descheduled is in neither.
  const cpuRatio = (port.consumerNsPerCall + port.producerNsPerCall) / (zloop.consumerNsPerCall + zloop.producerNsPerCall);
  const cpu = (value) => (Number.isFinite(value) ? value.toFixed(0) : '-');
  const percent = (summary) => `${cpu(summary.consumerPercent)}% / ${cpu(summary.producerPercent)}%`;
  printTable(
    ['peer', 'calls/s', 'consumer ns/call', 'producer ns/call', 'cons/prod cpu%', 'calls/s vs port', 'cpu vs port', 'target', 'met'],
    [
      ['zloop callSoonThreadsafe', `${formatNumber(zloop.rate)} ±${(zloop.spread * 100).toFixed(0)}%`, cpu(zloop.consumerNsPerCall), cpu(zloop.producerNsPerCall), percent(zloop), `${ratio.toFixed(2)}x`, Number.isFinite(cpuRatio) ? `${cpuRatio.toFixed(2)}x` : '-', `>= ${TARGET}x calls/s`, met ? 'yes' : 'NO'],
      ['MessagePort postMessage', `${formatNumber(port.rate)} ±${(port.spread * 100).toFixed(0)}%`, cpu(port.consumerNsPerCall), cpu(port.producerNsPerCall), percent(port), '1.00x', '1.00x', '-', '-'],
    ],
  );
  const loadAfter = os.loadavg()[0];
  console.log(
    `notes: load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after; cpu%: a thread's CPU time over the window ` +
      '(the producer finishes early when the consumer is the bottleneck, and waits when it is not); ' +
      "cpu vs port: MessagePort's consumer+producer CPU per call over zloop's (higher is better).",
  );
  const busiest = Math.max(zloop.consumerPercent, zloop.producerPercent, port.consumerPercent, port.producerPercent);
  if (busiest < CONTENDED_PERCENT) {
    console.log(`warning: neither thread reached ${CONTENDED_PERCENT}% CPU in either peer (busiest ${busiest.toFixed(0)}%): other processes shared the CPUs.`);
  }
  if (!met) console.log(`threads target missed: ${ratio.toFixed(2)}x MessagePort calls/s (target ${TARGET}x)`);
  return met;
}
