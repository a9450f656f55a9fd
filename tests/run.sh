#!/usr/bin/env bash
# Run every test program in BIN/tests (unit suites first, then the ones that
# start real processes; the chaos and power-loss tests run short, the chaos
# test once more replicated: "test_chaos:replicated" below), then a fuzz
# smoke. Usage:
#   tests/run.sh BIN        e.g. bin or build/asan/bin
# Environment: CK_RUN_SUITE / CK_RUN_CASE select inside a program; TESTS="a b"
# runs only those programs; SKIP_SHORT_RUNS=1 skips the fuzz smoke.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BIN=${1:-bin}
export KVP_BIN=$PWD/$BIN
# Integration tests start real programs; keep their logs quiet but kept.
export KVP_TEST_LOGS=${KVP_TEST_LOGS:-$PWD/build/test-logs}
mkdir -p "$KVP_TEST_LOGS"

progs=()
if [ -n "${TESTS:-}" ]; then
    for t in $TESTS; do progs+=("$BIN/tests/$t"); done
else
    # Unit suites first (fast), then the ones that run whole clusters.
    late="test_broker_sock test_broker_events test_cluster test_replicate test_retire test_faults test_replication test_security test_bounds test_feed test_guest test_netns test_chaos test_chaos:replicated test_crash"
    # Then what an operator meets: the service manager, make install
    late+=" test_notify test_install"
    for t in "$BIN"/tests/test_*; do
        case " $late " in *" $(basename "$t") "*) ;; *) progs+=("$t") ;; esac
    done
    for t in $late; do
        [ -x "$BIN/tests/${t%%:*}" ] && progs+=("$BIN/tests/$t")
    done
fi

failed=()
start=$(date +%s)
for t in "${progs[@]}"; do
    name=$(basename "$t")
    printf '== %s\n' "$name"
    case $name in
        # The chaos test's replicated mode, short (R=3, M=2, 3 workers)
        *:replicated) run=(env KVP_CHAOS_REPLICAS=3
                           KVP_CHAOS_SECONDS="${KVP_CHAOS_REPLICATED_SECONDS:-15}"
                           "${t%:replicated}") ;;
        *) run=("$t") ;;
    esac
    if ! "${run[@]}"; then
        failed+=("$name")
    fi
done

# The contract checked from outside: Python (Debian's python3-zmq and
# python3-msgpack) speaking KVP/1 to a real cluster, knowing only the spec.
if [ -z "${TESTS:-}" ]; then
    printf '== conformance (python)\n'
    /usr/bin/python3 tests/conformance.py >"$KVP_TEST_LOGS/conformance.out" 2>&1 ||
        { cat "$KVP_TEST_LOGS/conformance.out"; failed+=("conformance"); }
    tail -1 "$KVP_TEST_LOGS/conformance.out"
    # The Python package (bindings/python) as a product, on real clusters.
    printf '== kvpbus package (python)\n'
    PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m unittest discover -s bindings/python/tests \
        -t bindings/python/tests >"$KVP_TEST_LOGS/python.out" 2>&1 ||
        { cat "$KVP_TEST_LOGS/python.out"; failed+=("python"); }
    tail -1 "$KVP_TEST_LOGS/python.out"
fi

if [ -z "${SKIP_SHORT_RUNS:-}" ] && [ -z "${TESTS:-}" ]; then
    if [ -x tests/fuzz/run.sh ] && command -v clang >/dev/null; then
        printf '== fuzz smoke (6 s per target)\n'
        tests/fuzz/run.sh 6 || failed+=("fuzz-smoke")
    fi
fi

echo
echo "tests: ${#progs[@]} programs in $(($(date +%s) - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all passed"
