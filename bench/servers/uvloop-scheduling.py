# The scheduling group's uvloop peer: call_soon chain, call_soon batch and call_later timers on
# uvloop, in the shapes bench/scheduling.mjs gives zloop and Node. Prints one JSON object:
# { "<case>": [{ "wallNs": ns per op, "cpuNs": process CPU ns per op } per repetition] }.
# Usage: python3 uvloop-scheduling.py CASE REPEATS
import asyncio
import json
import sys
import time

import uvloop

CHAIN = 1_000_000
BATCH = 1_000_000
TIMERS = 100_000


def chain(loop):
    left = CHAIN
    finished = loop.create_future()

    def step():
        nonlocal left
        left -= 1
        if left > 0:
            loop.call_soon(step)
        else:
            finished.set_result(time.perf_counter_ns())

    start = time.perf_counter_ns()
    loop.call_soon(step)
    return start, finished, CHAIN


def batch(loop):
    ran = 0
    finished = loop.create_future()

    def callback():
        nonlocal ran
        ran += 1
        if ran == BATCH:
            finished.set_result(time.perf_counter_ns())

    start = time.perf_counter_ns()
    for _ in range(BATCH):
        loop.call_soon(callback)
    return start, finished, BATCH


def timers(loop):
    ran = 0
    finished = loop.create_future()

    def callback():
        nonlocal ran
        ran += 1
        if ran == TIMERS:
            finished.set_result(time.perf_counter_ns())

    start = time.perf_counter_ns()
    for index in range(TIMERS):
        loop.call_later((1 + (index % 100) / 100) / 1000, callback)
    return start, finished, TIMERS


PRIMITIVE_OPS = 100_000


def queue(loop):
    q = asyncio.Queue()
    finished = loop.create_future()

    async def producer():
        for index in range(PRIMITIVE_OPS):
            await q.put(index)

    async def consumer():
        for _ in range(PRIMITIVE_OPS):
            await q.get()
        finished.set_result(time.perf_counter_ns())

    start = time.perf_counter_ns()
    loop.create_task(consumer())
    loop.create_task(producer())
    return start, finished, PRIMITIVE_OPS


def lock(loop):
    mutex = asyncio.Lock()
    finished = loop.create_future()

    async def worker():
        for _ in range(PRIMITIVE_OPS // 2):
            async with mutex:
                await asyncio.sleep(0)

    async def main():
        await asyncio.gather(worker(), worker())
        finished.set_result(time.perf_counter_ns())

    start = time.perf_counter_ns()
    loop.create_task(main())
    return start, finished, PRIMITIVE_OPS


CASES = {'chain': chain, 'batch': batch, 'timers': timers, 'queue': queue, 'lock': lock}


def measure(case):
    loop = uvloop.new_event_loop()
    try:
        cpu_start = time.process_time_ns()
        start, finished, ops = CASES[case](loop)
        end = loop.run_until_complete(finished)
        cpu = time.process_time_ns() - cpu_start
        return {'wallNs': (end - start) / ops, 'cpuNs': cpu / ops}
    finally:
        loop.close()


def main():
    case, repeats = sys.argv[1], int(sys.argv[2])
    measure(case)  # warm-up
    print(json.dumps({case: [measure(case) for _ in range(repeats)]}))


main()
