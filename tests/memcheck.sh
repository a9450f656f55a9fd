#!/usr/bin/env bash
# Run the unit suites (the test programs that start no other process) under
# valgrind: any invalid access, use of uninitialised memory or definite leak
# fails the run. Usage: tests/memcheck.sh BIN
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BIN=${1:-bin}
export KVP_BIN=$PWD/$BIN
export CK_FORK=no   # one process, so valgrind sees every test
failed=()
for t in "$BIN"/tests/test_*; do
    name=$(basename "$t")
    # Suites that start whole clusters are covered by make sanitize instead
    case $name in test_cluster* | test_faults* | test_broker* | test_bounds* | \
                  test_chaos* | test_crash* | test_feed* | test_guest* | \
                  test_kvpbench* | test_metrics* | test_notify* | \
                  test_install*) continue ;; esac
    printf '== valgrind %s\n' "$name"
    # A forked child that does not exec is a copy of its parent: what it
    # holds when it ends is the parent's, reported by the parent itself
    if ! valgrind -q --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite --show-leak-kinds=definite \
        --child-silent-after-fork=yes \
        --track-origins=yes "$t"; then
        failed+=("$name")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "memcheck FAILED: ${failed[*]}"
    exit 1
fi
echo "memcheck: all clean"
