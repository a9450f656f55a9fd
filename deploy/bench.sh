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
#   BENCH_SOAK=0            if > 0: also a soak run of this many seconds at 32x2
#                           durable: rate of its first and last 10 s, broker and
#                           worker RSS and the workers' log size before and after
#   LOG_GLOB="*/wal/*"      the workers' log files, relative to a worker's data
#                           folder (for the soak's log size)
#   BENCH_PEERS=0           if 1 and ../shared/anchors exists: run its Redis and
#                           zero-work broker references in the same invocation
#                           and print ratios (needs redis-server, libhiredis-dev)
#   BENCH_OUT=build/bench   where the JSON results, the summaries and the plot go
#   BENCH_WORKER_ARGS=""    extra kvp-worker flags (e.g. "--gather 0")
#   BENCH_SECURE_SHAPES="32x2 1x64"  shapes also run durable with CURVE on
#                           every socket (keys made in the temporary folder),
#                           beside the plain durable figures of the same run
#   BENCH_REPLICATED_SHAPES="8x2 32x2 1x64"  shapes also run durable with every
#                           partition on both workers: a broker started with
#                           --replicas 2 --min-insync 2 on a fresh folder, the
#                           same two workers on fresh folders, so each write is
#                           synced on both before its 4096 (R=2 beside R=1,
#                           and the replication round trip per batch)
#   BENCH_SLOW_MS=0.2       the subscriber run: kvpbench's subscriber sleeps this
#                           long per event (32x2 durable, BENCH_SLOW_SECONDS=5 s)
#                           behind a broker queueing BENCH_SLOW_HWM=1000 events
#                           for it, so it falls behind, loses live events and
#                           reads them back; then every event stored is read
#                           back with GetEvents (kvpbench --replay) for its rate
#   BENCH_STALLED=500       the stalled-subscriber runs: the same open-loop load
#   BENCH_STALLED_RATE=2000 (this many req/s for BENCH_STALLED_SECONDS=10 s, 8x8,
#   BENCH_STALLED_SECONDS=10  durable) without and with this many subscribers
#                           that never read, twice each (without, with, with,
#                           without); their p99 must stay within 2x, and the
#                           broker's RSS within its bounds (shown before,
#                           during and after)
#
# Besides throughput and latency the table shows: the disk's rate of synced
# 4 KiB writes (measured first, in the temporary folder, which holds the
# workers' data); CPU microseconds per request of the broker, each worker and
# kvpbench (kvpbench reads /proc/PID/stat when the first measured request
# is sent and when the last one is, and divides by the replies received in
# between: warm-up and drain are left out), beside the same figure for the
# peers; and, when kvp-worker has --checkpoint-log, the 32x2 durable p99 of
# requests overlapping a checkpoint against those between checkpoints
# (deploy/ckpt_p99.py).
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
LOG_GLOB=${LOG_GLOB:-"wal/*"}
OUT=${BENCH_OUT:-build/bench}
CKPT_SHAPE=32x2 # the shape whose durable runs get the checkpoint split
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# Summaries of an earlier invocation must not be mistaken for this one's.
rm -f "$OUT"/secure-*.json "$OUT"/repl-*.json "$OUT"/r-*.log "$OUT"/disk.txt "$OUT"/peers.txt "$OUT"/checkpoints.txt "$OUT"/soak.txt \
    "$OUT"/soak-checkpoints.txt "$OUT"/peers-raw.txt "$OUT"/slow.json "$OUT"/replay.json \
    "$OUT"/stalled-*.json "$OUT"/stalled-*.csv "$OUT"/stalled.txt
SLOW_MS=${BENCH_SLOW_MS:-0.2}
SLOW_SECONDS=${BENCH_SLOW_SECONDS:-5}
SLOW_HWM=${BENCH_SLOW_HWM:-1000}
STALLED=${BENCH_STALLED:-500}
STALLED_RATE=${BENCH_STALLED_RATE:-2000}
STALLED_SECONDS=${BENCH_STALLED_SECONDS:-10}
SECURE_SHAPES=${BENCH_SECURE_SHAPES-"32x2 1x64"}
SECURE_KEYS=""  # set while the secured runs go: the keys' folder
REPL_SHAPES=${BENCH_REPLICATED_SHAPES-"8x2 32x2 1x64"}
TMP=$(mktemp -d /tmp/kvpbench.XXXXXX)
# The folders (and, beside them, the logs) of the broker and the workers, and
# the workers' seeds: the replicated runs have their own.
BROKER_DIR=$TMP/broker
W_DIR=$TMP/w
SEED_DIR=$TMP/seed-w
WORKER_METRICS=""  # set while the replicated runs go: workers serve metrics
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
    # The replicated runs' logs are kept (a failed run is read from them).
    cp "$TMP"/r-*.log "$OUT"/ 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# The disk's rate of 4 KiB pwrite + fdatasync in DIR, about 1 s each way:
# appending to a new file (the size changes, so the file system's journal
# commits as well: what an appended log without preallocation pays) and
# overwriting blocks already written (the data alone). The file is kept
# under 64 MiB and removed.
disk_rate() { # disk_rate DIR
    python3 - "$1" <<'PY'
import os, sys, time
BLOCKS = 16384                  # 64 MiB, then the append starts over
def rate(path, append):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    block = b"k" * 4096
    if not append:
        for i in range(64):
            os.pwrite(fd, block, i * 4096)
        os.fsync(fd)
    n, start = 0, time.monotonic()
    while time.monotonic() - start < 1.0 and n < 1000000:
        if append and n and n % BLOCKS == 0:
            os.ftruncate(fd, 0)
        os.pwrite(fd, block, (n % BLOCKS if append else n % 64) * 4096)
        os.fdatasync(fd)
        n += 1
    elapsed = time.monotonic() - start
    os.close(fd)
    os.unlink(path)
    return n / elapsed
path = os.path.join(sys.argv[1], "disk-rate.tmp")
print(f"{rate(path, True):.0f} {rate(path, False):.0f}")
PY
}

DISK=$(disk_rate "$TMP") || DISK="- -"
FSTYPE=$(df --output=fstype "$TMP" | tail -1 | xargs)
echo "disk: synced 4 KiB writes (pwrite + fdatasync) in $TMP ($FSTYPE):" \
    "${DISK% *}/s appending, ${DISK#* }/s overwriting" | tee "$OUT/disk.txt"
[ "$FSTYPE" = tmpfs ] && echo "  (tmpfs: syncing costs nothing here; durable figures say nothing about a disk)" |
    tee -a "$OUT/disk.txt"

# Whether this kvp-worker writes a checkpoint log (the write-ahead log design).
CKPT=""
worker_help=$("$BIN/kvp-worker" --help 2>&1 || true)
case $worker_help in *--checkpoint-log*) CKPT=1 ;; esac
mkdir -p "$TMP/ckpt"

start_broker() { # start_broker [extra kvp-broker flags...]
    "$BIN/kvp-broker" --data "$BROKER_DIR" --clients "$CLIENTS" --workers "$WORKERS" \
        --events-in "$EVENTS_IN" --events "$EVENTS" "$@" >>"$BROKER_DIR.log" 2>&1 &
    BROKER=$!
    PIDS=("$BROKER" "${WPIDS[@]}")
}
WPIDS=()
start_broker
start_workers() { # start_workers SYNC [CHECKPOINT_LOG_PREFIX]
    WPIDS=()
    local extra ckpt=()
    read -r -a extra <<<"${BENCH_WORKER_ARGS:-}"
    for i in 1 2; do
        [ -n "${2:-}" ] && ckpt=(--checkpoint-log "$2-w$i.log")
        local sec=() metrics=()
        [ -n "$SECURE_KEYS" ] && sec=(--curve-secret "$SECURE_KEYS/workers/w${i}_secret"
                                      --broker-public "$SECURE_KEYS/broker")
        [ -n "$WORKER_METRICS" ] && metrics=(--metrics "127.0.0.1:${WMPORT[$i]}")
        "$BIN/kvp-worker" --data "$W_DIR$i" --id "w$i" --broker "$WORKERS" \
            --events-in "$EVENTS_IN" --sync "$1" "${extra[@]}" "${ckpt[@]}" "${sec[@]}" \
            "${metrics[@]}" >>"$W_DIR$i.log" 2>&1 &
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

# One kvpbench run; its JSON goes to $OUT/<name>.json. kvpbench also
# measures the CPU time of the broker and the workers over its window.
bench() { # bench NAME C W [extra...]
    local name=$1 c=$2 w=$3
    shift 3
    "$BIN/kvpbench" --broker "$CLIENTS" --events "$EVENTS" -c "$c" -p "$w" \
        -d "$SECONDS_PER" --warmup 1 --vms "$VMS" --items "$ITEMS" --reuse-vms \
        --cpu-pids "broker=$BROKER,w1=${WPIDS[0]},w2=${WPIDS[1]}" \
        --json "$@" >"$OUT/$name.json" 2>"$TMP/bench.err" ||
        { echo "kvpbench failed:" >&2; tail -5 "$TMP/bench.err" >&2; exit 1; }
}

# Heap and other private memory (RssAnon) apart from the pages of LMDB's
# memory-mapped data file (RssFile), which grow with the data, not the load.
rss() { awk '/RssAnon/ {a = $2} /RssFile/ {f = $2} END {printf "anon %s file %s", a, f}' "/proc/$1/status" 2>/dev/null; }

# The space on disk (allocated blocks) of the files matching $LOG_GLOB
# under worker folder DIR.
log_size() { # log_size DIR
    local files
    shopt -s nullglob
    # shellcheck disable=SC2206 # the glob is meant to expand
    files=("$1"/$LOG_GLOB)
    shopt -u nullglob
    if [ ${#files[@]} -eq 0 ]; then
        echo "no file matches"
    else
        echo "$(du -skc "${files[@]}" | tail -1 | cut -f1) KiB in ${#files[@]} files"
    fi
}
rss_all() { echo "broker $(rss "$BROKER"); w1 $(rss "${WPIDS[0]}"); w2 $(rss "${WPIDS[1]}")"; }
log_all() { echo "w1 $(log_size "$TMP/w1"); w2 $(log_size "$TMP/w2")"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%FT%TZ)"
echo "settings: ${SECONDS_PER}s x $REPS reps, shapes \"$SHAPES\", modes \"$MODES\", $VMS systems, $ITEMS items/request"
start_workers full
define_systems() {
    "$BIN/kvpbench" --broker "$CLIENTS" --events "$EVENTS" -c 8 -p 16 -n 1 --vms "$VMS" \
        --no-events >/dev/null 2>"$TMP/define.err" || { cat "$TMP/define.err" >&2; exit 1; }
}
echo "defining $VMS systems..."
define_systems
# Every run starts from the same store: the systems defined, nothing else
# (as the Redis peer starts each run from FLUSHALL). Workers are stopped,
# their folders kept as a seed and restored before each run.
stop_pids "${WPIDS[@]}"
for i in 1 2; do cp -a "$TMP/w$i" "$TMP/seed-w$i"; done
fresh_workers() { # fresh_workers SYNC [CHECKPOINT_LOG_PREFIX]
    stop_pids "${WPIDS[@]}"
    for i in 1 2; do
        rm -rf "$W_DIR$i"
        cp -a "$SEED_DIR$i" "$W_DIR$i"
    done
    start_workers "$@"
}

# One measured run of SHAPE in MODE; the durable CKPT_SHAPE runs also log
# every reply and every checkpoint when the worker can.
run_one() { # run_one NAME MODE SHAPE
    local prefix="" latency=()
    if [ -n "$CKPT" ] && [ "$2" = full ] && [ "$3" = "$CKPT_SHAPE" ] && [ -z "$SECURE_KEYS" ]; then
        prefix=$TMP/ckpt/$1
        latency=(--latency-log "$prefix.lat")
    fi
    fresh_workers "$2" "$prefix"
    bench "$1" "${3%x*}" "${3#*x}" "${latency[@]}"
}

for rep in $(seq "$REPS"); do
    for mode in $MODES; do
        for shape in $SHAPES; do
            run_one "$mode-$shape-$rep" "$mode" "$shape"
            printf '.'
        done
    done
done
echo

# The secured runs: the same store and shapes, CURVE on every socket. The
# client programs find the admin key in the environment.
if [ -n "$SECURE_SHAPES" ]; then
    SECURE_KEYS=$TMP/keys
    KVPCTL=$BIN/kvpctl deploy/kvp-keys.sh "$SECURE_KEYS" --workers "w1 w2" \
        --client admin:admin >/dev/null
    stop_pids "${WPIDS[@]}" "$BROKER"
    WPIDS=()
    start_broker --curve-secret "$SECURE_KEYS/broker_secret" \
        --clients-allow "$SECURE_KEYS/clients" --workers-allow "$SECURE_KEYS/workers"
    export KVP_CURVE_SECRET=$SECURE_KEYS/clients/admin_secret KVP_BROKER_PUBLIC=$SECURE_KEYS/broker
    for rep in $(seq "$REPS"); do
        for shape in $SECURE_SHAPES; do
            run_one "secure-$shape-$rep" full "$shape"
            printf '.'
        done
    done
    echo
    unset KVP_CURVE_SECRET KVP_BROKER_PUBLIC
    SECURE_KEYS=""
    stop_pids "${WPIDS[@]}" "$BROKER"
    WPIDS=()
    start_broker
fi

# The replicated runs: R=2, M=2 on the same two workers, durable. A broker
# on a fresh folder places every partition on both (a leader and a
# follower, at the first request of the definitions), so each write is
# synced on its leader, sent through the broker (REPL), applied and synced
# on the follower, acknowledged (ACK) and committed back (COMMIT) before
# its 4096: one round trip per partition per group commit. Every run gets
# a cluster of its own, made from nothing: the broker and both workers on
# fresh folders, the systems defined again (each run then starts from the
# same store, as the plain runs do from their seed). A seed restored
# instead would restart the workers, and a follower that restarts asks
# for a copy of every partition it follows (worker/kvp_replicate.c: it
# cannot tell its tail from the leader's), so the run would measure the
# copies and the writes refused until they end. The workers serve
# metrics: their group commits (count, requests, seconds) are read before
# and after each run (its warm-up included, the definitions not) into
# repl-SHAPE-REP.metrics.json.
REPL_FLAGS=(--replicas 2 --min-insync 2)
# Each worker's group commits so far, from its metrics, as KEY in FILE.
scrape_batches() { # scrape_batches FILE KEY
    sleep 0.6  # the snapshot is rewritten every 500 ms
    python3 - "$1" "$2" "${WMPORT[1]}" "${WMPORT[2]}" <<'PY'
import json, os, sys, urllib.request
path, key = sys.argv[1], sys.argv[2]
doc = json.load(open(path)) if os.path.exists(path) else {}
out = doc[key] = {}
for name, port in (("w1", sys.argv[3]), ("w2", sys.argv[4])):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    get = lambda key: next((float(l.split()[-1]) for l in text.splitlines()
                            if l.startswith(key + " ")), None)
    out[name] = dict(batches=get("kvpbus_worker_batch_size_count"),
                     requests=get("kvpbus_worker_batch_size_sum"),
                     commit_s=get("kvpbus_worker_commit_duration_seconds_sum"))
json.dump(doc, open(path, "w"))
PY
}
if [ -n "$REPL_SHAPES" ]; then
    BROKER_DIR=$TMP/r-broker W_DIR=$TMP/r-w
    WORKER_METRICS=1 WMPORT=(- "$(free_port)" "$(free_port)")
    echo "replicated (R=2, M=2): a fresh cluster and $VMS systems defined for each run ..."
    for rep in $(seq "$REPS"); do
        for shape in $REPL_SHAPES; do
            # The broker first: it sees no worker leave (no needless
            # promotions logged for a cluster about to be removed).
            stop_pids "$BROKER"
            stop_pids "${WPIDS[@]}"
            WPIDS=()
            rm -rf "$BROKER_DIR" "$W_DIR"1 "$W_DIR"2
            start_broker "${REPL_FLAGS[@]}"
            start_workers full
            define_systems
            metrics=$OUT/repl-$shape-$rep.metrics.json
            scrape_batches "$metrics" before || true
            bench "repl-$shape-$rep" "${shape%x*}" "${shape#*x}"
            scrape_batches "$metrics" after || true
            [ -e "$metrics" ] || echo "{}" >"$metrics"
            printf '.'
        done
    done
    echo
    stop_pids "$BROKER"
    stop_pids "${WPIDS[@]}"
    WPIDS=()
    rm -rf "$BROKER_DIR" "$W_DIR"1 "$W_DIR"2
    BROKER_DIR=$TMP/broker W_DIR=$TMP/w WORKER_METRICS=""
    start_broker
fi

# The checkpoint split of the runs that logged (all reps pooled: the
# timestamps are absolute) into FILE.
checkpoint_split() { # checkpoint_split FILE NAME_PATTERN
    # shellcheck disable=SC2206 # NAME_PATTERN is a glob
    local lat=("$TMP"/ckpt/$2.lat) logs=("$TMP"/ckpt/$2-w*.log)
    if [ -z "$CKPT" ]; then
        echo "skipped: this kvp-worker has no --checkpoint-log" >"$1"
    elif [ ! -e "${lat[0]}" ] || [ ! -e "${logs[0]}" ]; then
        echo "skipped: no run of shape $CKPT_SHAPE in mode full wrote its logs" >"$1"
    else
        python3 deploy/ckpt_p99.py --latency "${lat[@]}" --checkpoints "${logs[@]}" \
            >"$1" 2>&1 || echo "deploy/ckpt_p99.py failed" >>"$1"
    fi
}
checkpoint_split "$OUT/checkpoints.txt" "full-$CKPT_SHAPE-*"

if [ "$SOAK" -gt 0 ]; then
    echo "soak: ${SOAK}s at 32x2, durable ..."
    prefix=""
    [ -n "$CKPT" ] && prefix=$TMP/ckpt/soak
    fresh_workers full "$prefix"
    rss_before=$(rss_all) log_before=$(log_all)
    latency=()
    [ -n "$CKPT" ] && latency=(--latency-log "$TMP/ckpt/soak.lat")
    SECONDS_PER=$SOAK bench soak 32 2 --plot "$OUT/soak.svg" --csv "$OUT/soak.csv" "${latency[@]}"
    {
        echo "RSS KiB before: $rss_before"
        echo "RSS KiB after:  $(rss_all)"
        echo "log files ($LOG_GLOB in each worker's folder), on disk before: $log_before"
        echo "log files ($LOG_GLOB in each worker's folder), on disk after:  $(log_all)"
    } >"$OUT/soak.txt"
    checkpoint_split "$OUT/soak-checkpoints.txt" soak
fi

# The subscriber run and the replay rate (see BENCH_SLOW_MS above).
echo "subscriber: ${SLOW_SECONDS}s at 32x2 durable, ${SLOW_MS} ms per event, broker queue $SLOW_HWM ..."
stop_pids "$BROKER"
start_broker --events-hwm "$SLOW_HWM"
fresh_workers full
SECONDS_PER=$SLOW_SECONDS bench slow 32 2 --slow-subscriber "$SLOW_MS" --sub-hwm 1000
"$BIN/kvpbench" --broker "$CLIENTS" --replay --json >"$OUT/replay.json" 2>"$TMP/replay.err" ||
    { echo "kvpbench --replay failed:" >&2; tail -5 "$TMP/replay.err" >&2; exit 1; }

# The stalled-subscriber runs (see BENCH_STALLED above), on a broker with
# its default bounds, each from the same store (fresh workers: the store's
# growth does not count against the second run). The broker's RSS is
# sampled every second meanwhile.
echo "stalled subscribers: ${STALLED_RATE} req/s for ${STALLED_SECONDS}s at 8x8 durable, without and with $STALLED ..."
stop_pids "$BROKER"
start_broker
rss_peak() { # rss_peak PID SECONDS: the largest RssAnon, KiB, in that time
    local peak=0 now i
    for i in $(seq "$2"); do
        now=$(awk '/RssAnon/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0)
        [ "$now" -gt "$peak" ] && peak=$now
        sleep 1
    done
    echo "$peak"
}
{
    echo "broker RSS before: $(rss "$BROKER")"
    # Without, with, with, without: a run late in the sequence is slower
    # (the disk still busy with the folders removed before it), so each
    # side gets an early run and a late one
    for run in 0-a "$STALLED"-a "$STALLED"-b 0-b; do
        n=${run%-*} extra=()
        [ "$n" != 0 ] && extra=(--stalled-subscribers "$n")
        fresh_workers full
        [ "$run" = "$STALLED"-a ] && { rss_peak "$BROKER" $((STALLED_SECONDS + 3)) >"$TMP/peak" & }
        [ "$run" = "$STALLED"-a ] && peak_pid=$!
        SECONDS_PER=$STALLED_SECONDS bench stalled-"$run" 8 8 --rate "$STALLED_RATE" \
            "${extra[@]}" --csv "$OUT/stalled-$run.csv"
        [ "$run" = "$STALLED"-a ] && wait "$peak_pid"
    done
    echo "broker RSS peak with $STALLED stalled subscribers: anon $(cat "$TMP/peak")"
    sleep 2
    echo "broker RSS after they went: $(rss "$BROKER")"
} >"$OUT/stalled.txt"

peers=""
if [ "$PEERS" = 1 ] && [ -x ../shared/anchors/run.sh ]; then
    echo "running the reference peers (../shared/anchors, run from a temporary copy) ..."
    stop_pids "${WPIDS[@]}" "$BROKER"
    PIDS=()
    rm -rf "$TMP"/w* "$TMP"/seed-*
    cp -r ../shared/anchors "$TMP/anchors"
    # The shapes of the plain runs, then those only the replicated runs had.
    peer_shapes=$SHAPES
    for s in $REPL_SHAPES; do
        case " $peer_shapes " in *" $s "*) ;; *) peer_shapes="$peer_shapes $s" ;; esac
    done
    (cd "$TMP/anchors" && PARTS="zmq redis" REDIS_CONFIGS="always everysec" \
        SHAPES="$peer_shapes" REPS="$REPS" ./run.sh) >"$OUT/peers.txt" 2>&1 || true
    cat "$TMP"/anchors/results/raw-*.txt >"$OUT/peers-raw.txt" 2>/dev/null || true
    peers=1
fi

peers_file=${peers:+$OUT/peers.txt}
OUT=$OUT SHAPES=$SHAPES MODES=$MODES REPS=$REPS PEERS_FILE=$peers_file SOAK=$SOAK \
    SECURE_SHAPES=$SECURE_SHAPES REPL_SHAPES=$REPL_SHAPES STALLED=$STALLED python3 - <<'PY'
import json, statistics, re, os
env = os.environ
out, shapes, modes, reps = env["OUT"], env["SHAPES"].split(), env["MODES"].split(), int(env["REPS"])
peers, soak = env["PEERS_FILE"], int(env["SOAK"])

def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None

def num(x, width, digits=0):
    return f"{x:{width}.{digits}f}" if x is not None else f"{'-':>{width}}"

def ratio(a, b):
    return a / b if a is not None and b else None

def cpu_us(run, name):
    return run.get("cpu", {}).get("us_per_request", {}).get(name)

def workers_us(run):
    w = [cpu_us(run, n) for n in ("w1", "w2")]
    return sum(w) if None not in w else None

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
            err=sum(x["errors"] for x in runs),
            cpu={n: med([cpu_us(x, n) for x in runs]) for n in ("broker", "w1", "w2", "kvpbench")},
            workers=med([workers_us(x) for x in runs]))

# The anchors' own printed tables (medians over their reps): per Redis
# configuration rps, p50, p99, lg%, srv%; for the zero-work broker rps, p50,
# p99, lg%, brk%. The CPU figures are % of one core over each load
# generator's whole invocation (its warm-up included).
ref = {}
if peers and os.path.exists(peers):
    for line in open(peers):
        m = re.match(r"^(always|everysec)\s+(\d+x\d+)\s+\|\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)"
                     r"\s+([\d.]+)\s+([\d.]+)", line)
        if m:
            ref[m.group(1), m.group(2)] = tuple(float(x) for x in m.group(3, 4, 5, 6, 7))
        m = re.match(r"^(\d+x\d+)\s+\|(?:\s+\S+){5}\s+\|\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)"
                     r"\s+([\d.]+)\s+([\d.]+)", line)
        if m:
            ref["zero", m.group(1)] = tuple(float(x) for x in m.group(2, 3, 4, 5, 6))

def peer_cpu_us(key, pct_index):
    """A peer's CPU per request: % of one core / 100 * 1e6 us / its rate."""
    r = ref.get(key)
    return r[pct_index] * 1e4 / r[0] if r and r[0] > 0 else None

print()
print(open(f"{out}/disk.txt").read().rstrip())
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

print()
print("CPU microseconds per request (inside kvpbench's measured window; medians of", reps, "runs)")
print(f"{'shape':6} {'mode':5} | {'broker':>7} {'w1':>7} {'w2':>7} {'workers':>7} {'kvpbench':>8} | "
      f"{'zero-work':>9} {'redis':>7} | {'brk/zero':>8} {'wrk/redis':>9}")
for m in modes:
    for s in shapes:
        o, c = ours[m, s], ours[m, s]["cpu"]
        zero = peer_cpu_us(("zero", s), 4)
        redis = peer_cpu_us(("always" if m == "full" else "everysec", s), 4)
        print(f"{s:6} {m:5} | {num(c['broker'], 7, 1)} {num(c['w1'], 7, 1)} {num(c['w2'], 7, 1)} "
              f"{num(o['workers'], 7, 1)} {num(c['kvpbench'], 8, 1)} | {num(zero, 9, 1)} {num(redis, 7, 1)} | "
              f"{num(ratio(c['broker'], zero), 8, 2)} {num(ratio(o['workers'], redis), 9, 2)}")
print("targets: brk/zero <= 1.30 (the broker against the zero-work broker), wrk/redis <= 1.00 (both workers")
print("  against the Redis server: appendfsync always beside full, everysec beside none). Peers: their")
print("  brk%/srv% (% of one core) x 10^4 / their req/s" + ("" if ref else "; not run (BENCH_PEERS=1)"))

print()
print("p99 during checkpoints vs between them (32x2 full, all runs pooled):")
for line in open(f"{out}/checkpoints.txt"):
    print("  " + line.rstrip())

def secure_report():
    """Durable with CURVE on every socket beside plain durable, same run."""
    shapes = env.get("SECURE_SHAPES", "").split()
    if not shapes:
        return
    print()
    print("secured (CURVE on every socket) vs plain, durable, medians of", reps, "runs")
    print(f"{'shape':6} | {'plain req/s':>11} {'CURVE req/s':>11} {'ratio':>6} | {'p99 plain':>9} "
          f"{'p99 CURVE':>9} | {'brk us plain':>12} {'brk us CURVE':>12} {'kvpbench us':>11}")
    for s in shapes:
        runs = [json.load(open(f"{out}/secure-{s}-{r}.json")) for r in range(1, reps + 1)]
        sec = dict(rps=med([x["requests_per_s"] for x in runs]),
                   p99=med([x["reply_latency_us"]["p99"] for x in runs]),
                   brk=med([cpu_us(x, "broker") for x in runs]),
                   lg=med([cpu_us(x, "kvpbench") for x in runs]))
        plain = ours.get(("full", s))
        if not plain:
            print(f"{s:6} | (no plain durable run of this shape)")
            continue
        print(f"{s:6} | {plain['rps']:11.0f} {sec['rps']:11.0f} {num(ratio(sec['rps'], plain['rps']), 6, 2)} | "
              f"{plain['p99']:9.0f} {sec['p99']:9.0f} | {num(plain['cpu']['broker'], 12, 1)} "
              f"{num(sec['brk'], 12, 1)} {num(plain['cpu']['kvpbench'], 5, 1)}/{num(sec['lg'], 5, 1)}")

secure_report()

def replicated_report():
    """Durable at R=2, M=2 beside durable at R=1 (the plain runs), same
    invocation, and the replication round trip per batch.

    The round trip per batch (REPL to the broker, on to the follower, its
    apply and synced commit, ACK to the broker, COMMIT back to the leader)
    is not timed by the programs: neither the worker's nor the broker's
    metrics have it. It is estimated from the clients' side as the mean
    reply latency at R=2 minus the mean at R=1, same shape (medians over
    the reps): every request of a group commit waits for that batch's one
    round trip, so the difference is a cost per batch, not per request
    (multiplying it by the requests of a batch would count the one round
    trip once per request). It includes what the follower's work takes
    from the leader on the same two cores (each worker leads half the
    partitions and follows the other half) and any queueing the longer
    wait adds. Divided by the requests per group commit at R=2 (the
    workers' kvpbus_worker_batch_size sum / count, read before and after
    each run: its warm-up included) it gives the share of one request. Beside it, the
    workers' mean group commit at R=2 (kvpbus_worker_commit_duration_seconds:
    execute, log write and sync, the round trip not included)."""
    shapes = env.get("REPL_SHAPES", "").split()
    if not shapes:
        return
    print()
    print("replicated: R=2 (--replicas 2 --min-insync 2, every write synced on both workers) vs R=1,")
    print("durable, medians of", reps, "runs")
    print(f"{'shape':6} | {'R=1 req/s':>9} {'R=2 req/s':>9} {'R2/R1':>6} {'R2/always':>9} | "
          f"{'p99 R=1':>8} {'p99 R=2':>8} | {'brk us R1/R2':>13} {'wrk us R1/R2':>13} | {'errors':>6}")
    rt = {}
    for s in shapes:
        runs = [json.load(open(f"{out}/repl-{s}-{r}.json")) for r in range(1, reps + 1)]
        mets = [json.load(open(f"{out}/repl-{s}-{r}.metrics.json")) for r in range(1, reps + 1)]
        rep2 = dict(rps=med([x["requests_per_s"] for x in runs]),
                    p99=med([x["reply_latency_us"]["p99"] for x in runs]),
                    mean=med([x["reply_latency_us"]["mean"] for x in runs]),
                    brk=med([cpu_us(x, "broker") for x in runs]),
                    workers=med([workers_us(x) for x in runs]),
                    err=sum(x["errors"] for x in runs),
                    errs={})
        for x in runs:
            for k, v in x.get("errors_by_rc", {}).items():
                rep2["errs"][k] = rep2["errs"].get(k, 0) + v
        def per_batch(m, key):
            """Over both workers, the run's `key` per group commit: the
            counters after it less those before it."""
            def total(k):
                v = [m.get(when, {}).get(n, {}).get(k) for when in ("after", "before")
                     for n in ("w1", "w2")]
                return None if None in v else v[0] + v[1] - v[2] - v[3]
            batches, value = total("batches"), total(key)
            return value / batches if batches and value is not None else None
        rep2["batch"] = med([per_batch(m, "requests") for m in mets])
        rep2["commit_us"] = med([None if per_batch(m, "commit_s") is None
                                 else per_batch(m, "commit_s") * 1e6 for m in mets])
        one = ours.get(("full", s))
        always = ref.get(("always", s))
        if one:
            mean1 = med([json.load(open(f"{out}/full-{s}-{r}.json"))["reply_latency_us"]["mean"]
                         for r in range(1, reps + 1)])
            rt[s] = (mean1, rep2)
        dash = "-"
        print(f"{s:6} | {num(one and one['rps'], 9)} {rep2['rps']:9.0f} "
              f"{num(ratio(rep2['rps'], one and one['rps']), 6, 2)} "
              f"{num(ratio(rep2['rps'], always and always[0]), 9, 2)} | "
              f"{num(one and one['p99'], 8)} {rep2['p99']:8.0f} | "
              f"{num(one and one['cpu']['broker'], 6, 1)}/{num(rep2['brk'], 6, 1)} "
              f"{num(one and one['workers'], 6, 1)}/{num(rep2['workers'], 6, 1)} | {rep2['err']:6}"
              + (f" ({', '.join(f'{k} {v}' for k, v in sorted(rep2['errs'].items()))})"
                 if rep2["errs"] else ""))
    print("R=1 = the plain durable runs above (\"-\": that shape was not run plain); R2/always = R=2 /")
    print("  Redis appendfsync always (" + ("../shared/anchors, this invocation; target >= 1.00)" if ref
                                         else "not run: BENCH_PEERS=1)"))
    print("  brk/wrk us = CPU microseconds per request of the broker / both workers, R=1/R=2")
    if rt:
        print("replication round trip per batch = mean reply latency R=2 - R=1 (see deploy/bench.sh):")
        for s, (mean1, r2) in rt.items():
            cost = r2["mean"] - mean1 if mean1 is not None and r2["mean"] is not None else None
            share = cost / r2["batch"] if cost is not None and r2["batch"] else None
            print(f"  {s:6} mean latency {num(mean1, 0)} -> {num(r2['mean'], 0)} us: "
                  f"{num(cost, 0)} us per batch; {num(r2['batch'], 0, 1)} requests per group commit "
                  f"at R=2: {num(share, 0, 1)} us per request; group commit itself {num(r2['commit_us'], 0)} us")

replicated_report()

def subscriber_report():
    """The slow subscriber's counts and the replay rate."""
    slow, replay = json.load(open(f"{out}/slow.json")), json.load(open(f"{out}/replay.json"))
    print()
    print(f"subscriber (32x2 durable, {slow['duration_s']:.1f} s, sleeping per event): "
          f"{slow['events_received']} events received / {slow['jobs']} jobs, "
          f"{slow['events_repeats']} repeats dropped, {slow['events_replayed']} filled by replay, "
          f"{slow['events_lost']} lost (must be 0)")
    print(f"replay (GetEvents, pages of {replay['replay_limit']}, one request in flight per partition): "
          f"{replay['replay_events']} events in {replay['replay_s']:.2f} s: "
          f"{replay['replay_events_per_s']:.0f} events/s, {replay['replay_mb_per_s']:.1f} MB/s, "
          f"{replay['replay_errors']} errors")

subscriber_report()

def seconds_p99(name):
    """The median of a run's per-second p99 (whole seconds): its level,
    where the run's own p99 is one or two of its worst seconds (a
    checkpoint's fdatasync, another process on the machine)."""
    rows = [line.strip().split(",") for line in open(f"{out}/{name}.csv").readlines()[1:]]
    p99 = [int(r[3]) for r in rows[:-1]] or [int(r[3]) for r in rows]
    return statistics.median(p99) if p99 else 0

def stalled_report():
    """The same open-loop load without and with stalled subscribers, two
    runs each (one early, one late): the means of their p99s."""
    n = env["STALLED"]
    print()
    print(f"stalled subscribers (8x8 durable, open loop; without, with, with, without):")
    p99, steady = {}, {}
    for k in ("0", n):
        runs = [json.load(open(f"{out}/stalled-{k}-{x}.json")) for x in "ab"]
        lat = [r["reply_latency_us"] for r in runs]
        p99[k] = statistics.mean(l["p99"] for l in lat)
        steady[k] = statistics.mean(seconds_p99(f"stalled-{k}-{x}") for x in "ab")
        print(f"  {k:>5} stalled: {statistics.mean(r['requests_per_s'] for r in runs):6.0f} req/s, "
              f"p50 {statistics.mean(l['p50'] for l in lat):6.0f} us, p99 "
              + " / ".join(f"{l['p99']:.0f}" for l in lat)
              + f" us (per second: median {steady[k]:6.0f} us), {sum(r['errors'] for r in runs)} errors")
    ratio = lambda d: d[n] / d["0"] if d["0"] else 0
    print(f"  p99 with / without: {ratio(p99):.2f}, per-second median {ratio(steady):.2f} "
          f"(target <= 2.00)")
    for line in open(f"{out}/stalled.txt"):
        print("  " + line.rstrip())

stalled_report()

def soak_report():
    """Rate of the first and last 10 s of the soak, from its per-second CSV."""
    rows, last_t = [], 0.0
    for line in open(f"{out}/soak.csv").readlines()[1:]:
        t, rps, p50, p99, errors = line.strip().split(",")
        # Whole seconds only: the short row of the final drain is left out.
        if float(t) - last_t >= 0.5:
            rows.append((float(rps), int(p99)))
            last_t = float(t)
    w = 10 if len(rows) >= 20 else len(rows) // 2
    print()
    print(f"soak: {soak} s at 32x2 durable, {len(rows)} whole seconds")
    if w == 0:
        print("  too short to compare its start with its end")
    else:
        first = statistics.mean(r[0] for r in rows[:w])
        last = statistics.mean(r[0] for r in rows[-w:])
        p99 = lambda part: statistics.median(r[1] for r in part)
        print(f"  first {w} s {first:.0f} req/s (p99 {p99(rows[:w]):.0f} us), last {w} s {last:.0f} req/s "
              f"(p99 {p99(rows[-w:]):.0f} us): last/first {last / first if first else 0:.2f} (target >= 0.90)")
    for line in open(f"{out}/soak.txt"):
        print("  " + line.rstrip())
    print("  p99 during checkpoints vs between them:")
    for line in open(f"{out}/soak-checkpoints.txt"):
        print("    " + line.rstrip())
    print(f"  per second: {out}/soak.csv; plot: {out}/soak.svg")

if soak > 0:
    soak_report()
PY
if [ -n "$peers" ]; then
    echo
    echo "the peers' own tables:"
    sed -n '/== 1/,$p' "$OUT/peers.txt"
fi
