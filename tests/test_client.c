/*  test_client.c - the client library (kvp_client, kvp_reply, kvp_sub)
    against a fake broker: a ROUTER in the same test (or in a zactor when
    the client call blocks) on tcp://127.0.0.1.
*/
#include <check.h>
#include "kvp_testkit.h"
#include <czmq.h>
#include "kvp_client.h"
#include "kvp_obj.h"
#include "kvp_pager.h"

/* --- the fake broker -------------------------------------------------------- */

typedef struct {
    zframe_t *identity;         /* the client's routing id */
    zframe_t *body;             /* the request body */
    uint64_t rid;               /* its uint rid, 0 if none */
} s_request_t;

/*  A ROUTER on an ephemeral 127.0.0.1 port; its endpoint into `endpoint`. */
static zsock_t *
s_fake_new (char *endpoint, size_t size)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    ck_assert_ptr_nonnull (router);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    ck_assert_int_gt (port, 0);
    snprintf (endpoint, size, "tcp://127.0.0.1:%d", port);
    return router;
}

/*  Receive one request (at most 5 s); checks its framing. */
static s_request_t
s_fake_recv (zsock_t *router)
{
    zsock_set_rcvtimeo (router, 5000);
    zmsg_t *msg = zmsg_recv (router);
    ck_assert_ptr_nonnull (msg);
    ck_assert_int_eq (zmsg_size (msg), 4);
    s_request_t request = { zmsg_pop (msg), NULL, 0 };
    zframe_t *empty = zmsg_pop (msg), *signature = zmsg_pop (msg);
    ck_assert_int_eq (zframe_size (empty), 0);
    ck_assert (zframe_streq (signature, "KVP1"));
    request.body = zmsg_pop (msg);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    if (msgpack_unpack_next (&unpacked, (const char *) zframe_data (request.body),
                             zframe_size (request.body), &offset)
        == MSGPACK_UNPACK_SUCCESS)
        kvp_obj_get_uint (&unpacked.data, "rid", &request.rid);
    msgpack_unpacked_destroy (&unpacked);
    zframe_destroy (&empty);
    zframe_destroy (&signature);
    zmsg_destroy (&msg);
    return request;
}

static void
s_request_free (s_request_t *request)
{
    zframe_destroy (&request->identity);
    zframe_destroy (&request->body);
}

/*  Send `count` raw frames to the client behind `identity`. */
static void
s_fake_send_frames (zsock_t *router, zframe_t *identity, int count,
                    const void **data, const size_t *sizes)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *) { zframe_dup (identity) });
    for (int i = 0; i < count; i++)
        zmsg_addmem (msg, data [i], sizes [i]);
    ck_assert_int_eq (zmsg_send (&msg, router), 0);
}

/*  Send [empty][KVP1][body] to the client behind `identity`. */
static void
s_fake_send_body (zsock_t *router, zframe_t *identity, const void *body,
                  size_t len)
{
    const void *data [3] = { "", "KVP1", body };
    size_t sizes [3] = { 0, 4, len };
    s_fake_send_frames (router, identity, 3, data, sizes);
}

/*  A reply {rid, rc[, job {JobState 7}]}. */
static void
s_fake_reply (zsock_t *router, zframe_t *identity, uint64_t rid, unsigned rc)
{
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, rc == 4096 ? 3 : 2);
    msgpack_pack_str_with_body (&pk, "rid", 3);
    msgpack_pack_uint64 (&pk, rid);
    msgpack_pack_str_with_body (&pk, "rc", 2);
    msgpack_pack_unsigned_int (&pk, rc);
    if (rc == 4096) {
        msgpack_pack_str_with_body (&pk, "job", 3);
        msgpack_pack_map (&pk, 1);
        msgpack_pack_str_with_body (&pk, "JobState", 8);
        msgpack_pack_unsigned_int (&pk, 7);
    }
    s_fake_send_body (router, identity, buf.data, buf.size);
    msgpack_sbuffer_destroy (&buf);
}

/*  Begin a request and send it; its rid. */
static uint64_t
s_send_ping (kvp_client_t *client)
{
    uint64_t rid = 0;
    kvp_client_begin (client, "Ping", 0);
    ck_assert_int_eq (kvp_client_send (client, &rid), 0);
    ck_assert_uint_gt (rid, 0);
    return rid;
}

/* --- rid matching ------------------------------------------------------------ */

START_TEST (test_out_of_order)
{
    char endpoint [64];
    zsock_t *router = s_fake_new (endpoint, sizeof endpoint);
    kvp_client_t *client = kvp_client_new (endpoint);
    ck_assert_ptr_nonnull (client);
    uint64_t rids [3];
    for (int i = 0; i < 3; i++)
        rids [i] = s_send_ping (client);
    ck_assert (rids [0] != rids [1] && rids [1] != rids [2]);

    s_request_t requests [3];
    for (int i = 0; i < 3; i++) {
        requests [i] = s_fake_recv (router);
        ck_assert_uint_eq (requests [i].rid, rids [i]);
    }
    //  Answer 3, 1, 2 with rc 100 + index so replies are told apart.
    int order [3] = { 2, 0, 1 };
    for (int i = 0; i < 3; i++)
        s_fake_reply (router, requests [order [i]].identity,
                      rids [order [i]], 100 + order [i]);

    //  wait(2nd) skips the 3rd and 1st, keeping them in arrival order.
    kvp_reply_t *reply = kvp_client_wait (client, rids [1], 5000);
    ck_assert_ptr_nonnull (reply);
    ck_assert_uint_eq (kvp_reply_rid (reply), rids [1]);
    ck_assert_int_eq (kvp_reply_rc (reply), 101);
    kvp_reply_destroy (&reply);
    ck_assert_ptr_null (reply);

    reply = kvp_client_recv (client, 0);
    ck_assert_ptr_nonnull (reply);
    ck_assert_uint_eq (kvp_reply_rid (reply), rids [2]);
    ck_assert_int_eq (kvp_reply_rc (reply), 102);
    kvp_reply_destroy (&reply);

    //  wait() finds a kept reply without touching the socket.
    reply = kvp_client_wait (client, rids [0], 0);
    ck_assert_ptr_nonnull (reply);
    ck_assert_int_eq (kvp_reply_rc (reply), 100);
    kvp_reply_destroy (&reply);
    kvp_reply_destroy (&reply);         //  safe twice

    ck_assert_ptr_null (kvp_client_recv (client, 0));
    for (int i = 0; i < 3; i++)
        s_request_free (&requests [i]);
    kvp_client_destroy (&client);
    kvp_client_destroy (&client);
    ck_assert_ptr_null (client);
    zsock_destroy (&router);
}
END_TEST

START_TEST (test_recv_timeout)
{
    char endpoint [64];
    zsock_t *router = s_fake_new (endpoint, sizeof endpoint);
    kvp_client_t *client = kvp_client_new (endpoint);
    uint64_t rid = s_send_ping (client);
    s_request_t request = s_fake_recv (router);

    int64_t start = zclock_mono ();
    ck_assert_ptr_null (kvp_client_recv (client, 150));
    int64_t elapsed = zclock_mono () - start;
    ck_assert_int_ge (elapsed, 140);
    ck_assert_int_lt (elapsed, 3000);
    ck_assert_ptr_null (kvp_client_wait (client, rid, 50));
    ck_assert_ptr_null (kvp_client_recv (client, 0));

    //  The reply still arrives afterwards.
    s_fake_reply (router, request.identity, rid, 0);
    kvp_reply_t *reply = kvp_client_wait (client, rid, 5000);
    ck_assert_ptr_nonnull (reply);
    ck_assert_int_eq (kvp_reply_rc (reply), 0);
    kvp_reply_destroy (&reply);
    s_request_free (&request);
    kvp_client_destroy (&client);
    zsock_destroy (&router);
}
END_TEST

START_TEST (test_body_shape)
{
    char endpoint [64];
    zsock_t *router = s_fake_new (endpoint, sizeof endpoint);
    kvp_client_t *client = kvp_client_new (endpoint);
    msgpack_packer *pk = kvp_client_begin (client, "GetSystem", 1);
    msgpack_pack_str_with_body (pk, "target", 6);
    msgpack_pack_str_with_body (pk, "abc", 3);
    uint64_t rid;
    ck_assert_int_eq (kvp_client_send (client, &rid), 0);
    s_request_t request = s_fake_recv (router);

    //  The body is {op, rid, target} and nothing else.
    kvp_reply_t *body = kvp_reply_new (zframe_data (request.body),
                                       zframe_size (request.body));
    ck_assert_ptr_nonnull (body);
    ck_assert_uint_eq (kvp_reply_map (body)->via.map.size, 3);
    size_t len;
    const char *op = kvp_obj_str (kvp_reply_get (body, "op"), &len);
    ck_assert_ptr_nonnull (op);
    ck_assert_int_eq (len, 9);
    ck_assert (memcmp (op, "GetSystem", 9) == 0);
    ck_assert_uint_eq (kvp_reply_rid (body), rid);
    ck_assert_ptr_nonnull (kvp_reply_get (body, "target"));
    ck_assert_ptr_null (kvp_reply_get (body, "nothere"));
    ck_assert_int_eq (kvp_reply_rc (body), -1);     //  no rc in a request
    ck_assert_str_eq (kvp_reply_error (body), "");
    const void *raw = kvp_reply_body (body, &len);
    ck_assert_int_eq (len, zframe_size (request.body));
    ck_assert (memcmp (raw, zframe_data (request.body), len) == 0);
    kvp_reply_destroy (&body);

    //  send_raw puts arbitrary bytes in the body frame.
    ck_assert_int_eq (kvp_client_send_raw (client, "\xc1\xff", 2), 0);
    s_request_free (&request);
    request = s_fake_recv (router);
    ck_assert_int_eq (zframe_size (request.body), 2);
    ck_assert (memcmp (zframe_data (request.body), "\xc1\xff", 2) == 0);
    s_request_free (&request);
    kvp_client_destroy (&client);
    zsock_destroy (&router);
}
END_TEST

/* --- hostile replies ------------------------------------------------------- */

/*  Bodies that are not a usable reply map. */
static const struct {
    const char *bytes;
    size_t len;
} s_bad_bodies [] = {
    { "", 0 },                                  //  empty
    { "\xc1", 1 },                              //  reserved byte
    { "\x93\x01\x02", 3 },                      //  array of 3 with 2
    { "\xdd\xff\xff\xff\xff", 5 },              //  array32 of 4 G, no bytes
    { "\xdf\x7f\xff\xff\xff\x00", 6 },          //  map32 of 2 G pairs
    { "\xdb\xff\xff\xff\xf0" "abc", 8 },        //  str32 longer than body
    { "\x81\xa2rc", 4 },                        //  map missing its value
    { "\x2a", 1 },                              //  an int, not a map
    { "\x80\x80", 2 },                          //  two objects
    { "\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91"
      "\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91"
      "\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x90", 48 },
};
#define BAD_BODIES (sizeof s_bad_bodies / sizeof s_bad_bodies [0])

START_TEST (test_malformed_replies)
{
    char endpoint [64];
    zsock_t *router = s_fake_new (endpoint, sizeof endpoint);
    kvp_client_t *client = kvp_client_new (endpoint);
    uint64_t rid = s_send_ping (client);
    s_request_t request = s_fake_recv (router);

    for (size_t i = 0; i < BAD_BODIES; i++)
        s_fake_send_body (router, request.identity, s_bad_bodies [i].bytes,
                          s_bad_bodies [i].len);
    //  Bad framing: one frame; no delimiter; wrong signature; 4 frames.
    const void *data [4] = { "KVP1", "\x80", "", "x" };
    size_t sizes [4] = { 4, 1, 0, 1 };
    s_fake_send_frames (router, request.identity, 1, data, sizes);
    s_fake_send_frames (router, request.identity, 2, data, sizes);
    const void *wrong [3] = { "", "KVP2", "\x80" };
    size_t frame_sizes [4] = { 0, 4, 1, 1 };
    s_fake_send_frames (router, request.identity, 3, wrong, frame_sizes);
    const void *four [4] = { "", "KVP1", "\x80", "\x80" };
    s_fake_send_frames (router, request.identity, 4, four, frame_sizes);
    size_t bad_framing = 4;

    //  A map with fields of the wrong types is a reply, but reads as
    //  "absent" (rid 0, rc -1, error ""): {rid: "x", rc: "0", error: 5}.
    const char odd [] = "\x83\xa3rid\xa1x\xa2rc\xa1" "0\xa5" "error\x05";
    s_fake_send_body (router, request.identity, odd, sizeof odd - 1);
    s_fake_reply (router, request.identity, rid, 32773);

    kvp_reply_t *reply = kvp_client_recv (client, 5000);
    ck_assert_ptr_nonnull (reply);
    ck_assert_uint_eq (kvp_reply_rid (reply), 0);
    ck_assert_int_eq (kvp_reply_rc (reply), -1);
    ck_assert_str_eq (kvp_reply_error (reply), "");
    kvp_reply_destroy (&reply);

    reply = kvp_client_wait (client, rid, 5000);
    ck_assert_ptr_nonnull (reply);
    ck_assert_int_eq (kvp_reply_rc (reply), 32773);
    kvp_reply_destroy (&reply);
    ck_assert_uint_eq (kvp_client_dropped (client), BAD_BODIES + bad_framing);

    s_request_free (&request);
    kvp_client_destroy (&client);
    zsock_destroy (&router);
}
END_TEST

START_TEST (test_reply_new)
{
    for (size_t i = 0; i < BAD_BODIES; i++)
        ck_assert_ptr_null (kvp_reply_new (s_bad_bodies [i].bytes,
                                           s_bad_bodies [i].len));
    //  {rc: 32773, error: "bad\0x", rid: 7}: the error is cut at the NUL.
    const char good [] = "\x83\xa2rc\xcd\x80\x05\xa5" "error\xa5" "bad\0x"
                         "\xa3rid\x07";
    kvp_reply_t *reply = kvp_reply_new (good, sizeof good - 1);
    ck_assert_ptr_nonnull (reply);
    ck_assert_int_eq (kvp_reply_rc (reply), 32773);
    ck_assert_uint_eq (kvp_reply_rid (reply), 7);
    ck_assert_str_eq (kvp_reply_error (reply), "bad");
    kvp_reply_destroy (&reply);
    //  An rc too large for an int reads as malformed.
    const char huge [] = "\x81\xa2rc\xcf\x00\x00\x00\x01\x00\x00\x00\x00";
    reply = kvp_reply_new (huge, sizeof huge - 1);
    ck_assert_ptr_nonnull (reply);
    ck_assert_int_eq (kvp_reply_rc (reply), -1);
    kvp_reply_destroy (&reply);
}
END_TEST

/* --- retry --------------------------------------------------------------------- */

/*  The fake broker of the retry tests, as an actor: answers the requests it
    gets with the rcs of its script in turn (0 in the script: no answer),
    then reports over the pipe how many requests came and whether all
    bodies were identical. */
typedef struct {
    unsigned script [8];        /* rc per request; 0 = stay silent */
    int steps;                  /* entries in script */
} s_script_t;

static void
s_fake_actor (zsock_t *pipe, void *args)
{
    s_script_t *script = (s_script_t *) args;
    char endpoint [64];
    zsock_t *router = s_fake_new (endpoint, sizeof endpoint);
    zsock_signal (pipe, 0);
    zstr_send (pipe, endpoint);
    zframe_t *first = NULL;
    int count = 0, same = 1;
    for (int step = 0; step < script->steps; step++) {
        s_request_t request = s_fake_recv (router);
        count++;
        if (!first)
            first = zframe_dup (request.body);
        else
            same &= zframe_eq (first, request.body);
        if (script->script [step])
            s_fake_reply (router, request.identity, request.rid,
                          script->script [step]);
        s_request_free (&request);
    }
    //  Wait for the test to ask, then report and end.
    char *ask = zstr_recv (pipe);
    zstr_sendf (pipe, "%d %d", count, same);
    zstr_free (&ask);
    free (zstr_recv (pipe));            //  $TERM
    zframe_destroy (&first);
    zsock_destroy (&router);
}

/*  Start the actor with `script`, run call_retry against it; return the
    reply and fill *count / *same from the actor's report. */
static kvp_reply_t *
s_run_retry (s_script_t *script, int timeout_ms, int retries, int *count,
             int *same)
{
    zactor_t *fake = zactor_new (s_fake_actor, script);
    char *endpoint = zstr_recv (fake);
    kvp_client_t *client = kvp_client_new (endpoint);
    msgpack_packer *pk = kvp_client_begin (client, "AddKvpItems", 1);
    msgpack_pack_str_with_body (pk, "key", 3);
    msgpack_pack_str_with_body (pk, "k-1", 3);
    kvp_reply_t *reply = kvp_client_call_retry (client, timeout_ms, retries,
                                                10);
    zstr_send (fake, "report");
    char *report = zstr_recv (fake);
    ck_assert_int_eq (sscanf (report, "%d %d", count, same), 2);
    zstr_free (&report);
    zstr_free (&endpoint);
    kvp_client_destroy (&client);
    zactor_destroy (&fake);
    return reply;
}

/*  call_retry against scripted answers: what it returns and how often it
    sent (always the same body). */
static const struct {
    const char *what;
    s_script_t script;
    int timeout_ms, retries;
    unsigned rc;                /* the rc call_retry returns */
    int count;                  /* requests the fake broker got */
} s_retries [] = {
    { "32771 (status unknown) is resent, with the same body",
      { { 32771, 32771, 4096 }, 3 }, 5000, 5, 4096, 3 },
    { "two tries in all: the final 32772 is returned",
      { { 32771, 32772 }, 2 }, 5000, 1, 32772, 2 },
    { "no answer to the first try: resent after the timeout",
      { { 0, 4096 }, 2 }, 200, 3, 4096, 2 },
    { "a definite answer (32773) is final: no resend",
      { { 32773 }, 1 }, 5000, 3, 32773, 1 },
};

START_TEST (test_retry)
{
    s_script_t script = s_retries [_i].script;
    int count, same;
    kvp_reply_t *reply = s_run_retry (&script, s_retries [_i].timeout_ms,
                                      s_retries [_i].retries, &count, &same);
    ck_assert_msg (reply, "%s: no reply", s_retries [_i].what);
    ck_assert_int_eq (kvp_reply_rc (reply), s_retries [_i].rc);
    ck_assert_int_eq (count, s_retries [_i].count);
    ck_assert_int_eq (same, 1);
    if (s_retries [_i].rc == 4096) {
        uint64_t state;
        ck_assert (kvp_obj_get_uint (kvp_reply_get (reply, "job"),
                                     "JobState", &state));
        ck_assert_uint_eq (state, 7);
    }
    kvp_reply_destroy (&reply);
}
END_TEST

START_TEST (test_call_late_reply_dropped)
{
    char endpoint [64];
    zsock_t *router = s_fake_new (endpoint, sizeof endpoint);
    kvp_client_t *client = kvp_client_new (endpoint);
    kvp_client_begin (client, "Ping", 0);
    ck_assert_ptr_null (kvp_client_call (client, 100));
    s_request_t request = s_fake_recv (router);
    //  The late answer to the abandoned call, then a fresh one.
    s_fake_reply (router, request.identity, request.rid, 0);
    uint64_t rid = s_send_ping (client);
    s_request_t second = s_fake_recv (router);
    s_fake_reply (router, second.identity, rid, 0);
    kvp_reply_t *reply = kvp_client_recv (client, 5000);
    ck_assert_ptr_nonnull (reply);
    ck_assert_uint_eq (kvp_reply_rid (reply), rid);
    kvp_reply_destroy (&reply);
    s_request_free (&request);
    s_request_free (&second);
    kvp_client_destroy (&client);
    zsock_destroy (&router);
}
END_TEST

/* --- pager --------------------------------------------------------------------- */

/*  How the fake broker of the pager tests answers GetKvpItems. */
typedef enum {
    S_SERVE,                    /* pages of s_items, by limit and after */
    S_EMPTY_MORE,               /* {more: true, items: []} for ever */
    S_REPEAT,                   /* the first page again and again */
    S_REFUSE,                   /* 32773 "unknown system" */
    S_SILENT,                   /* no answer */
    S_NO_MORE                   /* every item, no `more` (no paging) */
} s_mode_t;

static const struct {
    unsigned source;
    const char *name;
} s_items [] = {
    { 0, "a" }, { 0, "ab" }, { 0, "b" }, { 0, "c\xc3\xa9" }, { 0, "d" },
    { 4, "a" }, { 4, "z" }
};
#define S_ITEMS (sizeof s_items / sizeof s_items [0])

/*  Is item i after (source, name) and of the filter (< 0: any)? */
static bool
s_wanted (size_t i, int64_t filter, uint64_t source, const char *name,
          size_t len)
{
    if (filter >= 0 && s_items [i].source != (uint64_t) filter)
        return false;
    if (!name || s_items [i].source != source)
        return !name || s_items [i].source > source;
    size_t mine = strlen (s_items [i].name), common = mine < len? mine: len;
    int cmp = memcmp (s_items [i].name, name, common);
    return cmp > 0 || (cmp == 0 && mine > len);
}

/*  A page answering `request` in `mode`. */
static void
s_fake_page (zsock_t *router, s_request_t *request, s_mode_t mode)
{
    msgpack_unpacked req;
    msgpack_unpacked_init (&req);
    ck_assert_int_eq (msgpack_unpack_next (&req, (const char *) zframe_data
                      (request->body), zframe_size (request->body), NULL),
                      MSGPACK_UNPACK_SUCCESS);
    uint64_t limit = 0, source = 0, filter = 0;
    ck_assert (kvp_obj_get_uint (&req.data, "limit", &limit));
    bool filtered = kvp_obj_get_uint (&req.data, "Source", &filter);
    const msgpack_object *after = kvp_obj_get (&req.data, "after");
    size_t len = 0;
    const char *name = kvp_obj_get_str (after, "Name", &len);
    if (name)
        ck_assert (kvp_obj_get_uint (after, "Source", &source));
    size_t page [S_ITEMS], count = 0, left = 0;
    for (size_t i = 0; i < S_ITEMS; i++)
        if ((mode != S_SERVE && !filtered)
        ||  s_wanted (i, filtered? (int64_t) filter: -1, source, name, len)) {
            if (count < limit || mode == S_NO_MORE)
                page [count++] = i;
            else
                left++;
        }
    if (mode == S_EMPTY_MORE)
        count = 0;
    if (mode == S_REPEAT)
        count = 1;
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, mode == S_NO_MORE? 3: 4);
    tk_pack_kv_uint (&pk, "rid", request->rid);
    tk_pack_kv_uint (&pk, "rc", 0);
    if (mode != S_NO_MORE) {
        tk_pack_str (&pk, "more");
        if (left || mode == S_EMPTY_MORE || mode == S_REPEAT)
            msgpack_pack_true (&pk);
        else
            msgpack_pack_false (&pk);
    }
    tk_pack_str (&pk, "items");
    msgpack_pack_array (&pk, count);
    for (size_t i = 0; i < count; i++)
        tk_pack_item (&pk, s_items [page [i]].source, s_items [page [i]].name,
                      "data");
    s_fake_send_body (router, request->identity, buf.data, buf.size);
    msgpack_sbuffer_destroy (&buf);
    msgpack_unpacked_destroy (&req);
}

/*  The fake broker of the pager tests, as an actor in `mode` (its args):
    answers until $TERM, then reports how many requests came. */
static void
s_pager_actor (zsock_t *pipe, void *args)
{
    s_mode_t mode = *(s_mode_t *) args;
    char endpoint [64];
    zsock_t *router = s_fake_new (endpoint, sizeof endpoint);
    zsock_signal (pipe, 0);
    zstr_send (pipe, endpoint);
    zpoller_t *poller = zpoller_new (pipe, router, NULL);
    int count = 0;
    while (zpoller_wait (poller, 10000) == router) {
        s_request_t request = s_fake_recv (router);
        count++;
        if (mode == S_REFUSE)
            s_fake_reply (router, request.identity, request.rid, 32773);
        else
        if (mode != S_SILENT)
            s_fake_page (router, &request, mode);
        s_request_free (&request);
    }
    char *ask = zstr_recv (pipe);
    zstr_sendf (pipe, "%d", count);
    zstr_free (&ask);
    free (zstr_recv (pipe));            //  $TERM
    zpoller_destroy (&poller);
    zsock_destroy (&router);
}

/*  Read every item with a pager (`limit`, `source`) against a fake broker
    in `mode`: the items as "S:name,..." into `out`; returns the pager's
    rc, with its pages and the requests the broker got. */
static int
s_run_pager (s_mode_t mode, int64_t source, unsigned limit, char *out,
             size_t size, size_t *pages, int *requests)
{
    zactor_t *fake = zactor_new (s_pager_actor, &mode);
    char *endpoint = zstr_recv (fake);
    kvp_client_t *client = kvp_client_new (endpoint);
    kvp_pager_t *pager = kvp_pager_new (client, "vm", source, limit);
    ck_assert_ptr_nonnull (pager);
    size_t len = 0;
    out [0] = 0;
    const msgpack_object *item;
    for (int n = 0; n < 100 && (item = kvp_pager_next (pager, 300)); n++) {
        size_t name_len;
        uint64_t at;
        const char *name = kvp_obj_get_str (item, "Name", &name_len);
        ck_assert (kvp_obj_get_uint (item, "Source", &at));
        len += (size_t) snprintf (out + len, size - len, "%s%" PRIu64 ":%.*s",
                                  len? ",": "", at, (int) name_len, name);
    }
    ck_assert_ptr_null (kvp_pager_next (pager, 300));   //  stays ended
    int rc = kvp_pager_rc (pager);
    ck_assert_int_eq (rc == 0, kvp_pager_error (pager) [0] == 0);
    *pages = kvp_pager_pages (pager);
    zstr_send (fake, "report");
    char *report = zstr_recv (fake);
    *requests = atoi (report);
    zstr_free (&report);
    zstr_free (&endpoint);
    kvp_pager_destroy (&pager);
    kvp_pager_destroy (&pager);         //  safe twice
    kvp_client_destroy (&client);
    zactor_destroy (&fake);
    return rc;
}

/*  Every item once, in order, whatever the page size; the filter sent. */
START_TEST (test_pager_pages)
{
    char out [256];
    size_t pages;
    int requests;
    const char *all = "0:a,0:ab,0:b,0:c\xc3\xa9,0:d,4:a,4:z";
    static const struct { unsigned limit; size_t pages; } sizes [] = {
        { 1, 7 }, { 2, 4 }, { 3, 3 }, { 7, 1 }, { 0, 1 }, { 20000, 1 }
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes [0]; i++) {
        ck_assert_int_eq (s_run_pager (S_SERVE, -1, sizes [i].limit, out,
                                       sizeof out, &pages, &requests), 0);
        ck_assert_str_eq (out, all);
        ck_assert_uint_eq (pages, sizes [i].pages);
        ck_assert_int_eq (requests, (int) pages);
    }
    ck_assert_int_eq (s_run_pager (S_SERVE, 4, 1, out, sizeof out, &pages,
                                   &requests), 0);
    ck_assert_str_eq (out, "4:a,4:z");
    ck_assert_uint_eq (pages, 2);
    //  A server that does not page: one reply, all of it
    ck_assert_int_eq (s_run_pager (S_NO_MORE, -1, 2, out, sizeof out, &pages,
                                   &requests), 0);
    ck_assert_str_eq (out, all);
    ck_assert_int_eq (requests, 1);
}
END_TEST

/*  A peer that refuses, stays silent or breaks the paging rules ends the
    read with a code, after a bounded number of requests. */
START_TEST (test_pager_failures)
{
    char out [256];
    size_t pages;
    int requests;
    ck_assert_int_eq (s_run_pager (S_REFUSE, -1, 2, out, sizeof out, &pages,
                                   &requests), 32773);
    ck_assert_str_eq (out, "");
    ck_assert_int_eq (requests, 1);
    ck_assert_int_eq (s_run_pager (S_SILENT, -1, 2, out, sizeof out, &pages,
                                   &requests), KVP_PAGER_NO_REPLY);
    ck_assert_int_eq (requests, 1);
    ck_assert_int_eq (s_run_pager (S_EMPTY_MORE, -1, 2, out, sizeof out,
                                   &pages, &requests), KVP_PAGER_MALFORMED);
    ck_assert_int_eq (requests, 1);
    ck_assert_int_eq (s_run_pager (S_REPEAT, -1, 2, out, sizeof out, &pages,
                                   &requests), KVP_PAGER_MALFORMED);
    ck_assert_str_eq (out, "0:a");
    ck_assert_int_eq (requests, 2);
}
END_TEST

/* --- subscriber ---------------------------------------------------------------- */

START_TEST (test_sub)
{
    zsock_t *pub = zsock_new (ZMQ_PUB);
    int port = zsock_bind (pub, "tcp://127.0.0.1:*");
    ck_assert_int_gt (port, 0);
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    kvp_sub_t *sub = kvp_sub_new (endpoint, "job/");
    ck_assert_ptr_nonnull (sub);

    //  Publish until the subscription has arrived (bounded), with a
    //  malformed message and another topic before each good event.
    const char event [] = "\x82\xa3seq\x05\xa4type\xa3" "Add";
    const char *topic = NULL;
    const msgpack_object *map = NULL;
    int rc = 0;
    for (int tries = 0; tries < 250 && rc != 1; tries++) {
        zstr_send (pub, "job/only-one-frame");
        zstr_sendm (pub, "other/x");
        zmq_send (zsock_resolve (pub), event, sizeof event - 1, 0);
        zstr_sendm (pub, "job/bad-body");
        zstr_send (pub, "not msgpack map");
        zstr_sendm (pub, "job/abc");
        zmq_send (zsock_resolve (pub), event, sizeof event - 1, 0);
        rc = kvp_sub_recv (sub, 20, &topic, &map);
    }
    ck_assert_int_eq (rc, 1);
    ck_assert_str_eq (topic, "job/abc");
    uint64_t seq;
    ck_assert (kvp_obj_get_uint (map, "seq", &seq));
    ck_assert_uint_eq (seq, 5);
    //  Now subscribed: one more round drops exactly the two malformed
    //  messages on our topic (the first round may have started before the
    //  subscription arrived) and delivers the good event.
    size_t dropped = kvp_sub_dropped (sub);
    zstr_send (pub, "job/only-one-frame");
    zstr_sendm (pub, "other/x");
    zmq_send (zsock_resolve (pub), event, sizeof event - 1, 0);
    zstr_sendm (pub, "job/bad-body");
    zstr_send (pub, "not msgpack map");
    zstr_sendm (pub, "job/abc");
    zmq_send (zsock_resolve (pub), event, sizeof event - 1, 0);
    //  Earlier rounds' good events may still be queued: read until the
    //  two drops of this round have been counted (bounded).
    for (int i = 0; i < 300 && kvp_sub_dropped (sub) < dropped + 2; i++)
        kvp_sub_recv (sub, 20, &topic, &map);
    ck_assert_uint_eq (kvp_sub_dropped (sub), dropped + 2);
    kvp_sub_destroy (&sub);
    kvp_sub_destroy (&sub);
    ck_assert_ptr_null (sub);
    zsock_destroy (&pub);
}
END_TEST

START_TEST (test_sub_timeout)
{
    kvp_sub_t *sub = kvp_sub_new ("tcp://127.0.0.1:1", "job/");
    ck_assert_ptr_nonnull (sub);
    const char *topic;
    const msgpack_object *map;
    int64_t start = zclock_mono ();
    ck_assert_int_eq (kvp_sub_recv (sub, 100, &topic, &map), 0);
    ck_assert_int_ge (zclock_mono () - start, 90);
    kvp_sub_destroy (&sub);
    ck_assert_ptr_null (kvp_sub_new ("not an endpoint", "job/"));
    ck_assert_ptr_null (kvp_client_new ("not an endpoint"));
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("client");
    TCase *tc = tcase_create ("replies");
    tcase_set_timeout (tc, 30);
    tcase_add_test (tc, test_out_of_order);
    tcase_add_test (tc, test_recv_timeout);
    tcase_add_test (tc, test_body_shape);
    tcase_add_test (tc, test_malformed_replies);
    tcase_add_test (tc, test_reply_new);
    tcase_add_test (tc, test_call_late_reply_dropped);
    suite_add_tcase (suite, tc);
    tc = tcase_create ("retry");
    tcase_set_timeout (tc, 30);
    tcase_add_loop_test (tc, test_retry, 0,
                         (int) (sizeof s_retries / sizeof s_retries [0]));
    suite_add_tcase (suite, tc);
    tc = tcase_create ("pager");
    tcase_set_timeout (tc, 30);
    tcase_add_test (tc, test_pager_pages);
    tcase_add_test (tc, test_pager_failures);
    suite_add_tcase (suite, tc);
    tc = tcase_create ("sub");
    tcase_set_timeout (tc, 30);
    tcase_add_test (tc, test_sub);
    tcase_add_test (tc, test_sub_timeout);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
