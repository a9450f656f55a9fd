/*  test_broker.c - the broker's pure parts: in-flight table, ownership
    policy, session state table, command line. The real bin/kvp-broker on
    sockets is tested in test_broker_sock.c.
*/
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include "kvp_bconfig.h"
#include "kvp_inflight.h"
#include "kvp_owners.h"
#include "kvp_session.h"
#include "kvp_registry.h"
#include "kvp_wire.h"
#include "kvp_testkit.h"
#include "kvp_fakeworker.h"

//  --------------------------------------------------------------------------
//  In-flight table

static zframe_t *
s_id_frame (const char *text)
{
    return zframe_new (text, strlen (text));
}

START_TEST (test_inflight_basic)
{
    kvp_inflight_t *table = kvp_inflight_new ();
    ck_assert_ptr_nonnull (table);
    int worker_a, worker_b;
    zframe_t *client = s_id_frame ("client-1");
    kvp_rid_t rid = { .type = KVP_RID_UINT, .uint = 42 };
    kvp_flight_t *one = kvp_inflight_add (table, &client, &rid, &worker_a, 100);
    ck_assert_ptr_nonnull (one);
    ck_assert_ptr_null (client);            //  ownership moved
    client = s_id_frame ("client-2");
    const char *text = "a rid string";
    kvp_rid_t rid2 = { .type = KVP_RID_STR, .str = text, .len = strlen (text) };
    kvp_flight_t *two = kvp_inflight_add (table, &client, &rid2, &worker_b, 100);
    client = s_id_frame ("client-3");
    kvp_flight_t *three = kvp_inflight_add (table, &client, NULL, &worker_a, 200);
    ck_assert_uint_lt (one->tag, two->tag);
    ck_assert_uint_lt (two->tag, three->tag);
    ck_assert_uint_eq (kvp_inflight_size (table), 3);

    ck_assert_ptr_eq (kvp_inflight_lookup (table, two->tag), two);
    ck_assert_ptr_null (kvp_inflight_lookup (table, three->tag + 1));
    //  The rid string is a copy, not the caller's buffer.
    ck_assert_ptr_ne (two->rid.str, text);
    ck_assert_int_eq (memcmp (two->rid.str, text, strlen (text)), 0);
    ck_assert_int_eq (three->rid.type, KVP_RID_NONE);

    uint64_t tag = two->tag;
    kvp_flight_t *taken = kvp_inflight_take (table, tag);
    ck_assert_ptr_eq (taken, two);
    ck_assert (zframe_streq (taken->client, "client-2"));
    ck_assert_ptr_eq (taken->worker, &worker_b);
    kvp_inflight_release (table, &taken);
    ck_assert_ptr_null (taken);
    ck_assert_ptr_null (kvp_inflight_take (table, tag));
    ck_assert_ptr_null (kvp_inflight_lookup (table, tag));
    ck_assert_uint_eq (kvp_inflight_size (table), 2);
    //  Entries left in the table are freed with it.
    kvp_inflight_destroy (&table);
    kvp_inflight_destroy (&table);
    ck_assert_ptr_null (table);
}
END_TEST

START_TEST (test_inflight_expiry_order)
{
    kvp_inflight_t *table = kvp_inflight_new ();
    int worker;
    uint64_t tags [5];
    for (int i = 0; i < 5; i++) {
        zframe_t *client = s_id_frame ("c");
        tags [i] = kvp_inflight_add (table, &client, NULL, &worker,
                                     10 * (i + 1))->tag;
    }
    ck_assert_int_eq (kvp_inflight_next_deadline (table), 10);
    ck_assert_ptr_null (kvp_inflight_expire (table, 9));
    //  Removing the oldest by tag moves the head on.
    kvp_flight_t *entry = kvp_inflight_take (table, tags [0]);
    kvp_inflight_release (table, &entry);
    ck_assert_int_eq (kvp_inflight_next_deadline (table), 20);
    //  A reply for a middle entry takes it out of the FIFO too.
    entry = kvp_inflight_take (table, tags [2]);
    kvp_inflight_release (table, &entry);
    entry = kvp_inflight_expire (table, 45);
    ck_assert_uint_eq (entry->tag, tags [1]);
    kvp_inflight_release (table, &entry);
    entry = kvp_inflight_expire (table, 45);
    ck_assert_uint_eq (entry->tag, tags [3]);
    kvp_inflight_release (table, &entry);
    ck_assert_ptr_null (kvp_inflight_expire (table, 45));
    ck_assert_int_eq (kvp_inflight_next_deadline (table), 50);
    entry = kvp_inflight_expire (table, 1000);
    ck_assert_uint_eq (entry->tag, tags [4]);
    kvp_inflight_release (table, &entry);
    ck_assert_int_eq (kvp_inflight_next_deadline (table), -1);
    ck_assert_uint_eq (kvp_inflight_size (table), 0);
    kvp_inflight_destroy (&table);
}
END_TEST

//  Many entries, removed in a scattered order while more arrive: every
//  lookup must still find exactly what is in the table.
START_TEST (test_inflight_many)
{
    kvp_inflight_t *table = kvp_inflight_new ();
    enum { TOTAL = 50000 };
    uint64_t *tags = calloc (TOTAL, sizeof *tags);
    bool *live = calloc (TOTAL, sizeof *live);
    int worker;
    char longrid [200];
    memset (longrid, 'x', sizeof longrid);
    unsigned seed = 7;
    for (int i = 0; i < TOTAL; i++) {
        zframe_t *client = s_id_frame ("c");
        kvp_rid_t rid = { .type = KVP_RID_STR, .str = longrid,
                          .len = 1 + (size_t) i % sizeof longrid };
        kvp_flight_t *entry = kvp_inflight_add (table, &client, &rid,
                                                &worker, i);
        ck_assert_ptr_nonnull (entry);
        tags [i] = entry->tag;
        live [i] = true;
        //  Take a random earlier one now and then.
        seed = seed * 1103515245 + 12345;
        int victim = (int) ((seed >> 8) % (unsigned) (i + 1));
        if (i % 3 == 0 && live [victim]) {
            kvp_flight_t *gone = kvp_inflight_take (table, tags [victim]);
            ck_assert_ptr_nonnull (gone);
            ck_assert_uint_eq (gone->rid.len, 1 + (size_t) victim % sizeof longrid);
            kvp_inflight_release (table, &gone);
            live [victim] = false;
        }
    }
    size_t count = 0;
    for (int i = 0; i < TOTAL; i++) {
        kvp_flight_t *entry = kvp_inflight_lookup (table, tags [i]);
        ck_assert (live [i] ? entry != NULL : entry == NULL);
        count += live [i];
    }
    ck_assert_uint_eq (kvp_inflight_size (table), count);
    //  Expiry returns the survivors in send order.
    int last = -1;
    kvp_flight_t *entry;
    while ((entry = kvp_inflight_expire (table, TOTAL))) {
        ck_assert_int_gt ((int) entry->deadline, last);
        last = (int) entry->deadline;
        kvp_inflight_release (table, &entry);
        count--;
    }
    ck_assert_uint_eq (count, 0);
    free (tags);
    free (live);
    kvp_inflight_destroy (&table);
}
END_TEST

static void
s_count_drained (kvp_flight_t *entry, void *arg)
{
    //  The callback may keep the client frame.
    zframe_t **keep = arg;
    zframe_destroy (keep);
    *keep = entry->client;
    entry->client = NULL;
}

START_TEST (test_inflight_drain)
{
    kvp_inflight_t *table = kvp_inflight_new ();
    int worker_a, worker_b;
    for (int i = 0; i < 10; i++) {
        zframe_t *client = s_id_frame (i % 2 ? "b" : "a");
        kvp_inflight_add (table, &client, NULL,
                          i % 2 ? (void *) &worker_b : (void *) &worker_a, i);
    }
    zframe_t *kept = NULL;
    ck_assert_uint_eq (kvp_inflight_drain (table, &worker_b, s_count_drained,
                                           &kept), 5);
    ck_assert (zframe_streq (kept, "b"));
    zframe_destroy (&kept);
    ck_assert_uint_eq (kvp_inflight_size (table), 5);
    kvp_flight_t *entry;
    while ((entry = kvp_inflight_expire (table, 100))) {
        ck_assert_ptr_eq (entry->worker, &worker_a);
        kvp_inflight_release (table, &entry);
    }
    ck_assert_uint_eq (kvp_inflight_drain (table, NULL, NULL, NULL), 0);
    kvp_inflight_destroy (&table);
}
END_TEST

//  --------------------------------------------------------------------------
//  Ownership

static char s_dir [64];

static void
s_dir_setup (void)
{
    ck_assert (tk_mkdtemp (s_dir, sizeof s_dir, "kvpbroker"));
}

static void
s_dir_teardown (void)
{
    tk_rmtree (s_dir);
}

static kvp_registry_t *
s_registry (uint32_t nparts)
{
    char path [128];
    snprintf (path, sizeof path, "%s/reg", s_dir);
    int rc = 0;
    kvp_registry_t *registry = kvp_registry_new (path, nparts, &rc);
    ck_assert_msg (registry != NULL, "registry: %d", rc);
    return registry;
}

//  Register `id` (token "t-<id>") as alive with `session`.
static void
s_join (kvp_owners_t *owners, const char *id, void *session)
{
    char token [32];
    snprintf (token, sizeof token, "t-%s", id);
    kvp_register_t reg = fw_reg (id, token, 0, NULL, 0);
    char error [128];
    ck_assert_msg (kvp_owners_check (owners, &reg, error, sizeof error),
                   "%s", error);
    ck_assert_int_eq (kvp_owners_adopt (owners, &reg), 0);
    ck_assert (kvp_owners_attach (owners, id, session));
}

START_TEST (test_owners_fewest_then_name)
{
    kvp_registry_t *registry = s_registry (8);
    kvp_owners_t *owners = kvp_owners_new (registry);
    ck_assert_ptr_null (kvp_owners_choose (owners));
    int sa, sb, sc;
    s_join (owners, "beta", &sb);
    s_join (owners, "alpha", &sa);
    //  Equal counts: the name decides.
    ck_assert_str_eq (kvp_owners_choose (owners), "alpha");
    const char *owner;
    int rc;
    ck_assert_ptr_eq (kvp_owners_assign (owners, 5, &owner, &rc), &sa);
    ck_assert_str_eq (owner, "alpha");
    ck_assert_ptr_eq (kvp_owners_assign (owners, 2, &owner, &rc), &sb);
    ck_assert_ptr_eq (kvp_owners_assign (owners, 7, &owner, &rc), &sa);
    //  A newcomer owns fewest and gets the next ones.
    s_join (owners, "gamma", &sc);
    ck_assert_ptr_eq (kvp_owners_assign (owners, 0, &owner, &rc), &sc);
    ck_assert_str_eq (owner, "gamma");
    ck_assert_ptr_eq (kvp_owners_assign (owners, 1, &owner, &rc), &sb);
    ck_assert_uint_eq (kvp_owners_count (owners, "alpha"), 2);
    ck_assert_uint_eq (kvp_owners_count (owners, "beta"), 2);
    ck_assert_uint_eq (kvp_owners_count (owners, "gamma"), 1);
    ck_assert_ptr_eq (kvp_owners_route (owners, 7, &owner), &sa);
    ck_assert_str_eq (owner, "alpha");
    ck_assert_ptr_null (kvp_owners_route (owners, 3, &owner));
    ck_assert_ptr_null (owner);
    ck_assert_str_eq (kvp_registry_owner (registry, 7), "alpha");
    kvp_owners_destroy (&owners);
    kvp_owners_destroy (&owners);
    kvp_registry_destroy (&registry);
}
END_TEST

//  A retired worker is never chosen for a new partition, even alive and
//  owning the fewest; what it owns stays its own.
START_TEST (test_owners_skip_retired)
{
    kvp_registry_t *registry = s_registry (6);
    kvp_owners_t *owners = kvp_owners_new (registry);
    int sa, sb;
    s_join (owners, "a", &sa);
    s_join (owners, "b", &sb);
    const char *owner;
    int rc;
    ck_assert_ptr_eq (kvp_owners_assign (owners, 0, &owner, &rc), &sa);
    kvp_decision_t retire = { .type = KVP_DECISION_RETIRE, .worker = "a" };
    ck_assert_int_eq (kvp_registry_apply (registry, &retire, NULL, 0), 0);
    //  b owns one more than a from here on, and still gets each one
    for (uint32_t part = 1; part < 4; part++) {
        ck_assert_str_eq (kvp_owners_choose (owners), "b");
        ck_assert_ptr_eq (kvp_owners_assign (owners, part, &owner, &rc),
                          &sb);
        ck_assert_int_eq (rc, 0);
    }
    ck_assert_str_eq (kvp_registry_owner (registry, 0), "a");
    ck_assert_ptr_eq (kvp_owners_route (owners, 0, &owner), &sa);
    //  With only retired workers alive there is nobody to choose
    kvp_owners_retire (owners, "b", &sb);
    ck_assert_ptr_null (kvp_owners_choose (owners));
    ck_assert_ptr_null (kvp_owners_assign (owners, 4, &owner, &rc));
    ck_assert_int_eq (rc, 0);
    ck_assert_ptr_null (kvp_registry_owner (registry, 4));
    kvp_owners_destroy (&owners);
    kvp_registry_destroy (&registry);
}
END_TEST

START_TEST (test_owners_sticky_when_down)
{
    kvp_registry_t *registry = s_registry (5);
    kvp_owners_t *owners = kvp_owners_new (registry);
    int sa, sb, stale;
    s_join (owners, "a", &sa);
    s_join (owners, "b", &sb);
    const char *owner;
    int rc;
    kvp_owners_assign (owners, 0, &owner, &rc);
    ck_assert_str_eq (owner, "a");
    kvp_owners_assign (owners, 1, &owner, &rc);
    ck_assert_str_eq (owner, "b");
    kvp_owners_assign (owners, 2, &owner, &rc);
    ck_assert_str_eq (owner, "a");
    //  A stale session cannot retire the current one.
    kvp_owners_retire (owners, "b", &stale);
    ck_assert_ptr_eq (kvp_owners_session (owners, "b"), &sb);
    kvp_owners_retire (owners, "b", &sb);
    ck_assert_ptr_null (kvp_owners_session (owners, "b"));
    //  Down, b keeps partition 1 (no session to route to) ...
    ck_assert_ptr_null (kvp_owners_route (owners, 1, &owner));
    ck_assert_str_eq (owner, "b");
    //  ... and gets nothing new although it owns fewer.
    kvp_owners_assign (owners, 3, &owner, &rc);
    ck_assert_str_eq (owner, "a");
    kvp_owners_retire (owners, "a", &sa);
    ck_assert_ptr_null (kvp_owners_assign (owners, 4, &owner, &rc));
    ck_assert_int_eq (rc, 0);
    ck_assert_ptr_null (kvp_registry_owner (registry, 4));
    //  After a restart everyone is down and ownership is as it was.
    kvp_owners_destroy (&owners);
    kvp_registry_destroy (&registry);
    registry = s_registry (5);
    owners = kvp_owners_new (registry);
    ck_assert_ptr_null (kvp_owners_route (owners, 1, &owner));
    ck_assert_str_eq (owner, "b");
    ck_assert_uint_eq (kvp_owners_workers (owners), 2);
    bool alive = true;
    ck_assert_str_eq (kvp_owners_worker (owners, 0, &alive), "a");
    ck_assert (!alive);
    uint32_t parts [5];
    size_t offsets [3];
    ck_assert_uint_eq (kvp_owners_layout (owners, parts, offsets), 2);
    //  a: [0, 2, 3]; b: [1]; unowned: [4].
    uint32_t expect [] = { 0, 2, 3, 1, 4 };
    ck_assert_uint_eq (offsets [0], 0);
    ck_assert_uint_eq (offsets [1], 3);
    ck_assert_uint_eq (offsets [2], 4);
    for (int i = 0; i < 5; i++)
        ck_assert_uint_eq (parts [i], expect [i]);
    kvp_owners_destroy (&owners);
    kvp_registry_destroy (&registry);
}
END_TEST

START_TEST (test_owners_check)
{
    kvp_registry_t *registry = s_registry (8);
    kvp_owners_t *owners = kvp_owners_new (registry);
    int sa;
    s_join (owners, "a", &sa);
    const char *owner;
    int rc;
    kvp_owners_assign (owners, 3, &owner, &rc);
    char error [128];
    uint32_t claim3 [] = { 3 }, claim9 [] = { 9 }, claim45 [] = { 4, 5 };

    kvp_register_t reg = fw_reg ("b", "t-b", 0, NULL, 0);
    reg.version = 2;
    ck_assert (!kvp_owners_check (owners, &reg, error, sizeof error));
    ck_assert (strstr (error, "fatal: ") == error);
    reg = fw_reg ("b", "t-b", 16, NULL, 0);
    ck_assert (!kvp_owners_check (owners, &reg, error, sizeof error));
    ck_assert_str_eq (error, "fatal: partition count mismatch");
    reg = fw_reg ("a", "another", 8, NULL, 0);
    ck_assert (!kvp_owners_check (owners, &reg, error, sizeof error));
    ck_assert_str_eq (error,
                      "fatal: worker id a is bound to another data directory");
    reg = fw_reg ("b", "t-b", 8, claim3, 1);
    ck_assert (!kvp_owners_check (owners, &reg, error, sizeof error));
    ck_assert_str_eq (error, "fatal: partition 3 belongs to a");
    reg = fw_reg ("b", "t-b", 0, claim9, 1);
    ck_assert (!kvp_owners_check (owners, &reg, error, sizeof error));
    //  The owner itself may claim it; a newcomer adopts unowned claims
    //  (a lost registry is rebuilt that way).
    reg = fw_reg ("a", "t-a", 8, claim3, 1);
    ck_assert (kvp_owners_check (owners, &reg, error, sizeof error));
    reg = fw_reg ("b", "t-b", 8, claim45, 2);
    ck_assert (kvp_owners_check (owners, &reg, error, sizeof error));
    ck_assert_int_eq (kvp_owners_adopt (owners, &reg), 0);
    ck_assert_str_eq (kvp_registry_owner (registry, 4), "b");
    ck_assert_str_eq (kvp_registry_token (registry, "b"), "t-b");
    ck_assert_uint_eq (kvp_owners_count (owners, "b"), 2);
    uint32_t list [8];
    ck_assert_uint_eq (kvp_owners_list (owners, "b", list), 2);
    ck_assert_uint_eq (list [0], 4);
    ck_assert_uint_eq (list [1], 5);
    //  Adopted but not attached: still down.
    ck_assert_ptr_null (kvp_owners_session (owners, "b"));
    kvp_owners_destroy (&owners);
    kvp_registry_destroy (&registry);
}
END_TEST

//  --------------------------------------------------------------------------
//  Session state table

static char s_trace [64];

#define S_RECORDER(letter) \
    static void s_rec_##letter (kvp_session_t *session, void *ctx) \
    { strncat (s_trace, #letter, sizeof s_trace - strlen (s_trace) - 1); }
S_RECORDER (a) S_RECORDER (w) S_RECORDER (r) S_RECORDER (j)
S_RECORDER (f) S_RECORDER (t) S_RECORDER (h)

static const kvp_session_actions_t s_recorders = {
    s_rec_a, s_rec_w, s_rec_r, s_rec_j, s_rec_f, s_rec_t, s_rec_h
};

static kvp_session_state_t
s_step (kvp_session_t *session, kvp_session_event_t event,
        const char *expect)
{
    s_trace [0] = 0;
    kvp_session_state_t state = kvp_session_execute (session, event,
                                                     &s_recorders, NULL);
    ck_assert_str_eq (s_trace, expect);
    return state;
}

START_TEST (test_session_transitions)
{
    ck_assert_ptr_null (kvp_session_new ("x", 0));
    kvp_session_t *session = kvp_session_new ("\0ab\1", 4);
    ck_assert_ptr_nonnull (session);
    size_t len;
    const uint8_t *id = kvp_session_identity (session, &len);
    ck_assert_uint_eq (len, 4);
    ck_assert_int_eq (memcmp (id, "\0ab\1", 4), 0);
    ck_assert_int_eq (kvp_session_state (session), KVP_SESSION_UNREGISTERED);
    //  Unregistered: messages are rejected, refusals keep it there.
    ck_assert_int_eq (s_step (session, KVP_SESSION_MESSAGE, "j"),
                      KVP_SESSION_UNREGISTERED);
    ck_assert_int_eq (s_step (session, KVP_SESSION_REFUSED, "r"),
                      KVP_SESSION_UNREGISTERED);
    ck_assert_int_eq (s_step (session, KVP_SESSION_SILENT, ""),
                      KVP_SESSION_UNREGISTERED);
    ck_assert_int_eq (s_step (session, KVP_SESSION_REGISTER, "aw"),
                      KVP_SESSION_READY);
    ck_assert_int_eq (s_step (session, KVP_SESSION_MESSAGE, "h"),
                      KVP_SESSION_READY);
    //  Re-registering fails what was in flight first.
    ck_assert_int_eq (s_step (session, KVP_SESSION_REGISTER, "ftaw"),
                      KVP_SESSION_READY);
    ck_assert_int_eq (s_step (session, KVP_SESSION_SILENT, "ft"),
                      KVP_SESSION_EXPIRED);
    ck_assert_int_eq (s_step (session, KVP_SESSION_MESSAGE, "j"),
                      KVP_SESSION_EXPIRED);
    ck_assert_int_eq (s_step (session, KVP_SESSION_BYE, ""),
                      KVP_SESSION_EXPIRED);
    ck_assert_int_eq (s_step (session, KVP_SESSION_REGISTER, "aw"),
                      KVP_SESSION_READY);
    ck_assert_int_eq (s_step (session, KVP_SESSION_BYE, "ft"),
                      KVP_SESSION_EXPIRED);
    ck_assert_int_eq (s_step (session, KVP_SESSION_REGISTER, "aw"),
                      KVP_SESSION_READY);
    ck_assert_int_eq (s_step (session, KVP_SESSION_REFUSED, "ftr"),
                      KVP_SESSION_EXPIRED);
    //  The table alone agrees.
    const char *actions;
    ck_assert_int_eq (kvp_session_next (KVP_SESSION_READY,
                                        KVP_SESSION_SILENT, &actions),
                      KVP_SESSION_EXPIRED);
    ck_assert_str_eq (actions, "ft");
    ck_assert_str_eq (kvp_session_state_name (KVP_SESSION_EXPIRED),
                      "expired");
    kvp_session_inflight_add (session, 1, 100);
    kvp_session_inflight_add (session, 1, 20);
    kvp_session_inflight_add (session, -1, 100);
    ck_assert_uint_eq (kvp_session_inflight (session), 1);
    ck_assert_uint_eq (kvp_session_inflight_bytes (session), 20);
    kvp_session_set_name (session, "w1");
    ck_assert_str_eq (kvp_session_name (session), "w1");
    kvp_session_destroy (&session);
    kvp_session_destroy (&session);
    ck_assert_ptr_null (session);
}
END_TEST

//  --------------------------------------------------------------------------
//  Command line

START_TEST (test_bconfig)
{
    kvp_bconfig_t config;
    char error [256];
    char *defaults [] = { "kvp-broker" };
    ck_assert_int_eq (kvp_bconfig_parse (&config, 1, defaults, error,
                                         sizeof error), KVP_BCONFIG_OK);
    ck_assert_str_eq (config.data, "./var/broker");
    ck_assert_str_eq (config.events, "tcp://127.0.0.1:5558");
    ck_assert_uint_eq (config.partitions, 64);
    ck_assert_uint_eq (config.deadline_ms, 10000);
    ck_assert_uint_eq (config.max_msg, 4 * 1024 * 1024 + 64 * 1024);
    char *both [] = { "kvp-broker", "--partitions=8", "--data", "/x",
                      "--verbose", "--deadline", "1000" };
    ck_assert_int_eq (kvp_bconfig_parse (&config, 7, both, error,
                                         sizeof error), KVP_BCONFIG_OK);
    ck_assert_uint_eq (config.partitions, 8);
    ck_assert_str_eq (config.data, "/x");
    ck_assert (config.log.verbose);
    ck_assert_uint_eq (config.deadline_ms, 1000);
    char *help [] = { "kvp-broker", "--help" };
    ck_assert_int_eq (kvp_bconfig_parse (&config, 2, help, error,
                                         sizeof error), KVP_BCONFIG_HELP);
    const char *bad [][2] = {
        { "--partitions", "0" }, { "--partitions", "65536" },
        { "--deadline", "999" }, { "--queue-limit", "1023" },
        { "--max-msg", "1000" }, { "--liveness", "x" }, { "--bogus", "1" },
        { "--heartbeat", "-5" }, { "--data", "" }, { "--verbose=1", "x" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        char *argv [] = { "kvp-broker", (char *) bad [i][0],
                          (char *) bad [i][1] };
        ck_assert_int_eq (kvp_bconfig_parse (&config, 3, argv, error,
                                             sizeof error),
                          KVP_BCONFIG_ERROR);
        ck_assert (strlen (error) > 0);
    }
    char *missing [] = { "kvp-broker", "--clients" };
    ck_assert_int_eq (kvp_bconfig_parse (&config, 2, missing, error,
                                         sizeof error), KVP_BCONFIG_ERROR);
}
END_TEST

//  --replicas, --min-insync (its default follows R; above R is refused)
//  and --replace-after.
START_TEST (test_bconfig_replicas)
{
    kvp_bconfig_t config;
    char error [256];
    char *defaults [] = { "kvp-broker" };
    ck_assert_int_eq (kvp_bconfig_parse (&config, 1, defaults, error,
                                         sizeof error), KVP_BCONFIG_OK);
    ck_assert_uint_eq (config.replicas, 1);
    ck_assert_uint_eq (config.min_insync, 1);
    ck_assert_uint_eq (config.replace_after_s, 300);
    ck_assert_uint_eq (config.replace_after_ms, 300000);
    //  Without --min-insync, M is min (2, R)
    const struct { const char *r, *m; unsigned replicas, min_insync; } ok [] = {
        { "2", NULL, 2, 2 }, { "3", NULL, 3, 2 }, { "5", NULL, 5, 2 },
        { "3", "3", 3, 3 }, { "3", "1", 3, 1 }, { "1", "1", 1, 1 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok [0]; i++) {
        char *argv [] = { "kvp-broker", "--replicas", (char *) ok [i].r,
                          "--min-insync", (char *) ok [i].m };
        ck_assert_int_eq (kvp_bconfig_parse (&config, ok [i].m? 5: 3, argv,
                                             error, sizeof error),
                          KVP_BCONFIG_OK);
        ck_assert_uint_eq (config.replicas, ok [i].replicas);
        ck_assert_uint_eq (config.min_insync, ok [i].min_insync);
    }
    char *later [] = { "kvp-broker", "--replace-after=7" };
    ck_assert_int_eq (kvp_bconfig_parse (&config, 2, later, error,
                                         sizeof error), KVP_BCONFIG_OK);
    ck_assert_uint_eq (config.replace_after_ms, 7000);
    //  Each refused line and what its reason names
    const struct { const char *args [4]; const char *reason; } bad [] = {
        { { "--replicas", "0" }, "--replicas" },
        { { "--replicas", "6" }, "--replicas" },
        { { "--replicas", "two" }, "--replicas" },
        { { "--min-insync", "0" }, "--min-insync" },
        { { "--min-insync", "2" }, "more than --replicas 1" },
        { { "--replicas", "2", "--min-insync", "3" },
          "--min-insync: 3 is more than --replicas 2" },
        { { "--replace-after", "0" }, "--replace-after" },
        { { "--replace-after", "5m" }, "--replace-after" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        char *argv [5] = { "kvp-broker" };
        int argc = 1;
        for (int j = 0; j < 4 && bad [i].args [j]; j++)
            argv [argc++] = (char *) bad [i].args [j];
        ck_assert_int_eq (kvp_bconfig_parse (&config, argc, argv, error,
                                             sizeof error),
                          KVP_BCONFIG_ERROR);
        ck_assert_msg (strstr (error, bad [i].reason), "case %zu: \"%s\"",
                       i, error);
    }
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("broker");
    TCase *tc = tcase_create ("inflight");
    tcase_add_test (tc, test_inflight_basic);
    tcase_add_test (tc, test_inflight_expiry_order);
    tcase_add_test (tc, test_inflight_many);
    tcase_add_test (tc, test_inflight_drain);
    suite_add_tcase (suite, tc);

    tc = tcase_create ("owners");
    tcase_add_checked_fixture (tc, s_dir_setup, s_dir_teardown);
    tcase_add_test (tc, test_owners_fewest_then_name);
    tcase_add_test (tc, test_owners_sticky_when_down);
    tcase_add_test (tc, test_owners_skip_retired);
    tcase_add_test (tc, test_owners_check);
    suite_add_tcase (suite, tc);

    tc = tcase_create ("session");
    tcase_add_test (tc, test_session_transitions);
    suite_add_tcase (suite, tc);

    tc = tcase_create ("bconfig");
    tcase_add_test (tc, test_bconfig);
    tcase_add_test (tc, test_bconfig_replicas);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
