/*  test_wal.c - the write-ahead log (store/kvp_wal.h); the segment format
    alone (CRC, framing, scanner) is test_walseg.c.

    Each test works in its own folder under a per-case temporary root that
    the parent process removes after the case, even when a test fails.
    Damage is done to the files directly, the way a crash or a bad disk
    would leave them, and recovery is checked against the header's rules.
*/
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include "kvp_wal.h"
#include "kvp_walseg.h"
#include "kvp_store.h"
#include "kvp_testkit.h"

#define SEG         (64u << 10)     //  the smallest segment: many of them
#define SEGS_MAX    256

static const char *
s_dir (const char *name)
{
    static char dir [160];
    snprintf (dir, sizeof dir, "%s/%s/wal", tk_root (), name);
    return dir;
}

static kvp_wal_t *
s_open (const char *dir, size_t segment_size, bool nosync)
{
    kvp_wal_config_t config = { segment_size, nosync };
    int rc = -1;
    kvp_wal_t *wal = kvp_wal_open (dir, &config, &rc);
    ck_assert_msg (wal, "open %s: %s", dir, kvp_store_strerror (rc));
    ck_assert_int_eq (rc, KVP_STORE_OK);
    return wal;
}

static int
s_open_fails (const char *dir)
{
    kvp_wal_config_t config = { SEG, false };
    int rc = KVP_STORE_OK;
    kvp_wal_t *wal = kvp_wal_open (dir, &config, &rc);
    ck_assert_ptr_null (wal);
    return rc;
}

//  --- Records: payload of LSN n in generation g is known ---------------

static size_t
s_size (uint64_t lsn, size_t max)
{
    return (size_t) ((lsn * 2654435761u) >> 7) % (max + 1);
}

static void
s_fill (uint8_t *data, size_t size, uint64_t lsn, int gen)
{
    for (size_t i = 0; i < size; i++)
        data [i] = (uint8_t) (lsn * 31 + i * 7 + (size_t) gen * 101);
}

//  Append records last + 1 .. upto (sizes 0..max), syncing every `every`
static void
s_append (kvp_wal_t *wal, uint64_t upto, size_t max, int every, int gen)
{
    static uint8_t data [16 << 10];
    ck_assert_uint_le (max, sizeof data);
    for (uint64_t lsn = kvp_wal_last (wal) + 1; lsn <= upto; lsn++) {
        size_t size = s_size (lsn, max);
        s_fill (data, size, lsn, gen);
        uint64_t got = 0;
        ck_assert_int_eq (kvp_wal_append (wal, data, size, &got),
                          KVP_STORE_OK);
        ck_assert_uint_eq (got, lsn);
        if (every && lsn % (uint64_t) every == 0)
            ck_assert_int_eq (kvp_wal_sync (wal), KVP_STORE_OK);
    }
}

typedef struct {
    uint64_t next;                  //  LSN expected next
    size_t count;                   //  records seen
    size_t max;                     //  sizes were 0..max
    uint64_t regen;                 //  LSNs from here on are generation 1
    uint64_t stop;                  //  return 7 at this LSN (0: never)
} s_expect_t;

static int
s_expect_fn (void *arg, uint64_t lsn, const void *data, size_t size)
{
    s_expect_t *expect = (s_expect_t *) arg;
    static uint8_t want [16 << 10];
    ck_assert_uint_eq (lsn, expect->next);
    ck_assert_uint_eq (size, s_size (lsn, expect->max));
    s_fill (want, size, lsn, expect->regen && lsn >= expect->regen);
    ck_assert (memcmp (data, want, size) == 0);
    expect->next++;
    expect->count++;
    return lsn == expect->stop? 7: 0;
}

//  Replay after `after`; the records must be after + 1 .. last
static void
s_replay (kvp_wal_t *wal, uint64_t after, size_t max, uint64_t regen,
          uint64_t last)
{
    s_expect_t expect = { after + 1, 0, max, regen, 0 };
    ck_assert_int_eq (kvp_wal_replay (wal, after, s_expect_fn, &expect),
                      KVP_STORE_OK);
    ck_assert_uint_eq (expect.next, (last > after? last: after) + 1);
    ck_assert_uint_eq (kvp_wal_last (wal), last > after? last: after);
}

//  --- Files ----------------------------------------------------------------

static int
s_name_cmp (const void *a, const void *b)
{
    return strcmp ((const char *) a, (const char *) b);
}

//  Segment file names, sorted (which is by LSN); returns how many
static int
s_segments (const char *dir, char names [SEGS_MAX][32])
{
    DIR *handle = opendir (dir);
    ck_assert_ptr_nonnull (handle);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (handle)) && count < SEGS_MAX) {
        size_t len = strlen (entry->d_name);
        if (len == 20 && strcmp (entry->d_name + 16, ".wal") == 0)
            memcpy (names [count++], entry->d_name, len + 1);
    }
    closedir (handle);
    qsort (names, (size_t) count, 32, s_name_cmp);
    return count;
}

//  Path of the i-th segment (negative: from the end)
static const char *
s_segment (const char *dir, int i)
{
    static char names [SEGS_MAX][32];
    static char path [256];
    int count = s_segments (dir, names);
    if (i < 0)
        i += count;
    ck_assert (i >= 0 && i < count);
    ck_assert_uint_lt ((size_t) snprintf (path, sizeof path, "%s/%s", dir,
                                          names [i]), sizeof path);
    return path;
}

static uint8_t *
s_read (const char *path, size_t *size)
{
    struct stat st;
    ck_assert_int_eq (stat (path, &st), 0);
    *size = (size_t) st.st_size;
    uint8_t *bytes = malloc (*size + 1);
    ck_assert_ptr_nonnull (bytes);
    int fd = open (path, O_RDONLY);
    ck_assert_int_ge (fd, 0);
    ck_assert_int_eq (pread (fd, bytes, *size, 0), (ssize_t) *size);
    close (fd);
    return bytes;
}

static void
s_poke (const char *path, size_t off, const void *data, size_t size)
{
    int fd = open (path, O_WRONLY);
    ck_assert_int_ge (fd, 0);
    ck_assert_int_eq (pwrite (fd, data, size, (off_t) off), (ssize_t) size);
    close (fd);
}

static uint8_t
s_peek (const char *path, size_t off)
{
    size_t size;
    uint8_t *bytes = s_read (path, &size);
    ck_assert_uint_lt (off, size);
    uint8_t byte = bytes [off];
    free (bytes);
    return byte;
}

//  A digest of every file in dir (names, sizes, bytes), to prove that
//  a refused open changed nothing
static uint32_t
s_digest (const char *dir)
{
    static char names [SEGS_MAX][32];
    int count = s_segments (dir, names);
    uint32_t crc = kvp_walseg_crc32c (0, &count, sizeof count);
    for (int i = 0; i < count; i++) {
        char path [256];
        size_t size;
        ck_assert_uint_lt ((size_t) snprintf (path, sizeof path, "%s/%s",
                                              dir, names [i]), sizeof path);
        uint8_t *bytes = s_read (path, &size);
        crc = kvp_walseg_crc32c (crc, names [i], strlen (names [i]));
        crc = kvp_walseg_crc32c (crc, &size, sizeof size);
        crc = kvp_walseg_crc32c (crc, bytes, size);
        free (bytes);
    }
    return crc;
}

//  Where a segment's records are, from its bytes
typedef struct {
    size_t offs [4096];             //  offset of each record
    size_t count;
    const uint8_t *base;
} s_offsets_t;

static int
s_offsets_fn (void *arg, uint64_t lsn, const void *data, size_t size)
{
    s_offsets_t *offsets = (s_offsets_t *) arg;
    if (offsets->count < 4096)
        offsets->offs [offsets->count++] = (size_t) ((const uint8_t *) data
            - offsets->base) - KVP_WALSEG_RECORD_HEADER;
    return 0;
}

static kvp_walseg_scan_t
s_scan_file (const char *path, s_offsets_t *offsets)
{
    size_t size;
    uint8_t *bytes = s_read (path, &size);
    kvp_walseg_scan_t scan;
    if (offsets) {
        offsets->count = 0;
        offsets->base = bytes;
    }
    kvp_walseg_scan (bytes, size, 0, offsets? s_offsets_fn: NULL, offsets,
                  &scan);
    free (bytes);
    return scan;
}

//  Are bytes [from, to) of the file all zero?
static bool
s_zeros (const char *path, size_t from, size_t to)
{
    size_t size;
    uint8_t *bytes = s_read (path, &size);
    bool zero = to <= size;
    for (size_t i = from; zero && i < to; i++)
        zero = bytes [i] == 0;
    free (bytes);
    return zero;
}

//  A log of records 1..count (sizes 0..max) in `dir`, synced, closed
static void
s_make_log (const char *dir, uint64_t count, size_t max, int every)
{
    kvp_wal_t *wal = s_open (dir, SEG, false);
    s_replay (wal, 0, max, 0, 0);
    s_append (wal, count, max, every, 0);
    ck_assert_int_eq (kvp_wal_sync (wal), KVP_STORE_OK);
    kvp_wal_destroy (&wal);
}

//  --- Round trips ------------------------------------------------------------

START_TEST (test_roundtrip)
{
    const char *dir = s_dir ("roundtrip");
    kvp_wal_t *wal = s_open (dir, SEG, false);
    ck_assert_uint_eq (kvp_wal_last (wal), 0);
    s_replay (wal, 0, 2000, 0, 0);
    s_append (wal, 3000, 2000, 10, 0);
    ck_assert_int_eq (kvp_wal_sync (wal), KVP_STORE_OK);
    kvp_wal_stats_t stats;
    kvp_wal_stats (wal, &stats);
    ck_assert_uint_eq (stats.appends, 3000);
    ck_assert_uint_eq (stats.syncs, 301);
    ck_assert_uint_gt (stats.segments, 10);
    ck_assert_uint_eq (stats.switches, stats.segments);
    ck_assert_uint_eq (stats.bytes, stats.segments * SEG);
    ck_assert_uint_eq (stats.first, 1);
    ck_assert_uint_eq (stats.last, 3000);
    kvp_wal_destroy (&wal);
    ck_assert_ptr_null (wal);
    kvp_wal_destroy (&wal);             //  safe twice

    char names [SEGS_MAX][32];
    ck_assert_int_eq (s_segments (dir, names), (int) stats.segments);
    ck_assert_str_eq (names [0], "0000000000000001.wal");
    wal = s_open (dir, SEG, false);
    ck_assert_uint_eq (kvp_wal_last (wal), 3000);
    s_replay (wal, 0, 2000, 0, 3000);
    s_append (wal, 3100, 2000, 0, 0);   //  continues after 3000
    kvp_wal_destroy (&wal);             //  not synced: still in the files
    wal = s_open (dir, SEG, false);
    s_replay (wal, 0, 2000, 0, 3100);
    kvp_wal_destroy (&wal);
}
END_TEST

START_TEST (test_appendv)
{
    const char *dir = s_dir ("appendv");
    kvp_wal_t *wal = s_open (dir, SEG, false);
    s_replay (wal, 0, 100, 0, 0);
    uint8_t data [100];
    s_fill (data, s_size (1, 100), 1, 0);
    struct iovec iov [3] = { { data, 3 }, { data + 3, 0 },
                             { data + 3, s_size (1, 100) - 3 } };
    uint64_t lsn;
    ck_assert_int_eq (kvp_wal_appendv (wal, iov, 3, &lsn), KVP_STORE_OK);
    ck_assert_uint_eq (lsn, 1);
    ck_assert_int_eq (kvp_wal_appendv (wal, iov, KVP_WAL_IOV_MAX + 1, &lsn),
                      KVP_STORE_EINVAL);
    struct iovec bad = { NULL, 1 };
    ck_assert_int_eq (kvp_wal_appendv (wal, &bad, 1, &lsn), KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_wal_append (wal, data, KVP_WAL_RECORD_MAX + 1ul,
                                      &lsn), KVP_STORE_EINVAL);
    ck_assert_uint_eq (kvp_wal_last (wal), 1);
    kvp_wal_destroy (&wal);
    wal = s_open (dir, SEG, false);
    s_replay (wal, 0, 100, 0, 1);
    kvp_wal_destroy (&wal);
}
END_TEST

START_TEST (test_misuse)
{
    int rc = KVP_STORE_OK;
    ck_assert_ptr_null (kvp_wal_open (NULL, NULL, &rc));
    ck_assert_int_eq (rc, KVP_STORE_EINVAL);
    ck_assert_ptr_null (kvp_wal_open ("", NULL, NULL));
    kvp_wal_destroy (NULL);
    ck_assert_int_eq (kvp_wal_append (NULL, "x", 1, NULL), KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_wal_sync (NULL), KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_wal_release (NULL, 1), KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_wal_replay (NULL, 0, NULL, NULL), KVP_STORE_EINVAL);
    ck_assert_uint_eq (kvp_wal_last (NULL), 0);

    //  The default segment size; append before replay; replay once
    kvp_wal_t *wal = s_open (s_dir ("misuse"), 0, false);
    ck_assert_int_eq (kvp_wal_append (wal, "x", 1, NULL), KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_wal_replay (wal, UINT64_MAX, NULL, NULL),
                      KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_wal_replay (wal, 0, NULL, NULL), KVP_STORE_OK);
    ck_assert_int_eq (kvp_wal_replay (wal, 0, NULL, NULL), KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_wal_append (wal, "x", 1, NULL), KVP_STORE_OK);
    ck_assert_int_eq (kvp_wal_sync (wal), KVP_STORE_OK);
    kvp_wal_stats_t stats;
    kvp_wal_stats (wal, &stats);
    ck_assert_uint_eq (stats.bytes, KVP_WAL_SEGMENT_DEFAULT);
    kvp_wal_destroy (&wal);
    //  A file where the directory should be
    char path [200];
    snprintf (path, sizeof path, "%s/file", tk_root ());
    int fd = open (path, O_CREAT | O_WRONLY, 0644);
    ck_assert_int_ge (fd, 0);
    close (fd);
    ck_assert_ptr_null (kvp_wal_open (path, NULL, &rc));
    ck_assert_int_eq (rc, KVP_STORE_EIO);
}
END_TEST

START_TEST (test_replay_after)
{
    const char *dir = s_dir ("after");
    s_make_log (dir, 600, 1500, 50);
    //  In the middle
    kvp_wal_t *wal = s_open (dir, SEG, false);
    s_replay (wal, 250, 1500, 0, 600);
    kvp_wal_destroy (&wal);
    //  At the end, then a stop from the callback
    wal = s_open (dir, SEG, false);
    s_replay (wal, 600, 1500, 0, 600);
    kvp_wal_destroy (&wal);
    wal = s_open (dir, SEG, false);
    s_expect_t expect = { 11, 0, 1500, 0, 20 };
    ck_assert_int_eq (kvp_wal_replay (wal, 10, s_expect_fn, &expect), 7);
    ck_assert_uint_eq (expect.count, 10);
    kvp_wal_destroy (&wal);
    //  Past the end: nothing replayed, the covered segments go, and the
    //  log goes on from after + 1 in a segment named so, made at once
    wal = s_open (dir, SEG, false);
    s_replay (wal, 800, 1500, 0, 600);
    kvp_wal_stats_t stats;
    kvp_wal_stats (wal, &stats);
    ck_assert_uint_eq (stats.segments, 1);
    ck_assert_uint_eq (stats.first, 801);
    s_append (wal, 820, 1500, 0, 0);
    ck_assert_int_eq (kvp_wal_sync (wal), KVP_STORE_OK);
    kvp_wal_destroy (&wal);
    char names [SEGS_MAX][32];
    ck_assert_int_eq (s_segments (dir, names), 1);
    ck_assert_str_eq (names [0], "0000000000000321.wal");
    //  Before the first record: the checkpoint lacks 790..800
    wal = s_open (dir, SEG, false);
    ck_assert_int_eq (kvp_wal_replay (wal, 789, s_expect_fn, &expect),
                      KVP_STORE_CORRUPT);
    kvp_wal_destroy (&wal);
    wal = s_open (dir, SEG, false);
    s_replay (wal, 800, 1500, 0, 820);
    kvp_wal_destroy (&wal);
}
END_TEST

START_TEST (test_release)
{
    const char *dir = s_dir ("release");
    s_make_log (dir, 800, 1500, 20);
    kvp_wal_t *wal = s_open (dir, SEG, false);
    s_replay (wal, 0, 1500, 0, 800);
    char names [SEGS_MAX][32];
    int before = s_segments (dir, names);
    ck_assert_int_gt (before, 5);
    //  Up to one LSN short of the end of segment 3 (0-based): 0..2 go
    uint64_t first3 = strtoull (names [3], NULL, 16);
    uint64_t first4 = strtoull (names [4], NULL, 16);
    ck_assert_int_eq (kvp_wal_release (wal, first4 - 2), KVP_STORE_OK);
    ck_assert_int_eq (s_segments (dir, names), before - 3);
    ck_assert_uint_eq (strtoull (names [0], NULL, 16), first3);
    ck_assert_int_eq (kvp_wal_release (wal, 0), KVP_STORE_OK);
    ck_assert_int_eq (s_segments (dir, names), before - 3);
    //  Everything: the current segment stays
    ck_assert_int_eq (kvp_wal_release (wal, UINT64_MAX), KVP_STORE_OK);
    ck_assert_int_eq (s_segments (dir, names), 1);
    kvp_wal_stats_t stats;
    kvp_wal_stats (wal, &stats);
    ck_assert_uint_eq (stats.segments, 1);
    uint64_t first = stats.first;
    ck_assert_uint_gt (first, first4);
    s_append (wal, 810, 1500, 0, 0);
    ck_assert_int_eq (kvp_wal_sync (wal), KVP_STORE_OK);
    kvp_wal_destroy (&wal);
    //  A checkpoint at 800 replays 801..810; one older than the log's
    //  start is refused
    wal = s_open (dir, SEG, false);
    s_replay (wal, 800, 1500, 0, 810);
    kvp_wal_destroy (&wal);
    wal = s_open (dir, SEG, false);
    ck_assert_int_eq (kvp_wal_replay (wal, first - 2, NULL, NULL),
                      KVP_STORE_CORRUPT);
    kvp_wal_destroy (&wal);
}
END_TEST

//  --- Crashes: torn tails --------------------------------------------------

//  Reopen after damage to the tail: records up to `last` survive, the
//  log goes on with last + 1, and a second open agrees
static void
s_reopen_torn (const char *dir, uint64_t last, size_t max)
{
    kvp_wal_t *wal = s_open (dir, SEG, false);
    ck_assert_uint_eq (kvp_wal_last (wal), last);
    s_replay (wal, 0, max, 0, last);
    s_append (wal, last + 3, max, 0, 1);    //  new bytes over the torn ones
    ck_assert_int_eq (kvp_wal_sync (wal), KVP_STORE_OK);
    kvp_wal_destroy (&wal);
    wal = s_open (dir, SEG, false);
    s_replay (wal, 0, max, last + 1, last + 3);
    kvp_wal_destroy (&wal);
}

START_TEST (test_torn_truncate)
{
    const char *dir = s_dir ("truncate");
    s_make_log (dir, 300, 1500, 0);
    static s_offsets_t offsets;
    const char *path = s_segment (dir, -1);
    kvp_walseg_scan_t scan = s_scan_file (path, &offsets);
    ck_assert_uint_ge (offsets.count, 2);
    //  Cut the last record in two
    size_t at = offsets.offs [offsets.count - 1];
    ck_assert_int_eq (truncate (path, (off_t) (at + 30)), 0);
    s_reopen_torn (dir, scan.last - 1, 1500);
}
END_TEST

START_TEST (test_torn_garbage)
{
    const char *dir = s_dir ("garbage");
    s_make_log (dir, 300, 1500, 10);
    static s_offsets_t offsets;
    char path [256];
    snprintf (path, sizeof path, "%s", s_segment (dir, -1));
    kvp_walseg_scan_t scan = s_scan_file (path, &offsets);
    //  The last record's bytes and a few after it overwritten
    size_t at = offsets.offs [offsets.count - 1];
    static uint8_t junk [4096];
    memset (junk, 0xa5, sizeof junk);
    ck_assert_uint_le (scan.end - at - 8 + 100, sizeof junk);
    s_poke (path, at + 8, junk, scan.end - at - 8 + 100);
    kvp_wal_t *wal = s_open (dir, SEG, false);
    ck_assert_uint_eq (kvp_wal_last (wal), scan.last - 1);
    //  The garbage is zeroed before anything is appended
    ck_assert (s_zeros (path, at, scan.end + 100));
    kvp_wal_destroy (&wal);
    s_reopen_torn (dir, scan.last - 1, 1500);
}
END_TEST

START_TEST (test_torn_header)
{
    const char *dir = s_dir ("header");
    s_make_log (dir, 300, 1500, 10);
    char path [256];
    snprintf (path, sizeof path, "%s", s_segment (dir, -1));
    kvp_walseg_scan_t scan = s_scan_file (path, NULL);
    //  Half a record header after the last record: nothing lost
    uint8_t half [12] = { 0, 0, 0, 40, 1, 2, 3, 4, 0, 0, 0, 0 };
    s_poke (path, scan.end, half, sizeof half);
    kvp_wal_t *wal = s_open (dir, SEG, false);
    ck_assert_uint_eq (kvp_wal_last (wal), 300);
    ck_assert (s_zeros (path, scan.end, scan.end + sizeof half));
    kvp_wal_destroy (&wal);
    s_reopen_torn (dir, 300, 1500);
}
END_TEST

//  Records written after the last sync reach the disk in any order: a
//  lost one with an unsynced one after it is still a torn tail
START_TEST (test_torn_unsynced)
{
    const char *dir = s_dir ("unsynced");
    kvp_wal_t *wal = s_open (dir, 1 << 20, false);
    s_replay (wal, 0, 500, 0, 0);
    s_append (wal, 20, 500, 1, 0);      //  each synced
    s_append (wal, 25, 500, 0, 0);      //  21..25 not synced
    kvp_wal_destroy (&wal);
    static s_offsets_t offsets;
    char path [256];
    snprintf (path, sizeof path, "%s", s_segment (dir, -1));
    s_scan_file (path, &offsets);
    ck_assert_uint_eq (offsets.count, 25);
    uint8_t zero [KVP_WALSEG_RECORD_HEADER] = { 0 };
    s_poke (path, offsets.offs [21], zero, sizeof zero);    //  LSN 22
    s_reopen_torn (dir, 21, 500);
}
END_TEST

//  --- Damage: refused, nothing changed -----------------------------------

static void
s_refused (const char *dir, int want)
{
    uint32_t digest = s_digest (dir);
    ck_assert_int_eq (s_open_fails (dir), want);
    ck_assert_uint_eq (s_digest (dir), digest);
}

START_TEST (test_corrupt_middle)
{
    const char *dir = s_dir ("middle");
    s_make_log (dir, 400, 1500, 1);     //  a sync after each record
    static s_offsets_t offsets;
    char path [256];
    snprintf (path, sizeof path, "%s", s_segment (dir, -1));
    s_scan_file (path, &offsets);
    ck_assert_uint_ge (offsets.count, 3);
    //  A payload byte of a record in the last segment, valid ones after
    size_t at = offsets.offs [offsets.count / 2] + KVP_WALSEG_RECORD_HEADER;
    uint8_t byte = s_peek (path, at) ^ 0x10;
    s_poke (path, at, &byte, 1);
    s_refused (dir, KVP_STORE_CORRUPT);
    byte ^= 0x10;
    s_poke (path, at, &byte, 1);
    //  The last record of the first segment
    snprintf (path, sizeof path, "%s", s_segment (dir, 0));
    s_scan_file (path, &offsets);
    at = offsets.offs [offsets.count - 1] + 2;
    byte = s_peek (path, at) ^ 0x01;
    s_poke (path, at, &byte, 1);
    s_refused (dir, KVP_STORE_CORRUPT);
    byte ^= 0x01;
    s_poke (path, at, &byte, 1);
    kvp_wal_t *wal = s_open (dir, SEG, false);
    s_replay (wal, 0, 1500, 0, 400);
    kvp_wal_destroy (&wal);
}
END_TEST

START_TEST (test_corrupt_segments)
{
    const char *dir = s_dir ("segments");
    s_make_log (dir, 400, 1500, 1);
    //  A middle segment missing
    char path [256], moved [300];
    snprintf (path, sizeof path, "%s", s_segment (dir, 2));
    snprintf (moved, sizeof moved, "%s/../aside", dir);
    ck_assert_int_eq (rename (path, moved), 0);
    s_refused (dir, KVP_STORE_CORRUPT);
    ck_assert_int_eq (rename (moved, path), 0);
    //  The header of a segment but the last
    uint8_t byte = s_peek (path, 9) ^ 0x80;
    s_poke (path, 9, &byte, 1);
    s_refused (dir, KVP_STORE_CORRUPT);
    //  Another format version, with a valid CRC
    uint8_t head [KVP_WALSEG_SEGMENT_HEADER];
    kvp_walseg_segment_header (head, strtoull (strrchr (path, '/') + 1,
                                            NULL, 16));
    head [7] = 2;
    uint32_t crc = kvp_walseg_crc32c (0, head, 28);
    for (int i = 0; i < 4; i++)
        head [28 + i] = (uint8_t) (crc >> (24 - 8 * i));
    s_poke (path, 0, head, sizeof head);
    s_refused (dir, KVP_STORE_MISMATCH);
}
END_TEST

//  A last segment with neither header nor record is a crash while it was
//  made: removed. Temporaries go; other files stay.
START_TEST (test_empty_last)
{
    const char *dir = s_dir ("empty");
    s_make_log (dir, 200, 1500, 10);
    char path [300];
    snprintf (path, sizeof path, "%s/%016x.wal", dir, 201);
    static uint8_t zeros [SEG];
    int fd = open (path, O_CREAT | O_WRONLY, 0644);
    ck_assert_int_ge (fd, 0);
    ck_assert_int_eq (write (fd, zeros, sizeof zeros), sizeof zeros);
    close (fd);
    char spare [300], other [300];
    snprintf (spare, sizeof spare, "%s/spare.tmp", dir);
    snprintf (other, sizeof other, "%s/notes.txt", dir);
    for (int i = 0; i < 2; i++) {
        fd = open (i? other: spare, O_CREAT | O_WRONLY, 0644);
        ck_assert_int_eq (write (fd, "junk", 4), 4);
        close (fd);
    }
    kvp_wal_t *wal = s_open (dir, SEG, false);
    ck_assert_int_ne (access (path, F_OK), 0);
    ck_assert_int_eq (access (other, F_OK), 0);
    s_replay (wal, 0, 1500, 0, 200);
    kvp_wal_destroy (&wal);
    ck_assert_int_ne (access (spare, F_OK), 0);
    s_reopen_torn (dir, 200, 1500);
}
END_TEST

//  --- Sizes and space ----------------------------------------------------

typedef struct {
    size_t sizes [4];
    uint32_t crcs [4];
    size_t count;
} s_sums_t;

static int
s_sums_fn (void *arg, uint64_t lsn, const void *data, size_t size)
{
    s_sums_t *sums = (s_sums_t *) arg;
    ck_assert_uint_lt (sums->count, 4);
    sums->sizes [sums->count] = size;
    sums->crcs [sums->count++] = kvp_walseg_crc32c (0, data, size);
    return 0;
}

//  Records larger than a segment get one of their own, sized to fit
START_TEST (test_large)
{
    const char *dir = s_dir ("large");
    kvp_wal_t *wal = s_open (dir, SEG, false);
    s_replay (wal, 0, 0, 0, 0);
    size_t sizes [4] = { 100, 200 << 10, 10, 64 << 20 };
    uint8_t *data = malloc (sizes [3]);
    ck_assert_ptr_nonnull (data);
    s_sums_t want = { { 0 }, { 0 }, 4 };
    for (int i = 0; i < 4; i++) {
        s_fill (data, sizes [i], (uint64_t) i, 0);
        want.sizes [i] = sizes [i];
        want.crcs [i] = kvp_walseg_crc32c (0, data, sizes [i]);
        ck_assert_int_eq (kvp_wal_append (wal, data, sizes [i], NULL),
                          KVP_STORE_OK);
    }
    free (data);
    ck_assert_int_eq (kvp_wal_sync (wal), KVP_STORE_OK);
    kvp_wal_destroy (&wal);
    //  100 bytes; 200 KiB in a segment rounded up to whole pages, where
    //  the 10 bytes fit after it; 64 MiB
    char names [SEGS_MAX][32];
    ck_assert_int_eq (s_segments (dir, names), 3);
    struct stat st;
    ck_assert_int_eq (stat (s_segment (dir, 1), &st), 0);
    ck_assert_uint_ge ((size_t) st.st_size, sizes [1] + 100);
    ck_assert_uint_le ((size_t) st.st_size, sizes [1] + 4096 + 64);
    ck_assert_int_eq (stat (s_segment (dir, 2), &st), 0);
    ck_assert_uint_ge ((size_t) st.st_size, sizes [3]);
    ck_assert_uint_le ((size_t) st.st_size, sizes [3] + 4096 + 64);
    wal = s_open (dir, SEG, false);
    s_sums_t got = { { 0 }, { 0 }, 0 };
    ck_assert_int_eq (kvp_wal_replay (wal, 0, s_sums_fn, &got), KVP_STORE_OK);
    ck_assert (memcmp (&got, &want, sizeof got) == 0);
    kvp_wal_destroy (&wal);
}
END_TEST

//  Wait (at most 5 s) until the spare is ready
static void
s_wait_spare (kvp_wal_t *wal)
{
    kvp_wal_stats_t stats;
    for (int i = 0; i < 500; i++) {
        kvp_wal_stats (wal, &stats);
        if (stats.spare_bytes)
            return;
        usleep (10000);
    }
    ck_abort_msg ("no spare after 5 s");
}

//  Append synced 4 KiB records until the log in `dir` says FULL (bounded);
//  check that FULL changed nothing. Returns the last LSN written.
static uint64_t
s_fill_up (kvp_wal_t *wal, const char *dir)
{
    static uint8_t data [4096];
    memset (data, 0x5a, sizeof data);   //  so that undone bytes show
    int rc = KVP_STORE_OK;
    for (int i = 0; i < 5000 && rc == KVP_STORE_OK; i++)
        if ((rc = kvp_wal_append (wal, data, sizeof data, NULL)) == 0)
            rc = kvp_wal_sync (wal);
    ck_assert_int_eq (rc, KVP_STORE_FULL);
    uint64_t last = kvp_wal_last (wal);
    kvp_wal_stats_t before, after;
    kvp_wal_stats (wal, &before);
    ck_assert_int_eq (kvp_wal_append (wal, data, sizeof data, NULL),
                      KVP_STORE_FULL);
    ck_assert_int_eq (kvp_wal_sync (wal), KVP_STORE_OK);
    kvp_wal_stats (wal, &after);
    ck_assert_uint_eq (kvp_wal_last (wal), last);
    ck_assert_uint_eq (after.appends, before.appends);
    ck_assert_uint_eq (after.segments, before.segments);
    ck_assert_uint_gt (last, 5);
    //  On disk too, the log ends where it did: nothing after its last record
    kvp_walseg_scan_t scan = s_scan_file (s_segment (dir, -1), NULL);
    ck_assert_int_eq (scan.state, KVP_WALSEG_CLEAN);
    ck_assert_uint_eq (scan.last, last);
    return last;
}

//  Space is back: the log goes on, and all of it replays
static void
s_after_full (kvp_wal_t **wal_p, const char *dir, uint64_t last)
{
    uint64_t lsn = 0;
    ck_assert_int_eq (kvp_wal_append (*wal_p, "back", 4, &lsn), KVP_STORE_OK);
    ck_assert_uint_eq (lsn, last + 1);
    ck_assert_int_eq (kvp_wal_sync (*wal_p), KVP_STORE_OK);
    kvp_wal_destroy (wal_p);
    kvp_wal_t *wal = s_open (dir, SEG, false);
    ck_assert_int_eq (kvp_wal_replay (wal, 0, NULL, NULL), KVP_STORE_OK);
    ck_assert_uint_eq (kvp_wal_last (wal), last + 1);
    kvp_wal_destroy (&wal);
}

//  Under a file size limit of `limit` bytes, fill the log until FULL, then
//  lift the limit. The limit dies with Check's test process; without fork
//  (CK_FORK=no, as under valgrind) the test puts the old limit back.
static void
s_fsize (const char *dir, rlim_t limit)
{
    kvp_wal_t *wal = s_open (dir, SEG, false);
    ck_assert_int_eq (kvp_wal_replay (wal, 0, NULL, NULL), KVP_STORE_OK);
    //  A first segment, and its spare made, before the limit
    ck_assert_int_eq (kvp_wal_append (wal, "first", 5, NULL), KVP_STORE_OK);
    s_wait_spare (wal);
    struct rlimit saved, lower;
    ck_assert_int_eq (getrlimit (RLIMIT_FSIZE, &saved), 0);
    lower = saved;
    lower.rlim_cur = limit;
    ck_assert_int_eq (setrlimit (RLIMIT_FSIZE, &lower), 0);
    uint64_t last = s_fill_up (wal, dir);
    ck_assert_int_eq (setrlimit (RLIMIT_FSIZE, &saved), 0);
    s_after_full (&wal, dir, last);
}

//  Just under the segment size: segments cannot be made; the current one
//  and the spare fill up (and the small record after fits in the spare)
START_TEST (test_full_fsize)
{
    s_fsize (s_dir ("fsize"), SEG - 8);
    char names [SEGS_MAX][32];
    ck_assert_int_eq (s_segments (s_dir ("fsize"), names), 2);
}
END_TEST

//  In the middle of a segment: a write finds no room, its bytes are undone
START_TEST (test_full_write)
{
    s_fsize (s_dir ("write"), SEG / 2 + 100);
    char names [SEGS_MAX][32];
    ck_assert_int_eq (s_segments (s_dir ("write"), names), 1);
}
END_TEST

//  A real full disk: a 1 MiB tmpfs, then grown. The fixture runs in the
//  parent process (the test in a child), so it finds the mount by name.
static const char *
s_mnt (void)
{
    static char path [200];
    snprintf (path, sizeof path, "%s/tmpfs", tk_root ());
    return path;
}

static void
s_mnt_teardown (void)
{
    umount2 (s_mnt (), MNT_DETACH);     //  fails harmlessly if not mounted
    tk_root_teardown ();
}

START_TEST (test_full_disk)
{
    ck_assert_int_eq (mkdir (s_mnt (), 0755), 0);
    if (mount ("tmpfs", s_mnt (), "tmpfs", 0, "size=1m") != 0) {
        printf ("test_full_disk skipped: cannot mount a tmpfs: %s\n",
                strerror (errno));
        return;
    }
    char dir [256];
    snprintf (dir, sizeof dir, "%s/wal", s_mnt ());
    kvp_wal_t *wal = s_open (dir, SEG, false);
    ck_assert_int_eq (kvp_wal_replay (wal, 0, NULL, NULL), KVP_STORE_OK);
    uint64_t last = s_fill_up (wal, dir);
    ck_assert_int_eq (mount ("tmpfs", s_mnt (), "tmpfs", MS_REMOUNT,
                             "size=4m"), 0);
    s_after_full (&wal, dir, last);
}
END_TEST

START_TEST (test_nosync)
{
    const char *dir = s_dir ("nosync");
    kvp_wal_t *wal = s_open (dir, SEG, true);
    s_replay (wal, 0, 3000, 0, 0);
    s_append (wal, 500, 3000, 7, 0);
    ck_assert_int_eq (kvp_wal_sync (wal), KVP_STORE_OK);
    kvp_wal_stats_t stats;
    kvp_wal_stats (wal, &stats);
    ck_assert_uint_eq (stats.syncs, 72);
    ck_assert_uint_eq (stats.sync_us, 0);
    ck_assert_uint_gt (stats.segments, 3);
    kvp_wal_destroy (&wal);
    wal = s_open (dir, SEG, true);
    s_replay (wal, 0, 3000, 0, 500);
    kvp_wal_destroy (&wal);
}
END_TEST

//  The spare is made in the background, never seen as a segment, and
//  removed at close; the figures match the files
START_TEST (test_spare)
{
    const char *dir = s_dir ("spare");
    kvp_wal_t *wal = s_open (dir, SEG, false);
    s_replay (wal, 0, 1500, 0, 0);
    s_append (wal, 200, 1500, 10, 0);
    s_wait_spare (wal);
    kvp_wal_stats_t stats;
    kvp_wal_stats (wal, &stats);
    ck_assert_uint_eq (stats.spare_bytes, SEG);
    char path [300];
    snprintf (path, sizeof path, "%s/spare.tmp", dir);
    struct stat st;
    ck_assert_int_eq (stat (path, &st), 0);
    ck_assert_int_eq (st.st_size, SEG);
    char names [SEGS_MAX][32];
    ck_assert_int_eq (s_segments (dir, names), (int) stats.segments);
    uint64_t bytes = 0;
    for (size_t i = 0; i < stats.segments; i++) {
        ck_assert_int_eq (stat (s_segment (dir, (int) i), &st), 0);
        bytes += (uint64_t) st.st_size;
    }
    ck_assert_uint_eq (stats.bytes, bytes);
    ck_assert_uint_gt (stats.sync_us, 0);
    ck_assert_uint_ge (stats.appended, 200 * KVP_WALSEG_RECORD_HEADER);
    kvp_wal_destroy (&wal);
    ck_assert_int_ne (access (path, F_OK), 0);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("wal");
    TCase *tc = tcase_create ("wal");
    tcase_add_unchecked_fixture (tc, tk_root_setup, tk_root_teardown);
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, test_roundtrip);
    tcase_add_test (tc, test_appendv);
    tcase_add_test (tc, test_misuse);
    tcase_add_test (tc, test_replay_after);
    tcase_add_test (tc, test_release);
    tcase_add_test (tc, test_torn_truncate);
    tcase_add_test (tc, test_torn_garbage);
    tcase_add_test (tc, test_torn_header);
    tcase_add_test (tc, test_torn_unsynced);
    tcase_add_test (tc, test_corrupt_middle);
    tcase_add_test (tc, test_corrupt_segments);
    tcase_add_test (tc, test_empty_last);
    tcase_add_test (tc, test_large);
    tcase_add_test (tc, test_full_fsize);
    tcase_add_test (tc, test_full_write);
    tcase_add_test (tc, test_nosync);
    tcase_add_test (tc, test_spare);
    suite_add_tcase (suite, tc);
    //  Its own case: the fixture unmounts what the test mounted
    TCase *full = tcase_create ("full");
    tcase_add_unchecked_fixture (full, tk_root_setup, s_mnt_teardown);
    tcase_set_timeout (full, 60);
    tcase_add_test (full, test_full_disk);
    suite_add_tcase (suite, full);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
