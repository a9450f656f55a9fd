/*  test_regstate.c - the registry's state machine (store/kvp_regstate.h):
    what each record does to the state, each rule that refuses one (with
    its reason, the state unchanged), snapshots both ways and refused when
    damaged or when they break an invariant, and long random folds.
*/
#include <check.h>
#include <string.h>
#include "kvp_decgen.h"
#include "kvp_lmdb.h"
#include "kvp_regstate.h"
#include "kvp_store.h"
#include "kvp_testkit.h"
#include "kvp_walseg.h"

#define S_PARTS 8

static void
s_apply (kvp_regstate_t *state, const kvp_decision_t *record)
{
    char why [256] = "";
    int rc = kvp_regstate_apply (state, record, why, sizeof why);
    ck_assert_msg (rc == 0, "refused: %s", why);
}

//  The record is refused with a reason holding `reason`, and changes
//  nothing
static void
s_refused (kvp_regstate_t *state, const kvp_decision_t *record,
           const char *reason)
{
    size_t size_before, size_after;
    uint8_t *before = kvp_regstate_save (state, 0, &size_before);
    char why [256] = "";
    ck_assert_int_eq (kvp_regstate_apply (state, record, why, sizeof why),
                      KVP_STORE_EINVAL);
    ck_assert_msg (strstr (why, reason), "reason \"%s\", not \"%s\"", why,
                   reason);
    uint8_t *after = kvp_regstate_save (state, 0, &size_after);
    ck_assert_uint_eq (size_before, size_after);
    ck_assert_mem_eq (before, after, size_before);
    free (before);
    free (after);
}

//  A cluster of S_PARTS partitions, R = 3, M = 2, workers a..e known and
//  partition 1 placed on a, b, c (a leads)
static kvp_regstate_t *
s_cluster (void)
{
    kvp_regstate_t *state = kvp_regstate_new ();
    ck_assert_ptr_nonnull (state);
    kvp_decision_t create = { .type = KVP_DECISION_CREATE,
                              .nparts = S_PARTS, .replicas = 3,
                              .min_insync = 2 };
    s_apply (state, &create);
    const char *names [] = { "c", "a", "e", "b", "d" };
    for (int i = 0; i < 5; i++) {
        kvp_decision_t worker = { .type = KVP_DECISION_WORKER,
                                  .worker = names [i], .token = "t" };
        s_apply (state, &worker);
    }
    kvp_decision_t place = { .type = KVP_DECISION_PLACE, .part = 1,
                             .count = 3, .workers = { "a", "b", "c" } };
    s_apply (state, &place);
    return state;
}

//  Partition `part` has these copies (a string of one-letter names, the
//  leader's upper case, an in-sync one followed by '+') at this epoch
static void
s_expect (kvp_regstate_t *state, uint32_t part, const char *copies,
          uint64_t epoch)
{
    kvp_regpart_t p;
    ck_assert (kvp_regstate_partition (state, part, &p));
    char got [32] = "";
    size_t at = 0;
    for (size_t i = 0; i < p.count; i++) {
        char c = p.replicas [i][0];
        got [at++] = i == p.leader? (char) (c - 'a' + 'A'): c;
        if (p.in_sync [i])
            got [at++] = '+';
    }
    got [at] = 0;
    ck_assert_str_eq (got, copies);
    ck_assert_uint_eq (p.epoch, epoch);
}

START_TEST (test_create)
{
    kvp_regstate_t *state = kvp_regstate_new ();
    ck_assert_uint_eq (kvp_regstate_partitions (state), 0);
    kvp_decision_t worker = { .type = KVP_DECISION_WORKER, .worker = "w",
                              .token = "t" };
    s_refused (state, &worker, "CREATE comes first");
    kvp_decision_t create = { .type = KVP_DECISION_CREATE, .nparts = 4,
                              .replicas = 2, .min_insync = 1 };
    s_apply (state, &create);
    ck_assert_uint_eq (kvp_regstate_partitions (state), 4);
    ck_assert_uint_eq (kvp_regstate_replicas (state), 2);
    ck_assert_uint_eq (kvp_regstate_min_insync (state), 1);
    s_refused (state, &create, "exists already");
    kvp_decision_t bad = { .type = KVP_DECISION_CREATE, .nparts = 4,
                           .replicas = 2, .min_insync = 3 };
    s_refused (state, &bad, "malformed create record");
    s_refused (state, NULL, "malformed");
    ck_assert_ptr_null (kvp_regstate_leader (state, 0));
    ck_assert_ptr_null (kvp_regstate_leader (state, 4));
    kvp_regpart_t p;
    ck_assert (!kvp_regstate_partition (state, 4, &p));
    kvp_regstate_destroy (&state);
    ck_assert_ptr_null (state);
    kvp_regstate_destroy (&state);
}
END_TEST

START_TEST (test_workers)
{
    kvp_regstate_t *state = s_cluster ();
    size_t count;
    const char **names = kvp_regstate_workers (state, &count);
    ck_assert_uint_eq (count, 5);
    for (size_t i = 0; i < 5; i++)
        ck_assert_int_eq (names [i][0], (char) ('a' + i));
    ck_assert_str_eq (kvp_regstate_token (state, "b"), "t");
    ck_assert_ptr_null (kvp_regstate_token (state, "z"));
    kvp_decision_t worker = { .type = KVP_DECISION_WORKER, .worker = "b",
                              .token = "new" };
    s_apply (state, &worker);
    ck_assert_str_eq (kvp_regstate_token (state, "b"), "new");
    //  Retired: kept, refused as a new copy, not twice
    kvp_decision_t retire = { .type = KVP_DECISION_RETIRE, .worker = "e" };
    s_apply (state, &retire);
    ck_assert (kvp_regstate_retired (state, "e"));
    ck_assert (kvp_regstate_known (state, "e"));
    ck_assert (!kvp_regstate_retired (state, "a"));
    ck_assert (!kvp_regstate_known (state, "z"));
    s_refused (state, &retire, "retired already");
    retire.worker = "z";
    s_refused (state, &retire, "unknown");
    kvp_decision_t assign = { .type = KVP_DECISION_ASSIGN, .part = 2,
                              .worker = "e" };
    s_refused (state, &assign, "worker e is retired");
    kvp_decision_t place = { .type = KVP_DECISION_PLACE, .part = 2,
                             .count = 2, .workers = { "a", "e" } };
    s_refused (state, &place, "worker e is retired");
    kvp_regstate_destroy (&state);
}
END_TEST

//  ASSIGN: one copy; a new leader is a new epoch, the same one is not
START_TEST (test_assign)
{
    kvp_regstate_t *state = s_cluster ();
    kvp_decision_t assign = { .type = KVP_DECISION_ASSIGN, .part = 0,
                              .worker = "new" };
    s_apply (state, &assign);
    ck_assert_str_eq (kvp_regstate_leader (state, 0), "new");
    ck_assert (kvp_regstate_known (state, "new"));
    ck_assert_ptr_null (kvp_regstate_token (state, "new"));
    s_expect (state, 0, "N+", 1);
    s_apply (state, &assign);
    s_expect (state, 0, "N+", 1);
    assign.worker = "b";
    s_apply (state, &assign);
    s_expect (state, 0, "B+", 2);
    assign.part = 1;
    s_refused (state, &assign, "partition 1 has 3 copies");
    assign.part = S_PARTS;
    s_refused (state, &assign, "out of range");
    kvp_regstate_destroy (&state);
}
END_TEST

START_TEST (test_place)
{
    kvp_regstate_t *state = s_cluster ();
    s_expect (state, 1, "A+b+c+", 1);
    ck_assert_str_eq (kvp_regstate_leader (state, 1), "a");
    kvp_decision_t place = { .type = KVP_DECISION_PLACE, .part = 1,
                             .count = 1, .workers = { "d" } };
    s_refused (state, &place, "placed already");
    place.part = 2;
    place.workers [0] = "zz";
    s_refused (state, &place, "worker zz is unknown");
    kvp_decision_t four = { .type = KVP_DECISION_PLACE, .part = 2,
                            .count = 4, .workers = { "a", "b", "c", "d" } };
    s_refused (state, &four, "4 copies, but R = 3");
    place.workers [0] = "d";
    s_apply (state, &place);
    s_expect (state, 2, "D+", 1);
    kvp_regstate_destroy (&state);
}
END_TEST

//  LEADER: the epoch grows, the leader holds a copy and is in sync, a
//  deposed leader leaves the in-sync set
START_TEST (test_leader)
{
    kvp_regstate_t *state = s_cluster ();
    kvp_decision_t leader = { .type = KVP_DECISION_LEADER, .part = 1,
                              .epoch = 1, .worker = "b" };
    s_refused (state, &leader, "does not grow");
    leader.epoch = 3;
    leader.worker = "d";
    s_refused (state, &leader, "d holds no copy");
    leader.worker = "b";
    s_apply (state, &leader);
    s_expect (state, 1, "aB+c+", 3);
    //  a is out of sync now, so it cannot lead back
    leader.epoch = 4;
    leader.worker = "a";
    s_refused (state, &leader, "a is not in sync");
    //  The same leader, a new epoch: it stays in sync
    leader.worker = "b";
    s_apply (state, &leader);
    s_expect (state, 1, "aB+c+", 4);
    leader.part = 2;
    s_refused (state, &leader, "partition 2 is not placed");
    kvp_regstate_destroy (&state);
}
END_TEST

START_TEST (test_isr)
{
    kvp_regstate_t *state = s_cluster ();
    kvp_decision_t shrink = { .type = KVP_DECISION_SHRINK, .part = 1,
                              .epoch = 1, .worker = "a" };
    s_refused (state, &shrink, "a leads partition 1");
    shrink.worker = "c";
    shrink.epoch = 2;
    s_refused (state, &shrink, "not partition 1's current epoch 1");
    shrink.epoch = 1;
    s_apply (state, &shrink);
    s_expect (state, 1, "A+b+c", 1);
    s_refused (state, &shrink, "c is not in sync");
    shrink.worker = "d";
    s_refused (state, &shrink, "d is not in sync");
    kvp_decision_t expand = { .type = KVP_DECISION_EXPAND, .part = 1,
                              .epoch = 1, .worker = "b" };
    s_refused (state, &expand, "b is in sync on partition 1 already");
    expand.worker = "d";
    s_refused (state, &expand, "d holds no copy");
    expand.worker = "c";
    s_apply (state, &expand);
    s_expect (state, 1, "A+b+c+", 1);
    kvp_regstate_destroy (&state);
}
END_TEST

//  MOVE: a copy out of sync goes to a known worker without one, in its
//  place; added up to R; dropped
START_TEST (test_move)
{
    kvp_regstate_t *state = s_cluster ();
    kvp_decision_t move = { .type = KVP_DECISION_MOVE, .part = 1,
                            .epoch = 1, .worker = "b", .to = "d" };
    s_refused (state, &move, "b is in sync on partition 1: it leaves");
    kvp_decision_t shrink = { .type = KVP_DECISION_SHRINK, .part = 1,
                              .epoch = 1, .worker = "b" };
    s_apply (state, &shrink);
    move.to = "c";
    s_refused (state, &move, "c holds a copy of partition 1 already");
    move.to = "zz";
    s_refused (state, &move, "zz is unknown");
    move.to = "d";
    move.epoch = 0;
    s_refused (state, &move, "malformed");
    move.epoch = 1;
    s_apply (state, &move);
    s_expect (state, 1, "A+dc+", 1);
    move.worker = "";
    move.to = "e";
    s_refused (state, &move, "has its R = 3 copies");
    //  Drop d, then add e at the end
    move.worker = "d";
    move.to = "";
    s_apply (state, &move);
    s_expect (state, 1, "A+c+", 1);
    move.worker = "";
    move.to = "e";
    s_apply (state, &move);
    s_expect (state, 1, "A+c+e", 1);
    //  Dropping the first copy keeps the leader and in-sync set right
    kvp_decision_t leader = { .type = KVP_DECISION_LEADER, .part = 1,
                              .epoch = 2, .worker = "c" };
    s_apply (state, &leader);
    s_expect (state, 1, "aC+e", 2);
    move = (kvp_decision_t) { .type = KVP_DECISION_MOVE, .part = 1,
                              .epoch = 2, .worker = "a", .to = "" };
    s_apply (state, &move);
    s_expect (state, 1, "C+e", 2);
    kvp_decision_t expand = { .type = KVP_DECISION_EXPAND, .part = 1,
                              .epoch = 2, .worker = "e" };
    s_apply (state, &expand);
    s_expect (state, 1, "C+e+", 2);
    kvp_regstate_destroy (&state);
}
END_TEST

//  A fold of random records (most accepted): after each, the snapshot
//  loads back equal (so every invariant holds), a refused one changes
//  nothing, and two folds of the same records are equal
START_TEST (test_fold)
{
    kvp_regstate_t *state = s_cluster ();
    kvp_regstate_t *twin = s_cluster ();
    uint64_t seed = 42;
    size_t applied = 0, refused = 0, by_type [KVP_DECISION_TYPES] = { 0 };
    for (int i = 0; i < 4000; i++) {
        kvp_decision_t record;
        tk_decision_random (state, &seed, &record);
        size_t before_size;
        uint8_t *before = kvp_regstate_save (state, 0, &before_size);
        if (kvp_regstate_apply (state, &record, NULL, 0) == 0) {
            s_apply (twin, &record);
            applied++;
            by_type [record.type]++;
        }
        else {
            size_t after_size;
            uint8_t *after = kvp_regstate_save (state, 0, &after_size);
            ck_assert_uint_eq (before_size, after_size);
            ck_assert_mem_eq (before, after, before_size);
            free (after);
            refused++;
        }
        free (before);
        size_t size;
        uint8_t *snap = kvp_regstate_save (state, (uint64_t) i, &size);
        uint64_t seq = 0;
        int rc = -1;
        kvp_regstate_t *loaded = kvp_regstate_load (snap, size, &seq, &rc);
        ck_assert_msg (loaded, "snapshot %d does not load: %d", i, rc);
        ck_assert (kvp_regstate_equal (loaded, state));
        ck_assert_uint_eq (seq, (uint64_t) i);
        kvp_regstate_destroy (&loaded);
        free (snap);
    }
    ck_assert (kvp_regstate_equal (state, twin));
    //  Enough of both, and of every type but CREATE
    ck_assert_uint_gt (applied, 500);
    ck_assert_uint_gt (refused, 500);
    for (int type = KVP_DECISION_WORKER; type < KVP_DECISION_TYPES; type++)
        ck_assert_msg (by_type [type] > 0, "no %s applied",
                       kvp_decision_type_name ((kvp_decision_type_t) type));
    kvp_regstate_destroy (&state);
    kvp_regstate_destroy (&twin);
}
END_TEST

//  Each difference is seen
START_TEST (test_equal)
{
    kvp_regstate_t *a = s_cluster ();
    kvp_regstate_t *b = s_cluster ();
    ck_assert (kvp_regstate_equal (a, b));
    kvp_decision_t changes [] = {
        { .type = KVP_DECISION_WORKER, .worker = "a", .token = "other" },
        { .type = KVP_DECISION_WORKER, .worker = "f", .token = "t" },
        { .type = KVP_DECISION_RETIRE, .worker = "d" },
        { .type = KVP_DECISION_ASSIGN, .part = 7, .worker = "a" },
        { .type = KVP_DECISION_SHRINK, .part = 1, .epoch = 1,
          .worker = "b" },
        { .type = KVP_DECISION_LEADER, .part = 1, .epoch = 2,
          .worker = "a" },
    };
    for (size_t i = 0; i < sizeof changes / sizeof changes [0]; i++) {
        kvp_regstate_t *c = s_cluster ();
        s_apply (c, &changes [i]);
        ck_assert_msg (!kvp_regstate_equal (a, c), "change %zu unseen", i);
        ck_assert (!kvp_regstate_equal (c, a));
        kvp_regstate_destroy (&c);
    }
    //  The same copies in another order are another state
    kvp_regstate_t *c = kvp_regstate_new ();
    kvp_decision_t create = { .type = KVP_DECISION_CREATE,
                              .nparts = S_PARTS, .replicas = 3,
                              .min_insync = 2 };
    s_apply (c, &create);
    for (char name [2] = "a"; name [0] <= 'e'; name [0]++) {
        kvp_decision_t worker = { .type = KVP_DECISION_WORKER,
                                  .worker = name, .token = "t" };
        s_apply (c, &worker);
    }
    kvp_decision_t place = { .type = KVP_DECISION_PLACE, .part = 1,
                             .count = 3, .workers = { "a", "c", "b" } };
    s_apply (c, &place);
    ck_assert (!kvp_regstate_equal (a, c));
    kvp_regstate_destroy (&c);
    kvp_regstate_destroy (&a);
    kvp_regstate_destroy (&b);
}
END_TEST

static void
s_recrc (uint8_t *buf, size_t size)
{
    kvp_lmdb_put_u32 (buf + size - 4, kvp_walseg_crc32c_soft (0, buf,
                                                              size - 4));
}

static void
s_load_refused (const uint8_t *buf, size_t size)
{
    uint64_t seq;
    int rc = 0;
    ck_assert_ptr_null (kvp_regstate_load (buf, size, &seq, &rc));
    ck_assert_int_eq (rc, KVP_STORE_CORRUPT);
}

//  Every cut and bit flip of a snapshot is refused
START_TEST (test_snapshot_damage)
{
    kvp_regstate_t *state = s_cluster ();
    size_t size;
    uint8_t *snap = kvp_regstate_save (state, 77, &size);
    for (size_t cut = 0; cut < size; cut++)
        s_load_refused (snap, cut);
    for (size_t bit = 0; bit < size * 8; bit++) {
        snap [bit / 8] ^= (uint8_t) (1u << (bit % 8));
        s_load_refused (snap, size);
        snap [bit / 8] ^= (uint8_t) (1u << (bit % 8));
    }
    uint64_t seq = 0;
    kvp_regstate_t *back = kvp_regstate_load (snap, size, &seq, NULL);
    ck_assert (back && seq == 77 && kvp_regstate_equal (back, state));
    kvp_regstate_destroy (&back);
    s_load_refused (NULL, 0);
    free (snap);
    //  An empty state saves and loads too
    kvp_regstate_t *empty = kvp_regstate_new ();
    snap = kvp_regstate_save (empty, 0, &size);
    back = kvp_regstate_load (snap, size, &seq, NULL);
    ck_assert (back && kvp_regstate_equal (back, empty));
    kvp_regstate_destroy (&back);
    kvp_regstate_destroy (&empty);
    free (snap);
    kvp_regstate_destroy (&state);
}
END_TEST

//  Snapshots with a good CRC that break an invariant are refused. The
//  state: N 8, R 3, M 2; workers a (id 0), b (1); partition 1 on a, b.
START_TEST (test_snapshot_invariants)
{
    kvp_regstate_t *state = kvp_regstate_new ();
    kvp_decision_t records [] = {
        { .type = KVP_DECISION_CREATE, .nparts = S_PARTS, .replicas = 3,
          .min_insync = 2 },
        { .type = KVP_DECISION_WORKER, .worker = "a", .token = "t" },
        { .type = KVP_DECISION_WORKER, .worker = "b", .token = "t" },
        { .type = KVP_DECISION_PLACE, .part = 1, .count = 2,
          .workers = { "a", "b" } },
    };
    for (size_t i = 0; i < 4; i++)
        s_apply (state, &records [i]);
    size_t size;
    uint8_t *good = kvp_regstate_save (state, 5, &size);
    //  version(1) seq(8) N(4) R(1) M(1) = 15; workers(4) at 15;
    //  a: flags 19, name 20..23, token 24..27; b: 28..36;
    //  placed(4) at 37; part 41, epoch 43, count 51, leader 52, isr 53,
    //  ids 54 and 58; crc 62
    ck_assert_uint_eq (size, 66);
    struct { size_t at; uint8_t value; const char *what; } edits [] = {
        { 0, 2, "version" },
        { 14, 4, "M above R" },
        { 13, 6, "R above 5" },
        { 19, 4, "unknown flag" },
        { 31, 'a', "a twice" },
        { 22, 0, "a NUL inside" },
        { 23, 'x', "no NUL" },
        { 42, 8, "partition out of range" },
        { 50, 0, "epoch 0" },
        { 51, 0, "no copies" },
        { 51, 4, "count above R" },
        { 52, 2, "leader out of range" },
        { 53, 2, "leader out of sync" },
        { 53, 7, "in sync beyond the copies" },
        { 57, 1, "a copy twice" },
        { 61, 2, "unknown worker" },
        { 40, 2, "two placed, one there" },
        { 40, 0, "none placed, one there" },
    };
    uint8_t *buf = malloc (size + 1);
    for (size_t i = 0; i < sizeof edits / sizeof edits [0]; i++) {
        memcpy (buf, good, size);
        buf [edits [i].at] = edits [i].value;
        s_recrc (buf, size);
        uint64_t seq;
        ck_assert_msg (!kvp_regstate_load (buf, size, &seq, NULL),
                       "loaded with %s", edits [i].what);
    }
    //  A byte more before the CRC
    memcpy (buf, good, size - 4);
    buf [size - 4] = 0;
    s_recrc (buf, size + 1);
    s_load_refused (buf, size + 1);
    uint64_t seq;
    kvp_regstate_t *back = kvp_regstate_load (good, size, &seq, NULL);
    ck_assert (back && kvp_regstate_equal (back, state));
    kvp_regstate_destroy (&back);
    free (buf);
    free (good);
    kvp_regstate_destroy (&state);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("regstate");
    TCase *tc = tcase_create ("regstate");
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_create);
    tcase_add_test (tc, test_workers);
    tcase_add_test (tc, test_assign);
    tcase_add_test (tc, test_place);
    tcase_add_test (tc, test_leader);
    tcase_add_test (tc, test_isr);
    tcase_add_test (tc, test_move);
    tcase_add_test (tc, test_fold);
    tcase_add_test (tc, test_equal);
    tcase_add_test (tc, test_snapshot_damage);
    tcase_add_test (tc, test_snapshot_invariants);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
