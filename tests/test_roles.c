/*  test_roles.c - a worker's roles and held replies (worker/kvp_roles.h)
    and the replication headers (proto/kvp_repl.h): what waits for the
    in-sync set, what goes when, and what is refused.
*/
#include <check.h>
#include <string.h>
#include "kvp_roles.h"
#include "kvp_repl.h"
#include "kvp_testkit.h"

//  What a release handed out, in order
typedef struct {
    size_t count;
    uint8_t tags [16];
    uint64_t seqs [16];
    bool events [16];
} s_seen_t;

static void
s_collect (void *arg, const kvp_held_t *held)
{
    s_seen_t *seen = (s_seen_t *) arg;
    ck_assert_uint_lt (seen->count, 16);
    seen->tags [seen->count] = held->tag [0];
    seen->seqs [seen->count] = held->seq;
    seen->events [seen->count] = held->topic != NULL;
    if (held->topic)
        ck_assert_uint_eq (held->event_size, 3);
    ck_assert_uint_eq (held->reply_size, 2);
    seen->count++;
}

//  Hold a reply tagged `tag` (a job's when seq > 0, with an event)
static void
s_hold (kvp_roles_t *roles, uint32_t part, uint8_t tag, uint64_t seq)
{
    uint8_t tag8 [8] = { tag };
    kvp_held_t held = { .part = part, .tag = tag8, .reply = "ok",
                        .reply_size = 2, .topic = seq ? "job/x" : NULL,
                        .topic_len = 5, .event = "evt", .event_size = 3,
                        .seq = seq };
    ck_assert (kvp_roles_hold (roles, &held));
}

START_TEST (test_no_role)
{
    kvp_roles_t *roles = kvp_roles_new ();
    ck_assert_int_eq (kvp_roles_kind (roles, 7), KVP_COPY_NONE);
    ck_assert (kvp_roles_writable (roles, 7));
    ck_assert (!kvp_roles_waits (roles, 7));
    ck_assert (!kvp_roles_set (roles, 65536, KVP_COPY_LEADER, 1, true, 0));
    kvp_roles_destroy (&roles);
    ck_assert_ptr_null (roles);
}
END_TEST

//  A new leader waits for the broker's first COMMIT; replies go in order
//  once committed reaches what they saw
START_TEST (test_leader_holds)
{
    kvp_roles_t *roles = kvp_roles_new ();
    ck_assert (kvp_roles_set (roles, 3, KVP_COPY_LEADER, 1, true, 0));
    kvp_roles_advance (roles, 3, 2);            //  jobs 1, 2 sent (REPL)
    ck_assert (kvp_roles_waits (roles, 3));
    s_hold (roles, 3, 'a', 1);
    s_hold (roles, 3, 'b', 2);
    kvp_roles_advance (roles, 3, 3);
    s_hold (roles, 3, 'c', 3);
    s_hold (roles, 3, 'r', 0);                  //  a read after job 3
    ck_assert_uint_eq (kvp_roles_held (roles), 4);
    s_seen_t seen = { 0 };
    //  Another epoch's COMMIT changes nothing
    ck_assert_uint_eq (kvp_roles_commit (roles, 3, 2, 9, s_collect, &seen), 0);
    ck_assert_uint_eq (kvp_roles_commit (roles, 3, 1, 2, s_collect, &seen), 2);
    ck_assert_uint_eq (seen.tags [0], 'a');
    ck_assert_uint_eq (seen.tags [1], 'b');
    ck_assert (seen.events [0] && seen.seqs [1] == 2);
    ck_assert (kvp_roles_waits (roles, 3));
    ck_assert_uint_eq (kvp_roles_commit (roles, 3, 1, 3, s_collect, &seen), 2);
    ck_assert_uint_eq (seen.tags [2], 'c');
    ck_assert_uint_eq (seen.tags [3], 'r');
    ck_assert (!seen.events [3]);
    ck_assert (!kvp_roles_waits (roles, 3));
    ck_assert_uint_eq (kvp_roles_held (roles), 0);
    kvp_roles_destroy (&roles);
}
END_TEST

//  Fewer than M in sync: a job's reply waits even when committed, the
//  replies after it that made no job go; writable again releases it
START_TEST (test_not_writable)
{
    kvp_roles_t *roles = kvp_roles_new ();
    ck_assert (kvp_roles_set (roles, 0, KVP_COPY_LEADER, 4, true, 0));
    kvp_roles_advance (roles, 0, 1);
    s_hold (roles, 0, 'j', 1);
    s_hold (roles, 0, 'r', 0);
    //  Same epoch, same role: only writable changes, nothing dropped
    ck_assert (kvp_roles_set (roles, 0, KVP_COPY_LEADER, 4, false, 99));
    ck_assert (!kvp_roles_writable (roles, 0));
    ck_assert_uint_eq (kvp_roles_position (roles, 0), 1);
    s_seen_t seen = { 0 };
    ck_assert_uint_eq (kvp_roles_commit (roles, 0, 4, 1, s_collect, &seen), 1);
    ck_assert_uint_eq (seen.tags [0], 'r');
    ck_assert_uint_eq (kvp_roles_held (roles), 1);
    //  A later hold goes behind it and is kept in order
    kvp_roles_advance (roles, 0, 2);
    s_hold (roles, 0, 'k', 2);
    ck_assert (kvp_roles_set (roles, 0, KVP_COPY_LEADER, 4, true, 0));
    ck_assert_uint_eq (kvp_roles_commit (roles, 0, 4, 0, s_collect, &seen), 1);
    ck_assert_uint_eq (seen.tags [1], 'j');
    ck_assert_uint_eq (kvp_roles_commit (roles, 0, 4, 2, s_collect, &seen), 1);
    ck_assert_uint_eq (seen.tags [2], 'k');
    kvp_roles_destroy (&roles);
}
END_TEST

//  A leader from a position: its tail of events is due once, when the
//  broker committed that position and M are in sync
START_TEST (test_tail)
{
    kvp_roles_t *roles = kvp_roles_new ();
    ck_assert (kvp_roles_set (roles, 5, KVP_COPY_LEADER, 2, false, 10));
    s_seen_t seen = { 0 };
    ck_assert (!kvp_roles_tail_due (roles, 5));
    //  What it holds past the last acknowledged job is not committed yet:
    //  a read waits until the broker commits the starting position
    ck_assert (kvp_roles_waits (roles, 5));
    s_hold (roles, 5, 'r', 0);
    ck_assert_uint_eq (kvp_roles_commit (roles, 5, 2, 9, s_collect, &seen), 0);
    ck_assert_uint_eq (kvp_roles_commit (roles, 5, 2, 10, s_collect, &seen), 1);
    ck_assert (!kvp_roles_tail_due (roles, 5));     //  not writable
    ck_assert (kvp_roles_set (roles, 5, KVP_COPY_LEADER, 2, true, 0));
    ck_assert (kvp_roles_tail_due (roles, 5));
    ck_assert (!kvp_roles_tail_due (roles, 5));     //  once
    //  A leader of nothing has no tail
    ck_assert (kvp_roles_set (roles, 6, KVP_COPY_LEADER, 1, true, 0));
    kvp_roles_commit (roles, 6, 1, 0, s_collect, &seen);
    ck_assert (!kvp_roles_tail_due (roles, 6));
    kvp_roles_destroy (&roles);
}
END_TEST

//  Epochs only grow; a leader deposed (a follower now) drops what it held
START_TEST (test_epochs)
{
    kvp_roles_t *roles = kvp_roles_new ();
    ck_assert (kvp_roles_set (roles, 1, KVP_COPY_LEADER, 5, true, 0));
    kvp_roles_advance (roles, 1, 1);
    s_hold (roles, 1, 'x', 1);
    ck_assert (!kvp_roles_set (roles, 1, KVP_COPY_FOLLOWER, 4, true, 0));
    ck_assert_int_eq (kvp_roles_kind (roles, 1), KVP_COPY_LEADER);
    ck_assert (kvp_roles_set (roles, 1, KVP_COPY_FOLLOWER, 6, true, 1));
    ck_assert_uint_eq (kvp_roles_held (roles), 0);
    ck_assert_int_eq (kvp_roles_kind (roles, 1), KVP_COPY_FOLLOWER);
    ck_assert_uint_eq (kvp_roles_epoch (roles, 1), 6);
    ck_assert (!kvp_roles_waits (roles, 1));
    //  COMMIT is a leader's: ignored by a follower
    s_seen_t seen = { 0 };
    ck_assert_uint_eq (kvp_roles_commit (roles, 1, 6, 9, s_collect, &seen), 0);
    //  A follower's copy state
    ck_assert (!kvp_roles_resyncing (roles, 1));
    kvp_roles_set_resync (roles, 1, true);
    kvp_roles_set_chunk (roles, 1, 3);
    ck_assert (kvp_roles_resyncing (roles, 1));
    ck_assert_uint_eq (kvp_roles_chunk (roles, 1), 3);
    kvp_roles_clear (roles);
    ck_assert_int_eq (kvp_roles_kind (roles, 1), KVP_COPY_NONE);
    kvp_roles_destroy (&roles);
}
END_TEST

//  Headers: each size round-trips; anything else is refused whole
START_TEST (test_headers)
{
    kvp_repl_t in = { .part = 65535, .epoch = 7, .prev = 3, .seq = 9,
                      .index = 2, .last = true, .writable = true }, out;
    uint8_t bytes [KVP_REPL_HEADER_MAX];
    size_t sizes [] = { KVP_REPL_ROLE, KVP_REPL_DATA, KVP_REPL_POS,
                        KVP_REPL_COPY, KVP_REPL_CHUNK };
    for (size_t i = 0; i < 5; i++) {
        size_t size = kvp_repl_encode (&in, sizes [i], bytes);
        ck_assert_uint_eq (size, sizes [i]);
        ck_assert (kvp_repl_decode (&out, sizes [i], bytes, size));
        ck_assert_uint_eq (out.part, 65535);
        ck_assert_uint_eq (out.epoch, 7);
        ck_assert (!kvp_repl_decode (&out, sizes [i], bytes, size - 1));
        ck_assert_uint_eq (out.epoch, 0);       //  zeroed when refused
    }
    size_t size = kvp_repl_encode (&in, KVP_REPL_DATA, bytes);
    ck_assert (kvp_repl_decode (&out, KVP_REPL_DATA, bytes, size));
    ck_assert (out.prev == 3 && out.seq == 9);
    size = kvp_repl_encode (&in, KVP_REPL_CHUNK, bytes);
    ck_assert (kvp_repl_decode (&out, KVP_REPL_CHUNK, bytes, size));
    ck_assert (out.index == 2 && out.last && out.seq == 9);
    size = kvp_repl_encode (&in, KVP_REPL_ROLE, bytes);
    ck_assert (kvp_repl_decode (&out, KVP_REPL_ROLE, bytes, size));
    ck_assert (out.writable);
    bytes [12] = 0x02;                          //  an unknown flag
    ck_assert (!kvp_repl_decode (&out, KVP_REPL_ROLE, bytes, size));
    //  Out of range: epoch 0, partition 65536, seq before prev, last 2
    kvp_repl_t bad = in;
    bad.epoch = 0;
    size = kvp_repl_encode (&bad, KVP_REPL_POS, bytes);
    ck_assert (!kvp_repl_decode (&out, KVP_REPL_POS, bytes, size));
    bad = in;
    bad.part = 65536;
    size = kvp_repl_encode (&bad, KVP_REPL_POS, bytes);
    ck_assert (!kvp_repl_decode (&out, KVP_REPL_POS, bytes, size));
    bad = in;
    bad.prev = 10;
    size = kvp_repl_encode (&bad, KVP_REPL_DATA, bytes);
    ck_assert (!kvp_repl_decode (&out, KVP_REPL_DATA, bytes, size));
    size = kvp_repl_encode (&in, KVP_REPL_CHUNK, bytes);
    bytes [KVP_REPL_CHUNK - 1] = 2;
    ck_assert (!kvp_repl_decode (&out, KVP_REPL_CHUNK, bytes, size));
    ck_assert (!kvp_repl_decode (&out, 27, bytes, 27));    //  no such size
    ck_assert (!kvp_repl_decode (&out, KVP_REPL_POS, NULL, KVP_REPL_POS));
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("roles");
    TCase *tc = tcase_create ("roles");
    tcase_add_test (tc, test_no_role);
    tcase_add_test (tc, test_leader_holds);
    tcase_add_test (tc, test_not_writable);
    tcase_add_test (tc, test_tail);
    tcase_add_test (tc, test_epochs);
    tcase_add_test (tc, test_headers);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
