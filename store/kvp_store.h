/*  kvp_store.h - a worker's data: a write-ahead log, LMDB as the log's
    checkpointed state, and the partitions in them.

    Sub-databases (every key starts with the 2-byte big-endian partition,
    except logbody's, whose records start with it, so one partition can
    later be copied or moved alone):

      meta     "\xff\xff" + name         -> global values (worker id, ...,
               and "format", the layout's version, checked at open)
               part                      -> partition record (epoch, seq, sent)
               (a partition record's key is exactly 2 bytes and a global
               value's longer, so all partitions 0..65535 are usable)
      systems  part + guid(16)           -> system record
      items    part + guid(16) + source(1) + name (long names: a prefix and
               a 128-bit hash of the name, so the key fits LMDB's 511 bytes)
                                         -> full name + data
      log      part + seq(8, BE)         -> lsn(8): the ordered per-partition
               log of applied jobs (jobs = events), an index into logbody
      logbody  lsn(8, BE)                -> part, seq, time, guid, key, event
               body; lsn is worker-global and increasing, so bodies are
               appended at the end of one B-tree and fill its pages
      keys     part + guid(16) + key     -> seq of the job, request digest

    A directory with another layout (another "format", or a "log" without
    "logbody") is refused with KVP_STORE_MISMATCH.

    Writes happen in batches: kvp_store_begin opens one, each request runs
    in its own nested undo scope (kvp_store_op_begin / kvp_store_op_end),
    and kvp_store_commit appends the batch's changes to the write-ahead log
    (DIR/wal) as one record and syncs it (fdatasync, unless nosync): when
    commit returns OK the batch is durable. Its changes are visible at once
    to every later read, from an in-memory overlay until a checkpoint
    (a thread of the store, every checkpoint_ms or checkpoint_ops changes)
    has applied them to LMDB with a synced commit; then the log segments
    they came from are deleted. Opening replays what the last checkpoint
    did not hold, so the store always serves everything committed, however
    the process or the machine stopped. A log that is damaged before its
    last synced record, or lacks records the checkpoint needs, is refused
    (CORRUPT), with the files left as they are.

    All reads and writes between begin and commit/abort see the batch;
    functions that need a batch and get none return KVP_STORE_EINVAL.
    Pointers the store hands out point into the overlay or LMDB: valid
    until the next write or the batch's end, whichever is first.

    A write that fails (EIO: out of memory) fails the whole batch: every
    later call in it returns that code until kvp_store_abort. commit
    refuses a batch with FULL when LMDB may lack the room to hold it once
    applied (near full, it first waits for a pending checkpoint, whose
    deletes may have made room) or the log cannot make a new segment, with
    BUSY when checkpoints are too far behind (backlog_max), and with EIO
    when the log cannot be written or synced (the store then refuses every
    write until it is opened again: what the disk holds is unknown).

    Partitions are 0..65535 (EINVAL above); Source is 0..255 (one key
    byte; EINVAL above, except UINT32_MAX as the "all" filter of
    kvp_store_items_each).

    A store is used by one thread (its checkpoint thread is its own
    business). Leaf module over LMDB; no sockets, no proto.
*/
#ifndef KVP_STORE_H_INCLUDED
#define KVP_STORE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "kvp_change.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Store return codes: 0 or a negative number from this reserved range
    (disjoint from LMDB's MDB_* codes and from errno values). */
#define KVP_STORE_OK         0
#define KVP_STORE_NOTFOUND   (-30900)   /* no such record */
#define KVP_STORE_EXISTS     (-30901)   /* record already there */
#define KVP_STORE_FULL       (-30902)   /* map or disk full: abort the batch,
                                           kvp_store_grow, retry */
#define KVP_STORE_EINVAL     (-30903)   /* bad argument or no transaction */
#define KVP_STORE_CORRUPT    (-30904)   /* a record that does not decode */
#define KVP_STORE_MISMATCH   (-30905)   /* directory made with other settings */
#define KVP_STORE_EIO        (-30906)   /* any other LMDB or system failure */
#define KVP_STORE_BUSY       (-30907)   /* checkpoints behind: retry later */

/*  Text for a store return code; never NULL. */
const char *
    kvp_store_strerror (int rc);

typedef struct {
    size_t map_size;        /* LMDB map, the most the store can hold (address
                               space, not disk); 0 = 16 GiB */
    size_t map_max;         /* when not 0, the map size (overrides map_size) */
    bool nosync;            /* the log is not fdatasynced: safe against a
                               process crash, not against power loss */
    size_t wal_segment;     /* log segment size; 0 = 64 MiB */
    unsigned checkpoint_ms; /* at most this long between checkpoints; 0 =
                               100 */
    size_t checkpoint_ops;  /* changes that start a checkpoint at once; 0 =
                               10000 */
    const char *checkpoint_log; /* a line per checkpoint (kvp_ckpt.h), or
                                   NULL */
    size_t backlog_max;     /* log bytes waiting for a checkpoint past which
                               commit says BUSY; 0 = 256 MiB */
} kvp_store_config_t;

typedef struct _kvp_store_t kvp_store_t;

/*  Open (creating `dir` and the environment if missing) the store in `dir`.
    `config` may be NULL for the defaults. Returns NULL on failure with
    *rc (if rc is not NULL) set to a store code; errors are also logged. */
kvp_store_t *
    kvp_store_new (const char *dir, const kvp_store_config_t *config,
                   int *rc);

/*  Close the store (aborting an open batch, checkpointing what is
    committed) and null the pointer; safe on NULL. */
void
    kvp_store_destroy (kvp_store_t **self_p);

/*  Global values by name (worker id, token, nparts, ...), each read or
    written in a batch of its own (put is durable when it returns OK). get copies at most
    size - 1 bytes into `value`, NUL-terminates, and returns the value's
    length, or KVP_STORE_NOTFOUND. Must not be called inside a batch. */
int
    kvp_store_meta_get (kvp_store_t *self, const char *name, char *value,
                        size_t size);
int
    kvp_store_meta_put (kvp_store_t *self, const char *name,
                        const char *value);

/*  --- Batches --------------------------------------------------------- */

/*  Open a batch. EINVAL if one is open. */
int
    kvp_store_begin (kvp_store_t *self);

/*  Commit the batch: its record is in the log and synced (unless nosync)
    when this returns OK. A batch that wrote nothing costs nothing. On
    failure the batch is undone and FULL, BUSY or EIO is returned. */
int
    kvp_store_commit (kvp_store_t *self);

/*  Undo the batch; safe when none is open. */
void
    kvp_store_abort (kvp_store_t *self);

/*  Begin / end one request's nested undo scope inside the batch (they
    nest up to 4 deep). end with keep = false undoes everything the request
    wrote; whatever keep, end returns EIO if a write in the batch failed:
    the batch must then be aborted. Committing with ops still open is
    EINVAL (and aborts). */
int
    kvp_store_op_begin (kvp_store_t *self);
int
    kvp_store_op_end (kvp_store_t *self, bool keep);

/*  Checkpoint now and wait (at most timeout_ms) until LMDB holds every
    committed batch. Not inside a batch. Returns OK, or why the checkpoint
    failed (FULL, EIO; EIO also on time-out). */
int
    kvp_store_checkpoint (kvp_store_t *self, int timeout_ms);

typedef struct {
    uint64_t log_bytes;         /* log files on disk */
    size_t log_segments;        /* segment files */
    uint64_t log_syncs;         /* fdatasyncs of the log */
    uint64_t log_sync_us;       /* time in them */
    uint64_t checkpoints;       /* checkpoint commits */
    uint64_t checkpoint_us;     /* time in them */
    uint64_t checkpoint_us_max; /* the longest */
    size_t backlog;             /* log bytes not yet checkpointed */
    size_t overlay_entries;     /* keys the overlay holds */
    size_t overlay_bytes;       /* their bytes */
    size_t room_pages;          /* LMDB pages free at the last checkpoint */
} kvp_store_stats_t;

/*  Counters since the store was opened. */
void
    kvp_store_stats (kvp_store_t *self, kvp_store_stats_t *stats);

/*  --- Partitions ------------------------------------------------------ */

typedef struct {
    uint32_t epoch;         /* random, made when the partition was created
                               here; part of every job id */
    uint64_t seq;           /* last job (= event) sequence number used */
    uint64_t sent;          /* events up to here are known published */
} kvp_partition_t;

/*  List the partitions that have a record here, ascending. The caller
    frees *list with free(). Own read transaction; not inside a batch. */
int
    kvp_store_partitions (kvp_store_t *self, uint32_t **list, size_t *count);

/*  Read a partition's record (in the batch if one is open). NOTFOUND if
    the partition has never been written here. */
int
    kvp_store_partition_get (kvp_store_t *self, uint32_t part,
                             kvp_partition_t *info);

/*  In a batch: record that events up to `sent` are published. */
int
    kvp_store_partition_sent (kvp_store_t *self, uint32_t part,
                              uint64_t sent);

/*  --- Systems (all in a batch) ---------------------------------------- */

#define KVP_STORE_ELEMENT_MAX 256

typedef struct {
    char name [KVP_STORE_ELEMENT_MAX + 1];  /* ElementName, NUL-terminated */
    size_t name_len;                        /* bytes */
    bool exchange;                          /* DataExchangeEnabled */
    uint64_t created_ms;                    /* Unix ms */
} kvp_system_t;

/*  Read a system. NOTFOUND if unknown. */
int
    kvp_store_system_get (kvp_store_t *self, uint32_t part,
                          const uint8_t guid [16], kvp_system_t *sys);

/*  Write a system; with create, EXISTS if it is already there. */
int
    kvp_store_system_put (kvp_store_t *self, uint32_t part,
                          const uint8_t guid [16], const kvp_system_t *sys,
                          bool create);

/*  Delete a system, all its items and all its idempotency keys. NOTFOUND
    if unknown. */
int
    kvp_store_system_delete (kvp_store_t *self, uint32_t part,
                             const uint8_t guid [16]);

/*  --- Items (all in a batch) ------------------------------------------ */

/*  Read one item's data. NOTFOUND if absent. Names are 1..65535 bytes. */
int
    kvp_store_item_get (kvp_store_t *self, uint32_t part,
                        const uint8_t guid [16], uint32_t source,
                        const char *name, size_t name_len,
                        const char **data, size_t *data_len);

/*  Write one item; with create, EXISTS if it is already there (and
    nothing is written). */
int
    kvp_store_item_put (kvp_store_t *self, uint32_t part,
                        const uint8_t guid [16], uint32_t source,
                        const char *name, size_t name_len,
                        const char *data, size_t data_len, bool create);

/*  Delete one item. NOTFOUND if absent. */
int
    kvp_store_item_delete (kvp_store_t *self, uint32_t part,
                           const uint8_t guid [16], uint32_t source,
                           const char *name, size_t name_len);

/*  Called once per item by kvp_store_items_each; a non-zero return stops
    the walk and is returned by it. */
typedef int (kvp_store_item_fn) (void *arg, uint32_t source,
                                 const char *name, size_t name_len,
                                 const char *data, size_t data_len);

/*  A position in a system's item order: the items that sort after
    (source, name). */
typedef struct {
    uint64_t source;            /* any value (past 255: after every item) */
    const char *name;           /* borrowed; NULL when name_len is 0 */
    size_t name_len;            /* 0: before every name of `source` */
} kvp_store_after_t;

/*  Call `fn` for each item of a system whose Source is `source` (or every
    item when source is UINT32_MAX) that sorts after `after` (every one
    when after is NULL), in order of Source, then Name bytewise (a shorter
    name first when it is a prefix of the other). The walk starts at
    `after`'s place in the items table (a seek, not a scan from the first
    item) and hands items on as it meets them, except names whose keys do
    not sort as the names do (KVP_ITEMTAB_HEAD bytes and more, sharing
    those first bytes: kvp_itemtab.h), which are gathered and sorted first.
    fn must not write to the store nor walk items again; a non-zero return
    from fn stops the walk and is returned. */
int
    kvp_store_items_each (kvp_store_t *self, uint32_t part,
                          const uint8_t guid [16], uint32_t source,
                          const kvp_store_after_t *after,
                          kvp_store_item_fn *fn, void *arg);

/*  --- The log: jobs and their events (all in a batch) ------------------ */

/*  The epoch and sequence number the partition's next job gets, creating
    the partition's record (random epoch, seq 0) if it has none. */
int
    kvp_store_log_next (kvp_store_t *self, uint32_t part, uint32_t *epoch,
                        uint64_t *seq);

/*  Append the job `seq` (must be the value log_next gave) with its event
    body, submission time and, when key is not NULL, its idempotency key
    and request digest; advances the partition's seq. */
int
    kvp_store_log_put (kvp_store_t *self, uint32_t part, uint64_t seq,
                       uint64_t time_ms, const uint8_t guid [16],
                       const char *key, size_t key_len,
                       const uint8_t digest [16],
                       const void *event, size_t event_len);

/*  Read job `seq`'s event body. NOTFOUND if unknown or purged. */
int
    kvp_store_log_get (kvp_store_t *self, uint32_t part, uint64_t seq,
                       const void **event, size_t *event_len);

/*  Called for each log entry by kvp_store_log_each; non-zero stops. */
typedef int (kvp_store_log_fn) (void *arg, uint32_t part, uint64_t seq,
                                const void *event, size_t event_len);

/*  Call `fn` for each log entry of `part` with seq >= from, ascending.
    fn must not write to the store. */
int
    kvp_store_log_each (kvp_store_t *self, uint32_t part, uint64_t from,
                        kvp_store_log_fn *fn, void *arg);

/*  Look up an idempotency key: the job seq it made and the digest of the
    request that made it. NOTFOUND if unknown (or purged). */
int
    kvp_store_key_get (kvp_store_t *self, uint32_t part,
                       const uint8_t guid [16], const char *key,
                       size_t key_len, uint64_t *seq, uint8_t digest [16]);

/*  --- Copies of a partition (replication) ------------------------------

    A follower holds an exact copy of a leader's partition by applying, in
    its own batches, the records these calls make on the leader. The
    records are in kvp_change.h's format; a change belongs to a partition
    as kvp_change_part says. Job bodies are numbered in each store's own
    space: applying a job writes its body under this store's next number
    and points the partition's log index at it, so the copy's log_each,
    log_get and key_get read as the leader's. Everything applied or dropped
    goes through the batch like any other write: in this store's log,
    durable at its commit, kept across a reopen, in LMDB by checkpoint.
    Purges are not replicated (they run in each store's checkpoint). */

/*  After a kvp_store_commit that returned OK, until the next
    kvp_store_begin (kvp_store_meta_put runs one), or inside the
    kvp_store_on_logged call of a commit: the changes that batch made to
    partition `part`, as one change record in *out (an initialised
    kvp_change_t, emptied first; the caller owns it and calls
    kvp_change_fini). Empty if the batch did not touch `part`. EINVAL
    otherwise (inside a batch, after a failed commit or an abort, or
    before any batch); EIO out of memory. */
int
    kvp_store_changes (kvp_store_t *self, uint32_t part, kvp_change_t *out);

/*  Called inside kvp_store_commit once the batch's record is in the log
    and before it is synced, so that what the caller does there overlaps
    the sync (a leader sends its followers the changes meanwhile). Only
    reads: kvp_store_changes (the record being committed) and
    kvp_store_partition_get (the batch's view). If the sync then fails,
    commit returns EIO as ever (and the store refuses writes). NULL turns
    it off. */
typedef void (kvp_store_logged_fn) (void *arg);
void
    kvp_store_on_logged (kvp_store_t *self, kvp_store_logged_fn *fn,
                         void *arg);

/*  In a batch: apply a record that kvp_store_changes or kvp_store_copy
    made on another store for `part`. The record is checked whole first:
    a change that is not `part`'s (a global value of meta, a key or body
    of another partition, a body delete), one whose key or value does not
    fit its table, a job's index record without its body right after it,
    or bytes that do not decode are KVP_STORE_CORRUPT, and nothing is
    applied. Deleting what this store lacks is not an error. A write that
    fails takes back what the call wrote and fails the batch (EIO, FULL). */
int
    kvp_store_apply (kvp_store_t *self, uint32_t part, const void *data,
                     size_t size);

/*  In a batch: delete everything `part` holds in this store: the
    partition record, systems, items, idempotency keys, jobs (index and
    bodies). Other partitions are untouched. */
int
    kvp_store_drop (kvp_store_t *self, uint32_t part);

/*  Called with each record kvp_store_copy makes; non-zero stops the copy
    and is returned by it. The bytes are valid during the call only. */
typedef int (kvp_store_chunk_fn) (void *arg, const void *data, size_t size);

/*  Not in a batch: the whole state of `part` (partition record, systems,
    items, keys, jobs with their bodies) as change records of about
    `chunk` bytes at most each (one larger only when one entry is: a row,
    or a job's index record and body), handed to fn in order; at least
    one, empty when the store has nothing of `part`. fn must not use this
    store. Applying them in order with kvp_store_apply, after
    kvp_store_drop, on another store gives a partition that reads the
    same: systems, items, jobs and events by seq, idempotency keys, and
    the partition record (epoch, seq, sent). */
int
    kvp_store_copy (kvp_store_t *self, uint32_t part, size_t chunk,
                    kvp_store_chunk_fn *fn, void *arg);

/*  --- Retention ------------------------------------------------------- */

/*  Ask the next checkpoint to delete log entries submitted before
    `before_ms` (and the keys that point at them), at most `max` entries,
    oldest first in each partition (max 0 asks nothing). Sets *purged to
    the number the checkpoints deleted since the previous call. Not inside
    a batch. */
int
    kvp_store_purge (kvp_store_t *self, uint64_t before_ms, size_t max,
                     size_t *purged);

#ifdef __cplusplus
}
#endif
#endif
