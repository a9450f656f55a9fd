#!/usr/bin/env bash
# make bench: start a cluster (broker + 2 workers) in a temporary folder on
# 127.0.0.1, run the reference load shapes with kvpbench, print one table,
# stop everything it started (by PID) and remove the folder.
#
#   deploy/bench.sh BIN
#
# Environment knobs:
#   BENCH_SECONDS=10        measured seconds per run (after 1 s of warm-up)
#   BENCH_REPS=3            runs per shape and mode; the table shows medians
#   BENCH_SHAPES="1x1 8x2 32x2 1x64"   connections x requests in flight each
#   BENCH_MODES="full none" worker --sync modes (full = durable)
#   BENCH_VMS=100000        systems the load is spread over
#   BENCH_ITEMS=16          items per AddKvpItems
#   BENCH_SOAK=0            if > 0: also a soak run of this many seconds at 32x2,
#                           with broker and worker RSS sampled before and after
#   BENCH_PEERS=0           if 1 and ../shared/anchors exists: run its Redis and
#                           zero-work broker references in the same invocation
#                           and print ratios (needs redis-server, libhiredis-dev)
#   BENCH_OUT=build/bench   where the JSON results and the plot go
#   BENCH_WORKER_ARGS=""    extra kvp-worker flags (e.g. "--gather 0")
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-bin}
SECONDS_PER=${BENCH_SECONDS:-10}
REPS=${BENCH_REPS:-3}
SHAPES=${BENCH_SHAPES:-"1x1 8x2 32x2 1x64"}
MODES=${BENCH_MODES:-"full none"}
VMS=${BENCH_VMS:-100000}
ITEMS=${BENCH_ITEMS:-16}
SOAK=${BENCH_SOAK:-0}
PEERS=${BENCH_PEERS:-0}
OUT=${BENCH_OUT:-build/bench}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
TMP=$(mktemp -d /tmp/kvpbench.XXXXXX)
PIDS=()

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
CLIENTS=tcp://127.0.0.1:$(free_port)
WORKERS=tcp://127.0.0.1:$(free_port)
EVENTS_IN=tcp://127.0.0.1:$(free_port)
EVENTS=tcp://127.0.0.1:$(free_port)

stop_pids() {
    local p
    for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "$@"; do wait "$p" 2>/dev/null || true; done
}
cleanup() {
    stop_pids "${PIDS[@]}"
    rm -rf "$TMP"
}
trap cleanup EXIT

"$BIN/kvp-broker" --data "$TMP/broker" --clients "$CLIENTS" --workers "$WORKERS" \
    --events-in "$EVENTS_IN" --events "$EVENTS" >"$TMP/broker.log" 2>&1 &
BROKER=$!
PIDS=("$BROKER")
WPIDS=()
start_workers() { # start_workers SYNC
    WPIDS=()
    local extra
    read -r -a extra <<<"${BENCH_WORKER_ARGS:-}"
    for i in 1 2; do
        "$BIN/kvp-worker" --data "$TMP/w$i" --id "w$i" --broker "$WORKERS" \
            --events-in "$EVENTS_IN" --sync "$1" "${extra[@]}" >>"$TMP/w$i.log" 2>&1 &
        WPIDS+=($!)
    done
    PIDS=("$BROKER" "${WPIDS[@]}")
    for _ in $(seq 100); do
        if [ "$("$BIN/kvpctl" --broker "$CLIENTS" --timeout 500 --json status 2>/dev/null |
            grep -o '"alive":true' | wc -l)" -ge 2 ]; then
            return 0
        fi
        sleep 0.1
    done
    echo "workers did not register" >&2
    exit 1
}

# One kvpbench run; its JSON goes to $OUT/<name>.json.
bench() { # bench NAME C W [extra...]
    local name=$1 c=$2 w=$3
    shift 3
    "$BIN/kvpbench" --broker "$CLIENTS" --events "$EVENTS" -c "$c" -p "$w" \
        -d "$SECONDS_PER" --warmup 1 --vms "$VMS" --items "$ITEMS" --reuse-vms \
        --json "$@" >"$OUT/$name.json" 2>"$TMP/bench.err" ||
        { echo "kvpbench failed:" >&2; tail -5 "$TMP/bench.err" >&2; exit 1; }
}

# Heap and other private memory (RssAnon) apart from the pages of LMDB's
# memory-mapped data file (RssFile), which grow with the data, not the load.
rss() { awk '/RssAnon/ {a = $2} /RssFile/ {f = $2} END {printf "anon %s file %s", a, f}' "/proc/$1/status" 2>/dev/null; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%FT%TZ)"
echo "settings: ${SECONDS_PER}s x $REPS reps, shapes \"$SHAPES\", modes \"$MODES\", $VMS systems, $ITEMS items/request"
start_workers full
echo "defining $VMS systems..."
"$BIN/kvpbench" --broker "$CLIENTS" --events "$EVENTS" -c 8 -p 16 -n 1 --vms "$VMS" \
    --no-events >/dev/null 2>"$TMP/define.err" || { cat "$TMP/define.err" >&2; exit 1; }
# Every run starts from the same store: the systems defined, nothing else
# (as the Redis peer starts each run from FLUSHALL). Workers are stopped,
# their folders kept as a seed and restored before each run.
stop_pids "${WPIDS[@]}"
for i in 1 2; do cp -a "$TMP/w$i" "$TMP/seed-w$i"; done
fresh_workers() { # fresh_workers SYNC
    stop_pids "${WPIDS[@]}"
    for i in 1 2; do
        rm -rf "$TMP/w$i"
        cp -a "$TMP/seed-w$i" "$TMP/w$i"
    done
    start_workers "$1"
}

for rep in $(seq "$REPS"); do
    for mode in $MODES; do
        for shape in $SHAPES; do
            fresh_workers "$mode"
            bench "$mode-$shape-$rep" "${shape%x*}" "${shape#*x}"
            printf '.'
        done
    done
done
echo

if [ "$SOAK" -gt 0 ]; then
    fresh_workers full
    before="broker $(rss "$BROKER"); w1 $(rss "${WPIDS[0]}"); w2 $(rss "${WPIDS[1]}")"
    SECONDS_PER=$SOAK bench soak 32 2 --plot "$OUT/soak.svg" --csv "$OUT/soak.csv"
    after="broker $(rss "$BROKER"); w1 $(rss "${WPIDS[0]}"); w2 $(rss "${WPIDS[1]}")"
    echo "soak ${SOAK}s at 32x2, RSS in KiB: before [$before] after [$after]"
    echo "plot: $OUT/soak.svg"
fi

peers=""
if [ "$PEERS" = 1 ] && [ -x ../shared/anchors/run.sh ]; then
    echo "running the reference peers (../shared/anchors, run from a temporary copy) ..."
    stop_pids "${WPIDS[@]}" "$BROKER"
    PIDS=()
    rm -rf "$TMP"/w* "$TMP"/seed-*
    cp -r ../shared/anchors "$TMP/anchors"
    (cd "$TMP/anchors" && PARTS="zmq redis" REDIS_CONFIGS="always everysec" \
        SHAPES="$SHAPES" REPS="$REPS" ./run.sh) >"$OUT/peers.txt" 2>&1 || true
    peers=1
fi

python3 - "$OUT" "$SHAPES" "$MODES" "$REPS" "$OUT/peers.txt" "$peers" <<'PY'
import json, statistics, sys, re, os
out, shapes, modes, reps = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), int(sys.argv[4])
peers = sys.argv[5] if sys.argv[6] else ""
def med(v): return statistics.median(v) if v else 0
ours = {}
for m in modes:
    for s in shapes:
        runs = [json.load(open(f"{out}/{m}-{s}-{r}.json")) for r in range(1, reps + 1)]
        ours[m, s] = dict(
            rps=med([x["requests_per_s"] for x in runs]),
            p50=med([x["reply_latency_us"]["p50"] for x in runs]),
            p99=med([x["reply_latency_us"]["p99"] for x in runs]),
            ev99=med([x["event_latency_us"]["p99"] for x in runs]),
            ev=sum(x["events_received"] for x in runs), jobs=sum(x["jobs"] for x in runs),
            err=sum(x["errors"] for x in runs))
# The anchors' own printed tables (medians): Redis rows and the zero-work broker.
ref = {}
if peers and os.path.exists(peers):
    for line in open(peers):
        m = re.match(r"^(always|everysec)\s+(\d+x\d+)\s+\|\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", line)
        if m:
            ref[m.group(1), m.group(2)] = tuple(float(x) for x in m.group(3, 4, 5))
        m = re.match(r"^(\d+x\d+)\s+\|(?:\s+\S+){5}\s+\|\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", line)
        if m:
            ref["zero", m.group(1)] = tuple(float(x) for x in m.group(2, 3, 4))
print()
print(f"{'shape':6} {'mode':5} | {'req/s':>8} {'p50 us':>8} {'p99 us':>8} {'ev p99':>8} {'events/jobs':>13} {'errors':>6}")
for m in modes:
    for s in shapes:
        o = ours[m, s]
        print(f"{s:6} {m:5} | {o['rps']:8.0f} {o['p50']:8.0f} {o['p99']:8.0f} {o['ev99']:8.0f} "
              f"{o['ev']:>6}/{o['jobs']:<6} {o['err']:6}")
print("medians of", reps, "runs; full = reply after a synced LMDB commit, none = --sync none (survives a process crash)")
if ref:
    print()
    print(f"{'shape':6} | {'redis always':>12} {'p50/p99':>11} | {'redis everysec':>14} | {'zero-work':>9} | "
          f"{'full/always':>11} {'none/everysec':>13} {'none/zero':>9}")
    for s in shapes:
        a, e, z = ref.get(("always", s)), ref.get(("everysec", s)), ref.get(("zero", s))
        f, n = ours.get(("full", s)), ours.get(("none", s))
        r = lambda x, y: f"{x['rps'] / y[0]:.2f}" if x and y else "-"
        print(f"{s:6} | {a[0] if a else 0:12.0f} {('%d/%d' % (a[1], a[2])) if a else '-':>11} | "
              f"{e[0] if e else 0:14.0f} | {z[0] if z else 0:9.0f} | {r(f, a):>11} {r(n, e):>13} {r(n, z):>9}")
    print("peers from ../shared/anchors in this same invocation (their medians); ratios = kvpbus / peer")
PY
if [ -n "$peers" ]; then
    echo
    echo "the peers' own tables:"
    sed -n '/== 1/,$p' "$OUT/peers.txt"
fi
