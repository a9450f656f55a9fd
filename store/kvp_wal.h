/*  kvp_wal.h - the worker's write-ahead log: opaque byte records, each
    with an LSN, in preallocated segment files in one directory.

    A record's LSN (log sequence number) is a uint64; LSNs are contiguous.
    The first record of a new log gets 1, or after + 1 when kvp_wal_replay
    says a checkpoint already covers `after`. Segments are named by the LSN
    of their first record, 16 lower-case hex digits: DIR/0000000000000001.wal.
    Nothing but this class writes in DIR; files it does not know are left
    alone, except its own temporaries (*.tmp), removed at open.

    Life of a log: kvp_wal_open (validates every segment), kvp_wal_replay
    once, then appends, syncs and releases in any order; kvp_wal_destroy.
    One thread uses a log. Inside, a background thread prepares the next
    segment (DIR/spare.tmp, zero-filled and synced) so that a segment switch
    on the request path does not wait for 64 MiB of writes; a spare becomes
    a segment only when its header is written and synced and it is renamed
    into place, so recovery never sees one.

    Durability: an append is in the page cache only; kvp_wal_sync makes
    every record appended so far durable (fdatasync, and an fsync of DIR
    after a segment was created or removed). Files never grow on append, so
    an fdatasync writes the records and no file-system metadata. A switch
    to a new segment fdatasyncs the old one first, so every segment but the
    last is always whole on disk. With `nosync` nothing is ever fdatasynced
    or fsynced: the log survives a crash of the process, not of the machine.

    Recovery (kvp_wal_open) scans every segment. What makes a segment's
    bytes clean, a torn tail, empty, foreign or damaged is the format's
    (kvp_walseg.h, with the layout on disk): each record says which LSNs
    had been synced when it was written, and only bytes that no later
    valid record claims were synced can be a torn tail. A torn tail of the
    last segment is discarded, zeroed on disk and synced before anything
    is appended over it. Damage anywhere, any bad record in a segment but
    the last, a gap between segments, or an unreadable header of a segment
    but the last is KVP_STORE_CORRUPT: logged with the file and offset,
    nothing on disk modified. A last segment with no valid header and no
    valid record (a crash while it was created) is removed. A header of
    another format version is KVP_STORE_MISMATCH. Open then fdatasyncs
    what it found (a killed predecessor may have left it in the page cache
    only) before new records may claim it was synced. With nosync no
    record claims anything, so a bad record in the last segment always
    ends it.

    Return codes are the store's (kvp_store.h); failures are logged with
    zsys_*. An I/O error while writing or syncing (EIO) is final: every
    later append and sync returns it too, since after a failed fdatasync
    the kernel may have dropped the pages it could not write. Over the
    segment format (kvp_walseg.h), libc, pthreads and czmq's logging.
*/
#ifndef KVP_WAL_H_INCLUDED
#define KVP_WAL_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/uio.h>
#include "kvp_walseg.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_WAL_SEGMENT_DEFAULT (64u << 20)    /* segment_size 0 */
#define KVP_WAL_SEGMENT_MIN     (64u << 10)    /* smaller is raised to it */
#define KVP_WAL_RECORD_MAX      KVP_WALSEG_RECORD_MAX  /* largest record */
#define KVP_WAL_IOV_MAX         64             /* pieces of one record */

typedef struct {
    size_t segment_size;    /* bytes per segment, 0 = 64 MiB; rounded up to
                               whole 4 KiB pages and at least 64 KiB */
    bool nosync;            /* appends and syncs as usual, but nothing is
                               ever fdatasynced or fsynced */
} kvp_wal_config_t;

typedef struct {
    uint64_t bytes;         /* size of the segment files on disk */
    uint64_t spare_bytes;   /* size of the prepared spare (0 if none) */
    size_t segments;        /* segment files */
    uint64_t first;         /* LSN the log starts at (0 if no segment) */
    uint64_t last;          /* kvp_wal_last */
    uint64_t appends;       /* records appended since open */
    uint64_t appended;      /* bytes they took on disk, headers included */
    uint64_t syncs;         /* kvp_wal_sync calls that returned OK */
    uint64_t sync_us;       /* time spent in fdatasync/fsync, microseconds */
    uint64_t switches;      /* segments begun since open */
} kvp_wal_stats_t;

typedef struct _kvp_wal_t kvp_wal_t;

/*  Called for each record in LSN order; `data` is valid during the call
    only. A non-zero return stops the walk and is returned by its caller.
    Replay hands out what the scan decodes: the format's callback. */
typedef kvp_walseg_record_fn kvp_wal_record_fn;

/*  Open the log in `dir` (created if missing), validating every segment
    as the recovery rules above say. `config` may be NULL for the defaults.
    Ignores SIGXFSZ, as kvp_store_new does, so that a file size limit is
    FULL rather than the end of the process.
    Returns NULL on failure with *rc (if not NULL) set: CORRUPT, MISMATCH,
    EINVAL (no dir), FULL (no room to repair or prepare) or EIO. */
kvp_wal_t *
    kvp_wal_open (const char *dir, const kvp_wal_config_t *config, int *rc);

/*  Close the log and null the pointer; does not sync (what was not synced
    may or may not survive a machine crash). Safe on NULL, safe twice. */
void
    kvp_wal_destroy (kvp_wal_t **self_p);

/*  Call fn for every record with LSN > `after`, in order, and set where
    appends continue: after max(last, after). `after` is the LSN that a
    checkpoint already covers. CORRUPT (logged) when the log starts past
    after + 1 (records the checkpoint lacks are gone) or a segment changed
    since open. When the checkpoint is ahead of the whole log (records lost
    with a machine crash, or released), nothing is replayed, the segments
    (all covered) are deleted and the next record gets after + 1. A log
    with no segment gets its first one here, so that the first append need
    not wait for it (if that fails, the first append says so). Call it
    once, before the first append (EINVAL otherwise). Returns OK, a store
    code, or fn's non-zero return. */
int
    kvp_wal_replay (kvp_wal_t *self, uint64_t after, kvp_wal_record_fn *fn,
                    void *arg);

/*  Append one record of `size` bytes (at most KVP_WAL_RECORD_MAX), written
    straight from `data` with one pwritev into the current segment; sets
    *lsn (if not NULL) to its LSN. A record that does not fit goes into a
    new segment; one larger than a segment gets a segment of its own, sized
    to fit. Not durable until kvp_wal_sync. FULL when a new segment cannot
    be made (ENOSPC, EDQUOT, EFBIG), or a write finds no room after all (a
    file size limit): the log is as before (what a short write wrote is
    zeroed and synced again), so the caller may refuse and try again later.
    EINVAL before replay or on a bad argument; EIO (final) on a write
    error. */
int
    kvp_wal_append (kvp_wal_t *self, const void *data, size_t size,
                    uint64_t *lsn);

/*  kvp_wal_append of the `count` pieces (at most KVP_WAL_IOV_MAX) of one
    record, in order, without copying them together. */
int
    kvp_wal_appendv (kvp_wal_t *self, const struct iovec *iov, int count,
                     uint64_t *lsn);

/*  Make every record appended so far durable: fdatasync the current
    segment (when anything was appended since the last sync), then fsync
    DIR if a segment was created since; both skipped with nosync. Returns
    OK or EIO (final). */
int
    kvp_wal_sync (kvp_wal_t *self);

/*  Records <= `upto` are checkpointed elsewhere: delete, oldest first, each
    segment all of whose records are <= upto, never the current (last) one,
    then fsync DIR. Returns OK or EIO (a segment that could not be deleted
    stops the release; the log is still consistent). */
int
    kvp_wal_release (kvp_wal_t *self, uint64_t upto);

/*  The last LSN in the log (0 if none); after replay, at least `after`. */
uint64_t
    kvp_wal_last (kvp_wal_t *self);

/*  The size the log gives each new segment, bytes (0 when self is NULL):
    the disk room it needs to go on. */
uint64_t
    kvp_wal_segment_size (kvp_wal_t *self);

/*  Fill *stats with the figures above (zeros when self is NULL). */
void
    kvp_wal_stats (kvp_wal_t *self, kvp_wal_stats_t *stats);

#ifdef __cplusplus
}
#endif
#endif
