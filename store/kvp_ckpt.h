/*  kvp_ckpt.h - the checkpoint: a thread that applies the log's records to
    LMDB and commits them with LMDB's normal synced commit, so that the log
    segments they came from can go.

    The store pushes each batch's record (the same bytes it appended to
    the write-ahead log) once the log has synced it. Every `interval_ms`,
    or as soon as `ops` changes are waiting, the thread takes everything
    waiting, applies it in one write transaction, writes the last record's
    log sequence number under KVP_CKPT_APPLIED in the same transaction (so
    recovery replays only what comes after), commits, and publishes that
    number (kvp_ckpt_applied). Requests never wait for it: the worker
    reads what is not yet applied from its overlay.

    When a commit runs out of space the records are retried one per
    transaction (LMDB reuses freed pages only after later commits); what
    still does not fit stays queued, kvp_ckpt_status says FULL and the
    thread retries every second. kvp_ckpt_fits estimates whether a new
    record fits, from the map, the file size limit and the disk (less the
    log's `disk_reserve`), measured on the call, and the part of LMDB's
    free list that the next commit may reuse, as of the last commit. The
    store admits a record only when it fits, so that what the log holds
    fits in LMDB: a full disk stays a state that deletes get out of. An
    estimate is an estimate (LMDB wants a run of pages for a large value,
    and the free list's are scattered), and another process may take the
    disk: so the thread keeps a file of disk_reserve bytes in the store's
    folder ("reserve.tmp"), made while the disk has room to spare, and
    gives it back when what the log holds finds no room.

    Retention: kvp_ckpt_purge asks for jobs older than a time to be
    deleted in the next checkpoint's transaction.

    Thread-safe where noted; everything else belongs to the owner's
    thread. Internal to store/.
*/
#ifndef KVP_CKPT_H_INCLUDED
#define KVP_CKPT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <lmdb.h>
#include "kvp_change.h"
#include "kvp_joblog.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  The global value holding the last applied log sequence number (8
    bytes, big-endian), a meta key. */
#define KVP_CKPT_APPLIED        "\xff\xff" "wal.applied"

typedef struct {
    unsigned interval_ms;       /* at most this long between checkpoints */
    size_t ops;                 /* changes waiting that start one at once */
    const char *log_path;       /* one line per checkpoint, NULL for none:
                                   "<start unix us> <end unix us> <records>
                                   <changes> <us in LMDB's commit>" */
    uint64_t disk_reserve;      /* disk bytes left to the log (the next
                                   segment it may make): never room; and
                                   the size of the reserve file */
} kvp_ckpt_config_t;

typedef struct {
    uint64_t checkpoints;       /* commits made */
    uint64_t records;           /* records applied */
    uint64_t us_total;          /* time in checkpoints */
    uint64_t us_max;            /* the longest */
    uint64_t purged;            /* jobs purged */
    size_t room;                /* pages free, as of the last commit */
} kvp_ckpt_stats_t;

typedef struct _kvp_ckpt_t kvp_ckpt_t;

/*  Start the thread over `env` (dbis [table] for each kvp_change table;
    `log` for purging). `applied` is what LMDB already holds. NULL on
    failure. */
kvp_ckpt_t *
    kvp_ckpt_new (MDB_env *env, const MDB_dbi *dbis, kvp_joblog_t *log,
                  uint64_t applied, const kvp_ckpt_config_t *config);

/*  Apply what is queued (one last checkpoint), stop the thread, free.
    Safe on NULL. */
void
    kvp_ckpt_destroy (kvp_ckpt_t **self_p);

/*  Queue record `lsn` (data is taken over, freed with free()) holding
    `changes` changes. Returns 0 or -1 out of memory (data freed). */
int
    kvp_ckpt_push (kvp_ckpt_t *self, uint64_t lsn, void *data, size_t size,
                   size_t changes);

/*  Thread-safe reads: the last lsn LMDB holds; bytes queued and not yet
    applied; 0 or why commits are failing (KVP_STORE_FULL, _EIO). */
uint64_t
    kvp_ckpt_applied (kvp_ckpt_t *self);
size_t
    kvp_ckpt_backlog (kvp_ckpt_t *self);
int
    kvp_ckpt_status (kvp_ckpt_t *self);

/*  Would LMDB hold what is queued and a record of `bytes` bytes of puts
    and `changes` changes? A generous estimate of the pages they take
    against the pages free now: LMDB's, as of the last commit, and the
    disk's, measured on the call. */
bool
    kvp_ckpt_fits (kvp_ckpt_t *self, size_t bytes, size_t changes);

/*  Checkpoint now and wait (at most timeout_ms) until everything queued
    is applied or a commit failed; then commit once more (at most every
    100 ms), so that the pages the last commit freed become reusable and
    the free list is measured again. Returns 0 when all is applied,
    else kvp_ckpt_status or KVP_STORE_EIO on time-out. */
int
    kvp_ckpt_flush (kvp_ckpt_t *self, int timeout_ms);

/*  Delete jobs submitted before `before_ms` (at most `max`) in the next
    checkpoint. */
void
    kvp_ckpt_purge (kvp_ckpt_t *self, uint64_t before_ms, size_t max);

/*  Counters since start. */
void
    kvp_ckpt_stats (kvp_ckpt_t *self, kvp_ckpt_stats_t *stats);

/*  Apply one record to write transaction `txn`. Returns a store code;
    CORRUPT when the record does not decode (nothing applied). */
int
    kvp_ckpt_apply (MDB_txn *txn, const MDB_dbi *dbis, const void *data,
                    size_t size);

/*  Write `lsn` under KVP_CKPT_APPLIED in `txn`, of meta database `meta`. */
int
    kvp_ckpt_mark (MDB_txn *txn, MDB_dbi meta, uint64_t lsn);

/*  Read it (0 when absent). */
int
    kvp_ckpt_read (MDB_txn *txn, MDB_dbi meta, uint64_t *lsn);

#ifdef __cplusplus
}
#endif
#endif
