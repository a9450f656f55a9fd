/*  test_failover.c - the replication states of a partition and their
    table (broker/kvp_failover.h): the rows one by one, the timelines of
    section 12 walked through it, and properties over every state, event
    and a spread of facts.
*/
#include <check.h>
#include <string.h>
#include "kvp_failover.h"
#include "kvp_testkit.h"

#define F_UNASSIGNED KVP_FAILOVER_UNASSIGNED
#define F_PLACING    KVP_FAILOVER_PLACING
#define F_SYNCED     KVP_FAILOVER_SYNCED
#define F_DEGRADED   KVP_FAILOVER_DEGRADED
#define F_UNDER_MIN  KVP_FAILOVER_UNDER_MIN
#define F_PROMOTING  KVP_FAILOVER_PROMOTING
#define F_OFFLINE    KVP_FAILOVER_OFFLINE

//  Facts of a placed partition of R copies, M in sync wanted, `in_sync`
//  of them in sync and `live` of its copies live (the leader first)
static kvp_failover_facts_t
s_facts (unsigned replicas, unsigned min_insync, unsigned in_sync,
         unsigned live)
{
    kvp_failover_facts_t facts = {
        .placed = true, .leader_live = live > 0, .in_sync = in_sync,
        .replicas = replicas, .min_insync = min_insync,
        .candidates = live > 1 && in_sync > 1
                    ? (live < in_sync? live: in_sync) - 1: 0,
        .live = live, .spare = 0
    };
    return facts;
}

//  One step: the next state and actions must be these
static kvp_failover_state_t
s_step (kvp_failover_state_t state, kvp_failover_event_t event,
        const kvp_failover_facts_t *facts, kvp_failover_state_t want,
        const char *want_actions)
{
    const char *actions = NULL;
    kvp_failover_state_t next = kvp_failover_next (state, event, facts,
                                                   &actions);
    ck_assert_msg (next == want, "%s on %s: %s, not %s",
                   kvp_failover_event_name (event),
                   kvp_failover_state_name (state),
                   kvp_failover_state_name (next),
                   kvp_failover_state_name (want));
    ck_assert_str_eq (actions, want_actions);
    return next;
}

START_TEST (test_classify)
{
    kvp_failover_facts_t none = { .replicas = 3, .min_insync = 2 };
    ck_assert_int_eq (kvp_failover_classify (&none), F_UNASSIGNED);
    kvp_failover_facts_t facts = s_facts (3, 2, 3, 3);
    ck_assert_int_eq (kvp_failover_classify (&facts), F_SYNCED);
    facts = s_facts (3, 2, 2, 3);
    ck_assert_int_eq (kvp_failover_classify (&facts), F_DEGRADED);
    facts = s_facts (3, 2, 1, 3);
    ck_assert_int_eq (kvp_failover_classify (&facts), F_UNDER_MIN);
    facts = s_facts (3, 2, 3, 0);
    ck_assert_int_eq (kvp_failover_classify (&facts), F_OFFLINE);
    //  One copy, today's cluster: synced while its owner is up
    facts = s_facts (1, 1, 1, 1);
    ck_assert_int_eq (kvp_failover_classify (&facts), F_SYNCED);
    ck_assert (kvp_failover_writable (F_SYNCED));
    ck_assert (kvp_failover_writable (F_DEGRADED));
    ck_assert (!kvp_failover_writable (F_UNDER_MIN));
    ck_assert (kvp_failover_readable (F_UNDER_MIN));
    ck_assert (!kvp_failover_readable (F_PLACING));
    ck_assert (!kvp_failover_readable (F_PROMOTING));
    ck_assert (!kvp_failover_readable (F_OFFLINE));
    ck_assert (!kvp_failover_readable (F_UNASSIGNED));
    ck_assert_str_eq (kvp_failover_state_name (F_UNDER_MIN), "under-min");
    ck_assert_str_eq (kvp_failover_state_name (KVP_FAILOVER_STATES), "?");
    ck_assert_str_eq (kvp_failover_event_name (KVP_FAILOVER_LEADER_LOST),
                      "leader-lost");
    ck_assert_str_eq (kvp_failover_event_name (KVP_FAILOVER_EVENTS), "?");
}
END_TEST

//  R = 3, M = 2: losing any one worker stops nothing
START_TEST (test_timeline_r3m2)
{
    kvp_failover_facts_t facts = { .replicas = 3, .min_insync = 2,
                                   .live = 3 };
    kvp_failover_state_t s = F_UNASSIGNED;
    s = s_step (s, KVP_FAILOVER_REQUEST, &facts, F_PLACING, "ph");
    s = s_step (s, KVP_FAILOVER_REQUEST, &facts, F_PLACING, "h");
    facts = s_facts (3, 2, 3, 3);
    s = s_step (s, KVP_FAILOVER_COMMITTED, &facts, F_SYNCED, "tr");
    s = s_step (s, KVP_FAILOVER_REQUEST, &facts, F_SYNCED, "r");
    //  A follower goes silent: the shrink is proposed, then commits
    s = s_step (s, KVP_FAILOVER_FOLLOWER_LOST, &facts, F_SYNCED, "s");
    facts = s_facts (3, 2, 2, 2);
    s = s_step (s, KVP_FAILOVER_COMMITTED, &facts, F_DEGRADED, "t");
    ck_assert (kvp_failover_writable (s));
    //  It returns, catches up, rejoins
    facts = s_facts (3, 2, 2, 3);
    s = s_step (s, KVP_FAILOVER_FOLLOWER_BACK, &facts, F_DEGRADED, "c");
    s = s_step (s, KVP_FAILOVER_CAUGHT_UP, &facts, F_DEGRADED, "e");
    facts = s_facts (3, 2, 3, 3);
    s = s_step (s, KVP_FAILOVER_COMMITTED, &facts, F_SYNCED, "t");
    //  The leader dies: a follower is promoted, the old leader's
    //  requests get 32771, requests meanwhile are held
    facts = s_facts (3, 2, 3, 2);
    facts.leader_live = false;
    facts.candidates = 2;
    s = s_step (s, KVP_FAILOVER_LEADER_LOST, &facts, F_PROMOTING, "lf");
    s = s_step (s, KVP_FAILOVER_REQUEST, &facts, F_PROMOTING, "h");
    facts = s_facts (3, 2, 2, 2);       //  the deposed one left the set
    s = s_step (s, KVP_FAILOVER_COMMITTED, &facts, F_DEGRADED, "tr");
    ck_assert (kvp_failover_writable (s));
    //  It stays down past --replace-after: its copy moves to a spare
    facts.spare = 1;
    s = s_step (s, KVP_FAILOVER_EXPIRED, &facts, F_DEGRADED, "m");
    s = s_step (s, KVP_FAILOVER_COMMITTED, &facts, F_DEGRADED, "t");
    facts = s_facts (3, 2, 3, 3);
    s = s_step (s, KVP_FAILOVER_CAUGHT_UP, &facts, F_DEGRADED, "e");
    s_step (s, KVP_FAILOVER_COMMITTED, &facts, F_SYNCED, "t");
}
END_TEST

//  R = 2, M = 2: losing the leader stops writes until a copy is back;
//  R = 2, M = 1 goes on with one copy
START_TEST (test_timeline_r2)
{
    kvp_failover_facts_t facts = s_facts (2, 2, 2, 1);
    facts.leader_live = false;
    facts.candidates = 1;
    kvp_failover_state_t s = F_SYNCED;
    s = s_step (s, KVP_FAILOVER_LEADER_LOST, &facts, F_PROMOTING, "lf");
    facts = s_facts (2, 2, 1, 1);
    s = s_step (s, KVP_FAILOVER_COMMITTED, &facts, F_UNDER_MIN, "tr");
    ck_assert (!kvp_failover_writable (s) && kvp_failover_readable (s));
    s = s_step (s, KVP_FAILOVER_REQUEST, &facts, F_UNDER_MIN, "r");
    facts.spare = 1;
    s = s_step (s, KVP_FAILOVER_EXPIRED, &facts, F_UNDER_MIN, "m");
    s = s_step (s, KVP_FAILOVER_COMMITTED, &facts, F_UNDER_MIN, "t");
    s = s_step (s, KVP_FAILOVER_CAUGHT_UP, &facts, F_UNDER_MIN, "e");
    facts = s_facts (2, 2, 2, 2);
    s_step (s, KVP_FAILOVER_COMMITTED, &facts, F_SYNCED, "t");

    facts = s_facts (2, 1, 2, 1);
    facts.leader_live = false;
    facts.candidates = 1;
    s = s_step (F_SYNCED, KVP_FAILOVER_LEADER_LOST, &facts, F_PROMOTING,
                "lf");
    facts = s_facts (2, 1, 1, 1);
    s = s_step (s, KVP_FAILOVER_COMMITTED, &facts, F_DEGRADED, "tr");
    ck_assert (kvp_failover_writable (s));
}
END_TEST

//  One copy (today): the owner down is 32777 until it returns; a
//  partition nobody can take stays unassigned
START_TEST (test_timeline_r1)
{
    kvp_failover_facts_t facts = { .replicas = 1, .min_insync = 1 };
    kvp_failover_state_t s = s_step (F_UNASSIGNED, KVP_FAILOVER_REQUEST,
                                     &facts, F_UNASSIGNED, "u");
    facts.live = 1;
    s = s_step (s, KVP_FAILOVER_REQUEST, &facts, F_PLACING, "ph");
    s = s_step (s, KVP_FAILOVER_REFUSED, &facts, F_UNASSIGNED, "u");
    s = s_step (s, KVP_FAILOVER_REQUEST, &facts, F_PLACING, "ph");
    facts = s_facts (1, 1, 1, 1);
    s = s_step (s, KVP_FAILOVER_COMMITTED, &facts, F_SYNCED, "tr");
    facts = s_facts (1, 1, 1, 0);
    s = s_step (s, KVP_FAILOVER_LEADER_LOST, &facts, F_OFFLINE, "f");
    s = s_step (s, KVP_FAILOVER_REQUEST, &facts, F_OFFLINE, "u");
    s = s_step (s, KVP_FAILOVER_LEADER_LOST, &facts, F_OFFLINE, "");
    facts = s_facts (1, 1, 1, 1);
    s_step (s, KVP_FAILOVER_LEADER_BACK, &facts, F_SYNCED, "t");
}
END_TEST

//  Every copy down, then one of the last in-sync set returns: it leads;
//  one that was out of sync cannot
START_TEST (test_offline_return)
{
    kvp_failover_facts_t facts = s_facts (3, 2, 2, 0);
    kvp_failover_state_t s = s_step (F_DEGRADED, KVP_FAILOVER_LEADER_LOST,
                                     &facts, F_OFFLINE, "f");
    facts.live = 1;                     //  the copy out of sync is back
    s = s_step (s, KVP_FAILOVER_FOLLOWER_BACK, &facts, F_OFFLINE, "");
    facts.live = 2;
    facts.candidates = 1;               //  an in-sync follower is back
    s = s_step (s, KVP_FAILOVER_FOLLOWER_BACK, &facts, F_PROMOTING, "l");
    //  Refused (say the epoch moved on): another try, then none left
    s = s_step (s, KVP_FAILOVER_REFUSED, &facts, F_PROMOTING, "l");
    facts.candidates = 0;
    s_step (s, KVP_FAILOVER_REFUSED, &facts, F_OFFLINE, "u");
    //  After a broker restart every partition is offline; the liveness
    //  check raises leader-lost again once candidates registered
    facts.candidates = 1;
    s_step (F_OFFLINE, KVP_FAILOVER_LEADER_LOST, &facts, F_PROMOTING, "l");
}
END_TEST

//  How many of the actions are among `letters`
static int
s_letters (const char *actions, const char *letters)
{
    int count = 0;
    for (const char *c = actions; *c; c++)
        count += strchr (letters, *c) != NULL;
    return count;
}

//  A spread of facts for the properties below
static size_t
s_all_facts (kvp_failover_facts_t *out, size_t max)
{
    size_t n = 0;
    for (unsigned r = 1; r <= 5; r++)
    for (unsigned m = 1; m <= r; m++)
    for (unsigned isr = 0; isr <= r; isr++)
    for (unsigned live = 0; live <= r + 1; live++)
    for (unsigned spare = 0; spare <= 1; spare++)
    for (int placed = 0; placed <= 1 && n < max; placed++) {
        kvp_failover_facts_t f = s_facts (r, m, isr, live);
        f.placed = placed;
        f.spare = spare;
        out [n++] = f;
    }
    return n;
}

//  Over every state, event and those facts: a real state comes out, the
//  letters are actions, a proposal has what it needs and waits in its
//  state, a request is answered, held or routed exactly once, and
//  settling is classifying
START_TEST (test_properties)
{
    static kvp_failover_facts_t facts [4096];
    size_t count = s_all_facts (facts, 4096);
    ck_assert_uint_gt (count, 1000);
    for (int s = 0; s < KVP_FAILOVER_STATES; s++)
    for (int e = 0; e < KVP_FAILOVER_EVENTS; e++)
    for (size_t i = 0; i < count; i++) {
        const kvp_failover_facts_t *f = &facts [i];
        const char *a = NULL;
        kvp_failover_state_t next = kvp_failover_next (
            (kvp_failover_state_t) s, (kvp_failover_event_t) e, f, &a);
        ck_assert_int_lt (next, KVP_FAILOVER_STATES);
        ck_assert_uint_eq (strspn (a, "plsemtcfhru"), strlen (a));
        ck_assert (!strchr (a, 'l') || f->candidates > 0);
        ck_assert (!strchr (a, 'm') || f->spare > 0);
        ck_assert (!strchr (a, 'p') || f->live > 0);
        if (e == KVP_FAILOVER_REQUEST)
            ck_assert_int_eq (s_letters (a, "hru"), 1);
        //  Placing and promoting wait in their own states
        if (strchr (a, 'p'))
            ck_assert_int_eq (next, F_PLACING);
        if (strchr (a, 'l'))
            ck_assert_int_eq (next, F_PROMOTING);
        if (e == KVP_FAILOVER_COMMITTED && *a)
            ck_assert_int_eq (next, kvp_failover_classify (f));
        //  Only the settled states come out of classify
        kvp_failover_state_t settled = kvp_failover_classify (f);
        ck_assert (settled != F_PLACING && settled != F_PROMOTING);
    }
}
END_TEST

//  Each proposal letter at most once and never two different ones
START_TEST (test_one_proposal)
{
    static kvp_failover_facts_t facts [4096];
    size_t count = s_all_facts (facts, 4096);
    for (int s = 0; s < KVP_FAILOVER_STATES; s++)
    for (int e = 0; e < KVP_FAILOVER_EVENTS; e++)
    for (size_t i = 0; i < count; i++) {
        const char *a = NULL;
        kvp_failover_next ((kvp_failover_state_t) s,
                           (kvp_failover_event_t) e, &facts [i], &a);
        ck_assert_int_le (s_letters (a, "plsem"), 1);
    }
}
END_TEST

//  Walk the table from UNASSIGNED over every event and those facts:
//  every state is reached, and none but the settled ones is left without
//  a way out
START_TEST (test_reachable)
{
    static kvp_failover_facts_t facts [4096];
    size_t count = s_all_facts (facts, 4096);
    bool seen [KVP_FAILOVER_STATES] = { [F_UNASSIGNED] = true };
    bool exits [KVP_FAILOVER_STATES] = { false };
    for (int round = 0; round < KVP_FAILOVER_STATES; round++)
        for (int s = 0; s < KVP_FAILOVER_STATES; s++)
        for (int e = 0; seen [s] && e < KVP_FAILOVER_EVENTS; e++)
        for (size_t i = 0; i < count; i++) {
            kvp_failover_state_t next = kvp_failover_next (
                (kvp_failover_state_t) s, (kvp_failover_event_t) e,
                &facts [i], NULL);
            seen [next] = true;
            exits [s] |= next != (kvp_failover_state_t) s;
        }
    for (int s = 0; s < KVP_FAILOVER_STATES; s++) {
        ck_assert_msg (seen [s], "%s is never reached",
                       kvp_failover_state_name ((kvp_failover_state_t) s));
        ck_assert_msg (exits [s], "%s has no way out",
                       kvp_failover_state_name ((kvp_failover_state_t) s));
    }
}
END_TEST

//  Pairs the table has no row for change nothing
START_TEST (test_no_row)
{
    kvp_failover_facts_t facts = s_facts (3, 2, 3, 3);
    facts.spare = 1;
    s_step (F_SYNCED, KVP_FAILOVER_CAUGHT_UP, &facts, F_SYNCED, "");
    s_step (F_SYNCED, KVP_FAILOVER_EXPIRED, &facts, F_SYNCED, "");
    s_step (F_SYNCED, KVP_FAILOVER_REFUSED, &facts, F_SYNCED, "");
    s_step (F_PLACING, KVP_FAILOVER_LEADER_LOST, &facts, F_PLACING, "");
    s_step (F_PROMOTING, KVP_FAILOVER_LEADER_BACK, &facts, F_PROMOTING, "");
    s_step (F_UNASSIGNED, KVP_FAILOVER_COMMITTED, &facts, F_UNASSIGNED, "");
    //  The actions pointer may be NULL
    ck_assert_int_eq (kvp_failover_next (F_SYNCED, KVP_FAILOVER_REQUEST,
                                         &facts, NULL), F_SYNCED);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("failover");
    TCase *tc = tcase_create ("failover");
    tcase_add_test (tc, test_classify);
    tcase_add_test (tc, test_timeline_r3m2);
    tcase_add_test (tc, test_timeline_r2);
    tcase_add_test (tc, test_timeline_r1);
    tcase_add_test (tc, test_offline_return);
    tcase_add_test (tc, test_properties);
    tcase_add_test (tc, test_one_proposal);
    tcase_add_test (tc, test_reachable);
    tcase_add_test (tc, test_no_row);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
