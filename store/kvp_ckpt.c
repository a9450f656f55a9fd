/*  kvp_ckpt.c - the checkpoint thread (see kvp_ckpt.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <czmq.h>
#include "kvp_ckpt.h"
#include "kvp_lmdb.h"
#include "kvp_store.h"

#define S_RETRY_MS      1000        //  after a failed commit
#define S_RECLAIM_MS    100         //  a commit asked for room, at most so
                                    //  often
#define S_RESERVE_PAGES 16          //  kept back for the checkpoint itself
#define S_NICE          5           //  below the request path, for the CPU
#define S_RESERVE_FILE  "reserve.tmp"   //  the disk kept back, in the store

typedef struct s_record {
    struct s_record *next;
    uint64_t lsn;
    void *data;
    size_t size;
    size_t changes;
} s_record_t;

struct _kvp_ckpt_t {
    MDB_env *env;
    MDB_dbi dbis [KVP_TABLE_COUNT];
    kvp_joblog_t *log;
    kvp_ckpt_config_t config;
    FILE *log_file;                 //  the checkpoint log, or NULL
    size_t psize;                   //  LMDB page size
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;           //  guards what follows
    pthread_cond_t wake;            //  for the thread
    pthread_cond_t done;            //  for waiters
    s_record_t *head, *tail;        //  queued records
    size_t queued_changes;
    size_t backlog;                 //  bytes queued or being applied
    uint64_t applied;
    int status;
    bool stop, urgent;
    bool reclaim;                   //  a commit asked for only so that
                                    //  the last one's frees become usable
    uint64_t purge_before;          //  0: no purge asked
    size_t purge_max;
    size_t room_free;               //  free pages after the last commit,
    size_t room_tail;               //  and the map's pages past the file
    size_t pending;                 //  pages it freed, not yet reusable
    int64_t reclaim_at;             //  the last reclaim asked, mono ms
    char *reserve;                  //  the reserve file's path, or NULL
    bool reserved;                  //  it holds disk_reserve bytes
    uint64_t attempts;              //  checkpoints tried
    uint64_t applied_at;            //  the last one's records applied, us
    kvp_ckpt_stats_t stats;
};

//  --- Applying records ---------------------------------------------------

typedef struct {
    MDB_txn *txn;
    const MDB_dbi *dbis;
} s_apply_t;

static int
s_apply_change (void *arg, kvp_change_op_t op, kvp_change_table_t table,
                const void *key, size_t key_len, const void *val,
                size_t val_len)
{
    s_apply_t *apply = (s_apply_t *) arg;
    MDB_dbi dbi = apply->dbis [table];
    MDB_val k = { key_len, (void *) key }, v = { val_len, (void *) val };
    int rc;
    if (op == KVP_CHANGE_PUT)
        rc = mdb_put (apply->txn, dbi, &k, &v, 0);
    else
    if (op == KVP_CHANGE_DEL) {
        rc = mdb_del (apply->txn, dbi, &k, NULL);
        rc = rc == MDB_NOTFOUND? MDB_SUCCESS: rc;   //  replayed twice
    }
    else
        return kvp_lmdb_del_prefix (apply->txn, dbi, key, key_len, NULL);
    return kvp_lmdb_rc (rc, "checkpoint apply");
}

int
kvp_ckpt_apply (MDB_txn *txn, const MDB_dbi *dbis, const void *data,
                size_t size)
{
    s_apply_t apply = { txn, dbis };
    return kvp_change_each (data, size, s_apply_change, &apply);
}

int
kvp_ckpt_mark (MDB_txn *txn, MDB_dbi meta, uint64_t lsn)
{
    uint8_t bytes [8];
    kvp_lmdb_put_u64 (bytes, lsn);
    MDB_val key = { strlen (KVP_CKPT_APPLIED), (void *) KVP_CKPT_APPLIED };
    MDB_val val = { 8, bytes };
    return kvp_lmdb_rc (mdb_put (txn, meta, &key, &val, 0), "checkpoint mark");
}

int
kvp_ckpt_read (MDB_txn *txn, MDB_dbi meta, uint64_t *lsn)
{
    MDB_val key = { strlen (KVP_CKPT_APPLIED), (void *) KVP_CKPT_APPLIED };
    MDB_val val;
    int rc = mdb_get (txn, meta, &key, &val);
    *lsn = 0;
    if (rc == MDB_NOTFOUND)
        return KVP_STORE_OK;
    if (rc == MDB_SUCCESS && val.mv_size != 8)
        return KVP_STORE_CORRUPT;
    if (rc == MDB_SUCCESS)
        *lsn = kvp_lmdb_get_u64 ((const uint8_t *) val.mv_data);
    return kvp_lmdb_rc (rc, "checkpoint read");
}

//  --- Room --------------------------------------------------------------

//  Pages on LMDB's free list, read in `txn`, that the next write
//  transaction may reuse, and those it may not (*pending): LMDB hands out
//  the pages a transaction freed only to transactions after the next one,
//  so those of the last commit wait for one more.
static size_t
s_free_list (MDB_txn *txn, size_t *pending)
{
    MDB_cursor *cursor;
    MDB_val key, val;
    size_t pages = 0;
    size_t newest = mdb_txn_id (txn);
    *pending = 0;
    if (mdb_cursor_open (txn, 0, &cursor) != MDB_SUCCESS)
        return 0;
    int rc = mdb_cursor_get (cursor, &key, &val, MDB_FIRST);
    for (; rc == MDB_SUCCESS; rc = mdb_cursor_get (cursor, &key, &val,
                                                   MDB_NEXT)) {
        size_t freed_by = newest, count = 0;
        if (key.mv_size == sizeof freed_by)
            memcpy (&freed_by, key.mv_data, sizeof freed_by);
        if (val.mv_size >= sizeof count)
            memcpy (&count, val.mv_data, sizeof count);   //  IDL: count first
        if (freed_by < newest)
            pages += count;
        else
            *pending += count;
    }
    mdb_cursor_close (cursor);
    return pages;
}

//  Pages free for new records after a commit: the reusable free list
//  (*free), and the map's unused end (*tail), as far as the disk lets the
//  file grow into it (s_disk, measured when asked)
static void
s_room (kvp_ckpt_t *self, size_t *free, size_t *tail, size_t *pending)
{
    MDB_txn *txn;
    MDB_envinfo info;
    *free = *tail = *pending = 0;
    if (mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn) != MDB_SUCCESS)
        return;
    *free = s_free_list (txn, pending);
    mdb_txn_abort (txn);
    mdb_env_info (self->env, &info);
    size_t map_pages = info.me_mapsize / self->psize;
    *tail = map_pages > info.me_last_pgno + 1
          ? map_pages - info.me_last_pgno - 1: 0;
}

//  Pages the disk (and the file size limit) let LMDB's file grow by now,
//  less what the log keeps for its next segment: the log's records are
//  on the disk already, so its growth is that segment alone
static size_t
s_disk (kvp_ckpt_t *self)
{
    uint64_t bytes = kvp_lmdb_room (self->env);
    bytes = bytes > self->config.disk_reserve
          ? bytes - self->config.disk_reserve: 0;
    return (size_t) (bytes / self->psize);
}

static size_t
s_pages (kvp_ckpt_t *self, size_t bytes, size_t changes)
{
    //  Each change may dirty a leaf and its branches; values share pages
    //  when small, so twice the bytes plus a page per few changes covers
    //  LMDB's copy-on-write with room to spare
    return (bytes * 2) / self->psize + changes / 4 + 4;
}

//  --- The disk reserve ---------------------------------------------------
//
//  A file of disk_reserve bytes, made while the disk has room to spare.
//  When a checkpoint finds no room for records the log already holds (the
//  estimate fell short, or another process took the disk), it gives the
//  file back and tries again, so that what was acknowledged reaches LMDB
//  and deletes can make room again.

//  Make the reserve when it is missing and the disk has three times its
//  size free (it, the log's next segment, as much again)
static void
s_reserve_make (kvp_ckpt_t *self)
{
    uint64_t size = self->config.disk_reserve;
    if (self->reserved || !self->reserve || !size
    ||  kvp_lmdb_room (self->env) / 3 < size)
        return;
    int fd = open (self->reserve, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    self->reserved = fd >= 0 && posix_fallocate (fd, 0, (off_t) size) == 0;
    if (fd >= 0)
        close (fd);
    if (!self->reserved)
        unlink (self->reserve);
}

//  Give the reserve back; true if there was one
static bool
s_reserve_drop (kvp_ckpt_t *self)
{
    if (!self->reserved)
        return false;
    unlink (self->reserve);
    self->reserved = false;
    zsys_warning ("checkpoint: no room for what the log holds: the %llu "
                  "bytes kept in %s given back", (unsigned long long)
                  self->config.disk_reserve, self->reserve);
    return true;
}

//  The reserve's path, and whether a store opened again has it
static void
s_reserve_find (kvp_ckpt_t *self)
{
    const char *dir;
    struct stat st;
    if (mdb_env_get_path (self->env, &dir) != MDB_SUCCESS)
        return;
    self->reserve = zsys_sprintf ("%s/%s", dir, S_RESERVE_FILE);
    self->reserved = self->reserve && stat (self->reserve, &st) == 0
                  && (uint64_t) st.st_size >= self->config.disk_reserve;
    s_reserve_make (self);
}

//  --- The thread ---------------------------------------------------------

static uint64_t
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

//  Apply records [first, last] (and the purge when asked) in one
//  transaction and commit it. Returns a store code.
static int
s_commit (kvp_ckpt_t *self, s_record_t *first, s_record_t *last,
          uint64_t purge_before, size_t purge_max, size_t *purged)
{
    MDB_txn *txn;
    int rc = kvp_lmdb_rc (mdb_txn_begin (self->env, NULL, 0, &txn),
                          "checkpoint begin");
    if (rc)
        return rc;
    for (s_record_t *record = last? first: NULL; rc == KVP_STORE_OK && record;
         record = record == last? NULL: record->next)
        rc = kvp_ckpt_apply (txn, self->dbis, record->data, record->size);
    if (rc == KVP_STORE_OK && purge_before)
        rc = kvp_joblog_purge (self->log, txn, purge_before, purge_max,
                               purged);
    //  Always a change, so that a commit asked for reclaiming commits
    if (rc == KVP_STORE_OK)
        rc = kvp_ckpt_mark (txn, self->dbis [KVP_TABLE_META],
                            last? last->lsn: self->applied);
    self->applied_at = s_now_us ();
    if (rc == KVP_STORE_OK)
        return kvp_lmdb_commit (self->env, txn, "checkpoint commit");
    mdb_txn_abort (txn);
    return rc;
}

//  Publish records [.., last] as applied and free them (lock held)
static void
s_applied (kvp_ckpt_t *self, s_record_t *last)
{
    for (bool more = true; more; ) {
        s_record_t *record = self->head;
        more = record != last;
        self->head = record->next;
        if (!self->head)
            self->tail = NULL;
        self->backlog -= record->size;
        self->queued_changes -= record->changes;
        self->applied = record->lsn;
        self->stats.records++;
        free (record->data);
        free (record);
    }
}

//  One record per transaction, for a store near full: what fits goes in,
//  and a few empty-handed commits let LMDB reuse what the deletes freed
static int
s_one_by_one (kvp_ckpt_t *self, s_record_t *until)
{
    int rc = KVP_STORE_OK;
    for (bool more = true; more && rc == KVP_STORE_OK; ) {
        s_record_t *record = self->head;        //  only we remove records
        more = record != until;
        rc = s_commit (self, record, record, 0, 0, NULL);
        for (int reclaim = 0; rc == KVP_STORE_FULL && reclaim < 2; reclaim++)
            if (s_commit (self, record, record, 0, 0, NULL) == KVP_STORE_OK)
                rc = KVP_STORE_OK;
        if (rc == KVP_STORE_OK) {
            pthread_mutex_lock (&self->lock);
            s_applied (self, record);
            pthread_mutex_unlock (&self->lock);
        }
    }
    return rc;
}

static void
s_log_line (kvp_ckpt_t *self, uint64_t start, uint64_t end, size_t records,
            size_t changes)
{
    if (self->log_file) {
        fprintf (self->log_file, "%llu %llu %zu %zu %llu\n",
                 (unsigned long long) start, (unsigned long long) end,
                 records, changes,
                 (unsigned long long) (end - self->applied_at));
        fflush (self->log_file);
    }
}

//  Checkpoint what is queued up to `last` (lock not held)
static void
s_checkpoint (kvp_ckpt_t *self, s_record_t *last, size_t records,
              size_t changes, uint64_t purge_before, size_t purge_max)
{
    uint64_t start = s_now_us ();
    size_t purged = 0;
    int rc = s_commit (self, self->head, last, purge_before, purge_max,
                       &purged);
    if (rc == KVP_STORE_FULL && last) {
        purged = 0;
        rc = s_one_by_one (self, last);
    }
    if (rc == KVP_STORE_FULL && last && s_reserve_drop (self))
        rc = s_one_by_one (self, last);
    if (rc == KVP_STORE_OK)
        s_reserve_make (self);
    uint64_t end = s_now_us ();
    size_t room_free, room_tail, pending;
    s_room (self, &room_free, &room_tail, &pending);
    pthread_mutex_lock (&self->lock);
    if (rc == KVP_STORE_OK && last && self->applied < last->lsn)
        s_applied (self, last);
    if (rc == KVP_STORE_OK && purge_before == self->purge_before)
        self->purge_before = 0;
    //  Only records can be stuck: a commit that carried none (a purge, a
    //  reclaim) and failed is tried again later, and holds nothing up
    int status = last? rc: KVP_STORE_OK;
    if (status != KVP_STORE_OK && self->status != status)
        zsys_error ("checkpoint: cannot commit: %s (retrying every %d ms)",
                    kvp_store_strerror (status), S_RETRY_MS);
    else
    if (status == KVP_STORE_OK && self->status)
        zsys_notice ("checkpoint: commits succeed again");
    self->status = status;
    self->room_free = room_free;
    self->room_tail = room_tail;
    self->pending = pending;
    self->attempts++;
    self->stats.checkpoints += rc == KVP_STORE_OK;
    self->stats.purged += purged;
    self->stats.us_total += end - start;
    if (end - start > self->stats.us_max)
        self->stats.us_max = end - start;
    pthread_cond_broadcast (&self->done);
    pthread_mutex_unlock (&self->lock);
    if (rc == KVP_STORE_OK)
        s_log_line (self, start, end, records, changes);
}

//  Wait on `cond` (lock held) for at most `ms` milliseconds
static void
s_timed_wait (kvp_ckpt_t *self, pthread_cond_t *cond, uint64_t ms)
{
    struct timespec until;
    clock_gettime (CLOCK_REALTIME, &until);
    until.tv_sec += (time_t) (ms / 1000);
    until.tv_nsec += (long) (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait (cond, &self->lock, &until);
}

//  Wait (lock held) until there is work due or a stop; false to stop
static bool
s_wait_due (kvp_ckpt_t *self, uint64_t *last_ms)
{
    for (;;) {
        bool work = self->head || self->purge_before || self->reclaim;
        uint64_t now = (uint64_t) zclock_mono ();
        unsigned wait = self->status? S_RETRY_MS: self->config.interval_ms;
        bool due = work && (self->urgent || self->stop
                            || now >= *last_ms + wait
                            || self->queued_changes >= self->config.ops);
        if (due)
            return true;
        if (self->stop)
            return false;
        s_timed_wait (self, &self->wake, work? *last_ms + wait - now: 1000);
    }
}

static void *
s_run (void *arg)
{
    kvp_ckpt_t *self = (kvp_ckpt_t *) arg;
    //  When the CPU is short, requests go first: a checkpoint that falls
    //  behind shows as backlog, which the store turns into 32774 (Linux
    //  gives a thread its own nice value)
    if (setpriority (PRIO_PROCESS, (id_t) gettid (), S_NICE) != 0)
        zsys_debug ("checkpoint: cannot lower its priority: %s",
                    strerror (errno));
    uint64_t last_ms = (uint64_t) zclock_mono ();
    pthread_mutex_lock (&self->lock);
    while (s_wait_due (self, &last_ms)) {
        //  Take what is queued now; what is pushed meanwhile waits
        s_record_t *last = self->tail;
        size_t records = 0, changes = self->queued_changes;
        for (s_record_t *r = self->head; r; r = r->next)
            records++;
        uint64_t purge_before = self->purge_before;
        size_t purge_max = self->purge_max;
        self->urgent = self->reclaim = false;
        pthread_mutex_unlock (&self->lock);
        s_checkpoint (self, last, records, changes, purge_before,
                      purge_max);
        last_ms = (uint64_t) zclock_mono ();
        pthread_mutex_lock (&self->lock);
        if (self->stop && self->status)
            break;                      //  cannot finish: the log has it
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

//  --- The owner's side ---------------------------------------------------

kvp_ckpt_t *
kvp_ckpt_new (MDB_env *env, const MDB_dbi *dbis, kvp_joblog_t *log,
              uint64_t applied, const kvp_ckpt_config_t *config)
{
    kvp_ckpt_t *self = (kvp_ckpt_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->env = env;
    memcpy (self->dbis, dbis, sizeof self->dbis);
    self->log = log;
    self->config = *config;
    if (self->config.interval_ms == 0)
        self->config.interval_ms = 100;
    if (self->config.ops == 0)
        self->config.ops = 10000;
    self->config.log_path = NULL;
    s_reserve_find (self);
    self->applied = applied;
    MDB_stat st;
    mdb_env_stat (env, &st);
    self->psize = st.ms_psize;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    pthread_cond_init (&self->done, NULL);
    if (config->log_path
    &&  !(self->log_file = fopen (config->log_path, "a")))
        zsys_warning ("checkpoint log %s: %s", config->log_path,
                      strerror (errno));
    s_room (self, &self->room_free, &self->room_tail, &self->pending);
    self->started = pthread_create (&self->thread, NULL, s_run, self) == 0;
    if (!self->started)
        kvp_ckpt_destroy (&self);
    return self;
}

void
kvp_ckpt_destroy (kvp_ckpt_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_ckpt_t *self = *self_p;
    if (self->started) {
        pthread_mutex_lock (&self->lock);
        self->stop = true;
        pthread_cond_signal (&self->wake);
        pthread_mutex_unlock (&self->lock);
        pthread_join (self->thread, NULL);
    }
    while (self->head) {
        s_record_t *record = self->head;
        self->head = record->next;
        free (record->data);
        free (record);
    }
    if (self->log_file)
        fclose (self->log_file);
    zstr_free (&self->reserve);
    pthread_cond_destroy (&self->done);
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

int
kvp_ckpt_push (kvp_ckpt_t *self, uint64_t lsn, void *data, size_t size,
               size_t changes)
{
    s_record_t *record = (s_record_t *) malloc (sizeof *record);
    if (!record) {
        free (data);
        return -1;
    }
    *record = (s_record_t) { NULL, lsn, data, size, changes };
    pthread_mutex_lock (&self->lock);
    if (self->tail)
        self->tail->next = record;
    else
        self->head = record;
    self->tail = record;
    self->backlog += size;
    self->queued_changes += changes;
    if (self->queued_changes >= self->config.ops)
        pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
    return 0;
}

//  Read one field under the lock
#define S_LOCKED_READ(self, type, expr) do { \
    pthread_mutex_lock (&(self)->lock); \
    type value_ = (expr); \
    pthread_mutex_unlock (&(self)->lock); \
    return value_; \
} while (0)

uint64_t
kvp_ckpt_applied (kvp_ckpt_t *self)
{
    S_LOCKED_READ (self, uint64_t, self->applied);
}

size_t
kvp_ckpt_backlog (kvp_ckpt_t *self)
{
    S_LOCKED_READ (self, size_t, self->backlog);
}

int
kvp_ckpt_status (kvp_ckpt_t *self)
{
    S_LOCKED_READ (self, int, self->status);
}

//  The room for a record now (lock held): the free list, and as much of
//  the map's end as the disk holds
static size_t
s_room_now (kvp_ckpt_t *self)
{
    size_t disk = s_disk (self);
    size_t room = self->room_free
                + (self->room_tail < disk? self->room_tail: disk);
    return room > S_RESERVE_PAGES? room - S_RESERVE_PAGES: 0;
}

bool
kvp_ckpt_fits (kvp_ckpt_t *self, size_t bytes, size_t changes)
{
    pthread_mutex_lock (&self->lock);
    size_t room = s_room_now (self);
    size_t need = s_pages (self, self->backlog + bytes,
                           self->queued_changes + changes);
    pthread_mutex_unlock (&self->lock);
    return need <= room;
}

//  Nothing is queued, but room is short: ask for one commit more (lock
//  held), so that the pages the last commit freed become reusable and
//  the disk is measured again (space may have come back, or the log's
//  segments gone): at once when it freed some, else at most every
//  S_RECLAIM_MS. True if asked.
static bool
s_reclaim (kvp_ckpt_t *self)
{
    int64_t now = zclock_mono ();
    if (self->head || self->purge_before || self->reclaim
    ||  (self->pending <= S_RESERVE_PAGES
         && now - self->reclaim_at < S_RECLAIM_MS))
        return false;
    self->reclaim = self->urgent = true;
    self->reclaim_at = now;
    pthread_cond_signal (&self->wake);
    return true;
}

int
kvp_ckpt_flush (kvp_ckpt_t *self, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    pthread_mutex_lock (&self->lock);
    self->urgent = true;
    pthread_cond_signal (&self->wake);
    uint64_t attempts = self->attempts;
    bool reclaimed = false;
    int rc = KVP_STORE_OK;
    //  Until all is applied (and the frees of that made reusable), or a
    //  checkpoint tried since has failed
    while (self->head || self->purge_before || self->reclaim
       ||  (!reclaimed && (reclaimed = s_reclaim (self)))) {
        int64_t left = deadline - zclock_mono ();
        if (self->status && self->attempts > attempts) {
            rc = self->status;
            break;
        }
        if (left <= 0) {
            rc = KVP_STORE_EIO;
            break;
        }
        s_timed_wait (self, &self->done, (uint64_t) left);
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

void
kvp_ckpt_purge (kvp_ckpt_t *self, uint64_t before_ms, size_t max)
{
    pthread_mutex_lock (&self->lock);
    self->purge_before = before_ms;
    self->purge_max = max;
    pthread_mutex_unlock (&self->lock);
}

void
kvp_ckpt_stats (kvp_ckpt_t *self, kvp_ckpt_stats_t *stats)
{
    pthread_mutex_lock (&self->lock);
    *stats = self->stats;
    stats->room = s_room_now (self);
    pthread_mutex_unlock (&self->lock);
}
