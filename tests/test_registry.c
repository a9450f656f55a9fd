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
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
