/*  test_replicate.c - a worker's side of replication (worker/kvp_replicate)
    against a scripted broker: the test binds the workers socket itself,
    starts a real kvp-worker and speaks the replication messages of
    proto/KVP1.md section 12 to it. What a follower takes and refuses
    (fencing by epoch, the position check, copies), and that a leader
    holds its replies until COMMIT and refuses new jobs while it is not
    writable.
*/
#include <check.h>
#include <signal.h>
#include <string.h>
#include "kvp_repl.h"
#include "kvp_store.h"
#include "kvp_change.h"
#include "kvp_wire.h"
#include "kvp_testkit.h"

#define S_GUID "1b4e28ba-2fa1-11d2-883f-0016d3cca427"

//  The scripted broker: a ROUTER on the cluster's workers endpoint, and
//  the worker's routing id once it registered.
typedef struct {
    tk_cluster_t *cluster;
    zsock_t *router;
    zframe_t *peer;
} s_broker_t;

//  The next message of `command` from the worker (heartbeats skipped),
//  within timeout_ms; its frames after the command. NULL if none.
static zmsg_t *
s_expect (s_broker_t *self, const char *command, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    while (zclock_mono () < until) {
        zsock_set_rcvtimeo (self->router, (int) (until - zclock_mono ()) + 1);
        zmsg_t *msg = zmsg_recv (self->router);
        if (!msg)
            return NULL;
        zframe_t *peer = zmsg_pop (msg);
        char *got = zmsg_popstr (msg);
        bool match = got && streq (got, command);
        free (got);
        if (match) {
            zframe_destroy (&self->peer);
            self->peer = peer;
            return msg;
        }
        zframe_destroy (&peer);
        zmsg_destroy (&msg);
    }
    return NULL;
}

//  Send [peer][command][frames...].
static void
s_send (s_broker_t *self, const char *command, int count,
        const void **data, const size_t *sizes)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *) { zframe_dup (self->peer) });
    zmsg_addstr (msg, command);
    for (int i = 0; i < count; i++)
        zmsg_addmem (msg, data [i], sizes [i]);
    zmsg_send (&msg, self->router);
}

//  A header-only or header + one frame message.
static void
s_send_hdr (s_broker_t *self, const char *command, const kvp_repl_t *hdr,
            size_t size, const void *more, size_t more_size, bool has_more)
{
    uint8_t bytes [KVP_REPL_HEADER_MAX];
    kvp_repl_encode (hdr, size, bytes);
    const void *data [] = { bytes, more };
    size_t sizes [] = { size, more_size };
    s_send (self, command, has_more ? 2 : 1, data, sizes);
}

static void
s_role (s_broker_t *self, uint32_t part, uint64_t epoch, const char *leader,
        bool writable)
{
    kvp_repl_t hdr = { .part = part, .epoch = epoch, .writable = writable };
    s_send_hdr (self, KVP_W_ROLE, &hdr, KVP_REPL_ROLE, leader,
                strlen (leader), true);
}

//  An ACK or RESYNC within timeout_ms: its header (false if none).
static bool
s_expect_pos (s_broker_t *self, const char *command, kvp_repl_t *hdr,
              int timeout_ms)
{
    zmsg_t *msg = s_expect (self, command, timeout_ms);
    zframe_t *head = msg ? zmsg_first (msg) : NULL;
    bool ok = head && kvp_repl_decode (hdr, KVP_REPL_POS, zframe_data (head),
                                       zframe_size (head));
    zmsg_destroy (&msg);
    return ok;
}

//  Start worker w0 against the scripted broker, answer its REGISTER with
//  a WELCOME of `nparts` partitions (none owned).
static s_broker_t *
s_broker_new (uint32_t nparts)
{
    s_broker_t *self = calloc (1, sizeof *self);
    self->cluster = tk_cluster_new (1);
    self->router = zsock_new (ZMQ_ROUTER);
    ck_assert_int_ge (zsock_bind (self->router, "%s",
                                  self->cluster->workers_ep), 0);
    ck_assert_int_gt (tk_worker_start (self->cluster, 0), 0);
    zmsg_t *reg = s_expect (self, KVP_W_REGISTER, 10000);
    ck_assert_msg (reg != NULL, "the worker did not register");
    zmsg_destroy (&reg);
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    kvp_assign_encode (&buf, NULL, 0, nparts, 1000);
    const void *data [] = { buf.data };
    size_t sizes [] = { buf.size };
    s_send (self, KVP_W_WELCOME, 1, data, sizes);
    msgpack_sbuffer_destroy (&buf);
    return self;
}

static void
s_broker_destroy (s_broker_t **self_p)
{
    s_broker_t *self = *self_p;
    zframe_destroy (&self->peer);
    zsock_destroy (&self->router);
    tk_cluster_destroy (&self->cluster);
    free (self);
    *self_p = NULL;
}

//  --- a leader's store, to make real change records ---------------------

//  Job `seq` (the next) of `part` in `store`, one commit; its changes.
static void
s_job (kvp_store_t *store, uint32_t part, uint64_t want, kvp_change_t *out)
{
    uint8_t guid [16] = { 0x1b, 0x4e };
    ck_assert_int_eq (kvp_store_begin (store), 0);
    uint32_t epoch;
    uint64_t seq;
    ck_assert_int_eq (kvp_store_log_next (store, part, &epoch, &seq), 0);
    ck_assert_uint_eq (seq, want);
    kvp_system_t sys = { .name = "vm", .name_len = 2, .exchange = true };
    kvp_store_system_put (store, part, guid, &sys, false);
    ck_assert_int_eq (kvp_store_log_put (store, part, seq, (uint64_t) zclock_time (), guid, NULL, 0,
                                         NULL, "event", 5), 0);
    ck_assert_int_eq (kvp_store_commit (store), 0);
    ck_assert_int_eq (kvp_store_changes (store, part, out), 0);
    ck_assert_uint_gt (out->size, 0);
}

static void
s_repl (s_broker_t *self, uint32_t part, uint64_t epoch, uint64_t prev,
        uint64_t seq, const kvp_change_t *changes)
{
    kvp_repl_t hdr = { .part = part, .epoch = epoch, .prev = prev,
                       .seq = seq };
    s_send_hdr (self, KVP_W_REPL, &hdr, KVP_REPL_DATA, changes->data,
                changes->size, true);
}

static int
s_first_chunk (void *arg, const void *data, size_t size)
{
    kvp_change_t *copy = (kvp_change_t *) arg;
    if (copy->size)
        return 1;               //  one piece is all this test sends
    copy->data = malloc (size ? size : 1);
    memcpy (copy->data, data, size);
    copy->size = size;
    return 0;
}

//  A follower: fenced by epoch, applies only from its position, asks for
//  a copy when it cannot continue and takes one.
START_TEST (test_follower)
{
    s_broker_t *broker = s_broker_new (4);
    char dir [256];
    ck_assert (tk_mkdtemp (dir, sizeof dir, "leader"));
    kvp_store_t *leader = kvp_store_new (dir, NULL, NULL);
    ck_assert_ptr_nonnull (leader);
    kvp_change_t one, two;
    kvp_change_init (&one);
    kvp_change_init (&two);
    s_job (leader, 1, 1, &one);

    kvp_repl_t hdr;
    s_role (broker, 1, 2, "w9", true);
    ck_assert_msg (s_expect_pos (broker, KVP_W_ACK, &hdr, 5000),
                   "no ACK of its place after the ROLE");
    ck_assert (hdr.part == 1 && hdr.epoch == 2 && hdr.seq == 0);
    //  An older epoch: fenced, no ACK
    uint64_t p1 = kvp_repl_position (1), p2 = kvp_repl_position (2);
    s_repl (broker, 1, 1, 0, p1, &one);
    ck_assert (!s_expect_pos (broker, KVP_W_ACK, &hdr, 700));
    //  Not from its position: it asks for a copy, then ignores REPLs
    s_repl (broker, 1, 2, 5, p1, &one);
    ck_assert_msg (s_expect_pos (broker, KVP_W_RESYNC, &hdr, 3000),
                   "no RESYNC for a REPL past its position");
    ck_assert (hdr.epoch == 2 && hdr.seq == 0);
    s_repl (broker, 1, 2, 0, p1, &one);
    ck_assert (!s_expect_pos (broker, KVP_W_ACK, &hdr, 700));
    //  The copy: one piece, job 1
    kvp_change_t copy = { 0 };
    ck_assert_int_eq (kvp_store_copy (leader, 1, 1 << 20, s_first_chunk,
                                      &copy), 0);
    kvp_repl_t chunk = { .part = 1, .epoch = 2, .seq = p1, .index = 0,
                         .last = true };
    s_send_hdr (broker, KVP_W_CHUNK, &chunk, KVP_REPL_CHUNK, copy.data,
                copy.size, true);
    ck_assert_msg (s_expect_pos (broker, KVP_W_ACK, &hdr, 5000),
                   "no ACK after the copy");
    ck_assert_uint_eq (hdr.seq, p1);
    //  And the stream goes on from the copy's position
    s_job (leader, 1, 2, &two);
    s_repl (broker, 1, 2, p1, p2, &two);
    ck_assert (s_expect_pos (broker, KVP_W_ACK, &hdr, 5000));
    ck_assert_uint_eq (hdr.seq, p2);
    //  A ROLE of an older epoch changes nothing (no ACK)
    s_role (broker, 1, 1, "w0", true);
    ck_assert (!s_expect_pos (broker, KVP_W_ACK, &hdr, 700));
    //  A copy it did not ask for (the broker sends one to a follower
    //  behind too long): once its first piece dropped the partition, no
    //  REPL is applied and nothing acknowledged until the last piece
    kvp_change_t three;
    kvp_change_init (&three);
    s_job (leader, 1, 3, &three);
    uint64_t p3 = kvp_repl_position (3);
    free (copy.data);
    copy = (kvp_change_t) { 0 };
    ck_assert_int_eq (kvp_store_copy (leader, 1, 1 << 20, s_first_chunk,
                                      &copy), 0);
    chunk = (kvp_repl_t) { .part = 1, .epoch = 2, .seq = p3, .index = 0,
                           .last = false };
    s_send_hdr (broker, KVP_W_CHUNK, &chunk, KVP_REPL_CHUNK, copy.data,
                copy.size, true);
    s_repl (broker, 1, 2, p2, p3, &three);
    ck_assert_msg (!s_expect_pos (broker, KVP_W_ACK, &hdr, 700),
                   "an ACK in the middle of a copy");
    chunk.index = 1;
    chunk.last = true;
    s_send_hdr (broker, KVP_W_CHUNK, &chunk, KVP_REPL_CHUNK, "", 0, true);
    ck_assert_msg (s_expect_pos (broker, KVP_W_ACK, &hdr, 5000),
                   "no ACK after the copy's last piece");
    ck_assert_uint_eq (hdr.seq, p3);
    kvp_change_fini (&three);

    //  What it holds is the leader's: two jobs, read back from its store
    ck_assert_int_eq (tk_stop (broker->cluster->workers [0], SIGTERM, 10000)
                      & 0xff, 0);
    broker->cluster->workers [0] = 0;
    char wdir [300];
    snprintf (wdir, sizeof wdir, "%s/w0", broker->cluster->dir);
    kvp_store_t *follower = kvp_store_new (wdir, NULL, NULL);
    ck_assert_ptr_nonnull (follower);
    kvp_partition_t info;
    ck_assert_int_eq (kvp_store_partition_get (follower, 1, &info), 0);
    ck_assert_uint_eq (info.seq, 3);
    const void *event;
    size_t len;
    ck_assert_int_eq (kvp_store_begin (follower), 0);
    ck_assert_int_eq (kvp_store_log_get (follower, 1, 2, &event, &len), 0);
    ck_assert (len == 5 && memcmp (event, "event", 5) == 0);
    kvp_store_abort (follower);
    kvp_store_destroy (&follower);

    free (copy.data);
    kvp_change_fini (&one);
    kvp_change_fini (&two);
    kvp_store_destroy (&leader);
    tk_rmtree (dir);
    s_broker_destroy (&broker);
}
END_TEST

//  REQUEST [tag][part][guid][DefineSystem body] to partition 0.
static void
s_request (s_broker_t *self, uint8_t tag, const char *op, bool items)
{
    tk_body_t body;
    tk_body_begin (&body, op, items ? 2 : 2);
    if (items) {
        tk_pack_kv_str (&body.pk, "target", S_GUID);
        tk_pack_str (&body.pk, "items");
        msgpack_pack_array (&body.pk, 1);
        tk_pack_item (&body.pk, 0, "a", "1");
    }
    else {
        tk_pack_kv_str (&body.pk, "name", "vm");
        tk_pack_kv_str (&body.pk, "id", S_GUID);
    }
    uint8_t tag8 [8] = { 0, 0, 0, 0, 0, 0, 0, tag }, part4 [4] = { 0 };
    const void *data [] = { tag8, part4, S_GUID, body.sbuf.data };
    size_t sizes [] = { 8, 4, 36, body.sbuf.size };
    s_send (self, KVP_W_REQUEST, 4, data, sizes);
    tk_body_end (&body);
}

//  The rc of a REPLY within timeout_ms (-1 if none); its tag's last byte.
static int64_t
s_expect_reply (s_broker_t *self, int timeout_ms, uint8_t *tag)
{
    zmsg_t *msg = s_expect (self, KVP_W_REPLY, timeout_ms);
    if (!msg)
        return -1;
    zframe_t *tag8 = zmsg_first (msg), *body = zmsg_next (msg);
    *tag = zframe_data (tag8) [7];
    msgpack_unpacked unp;
    msgpack_unpacked_init (&unp);
    int64_t rc = -1;
    if (msgpack_unpack_next (&unp, (const char *) zframe_data (body),
                             zframe_size (body), NULL)
        == MSGPACK_UNPACK_SUCCESS)
        rc = tk_get_uint (&unp.data, "rc");
    msgpack_unpacked_destroy (&unp);
    zmsg_destroy (&msg);
    return rc;
}

//  A leader: its reply waits for COMMIT; while not writable a new job is
//  refused 32777 at once.
START_TEST (test_leader)
{
    s_broker_t *broker = s_broker_new (1);
    kvp_repl_t hdr;
    s_role (broker, 0, 1, "w0", true);
    ck_assert (s_expect_pos (broker, KVP_W_ACK, &hdr, 5000));
    ck_assert (hdr.part == 0 && hdr.epoch == 1 && hdr.seq == 0);
    //  The broker's first COMMIT: nothing held yet
    s_send_hdr (broker, KVP_W_COMMIT, &hdr, KVP_REPL_POS, NULL, 0, false);
    s_request (broker, 1, "DefineSystem", false);
    zmsg_t *repl = s_expect (broker, KVP_W_REPL, 5000);
    ck_assert_msg (repl != NULL, "no REPL after the write");
    zframe_t *head = zmsg_first (repl);
    ck_assert (kvp_repl_decode (&hdr, KVP_REPL_DATA, zframe_data (head),
                                zframe_size (head)));
    //  DefineSystem makes no job: the position moves on by one write
    ck_assert (hdr.epoch == 1 && hdr.prev == 0 && hdr.seq == 1);
    zmsg_destroy (&repl);
    uint8_t tag = 0;
    ck_assert_msg (s_expect_reply (broker, 700, &tag) == -1,
                   "a reply before the in-sync set holds its job");
    kvp_repl_t commit = { .part = 0, .epoch = 1, .seq = 1 };
    s_send_hdr (broker, KVP_W_COMMIT, &commit, KVP_REPL_POS, NULL, 0, false);
    ck_assert_int_eq (s_expect_reply (broker, 5000, &tag), 0);
    ck_assert_uint_eq (tag, 1);
    //  Fewer than M in sync: a new job is refused, at once
    s_role (broker, 0, 1, "w0", false);
    s_request (broker, 2, "AddKvpItems", true);
    ck_assert_int_eq (s_expect_reply (broker, 5000, &tag), 32777);
    ck_assert_uint_eq (tag, 2);
    //  Writable again: it is taken, and waits for its COMMIT
    s_role (broker, 0, 1, "w0", true);
    s_request (broker, 3, "AddKvpItems", true);
    repl = s_expect (broker, KVP_W_REPL, 5000);
    ck_assert (repl != NULL);
    head = zmsg_first (repl);
    ck_assert (kvp_repl_decode (&hdr, KVP_REPL_DATA, zframe_data (head),
                                zframe_size (head)));
    //  Its first job: job 1's position
    ck_assert (hdr.prev == 1 && hdr.seq == kvp_repl_position (1));
    zmsg_destroy (&repl);
    ck_assert (s_expect_reply (broker, 500, &tag) == -1);
    commit.seq = hdr.seq - 1;       //  not yet
    s_send_hdr (broker, KVP_W_COMMIT, &commit, KVP_REPL_POS, NULL, 0, false);
    ck_assert (s_expect_reply (broker, 500, &tag) == -1);
    commit.seq = hdr.seq;
    s_send_hdr (broker, KVP_W_COMMIT, &commit, KVP_REPL_POS, NULL, 0, false);
    ck_assert_int_eq (s_expect_reply (broker, 5000, &tag), 4096);
    ck_assert_uint_eq (tag, 3);
    s_broker_destroy (&broker);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("replicate");
    TCase *tc = tcase_create ("replicate");
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_follower);
    tcase_add_test (tc, test_leader);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
