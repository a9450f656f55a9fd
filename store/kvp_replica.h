/*  kvp_replica.h - one partition's data moved between stores as change
    records (kvp_change.h), so that a follower holds an exact copy of the
    leader's partition: the part of a committed batch's record that belongs
    to one partition, applying such a part on another store, deleting a
    partition, and a partition's whole state as a series of records.

    Which partition a change belongs to is kvp_change_part's answer. Job
    bodies are keyed by a worker-global number (lsn), so they cannot be
    written as they came: a record's job is its index record (part + seq ->
    the leader's lsn) followed at once by that body (as kvp_joblog_put
    writes them, and as kvp_replica_copy does), and applying it writes the
    body under this store's next lsn with an index record pointing there. A
    delete of the index (one job or a range) deletes this store's own
    bodies with it. A delete of a body names no partition: it is never part
    of a partition's changes and is refused when applied.

    Everything written goes through the caller's view, so it is in the
    batch's record, the store's own log, and reaches LMDB by checkpoint
    like any other write. Functions return store codes (kvp_store.h).
    Internal to store/; kvp_store.c calls these from its public calls.
*/
#ifndef KVP_REPLICA_H_INCLUDED
#define KVP_REPLICA_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "kvp_change.h"
#include "kvp_joblog.h"
#include "kvp_store.h"
#include "kvp_view.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Append to *out (emptied first; its buffer is kept) the changes of the
    record data/size that belong to `part`, in order. CORRUPT if the
    record does not decode, EIO out of memory. */
int
    kvp_replica_filter (const void *data, size_t size, uint32_t part,
                        kvp_change_t *out);

/*  Apply a record of `part`'s changes through `view`. Checked whole
    first: a change of another partition or of none, a key or value too
    short or too long for its table (kvp_store.c's layouts), a CLEAR
    longer than the overlay takes, or a job whose index record is not
    followed by its body (or a body without its index record just before
    it) is CORRUPT, as is a record that does not decode; nothing is
    written then. Deleting a key this store lacks is not an error (the
    end state is the same). If a write fails midway, what the call wrote
    is taken back and the write's code (EIO, FULL) returned. */
int
    kvp_replica_apply (kvp_view_t *view, kvp_joblog_t *log, uint32_t part,
                       const void *data, size_t size);

/*  Delete everything `part` holds in `view`: the partition record, its
    systems, items and keys, and its jobs (index records and bodies). */
int
    kvp_replica_drop (kvp_view_t *view, kvp_joblog_t *log, uint32_t part);

/*  Hand `part`'s whole state as `view` reads it to fn as change records
    of at most `chunk` bytes each (a record larger only when one entry, a
    row or a job's index record and body together, is): the partition
    record, then systems, items, keys, and jobs by seq. At least one
    record is handed on (an empty one when the partition holds nothing).
    fn must not use the store; its non-zero return stops the copy and is
    returned. EIO out of memory. */
int
    kvp_replica_copy (kvp_view_t *view, kvp_joblog_t *log, uint32_t part,
                      size_t chunk, kvp_store_chunk_fn *fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif
