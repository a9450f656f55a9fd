/*  kvp_batch.c - group commit with the out-of-space fallbacks.
*/
#include "kvp_batch.h"
#include "kvp_exec.h"
#include "kvp_rc.h"
#include "kvp_wire.h"

struct _kvp_batch_t {
    kvp_store_t *store;         /* borrowed */
    kvp_exec_t *exec;           /* runs one slot */
    kvp_slot_t *slots;          /* max slots */
    size_t max;                 /* capacity */
    size_t size;                /* claimed */
    uint64_t *sent;             /* per partition: published up to; lazily
                                   KVP_PARTITIONS_MAX entries */
    uint32_t *dirty;            /* partitions whose mark is not written */
    size_t dirty_count;         /* entries in dirty */
    uint8_t *listed;            /* per partition: 1 if in dirty */
    kvp_batch_stats_t stats;    /* counters since the last take */
    kvp_batch_commit_fn *on_commit;     /* in each commit, or NULL */
    void *on_commit_arg;
    size_t from, to;            /* the slots of the commit under way */
    kvp_batch_fold_fn *fold;    /* writes riding along, or NULL */
    kvp_batch_unfold_fn *unfold;
    void *fold_arg;
};

kvp_batch_t *
kvp_batch_new (kvp_store_t *store, size_t max)
{
    assert (store && max > 0);
    kvp_batch_t *self = (kvp_batch_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    self->max = max;
    self->exec = kvp_exec_new (store);
    self->slots = (kvp_slot_t *) calloc (max, sizeof (kvp_slot_t));
    bool ok = self->exec && self->slots;
    for (size_t i = 0; ok && i < max; i++)
        ok = kvp_slot_init (&self->slots [i]);
    if (!ok)
        kvp_batch_destroy (&self);
    return self;
}

void
kvp_batch_destroy (kvp_batch_t **self_p)
{
    assert (self_p);
    kvp_batch_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; self->slots && i < self->max; i++)
        kvp_slot_fini (&self->slots [i]);
    free (self->slots);
    kvp_exec_destroy (&self->exec);
    free (self->sent);
    free (self->dirty);
    free (self->listed);
    free (self);
    *self_p = NULL;
}

kvp_slot_t *
kvp_batch_claim (kvp_batch_t *self)
{
    if (self->size == self->max)
        return NULL;
    kvp_slot_t *slot = &self->slots [self->size++];
    kvp_slot_clear_results (slot);
    slot->state = KVP_SLOT_FREE;
    return slot;
}

size_t
kvp_batch_size (kvp_batch_t *self)
{
    return self->size;
}

kvp_slot_t *
kvp_batch_slot (kvp_batch_t *self, size_t index)
{
    assert (index < self->size);
    return &self->slots [index];
}

void
kvp_batch_clear (kvp_batch_t *self)
{
    for (size_t i = 0; i < self->size; i++)
        kvp_slot_release (&self->slots [i]);
    self->size = 0;
}

//  --- Sent marks ------------------------------------------------------------

//  Allocate the marks' tables on first use (a worker that never publishes
//  never pays for them).
static bool
s_marks_alloc (kvp_batch_t *self)
{
    if (!self->sent) {
        self->sent = (uint64_t *) calloc (KVP_PARTITIONS_MAX, sizeof (uint64_t));
        self->dirty = (uint32_t *) calloc (KVP_PARTITIONS_MAX, sizeof (uint32_t));
        self->listed = (uint8_t *) calloc (KVP_PARTITIONS_MAX, 1);
    }
    return self->sent && self->dirty && self->listed;
}

void
kvp_batch_sent (kvp_batch_t *self, uint32_t part, uint64_t seq)
{
    //  Without memory for the marks a restart republishes instead.
    if (part >= KVP_PARTITIONS_MAX || !s_marks_alloc (self))
        return;
    if (!self->listed [part]) {
        self->listed [part] = 1;
        self->dirty [self->dirty_count++] = part;
    }
    if (seq > self->sent [part])
        self->sent [part] = seq;
}

//  The marks were committed.
static void
s_marks_clean (kvp_batch_t *self)
{
    for (size_t i = 0; i < self->dirty_count; i++)
        self->listed [self->dirty [i]] = 0;
    self->dirty_count = 0;
}

//  Write the dirty marks into the open batch. Only a broken batch (FULL,
//  EIO) fails it: a mark the store refuses is dropped, never allowed to
//  fail every batch after it.
static int
s_write_marks (kvp_batch_t *self)
{
    for (size_t i = 0; i < self->dirty_count; i++) {
        uint32_t part = self->dirty [i];
        int rc = kvp_store_partition_sent (self->store, part,
                                           self->sent [part]);
        if (rc == KVP_STORE_FULL || rc == KVP_STORE_EIO)
            return rc;
        if (rc)
            zsys_warning ("sent mark of partition %u: %s", part,
                          kvp_store_strerror (rc));
    }
    return KVP_STORE_OK;
}

int
kvp_batch_flush (kvp_batch_t *self)
{
    if (!self->dirty_count)
        return KVP_STORE_OK;
    int rc = kvp_store_begin (self->store);
    if (rc == KVP_STORE_OK && (rc = s_write_marks (self)) != KVP_STORE_OK)
        kvp_store_abort (self->store);
    else
    if (rc == KVP_STORE_OK)
        rc = kvp_store_commit (self->store);
    if (rc == KVP_STORE_OK)
        s_marks_clean (self);
    return rc;
}

//  --- Running -----------------------------------------------------------------

//  Does slot i's op write (and so need the commit to be durable)?
static bool
s_writes (kvp_slot_t *slot)
{
    return kvp_exec_writes (kvp_request_op (slot->request));
}

//  Will slots [from, to) write? (Else the batch needs no commit, and the
//  marks wait: a read-only pass must not cost an fsync.)
static bool
s_any_writes (kvp_batch_t *self, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (self->slots [i].state == KVP_SLOT_READY
        &&  s_writes (&self->slots [i]))
            return true;
    return false;
}

//  Execute slots [from, to) that are READY in one transaction, with the
//  marks when `marks`. Commits only if something may have been written.
static int
s_attempt (kvp_batch_t *self, size_t from, size_t to, bool marks)
{
    bool writes = s_any_writes (self, from, to);
    int64_t start = zclock_usecs ();
    int rc = kvp_store_begin (self->store);
    if (rc == KVP_STORE_OK && marks && writes && self->dirty_count)
        rc = s_write_marks (self);
    for (size_t i = from; i < to; i++) {
        kvp_slot_t *slot = &self->slots [i];
        if (slot->state != KVP_SLOT_READY)
            continue;
        //  No result of an earlier attempt may survive into this one.
        kvp_slot_clear_results (slot);
        if (rc == KVP_STORE_OK)
            rc = kvp_exec_run (self->exec, slot);
    }
    bool folded = false;
    if (rc == KVP_STORE_OK && marks && self->fold) {
        bool wrote = false;
        rc = self->fold (self->fold_arg, &wrote);
        writes |= wrote;
        folded = true;
    }
    int64_t executed = zclock_usecs ();
    self->stats.exec_us += (uint64_t) (executed - start);
    if (rc != KVP_STORE_OK || !writes) {
        kvp_store_abort (self->store);      //  failed, or reads only
        if (folded)
            self->unfold (self->fold_arg);
        return rc;
    }
    self->from = from;
    self->to = to;
    rc = kvp_store_commit (self->store);
    if (rc != KVP_STORE_OK && folded)
        self->unfold (self->fold_arg);
    self->stats.commits++;
    self->stats.commit_us += (uint64_t) (zclock_usecs () - executed);
    if (rc == KVP_STORE_OK && marks)
        s_marks_clean (self);
    return rc;
}

//  The store's call between a record's append and its sync
static void
s_logged (void *arg)
{
    kvp_batch_t *self = (kvp_batch_t *) arg;
    if (self->on_commit)
        self->on_commit (self->on_commit_arg, self->slots, self->from,
                         self->to);
}

void
kvp_batch_on_fold (kvp_batch_t *self, kvp_batch_fold_fn *fold,
                   kvp_batch_unfold_fn *unfold, void *arg)
{
    self->fold = fold;
    self->unfold = unfold;
    self->fold_arg = arg;
}

void
kvp_batch_on_commit (kvp_batch_t *self, kvp_batch_commit_fn *fn, void *arg)
{
    self->on_commit = fn;
    self->on_commit_arg = arg;
    kvp_store_on_logged (self->store, fn ? s_logged : NULL, self);
}

//  The commit failed: the outcome of the writes is unknown to us as much
//  as to the client, and a read after a write may have seen it.
static void
s_commit_failed (kvp_batch_t *self, size_t from, size_t to, int rc)
{
    zsys_error ("commit of %zu requests failed: %s", to - from,
                kvp_store_strerror (rc));
    bool tainted = false;
    for (size_t i = from; i < to; i++) {
        kvp_slot_t *slot = &self->slots [i];
        if (slot->state != KVP_SLOT_READY)
            continue;
        //  Also the slots the failure left without a reply.
        tainted |= s_writes (slot) || slot->reply.size == 0;
        if (tainted)
            kvp_slot_reject (slot, KVP_RC_STATUS_UNKNOWN, "commit failed");
    }
}

//  --- A full or busy store -------------------------------------------------------
//
//  The batch was refused whole: run each request alone, so reads and the
//  writes that fit still succeed, and refuse only the writes that do not
//  (32778 when there is no room, 32774 while checkpoints catch up).
static void
s_run_singly (kvp_batch_t *self)
{
    for (size_t i = 0; i < self->size; i++) {
        kvp_slot_t *slot = &self->slots [i];
        if (slot->state != KVP_SLOT_READY)
            continue;
        int rc = s_attempt (self, i, i + 1, false);
        if (rc == KVP_STORE_FULL)
            kvp_slot_reject (slot, KVP_RC_OUT_OF_MEMORY, "store full: no "
                             "room in the map (--map-size) or on the disk");
        else
        if (rc == KVP_STORE_BUSY)
            kvp_slot_reject (slot, KVP_RC_IN_USE, "worker busy: its "
                             "checkpoints are behind; retry later");
        else
        if (rc != KVP_STORE_OK)
            s_commit_failed (self, i, i + 1, rc);
    }
}

void
kvp_batch_stats (kvp_batch_t *self, kvp_batch_stats_t *stats)
{
    *stats = self->stats;
    memset (&self->stats, 0, sizeof self->stats);
}

int
kvp_batch_run (kvp_batch_t *self)
{
    self->stats.batches++;
    self->stats.requests += self->size;
    int rc = s_attempt (self, 0, self->size, true);
    if (rc == KVP_STORE_FULL || rc == KVP_STORE_BUSY) {
        zsys_warning ("%s: running %zu requests one by one",
                      kvp_store_strerror (rc), self->size);
        s_run_singly (self);
        return KVP_STORE_OK;
    }
    if (rc != KVP_STORE_OK)
        s_commit_failed (self, 0, self->size, rc);
    return rc;
}
