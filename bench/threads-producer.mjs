// The producer thread of the threads group (threads.mjs). It waits for a job on its parentPort
// (a LoopRef's buffer or a MessagePort, and a count), acknowledges it, blocks on a shared flag
// until the main thread says go (so the measured window starts at one well-defined instant and the
// job's setup is outside it), then makes `count` one-way calls in a plain loop, the way a user
// would write it. Afterwards it reports its own thread's CPU time when asked.
import { parentPort } from 'node:worker_threads';
import { LoopRef } from '../dist/src/index.js';
import { threadCpuNs } from './thread-cpu.mjs';

let cpuStartNs = 0;
let port = null;

parentPort.on('message', (message) => {
  if (message.kind === 'job') {
    const { peer, count, flag } = message;
    const words = new Int32Array(flag);
    let send;
    if (peer === 'zloop') {
      const ref = LoopRef.from(message.ref);
      send = (index) => ref.callSoonThreadsafe('hit', index);
    } else {
      port?.close();
      port = message.port;
      const target = port;
      send = (index) => target.postMessage(['hit', [index]]);
    }
    parentPort.postMessage('ready');
    Atomics.wait(words, 0, 0);
    cpuStartNs = threadCpuNs();
    for (let index = 0; index < count; index++) send(index);
  } else if (message.kind === 'report') {
    // Asked once the consumer has seen the last call; anything after production (a zloop
    // backlog flush, MessagePort bookkeeping) is in, and the thread was idle since.
    parentPort.postMessage({ cpuNs: threadCpuNs() - cpuStartNs });
  }
});
