/*  test_store.c - the worker's LMDB store (store/kvp_store.h).

    Each test works in its own folder under a per-case temporary root that
    the parent process removes after the case, even when a test fails.
*/
#include <check.h>
#include <signal.h>
#include <sys/wait.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lmdb.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include "kvp_store.h"
#include "kvp_walseg.h"
#include "kvp_testkit.h"
#include "kvp_fnv.h"

static const char *
s_dir (const char *name)
{
    static char dir [128];
    snprintf (dir, sizeof dir, "%s/%s/data", tk_root (), name);
    return dir;
}

static kvp_store_t *
s_open (const char *dir, size_t map_size, size_t map_max)
{
    kvp_store_config_t config = { .map_size = map_size, .map_max = map_max,
                                  .nosync = true, .wal_segment = 64 << 10 };
    int rc = -1;
    kvp_store_t *store = kvp_store_new (dir, &config, &rc);
    ck_assert_ptr_nonnull (store);
    ck_assert_int_eq (rc, KVP_STORE_OK);
    return store;
}

static void
s_guid (uint8_t guid [16], int n)
{
    for (int i = 0; i < 16; i++)
        guid [i] = (uint8_t) (n * 31 + i);
}

//  Put one item (must succeed)
static void
s_put (kvp_store_t *store, uint32_t part, const uint8_t *guid,
       uint32_t source, const char *name, const char *data)
{
    int rc = kvp_store_item_put (store, part, guid, source, name,
                                 strlen (name), data, strlen (data), true);
    ck_assert_int_eq (rc, KVP_STORE_OK);
}

//  Is item `name` there with `data` (NULL: must be absent)?
static void
s_expect (kvp_store_t *store, uint32_t part, const uint8_t *guid,
          uint32_t source, const char *name, const char *data)
{
    const char *got;
    size_t len;
    int rc = kvp_store_item_get (store, part, guid, source, name,
                                 strlen (name), &got, &len);
    if (!data)
        ck_assert_int_eq (rc, KVP_STORE_NOTFOUND);
    else {
        ck_assert_int_eq (rc, KVP_STORE_OK);
        ck_assert_uint_eq (len, strlen (data));
        ck_assert (memcmp (got, data, len) == 0);
    }
}

//  items_each visitor: counts, and checks (Source, Name) strictly ascends
typedef struct {
    size_t count;
    uint32_t source;
    char name [70000];
    size_t name_len;
    uint32_t only;                  //  every item must have this Source,
                                    //  unless UINT32_MAX
} s_walk_t;

static int
s_walk_fn (void *arg, uint32_t source, const char *name, size_t name_len,
           const char *data, size_t data_len)
{
    s_walk_t *walk = (s_walk_t *) arg;
    if (walk->only != UINT32_MAX)
        ck_assert_uint_eq (source, walk->only);
    if (walk->count) {
        size_t common = name_len < walk->name_len? name_len: walk->name_len;
        int cmp = memcmp (walk->name, name, common);
        ck_assert (source > walk->source
               || (source == walk->source
               &&  (cmp < 0 || (cmp == 0 && walk->name_len < name_len))));
    }
    walk->count++;
    walk->source = source;
    memcpy (walk->name, name, name_len);
    walk->name_len = name_len;
    return 0;
}

static size_t
s_count (kvp_store_t *store, uint32_t part, const uint8_t *guid,
         uint32_t source)
{
    static s_walk_t walk;
    memset (&walk, 0, sizeof walk);
    walk.only = source;
    int rc = kvp_store_items_each (store, part, guid, source, NULL,
                                   s_walk_fn, &walk);
    ck_assert_int_eq (rc, 0);
    return walk.count;
}

//  --- Basics ---------------------------------------------------------------

START_TEST (test_fnv)
{
    //  Published FNV-1a 128 values
    uint8_t out [16];
    kvp_fnv_128 (NULL, 0, out);
    ck_assert_uint_eq (out [0], 0x6c);
    ck_assert_uint_eq (out [15], 0x8d);
    kvp_fnv_128 ("a", 1, out);
    const uint8_t a [16] = { 0xd2, 0x28, 0xcb, 0x69, 0x6f, 0x1a, 0x8c, 0xaf,
                             0x78, 0x91, 0x2b, 0x70, 0x4e, 0x4a, 0x89, 0x64 };
    ck_assert (memcmp (out, a, 16) == 0);
    kvp_fnv_128 ("foobar", 6, out);
    ck_assert_uint_eq (out [0], 0x34);
    ck_assert_uint_eq (out [15], 0x18);
}
END_TEST

START_TEST (test_open_meta)
{
    const char *dir = s_dir ("meta");
    kvp_store_t *store = s_open (dir, 0, 0);
    char value [16];
    ck_assert_int_eq (kvp_store_meta_get (store, "id", value, sizeof value),
                      KVP_STORE_NOTFOUND);
    ck_assert_int_eq (kvp_store_meta_put (store, "id", "worker-one-two"),
                      KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_meta_put (store, "", "x"), KVP_STORE_EINVAL);
    kvp_store_destroy (&store);
    ck_assert_ptr_null (store);
    kvp_store_destroy (&store);         //  safe twice

    store = s_open (dir, 0, 0);
    //  Truncated copy, full length returned
    ck_assert_int_eq (kvp_store_meta_get (store, "id", value, 6), 14);
    ck_assert_str_eq (value, "worke");
    ck_assert_int_eq (kvp_store_meta_get (store, "id", value, sizeof value),
                      14);
    ck_assert_str_eq (value, "worker-one-two");
    //  Not inside a batch
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_meta_get (store, "id", value, sizeof value),
                      KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_meta_put (store, "id", "x"),
                      KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_EINVAL);
    kvp_store_abort (store);
    kvp_store_abort (store);            //  safe with none open
    kvp_store_destroy (&store);

    for (int rc = KVP_STORE_EIO; rc <= 0; rc++)
        ck_assert_ptr_nonnull (kvp_store_strerror (rc));
    ck_assert_ptr_null (kvp_store_new (NULL, NULL, NULL));
}
END_TEST

START_TEST (test_no_batch)
{
    kvp_store_t *store = s_open (s_dir ("nobatch"), 0, 0);
    uint8_t guid [16];
    s_guid (guid, 1);
    kvp_system_t sys;
    uint32_t epoch;
    uint64_t seq;
    const char *data;
    size_t len;
    ck_assert_int_eq (kvp_store_system_get (store, 1, guid, &sys),
                      KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_item_put (store, 1, guid, 0, "a", 1, "b", 1,
                                          true), KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_item_get (store, 1, guid, 0, "a", 1, &data,
                                          &len), KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_log_next (store, 1, &epoch, &seq),
                      KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_commit (store), KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_op_begin (store), KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_op_end (store, true), KVP_STORE_EINVAL);
    //  Bad arguments inside a batch
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_item_put (store, 1, guid, 256, "a", 1, "b",
                                          1, true), KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_item_put (store, 1, guid, 0, "", 0, "b", 1,
                                          true), KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_item_put (store, 65536, guid, 0, "a", 1, "b",
                                          1, true), KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_items_each (store, 1, guid, 300, NULL,
                                            s_walk_fn, NULL),
                      KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_op_end (store, true), KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_commit (store), KVP_STORE_OK);
    kvp_store_destroy (&store);
}
END_TEST

//  --- Items ---------------------------------------------------------------

START_TEST (test_atomic_op)
{
    kvp_store_t *store = s_open (s_dir ("atomic"), 0, 0);
    uint8_t guid [16];
    s_guid (guid, 2);
    //  An op that writes several items then is undone leaves nothing
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_op_begin (store), KVP_STORE_OK);
    s_put (store, 3, guid, 0, "one", "1");
    s_put (store, 3, guid, 0, "two", "2");
    s_put (store, 3, guid, 4, "three", "3");
    ck_assert_uint_eq (s_count (store, 3, guid, UINT32_MAX), 3);
    ck_assert_int_eq (kvp_store_op_end (store, false), KVP_STORE_OK);
    ck_assert_uint_eq (s_count (store, 3, guid, UINT32_MAX), 0);
    //  A kept op in the same batch
    ck_assert_int_eq (kvp_store_op_begin (store), KVP_STORE_OK);
    s_put (store, 3, guid, 0, "a", "A");
    s_put (store, 3, guid, 0, "b", "B");
    ck_assert_int_eq (kvp_store_op_end (store, true), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_commit (store), KVP_STORE_OK);

    //  Add-style: the second item exists, the op is undone, a and b stay
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_op_begin (store), KVP_STORE_OK);
    s_put (store, 3, guid, 0, "c", "C");
    ck_assert_int_eq (kvp_store_item_put (store, 3, guid, 0, "a", 1, "X", 1,
                                          true), KVP_STORE_EXISTS);
    ck_assert_int_eq (kvp_store_op_end (store, false), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_commit (store), KVP_STORE_OK);

    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    s_expect (store, 3, guid, 0, "a", "A");
    s_expect (store, 3, guid, 0, "b", "B");
    s_expect (store, 3, guid, 0, "c", NULL);
    s_expect (store, 3, guid, 4, "a", NULL);    //  Source is part of the id
    //  Modify (create = false) and delete
    ck_assert_int_eq (kvp_store_item_put (store, 3, guid, 0, "a", 1, "", 0,
                                          false), KVP_STORE_OK);
    s_expect (store, 3, guid, 0, "a", "");
    ck_assert_int_eq (kvp_store_item_delete (store, 3, guid, 0, "b", 1),
                      KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_item_delete (store, 3, guid, 0, "b", 1),
                      KVP_STORE_NOTFOUND);
    s_expect (store, 3, guid, 0, "b", NULL);
    ck_assert_int_eq (kvp_store_commit (store), KVP_STORE_OK);
    kvp_store_destroy (&store);
}
END_TEST

START_TEST (test_128_items)
{
    kvp_store_t *store = s_open (s_dir ("many"), 0, 0);
    uint8_t guid [16];
    s_guid (guid, 3);
    char name [32], data [2048];
    memset (data, 'd', sizeof data - 1);
    data [sizeof data - 1] = '\0';
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_op_begin (store), KVP_STORE_OK);
    for (int i = 0; i < 128; i++) {
        snprintf (name, sizeof name, "item-%03d", 127 - i);
        s_put (store, 9, guid, i % 2? 4: 0, name, data);
    }
    ck_assert_int_eq (kvp_store_op_end (store, true), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_commit (store), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    ck_assert_uint_eq (s_count (store, 9, guid, UINT32_MAX), 128);
    ck_assert_uint_eq (s_count (store, 9, guid, 0), 64);
    ck_assert_uint_eq (s_count (store, 9, guid, 4), 64);
    ck_assert_uint_eq (s_count (store, 9, guid, 1), 0);
    for (int i = 0; i < 128; i++) {
        snprintf (name, sizeof name, "item-%03d", 127 - i);
        s_expect (store, 9, guid, i % 2? 4: 0, name, data);
    }
    kvp_store_abort (store);
    kvp_store_destroy (&store);
}
END_TEST

//  Names whose order LMDB's key order alone would get wrong: long names
//  (hashed past 476 bytes) sharing long prefixes with shorter ones
START_TEST (test_items_order)
{
    kvp_store_t *store = s_open (s_dir ("order"), 0, 0);
    uint8_t guid [16], other [16];
    s_guid (guid, 4);
    s_guid (other, 5);
    static char names [12][608];
    const size_t lengths [12] = { 1, 476, 477, 480, 492, 493, 493, 500, 511,
                                  511, 2, 600 };
    for (int i = 0; i < 12; i++) {
        memset (names [i], 'n', lengths [i]);
        names [i][lengths [i]] = '\0';
    }
    names [6][492] = 'a';               //  same length as 5, sorts first
    names [9][510] = 'z';               //  same length as 8, sorts last
    names [10][1] = 'o';                //  "no": after every "nnn..."
    names [11][479] = 'a';              //  long, sorts before 480 'n's
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    for (int i = 11; i >= 0; i--) {
        s_put (store, 7, guid, 4, names [i], names [i]);
        s_put (store, 7, guid, 0, names [i], "zero");
    }
    s_put (store, 7, other, 0, "n", "neighbour");
    s_put (store, 7, guid, 255, "last", "source 255");
    ck_assert_int_eq (kvp_store_commit (store), KVP_STORE_OK);

    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    ck_assert_uint_eq (s_count (store, 7, guid, UINT32_MAX), 25);
    ck_assert_uint_eq (s_count (store, 7, guid, 0), 12);
    ck_assert_uint_eq (s_count (store, 7, guid, 4), 12);
    ck_assert_uint_eq (s_count (store, 7, guid, 255), 1);
    ck_assert_uint_eq (s_count (store, 7, other, UINT32_MAX), 1);
    for (int i = 0; i < 12; i++)
        s_expect (store, 7, guid, 4, names [i], names [i]);
    //  Long names that share the key's 476-byte head are distinct items
    ck_assert_int_eq (kvp_store_item_delete (store, 7, guid, 4, names [5],
                                             493), KVP_STORE_OK);
    s_expect (store, 7, guid, 4, names [5], NULL);
    s_expect (store, 7, guid, 4, names [6], names [6]);
    ck_assert_int_eq (kvp_store_item_put (store, 7, guid, 4, names [6], 493,
                                          "x", 1, true), KVP_STORE_EXISTS);
    ck_assert_uint_eq (s_count (store, 7, guid, 4), 11);
    kvp_store_abort (store);
    kvp_store_destroy (&store);
}
END_TEST

//  What a walk from a position handed on, in order
#define S_GOT_MAX   32
typedef struct {
    size_t count;
    uint32_t sources [S_GOT_MAX];
    char names [S_GOT_MAX][608];
    size_t lens [S_GOT_MAX];
    size_t stop;                    //  stop (return 7) after this many
} s_got_t;

static int
s_got_fn (void *arg, uint32_t source, const char *name, size_t name_len,
          const char *data, size_t data_len)
{
    s_got_t *got = (s_got_t *) arg;
    ck_assert_uint_lt (got->count, S_GOT_MAX);
    ck_assert_uint_le (name_len, sizeof got->names [0]);
    got->sources [got->count] = source;
    memcpy (got->names [got->count], name, name_len);
    got->lens [got->count++] = name_len;
    return got->count == got->stop? 7: 0;
}

//  (Source, Name) order, shorter first on a tie
static int
s_order (uint64_t sa, const char *a, size_t la, uint64_t sb, const char *b,
         size_t lb)
{
    if (sa != sb)
        return sa < sb? -1: 1;
    int cmp = memcmp (a, b, la < lb? la: lb);
    return cmp? cmp: la == lb? 0: la < lb? -1: 1;
}

//  Walk from `after` (with the filter `source`) and check the result is
//  exactly the items of `all` that sort after it and pass the filter
static void
s_check_after (kvp_store_t *store, const uint8_t *guid, uint32_t source,
               const s_got_t *all, uint64_t after_source, const char *name,
               size_t len)
{
    static s_got_t got;
    memset (&got, 0, sizeof got);
    kvp_store_after_t after = { after_source, name, len };
    ck_assert_int_eq (kvp_store_items_each (store, 7, guid, source, &after,
                                            s_got_fn, &got), 0);
    size_t want = 0;
    for (size_t i = 0; i < all->count; i++) {
        if ((source != UINT32_MAX && all->sources [i] != source)
        ||  s_order (all->sources [i], all->names [i], all->lens [i],
                     after_source, name, len) <= 0)
            continue;
        ck_assert_msg (want < got.count, "after (%llu, %zu bytes): missing "
                       "item %zu", (unsigned long long) after_source, len, i);
        ck_assert_uint_eq (got.sources [want], all->sources [i]);
        ck_assert_uint_eq (got.lens [want], all->lens [i]);
        ck_assert (memcmp (got.names [want], all->names [i], got.lens [want])
                   == 0);
        want++;
    }
    ck_assert_uint_eq (got.count, want);
}

//  Walks from every position near each item of the system, with each
//  Source filter; `all` gets the whole walk first
static void
s_check_positions (kvp_store_t *store, const uint8_t *guid, s_got_t *all,
                   size_t count)
{
    memset (all, 0, sizeof *all);
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_items_each (store, 7, guid, UINT32_MAX, NULL,
                                            s_got_fn, all), 0);
    ck_assert_uint_eq (all->count, count);
    static const uint32_t filters [3] = { UINT32_MAX, 0, 4 };
    static char name [700];
    for (int f = 0; f < 3; f++) {
        uint32_t source = filters [f];
        for (size_t i = 0; i < all->count; i++) {
            size_t len = all->lens [i];
            uint32_t at = all->sources [i];
            memcpy (name, all->names [i], len);
            //  The item itself, a name just after it, one cut short, and
            //  one whose last byte is one more
            s_check_after (store, guid, source, all, at, name, len);
            name [len] = 0;
            s_check_after (store, guid, source, all, at, name, len + 1);
            s_check_after (store, guid, source, all, at, name, len - 1);
            name [len - 1]++;
            s_check_after (store, guid, source, all, at, name, len);
        }
        //  Only a Source: before its first name; past what the store keeps
        for (uint64_t at = 0; at < 6; at++)
            s_check_after (store, guid, source, all, at, NULL, 0);
        s_check_after (store, guid, source, all, 255, "last", 4);
        s_check_after (store, guid, source, all, 256, "a", 1);
        s_check_after (store, guid, source, all, UINT64_MAX, "a", 1);
    }
    kvp_store_abort (store);
}

//  A walk from any position, an item's or one between items, gives exactly
//  the items after it, in order: with the long names of test_items_order,
//  whose keys sort otherwise, as well; items in the overlay, in LMDB, and
//  in both
START_TEST (test_items_after)
{
    kvp_store_t *store = s_open (s_dir ("after"), 0, 0);
    uint8_t guid [16];
    s_guid (guid, 4);
    static char names [12][608];
    const size_t lengths [12] = { 1, 476, 477, 480, 492, 493, 493, 500, 511,
                                  511, 2, 600 };
    for (int i = 0; i < 12; i++) {
        memset (names [i], 'n', lengths [i]);
        names [i][lengths [i]] = '\0';
    }
    names [6][492] = 'a';
    names [9][510] = 'z';
    names [10][1] = 'o';
    names [11][479] = 'a';
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    for (int i = 11; i >= 0; i--) {
        s_put (store, 7, guid, 4, names [i], "four");
        if (i % 3)
            s_put (store, 7, guid, 0, names [i], "zero");
    }
    s_put (store, 7, guid, 255, "last", "source 255");
    ck_assert_int_eq (kvp_store_commit (store), KVP_STORE_OK);
    static s_got_t all;
    s_check_positions (store, guid, &all, 21);
    ck_assert_int_eq (kvp_store_checkpoint (store, 10000), KVP_STORE_OK);
    s_check_positions (store, guid, &all, 21);
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    for (int i = 0; i < 12; i += 3)
        s_put (store, 7, guid, 0, names [i], "zero");
    ck_assert_int_eq (kvp_store_item_delete (store, 7, guid, 4, names [7],
                                             lengths [7]), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_commit (store), KVP_STORE_OK);
    s_check_positions (store, guid, &all, 24);

    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    //  A non-zero return stops the walk, in a run of long names too
    for (size_t stop = 1; stop < all.count; stop++) {
        static s_got_t got;
        memset (&got, 0, sizeof got);
        got.stop = stop;
        ck_assert_int_eq (kvp_store_items_each (store, 7, guid, UINT32_MAX,
                                                NULL, s_got_fn, &got), 7);
        ck_assert_uint_eq (got.count, stop);
    }
    kvp_store_after_t bad = { 0, NULL, 3 };
    ck_assert_int_eq (kvp_store_items_each (store, 7, guid, UINT32_MAX, &bad,
                                            s_got_fn, &all), KVP_STORE_EINVAL);
    kvp_store_abort (store);
    kvp_store_destroy (&store);
}
END_TEST

//  A stored long-name record whose key is another name's: the store must
//  treat it as another item (the hash collision case)
START_TEST (test_long_name_collision)
{
    const char *dir = s_dir ("collide");
    kvp_store_t *store = s_open (dir, 0, 0);
    kvp_store_destroy (&store);
    char asked [500], stored [500];
    memset (asked, 'q', sizeof asked);
    memcpy (stored, asked, sizeof stored);
    stored [499] = 'r';
    uint8_t key [511] = { 0, 1 };
    s_guid (key + 2, 6);
    key [18] = 0;
    memcpy (key + 19, asked, 476);
    kvp_fnv_128 (asked, sizeof asked, key + 495);
    uint8_t value [2 + 500 + 4] = { 500 >> 8, 500 & 0xff };
    memcpy (value + 2, stored, 500);
    memcpy (value + 502, "data", 4);

    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val mkey = { sizeof key, key }, mval = { sizeof value, value };
    ck_assert_int_eq (mdb_env_create (&env), 0);
    ck_assert_int_eq (mdb_env_set_maxdbs (env, 8), 0);
    ck_assert_int_eq (mdb_env_open (env, dir, 0, 0644), 0);
    ck_assert_int_eq (mdb_txn_begin (env, NULL, 0, &txn), 0);
    ck_assert_int_eq (mdb_dbi_open (txn, "items", 0, &dbi), 0);
    ck_assert_int_eq (mdb_put (txn, dbi, &mkey, &mval, 0), 0);
    ck_assert_int_eq (mdb_txn_commit (txn), 0);
    mdb_env_close (env);

    store = s_open (dir, 0, 0);
    uint8_t guid [16];
    s_guid (guid, 6);
    const char *data;
    size_t len;
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_item_get (store, 1, guid, 0, asked, 500,
                                          &data, &len), KVP_STORE_NOTFOUND);
    ck_assert_int_eq (kvp_store_item_delete (store, 1, guid, 0, asked, 500),
                      KVP_STORE_NOTFOUND);
    ck_assert_int_eq (kvp_store_item_get (store, 1, guid, 0, stored, 500,
                                          &data, &len), KVP_STORE_NOTFOUND);
    ck_assert_uint_eq (s_count (store, 1, guid, 0), 1);
    ck_assert_int_eq (kvp_store_item_put (store, 1, guid, 0, asked, 500,
                                          "x", 1, true), KVP_STORE_EIO);
    kvp_store_abort (store);
    kvp_store_destroy (&store);
}
END_TEST

START_TEST (test_reopen)
{
    const char *dir = s_dir ("reopen");
    kvp_store_t *store = s_open (dir, 0, 0);
    uint8_t guid [16];
    s_guid (guid, 7);
    kvp_system_t sys = { "vm one", 6, true, 1234567 };
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_system_put (store, 2, guid, &sys, true),
                      KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_system_put (store, 2, guid, &sys, true),
                      KVP_STORE_EXISTS);
    s_put (store, 2, guid, 0, "k", "v");
    ck_assert_int_eq (kvp_store_commit (store), KVP_STORE_OK);
    kvp_store_destroy (&store);

    store = s_open (dir, 0, 0);
    kvp_system_t got;
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_system_get (store, 2, guid, &got),
                      KVP_STORE_OK);
    ck_assert_str_eq (got.name, "vm one");
    ck_assert_uint_eq (got.name_len, 6);
    ck_assert (got.exchange);
    ck_assert_uint_eq (got.created_ms, 1234567);
    s_expect (store, 2, guid, 0, "k", "v");
    //  Modify the system (create = false)
    sys.exchange = false;
    ck_assert_int_eq (kvp_store_system_put (store, 2, guid, &sys, false),
                      KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_system_get (store, 2, guid, &got),
                      KVP_STORE_OK);
    ck_assert (!got.exchange);
    ck_assert_int_eq (kvp_store_system_get (store, 3, guid, &got),
                      KVP_STORE_NOTFOUND);
    kvp_store_abort (store);
    kvp_store_destroy (&store);
}
END_TEST

//  --- Log, keys, partitions ----------------------------------------------

static void
s_log (kvp_store_t *store, uint32_t part, const uint8_t *guid,
       uint64_t time_ms, const char *key, uint8_t digest_byte,
       uint64_t *seq_out)
{
    uint32_t epoch;
    uint64_t seq;
    uint8_t digest [16];
    memset (digest, digest_byte, 16);
    char event [32];
    snprintf (event, sizeof event, "event %u at %llu", part,
              (unsigned long long) time_ms);
    ck_assert_int_eq (kvp_store_log_next (store, part, &epoch, &seq),
                      KVP_STORE_OK);
    ck_assert_uint_ne (epoch, 0);
    ck_assert_int_eq (kvp_store_log_put (store, part, seq, time_ms, guid,
                                         key, key? strlen (key): 0, digest,
                                         event, strlen (event)),
                      KVP_STORE_OK);
    if (seq_out)
        *seq_out = seq;
}

typedef struct {
    uint64_t seqs [64];
    size_t count;
} s_seqs_t;

static int
s_seq_fn (void *arg, uint32_t part, uint64_t seq, const void *event,
          size_t event_len)
{
    s_seqs_t *seqs = (s_seqs_t *) arg;
    ck_assert_uint_lt (seqs->count, 64);
    ck_assert_uint_gt (event_len, 0);
    seqs->seqs [seqs->count++] = seq;
    return 0;
}

START_TEST (test_log_seq)
{
    const char *dir = s_dir ("log");
    kvp_store_t *store = s_open (dir, 0, 0);
    uint8_t guid [16];
    s_guid (guid, 8);
    kvp_partition_t info;
    uint32_t epoch, epoch2;
    uint64_t seq;
    //  An aborted batch forgets a partition it created
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_log_next (store, 5, &epoch, &seq),
                      KVP_STORE_OK);
    ck_assert_uint_eq (seq, 1);
    ck_assert_int_eq (kvp_store_partition_get (store, 5, &info),
                      KVP_STORE_OK);
    kvp_store_abort (store);
    ck_assert_int_eq (kvp_store_partition_get (store, 5, &info),
                      KVP_STORE_NOTFOUND);

    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    //  log_put needs the partition record and the next seq
    ck_assert_int_eq (kvp_store_log_put (store, 5, 1, 10, guid, NULL, 0,
                                         NULL, "e", 1), KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_log_next (store, 5, &epoch, &seq),
                      KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_log_put (store, 5, 2, 10, guid, NULL, 0,
                                         NULL, "e", 1), KVP_STORE_EINVAL);
    for (int i = 0; i < 3; i++)
        s_log (store, 5, guid, 100 + i, NULL, 0, NULL);
    s_log (store, 65535, guid, 100, NULL, 0, &seq);
    ck_assert_uint_eq (seq, 1);
    ck_assert_int_eq (kvp_store_log_next (store, 5, &epoch2, &seq),
                      KVP_STORE_OK);
    ck_assert_uint_eq (seq, 4);
    ck_assert_uint_eq (epoch2, epoch);
    ck_assert_int_eq (kvp_store_partition_sent (store, 5, 2), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_partition_sent (store, 5, 4),
                      KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_partition_sent (store, 6, 0),
                      KVP_STORE_NOTFOUND);
    ck_assert_int_eq (kvp_store_commit (store), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_meta_put (store, "id", "w"), KVP_STORE_OK);
    kvp_store_destroy (&store);

    //  Epoch and seq persist; the log reads back in order
    store = s_open (dir, 0, 0);
    ck_assert_int_eq (kvp_store_partition_get (store, 5, &info),
                      KVP_STORE_OK);
    ck_assert_uint_eq (info.epoch, epoch);
    ck_assert_uint_eq (info.seq, 3);
    ck_assert_uint_eq (info.sent, 2);
    uint32_t *list;
    size_t count;
    ck_assert_int_eq (kvp_store_partitions (store, &list, &count),
                      KVP_STORE_OK);
    ck_assert_uint_eq (count, 2);       //  the "id" value is not one
    ck_assert_uint_eq (list [0], 5);
    ck_assert_uint_eq (list [1], 65535);
    free (list);
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    s_seqs_t seqs = { { 0 }, 0 };
    ck_assert_int_eq (kvp_store_log_each (store, 5, 2, s_seq_fn, &seqs), 0);
    ck_assert_uint_eq (seqs.count, 2);
    ck_assert_uint_eq (seqs.seqs [0], 2);
    ck_assert_uint_eq (seqs.seqs [1], 3);
    const void *event;
    size_t event_len;
    ck_assert_int_eq (kvp_store_log_get (store, 5, 3, &event, &event_len),
                      KVP_STORE_OK);
    ck_assert_uint_eq (event_len, strlen ("event 5 at 102"));
    ck_assert (memcmp (event, "event 5 at 102", event_len) == 0);
    ck_assert_int_eq (kvp_store_log_get (store, 5, 4, &event, &event_len),
                      KVP_STORE_NOTFOUND);
    s_log (store, 5, guid, 200, NULL, 0, &seq);
    ck_assert_uint_eq (seq, 4);
    ck_assert_int_eq (kvp_store_commit (store), KVP_STORE_OK);
    kvp_store_destroy (&store);
}
END_TEST

START_TEST (test_keys)
{
    kvp_store_t *store = s_open (s_dir ("keys"), 0, 0);
    uint8_t guid [16], other [16], digest [16];
    s_guid (guid, 9);
    s_guid (other, 10);
    uint64_t seq, got;
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    s_log (store, 1, guid, 10, "retry-1", 0xab, &seq);
    ck_assert_int_eq (kvp_store_key_get (store, 1, guid, "retry-1", 7, &got,
                                         digest), KVP_STORE_OK);
    ck_assert_uint_eq (got, seq);
    ck_assert_uint_eq (digest [0], 0xab);
    ck_assert_uint_eq (digest [15], 0xab);
    ck_assert_int_eq (kvp_store_key_get (store, 1, guid, "retry-2", 7, &got,
                                         digest), KVP_STORE_NOTFOUND);
    ck_assert_int_eq (kvp_store_key_get (store, 1, other, "retry-1", 7, &got,
                                         digest), KVP_STORE_NOTFOUND);
    //  A key without a digest is refused
    uint32_t epoch;
    ck_assert_int_eq (kvp_store_log_next (store, 1, &epoch, &seq),
                      KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_log_put (store, 1, seq, 11, guid, "k", 1,
                                         NULL, "e", 1), KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_commit (store), KVP_STORE_OK);
    kvp_store_destroy (&store);
}
END_TEST

START_TEST (test_system_delete)
{
    kvp_store_t *store = s_open (s_dir ("sysdel"), 0, 0);
    uint8_t guid [16], other [16];
    s_guid (guid, 11);
    s_guid (other, 12);
    kvp_system_t sys = { "vm", 2, true, 1 };
    char name [32];
    uint64_t seq, got;
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_system_put (store, 4, guid, &sys, true), 0);
    ck_assert_int_eq (kvp_store_system_put (store, 4, other, &sys, true), 0);
    //  Enough items to span many pages
    for (int i = 0; i < 300; i++) {
        snprintf (name, sizeof name, "item %d", i);
        s_put (store, 4, guid, i % 2? 0: 4, name, "some data here");
    }
    s_put (store, 4, other, 0, "item 1", "kept");
    s_log (store, 4, guid, 10, "key-a", 1, &seq);
    s_log (store, 4, other, 10, "key-a", 2, NULL);
    ck_assert_int_eq (kvp_store_commit (store), KVP_STORE_OK);

    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_system_delete (store, 4, guid), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_system_delete (store, 4, guid),
                      KVP_STORE_NOTFOUND);
    ck_assert_int_eq (kvp_store_commit (store), KVP_STORE_OK);

    kvp_system_t got_sys;
    const void *event;
    size_t event_len;
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_system_get (store, 4, guid, &got_sys),
                      KVP_STORE_NOTFOUND);
    ck_assert_uint_eq (s_count (store, 4, guid, UINT32_MAX), 0);
    ck_assert_int_eq (kvp_store_key_get (store, 4, guid, "key-a", 5, &got,
                                         NULL), KVP_STORE_NOTFOUND);
    ck_assert_int_eq (kvp_store_log_get (store, 4, seq, &event, &event_len),
                      KVP_STORE_OK);
    //  The neighbour is untouched
    ck_assert_int_eq (kvp_store_system_get (store, 4, other, &got_sys), 0);
    s_expect (store, 4, other, 0, "item 1", "kept");
    ck_assert_int_eq (kvp_store_key_get (store, 4, other, "key-a", 5, &got,
                                         NULL), KVP_STORE_OK);
    kvp_store_abort (store);
    kvp_store_destroy (&store);
}
END_TEST

//  Purge as a checkpoint does it: ask, checkpoint, read the count back
static size_t
s_purge (kvp_store_t *store, uint64_t before_ms, size_t max)
{
    size_t purged = 0;
    ck_assert_int_eq (kvp_store_purge (store, before_ms, max, &purged), 0);
    ck_assert_int_eq (kvp_store_checkpoint (store, 10000), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_purge (store, 0, 0, &purged), 0);
    return purged;
}

START_TEST (test_purge)
{
    kvp_store_t *store = s_open (s_dir ("purge"), 0, 0);
    uint8_t guid [16];
    s_guid (guid, 13);
    uint64_t seq, got;
    char key [16];
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    //  Partition 1: times 100..109 with keys k0..k9; partition 2: 100..104
    for (int i = 0; i < 10; i++) {
        snprintf (key, sizeof key, "k%d", i);
        s_log (store, 1, guid, 100 + i, key, 0, NULL);
    }
    for (int i = 0; i < 5; i++)
        s_log (store, 2, guid, 100 + i, i == 0? "p2": NULL, 0, NULL);
    //  Key k1 reused by a later job: purging job 2 must keep it
    s_log (store, 1, guid, 200, "k1", 0, &seq);
    ck_assert_int_eq (kvp_store_commit (store), KVP_STORE_OK);

    size_t purged = 99;
    ck_assert_uint_eq (s_purge (store, 105, 3), 3);
    ck_assert_uint_eq (s_purge (store, 105, 100), 7);  //  4, 5 of part 1;
                                                       //  all 5 of part 2
    ck_assert_uint_eq (s_purge (store, 105, 100), 0);

    const void *event;
    size_t len;
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_purge (store, 105, 1, &purged),
                      KVP_STORE_EINVAL);
    for (uint64_t s = 1; s <= 5; s++) {
        ck_assert_int_eq (kvp_store_log_get (store, 1, s, &event, &len),
                          KVP_STORE_NOTFOUND);
        ck_assert_int_eq (kvp_store_log_get (store, 2, s, &event, &len),
                          KVP_STORE_NOTFOUND);
    }
    ck_assert_int_eq (kvp_store_log_get (store, 1, 6, &event, &len), 0);
    ck_assert_int_eq (kvp_store_key_get (store, 1, guid, "k0", 2, &got,
                                         NULL), KVP_STORE_NOTFOUND);
    ck_assert_int_eq (kvp_store_key_get (store, 2, guid, "p2", 2, &got,
                                         NULL), KVP_STORE_NOTFOUND);
    ck_assert_int_eq (kvp_store_key_get (store, 1, guid, "k1", 2, &got,
                                         NULL), KVP_STORE_OK);
    ck_assert_uint_eq (got, seq);
    ck_assert_int_eq (kvp_store_key_get (store, 1, guid, "k5", 2, &got,
                                         NULL), KVP_STORE_OK);
    ck_assert_uint_eq (got, 6);
    //  The partition's seq is not affected by purging
    uint32_t epoch;
    ck_assert_int_eq (kvp_store_log_next (store, 2, &epoch, &seq), 0);
    ck_assert_uint_eq (seq, 6);
    kvp_store_abort (store);
    kvp_store_destroy (&store);
}
END_TEST

START_TEST (test_nested)
{
    kvp_store_t *store = s_open (s_dir ("nested"), 0, 0);
    uint8_t guid [16];
    s_guid (guid, 14);
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_op_begin (store), KVP_STORE_OK);
    s_put (store, 1, guid, 0, "outer", "o");
    ck_assert_int_eq (kvp_store_op_begin (store), KVP_STORE_OK);
    s_put (store, 1, guid, 0, "inner", "i");
    s_expect (store, 1, guid, 0, "outer", "o");     //  reads see parents
    ck_assert_int_eq (kvp_store_op_end (store, false), KVP_STORE_OK);
    s_expect (store, 1, guid, 0, "inner", NULL);
    ck_assert_int_eq (kvp_store_op_end (store, true), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_commit (store), KVP_STORE_OK);

    //  Four levels, not five; commit with ops open aborts everything
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq (kvp_store_op_begin (store), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_op_begin (store), KVP_STORE_EINVAL);
    s_put (store, 1, guid, 0, "deep", "d");
    ck_assert_int_eq (kvp_store_op_end (store, true), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_commit (store), KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_op_end (store, true), KVP_STORE_EINVAL);

    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    s_expect (store, 1, guid, 0, "outer", "o");
    s_expect (store, 1, guid, 0, "deep", NULL);
    kvp_store_abort (store);
    kvp_store_destroy (&store);
}
END_TEST

//  A short record on disk is CORRUPT, not a crash
START_TEST (test_corrupt)
{
    const char *dir = s_dir ("corrupt");
    kvp_store_t *store = s_open (dir, 0, 0);
    kvp_store_destroy (&store);
    uint8_t skey [18] = { 0, 1 }, pkey [2] = { 0, 3 }, lkey [10] = { 0, 3 };
    s_guid (skey + 2, 15);
    lkey [9] = 1;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi systems, meta, log, body;
    MDB_val key, val = { 5, "short" };
    //  Index records of partition 3: seq 2 names no body, seq 3 the body
    //  of seq 4, seq 5 a short body
    uint8_t ikey [3][10] = { { 0, 3 }, { 0, 3 }, { 0, 3 } };
    uint8_t lsn [3][8] = { { 0 } }, other [40] = { 0, 3 };
    for (int i = 0; i < 3; i++) {
        ikey [i][9] = (uint8_t) (i? 2 * i + 1: 2);
        lsn [i][7] = (uint8_t) (7 + i);
    }
    other [9] = 4;
    ck_assert_int_eq (mdb_env_create (&env), 0);
    ck_assert_int_eq (mdb_env_set_maxdbs (env, 8), 0);
    ck_assert_int_eq (mdb_env_open (env, dir, 0, 0644), 0);
    ck_assert_int_eq (mdb_txn_begin (env, NULL, 0, &txn), 0);
    ck_assert_int_eq (mdb_dbi_open (txn, "systems", 0, &systems), 0);
    ck_assert_int_eq (mdb_dbi_open (txn, "meta", 0, &meta), 0);
    ck_assert_int_eq (mdb_dbi_open (txn, "log", 0, &log), 0);
    ck_assert_int_eq (mdb_dbi_open (txn, "logbody", 0, &body), 0);
    for (int i = 0; i < 3; i++) {
        MDB_val ik = { 10, ikey [i] }, iv = { 8, lsn [i] };
        ck_assert_int_eq (mdb_put (txn, log, &ik, &iv, 0), 0);
    }
    key = (MDB_val) { 8, lsn [1] };
    MDB_val bval = { sizeof other, other };
    ck_assert_int_eq (mdb_put (txn, body, &key, &bval, 0), 0);
    key = (MDB_val) { 8, lsn [2] };
    ck_assert_int_eq (mdb_put (txn, body, &key, &val, 0), 0);
    key = (MDB_val) { sizeof skey, skey };
    ck_assert_int_eq (mdb_put (txn, systems, &key, &val, 0), 0);
    key = (MDB_val) { sizeof pkey, pkey };
    ck_assert_int_eq (mdb_put (txn, meta, &key, &val, 0), 0);
    key = (MDB_val) { sizeof lkey, lkey };
    ck_assert_int_eq (mdb_put (txn, log, &key, &val, 0), 0);
    ck_assert_int_eq (mdb_txn_commit (txn), 0);
    mdb_env_close (env);

    store = s_open (dir, 0, 0);
    kvp_partition_t info;
    kvp_system_t sys;
    const void *event;
    size_t len;
    uint32_t epoch;
    uint64_t seq;
    ck_assert_int_eq (kvp_store_partition_get (store, 3, &info),
                      KVP_STORE_CORRUPT);
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_system_get (store, 1, skey + 2, &sys),
                      KVP_STORE_CORRUPT);
    ck_assert_int_eq (kvp_store_log_next (store, 3, &epoch, &seq),
                      KVP_STORE_CORRUPT);
    ck_assert_int_eq (kvp_store_log_get (store, 3, 1, &event, &len),
                      KVP_STORE_CORRUPT);
    for (uint64_t s = 2; s <= 5; s += s == 3? 2: 1)
        ck_assert_int_eq (kvp_store_log_get (store, 3, s, &event, &len),
                          KVP_STORE_CORRUPT);
    kvp_store_abort (store);
    kvp_store_destroy (&store);
}
END_TEST

//  --- The log's layout on disk ---------------------------------------------

//  What the raw log databases of a closed store hold
typedef struct {
    size_t bodies, body_leaves;     //  logbody: records, leaf pages
    size_t jobs, index_leaves;      //  log (the index): records, leaf pages
    uint64_t first;                 //  lowest lsn
} s_raw_log_t;

//  Every index record names a body that starts with its part + seq
static void
s_raw_index_check (MDB_txn *txn, MDB_dbi index, MDB_dbi body)
{
    MDB_cursor *cursor;
    MDB_val key, val, bval;
    ck_assert_int_eq (mdb_cursor_open (txn, index, &cursor), 0);
    int rc = mdb_cursor_get (cursor, &key, &val, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get (cursor, &key, &val, MDB_NEXT)) {
        ck_assert_uint_eq (key.mv_size, 10);
        ck_assert_uint_eq (val.mv_size, 8);
        ck_assert_int_eq (mdb_get (txn, body, &val, &bval), 0);
        ck_assert_uint_ge (bval.mv_size, 10);
        ck_assert (memcmp (bval.mv_data, key.mv_data, 10) == 0);
    }
    ck_assert_int_eq (rc, MDB_NOTFOUND);
    mdb_cursor_close (cursor);
}

//  The lsns of the bodies run first, first + 1, ... with no gap
static void
s_raw_bodies_check (MDB_txn *txn, MDB_dbi body, s_raw_log_t *raw)
{
    MDB_cursor *cursor;
    MDB_val key, val;
    size_t count = 0;
    ck_assert_int_eq (mdb_cursor_open (txn, body, &cursor), 0);
    int rc = mdb_cursor_get (cursor, &key, &val, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get (cursor, &key, &val, MDB_NEXT)) {
        ck_assert_uint_eq (key.mv_size, 8);
        uint64_t lsn = 0;
        for (int i = 0; i < 8; i++)
            lsn = lsn << 8 | ((const uint8_t *) key.mv_data) [i];
        if (count == 0)
            raw->first = lsn;
        ck_assert_uint_eq (lsn, raw->first + count++);
    }
    ck_assert_int_eq (rc, MDB_NOTFOUND);
    mdb_cursor_close (cursor);
}

static void
s_raw_log (const char *dir, s_raw_log_t *raw)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi index, body;
    MDB_stat st;
    memset (raw, 0, sizeof *raw);
    ck_assert_int_eq (mdb_env_create (&env), 0);
    ck_assert_int_eq (mdb_env_set_maxdbs (env, 8), 0);
    ck_assert_int_eq (mdb_env_open (env, dir, MDB_RDONLY, 0644), 0);
    ck_assert_int_eq (mdb_txn_begin (env, NULL, MDB_RDONLY, &txn), 0);
    ck_assert_int_eq (mdb_dbi_open (txn, "log", 0, &index), 0);
    ck_assert_int_eq (mdb_dbi_open (txn, "logbody", 0, &body), 0);
    ck_assert_int_eq (mdb_stat (txn, body, &st), 0);
    raw->bodies = st.ms_entries;
    raw->body_leaves = st.ms_leaf_pages;
    ck_assert_uint_eq (st.ms_psize, 4096);
    ck_assert_int_eq (mdb_stat (txn, index, &st), 0);
    raw->jobs = st.ms_entries;
    raw->index_leaves = st.ms_leaf_pages;
    s_raw_index_check (txn, index, body);
    s_raw_bodies_check (txn, body, raw);
    mdb_txn_abort (txn);
    mdb_env_close (env);
}

#define S_EVENT_LEN  300
#define S_LOG_PARTS  8

//  Per partition: the jobs a walk from seq 1 finds, checking they run 1, 2,
//  ... and carry the event each was given
typedef struct {
    uint64_t count;
} s_jobs_t;

static int
s_jobs_fn (void *arg, uint32_t part, uint64_t seq, const void *event,
           size_t event_len)
{
    s_jobs_t *jobs = (s_jobs_t *) arg;
    ck_assert_uint_eq (seq, ++jobs->count);
    ck_assert_uint_eq (event_len, S_EVENT_LEN);
    ck_assert_int_eq (((const char *) event) [0], 'a' + (int) (seq % 26));
    return 0;
}

//  One batch of 16 jobs hopping between partitions, each 4th op undone;
//  the batch committed or (`abort`) aborted. Returns the jobs kept and
//  counts them per partition in kept [].
static uint64_t
s_log_batch (kvp_store_t *store, uint32_t *state, uint64_t time_ms,
             bool abort, uint64_t *kept)
{
    uint8_t guid [16];
    char event [S_EVENT_LEN];
    uint64_t count = 0, mine [S_LOG_PARTS] = { 0 };
    s_guid (guid, 19);
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    for (int i = 0; i < 16; i++) {
        *state = *state * 1103515245u + 12345u;
        uint32_t part = 100 + (*state >> 16) % S_LOG_PARTS, epoch;
        uint64_t seq;
        ck_assert_int_eq (kvp_store_op_begin (store), KVP_STORE_OK);
        ck_assert_int_eq (kvp_store_log_next (store, part, &epoch, &seq), 0);
        memset (event, 'a' + (int) (seq % 26), sizeof event);
        ck_assert_int_eq (kvp_store_log_put (store, part, seq,
                                             time_ms + count, guid, NULL, 0,
                                             NULL, event, sizeof event), 0);
        bool keep = i % 4 != 3;
        ck_assert_int_eq (kvp_store_op_end (store, keep), KVP_STORE_OK);
        count += keep;
        mine [part - 100] += keep;
    }
    if (abort) {
        kvp_store_abort (store);
        return 0;
    }
    ck_assert_int_eq (kvp_store_commit (store), KVP_STORE_OK);
    for (int p = 0; p < S_LOG_PARTS; p++)
        kept [p] += mine [p];
    return count;
}

//  Bodies are appended under a global lsn, so their pages fill up however
//  the partitions interleave; undone ops and batches take their lsns back
START_TEST (test_log_pages)
{
    char dir [128];
    strcpy (dir, s_dir ("logpages"));
    kvp_store_t *store = s_open (dir, 0, 0);
    uint32_t state = 1;
    uint64_t kept [S_LOG_PARTS] = { 0 }, total = 0;
    for (int batch = 0; batch < 32; batch++)
        total += s_log_batch (store, &state, 1000 + total, batch % 8 == 7,
                              kept);
    kvp_store_destroy (&store);
    ck_assert_uint_eq (total, 28 * 12);
    s_raw_log_t raw;
    s_raw_log (dir, &raw);
    ck_assert_uint_eq (raw.bodies, total);
    ck_assert_uint_eq (raw.jobs, total);
    ck_assert_uint_eq (raw.first, 1);
    //  About total * size / 4096 pages (a page holds 11 of these bodies),
    //  where inserts in the middle of each partition's range used to leave
    //  pages with a body or two
    ck_assert_uint_le (raw.body_leaves, total / (4000 / (S_EVENT_LEN + 64))
                                        + 2);
    ck_assert_uint_le (raw.index_leaves, total * 64 / 4000 + 2);

    //  Each partition reads back whole, in order
    store = s_open (dir, 0, 0);
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    for (uint32_t p = 0; p < S_LOG_PARTS; p++) {
        s_jobs_t jobs = { 0 };
        ck_assert_int_eq (kvp_store_log_each (store, 100 + p, 1, s_jobs_fn,
                                              &jobs), 0);
        ck_assert_uint_eq (jobs.count, kept [p]);
    }
    kvp_store_abort (store);
    //  Purging deletes bodies with their index records; the rest stays
    //  consistent and the next lsns follow the last body
    size_t purged = s_purge (store, 1000 + total / 2, 10000);
    ck_assert_uint_eq (purged, total / 2);
    total += s_log_batch (store, &state, 1000 + total, false, kept);
    kvp_store_destroy (&store);
    s_raw_log (dir, &raw);
    ck_assert_uint_eq (raw.bodies, total - purged);
    ck_assert_uint_eq (raw.jobs, total - purged);
    ck_assert_uint_eq (raw.first, purged + 1);
}
END_TEST

//  The layout is named in meta; another, or the first layout (jobs in
//  "log", no "logbody"), is refused and left alone
START_TEST (test_format)
{
    char dir [128], old [128];
    strcpy (dir, s_dir ("format"));
    kvp_store_t *store = s_open (dir, 0, 0);
    char value [8];
    ck_assert_int_eq (kvp_store_meta_get (store, "format", value,
                                          sizeof value), 1);
    ck_assert_str_eq (value, "2");
    ck_assert_int_eq (kvp_store_meta_put (store, "format", "3"), 0);
    kvp_store_destroy (&store);
    kvp_store_config_t config = { .nosync = true, .wal_segment = 64 << 10 };
    int rc = 0;
    ck_assert_ptr_null (kvp_store_new (dir, &config, &rc));
    ck_assert_int_eq (rc, KVP_STORE_MISMATCH);

    strcpy (old, s_dir ("format-old"));
    *strrchr (old, '/') = '\0';
    ck_assert_int_eq (mkdir (old, 0755), 0);
    strcpy (old, s_dir ("format-old"));
    ck_assert_int_eq (mkdir (old, 0755), 0);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi log, meta;
    uint8_t lkey [10] = { 0, 1, 0, 0, 0, 0, 0, 0, 0, 1 };
    MDB_val key = { sizeof lkey, lkey }, val = { 5, "a job" };
    ck_assert_int_eq (mdb_env_create (&env), 0);
    ck_assert_int_eq (mdb_env_set_maxdbs (env, 8), 0);
    ck_assert_int_eq (mdb_env_open (env, old, 0, 0644), 0);
    ck_assert_int_eq (mdb_txn_begin (env, NULL, 0, &txn), 0);
    ck_assert_int_eq (mdb_dbi_open (txn, "meta", MDB_CREATE, &meta), 0);
    ck_assert_int_eq (mdb_dbi_open (txn, "log", MDB_CREATE, &log), 0);
    ck_assert_int_eq (mdb_put (txn, log, &key, &val, 0), 0);
    ck_assert_int_eq (mdb_txn_commit (txn), 0);
    mdb_env_close (env);                //  one handle per process at a time
    rc = 0;
    ck_assert_ptr_null (kvp_store_new (old, &config, &rc));
    ck_assert_int_eq (rc, KVP_STORE_MISMATCH);
    ck_assert_int_eq (mdb_env_create (&env), 0);
    ck_assert_int_eq (mdb_env_set_maxdbs (env, 8), 0);
    ck_assert_int_eq (mdb_env_open (env, old, MDB_RDONLY, 0644), 0);
    ck_assert_int_eq (mdb_txn_begin (env, NULL, MDB_RDONLY, &txn), 0);
    ck_assert_int_eq (mdb_dbi_open (txn, "logbody", 0, &log), MDB_NOTFOUND);
    mdb_txn_abort (txn);
    mdb_env_close (env);
}
END_TEST

//  --- Full map and full disk ---------------------------------------------

#define S_BATCH 16

//  Write batches of S_BATCH items (~2 KB each) named from *next on, until
//  a put, op_end or commit says FULL; the failed batch is aborted. Returns
//  the number of batches committed. *next ends at the failed batch's start.
static int
s_fill (kvp_store_t *store, const uint8_t *guid, int *next)
{
    char name [32], data [2000];
    memset (data, 'f', sizeof data - 1);
    data [sizeof data - 1] = '\0';
    for (int batches = 0; batches < 10000; batches++) {
        int rc = kvp_store_begin (store);
        ck_assert_int_eq (rc, KVP_STORE_OK);
        for (int i = 0; i < S_BATCH && rc == KVP_STORE_OK; i++) {
            snprintf (name, sizeof name, "fill %06d", *next + i);
            rc = kvp_store_op_begin (store);
            if (rc == KVP_STORE_OK)
                rc = kvp_store_item_put (store, 1, guid, 0, name,
                                         strlen (name), data, strlen (data),
                                         true);
            int end = kvp_store_op_end (store, rc == KVP_STORE_OK);
            if (rc != KVP_STORE_OK)
                ck_assert_int_eq (end, rc);     //  the batch stays failed
            rc = rc? rc: end;
        }
        if (rc == KVP_STORE_OK)
            rc = kvp_store_commit (store);
        else {
            //  Everything in a failed batch reports the failure
            ck_assert_int_eq (kvp_store_item_put (store, 1, guid, 0, "x", 1,
                                                  "y", 1, true), rc);
            ck_assert_int_eq (kvp_store_commit (store), rc);
        }
        if (rc == KVP_STORE_FULL)
            return batches;
        ck_assert_int_eq (rc, KVP_STORE_OK);
        *next += S_BATCH;
    }
    ck_abort_msg ("the store never filled up");
    return 0;
}

//  Delete items [from, from + count) in one batch
static int
s_delete (kvp_store_t *store, const uint8_t *guid, int from, int count)
{
    char name [32];
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    for (int i = from; i < from + count; i++) {
        snprintf (name, sizeof name, "fill %06d", i);
        ck_assert_int_eq (kvp_store_item_delete (store, 1, guid, 0, name,
                                                 strlen (name)), 0);
    }
    return kvp_store_commit (store);
}

START_TEST (test_map_full)
{
    kvp_store_t *store = s_open (s_dir ("full"), 1 << 20, 1 << 20);
    uint8_t guid [16];
    s_guid (guid, 16);
    int next = 0;
    int batches = s_fill (store, guid, &next);
    ck_assert_int_gt (batches, 4);
    int again = next;
    ck_assert_int_eq (s_fill (store, guid, &again), 0);     //  still full
    //  Reads still work
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    ck_assert_uint_eq (s_count (store, 1, guid, 0), (size_t) next);
    kvp_store_abort (store);
    //  Deleting frees room: the failed batch then fits. LMDB reuses the
    //  pages a commit frees only from the commit after the next one on,
    //  hence two batches of deletes
    ck_assert_int_eq (s_delete (store, guid, 0, 2 * S_BATCH), KVP_STORE_OK);
    ck_assert_int_eq (s_delete (store, guid, 2 * S_BATCH, 2 * S_BATCH),
                      KVP_STORE_OK);
    int more = s_fill (store, guid, &next);
    ck_assert_int_ge (more, 1);
    kvp_store_destroy (&store);
}
END_TEST

//  In a full store the space one batch of deletes frees is usable by the
//  very next batch: the store commits once more on its own (LMDB reuses a
//  commit's freed pages only after one more commit).
START_TEST (test_map_full_reclaim)
{
    kvp_store_t *store = s_open (s_dir ("reclaim"), 1 << 20, 1 << 20);
    uint8_t guid [16];
    s_guid (guid, 18);
    int next = 0;
    ck_assert_int_gt (s_fill (store, guid, &next), 4);
    ck_assert_int_eq (s_delete (store, guid, 0, 4 * S_BATCH), KVP_STORE_OK);
    ck_assert_int_ge (s_fill (store, guid, &next), 1);
    kvp_store_destroy (&store);
}
END_TEST

START_TEST (test_map_fixed)
{
    //  The map is set once, at map_max: a 512 KiB start does not matter
    kvp_store_t *store = s_open (s_dir ("fixed"), 512 << 10, 2 << 20);
    uint8_t guid [16];
    s_guid (guid, 17);
    int next = 0;
    ck_assert_int_gt (s_fill (store, guid, &next), 20);     //  512 KiB: < 8
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    ck_assert_uint_eq (s_count (store, 1, guid, 0), (size_t) next);
    kvp_store_abort (store);
    kvp_store_destroy (&store);
}
END_TEST

//  A file size limit must give FULL, not SIGXFSZ. Check runs each test in
//  its own process, so the limit dies with it; without fork (CK_FORK=no,
//  as under valgrind) the test puts the old limit back.
START_TEST (test_fsize)
{
    const char *dir = s_dir ("fsize");
    kvp_store_config_t config = { .wal_segment = 64 << 10 };
    kvp_store_t *store = kvp_store_new (dir, &config, NULL);
    ck_assert_ptr_nonnull (store);
    uint8_t guid [16];
    s_guid (guid, 18);
    char path [200];
    struct stat st;
    snprintf (path, sizeof path, "%s/data.mdb", dir);
    ck_assert_int_eq (stat (path, &st), 0);
    struct rlimit saved, limit;
    ck_assert_int_eq (getrlimit (RLIMIT_FSIZE, &saved), 0);
    limit = saved;
    limit.rlim_cur = st.st_size + (256 << 10);
    ck_assert_int_eq (setrlimit (RLIMIT_FSIZE, &limit), 0);
    int next = 0;
    int batches = s_fill (store, guid, &next);
    ck_assert_int_eq (setrlimit (RLIMIT_FSIZE, &saved), 0);
    ck_assert_int_ge (batches, 1);
    //  What was committed is intact
    ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    ck_assert_uint_eq (s_count (store, 1, guid, 0), (size_t) next);
    kvp_store_abort (store);
    kvp_store_destroy (&store);
}
END_TEST

//  --- The write-ahead log -------------------------------------------------

//  A store whose checkpoints wait for an explicit kvp_store_checkpoint; its
//  log is synced as the worker's is
static kvp_store_t *
s_open_lazy (const char *dir)
{
    kvp_store_config_t config = { .wal_segment = 64 << 10,
                                  .checkpoint_ms = 3600 * 1000,
                                  .checkpoint_ops = 100000000 };
    int rc = -1;
    kvp_store_t *store = kvp_store_new (dir, &config, &rc);
    ck_assert_int_eq (rc, KVP_STORE_OK);
    return store;
}

//  Items in LMDB itself, not through the store: counted in a child (LMDB
//  forbids one process to open an environment twice), sent back through a
//  pipe, and the child ends by SIGKILL so nothing it inherited is reported
static size_t
s_lmdb_items (const char *dir)
{
    int fds [2];
    ck_assert_int_eq (pipe (fds), 0);
    pid_t pid = fork ();
    ck_assert_int_ge (pid, 0);
    if (pid == 0) {
        MDB_env *env;
        MDB_txn *txn;
        MDB_dbi items;
        MDB_stat st;
        long long count = -1;
        if (mdb_env_create (&env) == 0 && mdb_env_set_maxdbs (env, 8) == 0
        &&  mdb_env_open (env, dir, MDB_RDONLY, 0644) == 0
        &&  mdb_txn_begin (env, NULL, MDB_RDONLY, &txn) == 0
        &&  mdb_dbi_open (txn, "items", 0, &items) == 0
        &&  mdb_stat (txn, items, &st) == 0)
            count = (long long) st.ms_entries;
        if (write (fds [1], &count, sizeof count) != sizeof count)
            count = -1;
        raise (SIGKILL);
    }
    close (fds [1]);
    long long count = -1;
    ck_assert_int_eq (read (fds [0], &count, sizeof count), sizeof count);
    close (fds [0]);
    int status;
    ck_assert_int_eq (waitpid (pid, &status, 0), pid);
    ck_assert (count >= 0);
    return (size_t) count;
}

//  Acknowledged means visible: before any checkpoint, after one, after a
//  system is deleted with items on both sides, and after a reopen
START_TEST (test_log_visible)
{
    const char *dir = s_dir ("visible");
    kvp_store_t *store = s_open_lazy (dir);
    uint8_t guid [16];
    s_guid (guid, 40);
    kvp_system_t sys = { "vm", 2, true, 1 };
    ck_assert_int_eq (kvp_store_begin (store), 0);
    ck_assert_int_eq (kvp_store_system_put (store, 1, guid, &sys, true), 0);
    s_put (store, 1, guid, 0, "a", "1");
    s_put (store, 1, guid, 0, "b", "2");
    ck_assert_int_eq (kvp_store_commit (store), 0);
    ck_assert_uint_eq (s_lmdb_items (dir), 0);      //  only in the log
    ck_assert_int_eq (kvp_store_begin (store), 0);
    s_expect (store, 1, guid, 0, "a", "1");
    ck_assert_int_eq (kvp_store_item_delete (store, 1, guid, 0, "a", 1), 0);
    ck_assert_int_eq (kvp_store_commit (store), 0);
    ck_assert_int_eq (kvp_store_checkpoint (store, 10000), 0);
    ck_assert_uint_eq (s_lmdb_items (dir), 1);
    //  b in LMDB, c in the overlay; the system goes, then d comes back
    ck_assert_int_eq (kvp_store_begin (store), 0);
    s_expect (store, 1, guid, 0, "a", NULL);
    s_put (store, 1, guid, 0, "c", "3");
    ck_assert_int_eq (kvp_store_commit (store), 0);
    ck_assert_int_eq (kvp_store_begin (store), 0);
    ck_assert_uint_eq (s_count (store, 1, guid, 0), 2);
    ck_assert_int_eq (kvp_store_system_delete (store, 1, guid), 0);
    ck_assert_uint_eq (s_count (store, 1, guid, 0), 0);
    ck_assert_int_eq (kvp_store_commit (store), 0);
    ck_assert_int_eq (kvp_store_begin (store), 0);
    ck_assert_uint_eq (s_count (store, 1, guid, 0), 0);
    s_put (store, 1, guid, 0, "d", "4");
    ck_assert_uint_eq (s_count (store, 1, guid, 0), 1);
    ck_assert_int_eq (kvp_store_commit (store), 0);
    kvp_store_destroy (&store);
    store = s_open_lazy (dir);
    ck_assert_int_eq (kvp_store_begin (store), 0);
    s_expect (store, 1, guid, 0, "b", NULL);
    s_expect (store, 1, guid, 0, "d", "4");
    ck_assert_uint_eq (s_count (store, 1, guid, 0), 1);
    kvp_store_abort (store);
    kvp_store_destroy (&store);
    ck_assert_uint_eq (s_lmdb_items (dir), 1);
}
END_TEST

#define S_CRASH_JOBS 40

//  In a child that then dies without closing anything (as kill -9 would
//  leave it): S_CRASH_JOBS batches, each one job with an item, none
//  checkpointed
static void
s_crash_child (const char *dir)
{
    pid_t pid = fork ();
    ck_assert_int_ge (pid, 0);
    if (pid == 0) {
        kvp_store_t *store = s_open_lazy (dir);
        uint8_t guid [16];
        s_guid (guid, 41);
        for (int i = 0; i < S_CRASH_JOBS; i++) {
            char name [16];
            snprintf (name, sizeof name, "n%02d", i);
            if (kvp_store_begin (store)
            ||  kvp_store_item_put (store, 2, guid, 0, name, 3, name, 3, true))
                _exit (3);
            s_log (store, 2, guid, 500 + i, NULL, 0, NULL);
            if (kvp_store_commit (store))
                _exit (4);
        }
        raise (SIGKILL);                //  as kill -9 would end it
    }
    int status;
    ck_assert_int_eq (waitpid (pid, &status, 0), pid);
    ck_assert (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
}

//  What a killed process committed comes back from the log alone, the
//  same bytes
START_TEST (test_log_replay)
{
    const char *dir = s_dir ("replay");
    s_crash_child (dir);
    ck_assert_uint_eq (s_lmdb_items (dir), 0);
    kvp_store_t *store = s_open_lazy (dir);
    uint8_t guid [16];
    s_guid (guid, 41);
    ck_assert_int_eq (kvp_store_begin (store), 0);
    ck_assert_uint_eq (s_count (store, 2, guid, 0), S_CRASH_JOBS);
    for (int i = 0; i < S_CRASH_JOBS; i++) {
        const void *event;
        size_t len;
        char want [32];
        snprintf (want, sizeof want, "event 2 at %d", 500 + i);
        ck_assert_int_eq (kvp_store_log_get (store, 2, (uint64_t) i + 1,
                                             &event, &len), 0);
        ck_assert_uint_eq (len, strlen (want));
        ck_assert (memcmp (event, want, len) == 0);
    }
    kvp_store_abort (store);
    kvp_partition_t info;
    ck_assert_int_eq (kvp_store_partition_get (store, 2, &info), 0);
    ck_assert_uint_eq (info.seq, S_CRASH_JOBS);
    kvp_store_destroy (&store);
    //  Opening applied the log to LMDB
    ck_assert_uint_eq (s_lmdb_items (dir), S_CRASH_JOBS);
}
END_TEST

//  The first (and only) log segment's bytes
static size_t
s_segment (const char *dir, char *path, size_t size, uint8_t **bytes)
{
    snprintf (path, size, "%s/wal/%016x.wal", dir, 1);
    FILE *file = fopen (path, "rb");
    ck_assert_ptr_nonnull (file);
    fseek (file, 0, SEEK_END);
    size_t len = (size_t) ftell (file);
    rewind (file);
    *bytes = (uint8_t *) malloc (len);
    ck_assert_uint_eq (fread (*bytes, 1, len, file), len);
    fclose (file);
    return len;
}

//  A damaged record before the last synced one is a refusal to open, and
//  the files stay as they were
START_TEST (test_log_damage)
{
    const char *dir = s_dir ("damage");
    s_crash_child (dir);
    char path [256];
    uint8_t *bytes, *after;
    size_t len = s_segment (dir, path, sizeof path, &bytes);
    bytes [KVP_WALSEG_SEGMENT_HEADER + KVP_WALSEG_RECORD_HEADER + 2] ^= 0x40;
    FILE *file = fopen (path, "r+b");
    ck_assert_uint_eq (fwrite (bytes, 1, len, file), len);
    fclose (file);
    int rc = 0;
    kvp_store_config_t config = { .wal_segment = 64 << 10 };
    ck_assert_ptr_null (kvp_store_new (dir, &config, &rc));
    ck_assert_int_eq (rc, KVP_STORE_CORRUPT);
    ck_assert_uint_eq (s_segment (dir, path, sizeof path, &after), len);
    ck_assert (memcmp (bytes, after, len) == 0);
    ck_assert_uint_eq (s_lmdb_items (dir), 0);
    free (bytes);
    free (after);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("store");
    TCase *tc = tcase_create ("store");
    tcase_add_unchecked_fixture (tc, tk_root_setup, tk_root_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_fnv);
    tcase_add_test (tc, test_open_meta);
    tcase_add_test (tc, test_no_batch);
    tcase_add_test (tc, test_atomic_op);
    tcase_add_test (tc, test_128_items);
    tcase_add_test (tc, test_items_order);
    tcase_add_test (tc, test_items_after);
    tcase_add_test (tc, test_long_name_collision);
    tcase_add_test (tc, test_reopen);
    tcase_add_test (tc, test_log_seq);
    tcase_add_test (tc, test_keys);
    tcase_add_test (tc, test_system_delete);
    tcase_add_test (tc, test_purge);
    tcase_add_test (tc, test_nested);
    tcase_add_test (tc, test_corrupt);
    tcase_add_test (tc, test_log_pages);
    tcase_add_test (tc, test_format);
    tcase_add_test (tc, test_map_full);
    tcase_add_test (tc, test_map_full_reclaim);
    tcase_add_test (tc, test_map_fixed);
    tcase_add_test (tc, test_fsize);
    tcase_add_test (tc, test_log_visible);
    tcase_add_test (tc, test_log_replay);
    tcase_add_test (tc, test_log_damage);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
