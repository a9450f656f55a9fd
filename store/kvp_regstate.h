/*  kvp_regstate.h - the registry's state as a state machine: what the
    decision records (store/kvp_decision.h) say once applied in order,
    state = fold (apply, records). No disk, no clock, no random source: the
    same records give the same state in every process that applies them,
    which is what lets the registry replay them at open and a replicated
    registry apply them on every broker.

    The state: N, R and M (from CREATE); the known workers, each with its
    data-directory token (or none) and whether it is retired; and per
    partition its epoch, its copies in replica order, which of them leads
    and which are in sync. Invariants every applied record keeps (and a
    loaded snapshot must show): a placed partition has 1..R copies on
    distinct known workers, its leader is one of them and in sync, and its
    epoch is at least 1; worker names are unique.

    Applying is two steps for a caller that must make the record durable
    in between (the registry): kvp_regstate_prepare checks the record
    against the state and reserves the memory applying will need, then
    kvp_regstate_commit applies it and cannot fail. kvp_regstate_apply
    does both. A refused record changes nothing.

    A snapshot is the whole state in one buffer, with the sequence number
    of the last record it holds, a version byte and a CRC; loading one
    checks every invariant, so a snapshot that loads is a state the
    records could have produced (it is fuzzed with them).

    Return values are store codes (kvp_store.h). Leaf module; libc only.
*/
#ifndef KVP_REGSTATE_H_INCLUDED
#define KVP_REGSTATE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kvp_decision.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_REGSTATE_VERSION 1          /* snapshot encoding */

typedef struct _kvp_regstate_t kvp_regstate_t;

/*  One partition, as kvp_regstate_partition reads it. Names are the
    state's, valid until it is destroyed. */
typedef struct {
    uint64_t epoch;                     /* 0 until it is placed */
    size_t count;                       /* copies; 0 = never placed */
    const char *replicas [KVP_DECISION_REPLICAS_MAX];   /* replica order */
    size_t leader;                      /* replicas [leader] leads */
    bool in_sync [KVP_DECISION_REPLICAS_MAX];   /* in the in-sync set */
} kvp_regpart_t;

/*  An empty state: no cluster until a CREATE is applied. NULL when out of
    memory. */
kvp_regstate_t *
    kvp_regstate_new (void);

/*  Free and null the pointer; safe on NULL. */
void
    kvp_regstate_destroy (kvp_regstate_t **self_p);

/*  Would `record` be applied to this state? 0 if so, else
    KVP_STORE_EINVAL with the reason in `why` (`size` bytes; may be NULL).
    Changes nothing. */
int
    kvp_regstate_validate (const kvp_regstate_t *self,
                           const kvp_decision_t *record, char *why,
                           size_t size);

/*  kvp_regstate_validate, then reserve what applying `record` takes, so
    that kvp_regstate_commit cannot fail. KVP_STORE_EIO when out of
    memory. The state reads the same afterwards. */
int
    kvp_regstate_prepare (kvp_regstate_t *self, const kvp_decision_t *record,
                          char *why, size_t size);

/*  Apply `record`, which kvp_regstate_prepare accepted with no other call
    that changes the state since. The record's strings are copied. */
void
    kvp_regstate_commit (kvp_regstate_t *self, const kvp_decision_t *record);

/*  Prepare and commit: 0, or the refusal (nothing changed). */
int
    kvp_regstate_apply (kvp_regstate_t *self, const kvp_decision_t *record,
                        char *why, size_t size);

/*  N, R and M; all 0 before CREATE. */
uint32_t
    kvp_regstate_partitions (const kvp_regstate_t *self);
unsigned
    kvp_regstate_replicas (const kvp_regstate_t *self);
unsigned
    kvp_regstate_min_insync (const kvp_regstate_t *self);

/*  The leader of `part`, or NULL if it is not placed (or out of range). */
const char *
    kvp_regstate_leader (const kvp_regstate_t *self, uint32_t part);

/*  Read partition `part` into *out. False if `part` is not below N. */
bool
    kvp_regstate_partition (const kvp_regstate_t *self, uint32_t part,
                            kvp_regpart_t *out);

/*  The known workers' names in name order (strcmp), `count` set. The
    array is the state's, valid until the next change; the names until it
    is destroyed. */
const char **
    kvp_regstate_workers (const kvp_regstate_t *self, size_t *count);

/*  A worker's token, or NULL if it has none or is unknown; valid until
    the next change. */
const char *
    kvp_regstate_token (const kvp_regstate_t *self, const char *worker);

/*  Is `worker` known? Retired? (false for an unknown worker) */
bool
    kvp_regstate_known (const kvp_regstate_t *self, const char *worker);
bool
    kvp_regstate_retired (const kvp_regstate_t *self, const char *worker);

/*  Do two states say the same: N, R, M, every worker (name, token,
    retired) and every partition (epoch, copies in order, leader, in-sync
    set)? */
bool
    kvp_regstate_equal (const kvp_regstate_t *a, const kvp_regstate_t *b);

/*  The state as a snapshot holding records up to `seq`, in a buffer the
    caller frees; *size gets its length. NULL when out of memory. */
uint8_t *
    kvp_regstate_save (const kvp_regstate_t *self, uint64_t seq,
                       size_t *size);

/*  The state a snapshot holds, and its `seq`. NULL with *rc =
    KVP_STORE_CORRUPT if the bytes are not exactly one snapshot whose state
    keeps every invariant, KVP_STORE_EIO when out of memory. */
kvp_regstate_t *
    kvp_regstate_load (const void *data, size_t size, uint64_t *seq,
                       int *rc);

#ifdef __cplusplus
}
#endif
#endif
