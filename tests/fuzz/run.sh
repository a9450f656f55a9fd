#!/usr/bin/env bash
# Build the libFuzzer targets with clang into build/fuzz/ and run each one
# for SECONDS (default 60). Usage: tests/fuzz/run.sh [SECONDS] [TARGET...]
# Targets: request cim wire route rid wal change decision apply repl (all by
# default).
# Seeds come from tests/fuzz/corpus/<target>/ when there is one (route and
# rid use request's; wal, decision and apply build their own valid input
# from the fuzzer's bytes), with
# tests/fuzz/<target>.dict when there is one; what the fuzzer learns goes to
# build/fuzz/corpus/<target>/ and crashes to build/fuzz/crash-<target>-*.
# Exits non-zero if a target crashes, leaks, times out or fails to build.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
SECS=${1:-60}
shift || true
TARGETS=${*:-request cim wire route rid wal change decision apply repl}
OUT=build/fuzz
CC=${FUZZ_CC:-clang}

if ! command -v "$CC" >/dev/null; then
    echo "fuzz: $CC not found" >&2
    exit 1
fi
mkdir -p "$OUT"
CFLAGS="-std=gnu11 -g -O1 -D_GNU_SOURCE -fno-omit-frame-pointer
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"

# What a target is built from: the proto decoders, one of the store's
# leaf modules over libc (the log's segment format and change records, the
# registry's decision records and state), or the worker's whole store over
# LMDB and czmq (apply: a follower's replication records)
target_build() {
    case $1 in
        wal) SRCS="store/kvp_walseg.c"
             DEPS="store/kvp_walseg.c store/kvp_walseg.h"
             INCS="-Istore"; PKG_CFLAGS=""; LIBS="" ;;
        change) SRCS="store/kvp_change.c"
             DEPS="store/kvp_change.c store/kvp_change.h"
             INCS="-Istore"; PKG_CFLAGS=""; LIBS="" ;;
        decision) SRCS="store/kvp_decision.c store/kvp_regstate.c
                   store/kvp_regsnap.c store/kvp_walseg.c"
             DEPS="$SRCS store/kvp_decision.h store/kvp_regstate.h
                   store/kvp_regstate_priv.h store/kvp_cursor.h"
             INCS="-Istore"; PKG_CFLAGS=""; LIBS="" ;;
        apply) SRCS="$(ls store/*.c | grep -v -e kvp_decision.c \
                   -e kvp_registry.c -e kvp_regsnap.c -e kvp_regstate.c)
                   proto/kvp_dir.c"
             DEPS="store proto/kvp_dir.c proto/kvp_dir.h"
             INCS="-Istore -Iproto"
             PKG_CFLAGS=$(pkg-config --cflags libczmq lmdb)
             LIBS="$(pkg-config --libs libczmq lmdb) -lpthread" ;;
        # the decoders: not the option parser (czmq's zconfig), the log
        # (czmq's zsys), sd_notify (libsystemd), the keys (czmq's zcert)
        # nor the metrics endpoint (libmicrohttpd), which proto also holds
        *)   SRCS=$(ls proto/*.c | grep -v -e kvp_opts.c -e kvp_metrics.c \
                    -e kvp_log.c -e kvp_notify.c -e kvp_curve.c)
             DEPS="proto"; INCS="-Iproto"
             PKG_CFLAGS=$(pkg-config --cflags msgpack expat)
             LIBS="$(pkg-config --libs msgpack expat) -lpthread" ;;
    esac
}

status=0
for target in $TARGETS; do
    src=tests/fuzz/fuzz_$target.c
    bin=$OUT/fuzz_$target
    if [ ! -f "$src" ]; then
        echo "fuzz: no target $target" >&2
        status=1
        continue
    fi
    target_build "$target"
    # Rebuild only when a source is newer than the binary
    # shellcheck disable=SC2086
    if [ ! -x "$bin" ] || [ -n "$(find $DEPS "$src" -newer "$bin" -name '*.[ch]' | head -1)" ]; then
        # Build beside and rename: another run may be using the binary
        # shellcheck disable=SC2086
        if ! $CC $CFLAGS $INCS $PKG_CFLAGS -o "$bin.$$" "$src" $SRCS $LIBS \
        || ! mv -f "$bin.$$" "$bin"; then
            rm -f "$bin.$$"
            echo "fuzz: building $target failed" >&2
            status=1
            continue
        fi
    fi
    maxlen=4096
    seeds=$target
    case $target in
        request) maxlen=1100000 ;;
        route)   maxlen=1100000; seeds=request ;;   # the same bodies
        rid)     seeds=request ;;   # within the scan's header budget
        cim)     maxlen=70000 ;;
        wal)     maxlen=16384 ;;
    esac
    dict=()
    [ -f "tests/fuzz/$seeds.dict" ] && dict=(-dict="tests/fuzz/$seeds.dict")
    corpora=("$OUT/corpus/$target")
    [ -d "tests/fuzz/corpus/$seeds" ] && corpora+=("tests/fuzz/corpus/$seeds")
    mkdir -p "$OUT/corpus/$target"
    log=$OUT/$target.$$.log
    "$bin" -max_total_time="$SECS" -max_len="$maxlen" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" \
        -artifact_prefix="$OUT/crash-$target-" \
        "${corpora[@]}" >"$log" 2>&1
    rc=$?
    echo "== fuzz_$target ($SECS s): exit $rc"
    grep -a -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|stat::new_units_added)' "$log" | sed 's/^/   /'
    if [ $rc -ne 0 ]; then
        grep -a -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5 | sed 's/^/   /'
        echo "   full log: $log"
        status=1
    else
        mv -f "$log" "$OUT/$target.log"    # keep the last good run's log
    fi
done
exit $status
