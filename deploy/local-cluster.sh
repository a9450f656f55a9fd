#!/usr/bin/env bash
# Start a local kvpbus cluster in the foreground: one broker and two workers,
# data under ./var/. Ctrl-C (or SIGTERM) stops all three cleanly.
#
# Environment knobs: KVP_BIN (bin), KVP_VAR (./var), KVP_WORKERS (2),
# KVP_PORT (5555: clients; +1 workers, +2 events-in, +3 events),
# KVP_METRICS_PORT (9155: the broker's metrics, on loopback; worker i at +i),
# KVP_SECURE (1: CURVE on, keys made under $KVP_VAR/keys on first start),
# KVP_REPLICAS (1: copies of each partition; with more, at least as many
# workers are started and the data goes under ./var-rN, since R is fixed
# when the broker's folder is made).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${KVP_BIN:-bin}
REPLICAS=${KVP_REPLICAS:-1}
WORKERS=${KVP_WORKERS:-2}
if [ "$REPLICAS" -gt 1 ]; then
    VAR=${KVP_VAR:-./var-r$REPLICAS}
    [ "$WORKERS" -ge "$REPLICAS" ] || WORKERS=$REPLICAS
else
    VAR=${KVP_VAR:-./var}
fi
PORT=${KVP_PORT:-5555}
CLIENTS=tcp://127.0.0.1:$PORT
BACKEND=tcp://127.0.0.1:$((PORT + 1))
EVENTS_IN=tcp://127.0.0.1:$((PORT + 2))
EVENTS=tcp://127.0.0.1:$((PORT + 3))
METRICS_PORT=${KVP_METRICS_PORT:-9155}

for p in kvp-broker kvp-worker kvpctl; do
    [ -x "$BIN/$p" ] || { echo "missing $BIN/$p: run 'make' first" >&2; exit 1; }
done
mkdir -p "$VAR"

# Secured (spec section 11): keys made once, the admin key for kvpctl.
broker_sec=(); worker_sec=()
if [ "${KVP_SECURE:-0}" = 1 ]; then
    KEYS=$VAR/keys
    ids=$(for i in $(seq 1 "$WORKERS"); do printf 'worker%d ' "$i"; done)
    KVPCTL=$BIN/kvpctl deploy/kvp-keys.sh "$KEYS" --workers "$ids" \
        --client admin:admin --client reader:reader >/dev/null
    broker_sec=(--curve-secret "$KEYS/broker_secret" --clients-allow "$KEYS/clients"
                --workers-allow "$KEYS/workers")
    export KVP_CURVE_SECRET=$KEYS/clients/admin_secret KVP_BROKER_PUBLIC=$KEYS/broker
fi

pids=()
signalled=""
stop_all() {
    trap - INT TERM
    echo
    echo "stopping (pids ${pids[*]})..."
    # Workers first, so they finish and hand in what they accepted, then the broker.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[$i]}" 2>/dev/null || true
        wait "${pids[$i]}" 2>/dev/null || true
    done
    echo "stopped."
    exit "${1:-0}"
}
# Ctrl-C reaches the whole process group: the programs stop by themselves,
# and the script waits for them.
trap 'signalled=1' INT TERM

"$BIN/kvp-broker" --data "$VAR/broker" --clients "$CLIENTS" --workers "$BACKEND" \
    --events-in "$EVENTS_IN" --events "$EVENTS" --metrics "127.0.0.1:$METRICS_PORT" \
    --replicas "$REPLICAS" "${broker_sec[@]}" &
pids+=($!)
metrics="  metrics    http://127.0.0.1:$METRICS_PORT/metrics   (broker)"
for i in $(seq 1 "$WORKERS"); do
    [ -n "${KEYS:-}" ] && worker_sec=(--curve-secret "$KEYS/workers/worker${i}_secret"
                                       --broker-public "$KEYS/broker")
    "$BIN/kvp-worker" --data "$VAR/worker$i" --id "worker$i" --broker "$BACKEND" \
        --events-in "$EVENTS_IN" --metrics "127.0.0.1:$((METRICS_PORT + i))" \
        "${worker_sec[@]}" &
    pids+=($!)
    metrics+=$'\n'"             http://127.0.0.1:$((METRICS_PORT + i))/metrics   (worker$i)"
done

# Wait (at most 10 s) until every worker is registered.
ready=0
for _ in $(seq 100); do
    if out=$("$BIN/kvpctl" --broker "$CLIENTS" --timeout 500 --json status 2>/dev/null) &&
        [ "$(grep -o '"alive": *true' <<<"$out" | wc -l)" -ge "$WORKERS" ]; then
        ready=1
        break
    fi
    sleep 0.1
done
[ $ready = 1 ] || echo "warning: not every worker registered within 10 s" >&2

cat <<INFO

kvpbus is running (broker pid ${pids[0]}, workers ${pids[*]:1}); data in $VAR/
  clients    $CLIENTS   (DEALER/REQ, KVP/1)
  workers    $BACKEND
  events-in  $EVENTS_IN
  events     $EVENTS   (SUB, topics job/<guid>)
$metrics

${KEYS:+CURVE on: keys in $KEYS; kvpctl needs, in that shell,
  export KVP_CURVE_SECRET=$KEYS/clients/admin_secret KVP_BROKER_PUBLIC=$KEYS/broker
}Try, in another shell:
  id=\$($BIN/kvpctl define --name web01) && $BIN/kvpctl add \$id ip=10.0.0.5 role=web && $BIN/kvpctl get \$id
  curl -s http://127.0.0.1:$METRICS_PORT/metrics | grep '^kvpbus_broker_requests_total'
$( [ "$REPLICAS" -gt 1 ] && printf '  %s\n  %s' "$BIN/kvpctl status     (who leads and who follows each partition)" "kill -9 <a worker pid above>, then $BIN/kvpctl status again: its partitions fail over" )

Ctrl-C stops the cluster.
INFO

# Run until Ctrl-C, or until one of them exits by itself. With copies, a
# worker that dies is what the cluster is made to survive (the README's
# tour kills one): only the broker's exit ends it.
set +e
watched=("${pids[@]}")
[ "$REPLICAS" -gt 1 ] && watched=("${pids[0]}")
wait -n "${watched[@]}"
status=$?
# A program exits 0 only when it was asked to stop (the signal may reach it
# before this shell's trap has run).
if [ -n "$signalled" ] || [ $status = 0 ]; then
    stop_all 0
fi
echo "a cluster process exited by itself; stopping the others" >&2
stop_all 1
