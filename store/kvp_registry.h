/*  kvp_registry.h - what the broker must remember across restarts: the
    cluster's shape (N, and R copies of which M in sync), the workers and
    their data-directory tokens, and each partition's copies, leader,
    epoch and in-sync set.

    Every change is a decision record (store/kvp_decision.h) applied with
    kvp_registry_apply: checked against the current state, appended at the
    next sequence number in one synced LMDB commit, and only then applied
    in memory; the state is the fold of the records (store/kvp_regstate.h).
    A decision that could lose or fork data is therefore durable before
    anything acts on it, and a process killed at any point reopens to the
    state of the records that committed, never half of one. Changes are
    rare (a few per partition and per worker), so each is its own commit.

    The older calls (kvp_registry_assign, kvp_registry_set_token) are thin
    wrappers that build a record and apply it. The table can be rebuilt
    from workers' registrations if the directory is lost (proto/KVP1.md).

    On disk, in the broker's --data directory: the records, and now and
    then a snapshot of the state that replaces the records it covers, so
    that opening reads one snapshot and a short tail of records whatever
    the registry's age. A directory written before decision records (N,
    owners and tokens tables) is converted when opened, in one
    transaction. Layout and migration: proto/KVP1.md, "Registry states".

    Leaf module over LMDB; no sockets.
*/
#ifndef KVP_REGISTRY_H_INCLUDED
#define KVP_REGISTRY_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "kvp_decision.h"
#include "kvp_regstate.h"
#include "kvp_store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _kvp_registry_t kvp_registry_t;

/*  Open or create the registry in `dir` (created if missing) for
    `nparts` partitions (1..65536), one copy each. Returns NULL with *rc =
    KVP_STORE_MISMATCH if the directory was made with another N (or with
    more copies), or another store code on failure (KVP_STORE_CORRUPT for
    a record or snapshot that does not decode or apply). nparts 0 opens
    with the N the directory holds (KVP_STORE_NOTFOUND if it holds none). */
kvp_registry_t *
    kvp_registry_new (const char *dir, uint32_t nparts, int *rc);

/*  kvp_registry_new for a cluster of `replicas` copies (1..5) of each
    partition, `min_insync` (1..replicas) of them in sync for a write to
    be acknowledged. Both are fixed when the directory is made, like N:
    another value is KVP_STORE_MISMATCH. `replicas` and `min_insync` both
    0 open with the R and M the directory holds (KVP_STORE_NOTFOUND if it
    holds none), as nparts 0 does for N: with all three 0 a caller learns
    the shape of a directory it was refused (kvp_registry_partitions,
    kvp_regstate_replicas, kvp_regstate_min_insync). */
kvp_registry_t *
    kvp_registry_new_replicated (const char *dir, uint32_t nparts,
                                 unsigned replicas, unsigned min_insync,
                                 int *rc);

/*  Close and null the pointer; safe on NULL. */
void
    kvp_registry_destroy (kvp_registry_t **self_p);

/*  Apply one decision: check it against the state, commit it (synced) as
    record kvp_registry_seq () + 1, then change the state. Returns 0;
    KVP_STORE_EINVAL if the state refuses it (malformed, or against the
    rules of kvp_decision.h: an epoch that does not grow, a leader out of
    the replica set or out of sync, ...); or the store code of a failed
    commit. Either failure changes nothing, and its reason goes to `why`
    (`size` bytes, NUL-terminated; may be NULL). */
int
    kvp_registry_apply (kvp_registry_t *self, const kvp_decision_t *record,
                        char *why, size_t size);

/*  The sequence number of the last record applied (1 is the CREATE). */
uint64_t
    kvp_registry_seq (kvp_registry_t *self);

/*  The state (borrowed; it changes only through kvp_registry_apply). */
const kvp_regstate_t *
    kvp_registry_state (kvp_registry_t *self);

/*  N. */
uint32_t
    kvp_registry_partitions (kvp_registry_t *self);

/*  The owner of `part`, its leader (a worker name), or NULL if never
    assigned. The string is the registry's; valid while it is open. */
const char *
    kvp_registry_owner (kvp_registry_t *self, uint32_t part);

/*  Record `worker` as the owner of `part`, its one copy (an ASSIGN
    record; nothing is written if it already is). Returns 0 or
    kvp_registry_apply's code. */
int
    kvp_registry_assign (kvp_registry_t *self, uint32_t part,
                         const char *worker);

/*  A worker's data-directory token, or NULL if the worker is unknown (or
    has none); valid until the next change. */
const char *
    kvp_registry_token (kvp_registry_t *self, const char *worker);

/*  Remember a worker and its token (a WORKER record; nothing is written
    if it has that token already). Returns 0 or kvp_registry_apply's
    code. */
int
    kvp_registry_set_token (kvp_registry_t *self, const char *worker,
                            const char *token);

/*  The known workers' names (every worker a record named: with a token,
    a partition or a copy), in name order (strcmp); `count` set. The
    array is the registry's, valid until the next change; the strings
    while it is open. */
const char **
    kvp_registry_workers (kvp_registry_t *self, size_t *count);

#ifdef __cplusplus
}
#endif
#endif
