/*  test_peers.c - the broker's table of clients (kvp_peers), with a fake
    send that takes replies while it has room.
*/
#include <check.h>
#include <errno.h>
#include "kvp_peers.h"
#include "kvp_testkit.h"

//  The fake client side: what was sent, and how it answers the next send.
typedef struct {
    int answer;                     //  0 (taken), EAGAIN or EHOSTUNREACH
    int room;                       //  when answer is 0: sends taken, then
                                    //  EAGAIN; -1 for no end
    char sent [64][16];             //  bodies taken, in order
    int count;
    int served;                     //  requests served from the side
    char last_served [16];
    char last_identity [16];
} s_fake_t;

static int
s_send (void *arg, zframe_t *identity, zframe_t **body_p)
{
    s_fake_t *fake = arg;
    if (fake->answer)
        return fake->answer;
    if (fake->room == 0)
        return EAGAIN;
    if (fake->room > 0)
        fake->room--;
    ck_assert_int_lt (fake->count, 64);
    snprintf (fake->sent [fake->count++], 16, "%.*s",
              (int) zframe_size (*body_p), (char *) zframe_data (*body_p));
    zframe_destroy (body_p);
    return 0;
}

static void
s_serve (void *arg, zframe_t **frames, size_t total)
{
    s_fake_t *fake = arg;
    ck_assert_uint_eq (total, 4);
    fake->served++;
    snprintf (fake->last_identity, 16, "%.*s", (int) zframe_size (frames [0]),
              (char *) zframe_data (frames [0]));
    snprintf (fake->last_served, 16, "%.*s", (int) zframe_size (frames [3]),
              (char *) zframe_data (frames [3]));
}

//  Reply `text` to client `who`.
static void
s_reply (kvp_peers_t *peers, const char *who, const char *text)
{
    zframe_t *identity = zframe_new (who, strlen (who));
    zframe_t *body = zframe_new (text, strlen (text));
    kvp_peers_send (peers, &identity, &body);
    ck_assert_ptr_null (identity);
    ck_assert_ptr_null (body);
}

//  A request [who][][KVP1][text] through kvp_peers_hold.
static kvp_peers_hold_t
s_request (kvp_peers_t *peers, const char *who, const char *text)
{
    zframe_t *frames [4] = { zframe_new (who, strlen (who)),
                             zframe_new ("", 0), zframe_new ("KVP1", 4),
                             zframe_new (text, strlen (text)) };
    kvp_peers_hold_t held = kvp_peers_hold (peers, frames, 4);
    for (int i = 0; i < 4; i++) {
        if (held != KVP_PEERS_SERVE)
            ck_assert_ptr_null (frames [i]);
        zframe_destroy (&frames [i]);
    }
    return held;
}

START_TEST (test_peers_straight_through)
{
    s_fake_t fake = { .room = -1 };
    kvp_peers_t *peers = kvp_peers_new (4, 1 << 20, s_send, &fake);
    s_reply (peers, "a", "r1");
    s_reply (peers, "b", "r2");
    ck_assert_int_eq (fake.count, 2);
    //  Nothing waits, so nothing is kept, and requests are served
    ck_assert_uint_eq (kvp_peers_count (peers), 0);
    ck_assert_int_eq (s_request (peers, "a", "q"), KVP_PEERS_SERVE);
    ck_assert_int_eq (kvp_peers_next (peers), -1);
    kvp_peers_destroy (&peers);
    kvp_peers_destroy (&peers);
}
END_TEST

START_TEST (test_peers_inflight_bound)
{
    s_fake_t fake = { .room = -1 };
    kvp_peers_t *peers = kvp_peers_new (2, 1 << 20, s_send, &fake);
    zframe_t *a = zframe_new ("a", 1);
    kvp_peer_t *one = kvp_peers_route_begin (peers, a);
    kvp_peer_t *two = kvp_peers_route_begin (peers, a);
    ck_assert_ptr_nonnull (one);
    ck_assert_ptr_eq (one, two);
    ck_assert_uint_eq (kvp_peers_inflight (one), 2);
    ck_assert_ptr_null (kvp_peers_route_begin (peers, a));
    //  Another client has its own bound
    zframe_t *b = zframe_new ("b", 1);
    kvp_peer_t *other = kvp_peers_route_begin (peers, b);
    ck_assert_ptr_nonnull (other);
    ck_assert_uint_eq (kvp_peers_count (peers), 2);
    kvp_peers_route_end (peers, one);
    ck_assert_ptr_nonnull (kvp_peers_route_begin (peers, a));
    //  Answered, both go: nothing is left behind them
    kvp_peers_route_end (peers, one);
    kvp_peers_route_end (peers, one);
    kvp_peers_route_end (peers, other);
    ck_assert_uint_eq (kvp_peers_count (peers), 0);
    zframe_destroy (&a);
    zframe_destroy (&b);
    kvp_peers_destroy (&peers);
}
END_TEST

//  A full client: its replies wait in order, its requests are set aside,
//  and both go on, in order, once it takes replies again.
START_TEST (test_peers_backpressure)
{
    s_fake_t fake = { .room = 1 };
    kvp_peers_t *peers = kvp_peers_new (4, 1 << 20, s_send, &fake);
    s_reply (peers, "a", "r1");
    s_reply (peers, "a", "r2");                 //  no room: waits
    ck_assert_int_eq (fake.count, 1);
    ck_assert_uint_eq (kvp_peers_blocked (peers), 1);
    ck_assert_uint_eq (kvp_peers_replies (peers), 1);
    fake.room = -1;
    s_reply (peers, "a", "r3");                 //  behind r2, not before
    ck_assert_int_eq (fake.count, 1);
    //  Its requests wait; another client's do not
    ck_assert_int_eq (s_request (peers, "a", "q1"), KVP_PEERS_HELD);
    ck_assert_int_eq (s_request (peers, "a", "q2"), KVP_PEERS_HELD);
    ck_assert_int_eq (s_request (peers, "b", "q3"), KVP_PEERS_SERVE);
    s_reply (peers, "b", "rb");
    ck_assert_int_eq (fake.count, 2);
    ck_assert_str_eq (fake.sent [1], "rb");
    //  Not due yet: nothing moves
    int64_t next = kvp_peers_next (peers);
    ck_assert_int_ge (next, 0);
    kvp_peers_pump (peers, next - 1, 16, s_serve, &fake);
    ck_assert_int_eq (fake.count, 2);
    //  Due: the replies in order, then the requests in order
    kvp_peers_pump (peers, next, 16, s_serve, &fake);
    ck_assert_int_eq (fake.count, 4);
    ck_assert_str_eq (fake.sent [2], "r2");
    ck_assert_str_eq (fake.sent [3], "r3");
    ck_assert_int_eq (fake.served, 2);
    ck_assert_str_eq (fake.last_served, "q2");
    ck_assert_str_eq (fake.last_identity, "a");
    ck_assert_uint_eq (kvp_peers_blocked (peers), 0);
    ck_assert_uint_eq (kvp_peers_bytes (peers), 0);
    ck_assert_uint_eq (kvp_peers_count (peers), 0);
    kvp_peers_destroy (&peers);
}
END_TEST

//  Set aside past the bytes: discarded; a read's reply is crowded out.
START_TEST (test_peers_bytes_bound)
{
    s_fake_t fake = { .room = 0 };
    kvp_peers_t *peers = kvp_peers_new (4, 2000, s_send, &fake);
    zframe_t *a = zframe_new ("a", 1);
    kvp_peer_t *peer = kvp_peers_route_begin (peers, a);
    ck_assert (!kvp_peers_crowded (peers, peer, 100000));   //  not blocked
    s_reply (peers, "a", "r1");
    ck_assert (kvp_peers_crowded (peers, peer, 100000));
    ck_assert (!kvp_peers_crowded (peers, peer, 10));
    int held = 0;
    kvp_peers_hold_t last;
    while ((last = s_request (peers, "a", "q")) == KVP_PEERS_HELD)
        ck_assert_int_lt (++held, 100);
    ck_assert_int_eq (last, KVP_PEERS_DISCARDED);
    ck_assert_int_gt (held, 3);
    ck_assert_uint_eq (kvp_peers_discarded (peers), 1);
    ck_assert_uint_le (kvp_peers_bytes (peers), 2000);
    kvp_peers_route_end (peers, peer);
    zframe_destroy (&a);
    kvp_peers_destroy (&peers);
}
END_TEST

//  A client that is gone: what waits for it goes, and so does its entry.
START_TEST (test_peers_gone)
{
    s_fake_t fake = { .room = 0 };
    kvp_peers_t *peers = kvp_peers_new (4, 1 << 20, s_send, &fake);
    s_reply (peers, "a", "r1");
    ck_assert_int_eq (s_request (peers, "a", "q1"), KVP_PEERS_HELD);
    ck_assert_uint_eq (kvp_peers_count (peers), 1);
    //  Nothing moves: it is tried less and less often
    int64_t first = kvp_peers_next (peers);
    kvp_peers_pump (peers, first, 16, s_serve, &fake);
    int64_t second = kvp_peers_next (peers);
    kvp_peers_pump (peers, second, 16, s_serve, &fake);
    int64_t third = kvp_peers_next (peers);
    ck_assert_int_gt (third - second, second - first);
    fake.answer = EHOSTUNREACH;
    kvp_peers_pump (peers, third, 16, s_serve, &fake);
    ck_assert_int_eq (fake.served, 0);
    ck_assert_uint_eq (kvp_peers_count (peers), 0);
    ck_assert_uint_eq (kvp_peers_bytes (peers), 0);
    ck_assert_uint_eq (kvp_peers_gone (peers), 1);
    //  A reply to a gone client is dropped, nothing kept
    s_reply (peers, "a", "late");
    ck_assert_uint_eq (kvp_peers_count (peers), 0);
    kvp_peers_destroy (&peers);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("peers");
    TCase *tc = tcase_create ("peers");
    tcase_add_test (tc, test_peers_straight_through);
    tcase_add_test (tc, test_peers_inflight_bound);
    tcase_add_test (tc, test_peers_backpressure);
    tcase_add_test (tc, test_peers_bytes_bound);
    tcase_add_test (tc, test_peers_gone);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
