/*  fuzz_apply.c - libFuzzer target for kvp_store_apply, which a follower
    runs on records that came over the network: a real store (LMDB and its
    log in a temporary folder, removed at exit) holding partition 3, which
    each input replaces, and partition 4 and a global value, which nothing
    may touch.

    Two ways in, by the first byte's low bit. The rest of the input as the
    record itself. Or, since random bytes seldom decode, a record built
    change by change from the input: partition records, systems, items,
    keys, jobs (index record and body), index deletes and clears, global
    values and body deletes, each for partition 3 or, when the input says,
    another one, with sizes near the tables' limits.

    Each input runs as one batch: drop 3, apply the record for 3, commit.
    The apply must never crash; when it succeeds every change of the
    record is partition 3's (kvp_change_part), and when it fails nothing
    of it is in 3 (left empty by the drop). After every input partition 4
    and the global value read as before, and 3's log reads without error
    (its index records point at bodies this store numbered). */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kvp_store.h"
#include "kvp_change.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap (); } while (0)
#define S_PART      3               //  the partition records are for
#define S_OTHER     4               //  one nothing may touch
#define S_BUILT_MAX 64              //  changes in a built record

static kvp_store_t *s_store;
static char s_dir [64];
static char s_other [4096];         //  S_OTHER as it read at the start

static int
s_rm_entry (const char *path, const struct stat *st, int flag,
            struct FTW *ftw)
{
    remove (path);
    return 0;
}

static void
s_cleanup (void)
{
    kvp_store_destroy (&s_store);
    nftw (s_dir, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int
s_event_fn (void *arg, uint32_t part, uint64_t seq, const void *event,
            size_t event_len)
{
    FILE *out = (FILE *) arg;
    if (out)
        fprintf (out, "%llu %.*s\n", (unsigned long long) seq,
                 (int) event_len, (const char *) event);
    return 0;
}

static int
s_count_fn (void *arg, uint32_t part, uint64_t seq, const void *event,
            size_t event_len)
{
    (*(size_t *) arg)++;
    return 0;
}

static const uint8_t s_guid [16] = "0123456789abcdef";

//  What partition S_OTHER shows (in a batch): record, system, item, key,
//  events
static void
s_read_other (char *text, size_t size)
{
    FILE *out = fmemopen (text, size, "w");
    CHECK (out);
    kvp_partition_t info;
    kvp_system_t sys;
    const char *data;
    size_t data_len;
    uint64_t seq;
    CHECK (kvp_store_partition_get (s_store, S_OTHER, &info) == 0);
    CHECK (kvp_store_system_get (s_store, S_OTHER, s_guid, &sys) == 0);
    CHECK (kvp_store_item_get (s_store, S_OTHER, s_guid, 1, "name", 4, &data,
                               &data_len) == 0);
    CHECK (kvp_store_key_get (s_store, S_OTHER, s_guid, "key", 3, &seq,
                              NULL) == 0);
    fprintf (out, "%u %llu %s %.*s %llu\n", info.epoch,
             (unsigned long long) info.seq, sys.name, (int) data_len, data,
             (unsigned long long) seq);
    CHECK (kvp_store_log_each (s_store, S_OTHER, 0, s_event_fn, out) == 0);
    fputc ('\0', out);
    fclose (out);
}

//  Partitions 3 and 4 with a system, an item, a keyed job each
static void
s_seed (uint32_t part)
{
    kvp_system_t sys = { .name = "sys", .name_len = 3, .created_ms = 1 };
    uint8_t digest [16] = { 0 };
    uint32_t epoch;
    uint64_t seq;
    CHECK (kvp_store_system_put (s_store, part, s_guid, &sys, false) == 0);
    CHECK (kvp_store_item_put (s_store, part, s_guid, 1, "name", 4, "data",
                               4, false) == 0);
    CHECK (kvp_store_log_next (s_store, part, &epoch, &seq) == 0);
    CHECK (kvp_store_log_put (s_store, part, seq, 5, s_guid, "key", 3,
                              digest, "event", 5) == 0);
}

static void
s_open (void)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/fuzz_apply.XXXXXX");
    CHECK (mkdtemp (s_dir));
    atexit (s_cleanup);
    kvp_store_config_t config = { .nosync = true, .wal_segment = 1 << 20,
                                  .map_size = (size_t) 1 << 30 };
    s_store = kvp_store_new (s_dir, &config, NULL);
    CHECK (s_store);
    CHECK (kvp_store_meta_put (s_store, "fuzz", "yes") == 0);
    CHECK (kvp_store_begin (s_store) == 0);
    s_seed (S_PART);
    s_seed (S_OTHER);
    s_read_other (s_other, sizeof s_other);
    CHECK (kvp_store_commit (s_store) == 0);
}

//  --- Records built from the input ---------------------------------------

typedef struct {
    const uint8_t *data;
    size_t size;
} s_input_t;

static uint8_t
s_byte (s_input_t *in)
{
    if (in->size == 0)
        return 0;
    in->size--;
    return *in->data++;
}

//  A key of `len` bytes: the partition (S_PART, or another when `foreign`),
//  then bytes of the input
static size_t
s_key (s_input_t *in, uint8_t *key, size_t len, bool foreign)
{
    uint16_t part = foreign? S_OTHER + (s_byte (in) & 1) * 0xfff0: S_PART;
    key [0] = (uint8_t) (part >> 8);
    key [1] = (uint8_t) part;
    for (size_t i = 2; i < len; i++)
        key [i] = s_byte (in);
    return len;
}

//  A job: index record part + seq -> lsn, then its body (or a body that
//  names another job, when the input says)
static void
s_add_job (kvp_change_t *record, s_input_t *in, bool foreign)
{
    uint8_t job [10], lsn [8] = { 0, 0, 0, 0, 0, 0, 0, 9 }, body [128];
    s_key (in, job, sizeof job, false);
    uint8_t shape = s_byte (in);
    size_t size = 35 + shape % 40;
    memset (body, 0, sizeof body);
    memcpy (body, job, sizeof job);
    if (foreign)
        s_key (in, body, 10, true);
    body [34] = shape & 0x40? (uint8_t) (shape % 8): 0;    //  key_len
    if (body [34])
        size += body [34] + 16;     //  the key and its digest
    if (shape & 0x80)
        size = shape % 35;          //  too short
    kvp_change_add (record, KVP_CHANGE_PUT, KVP_TABLE_LOG, job, sizeof job,
                    lsn, sizeof lsn);
    if (!(shape & 0x20))
        kvp_change_add (record, KVP_CHANGE_PUT, KVP_TABLE_LOGBODY, lsn,
                        sizeof lsn, body, size);
}

//  One change of kind `kind` from the input
static void
s_add_one (kvp_change_t *record, s_input_t *in, uint8_t kind)
{
    static const kvp_change_table_t tables [] = {
        KVP_TABLE_META, KVP_TABLE_SYSTEMS, KVP_TABLE_ITEMS, KVP_TABLE_LOG,
        KVP_TABLE_LOGBODY, KVP_TABLE_KEYS
    };
    uint8_t key [520], val [64];
    bool foreign = kind & 0x80;
    kvp_change_table_t table = tables [(kind >> 3) % 6];
    kvp_change_op_t op = (kvp_change_op_t) (1 + (kind >> 5) % 3);
    uint8_t sizes = s_byte (in);
    size_t key_len = 1 + sizes % 40, val_len = s_byte (in) % sizeof val;
    if (kind & 0x40)
        key_len = 2 + (size_t) sizes * 2;   //  up to 512: past LMDB's
    if ((kind & 7) == 0) {
        s_add_job (record, in, foreign);
        return;
    }
    if ((kind & 7) == 1) {              //  a global value
        memcpy (key, "\xff\xff" "fuzz", 6);
        kvp_change_add (record, op, KVP_TABLE_META, key, 6, "no", 2);
        return;
    }
    s_key (in, key, key_len, foreign);
    for (size_t i = 0; i < val_len; i++)
        val [i] = s_byte (in);
    kvp_change_add (record, op, table, key, key_len, val, val_len);
}

static void
s_build (kvp_change_t *record, s_input_t *in)
{
    for (int i = 0; i < S_BUILT_MAX && in->size; i++)
        s_add_one (record, in, s_byte (in));
}

//  --- One input ----------------------------------------------------------

static int
s_mine (void *arg, kvp_change_op_t op, kvp_change_table_t table,
        const void *key, size_t key_len, const void *val, size_t val_len)
{
    CHECK (kvp_change_part (op, table, key, key_len, val, val_len)
           == S_PART);
    return 0;
}

//  After the input's batch: the rest is as it was, 3 reads cleanly
static void
s_check_after (int applied)
{
    char now [sizeof s_other], value [8];
    kvp_partition_t info;
    CHECK (kvp_store_begin (s_store) == 0);
    s_read_other (now, sizeof now);
    CHECK (strcmp (now, s_other) == 0);
    int rc = kvp_store_partition_get (s_store, S_PART, &info);
    CHECK (rc == KVP_STORE_NOTFOUND || (applied == 0 && rc == 0));
    size_t events = 0;
    CHECK (kvp_store_log_each (s_store, S_PART, 0, s_count_fn, &events)
           == 0);
    kvp_store_abort (s_store);
    CHECK (kvp_store_meta_get (s_store, "fuzz", value, sizeof value) == 3);
    CHECK (strcmp (value, "yes") == 0);
}

static void
s_one (const void *data, size_t size)
{
    CHECK (kvp_store_begin (s_store) == 0);
    CHECK (kvp_store_drop (s_store, S_PART) == 0);
    int rc = kvp_store_apply (s_store, S_PART, data, size);
    CHECK (rc == 0 || rc == KVP_STORE_CORRUPT);
    if (rc == 0)
        CHECK (kvp_change_each (data, size, s_mine, NULL) == 0);
    else {
        //  Refused whole: 3 holds nothing, as the drop left it
        kvp_partition_t info;
        kvp_system_t sys;
        size_t events = 0;
        CHECK (kvp_store_partition_get (s_store, S_PART, &info)
               == KVP_STORE_NOTFOUND);
        CHECK (kvp_store_system_get (s_store, S_PART, s_guid, &sys)
               == KVP_STORE_NOTFOUND);
        CHECK (kvp_store_log_each (s_store, S_PART, 0, s_count_fn, &events)
               == 0 && events == 0);
    }
    CHECK (kvp_store_commit (s_store) == 0);
    s_check_after (rc);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_store)
        s_open ();
    if (size == 0)
        return 0;
    if ((data [0] & 1) == 0) {
        s_one (data + 1, size - 1);
        return 0;
    }
    kvp_change_t record;
    kvp_change_init (&record);
    s_input_t in = { data + 1, size - 1 };
    s_build (&record, &in);
    s_one (record.data, record.size);
    kvp_change_fini (&record);
    return 0;
}
