/*  test_lossyfs.c - the power-loss file system (tests/lossyfs) loses what
    its header says and keeps the rest: unsynced data, names whose folder
    was not synced, size changes; the torn write; EIO after the cut; a
    clean unmount keeps everything.
*/
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "kvp_testkit.h"
#include "kvp_lossy.h"

static tk_lossy_t disk;

static void
s_setup (void)
{
    tk_root_setup ();
    ck_assert (tk_lossy_init (&disk, tk_root (), "m"));
    ck_assert (tk_lossy_mount (&disk, false, 1));
}

static void
s_teardown (void)
{
    tk_lossy_unmount (&disk);
    tk_root_teardown ();
}

static const char *
s_path (const char *name)
{
    static char path [2][512];
    static int which;
    which = !which;
    snprintf (path [which], sizeof path [which], "%s/%s", disk.mnt, name);
    return path [which];
}

//  Write `data` at `off` into the file `name` (created if missing);
//  fdatasync it when `sync`.
static void
s_put (const char *name, off_t off, const char *data, bool sync)
{
    int fd = open (s_path (name), O_RDWR | O_CREAT, 0644);
    ck_assert_int_ge (fd, 0);
    ck_assert_int_eq (pwrite (fd, data, strlen (data), off), (ssize_t) strlen (data));
    if (sync)
        ck_assert_int_eq (fdatasync (fd), 0);
    close (fd);
}

//  The whole file `name` as a string ("" if missing: *exists false).
static const char *
s_get (const char *name, bool *exists)
{
    static char buf [65536];
    buf [0] = 0;
    int fd = open (s_path (name), O_RDONLY);
    if (exists)
        *exists = fd >= 0;
    if (fd < 0)
        return buf;
    ssize_t n = read (fd, buf, sizeof buf - 1);
    buf [n > 0 ? n : 0] = 0;
    close (fd);
    return buf;
}

static void
s_sync_dir (const char *name)
{
    int fd = open (name ? s_path (name) : disk.mnt, O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge (fd, 0);
    ck_assert_int_eq (fsync (fd), 0);
    close (fd);
}

//  Cut the power, unmount, mount again on what survived.
static void
s_crash (bool tear, unsigned seed)
{
    char report [1024];
    ck_assert (tk_lossy_cut (&disk, report, sizeof report));
    ck_assert_ptr_nonnull (strstr (report, "cut: dropped"));
    tk_lossy_unmount (&disk);
    ck_assert (tk_lossy_mount (&disk, tear, seed));
}

START_TEST (test_unsynced_data_is_lost)
{
    s_put ("f", 0, "durable", true);
    s_sync_dir (NULL);
    s_put ("f", 7, "+pending", false);
    //  Seen at once, by read and through a mapping
    ck_assert_str_eq (s_get ("f", NULL), "durable+pending");
    int fd = open (s_path ("f"), O_RDONLY);
    const char *map = mmap (NULL, 15, PROT_READ, MAP_SHARED, fd, 0);
    ck_assert_ptr_ne (map, MAP_FAILED);
    ck_assert_int_eq (memcmp (map, "durable+pending", 15), 0);
    s_put ("f", 0, "D", false);
    ck_assert_int_eq (map [0], 'D');
    munmap ((void *) map, 15);
    close (fd);
    char report [1024];
    ck_assert (tk_lossy_cut (&disk, report, sizeof report));
    //  After the cut nothing works any more
    bool exists;
    s_get ("f", &exists);
    ck_assert (!exists);
    ck_assert_int_eq (errno, EIO);
    tk_lossy_unmount (&disk);
    ck_assert (tk_lossy_mount (&disk, false, 1));
    ck_assert_str_eq (s_get ("f", NULL), "durable");
}
END_TEST

START_TEST (test_names_need_their_folder_synced)
{
    ck_assert_int_eq (mkdir (s_path ("d"), 0755), 0);
    s_sync_dir (NULL);
    s_put ("d/b", 0, "synced and named", true);
    s_put ("d/c", 0, "named, never synced", false);
    s_sync_dir ("d");
    s_put ("d/a", 0, "synced, never named", true);
    ck_assert_int_eq (mkdir (s_path ("e"), 0755), 0);
    s_put ("e/x", 0, "in a folder never named", true);
    s_sync_dir ("e");
    s_crash (false, 1);
    bool a, c, e;
    s_get ("d/a", &a);
    ck_assert (!a);
    ck_assert_str_eq (s_get ("d/b", NULL), "synced and named");
    ck_assert_str_eq (s_get ("d/c", &c), "");
    ck_assert (c);
    s_get ("e/x", &e);
    ck_assert (!e);
}
END_TEST

START_TEST (test_unlink_and_rename_undone_until_synced)
{
    s_put ("x", 0, "x", true);
    s_put ("y", 0, "y", true);
    s_put ("w", 0, "w", true);
    s_sync_dir (NULL);
    ck_assert_int_eq (unlink (s_path ("x")), 0);
    ck_assert_int_eq (rename (s_path ("y"), s_path ("z")), 0);
    ck_assert_int_eq (rename (s_path ("w"), s_path ("z")), 0);
    s_crash (false, 1);
    ck_assert_str_eq (s_get ("x", NULL), "x");
    ck_assert_str_eq (s_get ("y", NULL), "y");
    ck_assert_str_eq (s_get ("w", NULL), "w");
    bool z;
    s_get ("z", &z);
    ck_assert (!z);
    //  Now made durable by the folder's fsync
    ck_assert_int_eq (unlink (s_path ("x")), 0);
    ck_assert_int_eq (rename (s_path ("y"), s_path ("z")), 0);
    ck_assert_int_eq (mkdir (s_path ("sub"), 0755), 0);
    ck_assert_int_eq (rename (s_path ("w"), s_path ("sub/w")), 0);
    s_sync_dir ("sub");         //  a rename completes on both sides
    s_sync_dir (NULL);
    s_crash (false, 1);
    bool x, y, w;
    s_get ("x", &x);
    s_get ("y", &y);
    s_get ("w", &w);
    ck_assert (!x && !y && !w);
    ck_assert_str_eq (s_get ("z", NULL), "y");
    ck_assert_str_eq (s_get ("sub/w", NULL), "w");
}
END_TEST

START_TEST (test_size_changes_are_data)
{
    s_put ("f", 0, "0123456789", true);
    s_sync_dir (NULL);
    int fd = open (s_path ("f"), O_RDWR);
    ck_assert_int_eq (ftruncate (fd, 4), 0);
    ck_assert_int_eq (posix_fallocate (fd, 0, 8192), 0);
    struct stat st;
    ck_assert_int_eq (fstat (fd, &st), 0);
    ck_assert_int_eq (st.st_size, 8192);
    char buf [16];
    ck_assert_int_eq (pread (fd, buf, 8, 0), 8);
    ck_assert_int_eq (memcmp (buf, "0123\0\0\0\0", 8), 0);
    close (fd);
    s_crash (false, 1);
    ck_assert_str_eq (s_get ("f", NULL), "0123456789");
    fd = open (s_path ("f"), O_RDWR);
    ck_assert_int_eq (ftruncate (fd, 3), 0);
    ck_assert_int_eq (fsync (fd), 0);
    close (fd);
    s_crash (false, 1);
    ck_assert_str_eq (s_get ("f", NULL), "012");
}
END_TEST

START_TEST (test_odsync_write_is_durable)
{
    s_put ("f", 0, "", true);
    s_sync_dir (NULL);
    int fd = open (s_path ("f"), O_WRONLY | O_DSYNC);
    ck_assert_int_eq (pwrite (fd, "meta", 4, 0), 4);
    close (fd);
    s_crash (false, 1);
    ck_assert_str_eq (s_get ("f", NULL), "meta");
}
END_TEST

START_TEST (test_torn_write_keeps_whole_sectors)
{
    static char zeros [4096], ones [4096];
    memset (ones, 'x', sizeof ones);
    int seen [9] = { 0 };
    for (unsigned seed = 1; seed <= 12; seed++) {
        int fd = open (s_path ("f"), O_RDWR | O_CREAT | O_TRUNC, 0644);
        ck_assert_int_eq (pwrite (fd, zeros, sizeof zeros, 0), 4096);
        close (fd);
        tk_lossy_unmount (&disk);               //  clean: all durable
        ck_assert (tk_lossy_mount (&disk, true, seed));
        fd = open (s_path ("f"), O_RDWR);
        ck_assert_int_eq (pwrite (fd, ones, sizeof ones, 0), 4096);
        close (fd);
        s_crash (false, 1);
        char buf [4096];
        fd = open (s_path ("f"), O_RDONLY);
        ck_assert_int_eq (read (fd, buf, sizeof buf), 4096);
        close (fd);
        int kept = 0;
        while (kept < 4096 && buf [kept] == 'x')
            kept++;
        ck_assert_int_eq (kept % 512, 0);
        ck_assert_int_eq (memcmp (buf + kept, zeros, 4096 - kept), 0);
        seen [kept / 512]++;
    }
    int kinds = 0;
    for (int k = 0; k <= 8; k++)
        kinds += seen [k] > 0;
    ck_assert_int_gt (kinds, 1);    //  the prefix varies with the seed
}
END_TEST

START_TEST (test_clean_unmount_keeps_everything)
{
    ck_assert_int_eq (mkdir (s_path ("d"), 0755), 0);
    s_put ("d/f", 0, "never synced", false);
    struct statvfs sv;
    ck_assert_int_eq (statvfs (disk.mnt, &sv), 0);
    ck_assert_int_gt (sv.f_blocks, 0);
    ck_assert_int_eq (tk_lossy_unmount (&disk), 0);
    ck_assert (tk_lossy_mount (&disk, false, 1));
    ck_assert_str_eq (s_get ("d/f", NULL), "never synced");
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("lossyfs");
    TCase *tc = tcase_create ("model");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_unsynced_data_is_lost);
    tcase_add_test (tc, test_names_need_their_folder_synced);
    tcase_add_test (tc, test_unlink_and_rename_undone_until_synced);
    tcase_add_test (tc, test_size_changes_are_data);
    tcase_add_test (tc, test_odsync_write_is_durable);
    tcase_add_test (tc, test_torn_write_keeps_whole_sectors);
    tcase_add_test (tc, test_clean_unmount_keeps_everything);
    suite_add_tcase (suite, tc);
    return tk_run_suite (suite);
}
