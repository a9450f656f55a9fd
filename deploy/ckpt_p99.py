#!/usr/bin/env python3
"""Reply latency during checkpoints against latency between them.

    deploy/ckpt_p99.py --latency FILE... --checkpoints FILE...

--latency: kvpbench --latency-log files, one line per reply,
"<send time, unix us> <latency us>". --checkpoints: kvp-worker
--checkpoint-log files, one line per checkpoint, "<start unix us> <end unix
us>" (extra fields are ignored). Both clocks are CLOCK_REALTIME on the same
machine, so files from several runs and workers can be given together.

A request is "during" a checkpoint when its interval [send, send + latency]
overlaps the interval of any checkpoint of any worker given (kvpbench does
not log which worker served a request, so a checkpoint of one worker also
marks the requests the other one served meanwhile). Prints the count, p50,
p99 and p99.9 (nearest rank, exact) of each group. Memory does not grow with
the number of requests: latencies are counted per microsecond value.
"""
import argparse
import bisect
import collections
import sys


def read_pairs(paths, what):
    """(a, b) integer pairs from every line of `paths`; bad lines counted."""
    bad = 0
    for path in paths:
        with open(path) as f:
            for line in f:
                fields = line.split()
                try:
                    yield int(fields[0]), int(fields[1])
                except (IndexError, ValueError):
                    bad += line.strip() != ""
    if bad:
        print(f"ckpt_p99: {bad} malformed {what} lines skipped", file=sys.stderr)


def merged(intervals):
    """Sorted, non-overlapping [start, end] intervals covering the input."""
    out = []
    for start, end in sorted((s, max(s, e)) for s, e in intervals):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return out


def percentile(counts, total, p):
    """Nearest-rank percentile p (0..100) of a value -> count table."""
    if not total:
        return 0
    rank = max(1, -(-total * p // 100))     # ceil without floats
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    return max(counts)


class Group:
    """Latencies of one group, as value -> count."""

    def __init__(self, name):
        self.name, self.counts, self.total = name, collections.Counter(), 0

    def add(self, latency):
        self.counts[latency] += 1
        self.total += 1

    def line(self):
        q = {p: percentile(self.counts, self.total, p) for p in (50, 99, 99.9)}
        return (f"{self.name:26} {self.total:9d} requests   p50 {q[50]:7d}   "
                f"p99 {q[99]:7d}   p99.9 {q[99.9]:7d} us")


def classify(latency_paths, ckpts):
    """Split the requests into (during, between); also their time span."""
    starts = [c[0] for c in ckpts]
    ends = [c[1] for c in ckpts]
    during, between = Group("during a checkpoint"), Group("between checkpoints")
    first, last = None, None
    for sent, latency in read_pairs(latency_paths, "latency"):
        done = sent + latency
        first = sent if first is None else min(first, sent)
        last = done if last is None else max(last, done)
        # The first checkpoint ending at or after the send overlaps the
        # request if it starts before the reply came.
        k = bisect.bisect_left(ends, sent)
        overlaps = k < len(ckpts) and starts[k] <= done
        (during if overlaps else between).add(latency)
    return during, between, first, last


def coverage(ckpts, first, last):
    """Microseconds of [first, last] inside a checkpoint."""
    return sum(max(0, min(e, last) - max(s, first)) for s, e in ckpts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", nargs="+", required=True, metavar="FILE",
                        help="kvpbench --latency-log files")
    parser.add_argument("--checkpoints", nargs="+", required=True, metavar="FILE",
                        help="kvp-worker --checkpoint-log files")
    args = parser.parse_args()
    raw = list(read_pairs(args.checkpoints, "checkpoint"))
    ckpts = merged(raw)
    during, between, first, last = classify(args.latency, ckpts)
    if first is None:
        print("ckpt_p99: no requests in the latency logs", file=sys.stderr)
        return 1
    span = max(1, last - first)
    durations = collections.Counter(max(0, e - s) for s, e in raw)
    p50_ms = percentile(durations, len(raw), 50) / 1000
    max_ms = max(durations, default=0) / 1000
    inside = 100 * coverage(ckpts, first, last) / span
    print(f"checkpoints: {len(raw)} in {len(args.checkpoints)} logs, lasting "
          f"p50 {p50_ms:.1f} ms, max {max_ms:.1f} ms; {inside:.1f} % of the "
          f"{span / 1e6:.1f} s of requests was inside one")
    print(during.line())
    print(between.line())
    if during.total and between.total:
        ratio = (percentile(during.counts, during.total, 99)
                 / max(1, percentile(between.counts, between.total, 99)))
        print(f"p99 during / between: {ratio:.2f}")
    else:
        print("p99 during / between: - (a group is empty)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
