/*  test_overlay.c - the overlay of writes LMDB does not hold yet, and the
    change records the log keeps (kvp_overlay, kvp_change). */
#include <check.h>
#include <string.h>
#include "kvp_overlay.h"
#include "kvp_change.h"
#include "kvp_store.h"
#include "kvp_testkit.h"

static kvp_overlay_find_t
s_get (kvp_overlay_t *ov, uint8_t table, const char *key, const char **val)
{
    const void *data = NULL;
    size_t size = 0;
    kvp_overlay_find_t found = kvp_overlay_get (ov, table, key, strlen (key),
                                                &data, &size);
    static char copy [64];
    snprintf (copy, sizeof copy, "%.*s", (int) size, (const char *) data);
    *val = found == KVP_OVERLAY_VALUE? copy: NULL;
    return found;
}

static void
s_put (kvp_overlay_t *ov, uint8_t table, const char *key, const char *val,
       uint64_t stamp)
{
    ck_assert_int_eq (kvp_overlay_put (ov, table, key, strlen (key), val,
                                       val? strlen (val): 0, stamp), 0);
}

//  The keys of `table` from `from` on, in order, "key=value" or "key-" for
//  a tombstone, joined by spaces
static const char *
s_walk (kvp_overlay_t *ov, uint8_t table, const char *from)
{
    static char out [512];
    out [0] = '\0';
    const kvp_overlay_node_t *node = kvp_overlay_seek (ov, table, from,
                                                       strlen (from));
    for (; node; node = kvp_overlay_next (node)) {
        size_t klen, vlen;
        const uint8_t *key = kvp_overlay_key (node, &klen);
        const uint8_t *val = kvp_overlay_value (node, &vlen);
        size_t used = strlen (out);
        snprintf (out + used, sizeof out - used, "%s%.*s%s%.*s",
                  used? " ": "", (int) klen, (const char *) key,
                  val? "=": "-", (int) (val? vlen: 0),
                  val? (const char *) val: "");
    }
    return out;
}

START_TEST (test_put_get)
{
    kvp_overlay_t *ov = kvp_overlay_new ();
    const char *val;
    ck_assert_int_eq (s_get (ov, 1, "a", &val), KVP_OVERLAY_MISS);
    s_put (ov, 1, "a", "1", 5);
    s_put (ov, 2, "a", "other table", 5);
    ck_assert_int_eq (s_get (ov, 1, "a", &val), KVP_OVERLAY_VALUE);
    ck_assert_str_eq (val, "1");
    s_put (ov, 1, "a", "2", 6);
    ck_assert_int_eq (s_get (ov, 1, "a", &val), KVP_OVERLAY_VALUE);
    ck_assert_str_eq (val, "2");
    s_put (ov, 1, "a", NULL, 7);                //  a tombstone
    ck_assert_int_eq (s_get (ov, 1, "a", &val), KVP_OVERLAY_GONE);
    s_put (ov, 1, "e", "", 7);                  //  empty is not gone
    ck_assert_int_eq (s_get (ov, 1, "e", &val), KVP_OVERLAY_VALUE);
    ck_assert_str_eq (val, "");
    ck_assert_uint_eq (kvp_overlay_count (ov), 3);
    kvp_overlay_destroy (&ov);
    ck_assert_ptr_null (ov);
    kvp_overlay_destroy (&ov);
}
END_TEST

START_TEST (test_order)
{
    kvp_overlay_t *ov = kvp_overlay_new ();
    const char *keys [] = { "m", "b", "ab", "a", "z", "mm", "c" };
    for (size_t i = 0; i < 7; i++)
        s_put (ov, 3, keys [i], keys [i], 1);
    s_put (ov, 4, "0", "x", 1);
    s_put (ov, 2, "zz", "y", 1);
    ck_assert_str_eq (s_walk (ov, 3, "\x01"),
                      "a=a ab=ab b=b c=c m=m mm=mm z=z");
    ck_assert_str_eq (s_walk (ov, 3, "bb"), "c=c m=m mm=mm z=z");
    ck_assert_str_eq (s_walk (ov, 3, "zz"), "");
    size_t len;
    const uint8_t *last = kvp_overlay_key (kvp_overlay_last (ov, 3), &len);
    ck_assert (len == 1 && last [0] == 'z');
    ck_assert_ptr_null (kvp_overlay_last (ov, 5));
    //  Many keys stay in order
    for (int i = 0; i < 5000; i++) {
        char key [16];
        snprintf (key, sizeof key, "k%05d", (i * 7919) % 5000);
        s_put (ov, 6, key, "v", 2);
    }
    const kvp_overlay_node_t *node = kvp_overlay_seek (ov, 6, "k", 1);
    int count = 0;
    char prev [16] = "";
    for (; node; node = kvp_overlay_next (node), count++) {
        const uint8_t *key = kvp_overlay_key (node, &len);
        char now [16];
        snprintf (now, sizeof now, "%.*s", (int) len, (const char *) key);
        ck_assert (strcmp (prev, now) < 0);
        strcpy (prev, now);
    }
    ck_assert_int_eq (count, 5000);
    kvp_overlay_destroy (&ov);
}
END_TEST

START_TEST (test_clear)
{
    kvp_overlay_t *ov = kvp_overlay_new ();
    s_put (ov, 1, "sysA/1", "x", 1);
    s_put (ov, 1, "sysA/2", "y", 1);
    s_put (ov, 1, "sysB/1", "z", 1);
    ck_assert (!kvp_overlay_hidden (ov, 1, "sysA/9", 6));
    ck_assert_int_eq (kvp_overlay_clear (ov, 1, "sysA", 4, 2), 0);
    //  What the overlay held is gone; LMDB's keys under it are hidden
    ck_assert_str_eq (s_walk (ov, 1, "s"), "sysA/1- sysA/2- sysB/1=z");
    ck_assert (kvp_overlay_hidden (ov, 1, "sysA/9", 6));
    ck_assert (!kvp_overlay_hidden (ov, 1, "sysB/9", 6));
    ck_assert (!kvp_overlay_hidden (ov, 2, "sysA/9", 6));
    //  A key written afterwards is the overlay's again
    const char *val;
    s_put (ov, 1, "sysA/1", "new", 3);
    ck_assert_int_eq (s_get (ov, 1, "sysA/1", &val), KVP_OVERLAY_VALUE);
    kvp_overlay_destroy (&ov);
}
END_TEST

START_TEST (test_undo)
{
    kvp_overlay_t *ov = kvp_overlay_new ();
    const char *val;
    s_put (ov, 1, "keep", "1", 1);
    kvp_overlay_settle (ov);
    size_t mark = kvp_overlay_mark (ov);
    s_put (ov, 1, "keep", "2", 2);
    s_put (ov, 1, "new", "3", 2);
    size_t inner = kvp_overlay_mark (ov);
    ck_assert_int_eq (kvp_overlay_clear (ov, 1, "ke", 2, 2), 0);
    s_put (ov, 1, "new", NULL, 2);
    kvp_overlay_undo (ov, inner);               //  the nested part only
    ck_assert (!kvp_overlay_hidden (ov, 1, "kex", 3));
    ck_assert_int_eq (s_get (ov, 1, "keep", &val), KVP_OVERLAY_VALUE);
    ck_assert_str_eq (val, "2");
    ck_assert_int_eq (s_get (ov, 1, "new", &val), KVP_OVERLAY_VALUE);
    kvp_overlay_undo (ov, mark);                //  then all of it
    ck_assert_int_eq (s_get (ov, 1, "keep", &val), KVP_OVERLAY_VALUE);
    ck_assert_str_eq (val, "1");
    ck_assert_int_eq (s_get (ov, 1, "new", &val), KVP_OVERLAY_MISS);
    ck_assert_uint_eq (kvp_overlay_count (ov), 1);
    ck_assert_uint_eq (kvp_overlay_bytes (ov), 6);  //  table, "keep", "1"
    kvp_overlay_destroy (&ov);
}
END_TEST

START_TEST (test_evict)
{
    kvp_overlay_t *ov = kvp_overlay_new ();
    const char *val;
    s_put (ov, 1, "a", "1", 1);
    s_put (ov, 1, "b", "1", 2);
    s_put (ov, 1, "c", "1", 3);
    s_put (ov, 1, "a", "again", 4);             //  a's last change: 4
    ck_assert_int_eq (kvp_overlay_clear (ov, 2, "p", 1, 2), 0);
    kvp_overlay_settle (ov);
    kvp_overlay_evict (ov, 2);
    ck_assert_int_eq (s_get (ov, 1, "b", &val), KVP_OVERLAY_MISS);
    ck_assert_int_eq (s_get (ov, 1, "a", &val), KVP_OVERLAY_VALUE);
    ck_assert_str_eq (val, "again");
    ck_assert_int_eq (s_get (ov, 1, "c", &val), KVP_OVERLAY_VALUE);
    ck_assert (!kvp_overlay_hidden (ov, 2, "px", 2));
    kvp_overlay_evict (ov, 4);
    ck_assert_uint_eq (kvp_overlay_count (ov), 0);
    ck_assert_uint_eq (kvp_overlay_bytes (ov), 0);
    kvp_overlay_destroy (&ov);
}
END_TEST

//  --- Change records -------------------------------------------------------

typedef struct {
    char text [256];
} s_seen_t;

static int
s_seen (void *arg, kvp_change_op_t op, kvp_change_table_t table,
        const void *key, size_t key_len, const void *val, size_t val_len)
{
    s_seen_t *seen = (s_seen_t *) arg;
    size_t used = strlen (seen->text);
    snprintf (seen->text + used, sizeof seen->text - used, "%d%d:%.*s=%.*s;",
              op, table, (int) key_len, (const char *) key, (int) val_len,
              (const char *) val);
    return 0;
}

START_TEST (test_change)
{
    kvp_change_t rec, mark;
    kvp_change_init (&rec);
    ck_assert_int_eq (kvp_change_add (&rec, KVP_CHANGE_PUT, KVP_TABLE_ITEMS,
                                      "k", 1, "value", 5), 0);
    mark = rec;
    ck_assert_int_eq (kvp_change_add (&rec, KVP_CHANGE_DEL, KVP_TABLE_KEYS,
                                      "gone", 4, "ignored", 7), 0);
    ck_assert_int_eq (kvp_change_add (&rec, KVP_CHANGE_CLEAR,
                                      KVP_TABLE_SYSTEMS, "pre", 3, NULL, 0),
                      0);
    ck_assert_uint_eq (rec.count, 3);
    ck_assert_uint_eq (rec.puts, 6);
    s_seen_t seen = { "" };
    ck_assert_int_eq (kvp_change_each (rec.data, rec.size, s_seen, &seen), 0);
    ck_assert_str_eq (seen.text, "12:k=value;25:gone=;31:pre=;");
    //  Bad arguments change nothing
    ck_assert_int_eq (kvp_change_add (&rec, KVP_CHANGE_PUT, KVP_TABLE_COUNT,
                                      "k", 1, "v", 1), -1);
    ck_assert_int_eq (kvp_change_add (&rec, KVP_CHANGE_PUT, KVP_TABLE_META,
                                      "k", 0, "v", 1), -1);
    ck_assert_uint_eq (rec.count, 3);
    //  A record cut anywhere, or with a bad op or table, is refused whole
    for (size_t cut = 1; cut < rec.size; cut++) {
        s_seen_t none = { "" };
        int rc = kvp_change_each (rec.data, cut, s_seen, &none);
        bool boundary = cut == mark.size || cut == rec.size - 7;
        ck_assert_int_eq (rc, boundary? 0: KVP_STORE_CORRUPT);
        if (!boundary)
            ck_assert_str_eq (none.text, "");
    }
    rec.data [mark.size] = 9;
    ck_assert_int_eq (kvp_change_each (rec.data, rec.size, s_seen, &seen),
                      KVP_STORE_CORRUPT);
    rec.data [mark.size] = KVP_CHANGE_DEL;
    rec.data [mark.size + 1] = KVP_TABLE_COUNT;
    ck_assert_int_eq (kvp_change_each (rec.data, rec.size, s_seen, &seen),
                      KVP_STORE_CORRUPT);
    kvp_change_truncate (&rec, &mark);
    ck_assert_uint_eq (rec.count, 1);
    ck_assert_uint_eq (rec.puts, 6);
    kvp_change_fini (&rec);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("overlay");
    TCase *tc = tcase_create ("overlay");
    tcase_add_test (tc, test_put_get);
    tcase_add_test (tc, test_order);
    tcase_add_test (tc, test_clear);
    tcase_add_test (tc, test_undo);
    tcase_add_test (tc, test_evict);
    tcase_add_test (tc, test_change);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
