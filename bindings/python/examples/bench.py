#!/usr/bin/python3
"""AsyncClient throughput: kvpbench's default workload (AddKvpItems of 16
items, spread over 1000 systems) on one connection with 64 requests in
flight (kvpbench -c 1 -p 64).

    examples/bench.py --broker tcp://127.0.0.1:5555 --seconds 10
"""
import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from kvpbus import AsyncClient, Item  # noqa: E402


async def run(args: argparse.Namespace) -> None:
    prefix = os.urandom(4).hex()
    async with AsyncClient(args.broker, timeout=30) as c:
        vms = await asyncio.gather(*(c.define_system("bench-%d" % i) for i in range(args.vms)))
        counter = 0
        latencies = []
        end = time.monotonic() + args.seconds

        async def lane() -> None:
            nonlocal counter
            while time.monotonic() < end:
                n = counter
                counter += 1
                items = [Item("guest.k%04d-%s%x" % (i, prefix, n), "v%016x-%s-%04d" % (n, prefix, i))
                         for i in range(args.items)]
                start = time.monotonic()
                job = await c.add_items(vms[n % len(vms)], items)
                latencies.append(time.monotonic() - start)
                assert job.completed, job

        t0, cpu0 = time.monotonic(), time.process_time()
        await asyncio.gather(*(lane() for _ in range(args.inflight)))
        elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
    latencies.sort()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3
    print("requests %d in %.1f s: %.0f requests/s, %.0f items/s; p50 %.2f ms, p99 %.2f ms;"
          " client cpu %.0f us per request"
          % (len(latencies), elapsed, len(latencies) / elapsed,
             len(latencies) * args.items / elapsed, pct(0.5), pct(0.99),
             cpu / len(latencies) * 1e6))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--broker", default="tcp://127.0.0.1:5555")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--inflight", type=int, default=64)
    p.add_argument("--items", type=int, default=16)
    p.add_argument("--vms", type=int, default=1000)
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
