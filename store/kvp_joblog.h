/*  kvp_joblog.h - the store's log and keys tables: the ordered per-partition
    log of applied jobs, and the idempotency keys that point into it.

    The log is two databases, so that the big records (the events) are
    appended at the end of one B-tree, filling its pages and writing them
    in order, while the per-partition order lives in small records:

    logbody lsn(8)                  -> part(2) seq(8) time_ms(8) guid(16)
                                       key_len(1) key digest(16, only when
                                       key_len > 0) event (the rest)
    log     part(2) + seq(8)        -> lsn(8): the partition's index
    keys    part(2) + guid(16) + key  -> seq(8) digest(16)

    The lsn (body number) is worker-global: each new body gets one more
    than the last body the view holds, so bodies are appended at the end
    of their B-tree and an aborted op or batch takes its numbers back with
    its bodies. Numbers are reused only once every body above them has been
    purged, and with them every index record that named them. Each body
    repeats its part and seq, so a partition can be copied or moved alone
    by walking its index, and a body that does not match its index record
    is found out.

    All integers big-endian. A record shorter than its layout says, an
    index record naming no body or a body of another job is
    KVP_STORE_CORRUPT. The partition record (epoch, seq, sent) stays with
    kvp_store, which checks sequence numbers before calling kvp_joblog_put.
    Functions read and write through the caller's view (kvp_view), except
    kvp_joblog_purge, which the checkpoint runs in its own LMDB write
    transaction; all return store codes (kvp_store.h). Internal to store/.
*/
#ifndef KVP_JOBLOG_H_INCLUDED
#define KVP_JOBLOG_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <lmdb.h>
#include "kvp_store.h"
#include "kvp_view.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_JOBLOG_KEY_MAX  255        /* key_len is one byte */

/*  One job as the log keeps it; pointers are borrowed (or point into LMDB
    memory when decoded). */
typedef struct {
    uint64_t time_ms;               /* submission time, Unix ms */
    const uint8_t *guid;            /* target system, 16 bytes */
    const char *key;                /* idempotency key, NULL if none */
    size_t key_len;                 /* 0 when key is NULL */
    const uint8_t *digest;          /* 16 bytes; NULL when no key */
    const void *event;              /* event body */
    size_t event_len;               /* bytes */
} kvp_joblog_entry_t;

typedef struct _kvp_joblog_t kvp_joblog_t;

/*  Make the tables over the open databases: the log's index and bodies,
    and the keys. NULL if out of memory. */
kvp_joblog_t *
    kvp_joblog_new (MDB_dbi index, MDB_dbi body, MDB_dbi keys);

/*  Free the tables (not the databases) and null the pointer; NULL-safe. */
void
    kvp_joblog_destroy (kvp_joblog_t **self_p);

/*  Write job `seq` of `part` (its index record and its body, appended
    under the next lsn) and, when it has a key, its key record. EINVAL for
    a key without digest or longer than KVP_JOBLOG_KEY_MAX; EXISTS if the
    job is already there (nothing written); EIO out of memory. */
int
    kvp_joblog_put (kvp_joblog_t *self, kvp_view_t *view, uint32_t part,
                    uint64_t seq, const kvp_joblog_entry_t *entry);

/*  Read job `seq` of `part` into *entry. NOTFOUND if absent. */
int
    kvp_joblog_get (kvp_joblog_t *self, kvp_view_t *view, uint32_t part,
                    uint64_t seq, kvp_joblog_entry_t *entry);

/*  Call `fn` for each job of `part` with seq >= from, ascending; a
    non-zero return stops the walk and is returned. fn must not write. */
int
    kvp_joblog_each (kvp_joblog_t *self, kvp_view_t *view, uint32_t part,
                     uint64_t from, kvp_store_log_fn *fn, void *arg);

/*  Look up key record `prefix` (part + guid, 18 bytes) + key. NOTFOUND if
    absent; seq and digest may be NULL. */
int
    kvp_joblog_key_get (kvp_joblog_t *self, kvp_view_t *view,
                        const uint8_t *prefix, const char *key, size_t key_len,
                        uint64_t *seq, uint8_t digest [16]);

/*  Delete all key records of the system `prefix` (18 bytes). */
int
    kvp_joblog_keys_clear (kvp_joblog_t *self, kvp_view_t *view,
                           const uint8_t *prefix);

/*  --- Copies of a partition (kvp_replica) ----------------------------- */

/*  Check a body as another store's logbody holds it (the value alone):
    CORRUPT unless it decodes; otherwise its job's part and seq. */
int
    kvp_joblog_body_check (const void *body, size_t size, uint32_t *part,
                           uint64_t *seq);

/*  Write a body another store made (checked as above) as a job of this
    view: under this view's next lsn, with its index record (part + seq ->
    that lsn). A job already there with that part and seq is replaced and
    its old body deleted. The key record, if any, is not written: the
    record that carried the body carries it. */
int
    kvp_joblog_adopt (kvp_joblog_t *self, kvp_view_t *view,
                      const void *body, size_t size);

/*  Delete the jobs whose index key starts with `prefix` (2..10 bytes: the
    part, then leading bytes of the seq; 10 names one job): their bodies,
    then their index records. Key records are left alone. EIO out of
    memory. */
int
    kvp_joblog_drop (kvp_joblog_t *self, kvp_view_t *view,
                     const uint8_t *prefix, size_t prefix_len);

/*  Called for each job by kvp_joblog_bodies with the records as the
    tables hold them: the index key (part + seq), its value (the lsn) and
    the body; non-zero stops the walk and is returned. */
typedef int (kvp_joblog_raw_fn) (void *arg, const MDB_val *job,
                                 const MDB_val *lsn, const MDB_val *body);

/*  Call `fn` for each job of `part`, ascending by seq. An index record
    naming no body, or a body of another job, is CORRUPT. fn must not
    write to the view. */
int
    kvp_joblog_bodies (kvp_joblog_t *self, kvp_view_t *view, uint32_t part,
                       kvp_joblog_raw_fn *fn, void *arg);

/*  Delete, oldest first in each partition, jobs submitted before
    `before_ms` (index record and body) and the key records still pointing
    at them, at most `max` in all; *purged gets the number deleted. */
int
    kvp_joblog_purge (kvp_joblog_t *self, MDB_txn *txn, uint64_t before_ms,
                      size_t max, size_t *purged);

#ifdef __cplusplus
}
#endif
#endif
