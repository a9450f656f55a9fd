/*  test_broker.c - the broker: its pure parts (in-flight table, ownership
    policy, session state table, command line) and the real bin/kvp-broker
    on 127.0.0.1, driven by a fake worker DEALER and a client DEALER.
*/
#include <check.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <czmq.h>
#include <msgpack.h>
#include "kvp_bconfig.h"
#include "kvp_inflight.h"
#include "kvp_owners.h"
#include "kvp_session.h"
#include "kvp_registry.h"
#include "kvp_request.h"
#include "kvp_reply.h"
#include "kvp_wire.h"
#include "kvp_guid.h"
#include "kvp_rc.h"
#include "kvp_testkit.h"

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

static kvp_register_t
s_reg (const char *id, const char *token, uint32_t nparts,
       uint32_t *parts, size_t count)
{
    kvp_register_t reg = { .version = KVP_WIRE_VERSION, .nparts = nparts,
                           .partitions = parts, .partition_count = count };
    snprintf (reg.id, sizeof reg.id, "%s", id);
    snprintf (reg.token, sizeof reg.token, "%s", token);
    return reg;
}

//  Register `id` (token "t-<id>") as alive with `session`.
static void
s_join (kvp_owners_t *owners, const char *id, void *session)
{
    char token [32];
    snprintf (token, sizeof token, "t-%s", id);
    kvp_register_t reg = s_reg (id, token, 0, NULL, 0);
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

    kvp_register_t reg = s_reg ("b", "t-b", 0, NULL, 0);
    reg.version = 2;
    ck_assert (!kvp_owners_check (owners, &reg, error, sizeof error));
    ck_assert (strstr (error, "fatal: ") == error);
    reg = s_reg ("b", "t-b", 16, NULL, 0);
    ck_assert (!kvp_owners_check (owners, &reg, error, sizeof error));
    ck_assert_str_eq (error, "fatal: partition count mismatch");
    reg = s_reg ("a", "another", 8, NULL, 0);
    ck_assert (!kvp_owners_check (owners, &reg, error, sizeof error));
    ck_assert_str_eq (error,
                      "fatal: worker id a is bound to another data directory");
    reg = s_reg ("b", "t-b", 8, claim3, 1);
    ck_assert (!kvp_owners_check (owners, &reg, error, sizeof error));
    ck_assert_str_eq (error, "fatal: partition 3 belongs to a");
    reg = s_reg ("b", "t-b", 0, claim9, 1);
    ck_assert (!kvp_owners_check (owners, &reg, error, sizeof error));
    //  The owner itself may claim it; a newcomer adopts unowned claims
    //  (a lost registry is rebuilt that way).
    reg = s_reg ("a", "t-a", 8, claim3, 1);
    ck_assert (kvp_owners_check (owners, &reg, error, sizeof error));
    reg = s_reg ("b", "t-b", 8, claim45, 2);
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
    kvp_session_inflight_add (session, 2);
    kvp_session_inflight_add (session, -1);
    ck_assert_uint_eq (kvp_session_inflight (session), 1);
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
    ck_assert (config.verbose);
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

//  --------------------------------------------------------------------------
//  A fake worker: a DEALER speaking the broker/worker wire

typedef struct {
    zsock_t *sock;
    char id [32];
    char token [32];
    kvp_request_t *request;         //  to echo the rid of requests
} fw_t;

static fw_t *
fw_new (tk_cluster_t *cluster, const char *id, const char *token)
{
    fw_t *self = calloc (1, sizeof *self);
    self->sock = zsock_new_dealer (cluster->workers_ep);
    ck_assert_ptr_nonnull (self->sock);
    zsock_set_linger (self->sock, 0);
    snprintf (self->id, sizeof self->id, "%s", id);
    snprintf (self->token, sizeof self->token, "%s", token);
    self->request = kvp_request_new ();
    return self;
}

static void
fw_destroy (fw_t **self_p)
{
    if (!*self_p)
        return;
    zsock_destroy (&(*self_p)->sock);
    kvp_request_destroy (&(*self_p)->request);
    free (*self_p);
    *self_p = NULL;
}

static void
fw_send_register (fw_t *self, uint32_t nparts, uint32_t *parts,
                  size_t count)
{
    kvp_register_t reg = s_reg (self->id, self->token, nparts, parts, count);
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    kvp_register_encode (&buf, &reg);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, KVP_W_REGISTER);
    zmsg_addmem (msg, buf.data, buf.size);
    zmsg_send (&msg, self->sock);
    msgpack_sbuffer_destroy (&buf);
}

static void
fw_heartbeat (fw_t *self)
{
    zstr_send (self->sock, KVP_W_HEARTBEAT);
}

//  The next message other than HEARTBEAT, or NULL after timeout_ms.
//  With `beat`, we heartbeat while we wait.
static zmsg_t *
fw_recv (fw_t *self, int timeout_ms, bool beat)
{
    int64_t until = zclock_mono () + timeout_ms;
    zpoller_t *poller = zpoller_new (self->sock, NULL);
    zmsg_t *msg = NULL;
    while (!msg && zclock_mono () < until) {
        if (beat)
            fw_heartbeat (self);
        if (!zpoller_wait (poller, 50))
            continue;
        msg = zmsg_recv (self->sock);
        if (msg && zframe_streq (zmsg_first (msg), KVP_W_HEARTBEAT))
            zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    return msg;
}

//  The next message must be `command`; returns it.
static zmsg_t *
fw_expect (fw_t *self, const char *command, bool beat)
{
    zmsg_t *msg = fw_recv (self, 5000, beat);
    ck_assert_msg (msg != NULL, "%s: no %s", self->id, command);
    char *got = zmsg_popstr (msg);
    ck_assert_str_eq (got, command);
    free (got);
    return msg;
}

//  The partitions of a WELCOME or ASSIGN (the command already popped).
static size_t
fw_partitions (zmsg_t *msg, uint32_t *out, size_t max, uint32_t *nparts)
{
    zframe_t *map = zmsg_first (msg);
    uint32_t *parts, np, hb;
    size_t count;
    ck_assert (kvp_assign_decode (zframe_data (map), zframe_size (map),
                                  &parts, &count, &np, &hb));
    ck_assert_uint_le (count, max);
    if (count)
        memcpy (out, parts, count * sizeof *parts);
    free (parts);
    if (nparts)
        *nparts = np;
    return count;
}

//  Register and expect WELCOME; returns the partitions it lists.
static size_t
fw_register (fw_t *self, uint32_t nparts, uint32_t *claims, size_t nclaims,
             uint32_t *out, size_t max)
{
    fw_send_register (self, nparts, claims, nclaims);
    zmsg_t *msg = fw_expect (self, KVP_W_WELCOME, false);
    uint32_t np;
    size_t count = fw_partitions (msg, out, max, &np);
    ck_assert_uint_gt (np, 0);
    zmsg_destroy (&msg);
    return count;
}

//  The REFUSE text after a REGISTER.
static void
fw_expect_refuse (fw_t *self, char *error, size_t size)
{
    zmsg_t *msg = fw_expect (self, KVP_W_REFUSE, false);
    zframe_t *map = zmsg_first (msg);
    ck_assert (kvp_refuse_decode (zframe_data (map), zframe_size (map),
                                  error, size));
    zmsg_destroy (&msg);
}

//  A REQUEST as the worker sees it (command popped): tag, part, guid.
typedef struct {
    zmsg_t *msg;
    uint64_t tag;
    uint32_t part;
    char guid [KVP_GUID_LEN + 1];
} fw_request_t;

static fw_request_t
fw_take_request (fw_t *self, bool beat)
{
    fw_request_t req = { .msg = fw_expect (self, KVP_W_REQUEST, beat) };
    ck_assert_uint_eq (zmsg_size (req.msg), 4);
    zframe_t *tag = zmsg_first (req.msg);
    zframe_t *part = zmsg_next (req.msg);
    zframe_t *guid = zmsg_next (req.msg);
    ck_assert_uint_eq (zframe_size (tag), 8);
    ck_assert_uint_eq (zframe_size (part), 4);
    req.tag = kvp_get_u64 (zframe_data (tag));
    req.part = kvp_get_u32 (zframe_data (part));
    ck_assert (zframe_size (guid) == 0 || zframe_size (guid) == KVP_GUID_LEN);
    memcpy (req.guid, zframe_data (guid), zframe_size (guid));
    req.guid [zframe_size (guid)] = 0;
    return req;
}

//  Answer a request with {rid, rc} (the rid echoed from its body).
static void
fw_answer (fw_t *self, fw_request_t *req, unsigned rc)
{
    zframe_t *body = zmsg_last (req->msg);
    kvp_request_decode (self->request, zframe_data (body), zframe_size (body));
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    kvp_reply_status (&buf, kvp_request_rid (self->request), rc, NULL);
    uint8_t tag [8];
    kvp_put_u64 (tag, req->tag);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, KVP_W_REPLY);
    zmsg_addmem (msg, tag, 8);
    zmsg_addmem (msg, buf.data, buf.size);
    zmsg_send (&msg, self->sock);
    msgpack_sbuffer_destroy (&buf);
    zmsg_destroy (&req->msg);
}

//  --------------------------------------------------------------------------
//  Client helpers

//  A GUID whose partition (of n) is `part`.
static void
s_guid_in (kvp_guid_t *guid, uint32_t part, uint32_t n)
{
    do
        kvp_guid_random (guid);
    while (kvp_guid_partition (guid, n) != part);
}

//  Send {op, target, rid} without waiting.
static void
s_send_target (zsock_t *client, const char *op, const char *target,
               uint64_t rid)
{
    tk_body_t body;
    tk_body_begin (&body, op, 2);
    tk_pack_kv_str (&body.pk, "target", target);
    tk_pack_kv_uint (&body.pk, "rid", rid);
    tk_send (client, &body);
    tk_body_end (&body);
}

//  Send {op: AddKvpItems, target, items: 5, rid}: a routing key the light
//  scan accepts, with `items` of the wrong type (32776 by the full decode).
static void
s_send_bad_items (zsock_t *client, const char *target, uint64_t rid)
{
    tk_body_t body;
    tk_body_begin (&body, "AddKvpItems", 3);
    tk_pack_kv_str (&body.pk, "target", target);
    tk_pack_kv_uint (&body.pk, "items", 5);
    tk_pack_kv_uint (&body.pk, "rid", rid);
    tk_send (client, &body);
    tk_body_end (&body);
}

//  Wait for a client reply while the fake worker (if any) heartbeats.
static tk_reply_t *
s_wait_reply (zsock_t *client, fw_t *worker, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    tk_reply_t *reply = NULL;
    while (!reply && zclock_mono () < until) {
        if (worker) {
            fw_heartbeat (worker);
            zmsg_t *msg;
            while (zsock_events (worker->sock) & ZMQ_POLLIN
                   && (msg = zmsg_recv (worker->sock)))
                zmsg_destroy (&msg);    //  heartbeats from the broker
        }
        reply = tk_recv (client, 50);
    }
    return reply;
}

//  The reply for `rid`, skipping replies to other requests.
static tk_reply_t *
s_reply_for (zsock_t *client, fw_t *worker, uint64_t rid)
{
    int64_t until = zclock_mono () + 5000;
    while (zclock_mono () < until) {
        tk_reply_t *reply = s_wait_reply (client, worker, 500);
        if (reply && tk_get_uint (reply->map, "rid") == (int64_t) rid)
            return reply;
        tk_reply_destroy (&reply);
    }
    ck_abort_msg ("no reply for rid %llu", (unsigned long long) rid);
    return NULL;
}

//  The reply for `rid` must have `rc`; returns its error text (static).
static const char *
s_expect_rc (zsock_t *client, fw_t *worker, uint64_t rid, int64_t rc)
{
    tk_reply_t *reply = s_reply_for (client, worker, rid);
    ck_assert_int_eq (tk_rc (reply), rc);
    const char *error = tk_get_str (reply->map, "error");
    tk_reply_destroy (&reply);
    return error;
}

//  Find worker `id` in a ClusterStatus reply: alive and its partitions.
static bool
s_status_worker (tk_reply_t *reply, const char *id, bool *alive,
                 uint32_t *parts, size_t *count)
{
    const msgpack_object *workers = tk_get (reply->map, "workers");
    ck_assert (workers && workers->type == MSGPACK_OBJECT_ARRAY);
    for (uint32_t i = 0; i < workers->via.array.size; i++) {
        const msgpack_object *w = &workers->via.array.ptr [i];
        if (strcmp (tk_get_str (w, "id"), id) != 0)
            continue;
        const msgpack_object *a = tk_get (w, "alive");
        ck_assert (a && a->type == MSGPACK_OBJECT_BOOLEAN);
        *alive = a->via.boolean;
        const msgpack_object *p = tk_get (w, "partitions");
        ck_assert (p && p->type == MSGPACK_OBJECT_ARRAY);
        *count = p->via.array.size;
        for (uint32_t j = 0; j < p->via.array.size; j++)
            parts [j] = (uint32_t) p->via.array.ptr [j].via.u64;
        return true;
    }
    return false;
}

static tk_reply_t *
s_status (zsock_t *client)
{
    tk_body_t body;
    tk_body_begin (&body, "ClusterStatus", 0);
    tk_reply_t *reply = tk_call (client, &body, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    return reply;
}

//  Poll ClusterStatus until worker `id` is (not) alive.
static bool
s_wait_alive (zsock_t *client, const char *id, bool want, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    while (zclock_mono () < until) {
        tk_reply_t *reply = s_status (client);
        bool alive = false;
        uint32_t parts [64];
        size_t count;
        bool found = s_status_worker (reply, id, &alive, parts, &count);
        tk_reply_destroy (&reply);
        if (found && alive == want)
            return true;
        zclock_sleep (20);
    }
    return false;
}

static tk_cluster_t *s_cluster;

static void
s_broker_setup (const char *args)
{
    s_cluster = tk_cluster_new (0);
    s_cluster->broker_args = args;
    ck_assert_int_gt (tk_broker_start (s_cluster), 0);
    //  Ready when it answers Ping.
    zsock_t *client = tk_dealer (s_cluster->clients);
    tk_body_t body;
    tk_body_begin (&body, "Ping", 0);
    tk_reply_t *reply = tk_call (client, &body, 10000);
    ck_assert_int_eq (tk_rc (reply), 0);
    tk_reply_destroy (&reply);
    zsock_destroy (&client);
}

static void
s_broker_teardown (void)
{
    tk_cluster_destroy (&s_cluster);
}

#define S_FAST  "--partitions 8 --heartbeat 100 --liveness 3 --deadline 1000"

//  --------------------------------------------------------------------------
//  The real broker

START_TEST (test_socket_envelopes)
{
    s_broker_setup (S_FAST);
    zsock_t *client = tk_dealer (s_cluster->clients);
    //  Malformed shapes: each gets a 32773 reply, the broker goes on.
    const void *data [4];
    size_t sizes [4];
    int shapes = 0;
    //  no delimiter
    data [0] = "KVP1"; sizes [0] = 4; data [1] = "\x80"; sizes [1] = 1;
    tk_send_frames (client, 2, data, sizes);
    shapes++;
    //  wrong signature
    data [0] = ""; sizes [0] = 0; data [1] = "KVP2"; sizes [1] = 4;
    data [2] = "\x80"; sizes [2] = 1;
    tk_send_frames (client, 3, data, sizes);
    shapes++;
    //  too many frames
    data [1] = "KVP1"; data [3] = "x"; sizes [3] = 1;
    tk_send_frames (client, 4, data, sizes);
    shapes++;
    //  body not a map (an array)
    data [2] = "\x91\x01"; sizes [2] = 2;
    tk_send_frames (client, 3, data, sizes);
    shapes++;
    //  one frame only
    tk_send_frames (client, 1, data, sizes);
    shapes++;
    for (int i = 0; i < shapes; i++) {
        tk_reply_t *reply = tk_recv (client, 5000);
        ck_assert_msg (reply != NULL, "no reply to malformed message %d", i);
        ck_assert_int_eq (tk_rc (reply), KVP_RC_INVALID_PARAM);
        ck_assert (strlen (tk_get_str (reply->map, "error")) > 0);
        tk_reply_destroy (&reply);
    }
    //  Unknown op, with the rid returned.
    tk_body_t body;
    tk_body_begin (&body, "Frobnicate", 1);
    tk_pack_kv_uint (&body.pk, "rid", 77);
    tk_reply_t *reply = tk_call (client, &body, 5000);
    ck_assert_int_eq (tk_rc (reply), KVP_RC_NOT_SUPPORTED);
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 77);
    tk_reply_destroy (&reply);
    //  Ping with a str rid.
    tk_body_begin (&body, "Ping", 1);
    tk_pack_kv_str (&body.pk, "rid", "p-1");
    reply = tk_call (client, &body, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    ck_assert_str_eq (tk_get_str (reply->map, "rid"), "p-1");
    tk_reply_destroy (&reply);
    //  A REQ client is served too.
    zsock_t *req = zsock_new_req (s_cluster->clients);
    zsock_set_linger (req, 0);
    tk_body_begin (&body, "Ping", 0);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "KVP1");
    zmsg_addmem (msg, body.sbuf.data, body.sbuf.size);
    zmsg_send (&msg, req);
    tk_body_end (&body);
    zpoller_t *poller = zpoller_new (req, NULL);
    ck_assert_ptr_eq (zpoller_wait (poller, 5000), req);
    msg = zmsg_recv (req);
    ck_assert_uint_eq (zmsg_size (msg), 2);
    ck_assert (zframe_streq (zmsg_first (msg), "KVP1"));
    zmsg_destroy (&msg);
    zpoller_destroy (&poller);
    zsock_destroy (&req);
    //  No worker yet: all partitions unowned, routed ops 32777.
    reply = s_status (client);
    ck_assert_int_eq (tk_get_uint (reply->map, "partitions"), 8);
    const msgpack_object *unowned = tk_get (reply->map, "unowned");
    ck_assert_uint_eq (unowned->via.array.size, 8);
    ck_assert_uint_eq (unowned->via.array.ptr [7].via.u64, 7);
    tk_reply_destroy (&reply);
    kvp_guid_t guid;
    kvp_guid_random (&guid);
    s_send_target (client, "GetSystem", guid.text, 5);
    reply = tk_recv (client, 5000);
    ck_assert_int_eq (tk_rc (reply), KVP_RC_NOT_AVAILABLE);
    ck_assert_str_eq (tk_get_str (reply->map, "error"), "no live worker");
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 5);
    tk_reply_destroy (&reply);
    zsock_destroy (&client);
    s_broker_teardown ();
}
END_TEST

START_TEST (test_socket_routing)
{
    s_broker_setup (S_FAST);
    zsock_t *client = tk_dealer (s_cluster->clients);
    fw_t *worker = fw_new (s_cluster, "w0", "tok0");
    uint32_t parts [8];
    ck_assert_uint_eq (fw_register (worker, 0, NULL, 0, parts, 8), 0);
    ck_assert (s_wait_alive (client, "w0", true, 5000));

    //  First request for partition 3: ASSIGN [3], then the REQUEST.
    kvp_guid_t guid;
    s_guid_in (&guid, 3, 8);
    s_send_target (client, "GetSystem", guid.text, 1001);
    zmsg_t *assign = fw_expect (worker, KVP_W_ASSIGN, true);
    ck_assert_uint_eq (fw_partitions (assign, parts, 8, NULL), 1);
    ck_assert_uint_eq (parts [0], 3);
    zmsg_destroy (&assign);
    fw_request_t req = fw_take_request (worker, true);
    ck_assert_uint_eq (req.part, 3);
    ck_assert_str_eq (req.guid, guid.text);
    fw_answer (worker, &req, 0);
    tk_reply_t *reply = s_wait_reply (client, worker, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 1001);
    tk_reply_destroy (&reply);

    //  DefineSystem without id: the broker makes the guid.
    tk_body_t body;
    tk_body_begin (&body, "DefineSystem", 2);
    tk_pack_kv_str (&body.pk, "name", "vm");
    tk_pack_kv_uint (&body.pk, "rid", 1002);
    tk_send (client, &body);
    tk_body_end (&body);
    zmsg_t *msg = fw_recv (worker, 5000, true);
    char *command = zmsg_popstr (msg);
    if (streq (command, KVP_W_ASSIGN)) {    //  a new partition, maybe
        zmsg_destroy (&msg);
        msg = fw_recv (worker, 5000, true);
        free (command);
        command = zmsg_popstr (msg);
    }
    ck_assert_str_eq (command, KVP_W_REQUEST);
    free (command);
    zmsg_first (msg);                       //  tag
    zframe_t *part_frame = zmsg_next (msg);
    zframe_t *guid_frame = zmsg_next (msg);
    kvp_guid_t made;
    ck_assert (kvp_guid_parse (&made, (char *) zframe_data (guid_frame),
                               zframe_size (guid_frame)));
    ck_assert_uint_eq (kvp_get_u32 (zframe_data (part_frame)),
                       kvp_guid_partition (&made, 8));
    zmsg_destroy (&msg);

    //  GetJob routes by the job id's partition, with an empty guid frame.
    char job [KVP_JOBID_MAX + 1];
    kvp_jobid_format (job, 3, 1, 9);
    tk_body_begin (&body, "GetJob", 1);
    tk_pack_kv_str (&body.pk, "job", job);
    tk_send (client, &body);
    tk_body_end (&body);
    req = fw_take_request (worker, true);
    ck_assert_uint_eq (req.part, 3);
    ck_assert_str_eq (req.guid, "");
    fw_answer (worker, &req, 0);
    reply = s_wait_reply (client, worker, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    tk_reply_destroy (&reply);
    //  A job in a partition past N is unknown.
    kvp_jobid_format (job, 9, 1, 1);
    tk_body_begin (&body, "GetJob", 1);
    tk_pack_kv_str (&body.pk, "job", job);
    reply = tk_call (client, &body, 5000);
    ck_assert_int_eq (tk_rc (reply), KVP_RC_INVALID_PARAM);
    tk_reply_destroy (&reply);

    //  ClusterStatus shows the owner and the rest unowned.
    reply = s_status (client);
    bool alive;
    size_t count;
    ck_assert (s_status_worker (reply, "w0", &alive, parts, &count));
    ck_assert (alive);
    ck_assert_uint_ge (count, 1);
    bool has3 = false;
    for (size_t i = 0; i < count; i++)
        has3 |= parts [i] == 3;
    ck_assert (has3);
    const msgpack_object *unowned = tk_get (reply->map, "unowned");
    ck_assert_uint_eq (unowned->via.array.size + count, 8);
    tk_reply_destroy (&reply);
    fw_destroy (&worker);
    zsock_destroy (&client);
    s_broker_teardown ();
}
END_TEST

START_TEST (test_socket_worker_down)
{
    s_broker_setup (S_FAST);
    zsock_t *client = tk_dealer (s_cluster->clients);
    fw_t *worker = fw_new (s_cluster, "w0", "tok0");
    uint32_t parts [8];
    fw_register (worker, 0, NULL, 0, parts, 8);
    kvp_guid_t guid;
    s_guid_in (&guid, 5, 8);
    s_send_target (client, "GetSystem", guid.text, 2001);
    zmsg_t *assign = fw_expect (worker, KVP_W_ASSIGN, true);
    zmsg_destroy (&assign);
    fw_request_t req = fw_take_request (worker, true);
    //  The worker falls silent with the request in flight.
    int64_t start = zclock_mono ();
    tk_reply_t *reply = tk_recv (client, 5000);
    ck_assert_int_eq (tk_rc (reply), KVP_RC_STATUS_UNKNOWN);
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 2001);
    ck_assert (strstr (tk_get_str (reply->map, "error"), "w0"));
    ck_assert_int_lt (zclock_mono () - start, 2000);
    tk_reply_destroy (&reply);
    //  Sticky: the partition stays w0's, so requests get 32777.
    s_send_target (client, "GetSystem", guid.text, 2002);
    reply = tk_recv (client, 5000);
    ck_assert_int_eq (tk_rc (reply), KVP_RC_NOT_AVAILABLE);
    ck_assert_str_eq (tk_get_str (reply->map, "error"),
                      "partition 5: worker w0 is down");
    tk_reply_destroy (&reply);
    //  Its late reply is dropped; its next message is told to register.
    fw_answer (worker, &req, 0);
    char error [128];
    fw_expect_refuse (worker, error, sizeof error);
    ck_assert_str_eq (error, "unknown worker, register first");
    //  Registering again brings partition 5 back with it.
    size_t count = fw_register (worker, 8, parts, 0, parts, 8);
    ck_assert_uint_eq (count, 1);
    ck_assert_uint_eq (parts [0], 5);
    ck_assert (s_wait_alive (client, "w0", true, 5000));
    //  BYE: down at once.
    zstr_send (worker->sock, KVP_W_BYE);
    ck_assert (s_wait_alive (client, "w0", false, 5000));
    fw_destroy (&worker);
    zsock_destroy (&client);
    s_broker_teardown ();
}
END_TEST

START_TEST (test_socket_deadline)
{
    s_broker_setup (S_FAST);
    zsock_t *client = tk_dealer (s_cluster->clients);
    fw_t *worker = fw_new (s_cluster, "w0", "tok0");
    uint32_t parts [8];
    fw_register (worker, 0, NULL, 0, parts, 8);
    kvp_guid_t guid;
    s_guid_in (&guid, 1, 8);
    int64_t start = zclock_mono ();
    s_send_target (client, "GetSystem", guid.text, 3001);
    zmsg_t *assign = fw_expect (worker, KVP_W_ASSIGN, true);
    zmsg_destroy (&assign);
    fw_request_t req = fw_take_request (worker, true);
    //  Alive (heartbeating) but never answering: 32772 after --deadline.
    tk_reply_t *reply = s_wait_reply (client, worker, 5000);
    ck_assert_int_eq (tk_rc (reply), KVP_RC_TIMEOUT);
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 3001);
    ck_assert_int_ge (zclock_mono () - start, 1000);
    tk_reply_destroy (&reply);
    //  The late answer is dropped: no second reply.
    fw_answer (worker, &req, 0);
    ck_assert_ptr_null (s_wait_reply (client, worker, 300));
    //  And the worker is still in service.
    s_send_target (client, "GetSystem", guid.text, 3002);
    req = fw_take_request (worker, true);
    fw_answer (worker, &req, 0);
    reply = s_wait_reply (client, worker, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 3002);
    tk_reply_destroy (&reply);
    fw_destroy (&worker);
    zsock_destroy (&client);
    s_broker_teardown ();
}
END_TEST

START_TEST (test_socket_queue_limit)
{
    s_broker_setup (S_FAST " --queue-limit 1024");
    zsock_t *client = tk_dealer (s_cluster->clients);
    fw_t *worker = fw_new (s_cluster, "w0", "tok0");
    uint32_t parts [8];
    fw_register (worker, 0, NULL, 0, parts, 8);
    kvp_guid_t guid;
    s_guid_in (&guid, 2, 8);
    //  1024 requests fill the queue; the 1025th is refused at once.
    for (int i = 0; i <= 1024; i++)
        s_send_target (client, "GetSystem", guid.text, (uint64_t) i);
    tk_reply_t *reply = s_wait_reply (client, worker, 5000);
    ck_assert_int_eq (tk_rc (reply), KVP_RC_IN_USE);
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 1024);
    tk_reply_destroy (&reply);
    //  A malformed body gets its own fault, not 32774.
    s_send_bad_items (client, guid.text, 5000);
    s_expect_rc (client, worker, 5000, KVP_RC_INCORRECT_TYPE);
    fw_destroy (&worker);
    zsock_destroy (&client);
    s_broker_teardown ();
}
END_TEST

START_TEST (test_socket_refusals)
{
    s_broker_setup (S_FAST);
    zsock_t *client = tk_dealer (s_cluster->clients);
    char error [128];
    //  Anything before REGISTER: told to register.
    fw_t *early = fw_new (s_cluster, "early", "tok");
    fw_heartbeat (early);
    fw_expect_refuse (early, error, sizeof error);
    ck_assert_str_eq (error, "unknown worker, register first");
    fw_destroy (&early);

    fw_t *w0 = fw_new (s_cluster, "w0", "tok0");
    uint32_t parts [8];
    fw_register (w0, 0, NULL, 0, parts, 8);
    kvp_guid_t guid;
    s_guid_in (&guid, 6, 8);
    s_send_target (client, "GetSystem", guid.text, 1);
    zmsg_t *assign = fw_expect (w0, KVP_W_ASSIGN, true);
    zmsg_destroy (&assign);
    fw_request_t req = fw_take_request (w0, true);
    fw_answer (w0, &req, 0);
    tk_reply_t *reply = s_wait_reply (client, w0, 5000);
    tk_reply_destroy (&reply);

    //  Another worker claiming w0's partition: a fork, refused.
    fw_t *w1 = fw_new (s_cluster, "w1", "tok1");
    uint32_t claim [] = { 6 };
    fw_send_register (w1, 8, claim, 1);
    fw_expect_refuse (w1, error, sizeof error);
    ck_assert_str_eq (error, "fatal: partition 6 belongs to w0");
    //  Another partition count.
    fw_send_register (w1, 16, NULL, 0);
    fw_expect_refuse (w1, error, sizeof error);
    ck_assert_str_eq (error, "fatal: partition count mismatch");
    fw_destroy (&w1);
    //  w0's name from another data directory.
    fw_t *twin = fw_new (s_cluster, "w0", "other");
    fw_send_register (twin, 0, NULL, 0);
    fw_expect_refuse (twin, error, sizeof error);
    ck_assert_str_eq (error,
                      "fatal: worker id w0 is bound to another data directory");
    fw_destroy (&twin);
    //  w0's name and token while w0 is connected and alive.
    twin = fw_new (s_cluster, "w0", "tok0");
    fw_send_register (twin, 8, NULL, 0);
    fw_expect_refuse (twin, error, sizeof error);
    ck_assert_str_eq (error, "fatal: worker w0 is already registered");
    fw_destroy (&twin);
    //  Once w0's connection is gone, its successor takes over at once.
    fw_destroy (&w0);
    fw_t *next = fw_new (s_cluster, "w0", "tok0");
    int64_t until = zclock_mono () + 5000;
    size_t count = 0;
    bool welcomed = false;
    while (!welcomed && zclock_mono () < until) {
        fw_send_register (next, 8, claim, 1);
        zmsg_t *msg = fw_recv (next, 1000, false);
        ck_assert_ptr_nonnull (msg);
        char *command = zmsg_popstr (msg);
        welcomed = streq (command, KVP_W_WELCOME);
        if (welcomed)
            count = fw_partitions (msg, parts, 8, NULL);
        free (command);
        zmsg_destroy (&msg);
    }
    ck_assert (welcomed);
    ck_assert_uint_eq (count, 1);
    ck_assert_uint_eq (parts [0], 6);
    fw_destroy (&next);
    zsock_destroy (&client);
    s_broker_teardown ();
}
END_TEST

START_TEST (test_socket_restart)
{
    s_broker_setup (S_FAST);
    zsock_t *client = tk_dealer (s_cluster->clients);
    fw_t *worker = fw_new (s_cluster, "w0", "tok0");
    uint32_t parts [8];
    fw_register (worker, 0, NULL, 0, parts, 8);
    kvp_guid_t guid;
    s_guid_in (&guid, 4, 8);
    s_send_target (client, "GetSystem", guid.text, 1);
    zmsg_t *assign = fw_expect (worker, KVP_W_ASSIGN, true);
    zmsg_destroy (&assign);
    fw_request_t req = fw_take_request (worker, true);
    fw_answer (worker, &req, 0);
    tk_reply_t *reply = s_wait_reply (client, worker, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    tk_reply_destroy (&reply);
    fw_destroy (&worker);
    zsock_destroy (&client);

    //  SIGTERM: a clean stop, exit 0.
    int status = tk_stop (s_cluster->broker, SIGTERM, 10000);
    s_cluster->broker = 0;
    ck_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    //  Another --partitions on the same data: refused, exit 2.
    char data [300], out [256];
    snprintf (data, sizeof data, "%s/broker", s_cluster->dir);
    ck_assert_int_eq (tk_run (out, sizeof out, "kvp-broker", "--data", data,
                              "--partitions", "16", "--clients",
                              s_cluster->clients, NULL), 2);
    //  Restarted: w0 known, owning 4, not alive until it registers.
    tk_broker_start (s_cluster);
    client = tk_dealer (s_cluster->clients);
    reply = tk_recv (client, 0);            //  nothing pending
    ck_assert_ptr_null (reply);
    tk_body_t body;
    tk_body_begin (&body, "ClusterStatus", 0);
    reply = tk_call (client, &body, 10000);
    ck_assert_int_eq (tk_rc (reply), 0);
    bool alive = true;
    size_t count;
    ck_assert (s_status_worker (reply, "w0", &alive, parts, &count));
    ck_assert (!alive);
    ck_assert_uint_eq (count, 1);
    ck_assert_uint_eq (parts [0], 4);
    tk_reply_destroy (&reply);
    s_send_target (client, "GetSystem", guid.text, 2);
    reply = tk_recv (client, 5000);
    ck_assert_int_eq (tk_rc (reply), KVP_RC_NOT_AVAILABLE);
    tk_reply_destroy (&reply);
    worker = fw_new (s_cluster, "w0", "tok0");
    uint32_t claim [] = { 4 };
    count = fw_register (worker, 8, claim, 1, parts, 8);
    ck_assert_uint_eq (count, 1);
    ck_assert_uint_eq (parts [0], 4);
    ck_assert (s_wait_alive (client, "w0", true, 5000));
    //  A second broker on the same ports cannot bind: exit 1.
    snprintf (data, sizeof data, "%s/other", s_cluster->dir);
    ck_assert_int_eq (tk_run (out, sizeof out, "kvp-broker", "--data", data,
                              "--clients", s_cluster->clients, NULL), 1);
    fw_destroy (&worker);
    zsock_destroy (&client);
    s_broker_teardown ();
}
END_TEST

//  Events go PUB -> events-in -> events -> SUB, subscriptions the other
//  way (the PUB filters, so a topic nobody wants never arrives).
START_TEST (test_socket_events)
{
    s_broker_setup (S_FAST);
    char endpoint [80];
    snprintf (endpoint, sizeof endpoint, ">%s", s_cluster->events_in);
    zsock_t *pub = zsock_new_pub (endpoint);
    zsock_t *sub = zsock_new_sub (s_cluster->events, "job/");
    ck_assert (pub && sub);
    zsock_set_linger (pub, 0);
    zsock_set_linger (sub, 0);
    zpoller_t *poller = zpoller_new (sub, NULL);
    int64_t until = zclock_mono () + 10000;
    char *topic = NULL, *body = NULL;
    //  Publish until the subscription has made it through the proxy.
    while (!topic && zclock_mono () < until) {
        zstr_sendx (pub, "other/x", "no", NULL);
        zstr_sendx (pub, "job/abc", "yes", NULL);
        if (zpoller_wait (poller, 50))
            zstr_recvx (sub, &topic, &body, NULL);
    }
    ck_assert_ptr_nonnull (topic);
    ck_assert_str_eq (topic, "job/abc");
    ck_assert_str_eq (body, "yes");
    zstr_free (&topic);
    zstr_free (&body);
    zpoller_destroy (&poller);
    zsock_destroy (&pub);
    zsock_destroy (&sub);
    s_broker_teardown ();
}
END_TEST

//  SIGTERM with requests in flight: the answered one is delivered, the
//  other gets 32772 at its deadline, then the broker exits 0.
START_TEST (test_socket_drain)
{
    s_broker_setup (S_FAST);
    zsock_t *client = tk_dealer (s_cluster->clients);
    fw_t *worker = fw_new (s_cluster, "w0", "tok0");
    uint32_t parts [8];
    fw_register (worker, 0, NULL, 0, parts, 8);
    kvp_guid_t guid;
    s_guid_in (&guid, 0, 8);
    s_send_target (client, "GetSystem", guid.text, 1);
    s_send_target (client, "GetSystem", guid.text, 2);
    zmsg_t *assign = fw_expect (worker, KVP_W_ASSIGN, true);
    zmsg_destroy (&assign);
    fw_request_t first = fw_take_request (worker, true);
    fw_request_t second = fw_take_request (worker, true);
    ck_assert_int_eq (kill (s_cluster->broker, SIGTERM), 0);
    fw_answer (worker, &first, 0);
    tk_reply_t *reply = s_wait_reply (client, worker, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 1);
    tk_reply_destroy (&reply);
    reply = s_wait_reply (client, worker, 5000);
    ck_assert_int_eq (tk_rc (reply), KVP_RC_TIMEOUT);
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 2);
    tk_reply_destroy (&reply);
    zmsg_destroy (&second.msg);
    int status = tk_stop (s_cluster->broker, SIGTERM, 10000);
    s_cluster->broker = 0;
    ck_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    fw_destroy (&worker);
    zsock_destroy (&client);
    s_broker_teardown ();
}
END_TEST

//  Bodies the light scan routes without the full decode: a fault in them
//  reaches the owner; but before the broker answers by itself (no live
//  worker, owner down) or assigns a partition, it decodes, so the client
//  gets the body's fault code first, as the spec orders them.
START_TEST (test_socket_light)
{
    s_broker_setup (S_FAST);
    zsock_t *client = tk_dealer (s_cluster->clients);
    kvp_guid_t guid;
    s_guid_in (&guid, 2, 8);
    //  No worker at all: the body's fault, not 32777.
    s_send_bad_items (client, guid.text, 1);
    s_expect_rc (client, NULL, 1, KVP_RC_INCORRECT_TYPE);
    tk_body_t body;
    tk_body_begin (&body, "DefineSystem", 3);
    tk_pack_kv_str (&body.pk, "id", guid.text);
    tk_pack_kv_uint (&body.pk, "name", 7);
    tk_pack_kv_uint (&body.pk, "rid", 2);
    tk_send (client, &body);
    tk_body_end (&body);
    s_expect_rc (client, NULL, 2, KVP_RC_INCORRECT_TYPE);
    tk_body_begin (&body, "RemoveKvpItems", 2);
    tk_pack_kv_str (&body.pk, "target", guid.text);
    tk_pack_kv_uint (&body.pk, "rid", 3);
    tk_send (client, &body);
    tk_body_end (&body);
    ck_assert_str_eq (s_expect_rc (client, NULL, 3, KVP_RC_INVALID_PARAM),
                      "missing field items");
    s_send_target (client, "GetSystem", guid.text, 4);
    ck_assert_str_eq (s_expect_rc (client, NULL, 4, KVP_RC_NOT_AVAILABLE),
                      "no live worker");
    //  A GetJob past N with a rid of the wrong type: 32776 first.
    char job [KVP_JOBID_MAX + 1];
    kvp_jobid_format (job, 9, 1, 1);
    tk_body_begin (&body, "GetJob", 2);
    tk_pack_kv_str (&body.pk, "job", job);
    tk_pack_str (&body.pk, "rid");
    msgpack_pack_array (&body.pk, 0);
    tk_reply_t *reply = tk_call (client, &body, 5000);
    ck_assert_int_eq (tk_rc (reply), KVP_RC_INCORRECT_TYPE);
    tk_reply_destroy (&reply);

    //  A live worker: a malformed body assigns no partition.
    fw_t *worker = fw_new (s_cluster, "w0", "tok0");
    uint32_t parts [8];
    fw_register (worker, 0, NULL, 0, parts, 8);
    ck_assert (s_wait_alive (client, "w0", true, 5000));
    s_send_bad_items (client, guid.text, 10);
    s_expect_rc (client, worker, 10, KVP_RC_INCORRECT_TYPE);
    reply = s_status (client);
    ck_assert_uint_eq (tk_get (reply->map, "unowned")->via.array.size, 8);
    tk_reply_destroy (&reply);
    //  A good one does; after that, the malformed body goes to the owner
    //  as sent, and the owner's answer comes back.
    s_send_target (client, "GetSystem", guid.text, 11);
    zmsg_t *assign = fw_expect (worker, KVP_W_ASSIGN, true);
    zmsg_destroy (&assign);
    fw_request_t req = fw_take_request (worker, true);
    fw_answer (worker, &req, 0);
    s_expect_rc (client, worker, 11, 0);
    s_send_bad_items (client, guid.text, 12);
    req = fw_take_request (worker, true);
    ck_assert_uint_eq (req.part, 2);
    ck_assert_str_eq (req.guid, guid.text);
    zframe_t *sent = zmsg_last (req.msg);
    ck_assert_int_eq (kvp_request_decode (worker->request, zframe_data (sent),
                                          zframe_size (sent)),
                      KVP_RC_INCORRECT_TYPE);
    fw_answer (worker, &req, KVP_RC_INCORRECT_TYPE);
    s_expect_rc (client, worker, 12, KVP_RC_INCORRECT_TYPE);

    //  The owner down: the body's fault first, then 32777 for a good one.
    zstr_send (worker->sock, KVP_W_BYE);
    ck_assert (s_wait_alive (client, "w0", false, 5000));
    s_send_bad_items (client, guid.text, 13);
    s_expect_rc (client, NULL, 13, KVP_RC_INCORRECT_TYPE);
    s_send_target (client, "GetSystem", guid.text, 14);
    ck_assert_str_eq (s_expect_rc (client, NULL, 14, KVP_RC_NOT_AVAILABLE),
                      "partition 2: worker w0 is down");
    fw_destroy (&worker);
    zsock_destroy (&client);
    s_broker_teardown ();
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
    tcase_add_test (tc, test_owners_check);
    suite_add_tcase (suite, tc);

    tc = tcase_create ("session");
    tcase_add_test (tc, test_session_transitions);
    suite_add_tcase (suite, tc);

    tc = tcase_create ("bconfig");
    tcase_add_test (tc, test_bconfig);
    suite_add_tcase (suite, tc);

    tc = tcase_create ("socket");
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_socket_envelopes);
    tcase_add_test (tc, test_socket_routing);
    tcase_add_test (tc, test_socket_worker_down);
    tcase_add_test (tc, test_socket_deadline);
    tcase_add_test (tc, test_socket_queue_limit);
    tcase_add_test (tc, test_socket_refusals);
    tcase_add_test (tc, test_socket_restart);
    tcase_add_test (tc, test_socket_events);
    tcase_add_test (tc, test_socket_drain);
    tcase_add_test (tc, test_socket_light);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    SRunner *runner = srunner_create (s_suite ());
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed ? 1 : 0;
}
