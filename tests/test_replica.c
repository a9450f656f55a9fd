/*  test_replica.c - copies of a partition between stores (kvp_store_changes,
    kvp_store_apply, kvp_store_drop, kvp_store_copy in store/kvp_store.h).

    A leader store A is written through the public API; a follower B gets
    A's changes for some partitions (or a copy of one) and must then read
    the same through the public API: partition record, systems, items, log
    events by seq and idempotency keys, all dumped as text and compared.
    Each store lives in its own folder under the per-case temporary root.
*/
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kvp_store.h"
#include "kvp_change.h"
#include "kvp_testkit.h"

#define S_GUIDS     4               //  systems per partition
#define S_ROUNDS    6               //  batches of the workload
#define S_KEYS      (S_ROUNDS + 2)  //  idempotency keys "key-0".. looked up

static const char *
s_dir (const char *name)
{
    static char dir [4][128];
    static int next;
    char *out = dir [next++ % 4];
    snprintf (out, sizeof dir [0], "%s/%s", tk_root (), name);
    return out;
}

static kvp_store_t *
s_open (const char *dir)
{
    kvp_store_config_t config = { .nosync = true, .wal_segment = 64 << 10 };
    int rc = -1;
    kvp_store_t *store = kvp_store_new (dir, &config, &rc);
    ck_assert_ptr_nonnull (store);
    ck_assert_int_eq (rc, KVP_STORE_OK);
    return store;
}

static void
s_guid (uint8_t guid [16], uint32_t part, int n)
{
    for (int i = 0; i < 16; i++)
        guid [i] = (uint8_t) (part * 7 + n * 31 + i);
}

//  --- Dumping a partition through the read API -----------------------------

static int
s_item_fn (void *arg, uint32_t source, const char *name, size_t name_len,
           const char *data, size_t data_len)
{
    fprintf ((FILE *) arg, "  I %u %.*s = %.*s\n", source, (int) name_len,
             name, (int) data_len, data);
    return 0;
}

static int
s_event_fn (void *arg, uint32_t part, uint64_t seq, const void *event,
            size_t event_len)
{
    fprintf ((FILE *) arg, "L %u %llu %.*s\n", part, (unsigned long long) seq,
             (int) event_len, (const char *) event);
    return 0;
}

static void
s_dump_system (kvp_store_t *store, uint32_t part, int n, FILE *out)
{
    uint8_t guid [16], digest [16];
    s_guid (guid, part, n);
    kvp_system_t sys;
    int rc = kvp_store_system_get (store, part, guid, &sys);
    if (rc == KVP_STORE_OK)
        fprintf (out, "S %d %s %d %llu\n", n, sys.name, sys.exchange,
                 (unsigned long long) sys.created_ms);
    else
        ck_assert_int_eq (rc, KVP_STORE_NOTFOUND);
    ck_assert_int_eq (kvp_store_items_each (store, part, guid, UINT32_MAX,
                                            NULL, s_item_fn, out), 0);
    for (int k = 0; k < S_KEYS; k++) {
        char key [16];
        uint64_t seq;
        snprintf (key, sizeof key, "key-%d", k);
        rc = kvp_store_key_get (store, part, guid, key, strlen (key), &seq,
                                digest);
        if (rc == KVP_STORE_OK)
            fprintf (out, "  K %s %llu %02x\n", key,
                     (unsigned long long) seq, digest [0]);
        else
            ck_assert_int_eq (rc, KVP_STORE_NOTFOUND);
    }
}

//  Everything the read API shows of `part`, as text (the caller frees it);
//  in the open batch, or in one of its own
static char *
s_dump (kvp_store_t *store, uint32_t part, bool in_batch)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    ck_assert_ptr_nonnull (out);
    if (!in_batch)
        ck_assert_int_eq (kvp_store_begin (store), KVP_STORE_OK);
    kvp_partition_t info;
    int rc = kvp_store_partition_get (store, part, &info);
    if (rc == KVP_STORE_OK)
        fprintf (out, "P %u %llu %llu\n", info.epoch,
                 (unsigned long long) info.seq,
                 (unsigned long long) info.sent);
    else
        ck_assert_int_eq (rc, KVP_STORE_NOTFOUND);
    for (int n = 0; n < S_GUIDS; n++)
        s_dump_system (store, part, n, out);
    ck_assert_int_eq (kvp_store_log_each (store, part, 0, s_event_fn, out),
                      0);
    if (!in_batch)
        kvp_store_abort (store);
    fclose (out);
    return text;
}

//  Two dumps must be equal; if not, the first line where they differ is
//  the message (whole dumps are too long for one)
static void
s_equal (const char *got, const char *want)
{
    size_t at = 0, line = 0;
    for (; got [at] && got [at] == want [at]; at++)
        if (got [at] == '\n')
            line = at + 1;
    if (got [at] || want [at])
        ck_abort_msg ("dumps differ at byte %zu:\n got: %.120s\nwant: %.120s",
                      at, got + line, want + line);
}

//  The two stores read the same of `part`
static void
s_same (kvp_store_t *a, kvp_store_t *b, uint32_t part)
{
    char *x = s_dump (a, part, false), *y = s_dump (b, part, false);
    s_equal (y, x);
    free (x);
    free (y);
}

//  `part` in `store` reads as `text` (a dump taken before)
static void
s_reads (kvp_store_t *store, uint32_t part, const char *text)
{
    char *now = s_dump (store, part, false);
    s_equal (now, text);
    free (now);
}

//  --- A workload through the public write API -------------------------------

static void
s_job (kvp_store_t *store, uint32_t part, const uint8_t *guid,
       const char *key, int tag)
{
    uint32_t epoch;
    uint64_t seq;
    uint8_t digest [16];
    char event [64];
    memset (digest, tag, sizeof digest);
    ck_assert_int_eq (kvp_store_log_next (store, part, &epoch, &seq),
                      KVP_STORE_OK);
    snprintf (event, sizeof event, "event p%u s%llu t%d e%u", part,
              (unsigned long long) seq, tag, epoch);
    ck_assert_int_eq (kvp_store_log_put (store, part, seq, 1000 + tag, guid,
                                         key, key? strlen (key): 0, digest,
                                         event, strlen (event)),
                      KVP_STORE_OK);
}

static void
s_item (kvp_store_t *store, uint32_t part, const uint8_t *guid,
        uint32_t source, const char *name, const char *data)
{
    ck_assert_int_eq (kvp_store_item_put (store, part, guid, source, name,
                                          strlen (name), data, strlen (data),
                                          false), KVP_STORE_OK);
}

//  Systems and items of one round (in a batch)
static void
s_work_items (kvp_store_t *store, uint32_t part, int round, int salt)
{
    uint8_t guid [16], last [16];
    char name [700], data [64];
    s_guid (guid, part, (round + salt) % S_GUIDS);
    kvp_system_t sys = { .exchange = round & 1, .created_ms = 500 + round };
    sys.name_len = (size_t) snprintf (sys.name, sizeof sys.name,
                                      "sys-%d-%d", round, salt);
    ck_assert_int_eq (kvp_store_system_put (store, part, guid, &sys, false),
                      KVP_STORE_OK);
    for (int i = 0; i < 3; i++) {
        snprintf (name, sizeof name, "item-%d-%d", round, i);
        snprintf (data, sizeof data, "data-%d-%d-%d", round, i, salt);
        s_item (store, part, guid, (uint32_t) i % 2, name, data);
    }
    if (round % 2 == 0) {           //  a name past the inline limit
        memset (name, 'x', 600);
        snprintf (name + 600, sizeof name - 600, "%d", round);
        s_item (store, part, guid, 7, name, "long");
    }
    if (round > 0) {
        s_guid (last, part, (round - 1 + salt) % S_GUIDS);
        snprintf (name, sizeof name, "item-%d-0", round - 1);
        int rc = kvp_store_item_delete (store, part, last, 0, name,
                                        strlen (name));
        ck_assert (rc == KVP_STORE_OK || rc == KVP_STORE_NOTFOUND);
    }
}

//  One round of writes to `part` (in a batch): systems, items, jobs with
//  and without keys, an undone request, a system delete, `sent`
static void
s_work (kvp_store_t *store, uint32_t part, int round, int salt)
{
    uint8_t guid [16];
    char key [16];
    s_work_items (store, part, round, salt);
    s_guid (guid, part, (round + salt) % S_GUIDS);
    snprintf (key, sizeof key, "key-%d", round);
    s_job (store, part, guid, key, round * 10 + salt);
    s_job (store, part, guid, NULL, round * 10 + salt + 1);
    //  A request that is undone leaves nothing to replicate
    ck_assert_int_eq (kvp_store_op_begin (store), KVP_STORE_OK);
    s_item (store, part, guid, 3, "undone", "undone");
    s_job (store, part, guid, "key-undone", 99);
    ck_assert_int_eq (kvp_store_op_end (store, false), KVP_STORE_OK);
    if (round == 3) {
        s_guid (guid, part, (1 + salt) % S_GUIDS);
        int rc = kvp_store_system_delete (store, part, guid);
        ck_assert (rc == KVP_STORE_OK || rc == KVP_STORE_NOTFOUND);
    }
    kvp_partition_t info;
    ck_assert_int_eq (kvp_store_partition_get (store, part, &info),
                      KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_partition_sent (store, part, info.seq - 1),
                      KVP_STORE_OK);
}

//  Feed the last committed batch of `from` for `part` into `to`
static void
s_feed (kvp_store_t *from, kvp_store_t *to, uint32_t part)
{
    kvp_change_t changes;
    kvp_change_init (&changes);
    ck_assert_int_eq (kvp_store_changes (from, part, &changes),
                      KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_begin (to), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_apply (to, part, changes.data, changes.size),
                      KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_commit (to), KVP_STORE_OK);
    kvp_change_fini (&changes);
}

static size_t
s_changes_size (kvp_store_t *store, uint32_t part)
{
    kvp_change_t changes;
    kvp_change_init (&changes);
    ck_assert_int_eq (kvp_store_changes (store, part, &changes),
                      KVP_STORE_OK);
    size_t size = changes.size;
    kvp_change_fini (&changes);
    return size;
}

//  --- The changes of each batch --------------------------------------------

START_TEST (test_stream)
{
    const char *dir_a = s_dir ("stream-a"), *dir_b = s_dir ("stream-b");
    kvp_store_t *a = s_open (dir_a), *b = s_open (dir_b);
    kvp_change_t changes;
    kvp_change_init (&changes);
    //  No committed batch yet, or one open: nothing to hand out
    ck_assert_int_eq (kvp_store_changes (a, 3, &changes), KVP_STORE_EINVAL);
    //  B leads a partition of its own, which the stream leaves alone
    ck_assert_int_eq (kvp_store_begin (b), KVP_STORE_OK);
    s_work (b, 12, 0, 2);
    ck_assert_int_eq (kvp_store_commit (b), KVP_STORE_OK);
    char *own = s_dump (b, 12, false);
    ck_assert_ptr_nonnull (strstr (own, "\nL 12 2 "));

    for (int round = 0; round < S_ROUNDS; round++) {
        ck_assert_int_eq (kvp_store_begin (a), KVP_STORE_OK);
        ck_assert_int_eq (kvp_store_changes (a, 3, &changes),
                          KVP_STORE_EINVAL);
        s_work (a, 3, round, 0);
        s_work (a, 7, round, 1);
        if (round % 2)
            s_work (a, 9, round, 2);
        ck_assert_int_eq (kvp_store_commit (a), KVP_STORE_OK);
        //  Untouched partitions have nothing to send
        ck_assert_uint_eq (s_changes_size (a, 11), 0);
        ck_assert_uint_gt (s_changes_size (a, 7), 0);
        ck_assert_uint_eq (s_changes_size (a, 9) > 0, round % 2);
        s_feed (a, b, 3);
        s_feed (a, b, 9);
        s_same (a, b, 3);
        s_same (a, b, 9);
        //  B never got 7 and keeps its own 12
        char *none = s_dump (b, 7, false);
        ck_assert_str_eq (none, "");
        free (none);
        s_reads (b, 12, own);
    }
    //  A global value is no partition's change
    ck_assert_int_eq (kvp_store_meta_put (a, "id", "leader"), KVP_STORE_OK);
    ck_assert_uint_eq (s_changes_size (a, 3), 0);
    ck_assert_uint_eq (s_changes_size (a, 0xffff), 0);
    //  An aborted batch has no changes to hand out
    ck_assert_int_eq (kvp_store_begin (a), KVP_STORE_OK);
    s_work (a, 3, S_ROUNDS, 0);
    kvp_store_abort (a);
    ck_assert_int_eq (kvp_store_changes (a, 3, &changes), KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_changes (a, 0x10000, &changes),
                      KVP_STORE_EINVAL);

    char *text = s_dump (a, 3, false);
    ck_assert_ptr_nonnull (strstr (text, "\nL 3 12 "));
    ck_assert_ptr_nonnull (strstr (text, "K key-5 "));
    //  What B applied is in its own log and LMDB: checkpoint, reopen
    ck_assert_int_eq (kvp_store_checkpoint (b, 5000), KVP_STORE_OK);
    kvp_store_destroy (&b);
    b = s_open (dir_b);
    s_reads (b, 3, text);
    s_same (a, b, 9);
    s_reads (b, 12, own);
    //  A write after the reopen continues the copied partition
    ck_assert_int_eq (kvp_store_begin (a), KVP_STORE_OK);
    s_work (a, 3, S_ROUNDS, 0);
    ck_assert_int_eq (kvp_store_commit (a), KVP_STORE_OK);
    s_feed (a, b, 3);
    s_same (a, b, 3);
    free (text);
    free (own);
    kvp_change_fini (&changes);
    kvp_store_destroy (&a);
    kvp_store_destroy (&b);
}
END_TEST

//  --- Copies ----------------------------------------------------------------

typedef struct {
    uint8_t *data [4096];
    size_t size [4096];
    size_t count;
    size_t chunk;                   //  the size asked for
} s_chunks_t;

//  Count a chunk's changes and whether it is one entry: a row, or a job's
//  index record and body
typedef struct {
    size_t count;
    bool job;
} s_entries_t;

static int
s_entry_fn (void *arg, kvp_change_op_t op, kvp_change_table_t table,
            const void *key, size_t key_len, const void *val, size_t val_len)
{
    s_entries_t *entries = (s_entries_t *) arg;
    ck_assert_int_eq (op, KVP_CHANGE_PUT);
    if (entries->count++ == 1)
        entries->job = table == KVP_TABLE_LOGBODY;
    return 0;
}

static int
s_chunk_fn (void *arg, const void *data, size_t size)
{
    s_chunks_t *chunks = (s_chunks_t *) arg;
    ck_assert_uint_lt (chunks->count, 4096);
    s_entries_t entries = { 0, false };
    ck_assert_int_eq (kvp_change_each (data, size, s_entry_fn, &entries), 0);
    if (size > chunks->chunk)
        ck_assert (entries.count == 1 || (entries.count == 2 && entries.job));
    uint8_t *copy = (uint8_t *) malloc (size? size: 1);
    ck_assert_ptr_nonnull (copy);
    if (size)
        memcpy (copy, data, size);
    chunks->data [chunks->count] = copy;
    chunks->size [chunks->count++] = size;
    return 0;
}

static void
s_chunks_free (s_chunks_t *chunks)
{
    for (size_t i = 0; i < chunks->count; i++)
        free (chunks->data [i]);
    chunks->count = 0;
}

//  A leader with several rounds in partitions 3 and 7
static kvp_store_t *
s_leader (const char *dir)
{
    kvp_store_t *a = s_open (dir);
    for (int round = 0; round < S_ROUNDS; round++) {
        ck_assert_int_eq (kvp_store_begin (a), KVP_STORE_OK);
        s_work (a, 3, round, 0);
        s_work (a, 7, round, 1);
        ck_assert_int_eq (kvp_store_commit (a), KVP_STORE_OK);
    }
    return a;
}

//  Drop `part` from `to` and apply the chunks, in one batch
static void
s_install (kvp_store_t *to, uint32_t part, const s_chunks_t *chunks)
{
    ck_assert_int_eq (kvp_store_begin (to), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_drop (to, part), KVP_STORE_OK);
    for (size_t i = 0; i < chunks->count; i++)
        ck_assert_int_eq (kvp_store_apply (to, part, chunks->data [i],
                                           chunks->size [i]), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_commit (to), KVP_STORE_OK);
}

static s_chunks_t s_chunks;

static int
s_stop_fn (void *arg, const void *data, size_t size)
{
    return 77;
}

START_TEST (test_copy)
{
    const char *dir_a = s_dir ("copy-a"), *dir_b = s_dir ("copy-b");
    kvp_store_t *a = s_leader (dir_a), *b = s_open (dir_b);
    //  B: stale, different data in 3 (its own epoch, more jobs), and 5
    for (int round = 0; round < S_ROUNDS + 2; round++) {
        ck_assert_int_eq (kvp_store_begin (b), KVP_STORE_OK);
        s_work (b, 3, round, 3);
        s_work (b, 5, round, 1);
        ck_assert_int_eq (kvp_store_commit (b), KVP_STORE_OK);
    }
    char *theirs = s_dump (a, 3, false), *mine = s_dump (b, 3, false);
    char *other = s_dump (b, 5, false);
    ck_assert_str_ne (theirs, mine);
    free (mine);

    //  Not in a batch only
    ck_assert_int_eq (kvp_store_begin (a), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_copy (a, 3, 512, s_chunk_fn, &s_chunks),
                      KVP_STORE_EINVAL);
    kvp_store_abort (a);
    s_chunks.chunk = 256;
    ck_assert_int_eq (kvp_store_copy (a, 3, 256, s_chunk_fn, &s_chunks),
                      KVP_STORE_OK);
    ck_assert_uint_gt (s_chunks.count, 10);

    //  Dropping empties 3 and leaves 5 alone
    ck_assert_int_eq (kvp_store_begin (b), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_drop (b, 3), KVP_STORE_OK);
    char *gone = s_dump (b, 3, true);
    ck_assert_str_eq (gone, "");
    free (gone);
    char *kept = s_dump (b, 5, true);
    s_equal (kept, other);
    free (kept);
    kvp_store_abort (b);

    s_install (b, 3, &s_chunks);
    s_reads (b, 3, theirs);
    s_reads (b, 5, other);
    //  Reopened (the copy came through B's own log), then checkpointed
    kvp_store_destroy (&b);
    b = s_open (dir_b);
    s_reads (b, 3, theirs);
    s_reads (b, 5, other);
    ck_assert_int_eq (kvp_store_checkpoint (b, 5000), KVP_STORE_OK);
    kvp_store_destroy (&b);
    b = s_open (dir_b);
    s_reads (b, 3, theirs);
    s_reads (b, 5, other);
    //  The stream goes on from the copy
    ck_assert_int_eq (kvp_store_begin (a), KVP_STORE_OK);
    s_work (a, 3, S_ROUNDS, 0);
    ck_assert_int_eq (kvp_store_commit (a), KVP_STORE_OK);
    s_feed (a, b, 3);
    s_same (a, b, 3);
    s_chunks_free (&s_chunks);

    //  One big chunk does as well; a partition A lacks is one empty chunk
    s_chunks.chunk = 1 << 20;
    ck_assert_int_eq (kvp_store_copy (a, 7, 1 << 20, s_chunk_fn, &s_chunks),
                      KVP_STORE_OK);
    ck_assert_uint_eq (s_chunks.count, 1);
    s_install (b, 7, &s_chunks);
    s_same (a, b, 7);
    s_chunks_free (&s_chunks);
    ck_assert_int_eq (kvp_store_copy (a, 40, 512, s_chunk_fn, &s_chunks),
                      KVP_STORE_OK);
    ck_assert_uint_eq (s_chunks.count, 1);
    ck_assert_uint_eq (s_chunks.size [0], 0);
    s_chunks_free (&s_chunks);
    //  fn's non-zero return stops the copy and is returned
    ck_assert_int_eq (kvp_store_copy (a, 3, 64, s_stop_fn, NULL), 77);
    free (theirs);
    free (other);
    kvp_store_destroy (&a);
    kvp_store_destroy (&b);
}
END_TEST

//  --- What apply refuses ----------------------------------------------------

//  A record of `count` changes (table, op, key, value) for the refusal cases
typedef struct {
    kvp_change_op_t op;
    kvp_change_table_t table;
    const char *key;
    size_t key_len;
    const char *val;
    size_t val_len;
} s_change_t;

static void
s_record (kvp_change_t *record, const s_change_t *changes, size_t count)
{
    kvp_change_t empty = { NULL, 0, 0, 0, 0 };
    kvp_change_truncate (record, &empty);
    for (size_t i = 0; i < count; i++)
        ck_assert_int_eq (kvp_change_add (record, changes [i].op,
                                          changes [i].table, changes [i].key,
                                          changes [i].key_len,
                                          changes [i].val,
                                          changes [i].val_len), 0);
}

//  A job body of partition `part`, seq 1: part seq time guid key_len event
#define S_BODY(part) part "\0\0\0\0\0\0\0\1" "\0\0\0\0\0\0\0\1" \
                     "0123456789abcdef" "\0" "event"
#define S_BODY_LEN   (2 + 8 + 8 + 16 + 1 + 5)
#define S_LSN        "\0\0\0\0\0\0\0\5"

static const s_change_t s_sys3 = { KVP_CHANGE_PUT, KVP_TABLE_SYSTEMS,
    "\0\3" "0123456789abcdef", 18, "\0\0\0\0\0\0\0\1\0\0\0", 11 };

//  Records that must be refused whole when applied for partition 3
static const struct {
    const char *why;
    s_change_t changes [3];
    size_t count;
} s_refused [] = {
    { "a global value", { s_sys3, { KVP_CHANGE_PUT, KVP_TABLE_META,
      "\xff\xff" "id", 4, "x", 1 } }, 2 },
    { "another partition after a good change", { s_sys3,
      { KVP_CHANGE_PUT, KVP_TABLE_SYSTEMS, "\0\4" "0123456789abcdef", 18,
        "\0\0\0\0\0\0\0\1\0\0\0", 11 } }, 2 },
    { "a clear of meta", { s_sys3, { KVP_CHANGE_CLEAR, KVP_TABLE_META,
      "\0\3", 2, NULL, 0 } }, 2 },
    { "a clear across partitions", { s_sys3, { KVP_CHANGE_CLEAR,
      KVP_TABLE_ITEMS, "\0", 1, NULL, 0 } }, 2 },
    { "a body delete", { s_sys3, { KVP_CHANGE_DEL, KVP_TABLE_LOGBODY,
      S_LSN, 8, NULL, 0 } }, 2 },
    { "an index record without its body", { s_sys3, { KVP_CHANGE_PUT,
      KVP_TABLE_LOG, "\0\3\0\0\0\0\0\0\0\1", 10, S_LSN, 8 } }, 2 },
    { "a body without its index record", { s_sys3, { KVP_CHANGE_PUT,
      KVP_TABLE_LOGBODY, S_LSN, 8, S_BODY ("\0\3"), S_BODY_LEN } }, 2 },
    { "a body of another partition", { s_sys3, { KVP_CHANGE_PUT,
      KVP_TABLE_LOG, "\0\3\0\0\0\0\0\0\0\1", 10, S_LSN, 8 },
      { KVP_CHANGE_PUT, KVP_TABLE_LOGBODY, S_LSN, 8, S_BODY ("\0\4"),
        S_BODY_LEN } }, 3 },
    { "a body of another job", { s_sys3, { KVP_CHANGE_PUT,
      KVP_TABLE_LOG, "\0\3\0\0\0\0\0\0\0\2", 10, S_LSN, 8 },
      { KVP_CHANGE_PUT, KVP_TABLE_LOGBODY, S_LSN, 8, S_BODY ("\0\3"),
        S_BODY_LEN } }, 3 },
    { "a short partition record", { s_sys3, { KVP_CHANGE_PUT,
      KVP_TABLE_META, "\0\3", 2, "short", 5 } }, 2 },
    { "a short system key", { s_sys3, { KVP_CHANGE_PUT,
      KVP_TABLE_SYSTEMS, "\0\3" "0123", 6, "\0\0\0\0\0\0\0\1\0\0\0",
      11 } }, 2 }
};

START_TEST (test_refuse)
{
    kvp_store_t *a = s_leader (s_dir ("refuse-a"));
    kvp_store_t *b = s_open (s_dir ("refuse-b"));
    ck_assert_int_eq (kvp_store_begin (b), KVP_STORE_OK);
    s_work (b, 3, 0, 2);
    s_work (b, 4, 0, 2);
    ck_assert_int_eq (kvp_store_commit (b), KVP_STORE_OK);
    char *before = s_dump (b, 3, false), *four = s_dump (b, 4, false);
    kvp_change_t record;
    kvp_change_init (&record);

    //  Only in a batch, on a partition that exists
    ck_assert_int_eq (kvp_store_apply (b, 3, NULL, 0), KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_drop (b, 3), KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_begin (b), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_apply (b, 0x10000, NULL, 0),
                      KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_drop (b, 0x10000), KVP_STORE_EINVAL);
    ck_assert_int_eq (kvp_store_apply (b, 3, NULL, 0), KVP_STORE_OK);

    //  A's last batch for 7, offered as 3's
    ck_assert_int_eq (kvp_store_changes (a, 7, &record), KVP_STORE_OK);
    ck_assert_uint_gt (record.size, 0);
    ck_assert_int_eq (kvp_store_apply (b, 3, record.data, record.size),
                      KVP_STORE_CORRUPT);
    //  ... and the same for 3, cut short: does not decode
    ck_assert_int_eq (kvp_store_changes (a, 3, &record), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_apply (b, 3, record.data, record.size - 1),
                      KVP_STORE_CORRUPT);
    static const char garbage [] = "\x07\x01\x00\x02zz\xff\x00";
    ck_assert_int_eq (kvp_store_apply (b, 3, garbage, sizeof garbage),
                      KVP_STORE_CORRUPT);
    //  Each begins with a good change (system "0123456789abcdef" of 3),
    //  which must not be applied either
    kvp_system_t sys;
    const uint8_t *guid = (const uint8_t *) "0123456789abcdef";
    for (size_t i = 0; i < sizeof s_refused / sizeof *s_refused; i++) {
        s_record (&record, s_refused [i].changes, s_refused [i].count);
        int rc = kvp_store_apply (b, 3, record.data, record.size);
        if (rc != KVP_STORE_CORRUPT)
            ck_abort_msg ("%s: got %d", s_refused [i].why, rc);
        ck_assert_int_eq (kvp_store_system_get (b, 3, guid, &sys),
                          KVP_STORE_NOTFOUND);
    }
    char *now = s_dump (b, 3, true);
    s_equal (now, before);
    free (now);
    //  The good change alone is let in
    s_record (&record, &s_sys3, 1);
    ck_assert_int_eq (kvp_store_apply (b, 3, record.data, record.size),
                      KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_system_get (b, 3, guid, &sys), KVP_STORE_OK);
    ck_assert_uint_eq (sys.created_ms, 1);
    kvp_store_abort (b);

    //  The batch is still good after refusals; nothing of them was kept
    ck_assert_int_eq (kvp_store_begin (b), KVP_STORE_OK);
    ck_assert_int_eq (kvp_store_apply (b, 3, garbage, sizeof garbage),
                      KVP_STORE_CORRUPT);
    ck_assert_int_eq (kvp_store_commit (b), KVP_STORE_OK);
    s_reads (b, 3, before);
    s_reads (b, 4, four);
    char id [16];
    ck_assert_int_eq (kvp_store_meta_get (b, "id", id, sizeof id),
                      KVP_STORE_NOTFOUND);
    free (before);
    free (four);
    kvp_change_fini (&record);
    kvp_store_destroy (&a);
    kvp_store_destroy (&b);
}
END_TEST

//  --- A store that leads one partition and follows another ----------------

START_TEST (test_lead_and_follow)
{
    const char *dir_b = s_dir ("both-b");
    kvp_store_t *a = s_open (s_dir ("both-a"));     //  leads 3
    kvp_store_t *b = s_open (dir_b);                //  follows 3, leads 5
    kvp_store_t *c = s_open (s_dir ("both-c"));     //  follows 5
    kvp_change_t changes;
    kvp_change_init (&changes);
    for (int round = 0; round < 2 * S_ROUNDS; round++) {
        ck_assert_int_eq (kvp_store_begin (a), KVP_STORE_OK);
        s_work (a, 3, round % S_ROUNDS, 0);
        ck_assert_int_eq (kvp_store_commit (a), KVP_STORE_OK);
        ck_assert_int_eq (kvp_store_changes (a, 3, &changes), KVP_STORE_OK);
        //  B's own jobs in 5 and A's in 3 in the same batches, in either
        //  order: each body numbered in B's own space
        ck_assert_int_eq (kvp_store_begin (b), KVP_STORE_OK);
        if (round % 2)
            s_work (b, 5, round % S_ROUNDS, 1);
        ck_assert_int_eq (kvp_store_apply (b, 3, changes.data, changes.size),
                          KVP_STORE_OK);
        if (round % 2 == 0)
            s_work (b, 5, round % S_ROUNDS, 1);
        ck_assert_int_eq (kvp_store_commit (b), KVP_STORE_OK);
        //  B's changes for 5 carry nothing of 3
        s_feed (b, c, 5);
        s_same (a, b, 3);
        s_same (b, c, 5);
        char *none = s_dump (c, 3, false);
        ck_assert_str_eq (none, "");
        free (none);
        if (round == S_ROUNDS)
            ck_assert_int_eq (kvp_store_checkpoint (b, 5000), KVP_STORE_OK);
    }
    char *three = s_dump (a, 3, false), *five = s_dump (c, 5, false);
    ck_assert_ptr_nonnull (strstr (three, "\nL 3 24 "));
    ck_assert_ptr_nonnull (strstr (five, "\nL 5 24 "));
    ck_assert_int_eq (kvp_store_checkpoint (b, 5000), KVP_STORE_OK);
    kvp_store_destroy (&b);
    b = s_open (dir_b);
    s_reads (b, 3, three);
    s_reads (b, 5, five);
    //  B goes on leading 5 after the reopen
    ck_assert_int_eq (kvp_store_begin (b), KVP_STORE_OK);
    s_work (b, 5, 1, 1);
    ck_assert_int_eq (kvp_store_commit (b), KVP_STORE_OK);
    s_feed (b, c, 5);
    s_same (b, c, 5);
    s_reads (b, 3, three);
    free (three);
    free (five);
    kvp_change_fini (&changes);
    kvp_store_destroy (&a);
    kvp_store_destroy (&b);
    kvp_store_destroy (&c);
}
END_TEST

//  A record cut into pieces for REPLs (kvp_change_piece): whole changes,
//  about the size asked, a job's index entry kept with its body.
START_TEST (test_pieces)
{
    kvp_change_t record;
    kvp_change_init (&record);
    uint8_t key [10] = { 0, 3 }, value [100] = { 0 };
    for (int i = 0; i < 6; i++) {
        key [9] = (uint8_t) i;
        ck_assert_int_eq (kvp_change_add (&record, KVP_CHANGE_PUT,
                                          KVP_TABLE_ITEMS, key, 10, value,
                                          100), 0);
    }
    size_t index_at = record.size;
    ck_assert_int_eq (kvp_change_add (&record, KVP_CHANGE_PUT, KVP_TABLE_LOG,
                                      key, 10, value, 8), 0);
    size_t body_at = record.size;
    ck_assert_int_eq (kvp_change_add (&record, KVP_CHANGE_PUT,
                                      KVP_TABLE_LOGBODY, key, 8, value, 100),
                      0);
    ck_assert_int_eq (kvp_change_add (&record, KVP_CHANGE_DEL,
                                      KVP_TABLE_ITEMS, key, 10, NULL, 0), 0);
    size_t one = index_at / 6;          //  an item PUT's bytes
    //  Pieces of two changes each, then the index with its body
    size_t at = 0, pieces = 0, ends [16];
    while (at < record.size && pieces < 16) {
        size_t end = kvp_change_piece (record.data, record.size, at,
                                       2 * one);
        ck_assert_uint_gt (end, at);
        ends [pieces++] = at = end;
    }
    ck_assert_uint_eq (at, record.size);
    ck_assert_uint_eq (ends [0], 2 * one);
    ck_assert_uint_eq (ends [2], index_at);
    for (size_t i = 0; i < pieces; i++)
        ck_assert_uint_ne (ends [i], body_at);  //  never between the two
    //  However small the piece asked, the index takes its body along
    ck_assert_uint_gt (kvp_change_piece (record.data, record.size, index_at,
                                         1), body_at);
    //  One change larger than asked still makes a piece; all of it at once
    ck_assert_uint_eq (kvp_change_piece (record.data, record.size, 0, 1),
                       one);
    ck_assert_uint_eq (kvp_change_piece (record.data, record.size, 0,
                                         1 << 20), record.size);
    kvp_change_fini (&record);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("replica");
    TCase *tc = tcase_create ("replica");
    tcase_add_unchecked_fixture (tc, tk_root_setup, tk_root_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_stream);
    tcase_add_test (tc, test_copy);
    tcase_add_test (tc, test_refuse);
    tcase_add_test (tc, test_lead_and_follow);
    tcase_add_test (tc, test_pieces);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
