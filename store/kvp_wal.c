/*  kvp_wal.c - the write-ahead log's segments (see kvp_wal.h).

    Preallocation, measured on this machine's ext4 (virtio disk, 2 cores,
    2026-12-01; 2,000 x pwrite of 16 KiB + fdatasync into a 64 MiB file):

        into fallocate'd space (unwritten extents)  p50 320-410 us, 2.4-2.8k/s
        into zero-filled space                      p50 250 us,     3.6k/s
        extending the file at each write            p50 400-460 us, 2.2-2.5k/s

    Writing into unwritten extents converts them, which is a metadata change
    that fdatasync must commit to the journal; overwriting written zeros is
    not. So a segment is fallocate'd (a full disk fails at once, cleanly)
    and then filled with zeros and synced, off the request path, in the
    spare thread: 55-75 ms per 64 MiB of writes.

    Those 64 MiB must not reach the disk in one burst: an fdatasync of the
    log waits behind them. 3,000 x (append 64 KiB + sync), 3 switches:

        zeros, then one fdatasync      p50 330-410 us, p99.9 35-43 ms, max 49-65 ms
        fdatasync after each 4 MiB     p50 320-400 us, p99.9 6-11 ms,  max 15-34 ms
        fdatasync after each 1 MiB     p50 320-360 us, p99.9 5 ms,     max 8-11 ms

    The segment format (framing, CRC-32C, the scanner) is kvp_walseg.c.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <czmq.h>
#include "kvp_dir.h"
#include "kvp_wal.h"
#include "kvp_walseg.h"
#include "kvp_store.h"

#define S_SEG_HDR       KVP_WALSEG_SEGMENT_HEADER
#define S_REC_HDR       KVP_WALSEG_RECORD_HEADER
#define S_PAGE          4096u
#define S_SPARE         "spare.tmp"     //  the next segment, prepared
#define S_LARGE         "large.tmp"     //  a segment for one large record
#define S_NAME_LEN      20              //  16 hex digits + ".wal"
#define S_ZERO_STEP     (1u << 20)      //  spare zeros synced per step

typedef struct {
    uint64_t first;             //  LSN of its first record (its name)
    uint64_t last;              //  LSN of its last record, first - 1 if none
    uint64_t size;              //  file size
    size_t end;                 //  offset past its last record
} s_seg_t;

//  The next segment, made ahead by a thread
typedef struct {
    int dirfd;                  //  the log's directory
    uint64_t size;              //  segment size to prepare
    bool nosync;
    bool running;               //  a thread was started and not joined
    pthread_t thread;
    int fd;                     //  the spare, or -1; the thread's while
                                //  it runs
    atomic_bool ready;          //  the thread has set fd
} s_spare_t;

struct _kvp_wal_t {
    char *dir;                  //  for log lines
    int dirfd;                  //  for *at calls and directory fsyncs
    uint64_t segment_size;      //  bytes per new segment
    bool nosync;
    s_seg_t *segs;              //  oldest first; the last is the current
    size_t nsegs;
    size_t maxsegs;             //  room in segs
    kvp_walseg_scan_t tail;     //  the last segment as open found it
    int fd;                     //  the current segment, or -1
    uint64_t off;               //  where the next record goes in it
    uint64_t cap;               //  no record may end past this
    uint64_t last;              //  last LSN (at least replay's `after`)
    uint64_t synced;            //  records <= this were fdatasynced
    bool replayed;              //  kvp_wal_replay was called
    bool unsynced;              //  appended since fd's last fdatasync
    bool dir_dirty;             //  a name changed since DIR's last fsync
    int failed;                 //  EIO once a write or sync failed
    bool full_logged;           //  FULL was logged; not again until a
                                //  segment could be made
    kvp_wal_stats_t stats;      //  counters (bytes, segments: computed)
    s_spare_t spare;
};

//  Zeros to write from; never written to
static uint8_t s_zeros [128 << 10];

//  --- Files ---------------------------------------------------------------

//  Store code for a failed creation or write: no room is FULL
static int
s_space_rc (int err)
{
    return err == ENOSPC || err == EDQUOT || err == EFBIG? KVP_STORE_FULL
                                                         : KVP_STORE_EIO;
}

static int
s_io_error (kvp_wal_t *self, const char *what, int err)
{
    zsys_error ("wal %s: %s: %s", self->dir, what, strerror (err));
    return s_space_rc (err);
}

//  A write or a sync failed: nothing can be trusted after it (the kernel
//  may have dropped the pages it could not write), so the log stays failed
static int
s_final (kvp_wal_t *self, const char *what, int err)
{
    s_io_error (self, what, err);
    self->failed = KVP_STORE_EIO;
    return self->failed;
}

static uint64_t
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static void
s_name (char name [S_NAME_LEN + 1], uint64_t first)
{
    snprintf (name, S_NAME_LEN + 1, "%016" PRIx64 ".wal", first);
}

//  The LSN a segment's file name gives, or 0 if it is not one
static uint64_t
s_parse_name (const char *name)
{
    if (strlen (name) != S_NAME_LEN || strcmp (name + 16, ".wal"))
        return 0;
    uint64_t lsn = 0;
    for (int i = 0; i < 16; i++) {
        const char *digit = strchr ("0123456789abcdef", name [i]);
        if (!digit || !*digit)
            return 0;
        lsn = lsn << 4 | (uint64_t) (digit - "0123456789abcdef");
    }
    return lsn;
}

//  Write zeros over [from, to) of fd; 0 or errno
static int
s_zero (int fd, uint64_t from, uint64_t to)
{
    while (from < to) {
        size_t chunk = to - from < sizeof s_zeros? to - from: sizeof s_zeros;
        ssize_t done = pwrite (fd, s_zeros, chunk, (off_t) from);
        if (done <= 0)
            return done < 0? errno: EIO;
        from += (uint64_t) done;    //  at least one byte: bounded
    }
    return 0;
}

//  Create `name` in dirfd as `size` bytes of synced zeros (see the top of
//  the file), synced a step at a time. Returns the open file, or -errno
//  (nothing left behind).
static int
s_prepare (int dirfd, const char *name, uint64_t size, bool nosync)
{
    int fd = openat (dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
                     0644);
    if (fd < 0)
        return -errno;
    int err = 0;
    //  A file system without fallocate gets the zeros alone
    if (fallocate (fd, 0, 0, (off_t) size) != 0
    &&  errno != EOPNOTSUPP && errno != ENOSYS)
        err = errno;
    for (uint64_t at = 0; !err && at < size; at += S_ZERO_STEP) {
        err = s_zero (fd, at, size - at < S_ZERO_STEP? size: at + S_ZERO_STEP);
        if (!err && !nosync && fdatasync (fd) != 0)
            err = errno;
    }
    if (err) {
        close (fd);
        unlinkat (dirfd, name, 0);
        return -err;
    }
    return fd;
}

//  Map a whole file read-only; *bytes is NULL for an empty one. 0 or errno
static int
s_map (int dirfd, const char *name, uint8_t **bytes, size_t *size)
{
    int fd = openat (dirfd, name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat (fd, &st) != 0) {
        int err = errno;
        if (fd >= 0)
            close (fd);
        return err;
    }
    *size = (size_t) st.st_size;
    *bytes = NULL;
    void *map = *size? mmap (NULL, *size, PROT_READ, MAP_SHARED, fd, 0): NULL;
    int err = map == MAP_FAILED? errno: 0;
    close (fd);                     //  the mapping keeps the file
    if (!err && map)
        *bytes = (uint8_t *) map;
    return err;
}

//  --- The spare --------------------------------------------------------------

//  A thread makes each spare and ends. It writes fd, then `ready`; the
//  owner reads fd only once it has joined the thread or seen `ready`.
static void *
s_spare_main (void *arg)
{
    s_spare_t *spare = (s_spare_t *) arg;
    int fd = s_prepare (spare->dirfd, S_SPARE, spare->size, spare->nosync);
    spare->fd = fd < 0? -1: fd;     //  the owner retries, and says why
    atomic_store (&spare->ready, true);
    return NULL;
}

//  Start making a spare unless one is there or on its way. The thread
//  runs with every signal blocked, so that signals go to the owner's.
//  Without a thread, the switch makes the segment itself.
static void
s_spare_want (s_spare_t *spare)
{
    if (spare->running || spare->fd >= 0)
        return;
    sigset_t all, saved;
    sigfillset (&all);
    pthread_sigmask (SIG_SETMASK, &all, &saved);
    atomic_store (&spare->ready, false);
    spare->running = pthread_create (&spare->thread, NULL, s_spare_main,
                                     spare) == 0;
    pthread_sigmask (SIG_SETMASK, &saved, NULL);
}

//  Take the spare, waiting for one on its way: its fd, or -1
static int
s_spare_take (s_spare_t *spare)
{
    if (spare->running)
        pthread_join (spare->thread, NULL);
    spare->running = false;
    int fd = spare->fd;
    spare->fd = -1;
    return fd;
}

//  Is a spare ready (without waiting)?
static bool
s_spare_ready (s_spare_t *spare)
{
    if (spare->running && !atomic_load (&spare->ready))
        return false;
    return spare->fd >= 0;          //  written before `ready`: safe to read
}

//  Close and remove the spare, when there is one
static void
s_spare_drop (s_spare_t *spare)
{
    int fd = s_spare_take (spare);
    if (fd >= 0) {
        close (fd);
        unlinkat (spare->dirfd, S_SPARE, 0);
    }
}

//  --- Opening ---------------------------------------------------------------

static kvp_wal_t *
s_new (const char *dir, const kvp_wal_config_t *config, int *rc)
{
    kvp_wal_t *self = (kvp_wal_t *) calloc (1, sizeof *self);
    if (!self || !(self->dir = strdup (dir))) {
        free (self);
        *rc = KVP_STORE_EIO;        //  out of memory
        return NULL;
    }
    uint64_t size = config && config->segment_size? config->segment_size
                                                  : KVP_WAL_SEGMENT_DEFAULT;
    size = size < KVP_WAL_SEGMENT_MIN? KVP_WAL_SEGMENT_MIN
         : size > (1ull << 40)? 1ull << 40: size;
    self->segment_size = (size + S_PAGE - 1) / S_PAGE * S_PAGE;
    self->nosync = config && config->nosync;
    self->fd = -1;
    self->dirfd = -1;
    s_spare_t *spare = &self->spare;
    spare->fd = -1;
    spare->size = self->segment_size;
    spare->nosync = self->nosync;
    int err = kvp_dir_make (dir);
    if (!err && (self->dirfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        err = errno;
    spare->dirfd = self->dirfd;
    *rc = err? s_io_error (self, "open directory", err): KVP_STORE_OK;
    return self;
}

//  Room for one more segment in self->segs; 0 or ENOMEM
static int
s_room (kvp_wal_t *self)
{
    if (self->nsegs < self->maxsegs)
        return 0;
    size_t max = self->maxsegs? 2 * self->maxsegs: 16;
    s_seg_t *segs = (s_seg_t *) realloc (self->segs, max * sizeof *segs);
    if (!segs)
        return ENOMEM;
    self->segs = segs;
    self->maxsegs = max;
    return 0;
}

static int
s_seg_cmp (const void *a, const void *b)
{
    uint64_t x = ((const s_seg_t *) a)->first, y = ((const s_seg_t *) b)->first;
    return x < y? -1: x > y;
}

//  The segments in DIR, by first LSN; other names are not ours
static int
s_list (kvp_wal_t *self)
{
    DIR *dir = opendir (self->dir);
    if (!dir)
        return s_io_error (self, "list", errno);
    int err = 0;
    struct dirent *entry;
    while (!err && (entry = readdir (dir))) {
        uint64_t first = s_parse_name (entry->d_name);
        if (first && !(err = s_room (self)))
            self->segs [self->nsegs++] = (s_seg_t) { first, first - 1, 0, 0 };
    }
    closedir (dir);
    if (err)
        return s_io_error (self, "list", err);
    if (self->nsegs)
        qsort (self->segs, self->nsegs, sizeof *self->segs, s_seg_cmp);
    return KVP_STORE_OK;
}

//  What a segment's scan means for the log (see the header)
static int
s_verdict (kvp_wal_t *self, const char *name, const kvp_walseg_scan_t *scan,
           bool last)
{
    if (scan->state == KVP_WALSEG_FOREIGN) {
        zsys_error ("wal %s: %s: format version %u, not %u", self->dir, name,
                    scan->version, KVP_WALSEG_VERSION);
        return KVP_STORE_MISMATCH;
    }
    if (scan->state == KVP_WALSEG_CLEAN
    || (last && scan->state != KVP_WALSEG_DAMAGED))
        return KVP_STORE_OK;
    zsys_error ("wal %s: %s: damaged at offset %zu, after LSN %" PRIu64
                ": %s%s; nothing changed on disk", self->dir, name,
                scan->bad, scan->last, scan->why,
                last? "": " (in a segment before the last)");
    return KVP_STORE_CORRUPT;
}

//  Validate segment i (read-only): its bytes, and that it follows i - 1
static int
s_check (kvp_wal_t *self, size_t i)
{
    s_seg_t *seg = &self->segs [i];
    char name [S_NAME_LEN + 1];
    s_name (name, seg->first);
    if (i && seg->first != self->segs [i - 1].last + 1) {
        zsys_error ("wal %s: %s: LSN gap (or overlap): the segment before"
                    " ends at LSN %" PRIu64 "; nothing changed on disk",
                    self->dir, name, self->segs [i - 1].last);
        return KVP_STORE_CORRUPT;
    }
    uint8_t *bytes;
    size_t size;
    int err = s_map (self->dirfd, name, &bytes, &size);
    if (err)
        return s_io_error (self, name, err);
    kvp_walseg_scan_t scan;
    kvp_walseg_scan (bytes, size, seg->first, NULL, NULL, &scan);
    if (bytes)
        munmap (bytes, size);
    seg->size = size;
    seg->end = scan.end;
    seg->last = scan.state == KVP_WALSEG_EMPTY? seg->first - 1: scan.last;
    if (i + 1 == self->nsegs)
        self->tail = scan;
    return s_verdict (self, name, &scan, i + 1 == self->nsegs);
}

//  The last segment was torn while it was created: remove it
static int
s_drop_empty (kvp_wal_t *self)
{
    char name [S_NAME_LEN + 1];
    s_name (name, self->segs [self->nsegs - 1].first);
    zsys_warning ("wal %s: %s: no header and no record (torn at creation),"
                  " removed", self->dir, name);
    if (unlinkat (self->dirfd, name, 0) != 0)
        return s_io_error (self, name, errno);
    self->nsegs--;
    self->dir_dirty = true;
    return KVP_STORE_OK;
}

//  Open the last segment to append after its last record; a torn tail is
//  zeroed first, so that no later crash can bring its bytes back
static int
s_open_tail (kvp_wal_t *self)
{
    const s_seg_t *seg = &self->segs [self->nsegs - 1];
    char name [S_NAME_LEN + 1];
    s_name (name, seg->first);
    if ((self->fd = openat (self->dirfd, name, O_RDWR | O_CLOEXEC)) < 0)
        return s_io_error (self, name, errno);
    self->off = seg->end;
    self->cap = seg->size & ~(uint64_t) 7;
    self->last = seg->last;
    if (self->tail.state != KVP_WALSEG_TORN)
        return KVP_STORE_OK;
    zsys_warning ("wal %s: %s: torn tail after LSN %" PRIu64 " discarded"
                  " (%zu bytes at offset %zu)", self->dir, name, seg->last,
                  self->tail.dirty - self->tail.end, self->tail.end);
    int err = s_zero (self->fd, self->tail.end, self->tail.dirty);
    if (err)
        return s_io_error (self, name, err);
    self->unsynced = true;
    return KVP_STORE_OK;
}

//  After validation: repair, remove temporaries, and make what was found
//  durable (a killed predecessor may have left it in the page cache only),
//  so that records appended from now on may say it was synced
static int
s_recover (kvp_wal_t *self)
{
    int rc = KVP_STORE_OK;
    if (self->nsegs && self->tail.state == KVP_WALSEG_EMPTY)
        rc = s_drop_empty (self);
    if (rc == KVP_STORE_OK && self->nsegs)
        rc = s_open_tail (self);
    if (rc == KVP_STORE_OK && unlinkat (self->dirfd, S_SPARE, 0) == 0)
        self->dir_dirty = true;
    if (rc == KVP_STORE_OK && unlinkat (self->dirfd, S_LARGE, 0) == 0)
        self->dir_dirty = true;
    if (rc != KVP_STORE_OK || self->nosync)
        return rc;
    if ((self->fd >= 0 && fdatasync (self->fd) != 0)
    ||  fsync (self->dirfd) != 0)
        return s_io_error (self, "sync", errno);
    self->synced = self->last;
    self->unsynced = self->dir_dirty = false;
    return KVP_STORE_OK;
}

kvp_wal_t *
kvp_wal_open (const char *dir, const kvp_wal_config_t *config, int *rc)
{
    //  So that RLIMIT_FSIZE fails a write with EFBIG (-> FULL) instead of
    //  killing the process, as the store does
    signal (SIGXFSZ, SIG_IGN);
    int status = KVP_STORE_EINVAL;
    kvp_wal_t *self = dir && *dir? s_new (dir, config, &status): NULL;
    if (status == KVP_STORE_OK)
        status = s_list (self);
    for (size_t i = 0; status == KVP_STORE_OK && i < self->nsegs; i++)
        status = s_check (self, i);
    if (status == KVP_STORE_OK)
        status = s_recover (self);
    if (status == KVP_STORE_OK)
        s_spare_want (&self->spare);
    if (status != KVP_STORE_OK)
        kvp_wal_destroy (&self);
    if (rc)
        *rc = status;
    return self;
}

void
kvp_wal_destroy (kvp_wal_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_wal_t *self = *self_p;
    s_spare_drop (&self->spare);
    if (self->fd >= 0)
        close (self->fd);
    if (self->dirfd >= 0)
        close (self->dirfd);
    free (self->segs);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

//  --- Replay and release -----------------------------------------------

static int
    s_switch (kvp_wal_t *self, size_t span);

//  Delete the `count` oldest segments, then fsync DIR. A failure stops
//  there: what is left is still a contiguous log.
static int
s_unlink_oldest (kvp_wal_t *self, size_t count)
{
    int rc = KVP_STORE_OK;
    size_t gone = 0;
    for (; gone < count; gone++) {
        char name [S_NAME_LEN + 1];
        s_name (name, self->segs [gone].first);
        if (unlinkat (self->dirfd, name, 0) != 0 && errno != ENOENT) {
            rc = s_io_error (self, name, errno);
            break;
        }
    }
    if (!gone)
        return rc;
    self->nsegs -= gone;
    memmove (self->segs, self->segs + gone, self->nsegs * sizeof *self->segs);
    self->dir_dirty = true;         //  stays set on failure: sync retries
    if (!self->nosync && fsync (self->dirfd) != 0)
        return s_io_error (self, "fsync directory", errno);
    self->dir_dirty = false;
    return rc;
}

//  The checkpoint is past every record (a machine crash lost what it had
//  applied, or the records were released): all are covered. Remove every
//  segment so that the next one starts at after + 1 with no gap behind it.
static int
s_drop_all (kvp_wal_t *self, uint64_t after)
{
    if (self->nsegs)
        zsys_warning ("wal %s: the checkpoint (LSN %" PRIu64 ") is ahead of"
                      " the log (last %" PRIu64 "): its %zu segments are"
                      " covered, removed", self->dir, after, self->last,
                      self->nsegs);
    if (self->fd >= 0)
        close (self->fd);
    self->fd = -1;
    self->last = after;
    int rc = s_unlink_oldest (self, self->nsegs);
    if (rc != KVP_STORE_OK)
        self->failed = KVP_STORE_EIO;   //  a new segment would leave a gap
    return rc;
}

typedef struct {
    uint64_t after;
    kvp_wal_record_fn *fn;
    void *arg;
} s_replay_t;

static int
s_replay_fn (void *arg, uint64_t lsn, const void *data, size_t size)
{
    s_replay_t *replay = (s_replay_t *) arg;
    return lsn <= replay->after? 0: replay->fn (replay->arg, lsn, data, size);
}

static int
s_replay_segment (kvp_wal_t *self, const s_seg_t *seg, s_replay_t *replay)
{
    char name [S_NAME_LEN + 1];
    s_name (name, seg->first);
    uint8_t *bytes;
    size_t size;
    int err = s_map (self->dirfd, name, &bytes, &size);
    if (err)
        return s_io_error (self, name, err);
    kvp_walseg_scan_t scan;
    int rc = kvp_walseg_scan (bytes, size, seg->first, s_replay_fn, replay,
                              &scan);
    if (bytes)
        munmap (bytes, size);
    if (rc == 0
    &&  (scan.state != KVP_WALSEG_CLEAN || scan.last != seg->last)) {
        zsys_error ("wal %s: %s: changed since the log was opened (now"
                    " ends at LSN %" PRIu64 ", offset %zu)", self->dir, name,
                    scan.last, scan.end);
        rc = KVP_STORE_CORRUPT;
    }
    return rc;
}

int
kvp_wal_replay (kvp_wal_t *self, uint64_t after, kvp_wal_record_fn *fn,
                void *arg)
{
    if (!self || self->replayed || after == UINT64_MAX)
        return KVP_STORE_EINVAL;
    self->replayed = true;
    if (self->nsegs && self->segs [0].first > after + 1) {
        zsys_error ("wal %s: the log starts at LSN %" PRIu64 " but the"
                    " checkpoint covers only up to %" PRIu64 ": the records"
                    " between are missing", self->dir, self->segs [0].first,
                    after);
        return KVP_STORE_CORRUPT;
    }
    int rc = KVP_STORE_OK;
    if (self->last < after)
        rc = s_drop_all (self, after);
    s_replay_t replay = { after, fn, arg };
    for (size_t i = 0; rc == 0 && fn && i < self->nsegs; i++)
        if (self->segs [i].last > after)
            rc = s_replay_segment (self, &self->segs [i], &replay);
    //  A log without a segment gets its first now rather than at the first
    //  append, on the request path; a failure shows again there
    if (rc == KVP_STORE_OK && self->fd < 0)
        s_switch (self, 0);
    return rc;
}

int
kvp_wal_release (kvp_wal_t *self, uint64_t upto)
{
    if (!self)
        return KVP_STORE_EINVAL;
    size_t count = 0;
    while (count + 1 < self->nsegs && self->segs [count].last <= upto)
        count++;
    return s_unlink_oldest (self, count);
}

//  --- Appending and syncing -------------------------------------------

//  Make what was appended durable, and DIR's names (see kvp_wal_sync)
static int
s_seal (kvp_wal_t *self)
{
    if (self->nosync)
        return KVP_STORE_OK;
    uint64_t start = s_now_us ();
    if (self->fd >= 0 && self->unsynced && fdatasync (self->fd) != 0)
        return s_final (self, "fdatasync", errno);
    if (self->dir_dirty && fsync (self->dirfd) != 0)
        return s_final (self, "fsync directory", errno);
    self->stats.sync_us += s_now_us () - start;
    self->unsynced = self->dir_dirty = false;
    self->synced = self->last;
    return KVP_STORE_OK;
}

//  The file for a new segment that a record of `span` bytes starts: the
//  spare, or one of its own for a record larger than a segment. Its fd,
//  or -errno; *tmp and *size say what it is.
static int
s_make (kvp_wal_t *self, size_t span, const char **tmp, uint64_t *size)
{
    uint64_t need = S_SEG_HDR + (uint64_t) span;
    if (need > self->segment_size) {
        *tmp = S_LARGE;
        *size = (need + S_PAGE - 1) / S_PAGE * S_PAGE;
        return s_prepare (self->dirfd, S_LARGE, *size, self->nosync);
    }
    *tmp = S_SPARE;
    *size = self->segment_size;
    int fd = s_spare_take (&self->spare);
    //  None ready: the thread failed (a full disk may have room by now)
    return fd >= 0? fd: s_prepare (self->dirfd, S_SPARE, *size,
                                   self->nosync);
}

//  Make prepared file `tmp` the current segment, starting at last + 1. Its
//  header is synced before it gets its name, and the old segment (and its
//  name) before that, so that every segment but the last is whole on disk
//  and none is ever nameless or headless after a crash.
static int
s_begin (kvp_wal_t *self, int fd, const char *tmp, uint64_t size)
{
    uint64_t first = self->last + 1;
    uint8_t head [S_SEG_HDR];
    kvp_walseg_segment_header (head, first);
    errno = EIO;                    //  for a short write
    if (pwrite (fd, head, S_SEG_HDR, 0) != S_SEG_HDR
    ||  (!self->nosync && fdatasync (fd) != 0))
        return s_io_error (self, "segment header", errno);
    int rc = s_seal (self);
    if (rc != KVP_STORE_OK)
        return rc;
    char name [S_NAME_LEN + 1];
    s_name (name, first);
    if (renameat (self->dirfd, tmp, self->dirfd, name) != 0)
        return s_io_error (self, name, errno);
    if (self->fd >= 0)
        close (self->fd);
    self->fd = fd;
    self->off = S_SEG_HDR;
    self->cap = size;
    self->dir_dirty = true;
    self->segs [self->nsegs++] = (s_seg_t) { first, first - 1, size,
                                             S_SEG_HDR };
    self->stats.switches++;
    return KVP_STORE_OK;
}

//  Start a new segment for a record of `span` bytes. On failure (FULL, or
//  EIO) nothing was written and the log is as it was.
static int
s_switch (kvp_wal_t *self, size_t span)
{
    const char *tmp = S_SPARE;
    uint64_t size = 0;
    int err = s_room (self);
    int fd = err? -err: s_make (self, span, &tmp, &size);
    int rc = fd < 0? s_space_rc (-fd): s_begin (self, fd, tmp, size);
    if (fd < 0 && (rc != KVP_STORE_FULL || !self->full_logged))
        zsys_warning ("wal %s: cannot make a segment of %" PRIu64 " bytes:"
                      " %s", self->dir, size, strerror (-fd));
    self->full_logged = rc == KVP_STORE_FULL;     //  once per episode
    if (fd >= 0 && rc != KVP_STORE_OK) {
        close (fd);
        unlinkat (self->dirfd, tmp, 0);
    }
    s_spare_want (&self->spare);
    return rc;
}

//  pwritev all of iov (which it changes) at `off`; 0 or errno, and the
//  bytes written in *written
static int
s_pwritev_all (int fd, struct iovec *iov, int count, uint64_t off,
               uint64_t *written)
{
    *written = 0;
    while (count > 0) {
        ssize_t done = pwritev (fd, iov, count, (off_t) (off + *written));
        if (done <= 0)
            return done < 0? errno: EIO;
        *written += (uint64_t) done;    //  at least one byte: bounded
        for (; count > 0 && (size_t) done >= iov->iov_len; iov++, count--)
            done -= (ssize_t) iov->iov_len;
        if (count > 0) {
            iov->iov_base = (uint8_t *) iov->iov_base + done;
            iov->iov_len -= (size_t) done;
        }
    }
    return 0;
}

//  A write found no room (a file size limit; a file system that
//  allocates late): zero and sync what it wrote, so that no crash can
//  bring back a record the caller was told is not there. Then it is FULL,
//  and the log as it was.
static int
s_unwrite (kvp_wal_t *self, uint64_t written, int err)
{
    int undo = s_zero (self->fd, self->off, self->off + written);
    if (undo || (written && !self->nosync && fdatasync (self->fd) != 0))
        return s_final (self, "undo a short write", undo? undo: errno);
    if (!self->full_logged)
        zsys_warning ("wal %s: write: %s", self->dir, strerror (err));
    self->full_logged = true;
    return KVP_STORE_FULL;
}

//  Frame and write record last + 1 at the current offset
static int
s_write (kvp_wal_t *self, const struct iovec *iov, int count, size_t size,
         size_t span)
{
    uint8_t head [S_REC_HDR];
    kvp_walseg_record_header (head, self->last + 1, self->synced, iov,
                              count, size);
    struct iovec out [KVP_WAL_IOV_MAX + 2];
    out [0] = (struct iovec) { head, S_REC_HDR };
    if (count)
        memcpy (out + 1, iov, (size_t) count * sizeof *iov);
    out [count + 1] = (struct iovec) { s_zeros, span - S_REC_HDR - size };
    uint64_t written;
    int err = s_pwritev_all (self->fd, out, count + 2, self->off, &written);
    if (err && s_space_rc (err) == KVP_STORE_FULL)
        return s_unwrite (self, written, err);
    if (err)
        return s_final (self, "write", err);
    self->off += span;
    self->last++;
    self->segs [self->nsegs - 1].last = self->last;
    self->segs [self->nsegs - 1].end = (size_t) self->off;
    self->unsynced = true;
    self->stats.appends++;
    self->stats.appended += span;
    return KVP_STORE_OK;
}

//  Payload bytes in the pieces, or SIZE_MAX if one is bad or there are
//  more than a record may hold
static size_t
s_iov_size (const struct iovec *iov, int count)
{
    size_t size = 0;
    for (int i = 0; i < count; i++) {
        if ((!iov [i].iov_base && iov [i].iov_len)
        ||  iov [i].iov_len > KVP_WAL_RECORD_MAX - size)
            return SIZE_MAX;
        size += iov [i].iov_len;
    }
    return size;
}

int
kvp_wal_appendv (kvp_wal_t *self, const struct iovec *iov, int count,
                 uint64_t *lsn)
{
    if (!self || count < 0 || count > KVP_WAL_IOV_MAX || (count && !iov))
        return KVP_STORE_EINVAL;
    if (self->failed)
        return self->failed;
    size_t size = s_iov_size (iov, count);
    if (!self->replayed || size == SIZE_MAX || self->last == UINT64_MAX)
        return KVP_STORE_EINVAL;
    size_t span = kvp_walseg_record_span (size);
    int rc = KVP_STORE_OK;
    if (self->fd < 0 || span > self->cap - self->off)
        rc = s_switch (self, span);
    if (rc == KVP_STORE_OK)
        rc = s_write (self, iov, count, size, span);
    if (rc == KVP_STORE_OK && lsn)
        *lsn = self->last;
    return rc;
}

int
kvp_wal_append (kvp_wal_t *self, const void *data, size_t size,
                uint64_t *lsn)
{
    struct iovec iov = { (void *) data, size };
    return kvp_wal_appendv (self, &iov, 1, lsn);
}

int
kvp_wal_sync (kvp_wal_t *self)
{
    if (!self)
        return KVP_STORE_EINVAL;
    if (self->failed)
        return self->failed;
    int rc = s_seal (self);
    if (rc == KVP_STORE_OK)
        self->stats.syncs++;
    return rc;
}

uint64_t
kvp_wal_last (kvp_wal_t *self)
{
    return self? self->last: 0;
}

uint64_t
kvp_wal_segment_size (kvp_wal_t *self)
{
    return self? self->segment_size: 0;
}

void
kvp_wal_stats (kvp_wal_t *self, kvp_wal_stats_t *stats)
{
    memset (stats, 0, sizeof *stats);
    if (!self)
        return;
    *stats = self->stats;
    stats->bytes = 0;
    for (size_t i = 0; i < self->nsegs; i++)
        stats->bytes += self->segs [i].size;
    stats->segments = self->nsegs;
    stats->first = self->nsegs? self->segs [0].first: 0;
    stats->last = self->last;
    stats->spare_bytes = s_spare_ready (&self->spare)? self->spare.size: 0;
}
