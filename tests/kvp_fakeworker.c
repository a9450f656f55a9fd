/*  kvp_fakeworker.c - a fake worker for tests that drive the real broker.
*/
#include "kvp_fakeworker.h"
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kvp_reply.h"

kvp_register_t
fw_reg (const char *id, const char *token, uint32_t nparts,
        uint32_t *parts, size_t count)
{
    kvp_register_t reg = { .version = KVP_WIRE_VERSION, .nparts = nparts,
                           .partitions = parts, .partition_count = count };
    snprintf (reg.id, sizeof reg.id, "%s", id);
    snprintf (reg.token, sizeof reg.token, "%s", token);
    return reg;
}

fw_t *
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

void
fw_destroy (fw_t **self_p)
{
    if (!*self_p)
        return;
    zsock_destroy (&(*self_p)->sock);
    kvp_request_destroy (&(*self_p)->request);
    free (*self_p);
    *self_p = NULL;
}

void
fw_send_register (fw_t *self, uint32_t nparts, uint32_t *parts,
                  size_t count)
{
    kvp_register_t reg = fw_reg (self->id, self->token, nparts, parts, count);
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    kvp_register_encode (&buf, &reg);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, KVP_W_REGISTER);
    zmsg_addmem (msg, buf.data, buf.size);
    zmsg_send (&msg, self->sock);
    msgpack_sbuffer_destroy (&buf);
}

void
fw_heartbeat (fw_t *self)
{
    zstr_send (self->sock, KVP_W_HEARTBEAT);
}

//  The next message other than HEARTBEAT, or NULL after timeout_ms.
//  With `beat`, we heartbeat while we wait.
zmsg_t *
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
zmsg_t *
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
size_t
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
size_t
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
void
fw_expect_refuse (fw_t *self, char *error, size_t size)
{
    zmsg_t *msg = fw_expect (self, KVP_W_REFUSE, false);
    zframe_t *map = zmsg_first (msg);
    ck_assert (kvp_refuse_decode (zframe_data (map), zframe_size (map),
                                  error, size));
    zmsg_destroy (&msg);
}

fw_request_t
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
void
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
