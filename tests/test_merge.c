/*  test_merge.c - the gap-free subscriber's logic (client/kvp_merge)
    against scripted streams: order, repeats, gaps and their replay, the
    three starting points, losses past retention, hidden events, the byte
    bound, and a long random stream with drops, repeats and reordering
    that must come out exactly once and in order.
*/
#include <check.h>
#include "kvp_testkit.h"
#include "kvp_merge.h"

static kvp_merge_t *merge;

static void
s_setup (void)
{
    merge = kvp_merge_new (0);
    ck_assert_ptr_nonnull (merge);
}

static void
s_teardown (void)
{
    kvp_merge_destroy (&merge);
    ck_assert_ptr_null (merge);
    kvp_merge_destroy (&merge);         //  safe twice
}

//  Offer event `seq` of `part` whose body is "p<part>s<seq>".
static kvp_merge_rc_t
s_offer (uint32_t part, uint64_t seq, int flags)
{
    char body [48];
    int len = snprintf (body, sizeof body, "p%us%llu", part,
                        (unsigned long long) seq);
    return kvp_merge_offer (merge, part, seq, body, (size_t) len, flags);
}

//  Pop one item and check it is event `seq` of `part` (with its body).
static void
s_expect_event (uint32_t part, uint64_t seq, bool replayed)
{
    kvp_merge_item_t item;
    ck_assert_msg (kvp_merge_pop (merge, &item), "nothing for %u/%llu",
                   part, (unsigned long long) seq);
    ck_assert_int_eq (item.kind, KVP_MERGE_EVENT);
    ck_assert_uint_eq (item.partition, part);
    ck_assert_uint_eq (item.seq, seq);
    ck_assert_int_eq (item.replayed, replayed);
    char body [48];
    int len = snprintf (body, sizeof body, "p%us%llu", part,
                        (unsigned long long) seq);
    ck_assert_uint_eq (item.len, (size_t) len);
    ck_assert_mem_eq (item.body, body, item.len);
}

static void
s_expect_lost (uint32_t part, uint64_t from, uint64_t count)
{
    kvp_merge_item_t item;
    ck_assert (kvp_merge_pop (merge, &item));
    ck_assert_int_eq (item.kind, KVP_MERGE_LOST);
    ck_assert_uint_eq (item.partition, part);
    ck_assert_uint_eq (item.seq, from);
    ck_assert_uint_eq (item.count, count);
}

static void
s_expect_empty (void)
{
    kvp_merge_item_t item;
    ck_assert (!kvp_merge_pop (merge, &item));
}

static uint64_t
s_position (uint32_t part)
{
    uint64_t last = 999999;
    ck_assert (kvp_merge_position (merge, part, &last));
    return last;
}

START_TEST (test_in_order_and_repeats)
{
    ck_assert_int_eq (kvp_merge_track (merge, 3, KVP_MERGE_AT, 0), 0);
    ck_assert_int_eq (kvp_merge_track (merge, 3, KVP_MERGE_AT, 0), -1);
    ck_assert_int_eq (kvp_merge_track (merge, KVP_MERGE_PARTS,
                                       KVP_MERGE_AT, 0), -1);
    ck_assert_int_eq (s_offer (3, 1, 0), KVP_MERGE_QUEUED);
    ck_assert_int_eq (s_offer (3, 2, 0), KVP_MERGE_QUEUED);
    ck_assert_int_eq (s_offer (3, 2, 0), KVP_MERGE_REPEAT);
    ck_assert_int_eq (s_offer (3, 1, KVP_MERGE_REPLAYED), KVP_MERGE_REPEAT);
    ck_assert_int_eq (s_offer (3, 3, 0), KVP_MERGE_QUEUED);
    ck_assert_int_eq (s_offer (4, 1, 0), KVP_MERGE_IGNORED);
    ck_assert_uint_eq (s_position (3), 0);          //  nothing popped yet
    s_expect_event (3, 1, false);
    ck_assert_uint_eq (s_position (3), 1);
    s_expect_event (3, 2, false);
    s_expect_event (3, 3, false);
    s_expect_empty ();
    ck_assert_uint_eq (s_position (3), 3);
    kvp_merge_stats_t st;
    kvp_merge_stats (merge, &st);
    ck_assert_uint_eq (st.delivered, 3);
    ck_assert_uint_eq (st.repeats, 2);
    ck_assert_uint_eq (st.replayed, 0);
    ck_assert (!kvp_merge_position (merge, 4, &st.delivered));
}
END_TEST

START_TEST (test_gap_filled_by_replay)
{
    kvp_merge_track (merge, 0, KVP_MERGE_AT, 10);
    ck_assert_uint_eq (kvp_merge_next (merge, 0), 11);
    ck_assert_int_eq (s_offer (0, 11, 0), KVP_MERGE_QUEUED);
    ck_assert_int_eq (s_offer (0, 14, 0), KVP_MERGE_HELD);
    ck_assert_int_eq (s_offer (0, 14, 0), KVP_MERGE_REPEAT);
    ck_assert_int_eq (s_offer (0, 13, 0), KVP_MERGE_HELD);
    ck_assert (kvp_merge_gap (merge, 0));
    ck_assert_uint_eq (kvp_merge_next (merge, 0), 12);
    s_expect_event (0, 11, false);
    s_expect_empty ();                  //  13 and 14 wait for 12
    //  The replay of the gap brings 12, 13, 14 (13 and 14 again)
    ck_assert_int_eq (s_offer (0, 12, KVP_MERGE_REPLAYED), KVP_MERGE_QUEUED);
    ck_assert_int_eq (s_offer (0, 13, KVP_MERGE_REPLAYED), KVP_MERGE_REPEAT);
    ck_assert_int_eq (s_offer (0, 14, KVP_MERGE_REPLAYED), KVP_MERGE_REPEAT);
    ck_assert (!kvp_merge_gap (merge, 0));
    s_expect_event (0, 12, true);
    s_expect_event (0, 13, false);
    s_expect_event (0, 14, false);
    s_expect_empty ();
    ck_assert_uint_eq (kvp_merge_next (merge, 0), 15);
    kvp_merge_stats_t st;
    kvp_merge_stats (merge, &st);
    ck_assert_uint_eq (st.replayed, 1);
    ck_assert_uint_eq (st.held_bytes, 0);
}
END_TEST

START_TEST (test_from_now)
{
    kvp_merge_track (merge, 5, KVP_MERGE_NOW, 0);
    ck_assert (kvp_merge_tracked (merge, 5));
    ck_assert (!kvp_merge_is_known (merge, 5));
    ck_assert_uint_eq (kvp_merge_next (merge, 5), 0);
    ck_assert (!kvp_merge_gap (merge, 5));
    //  Held while "now" is unknown, whatever their seq
    ck_assert_int_eq (s_offer (5, 7, 0), KVP_MERGE_HELD);
    ck_assert_int_eq (s_offer (5, 8, 0), KVP_MERGE_HELD);
    ck_assert_int_eq (s_offer (5, 10, 0), KVP_MERGE_HELD);
    s_expect_empty ();
    kvp_merge_known (merge, 5, 7);      //  now = 7: 7 is before it
    ck_assert (kvp_merge_is_known (merge, 5));
    s_expect_event (5, 8, false);
    s_expect_empty ();                  //  9 is missing
    ck_assert (kvp_merge_gap (merge, 5));
    kvp_merge_known (merge, 5, 100);    //  ignored once known
    ck_assert_uint_eq (kvp_merge_next (merge, 5), 9);
    kvp_merge_stats_t st;
    kvp_merge_stats (merge, &st);
    ck_assert_uint_eq (st.skipped, 1);
}
END_TEST

START_TEST (test_from_start_skips_retention)
{
    kvp_merge_track (merge, 2, KVP_MERGE_START, 0);
    ck_assert_uint_eq (kvp_merge_next (merge, 2), 1);
    ck_assert_int_eq (s_offer (2, 31, 0), KVP_MERGE_HELD);
    kvp_merge_gone (merge, 2, 30);      //  1..29 past retention: the start
    s_expect_empty ();
    ck_assert_int_eq (s_offer (2, 30, KVP_MERGE_REPLAYED), KVP_MERGE_QUEUED);
    s_expect_event (2, 30, true);
    s_expect_event (2, 31, false);
    //  Once something was handed on, gone means lost
    ck_assert_int_eq (s_offer (2, 40, 0), KVP_MERGE_HELD);
    kvp_merge_gone (merge, 2, 35);
    s_expect_lost (2, 32, 3);
    ck_assert_uint_eq (s_position (2), 34);
    kvp_merge_stats_t st;
    kvp_merge_stats (merge, &st);
    ck_assert_uint_eq (st.lost, 3);
    ck_assert_uint_eq (st.skipped, 29);
}
END_TEST

START_TEST (test_lost_runs_around_held)
{
    kvp_merge_track (merge, 1, KVP_MERGE_AT, 0);
    ck_assert_int_eq (s_offer (1, 5, 0), KVP_MERGE_HELD);
    ck_assert_int_eq (s_offer (1, 9, 0), KVP_MERGE_HELD);
    kvp_merge_gone (merge, 1, 8);       //  1..7 gone, but 5 is held
    s_expect_lost (1, 1, 4);
    ck_assert_uint_eq (s_position (1), 4);
    s_expect_event (1, 5, false);
    s_expect_lost (1, 6, 2);
    s_expect_empty ();                  //  8 still missing, 9 held
    ck_assert (kvp_merge_gap (merge, 1));
    kvp_merge_gone (merge, 1, 3);       //  an older answer: nothing
    s_expect_empty ();
    s_offer (1, 8, KVP_MERGE_REPLAYED);
    s_expect_event (1, 8, true);
    s_expect_event (1, 9, false);
    ck_assert_uint_eq (s_position (1), 9);
}
END_TEST

START_TEST (test_hidden_and_bound)
{
    kvp_merge_t *small = kvp_merge_new (16);
    kvp_merge_destroy (&merge);
    merge = small;
    kvp_merge_track (merge, 0, KVP_MERGE_AT, 0);
    //  A replayed event of another system moves the position, unseen
    ck_assert_int_eq (kvp_merge_offer (merge, 0, 1, NULL, 0,
                      KVP_MERGE_REPLAYED | KVP_MERGE_HIDDEN),
                      KVP_MERGE_QUEUED);
    ck_assert_int_eq (s_offer (0, 2, KVP_MERGE_REPLAYED), KVP_MERGE_QUEUED);
    s_expect_event (0, 2, true);
    ck_assert_uint_eq (s_position (0), 2);
    //  Held bytes are bounded: 4 bodies of 4 bytes ("p0s4"), then shed
    ck_assert_int_eq (s_offer (0, 4, 0), KVP_MERGE_HELD);
    ck_assert_int_eq (s_offer (0, 5, 0), KVP_MERGE_HELD);
    ck_assert_int_eq (s_offer (0, 6, 0), KVP_MERGE_HELD);
    ck_assert_int_eq (s_offer (0, 7, 0), KVP_MERGE_HELD);
    ck_assert_int_eq (s_offer (0, 8, 0), KVP_MERGE_SHED);
    //  A hidden event ahead is held without bytes
    ck_assert_int_eq (kvp_merge_offer (merge, 0, 9, NULL, 0,
                      KVP_MERGE_HIDDEN), KVP_MERGE_HELD);
    s_offer (0, 3, KVP_MERGE_REPLAYED);
    for (uint64_t seq = 3; seq <= 7; seq++)
        s_expect_event (0, seq, seq == 3);
    s_expect_empty ();
    ck_assert_uint_eq (kvp_merge_next (merge, 0), 8);   //  8 was shed
    s_offer (0, 8, KVP_MERGE_REPLAYED);
    s_expect_event (0, 8, true);
    s_expect_empty ();
    ck_assert_uint_eq (s_position (0), 9);
    kvp_merge_stats_t st;
    kvp_merge_stats (merge, &st);
    ck_assert_uint_eq (st.shed, 1);
    ck_assert_uint_eq (st.skipped, 2);
}
END_TEST

//  --- a long random stream ------------------------------------------------

enum { S_PARTS = 4, S_EVENTS = 3000 };

static uint64_t s_rng = 0x9e3779b97f4a7c15ull;

static uint64_t
s_rand (void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

//  A replay, as the feed does: from next, a page of up to 50.
static void
s_replay (uint32_t part, uint64_t produced)
{
    uint64_t from = kvp_merge_next (merge, part);
    for (uint64_t seq = from; seq < from + 50 && seq <= produced; seq++)
        s_offer (part, seq, KVP_MERGE_REPLAYED);
}

//  Pop everything ready, checking order and exactly-once per partition.
static void
s_drain (uint64_t delivered [S_PARTS])
{
    kvp_merge_item_t item;
    while (kvp_merge_pop (merge, &item)) {
        ck_assert_int_eq (item.kind, KVP_MERGE_EVENT);
        ck_assert_uint_eq (item.seq, delivered [item.partition] + 1);
        delivered [item.partition] = item.seq;
    }
}

START_TEST (test_random_stream_exactly_once)
{
    for (uint32_t p = 0; p < S_PARTS; p++)
        kvp_merge_track (merge, p, KVP_MERGE_AT, 0);
    uint64_t produced [S_PARTS] = { 0 }, delivered [S_PARTS] = { 0 };
    //  Live: each event is dropped (30 %), repeated (10 %) or delayed
    //  behind up to 3 later ones (a small reorder window).
    uint64_t window [S_PARTS][4] = { { 0 } };
    for (int n = 0; n < S_EVENTS * S_PARTS; n++) {
        uint32_t p = (uint32_t) (s_rand () % S_PARTS);
        uint64_t seq = ++produced [p];
        unsigned fate = (unsigned) (s_rand () % 10);
        if (fate < 3)
            continue;
        size_t slot = s_rand () % 4;
        if (window [p][slot])
            s_offer (p, window [p][slot], 0);
        window [p][slot] = seq;
        if (fate == 3)
            s_offer (p, seq, 0);
        if (kvp_merge_gap (merge, p) && s_rand () % 4 == 0)
            s_replay (p, produced [p]);
        s_drain (delivered);
    }
    //  The stream ends: what is still in flight, then replays until each
    //  partition is caught up (the feed's catch-up after a quiet spell).
    for (uint32_t p = 0; p < S_PARTS; p++)
        for (size_t slot = 0; slot < 4; slot++)
            if (window [p][slot])
                s_offer (p, window [p][slot], 0);
    for (int round = 0; round < 1000; round++)
        for (uint32_t p = 0; p < S_PARTS; p++)
            s_replay (p, produced [p]);
    s_drain (delivered);
    kvp_merge_stats_t st;
    kvp_merge_stats (merge, &st);
    uint64_t total = 0;
    for (uint32_t p = 0; p < S_PARTS; p++) {
        ck_assert_uint_eq (delivered [p], produced [p]);
        ck_assert_uint_eq (s_position (p), produced [p]);
        total += produced [p];
    }
    ck_assert_uint_eq (st.delivered, total);
    ck_assert_uint_gt (st.replayed, 0);
    ck_assert_uint_gt (st.repeats, 0);
    ck_assert_uint_eq (st.lost, 0);
    ck_assert_uint_eq (st.held_bytes, 0);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("merge");
    TCase *tc = tcase_create ("scripted");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, test_in_order_and_repeats);
    tcase_add_test (tc, test_gap_filled_by_replay);
    tcase_add_test (tc, test_from_now);
    tcase_add_test (tc, test_from_start_skips_retention);
    tcase_add_test (tc, test_lost_runs_around_held);
    tcase_add_test (tc, test_hidden_and_bound);
    tcase_add_test (tc, test_random_stream_exactly_once);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
