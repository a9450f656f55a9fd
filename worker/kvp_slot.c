/*  kvp_slot.c - one request's buffers in a group commit.
*/
#include "kvp_slot.h"

//  A buffer that grew past this (a large GetKvpItems reply) is freed when
//  its slot is released, so a burst of big replies does not pin the heap.
#define S_BUFFER_KEEP   (1024 * 1024)

bool
kvp_slot_init (kvp_slot_t *self)
{
    memset (self, 0, sizeof *self);
    msgpack_sbuffer_init (&self->reply);
    msgpack_sbuffer_init (&self->event);
    self->request = kvp_request_new ();
    return self->request != NULL;
}

void
kvp_slot_fini (kvp_slot_t *self)
{
    zmsg_destroy (&self->msg);
    kvp_request_destroy (&self->request);
    msgpack_sbuffer_destroy (&self->reply);
    msgpack_sbuffer_destroy (&self->event);
    msgpack_sbuffer_init (&self->reply);     //  so a second fini is safe
    msgpack_sbuffer_init (&self->event);
    self->state = KVP_SLOT_FREE;
}

void
kvp_slot_clear_results (kvp_slot_t *self)
{
    msgpack_sbuffer_clear (&self->reply);
    msgpack_sbuffer_clear (&self->event);
    self->seq = 0;
    self->topic_len = 0;
    self->topic [0] = 0;
    self->jobid [0] = 0;
}

//  Give an oversized buffer's memory back.
static void
s_shrink (msgpack_sbuffer *buf)
{
    if (buf->alloc > S_BUFFER_KEEP) {
        msgpack_sbuffer_destroy (buf);
        msgpack_sbuffer_init (buf);
    }
}

void
kvp_slot_release (kvp_slot_t *self)
{
    zmsg_destroy (&self->msg);
    kvp_slot_clear_results (self);
    s_shrink (&self->reply);
    s_shrink (&self->event);
    self->no_jobs = false;
    self->state = KVP_SLOT_FREE;
}

void
kvp_slot_reject (kvp_slot_t *self, unsigned rc, const char *error)
{
    kvp_slot_clear_results (self);
    kvp_reply_status (&self->reply, kvp_request_rid (self->request), rc,
                      error);
    self->state = KVP_SLOT_ANSWERED;
}
