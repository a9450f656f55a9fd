/*  kvp_recover.h - a store's opening: its LMDB tables made or checked,
    then the write-ahead log's records after LMDB's last checkpoint
    applied to LMDB in one synced commit. When LMDB has no room for them
    (a full disk) they are kept in memory instead, for the store to put
    back into its overlay and queue for its checkpoint: a worker that
    restarts on a full disk still serves, and catches up once there is
    room.

    The layout is refused (MISMATCH) when it is the first one (jobs in
    "log", no "logbody") or when meta's "format" names another; a new
    store gets this one's. Internal to store/.
*/
#ifndef KVP_RECOVER_H_INCLUDED
#define KVP_RECOVER_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <lmdb.h>
#include "kvp_change.h"
#include "kvp_wal.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  A log record LMDB could not take. */
typedef struct kvp_recover_record_s {
    struct kvp_recover_record_s *next;
    uint64_t lsn;
    void *data;                     /* malloc'ed; the caller may take it
                                       (and null it) */
    size_t size;
} kvp_recover_record_t;

/*  What opening found. */
typedef struct {
    uint64_t applied;               /* the last record LMDB holds */
    uint64_t last;                  /* the last record the log holds */
    size_t count;                   /* records replayed */
    kvp_recover_record_t *kept;     /* in order, those LMDB could not
                                       take; NULL when it took them all */
} kvp_recover_t;

/*  Open (creating when missing) the tables of `env` into dbis
    [KVP_TABLE_COUNT] (kvp_change_table_t order), check the layout, and
    replay `wal` (which must not have been replayed) into LMDB, filling
    *recover (free it with kvp_recover_free, whatever the result). `dir`
    names the store in log lines. Returns a store code; a full disk is
    OK, with the records in recover->kept. */
int
    kvp_recover (MDB_env *env, kvp_wal_t *wal, const char *dir,
                 MDB_dbi *dbis, kvp_recover_t *recover);

/*  Free what *recover still holds. */
void
    kvp_recover_free (kvp_recover_t *recover);

#ifdef __cplusplus
}
#endif
#endif
