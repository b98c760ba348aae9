// asyncio's module API: a TaskGroup of workers on a bounded Queue, gather, and a timeout.
// A task's function receives an AbortSignal: cancelling the task (or its group) aborts it, and a
// get() cancelled that way takes no item.
// Run: node examples/tasks-and-queues.mjs
// Prints:
//   squares of 1..20 summed: 2870
//   gathered: [1,2,3]
//   timed out: true
import { gather, Queue, run, sleep, TaskGroup, timeout, TimeoutError } from 'zloop';

await run(async () => {
  const jobs = new Queue(10); // bounded: put() waits while 10 are queued
  let sum = 0;
  await TaskGroup.run(async (group) => {
    for (let worker = 0; worker < 3; worker++) {
      group.createTask(async (signal) => {
        for (;;) {
          const job = await jobs.get({ signal });
          if (job < 0) return;
          sum += job * job;
          jobs.taskDone();
        }
      });
    }
    for (let job = 1; job <= 20; job++) await jobs.put(job);
    await jobs.join(); // every job got and marked done
    for (let worker = 0; worker < 3; worker++) await jobs.put(-1);
  });
  console.log(`squares of 1..20 summed: ${sum}`);

  const results = await gather(sleep(0.02, 1), sleep(0.01, 2), sleep(0, 3));
  console.log(`gathered: ${JSON.stringify(results)}`); // in the order given, not finished

  try {
    await timeout(0.05, (signal) => jobs.get({ signal })); // nothing comes
  } catch (error) {
    console.log(`timed out: ${error instanceof TimeoutError}`);
  }
});
