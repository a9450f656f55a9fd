/*  kvp_lmdb.c - helpers shared by the store's LMDB tables. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <czmq.h>
#include "kvp_dir.h"
#include "kvp_lmdb.h"
#include "kvp_store.h"

//  Room below which a short write counts as "full": a write that ran into
//  the limit leaves the file at it, or the disk with next to nothing free
#define S_SPACE_SLACK  ((uint64_t) 1 << 20)

int
kvp_lmdb_rc (int rc, const char *what)
{
    switch (rc) {
        case MDB_SUCCESS:
            return KVP_STORE_OK;
        case MDB_NOTFOUND:
            return KVP_STORE_NOTFOUND;
        case MDB_KEYEXIST:
            return KVP_STORE_EXISTS;
        case MDB_MAP_FULL:
        case MDB_TXN_FULL:
        case ENOSPC:
        case EFBIG:
        case EDQUOT:
            //  Normal operation near the limit: the caller aborts, grows
            //  and retries, so this is not worth a log line here
            return KVP_STORE_FULL;
        case MDB_INVALID:
        case MDB_CORRUPTED:
        case MDB_PAGE_NOTFOUND:
            zsys_error ("store: %s: %s", what, mdb_strerror (rc));
            return KVP_STORE_CORRUPT;
        default:
            zsys_error ("store: %s: %s", what, mdb_strerror (rc));
            return KVP_STORE_EIO;
    }
}

int
kvp_lmdb_del_prefix (MDB_txn *txn, MDB_dbi dbi, const void *prefix,
                     size_t size, size_t *deleted)
{
    MDB_cursor *cursor = NULL;
    size_t count = 0;
    int rc = mdb_cursor_open (txn, dbi, &cursor);
    while (rc == MDB_SUCCESS) {
        //  Seek afresh after each delete: one B-tree descent per record,
        //  and no reliance on where a cursor rests after mdb_cursor_del
        MDB_val key = { size, (void *) prefix }, val;
        rc = mdb_cursor_get (cursor, &key, &val, MDB_SET_RANGE);
        if (rc == MDB_SUCCESS && !kvp_lmdb_has_prefix (&key, prefix, size))
            rc = MDB_NOTFOUND;
        if (rc == MDB_SUCCESS)
            rc = mdb_cursor_del (cursor, 0);
        if (rc == MDB_SUCCESS)
            count++;
    }
    if (cursor)
        mdb_cursor_close (cursor);
    if (deleted)
        *deleted = count;
    return rc == MDB_NOTFOUND? KVP_STORE_OK: kvp_lmdb_rc (rc, "delete range");
}

int
kvp_lmdb_sync_dir (const char *dir)
{
    int fd = open (dir, O_RDONLY | O_DIRECTORY);
    int rc = fd < 0 || fsync (fd) != 0? errno: 0;
    if (fd >= 0)
        close (fd);
    return kvp_lmdb_rc (rc, "sync directory");
}

//  The folder that holds `dir` ("." for a bare name) into parent
static void
s_parent (const char *dir, char *parent, size_t size)
{
    snprintf (parent, size, "%s", dir);
    size_t len = strlen (parent);
    while (len > 1 && parent [len - 1] == '/')
        parent [--len] = '\0';
    char *slash = strrchr (parent, '/');
    if (!slash)
        snprintf (parent, size, ".");
    else
        slash [slash == parent? 1: 0] = '\0';
}

size_t
kvp_lmdb_page_round (size_t size)
{
    size_t page = (size_t) sysconf (_SC_PAGESIZE);
    return (size + page - 1) / page * page;
}

int
kvp_lmdb_env_open (const char *dir, size_t map_size, unsigned maxdbs,
                   unsigned flags, MDB_env **env)
{
    *env = NULL;
    int rc = kvp_dir_make (dir);
    if (rc)
        return kvp_lmdb_rc (rc, "create directory");
    rc = mdb_env_create (env);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_set_maxdbs (*env, maxdbs);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_set_mapsize (*env, kvp_lmdb_page_round (map_size));
    if (rc == MDB_SUCCESS)
        rc = mdb_env_open (*env, dir, flags & ~(unsigned) MDB_WRITEMAP, 0644);
    if (rc != MDB_SUCCESS && *env) {
        mdb_env_close (*env);
        *env = NULL;
    }
    //  The names of what may just have been made (the files, the folder
    //  itself) must survive a power loss as much as the data in them
    char parent [PATH_MAX];
    s_parent (dir, parent, sizeof parent);
    rc = kvp_lmdb_rc (rc, "open environment");
    if (rc == KVP_STORE_OK)
        rc = kvp_lmdb_sync_dir (dir);
    if (rc == KVP_STORE_OK)
        rc = kvp_lmdb_sync_dir (parent);
    if (rc != KVP_STORE_OK && *env) {
        mdb_env_close (*env);
        *env = NULL;
    }
    return rc;
}

int
kvp_lmdb_dbis_create (MDB_txn *txn, const char *const *names,
                      MDB_dbi *const *dbis, size_t count)
{
    int rc = MDB_SUCCESS;
    for (size_t i = 0; rc == MDB_SUCCESS && i < count; i++)
        rc = mdb_dbi_open (txn, names [i], MDB_CREATE, dbis [i]);
    return kvp_lmdb_rc (rc, "open databases");
}

int
kvp_lmdb_dbi_exists (MDB_txn *txn, const char *name)
{
    MDB_dbi dbi;
    return kvp_lmdb_rc (mdb_dbi_open (txn, name, 0, &dbi), "open database");
}

int
kvp_lmdb_dbis_open (MDB_env *env, const char *const *names,
                    MDB_dbi *const *dbis, size_t count)
{
    MDB_txn *txn = NULL;
    int rc = kvp_lmdb_rc (mdb_txn_begin (env, NULL, 0, &txn),
                          "open databases");
    if (rc == KVP_STORE_OK)
        rc = kvp_lmdb_dbis_create (txn, names, dbis, count);
    if (rc == KVP_STORE_OK)
        return kvp_lmdb_commit (env, txn, "open databases");
    if (txn)
        mdb_txn_abort (txn);
    return rc;
}

uint64_t
kvp_lmdb_room (MDB_env *env)
{
    uint64_t room = UINT64_MAX;
    mdb_filehandle_t fd;
    struct stat st;
    struct rlimit limit;
    if (mdb_env_get_fd (env, &fd) == MDB_SUCCESS && fstat (fd, &st) == 0
    &&  getrlimit (RLIMIT_FSIZE, &limit) == 0
    &&  limit.rlim_cur != RLIM_INFINITY)
        room = limit.rlim_cur > (rlim_t) st.st_size
             ? (uint64_t) (limit.rlim_cur - st.st_size): 0;
    const char *path;
    struct statvfs fs;
    if (mdb_env_get_path (env, &path) == MDB_SUCCESS
    &&  statvfs (path, &fs) == 0
    &&  (uint64_t) fs.f_bavail * fs.f_frsize < room)
        room = (uint64_t) fs.f_bavail * fs.f_frsize;
    return room;
}

int
kvp_lmdb_commit (MDB_env *env, MDB_txn *txn, const char *what)
{
    int rc = mdb_txn_commit (txn);
    //  A short write that ran into the limit leaves the file at it, or the
    //  disk with next to nothing free
    if (rc == EIO && kvp_lmdb_room (env) < S_SPACE_SLACK) {
        zsys_warning ("store: %s: short write, the disk or the file size "
                      "limit is full", what);
        return KVP_STORE_FULL;
    }
    return kvp_lmdb_rc (rc, what);
}
