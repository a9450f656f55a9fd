/*  kvp_batch.h - group commit: the requests of one loop pass run in one
    store batch (each in its own nested undo scope) and are committed once,
    one synced log record, before any of them is answered.

    The caller claims slots, fills them (decoded request, target, partition,
    receipt times) and marks them READY, or answers them at once with
    kvp_slot_reject. kvp_batch_run executes the READY ones; then the caller
    sends every slot's reply and publishes every event, in slot order, and
    calls kvp_batch_clear.

    Out of space (or checkpoints behind): the batch is undone and each
    request runs alone, so reads still succeed and only the writes that do
    not fit are refused (32778; 32774 while the checkpoints catch up).

    The batch also carries the per-partition "published up to" marks: they
    are written inside the next batch's transaction, never in a commit of
    their own on the hot path.

    Uses proto and store; no sockets.
*/
#ifndef KVP_BATCH_H_INCLUDED
#define KVP_BATCH_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "kvp_slot.h"
#include "kvp_store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _kvp_batch_t kvp_batch_t;

/*  What the batches did (kvp_batch_stats). */
typedef struct {
    uint64_t batches;           /* kvp_batch_run calls */
    uint64_t requests;          /* slots they carried */
    uint64_t commits;           /* write transactions committed or tried */
    uint64_t exec_us;           /* running ops inside transactions */
    uint64_t commit_us;         /* in kvp_store_commit (writes + syncs) */
} kvp_batch_stats_t;

/*  Create a batch of at most `max` (> 0) requests over `store` (borrowed:
    it must outlive the batch). Returns NULL when out of memory. */
kvp_batch_t *
    kvp_batch_new (kvp_store_t *store, size_t max);

/*  Destroy a batch (releasing its slots) and null the pointer; safe on
    NULL. */
void
    kvp_batch_destroy (kvp_batch_t **self_p);

/*  Claim the next slot, or NULL when the batch is full. The slot is FREE
    with empty results; the caller must make it READY or reject it. */
kvp_slot_t *
    kvp_batch_claim (kvp_batch_t *self);

/*  Number of claimed slots, and slot `index` (< size). */
size_t
    kvp_batch_size (kvp_batch_t *self);
kvp_slot_t *
    kvp_batch_slot (kvp_batch_t *self, size_t index);

/*  Execute the READY slots with one synced commit (see above). Afterwards
    every claimed slot holds its reply; a slot whose event is not empty made
    a job to publish. If the commit itself fails, the writes of the batch
    (and the reads that came after one) are answered 32771 and the store
    code is returned; else 0. */
int
    kvp_batch_run (kvp_batch_t *self);

/*  Copy the counters gathered since the last call into `stats` and start
    them again from zero. */
void
    kvp_batch_stats (kvp_batch_t *self, kvp_batch_stats_t *stats);

/*  Called during each commit, once its record is in the log and before
    it is synced (kvp_store_on_logged: the call overlaps the sync), with
    the slots it holds: [from, to) of `slots` (a pass may commit more than
    once when the store is full). A commit whose sync then fails is
    answered as any failed commit. NULL turns it off. */
typedef void (kvp_batch_commit_fn) (void *arg, kvp_slot_t *slots,
                                    size_t from, size_t to);
void
    kvp_batch_on_commit (kvp_batch_t *self, kvp_batch_commit_fn *fn,
                         void *arg);

/*  Writes that ride along with a pass: `fold` is called in the pass's
    first attempt, inside its transaction after the slots ran, and what
    it writes commits with them (`wrote` says whether it wrote: a pass of
    reads then commits too); a non-zero return fails the attempt.
    `unfold` is called when that attempt does not commit (undone: the
    store is as before). NULLs turn it off. */
typedef int (kvp_batch_fold_fn) (void *arg, bool *wrote);
typedef void (kvp_batch_unfold_fn) (void *arg);
void
    kvp_batch_on_fold (kvp_batch_t *self, kvp_batch_fold_fn *fold,
                       kvp_batch_unfold_fn *unfold, void *arg);

/*  Release every claimed slot (after the replies were sent). */
void
    kvp_batch_clear (kvp_batch_t *self);

/*  Record that the events of `part` up to `seq` are published. Kept in
    memory and written with the next batch or kvp_batch_flush. */
void
    kvp_batch_sent (kvp_batch_t *self, uint32_t part, uint64_t seq);

/*  Write the pending marks now, in their own transaction (for an idle
    worker and at shutdown). Returns 0 or a store code. */
int
    kvp_batch_flush (kvp_batch_t *self);

#ifdef __cplusplus
}
#endif
#endif
