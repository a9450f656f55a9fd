/*  test_registry.c - the broker's registry (store/kvp_registry.h).

    Each test works in its own folder under a per-case temporary root that
    the parent process removes after the case, even when a test fails.
*/
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <czmq.h>
#include "kvp_decgen.h"
#include "kvp_lmdb.h"
#include "kvp_registry.h"
#include "kvp_testkit.h"

static const char *
s_dir (const char *name)
{
    static char dir [128];
    snprintf (dir, sizeof dir, "%s/%s/broker", tk_root (), name);
    return dir;
}

static kvp_registry_t *
s_open (const char *dir, uint32_t nparts)
{
    int rc = -1;
    kvp_registry_t *registry = kvp_registry_new (dir, nparts, &rc);
    ck_assert_ptr_nonnull (registry);
    ck_assert_int_eq (rc, KVP_STORE_OK);
    return registry;
}

static kvp_registry_t *
s_open_replicated (const char *dir)
{
    int rc = -1;
    kvp_registry_t *registry = kvp_registry_new_replicated (dir, 16, 3, 2,
                                                            &rc);
    ck_assert_msg (registry != NULL, "reopen: %s", kvp_store_strerror (rc));
    return registry;
}

START_TEST (test_nparts)
{
    const char *dir = s_dir ("nparts");
    int rc = 0;
    //  A new directory needs N
    ck_assert_ptr_null (kvp_registry_new (dir, 0, &rc));
    ck_assert_int_eq (rc, KVP_STORE_NOTFOUND);
    ck_assert_ptr_null (kvp_registry_new (dir, 65537, &rc));
    ck_assert_int_eq (rc, KVP_STORE_EINVAL);
    kvp_registry_t *registry = s_open (dir, 64);
    ck_assert_uint_eq (kvp_registry_partitions (registry), 64);
    kvp_registry_destroy (&registry);
    ck_assert_ptr_null (registry);
    kvp_registry_destroy (&registry);   //  safe twice

    ck_assert_ptr_null (kvp_registry_new (dir, 32, &rc));
    ck_assert_int_eq (rc, KVP_STORE_MISMATCH);
    registry = s_open (dir, 0);         //  adopt the stored N
    ck_assert_uint_eq (kvp_registry_partitions (registry), 64);
    kvp_registry_destroy (&registry);
    registry = s_open (dir, 64);
    ck_assert_uint_eq (kvp_registry_partitions (registry), 64);
    kvp_registry_destroy (&registry);
}
END_TEST

START_TEST (test_owners)
{
    const char *dir = s_dir ("owners");
    kvp_registry_t *registry = s_open (dir, 65536);
    ck_assert_ptr_null (kvp_registry_owner (registry, 0));
    ck_assert_ptr_null (kvp_registry_owner (registry, 65536));
    ck_assert_int_eq (kvp_registry_assign (registry, 0, "w1"), KVP_STORE_OK);
    ck_assert_int_eq (kvp_registry_assign (registry, 65535, "w2"), 0);
    ck_assert_int_eq (kvp_registry_assign (registry, 7, "w1"), KVP_STORE_OK);
    ck_assert_int_eq (kvp_registry_assign (registry, 7, "w1"), KVP_STORE_OK);
    ck_assert_int_eq (kvp_registry_assign (registry, 65536, "w1"),
                      KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_registry_assign (registry, 1, ""),
                      KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_registry_assign (registry, 1, NULL),
                      KVP_STORE_EINVAL);
    //  Handing a partition over
    ck_assert_int_eq (kvp_registry_assign (registry, 0, "w3"), KVP_STORE_OK);
    ck_assert_str_eq (kvp_registry_owner (registry, 0), "w3");
    kvp_registry_destroy (&registry);

    registry = s_open (dir, 65536);
    ck_assert_str_eq (kvp_registry_owner (registry, 0), "w3");
    ck_assert_str_eq (kvp_registry_owner (registry, 7), "w1");
    ck_assert_str_eq (kvp_registry_owner (registry, 65535), "w2");
    ck_assert_ptr_null (kvp_registry_owner (registry, 1));
    //  Owners without a token are known workers too
    ck_assert_ptr_null (kvp_registry_token (registry, "w1"));
    size_t count;
    const char **names = kvp_registry_workers (registry, &count);
    ck_assert_uint_eq (count, 3);
    ck_assert_str_eq (names [0], "w1");
    ck_assert_str_eq (names [1], "w2");
    ck_assert_str_eq (names [2], "w3");
    kvp_registry_destroy (&registry);
}
END_TEST

START_TEST (test_tokens)
{
    const char *dir = s_dir ("tokens");
    kvp_registry_t *registry = s_open (dir, 16);
    const char *order [] = { "zeta", "alpha", "mid", "Alpha", "alpha2" };
    char token [32];
    for (int i = 0; i < 5; i++) {
        snprintf (token, sizeof token, "token-%d", i);
        ck_assert_int_eq (kvp_registry_set_token (registry, order [i], token),
                          KVP_STORE_OK);
    }
    ck_assert_int_eq (kvp_registry_assign (registry, 3, "mid"), 0);
    ck_assert_int_eq (kvp_registry_set_token (registry, "mid", "new"), 0);
    ck_assert_int_eq (kvp_registry_set_token (registry, "x", NULL),
                      KVP_STORE_EINVAL);
    ck_assert_ptr_null (kvp_registry_token (registry, "nobody"));
    ck_assert_str_eq (kvp_registry_token (registry, "mid"), "new");
    kvp_registry_destroy (&registry);

    registry = s_open (dir, 16);
    ck_assert_str_eq (kvp_registry_token (registry, "zeta"), "token-0");
    ck_assert_str_eq (kvp_registry_token (registry, "alpha"), "token-1");
    ck_assert_str_eq (kvp_registry_token (registry, "mid"), "new");
    ck_assert_str_eq (kvp_registry_owner (registry, 3), "mid");
    size_t count;
    const char **names = kvp_registry_workers (registry, &count);
    const char *sorted [] = { "Alpha", "alpha", "alpha2", "mid", "zeta" };
    ck_assert_uint_eq (count, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_str_eq (names [i], sorted [i]);
    //  A new worker lands in order
    ck_assert_int_eq (kvp_registry_assign (registry, 4, "beta"), 0);
    names = kvp_registry_workers (registry, &count);
    ck_assert_uint_eq (count, 6);
    ck_assert_str_eq (names [3], "beta");
    ck_assert_str_eq (kvp_registry_owner (registry, 4), "beta");
    kvp_registry_destroy (&registry);
}
END_TEST

//  Enough owners and workers to grow the map and the arrays
START_TEST (test_many)
{
    const char *dir = s_dir ("many");
    kvp_registry_t *registry = s_open (dir, 4096);
    char name [600];
    static char token [6000];           //  200 of these outgrow 1 MiB
    memset (name, 'w', sizeof name);
    memset (token, 't', sizeof token - 1);
    for (int i = 0; i < 200; i++) {
        snprintf (name + 490, sizeof name - 490, "%04d", i);
        memcpy (token, name, 494);
        ck_assert_int_eq (kvp_registry_set_token (registry, name, token), 0);
        ck_assert_int_eq (kvp_registry_assign (registry, (uint32_t) i * 20,
                                               name), KVP_STORE_OK);
    }
    kvp_registry_destroy (&registry);
    char path [200];
    struct stat st;
    snprintf (path, sizeof path, "%s/data.mdb", dir);
    ck_assert_int_eq (stat (path, &st), 0);
    ck_assert_int_gt (st.st_size, 1 << 20);
    registry = s_open (dir, 4096);
    size_t count;
    kvp_registry_workers (registry, &count);
    ck_assert_uint_eq (count, 200);
    snprintf (name + 490, sizeof name - 490, "%04d", 123);
    ck_assert_str_eq (kvp_registry_owner (registry, 123 * 20), name);
    memcpy (token, name, 494);
    ck_assert_str_eq (kvp_registry_token (registry, name), token);
    //  A name longer than an LMDB key is refused
    memset (name, 'w', sizeof name - 1);
    name [sizeof name - 1] = '\0';
    ck_assert_int_eq (kvp_registry_set_token (registry, name, "t"),
                      KVP_STORE_EINVAL);
    kvp_registry_destroy (&registry);
}
END_TEST

//  --- Decision records ----------------------------------------------------

//  The raw LMDB environment of a closed registry, for tests that write
//  the old layout or damage the new one
static MDB_env *
s_raw_open (const char *dir)
{
    MDB_env *env = NULL;
    ck_assert_int_eq (kvp_lmdb_env_open (dir, (size_t) 1 << 30, 8, 0, &env),
                      0);
    return env;
}

//  A write transaction on database `name` (created if missing)
static MDB_txn *
s_raw_begin (MDB_env *env, const char *name, MDB_dbi *dbi)
{
    MDB_txn *txn;
    ck_assert_int_eq (mdb_txn_begin (env, NULL, 0, &txn), 0);
    ck_assert_int_eq (mdb_dbi_open (txn, name, MDB_CREATE, dbi), 0);
    return txn;
}

static void
s_raw_put (MDB_env *env, const char *name, const void *key, size_t klen,
           const void *val, size_t vlen)
{
    MDB_dbi dbi;
    MDB_txn *txn = s_raw_begin (env, name, &dbi);
    MDB_val mkey = { klen, (void *) key }, mval = { vlen, (void *) val };
    ck_assert_int_eq (mdb_put (txn, dbi, &mkey, &mval, 0), 0);
    ck_assert_int_eq (mdb_txn_commit (txn), 0);
}

//  A copy of the value under `key` (NULL if none), its size in *size
static uint8_t *
s_raw_get (MDB_env *env, const char *name, const void *key, size_t klen,
           size_t *size)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val mkey = { klen, (void *) key }, val;
    uint8_t *copy = NULL;
    ck_assert_int_eq (mdb_txn_begin (env, NULL, MDB_RDONLY, &txn), 0);
    if (mdb_dbi_open (txn, name, 0, &dbi) == 0
    &&  mdb_get (txn, dbi, &mkey, &val) == 0) {
        copy = malloc (val.mv_size + 1);
        memcpy (copy, val.mv_data, val.mv_size);
        *size = val.mv_size;
    }
    mdb_txn_abort (txn);
    return copy;
}

//  Rows in database `name`; -1 if there is no such database
static long
s_raw_count (MDB_env *env, const char *name)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat st;
    long count = -1;
    ck_assert_int_eq (mdb_txn_begin (env, NULL, MDB_RDONLY, &txn), 0);
    if (mdb_dbi_open (txn, name, 0, &dbi) == 0
    &&  mdb_stat (txn, dbi, &st) == 0)
        count = (long) st.ms_entries;
    mdb_txn_abort (txn);
    return count;
}

static void
s_raw_del (MDB_env *env, const char *name, const void *key, size_t klen)
{
    MDB_dbi dbi;
    MDB_txn *txn = s_raw_begin (env, name, &dbi);
    MDB_val mkey = { klen, (void *) key };
    ck_assert_int_eq (mdb_del (txn, dbi, &mkey, NULL), 0);
    ck_assert_int_eq (mdb_txn_commit (txn), 0);
}

//  The first and last keys of the records, as sequence numbers
static void
s_raw_record_range (MDB_env *env, uint64_t *first, uint64_t *last)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cursor;
    MDB_val key, val;
    ck_assert_int_eq (mdb_txn_begin (env, NULL, MDB_RDONLY, &txn), 0);
    ck_assert_int_eq (mdb_dbi_open (txn, "records", 0, &dbi), 0);
    ck_assert_int_eq (mdb_cursor_open (txn, dbi, &cursor), 0);
    ck_assert_int_eq (mdb_cursor_get (cursor, &key, &val, MDB_FIRST), 0);
    *first = kvp_lmdb_get_u64 (key.mv_data);
    ck_assert_int_eq (mdb_cursor_get (cursor, &key, &val, MDB_LAST), 0);
    *last = kvp_lmdb_get_u64 (key.mv_data);
    mdb_cursor_close (cursor);
    mdb_txn_abort (txn);
}

static void
s_apply_ok (kvp_registry_t *registry, kvp_regstate_t *twin,
            const kvp_decision_t *record)
{
    char why [256] = "";
    int rc = kvp_registry_apply (registry, record, why, sizeof why);
    ck_assert_msg (rc == 0, "refused: %s", why);
    ck_assert_int_eq (kvp_regstate_apply (twin, record, NULL, 0), 0);
    ck_assert (kvp_regstate_equal (kvp_registry_state (registry), twin));
}

static kvp_regstate_t *
s_twin (uint32_t nparts, uint8_t replicas, uint8_t min_insync)
{
    kvp_regstate_t *twin = kvp_regstate_new ();
    kvp_decision_t create = { .type = KVP_DECISION_CREATE, .nparts = nparts,
                              .replicas = replicas,
                              .min_insync = min_insync };
    ck_assert_int_eq (kvp_regstate_apply (twin, &create, NULL, 0), 0);
    return twin;
}

//  Replication's records through the registry: applied in order, refused
//  with a reason and nothing written, all back after a reopen
START_TEST (test_apply)
{
    const char *dir = s_dir ("apply");
    int rc = 0;
    kvp_registry_t *registry = kvp_registry_new_replicated (dir, 8, 3, 2,
                                                            &rc);
    ck_assert_ptr_nonnull (registry);
    ck_assert_uint_eq (kvp_registry_seq (registry), 1);
    kvp_regstate_t *twin = s_twin (8, 3, 2);
    ck_assert (kvp_regstate_equal (kvp_registry_state (registry), twin));
    const char *names [] = { "a", "b", "c", "d" };
    for (int i = 0; i < 4; i++) {
        kvp_decision_t worker = { .type = KVP_DECISION_WORKER,
                                  .worker = names [i], .token = "t" };
        s_apply_ok (registry, twin, &worker);
    }
    kvp_decision_t place = { .type = KVP_DECISION_PLACE, .part = 2,
                             .count = 3, .workers = { "a", "b", "c" } };
    s_apply_ok (registry, twin, &place);
    ck_assert_str_eq (kvp_registry_owner (registry, 2), "a");
    //  Refused: a reason, the same sequence number and state
    char why [256] = "";
    kvp_decision_t stale = { .type = KVP_DECISION_LEADER, .part = 2,
                             .epoch = 1, .worker = "b" };
    ck_assert_int_eq (kvp_registry_apply (registry, &stale, why, sizeof why),
                      KVP_STORE_EINVAL);
    ck_assert_str_eq (why, "epoch 1 does not grow past partition 2's 1");
    kvp_decision_t outsider = { .type = KVP_DECISION_LEADER, .part = 2,
                                .epoch = 2, .worker = "d" };
    ck_assert_int_eq (kvp_registry_apply (registry, &outsider, why,
                                          sizeof why), KVP_STORE_EINVAL);
    ck_assert_str_eq (why, "worker d holds no copy of partition 2");
    ck_assert_int_eq (kvp_registry_apply (registry, NULL, why, sizeof why),
                      KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_registry_apply (NULL, &stale, NULL, 0),
                      KVP_STORE_EINVAL);
    ck_assert_uint_eq (kvp_registry_seq (registry), 6);
    ck_assert (kvp_regstate_equal (kvp_registry_state (registry), twin));
    //  ASSIGN is for one copy: the old call refuses a replicated one
    ck_assert_int_eq (kvp_registry_assign (registry, 2, "d"),
                      KVP_STORE_EINVAL);
    ck_assert_str_eq (kvp_registry_owner (registry, 2), "a");
    kvp_decision_t steps [] = {
        { .type = KVP_DECISION_SHRINK, .part = 2, .epoch = 1,
          .worker = "c" },
        { .type = KVP_DECISION_LEADER, .part = 2, .epoch = 2,
          .worker = "b" },
        { .type = KVP_DECISION_MOVE, .part = 2, .epoch = 2, .worker = "c",
          .to = "d" },
        { .type = KVP_DECISION_EXPAND, .part = 2, .epoch = 2,
          .worker = "a" },
        { .type = KVP_DECISION_RETIRE, .worker = "c" },
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps [0]; i++)
        s_apply_ok (registry, twin, &steps [i]);
    ck_assert_str_eq (kvp_registry_owner (registry, 2), "b");
    ck_assert_uint_eq (kvp_registry_seq (registry), 11);
    kvp_registry_destroy (&registry);

    registry = kvp_registry_new_replicated (dir, 0, 3, 2, &rc);
    ck_assert_ptr_nonnull (registry);
    ck_assert_uint_eq (kvp_registry_seq (registry), 11);
    ck_assert (kvp_regstate_equal (kvp_registry_state (registry), twin));
    kvp_regpart_t part;
    ck_assert (kvp_regstate_partition (kvp_registry_state (registry), 2,
                                       &part));
    ck_assert_uint_eq (part.epoch, 2);
    ck_assert_str_eq (part.replicas [2], "d");
    ck_assert (part.in_sync [0] && part.in_sync [1] && !part.in_sync [2]);
    kvp_registry_destroy (&registry);
    kvp_regstate_destroy (&twin);
}
END_TEST

//  R and M are fixed when the directory is made, like N
START_TEST (test_shape)
{
    char dir [128];
    snprintf (dir, sizeof dir, "%s", s_dir ("shape"));
    int rc = 0;
    kvp_registry_t *registry = kvp_registry_new_replicated (dir, 8, 3, 2,
                                                            &rc);
    kvp_registry_destroy (&registry);
    ck_assert_ptr_null (kvp_registry_new (dir, 8, &rc));
    ck_assert_int_eq (rc, KVP_STORE_MISMATCH);
    ck_assert_ptr_null (kvp_registry_new_replicated (dir, 8, 3, 1, &rc));
    ck_assert_int_eq (rc, KVP_STORE_MISMATCH);
    ck_assert_ptr_null (kvp_registry_new_replicated (dir, 8, 2, 2, &rc));
    ck_assert_int_eq (rc, KVP_STORE_MISMATCH);
    ck_assert_ptr_null (kvp_registry_new_replicated (dir, 16, 3, 2, &rc));
    ck_assert_int_eq (rc, KVP_STORE_MISMATCH);
    //  R and M 0 adopt what the directory holds (as N 0 does)
    registry = kvp_registry_new_replicated (dir, 0, 0, 0, &rc);
    ck_assert_ptr_nonnull (registry);
    ck_assert_uint_eq (kvp_registry_partitions (registry), 8);
    ck_assert_uint_eq (kvp_regstate_replicas (kvp_registry_state (registry)),
                       3);
    ck_assert_uint_eq (kvp_regstate_min_insync (
                           kvp_registry_state (registry)), 2);
    kvp_registry_destroy (&registry);
    registry = kvp_registry_new_replicated (dir, 16, 0, 0, &rc);
    ck_assert_ptr_null (registry);      //  N is still checked
    ck_assert_int_eq (rc, KVP_STORE_MISMATCH);
    //  ... and make nothing where there is nothing
    ck_assert_ptr_null (kvp_registry_new_replicated (s_dir ("shape-none"),
                                                     8, 0, 0, &rc));
    ck_assert_int_eq (rc, KVP_STORE_NOTFOUND);
    unsigned bad [][2] = { { 6, 1 }, { 2, 3 }, { 0, 1 }, { 2, 0 } };
    for (int i = 0; i < 4; i++) {
        rc = 0;
        ck_assert_ptr_null (kvp_registry_new_replicated (
            s_dir ("shape-bad"), 8, bad [i][0], bad [i][1], &rc));
        ck_assert_int_eq (rc, KVP_STORE_EINVAL);
    }
    registry = s_open (s_dir ("shape-one"), 8);
    ck_assert_uint_eq (kvp_regstate_replicas (kvp_registry_state (registry)),
                       1);
    ck_assert_uint_eq (kvp_regstate_min_insync (
                           kvp_registry_state (registry)), 1);
    kvp_registry_destroy (&registry);
}
END_TEST

static void
s_txn_put (MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
           const void *val, size_t vlen)
{
    MDB_val mkey = { klen, (void *) key }, mval = { vlen, (void *) val };
    ck_assert_int_eq (mdb_put (txn, dbi, &mkey, &mval, 0), 0);
}

//  Write the registry of before decision records, in one transaction: N
//  in 4 bytes, the owners and the tokens tables (pairs, NULL-ended)
static void
s_write_old (const char *dir, uint32_t nparts, const char *const *owners,
             const char *const *tokens)
{
    MDB_env *env = s_raw_open (dir);
    MDB_dbi config, owner_db, token_db;
    MDB_txn *txn = s_raw_begin (env, "config", &config);
    ck_assert_int_eq (mdb_dbi_open (txn, "owners", MDB_CREATE, &owner_db), 0);
    ck_assert_int_eq (mdb_dbi_open (txn, "tokens", MDB_CREATE, &token_db), 0);
    uint8_t bytes [4];
    kvp_lmdb_put_u32 (bytes, nparts);
    s_txn_put (txn, config, "nparts", 6, bytes, 4);
    for (uint32_t part = 0; owners && part < nparts; part++)
        if (owners [part]) {
            uint8_t key [2];
            kvp_lmdb_put_u16 (key, (uint16_t) part);
            s_txn_put (txn, owner_db, key, 2, owners [part],
                       strlen (owners [part]));
        }
    for (size_t i = 0; tokens && tokens [i]; i += 2)
        s_txn_put (txn, token_db, tokens [i], strlen (tokens [i]),
                   tokens [i + 1], strlen (tokens [i + 1]));
    ck_assert_int_eq (mdb_txn_commit (txn), 0);
    mdb_env_close (env);
}

//  A directory of the old layout opens with the same owners, tokens and
//  workers, converted to records once; an older broker would refuse it
START_TEST (test_migrate)
{
    char dir [128];
    snprintf (dir, sizeof dir, "%s", s_dir ("migrate"));
    const char *owners [16] = { [0] = "alpha", [5] = "beta",
                                [9] = "gamma", [15] = "alpha" };
    const char *tokens [] = { "beta", "t-b", "alpha", "t-a", NULL };
    s_write_old (dir, 16, owners, tokens);
    for (int round = 0; round < 2; round++) {
        kvp_registry_t *registry = s_open (dir, round? 0: 16);
        ck_assert_uint_eq (kvp_registry_partitions (registry), 16);
        ck_assert_uint_eq (kvp_registry_seq (registry), 7);
        for (uint32_t part = 0; part < 16; part++)
            if (owners [part])
                ck_assert_str_eq (kvp_registry_owner (registry, part),
                                  owners [part]);
            else
                ck_assert_ptr_null (kvp_registry_owner (registry, part));
        ck_assert_str_eq (kvp_registry_token (registry, "alpha"), "t-a");
        ck_assert_str_eq (kvp_registry_token (registry, "beta"), "t-b");
        ck_assert_ptr_null (kvp_registry_token (registry, "gamma"));
        size_t count;
        const char **names = kvp_registry_workers (registry, &count);
        ck_assert_uint_eq (count, 3);
        ck_assert_str_eq (names [2], "gamma");
        kvp_registry_destroy (&registry);
        //  Converted: N and the layout in 8 bytes, the old tables gone
        MDB_env *env = s_raw_open (dir);
        size_t size = 0;
        uint8_t *nparts = s_raw_get (env, "config", "nparts", 6, &size);
        ck_assert_uint_eq (size, 8);
        ck_assert_uint_eq (kvp_lmdb_get_u32 (nparts), 16);
        ck_assert_uint_eq (kvp_lmdb_get_u32 (nparts + 4), 2);
        free (nparts);
        ck_assert_int_eq (s_raw_count (env, "owners"), -1);
        ck_assert_int_eq (s_raw_count (env, "tokens"), -1);
        ck_assert_int_eq (s_raw_count (env, "records"), 7);
        mdb_env_close (env);
    }
    //  An old directory opened with another N is refused, unconverted
    const char *other = s_dir ("migrate-n");
    s_write_old (other, 16, owners, tokens);
    int rc = 0;
    ck_assert_ptr_null (kvp_registry_new (other, 32, &rc));
    ck_assert_int_eq (rc, KVP_STORE_MISMATCH);
    MDB_env *env = s_raw_open (other);
    ck_assert_int_eq (s_raw_count (env, "owners"), 4);
    mdb_env_close (env);
}
END_TEST

//  An old directory holding what no record can say is refused whole
START_TEST (test_migrate_corrupt)
{
    char dir [128];
    snprintf (dir, sizeof dir, "%s", s_dir ("migrate-bad"));
    const char *owners [16] = { [0] = "alpha" };
    const char *tokens [] = { "alpha", "t-a", NULL };
    s_write_old (dir, 8, owners, tokens);
    MDB_env *env = s_raw_open (dir);
    uint8_t key [2] = { 0, 9 };         //  partition 9 of N = 8
    s_raw_put (env, "owners", key, 2, "beta", 4);
    mdb_env_close (env);
    int rc = 0;
    ck_assert_ptr_null (kvp_registry_new (dir, 8, &rc));
    ck_assert_int_eq (rc, KVP_STORE_CORRUPT);
    env = s_raw_open (dir);
    size_t size = 0;
    free (s_raw_get (env, "config", "nparts", 6, &size));
    ck_assert_uint_eq (size, 4);        //  left as it was
    ck_assert_int_eq (s_raw_count (env, "owners"), 2);
    ck_assert_int_eq (s_raw_count (env, "tokens"), 1);
    ck_assert_int_le (s_raw_count (env, "records"), 0);
    //  A name with a NUL inside, and an N of 0
    s_raw_del (env, "owners", key, 2);
    s_raw_put (env, "tokens", "bad\0name", 8, "t", 1);
    mdb_env_close (env);
    ck_assert_ptr_null (kvp_registry_new (dir, 8, &rc));
    ck_assert_int_eq (rc, KVP_STORE_CORRUPT);
    s_write_old (s_dir ("migrate-zero"), 0, NULL, NULL);
    ck_assert_ptr_null (kvp_registry_new (s_dir ("migrate-zero"), 8, &rc));
    ck_assert_int_eq (rc, KVP_STORE_CORRUPT);
}
END_TEST

//  Records that outgrow the snapshot are folded into a new one and
//  deleted: the records left follow the snapshot without a gap
START_TEST (test_snapshot)
{
    const char *dir = s_dir ("snapshot");
    kvp_registry_t *registry = s_open (dir, 64);
    char name [32], token [32];
    for (int i = 0; i < 300; i++) {
        snprintf (name, sizeof name, "worker-%03d", i);
        snprintf (token, sizeof token, "token-%d", i);
        ck_assert_int_eq (kvp_registry_set_token (registry, name, token), 0);
        ck_assert_int_eq (kvp_registry_assign (registry, (uint32_t) i % 64,
                                               name), 0);
    }
    ck_assert_uint_eq (kvp_registry_seq (registry), 601);
    size_t expect_size = 0, size = 0;
    uint8_t *expect = kvp_regstate_save (kvp_registry_state (registry), 0,
                                         &expect_size);
    kvp_registry_destroy (&registry);
    MDB_env *env = s_raw_open (dir);
    uint8_t *snap = s_raw_get (env, "snapshot", "state", 5, &size);
    ck_assert_ptr_nonnull (snap);
    uint64_t snap_seq = kvp_lmdb_get_u64 (snap + 1);
    uint64_t first, last;
    s_raw_record_range (env, &first, &last);
    ck_assert_uint_eq (first, snap_seq + 1);
    ck_assert_uint_eq (last, 601);
    ck_assert_int_eq (s_raw_count (env, "records"), (long) (last - first + 1));
    ck_assert_int_lt (s_raw_count (env, "records"), 400);
    free (snap);
    mdb_env_close (env);
    registry = s_open (dir, 64);
    ck_assert_uint_eq (kvp_registry_seq (registry), 601);
    size_t again_size;
    uint8_t *again = kvp_regstate_save (kvp_registry_state (registry), 0,
                                        &again_size);
    ck_assert_uint_eq (again_size, expect_size);
    ck_assert_mem_eq (again, expect, expect_size);
    ck_assert_str_eq (kvp_registry_owner (registry, 299 % 64), "worker-299");
    ck_assert_str_eq (kvp_registry_token (registry, "worker-007"), "token-7");
    free (again);
    free (expect);
    kvp_registry_destroy (&registry);
}
END_TEST

//  Damage the registry in `dir` with `fn`, expect it refused as corrupt,
//  then put back the saved copy of the data file
static void
s_damaged (const char *dir, void (*fn) (MDB_env *env))
{
    char path [256], saved [256], cmd [600];
    snprintf (path, sizeof path, "%s/data.mdb", dir);
    snprintf (saved, sizeof saved, "%s/data.saved", dir);
    snprintf (cmd, sizeof cmd, "cp '%s' '%s'", path, saved);
    ck_assert_int_eq (system (cmd), 0);
    MDB_env *env = s_raw_open (dir);
    fn (env);
    mdb_env_close (env);
    int rc = 0;
    ck_assert_ptr_null (kvp_registry_new (dir, 0, &rc));
    ck_assert_int_eq (rc, KVP_STORE_CORRUPT);
    ck_assert_int_eq (rename (saved, path), 0);
}

static void
s_damage_record (MDB_env *env)
{
    uint64_t first, last;
    s_raw_record_range (env, &first, &last);
    uint8_t key [8];
    kvp_lmdb_put_u64 (key, last);
    size_t size;
    uint8_t *record = s_raw_get (env, "records", key, 8, &size);
    record [size / 2] ^= 1;
    s_raw_put (env, "records", key, 8, record, size);
    free (record);
}

static void
s_damage_gap (MDB_env *env)
{
    uint64_t first, last;
    s_raw_record_range (env, &first, &last);
    uint8_t key [8];
    kvp_lmdb_put_u64 (key, first + 1);
    s_raw_del (env, "records", key, 8);
}

static void
s_damage_snapshot (MDB_env *env)
{
    size_t size;
    uint8_t *snap = s_raw_get (env, "snapshot", "state", 5, &size);
    snap [size - 1] ^= 0x80;
    s_raw_put (env, "snapshot", "state", 5, snap, size);
    free (snap);
}

//  A record that decodes but the state refuses: a stale epoch
static void
s_damage_refused (MDB_env *env)
{
    uint64_t first, last;
    s_raw_record_range (env, &first, &last);
    kvp_decision_t stale = { .type = KVP_DECISION_LEADER, .part = 0,
                             .epoch = 1, .worker = "w" };
    uint8_t bytes [64], key [8];
    size_t len = kvp_decision_encode (&stale, bytes, sizeof bytes);
    kvp_lmdb_put_u64 (key, last + 1);
    s_raw_put (env, "records", key, 8, bytes, len);
}

static void
s_damage_layout (MDB_env *env)
{
    uint8_t bytes [8];
    kvp_lmdb_put_u32 (bytes, 8);
    kvp_lmdb_put_u32 (bytes + 4, 3);
    s_raw_put (env, "config", "nparts", 6, bytes, 8);
}

//  A record or snapshot that does not decode, a gap, a record the state
//  refuses, an unknown layout: refused as corrupt, never half opened
START_TEST (test_corrupt)
{
    const char *dir = s_dir ("corrupt");
    kvp_registry_t *registry = s_open (dir, 8);
    char name [32];
    for (int i = 0; i < 100; i++) {
        snprintf (name, sizeof name, "w%d", i % 10);
        ck_assert_int_eq (kvp_registry_assign (registry, (uint32_t) i % 8,
                                               name), 0);
    }
    kvp_registry_destroy (&registry);
    s_damaged (dir, s_damage_record);
    s_damaged (dir, s_damage_gap);
    s_damaged (dir, s_damage_snapshot);
    s_damaged (dir, s_damage_refused);
    s_damaged (dir, s_damage_layout);
    registry = s_open (dir, 8);         //  the copy put back opens
    ck_assert_uint_eq (kvp_registry_seq (registry), 101);
    kvp_registry_destroy (&registry);
}
END_TEST

//  --- Crashes -------------------------------------------------------------

#define S_CRASH_ROUNDS  12
#define S_CRASH_MAX     2000        //  records a child applies at most

//  The seed of the record that follows record `seq`
static uint64_t
s_crash_seed (uint64_t seq)
{
    return 0x5eed0000ull + seq * 7919;
}

//  Apply records until killed, telling the parent each sequence number
//  that committed
static void
s_crash_child (const char *dir, int fd)
{
    kvp_registry_t *registry = kvp_registry_new_replicated (dir, 16, 3, 2,
                                                            NULL);
    if (!registry)
        _exit (3);
    for (int i = 0; i < S_CRASH_MAX; i++) {
        kvp_decision_t record;
        tk_decision_next (kvp_registry_state (registry),
                          s_crash_seed (kvp_registry_seq (registry)),
                          &record);
        if (kvp_registry_apply (registry, &record, NULL, 0))
            _exit (4);
        uint64_t seq = kvp_registry_seq (registry);
        if (write (fd, &seq, sizeof seq) != sizeof seq)
            _exit (5);
    }
    raise (SIGKILL);
}

//  The state of the first `count` records, folded in memory
static kvp_regstate_t *
s_crash_fold (uint64_t count)
{
    kvp_regstate_t *state = s_twin (16, 3, 2);
    for (uint64_t seq = 1; seq < count; seq++) {
        kvp_decision_t record;
        tk_decision_next (state, s_crash_seed (seq), &record);
        ck_assert_int_eq (kvp_regstate_apply (state, &record, NULL, 0), 0);
    }
    return state;
}

//  Run a child, let it commit `acks` records, kill it some microseconds
//  later; returns the last sequence number it said committed
static uint64_t
s_crash_round (const char *dir, int acks, useconds_t delay)
{
    int fds [2];
    ck_assert_int_eq (pipe (fds), 0);
    pid_t pid = fork ();
    ck_assert_int_ge (pid, 0);
    if (pid == 0) {
        close (fds [0]);
        s_crash_child (dir, fds [1]);
    }
    close (fds [1]);
    uint64_t seq = 0, last = 0;
    for (int i = 0; i < acks && read (fds [0], &seq, sizeof seq)
                                == sizeof seq; i++)
        last = seq;
    usleep (delay);
    kill (pid, SIGKILL);
    int status;
    ck_assert_int_eq (waitpid (pid, &status, 0), pid);
    ck_assert (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
    while (read (fds [0], &seq, sizeof seq) == sizeof seq)
        last = seq;
    close (fds [0]);
    return last;
}

//  A process applying records killed at random points: reopened, the
//  state is the fold of the records that committed, each one whole, and
//  every record it was told committed is there
START_TEST (test_crash)
{
    const char *dir = s_dir ("crash");
    uint64_t seed = (uint64_t) getpid ();
    uint64_t total = 1;                 //  the reopen makes the CREATE
    for (int round = 0; round < S_CRASH_ROUNDS; round++) {
        int acks = (int) (tk_rand (&seed) % 150);
        useconds_t delay = (useconds_t) (tk_rand (&seed) % 3000);
        uint64_t acked = s_crash_round (dir, acks, delay);
        kvp_registry_t *registry = s_open_replicated (dir);
        //  All it said committed, and at most the one it had no time to
        uint64_t seq = kvp_registry_seq (registry);
        uint64_t floor = acked > total? acked: total;
        ck_assert_uint_ge (seq, floor);
        ck_assert_uint_le (seq, floor + 1);
        kvp_regstate_t *expect = s_crash_fold (seq);
        ck_assert_msg (kvp_regstate_equal (kvp_registry_state (registry),
                                           expect),
                       "round %d: the state is not the fold of %llu records",
                       round, (unsigned long long) seq);
        kvp_regstate_destroy (&expect);
        kvp_registry_destroy (&registry);
        total = seq;
    }
    //  The rounds went through snapshots, and left a tail after one
    ck_assert_uint_gt (total, 300);
    MDB_env *env = s_raw_open (dir);
    size_t size = 0;
    free (s_raw_get (env, "snapshot", "state", 5, &size));
    ck_assert_uint_gt (size, 0);
    mdb_env_close (env);
}
END_TEST

//  N = 65536 in the old layout, every partition owned by one of 64
//  workers: converted, then opened again, timed; conversions killed at
//  random points leave a directory that opens to the same state
START_TEST (test_large)
{
    static const char *owners [65536];
    static char names [64][24];
    const char *tokens [2 * 64 + 1] = { NULL };
    for (int i = 0; i < 64; i++) {
        snprintf (names [i], sizeof names [i], "worker-%02d", i);
        tokens [2 * i] = names [i];
        tokens [2 * i + 1] = "a-token-of-some-length-0123456789";
    }
    for (uint32_t part = 0; part < 65536; part++)
        owners [part] = names [(part * 37) % 64];
    char dir [128];
    snprintf (dir, sizeof dir, "%s", s_dir ("large"));
    s_write_old (dir, 65536, owners, tokens);
    int64_t start = zclock_usecs ();
    kvp_registry_t *registry = s_open (dir, 65536);
    int64_t convert = zclock_usecs () - start;
    ck_assert_uint_eq (kvp_registry_seq (registry), 1 + 64 + 65536);
    kvp_registry_destroy (&registry);
    start = zclock_usecs ();
    registry = s_open (dir, 65536);
    int64_t reopen = zclock_usecs () - start;
    for (uint32_t part = 0; part < 65536; part += 997)
        ck_assert_str_eq (kvp_registry_owner (registry, part), owners [part]);
    ck_assert_str_eq (kvp_registry_token (registry, "worker-63"),
                      tokens [127]);
    printf ("registry of 65536 partitions: converted in %.1f ms, "
            "opened in %.1f ms\n", convert / 1000.0, reopen / 1000.0);
    fflush (stdout);                    //  not again from a child
    ck_assert_int_lt (reopen, 2000000);

    char killed [128];
    snprintf (killed, sizeof killed, "%s", s_dir ("large-killed"));
    s_write_old (killed, 65536, owners, tokens);
    uint64_t seed = (uint64_t) getpid ();
    for (int round = 0; round < 3; round++) {
        pid_t pid = fork ();
        ck_assert_int_ge (pid, 0);
        if (pid == 0) {
            kvp_registry_new (killed, 65536, NULL);
            raise (SIGKILL);
        }
        usleep ((useconds_t) (tk_rand (&seed) % (convert + 1)));
        kill (pid, SIGKILL);
        int status;
        ck_assert_int_eq (waitpid (pid, &status, 0), pid);
    }
    kvp_registry_t *again = s_open (killed, 65536);
    ck_assert (kvp_regstate_equal (kvp_registry_state (again),
                                   kvp_registry_state (registry)));
    //  One more record after all that, and it stays
    ck_assert_int_eq (kvp_registry_assign (again, 1, "worker-00"), 0);
    kvp_registry_destroy (&again);
    again = s_open (killed, 65536);
    ck_assert_str_eq (kvp_registry_owner (again, 1), "worker-00");
    kvp_registry_destroy (&again);
    kvp_registry_destroy (&registry);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("registry");
    TCase *tc = tcase_create ("registry");
    tcase_add_unchecked_fixture (tc, tk_root_setup, tk_root_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_nparts);
    tcase_add_test (tc, test_owners);
    tcase_add_test (tc, test_tokens);
    tcase_add_test (tc, test_many);
    suite_add_tcase (suite, tc);
    TCase *records = tcase_create ("records");
    tcase_add_unchecked_fixture (records, tk_root_setup, tk_root_teardown);
    tcase_set_timeout (records, 60);
    tcase_add_test (records, test_apply);
    tcase_add_test (records, test_shape);
    tcase_add_test (records, test_migrate);
    tcase_add_test (records, test_migrate_corrupt);
    tcase_add_test (records, test_snapshot);
    tcase_add_test (records, test_corrupt);
    suite_add_tcase (suite, records);
    TCase *crash = tcase_create ("crash");
    tcase_add_unchecked_fixture (crash, tk_root_setup, tk_root_teardown);
    tcase_set_timeout (crash, 180);
    tcase_add_test (crash, test_crash);
    tcase_add_test (crash, test_large);
    suite_add_tcase (suite, crash);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
