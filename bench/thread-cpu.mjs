// CPU time of the calling thread alone, in nanoseconds. process.cpuUsage() sums every thread of
// the process (the other side of a cross-thread benchmark, Node's GC helpers), so per-thread cost
// comes from Linux's /proc/thread-self/schedstat, whose first field is the thread's time on a CPU
// in ns. Elsewhere this returns NaN and the tables print '-'.
import { readFileSync } from 'node:fs';

export function threadCpuNs() {
  try {
    const text = readFileSync('/proc/thread-self/schedstat', 'latin1');
    return Number(text.slice(0, text.indexOf(' ')));
  } catch {
    return NaN;
  }
}
