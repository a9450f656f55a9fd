#!/usr/bin/env bash
# Make the keys of a secured kvpbus cluster (spec section 11) and say which
# file goes to which host.
#
#   deploy/kvp-keys.sh DIR --workers "w1 w2 w3" [--client NAME:ROLE ...]
#
# Writes DIR/broker (+_secret), DIR/workers/ID (+_secret) for each worker
# id, and DIR/clients/NAME (+_secret) for each client (ROLE: reader, writer
# or admin; default clients: admin:admin). Existing keys are kept.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
kvpctl=${KVPCTL:-$here/bin/kvpctl}
[ $# -ge 1 ] || { sed -n '2,10p' "$0"; exit 2; }
dir=$1; shift
workers=""; clients=()
while [ $# -gt 0 ]; do
    case $1 in
        --workers) workers=$2; shift 2 ;;
        --client)  clients+=("$2"); shift 2 ;;
        *) echo "kvp-keys: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$workers" ] || { echo "kvp-keys: --workers \"ID ...\" is required" >&2; exit 2; }
[ ${#clients[@]} -gt 0 ] || clients=(admin:admin)

umask 077
keygen() {  # DIR NAME [ROLE]
    [ -e "$1/$2" ] && return 0
    "$kvpctl" keygen "$2" --dir "$1" ${3:+--role "$3"} >/dev/null
}
keygen "$dir" broker
for w in $workers; do keygen "$dir/workers" "$w"; done
for c in "${clients[@]}"; do keygen "$dir/clients" "${c%%:*}" "${c#*:}"; done
chmod 0644 "$dir/broker" "$dir"/workers/* "$dir"/clients/* 2>/dev/null || true
chmod 0600 "$dir"/broker_secret "$dir"/workers/*_secret "$dir"/clients/*_secret

cat <<TXT
Keys in $dir. Copy (secret files stay 0600, owned by the service's user):

  broker host:   $dir/broker_secret, $dir/clients/ (public files only),
                 $dir/workers/ (public files only)
      kvp-broker --curve-secret broker_secret --clients-allow clients \\
                 --workers-allow workers --clients tcp://*:5555 ...
TXT
for w in $workers; do
cat <<TXT
  worker $w:     $dir/workers/${w}_secret, $dir/broker
      kvp-worker --id $w --curve-secret ${w}_secret --broker-public broker ...
TXT
done
for c in "${clients[@]}"; do
cat <<TXT
  client ${c%%:*} (${c#*:}): $dir/clients/${c%%:*}_secret, $dir/broker
      KVP_CURVE_SECRET=${c%%:*}_secret KVP_BROKER_PUBLIC=broker kvpctl ...
TXT
done
echo "Revoke a client or worker: delete its public file on the broker host (effective within 5 s, or kill -HUP the broker)."
