/*  kvp_replicate.c - the worker's part in replication (see
    kvp_replicate.h).
*/
#include "kvp_replicate.h"
#include "kvp_change.h"
#include "kvp_repl.h"
#include "kvp_log.h"
#include <msgpack.h>

#define S_PARTS         65536
#define S_CHUNK         (1u << 20)      //  bytes per piece of a copy
#define S_ASK_AGAIN_MS  1000            //  a copy asked for again after
#define S_REPL_PIECE    (2u << 20)      //  bytes per REPL, about (the
                                        //  broker takes 4 MiB + 64 KiB)
#define S_MARKER_MAX    32
#define S_UNREAD        (-1)            //  copy_mark not read from the store

//  What one partition's commits of this pass changed, to go as one REPL
typedef struct {
    uint32_t part;
    msgpack_sbuffer data;
} s_out_t;

struct _kvp_replicate_t {
    kvp_store_t *store;             //  borrowed
    char id [128];
    kvp_replicate_send_fn *send;
    kvp_roles_release_fn *release;
    kvp_replicate_tail_fn *tail;
    void *arg;
    bool marked;                    //  meta "replicated" is written
    kvp_roles_t *roles;
    zlist_t *inbox;                 //  REPL and CHUNK messages, in order
    s_out_t *out;                   //  partitions changed this pass
    size_t out_count, out_cap;
    uint32_t *out_at;               //  [S_PARTS]: index in out + 1
    uint32_t *seen;                 //  [S_PARTS]: commit generation
    uint32_t generation;
    kvp_change_t changes;           //  scratch for kvp_store_changes
    uint8_t *touched;               //  [S_PARTS]: applied this pass
    uint32_t *touched_list;
    uint64_t *prior;                //  [S_PARTS]: position before the pass
    int64_t *asked;                 //  [S_PARTS]: mono ms of the last RESYNC
    int8_t *copy_mark;              //  [S_PARTS]: meta "copy.<part>" set
                                    //  (1), not (0), not read yet
    bool folded;                    //  this pass's REPLs are in the
                                    //  requests' batch (kvp_replicate_fold)
    size_t touched_count;
};

//  --- sending -------------------------------------------------------------

static void
s_send_pos (kvp_replicate_t *self, const char *command, uint32_t part,
            uint64_t epoch, uint64_t seq)
{
    kvp_repl_t hdr = { .part = part, .epoch = epoch, .seq = seq };
    uint8_t bytes [KVP_REPL_HEADER_MAX];
    size_t size = kvp_repl_encode (&hdr, KVP_REPL_POS, bytes);
    const void *data [] = { command, bytes };
    size_t sizes [] = { strlen (command), size };
    self->send (self->arg, data, sizes, 2);
}

//  --- the copy marker -------------------------------------------------------

static void
s_marker_name (char *name, uint32_t part)
{
    snprintf (name, S_MARKER_MAX, "copy.%u", part);
}

static bool
s_marked (kvp_replicate_t *self, uint32_t part)
{
    //  Read from the store once per partition, then known here: it is
    //  asked after every pass a follower applied
    if (self->copy_mark [part] == S_UNREAD) {
        char name [S_MARKER_MAX], value [8];
        s_marker_name (name, part);
        self->copy_mark [part] = kvp_store_meta_get (self->store, name, value,
                                                     sizeof value) > 0;
    }
    return self->copy_mark [part] == 1;
}

static int
s_mark (kvp_replicate_t *self, uint32_t part, bool on)
{
    char name [S_MARKER_MAX];
    s_marker_name (name, part);
    int rc = kvp_store_meta_put (self->store, name, on ? "1" : "");
    if (rc == 0)
        self->copy_mark [part] = on;
    return rc;
}

#define S_REPLICATED "replicated"

bool
kvp_replicate_marked (kvp_store_t *store)
{
    char value [8];
    return kvp_store_meta_get (store, S_REPLICATED, value, sizeof value) > 0;
}

//  --- life ------------------------------------------------------------------

kvp_replicate_t *
kvp_replicate_new (kvp_store_t *store, const char *id,
                   kvp_replicate_send_fn *send, kvp_roles_release_fn *release,
                   kvp_replicate_tail_fn *tail, void *arg)
{
    kvp_replicate_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    snprintf (self->id, sizeof self->id, "%s", id);
    self->send = send;
    self->release = release;
    self->tail = tail;
    self->arg = arg;
    self->marked = kvp_replicate_marked (store);
    self->roles = kvp_roles_new ();
    self->inbox = zlist_new ();
    self->out_at = calloc (S_PARTS, sizeof *self->out_at);
    self->seen = calloc (S_PARTS, sizeof *self->seen);
    self->touched = calloc (S_PARTS, 1);
    self->touched_list = calloc (S_PARTS, sizeof *self->touched_list);
    self->prior = calloc (S_PARTS, sizeof *self->prior);
    self->asked = calloc (S_PARTS, sizeof *self->asked);
    self->copy_mark = malloc (S_PARTS);
    if (self->copy_mark)
        memset (self->copy_mark, S_UNREAD, S_PARTS);
    kvp_change_init (&self->changes);
    if (!self->roles || !self->inbox || !self->out_at || !self->seen
    ||  !self->touched || !self->touched_list || !self->prior
    ||  !self->asked || !self->copy_mark)
        kvp_replicate_destroy (&self);
    return self;
}

static void
s_inbox_clear (kvp_replicate_t *self)
{
    zmsg_t *msg;
    while (self->inbox && (msg = (zmsg_t *) zlist_pop (self->inbox)))
        zmsg_destroy (&msg);
}

void
kvp_replicate_destroy (kvp_replicate_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_replicate_t *self = *self_p;
    s_inbox_clear (self);
    zlist_destroy (&self->inbox);
    kvp_roles_destroy (&self->roles);
    for (size_t i = 0; i < self->out_cap; i++)
        msgpack_sbuffer_destroy (&self->out [i].data);
    free (self->out);
    free (self->out_at);
    free (self->seen);
    free (self->touched);
    free (self->touched_list);
    free (self->prior);
    free (self->asked);
    free (self->copy_mark);
    kvp_change_fini (&self->changes);
    free (self);
    *self_p = NULL;
}

kvp_roles_t *
kvp_replicate_roles (kvp_replicate_t *self)
{
    return self->roles;
}

//  --- commands ----------------------------------------------------------------

//  The position of the last job the store holds for `part` (0 for none).
static uint64_t
s_position (kvp_replicate_t *self, uint32_t part)
{
    kvp_partition_t info;
    return kvp_store_partition_get (self->store, part, &info) == KVP_STORE_OK
           ? kvp_repl_position (info.seq) : 0;
}

//  The in-sync set holds `part` up to `seq`: what waited may go, and a
//  new leader's tail of events once it is committed.
static void
s_released (kvp_replicate_t *self, uint32_t part, uint64_t epoch,
            uint64_t seq)
{
    kvp_roles_commit (self->roles, part, epoch, seq, self->release,
                      self->arg);
    if (kvp_roles_tail_due (self->roles, part))
        self->tail (self->arg, part);
}

//  A follower waiting for a copy is told its role again: the copy it
//  asked for may never come (the broker asks only a live leader for it
//  and forwards its pieces only to a live follower, so a session lost on
//  either side loses it), so it asks again, from the first piece. A copy
//  that does come twice is taken twice, the second over the first.
static void
s_resync_again (kvp_replicate_t *self, uint32_t part, uint64_t epoch)
{
    //  Not while one may still be on its way (a ROLE comes with every
    //  change of the in-sync set)
    int64_t now = zclock_mono ();
    if (now - self->asked [part] < S_ASK_AGAIN_MS)
        return;
    self->asked [part] = now;
    kvp_roles_set_chunk (self->roles, part, 0);
    kvp_roles_set_resync (self->roles, part, true);
    zsys_notice ("partition %u: still no copy: asking again", part);
    s_send_pos (self, KVP_W_RESYNC, part, epoch,
                kvp_roles_position (self->roles, part));
}

//  [command][header of `size`][worker id]: the id frame with *hdr, or
//  NULL (logged) when malformed.
static zframe_t *
s_head_and_id (zmsg_t *msg, size_t size, kvp_repl_t *hdr, const char *what)
{
    zframe_t *head = zmsg_size (msg) == 3 ? zmsg_next (msg) : NULL;
    zframe_t *id = head ? zmsg_next (msg) : NULL;
    if (id && kvp_repl_decode (hdr, size, zframe_data (head),
                               zframe_size (head)))
        return id;
    zsys_warning ("malformed %s from the broker: dropped", what);
    return NULL;
}

//  ROLE [part epoch flags][leader]. A follower continues the stream it
//  followed in this session, or starts from nothing; anything else (it
//  led, it returned, a copy was cut short) could hold a tail the leader
//  never had, so it asks for a copy.
static void
s_on_role (kvp_replicate_t *self, zmsg_t *msg)
{
    kvp_repl_t hdr;
    zframe_t *leader = s_head_and_id (msg, KVP_REPL_ROLE, &hdr, KVP_W_ROLE);
    if (!leader)
        return;
    bool lead = zframe_streq (leader, self->id);
    kvp_copy_role_t kind = lead ? KVP_COPY_LEADER : KVP_COPY_FOLLOWER;
    kvp_copy_role_t before = kvp_roles_kind (self->roles, hdr.part);
    if (!self->marked) {
        int rc = kvp_store_meta_put (self->store, S_REPLICATED, "1");
        self->marked = rc == 0;
    }
    if (before == kind && kvp_roles_epoch (self->roles, hdr.part) == hdr.epoch) {
        //  Said again (a registration, a change of the in-sync set): what
        //  waited for M in sync may go now
        kvp_roles_set (self->roles, hdr.part, kind, hdr.epoch, hdr.writable, 0);
        s_released (self, hdr.part, hdr.epoch, 0);
        if (kvp_roles_resyncing (self->roles, hdr.part)
        ||  kvp_roles_chunk (self->roles, hdr.part) != 0)
            s_resync_again (self, hdr.part, hdr.epoch);
        else
            s_send_pos (self, KVP_W_ACK, hdr.part, hdr.epoch,
                        kvp_roles_position (self->roles, hdr.part));
        return;
    }
    bool continuous = before == KVP_COPY_FOLLOWER
                   && !kvp_roles_resyncing (self->roles, hdr.part)
                   && kvp_roles_chunk (self->roles, hdr.part) == 0;
    bool marked = s_marked (self, hdr.part);
    uint64_t position = marked ? 0 : s_position (self, hdr.part);
    if (!kvp_roles_set (self->roles, hdr.part, kind, hdr.epoch, hdr.writable,
                       position))
        return;                     //  an older epoch: stale
    if (before != kind || lead)
        zsys_info ("partition %u: %s at epoch %llu (position %llu%s)",
                   hdr.part, lead ? "leading" : "following",
                   (unsigned long long) hdr.epoch,
                   (unsigned long long) position,
                   lead && !hdr.writable ? ", writes refused" : "");
    kvp_partition_t info;
    bool empty = !marked && kvp_store_partition_get (self->store, hdr.part,
                                                     &info)
                            == KVP_STORE_NOTFOUND;
    if (!lead && !continuous && !empty) {
        kvp_roles_set_resync (self->roles, hdr.part, true);
        self->asked [hdr.part] = zclock_mono ();
        s_send_pos (self, KVP_W_RESYNC, hdr.part, hdr.epoch, position);
    }
    else                            //  where we stand in this epoch
        s_send_pos (self, KVP_W_ACK, hdr.part, hdr.epoch, position);
}

static void
s_on_commit (kvp_replicate_t *self, zmsg_t *msg)
{
    zframe_t *head = zmsg_size (msg) == 2 ? zmsg_next (msg) : NULL;
    kvp_repl_t hdr;
    if (!head || !kvp_repl_decode (&hdr, KVP_REPL_POS, zframe_data (head),
                                   zframe_size (head))) {
        zsys_warning ("malformed COMMIT from the broker: dropped");
        return;
    }
    s_released (self, hdr.part, hdr.epoch, hdr.seq);
}

//  The copy under way: its destination and the piece held back, so that
//  the last one can say so.
typedef struct {
    kvp_replicate_t *self;
    zframe_t *to;
    kvp_repl_t hdr;
    uint8_t *held;
    size_t held_size;
    bool have;
} s_copy_t;

static void
s_chunk_send (s_copy_t *copy, bool last)
{
    uint8_t bytes [KVP_REPL_HEADER_MAX];
    copy->hdr.last = last;
    size_t size = kvp_repl_encode (&copy->hdr, KVP_REPL_CHUNK, bytes);
    const void *data [] = { KVP_W_CHUNK, zframe_data (copy->to), bytes,
                            copy->held ? copy->held : (uint8_t *) "" };
    size_t sizes [] = { strlen (KVP_W_CHUNK), zframe_size (copy->to), size,
                        copy->held_size };
    copy->self->send (copy->self->arg, data, sizes, 4);
    copy->hdr.index++;
}

static int
s_chunk (void *arg, const void *data, size_t size)
{
    s_copy_t *copy = (s_copy_t *) arg;
    if (copy->have)
        s_chunk_send (copy, false);
    uint8_t *held = realloc (copy->held, size ? size : 1);
    if (!held)
        return KVP_STORE_EIO;
    memcpy (held, data, size);
    copy->held = held;
    copy->held_size = size;
    copy->have = true;
    return 0;
}

//  COPY [part epoch][to]: the whole partition, as it is between batches.
static void
s_on_copy (kvp_replicate_t *self, zmsg_t *msg)
{
    kvp_repl_t hdr;
    zframe_t *to = s_head_and_id (msg, KVP_REPL_COPY, &hdr, KVP_W_COPY);
    if (!to)
        return;
    if (kvp_roles_kind (self->roles, hdr.part) != KVP_COPY_LEADER
    ||  kvp_roles_epoch (self->roles, hdr.part) != hdr.epoch)
        return;                     //  not ours (any more)
    s_copy_t copy = { .self = self, .to = to, .hdr = hdr };
    copy.hdr.seq = kvp_roles_position (self->roles, hdr.part);
    int rc = kvp_store_copy (self->store, hdr.part, S_CHUNK, s_chunk, &copy);
    if (rc == KVP_STORE_OK) {
        if (!copy.have)
            copy.held_size = 0;     //  an empty partition: one empty piece
        s_chunk_send (&copy, true);
        zsys_info ("partition %u: copy of %u pieces up to job %llu sent to "
                   "%.*s", hdr.part, copy.hdr.index,
                   (unsigned long long) copy.hdr.seq,
                   (int) zframe_size (to), (const char *) zframe_data (to));
    }
    else
        zsys_error ("partition %u: cannot copy: %s", hdr.part,
                    kvp_store_strerror (rc));
    free (copy.held);
}

bool
kvp_replicate_message (kvp_replicate_t *self, zmsg_t **msg_p)
{
    zframe_t *command = zmsg_first (*msg_p);
    if (!command)
        return false;
    if (zframe_streq (command, KVP_W_REPL)
    ||  zframe_streq (command, KVP_W_CHUNK)) {
        if (zlist_append (self->inbox, *msg_p) == 0)
            *msg_p = NULL;
        return true;
    }
    //  What came before a ROLE or a COPY is applied first: a follower
    //  promoted holds what it was sent, a copy is taken where it stands
    if ((zframe_streq (command, KVP_W_ROLE) || zframe_streq (command, KVP_W_COPY))
    &&  zlist_size (self->inbox))
        kvp_replicate_apply (self);
    if (zframe_streq (command, KVP_W_ROLE))
        s_on_role (self, *msg_p);
    else
    if (zframe_streq (command, KVP_W_COMMIT))
        s_on_commit (self, *msg_p);
    else
    if (zframe_streq (command, KVP_W_COPY))
        s_on_copy (self, *msg_p);
    else
        return false;
    return true;
}

//  --- leader ------------------------------------------------------------------

static s_out_t *
s_out (kvp_replicate_t *self, uint32_t part)
{
    if (self->out_at [part])
        return &self->out [self->out_at [part] - 1];
    if (self->out_count == self->out_cap) {
        size_t cap = self->out_cap ? self->out_cap * 2 : 16;
        s_out_t *out = realloc (self->out, cap * sizeof *out);
        if (!out)
            return NULL;
        for (size_t i = self->out_cap; i < cap; i++)
            msgpack_sbuffer_init (&out [i].data);
        self->out = out;
        self->out_cap = cap;
    }
    s_out_t *out = &self->out [self->out_count++];
    out->part = part;
    out->data.size = 0;
    self->out_at [part] = (uint32_t) self->out_count;
    return out;
}

static void s_flush (kvp_replicate_t *self);

void
kvp_replicate_harvest (void *arg, kvp_slot_t *slots, size_t from, size_t to)
{
    kvp_replicate_t *self = (kvp_replicate_t *) arg;
    if (++self->generation == 0)
        self->generation = 1;
    for (size_t i = from; i < to; i++) {
        uint32_t part = slots [i].part;
        if (part >= S_PARTS || self->seen [part] == self->generation
        ||  kvp_roles_kind (self->roles, part) != KVP_COPY_LEADER)
            continue;
        self->seen [part] = self->generation;
        int rc = kvp_store_changes (self->store, part, &self->changes);
        if (rc || self->changes.size == 0)
            continue;
        s_out_t *out = s_out (self, part);
        if (out)
            msgpack_sbuffer_write (&out->data, (const char *)
                                   self->changes.data, self->changes.size);
    }
    //  Out now: the followers' apply and sync overlap the leader's sync
    s_flush (self);
}

//  One partition's changes of this pass: a REPL, or several for a pass
//  too large for one message (all but the last keep the position, so a
//  follower that stopped between them asks for a copy).
static void
s_send_repl (kvp_replicate_t *self, s_out_t *out)
{
    kvp_repl_t hdr = {
        .part = out->part,
        .epoch = kvp_roles_epoch (self->roles, out->part),
        .prev = kvp_roles_position (self->roles, out->part),
    };
    //  Every pass moves the position on, a job or not (kvp_repl.h)
    uint64_t seq = s_position (self, out->part);
    if (seq <= hdr.prev)
        seq = hdr.prev + 1;
    const uint8_t *data = (const uint8_t *) out->data.data;
    size_t at = 0;
    do {
        size_t end = kvp_change_piece (data, out->data.size, at,
                                       S_REPL_PIECE);
        hdr.seq = end < out->data.size ? hdr.prev : seq;
        uint8_t bytes [KVP_REPL_HEADER_MAX];
        size_t size = kvp_repl_encode (&hdr, KVP_REPL_DATA, bytes);
        const void *frames [] = { KVP_W_REPL, bytes, data + at };
        size_t sizes [] = { strlen (KVP_W_REPL), size, end - at };
        self->send (self->arg, frames, sizes, 3);
        at = end;
    } while (at < out->data.size);
    kvp_roles_advance (self->roles, out->part, seq);
}

static void
s_flush (kvp_replicate_t *self)
{
    for (size_t i = 0; i < self->out_count; i++) {
        self->out_at [self->out [i].part] = 0;
        s_send_repl (self, &self->out [i]);
    }
    self->out_count = 0;
}

bool
kvp_replicate_answer (kvp_replicate_t *self, kvp_slot_t *slot)
{
    if (!kvp_roles_waits (self->roles, slot->part))
        return false;
    bool event = slot->event.size > 0;
    kvp_held_t held = {
        .part = slot->part, .tag = slot->tag,
        .reply = slot->reply.data, .reply_size = slot->reply.size,
        .topic = event ? slot->topic : NULL, .topic_len = slot->topic_len,
        .event = slot->event.data, .event_size = slot->event.size,
        .seq = slot->seq, .op = (int) kvp_request_op (slot->request),
        .received_us = slot->received_us
    };
    if (kvp_roles_hold (self->roles, &held))
        return true;
    zsys_error ("out of memory holding a reply: sent before its commit");
    return false;
}

//  --- follower ------------------------------------------------------------------

//  `part` is applied to this pass (call before its position moves)
static void
s_touch (kvp_replicate_t *self, uint32_t part)
{
    if (!self->touched [part]) {
        self->touched [part] = 1;
        self->prior [part] = kvp_roles_position (self->roles, part);
        self->touched_list [self->touched_count++] = part;
    }
}

//  Cannot continue: ask for a copy, once.
static void
s_resync (kvp_replicate_t *self, uint32_t part, uint64_t epoch)
{
    if (kvp_roles_resyncing (self->roles, part))
        return;
    kvp_roles_set_resync (self->roles, part, true);
    kvp_roles_set_chunk (self->roles, part, 0);
    uint64_t position = kvp_roles_position (self->roles, part);
    zsys_notice ("partition %u: cannot continue from job %llu: asking for "
                 "a copy", part, (unsigned long long) kvp_repl_job (position));
    self->asked [part] = zclock_mono ();
    s_send_pos (self, KVP_W_RESYNC, part, epoch, position);
}

//  The header of a REPL or CHUNK if it is for a partition we follow at
//  its epoch; NULL for one to drop.
static zframe_t *
s_check (kvp_replicate_t *self, zmsg_t *msg, size_t size, kvp_repl_t *hdr)
{
    zframe_t *head = zmsg_size (msg) == 3 ? zmsg_next (msg) : NULL;
    zframe_t *body = head ? zmsg_next (msg) : NULL;
    if (!body || !kvp_repl_decode (hdr, size, zframe_data (head),
                                   zframe_size (head))) {
        zsys_warning ("malformed replication message: dropped");
        return NULL;
    }
    if (kvp_roles_kind (self->roles, hdr->part) != KVP_COPY_FOLLOWER
    ||  kvp_roles_epoch (self->roles, hdr->part) != hdr->epoch)
        return NULL;                //  another epoch: fenced
    return body;
}

static int
s_apply_repl (kvp_replicate_t *self, zmsg_t *msg)
{
    kvp_repl_t hdr;
    zframe_t *body = s_check (self, msg, KVP_REPL_DATA, &hdr);
    if (!body || kvp_roles_resyncing (self->roles, hdr.part))
        return 0;
    if (hdr.prev != kvp_roles_position (self->roles, hdr.part)) {
        s_resync (self, hdr.part, hdr.epoch);
        return 0;
    }
    int rc = kvp_store_apply (self->store, hdr.part, zframe_data (body),
                              zframe_size (body));
    if (rc == KVP_STORE_CORRUPT) {
        zsys_error ("partition %u: a REPL that does not apply: dropped",
                    hdr.part);
        s_resync (self, hdr.part, hdr.epoch);
        return 0;
    }
    if (rc == 0) {
        s_touch (self, hdr.part);
        kvp_roles_advance (self->roles, hdr.part, hdr.seq);
    }
    return rc;
}

static int
s_apply_chunk (kvp_replicate_t *self, zmsg_t *msg)
{
    kvp_repl_t hdr;
    zframe_t *body = s_check (self, msg, KVP_REPL_CHUNK, &hdr);
    if (!body || hdr.index != kvp_roles_chunk (self->roles, hdr.part))
        return 0;                   //  not the piece expected: dropped
    int rc = 0;
    if (hdr.index == 0) {
        //  From here until its last piece the partition is not whole:
        //  no REPL is applied on it and nothing is acknowledged (a copy
        //  the broker sent unasked, to a follower only slow, included)
        kvp_roles_set_resync (self->roles, hdr.part, true);
        rc = kvp_store_drop (self->store, hdr.part);
    }
    if (rc == 0)
        rc = kvp_store_apply (self->store, hdr.part, zframe_data (body),
                              zframe_size (body));
    if (rc == KVP_STORE_CORRUPT) {
        zsys_error ("partition %u: a copy that does not apply", hdr.part);
        kvp_roles_set_resync (self->roles, hdr.part, false);
        s_resync (self, hdr.part, hdr.epoch);
        return 0;
    }
    if (rc)
        return rc;
    kvp_roles_set_chunk (self->roles, hdr.part, hdr.last ? 0 : hdr.index + 1);
    if (hdr.last) {
        s_touch (self, hdr.part);
        kvp_roles_advance (self->roles, hdr.part, hdr.seq);
        kvp_roles_set_resync (self->roles, hdr.part, false);
    }
    return 0;
}

//  Before the batch: a copy about to begin is recorded (synced) first.
static int
s_mark_copies (kvp_replicate_t *self)
{
    zmsg_t *msg = (zmsg_t *) zlist_first (self->inbox);
    for (; msg; msg = (zmsg_t *) zlist_next (self->inbox)) {
        kvp_repl_t hdr;
        zframe_t *head = zmsg_size (msg) == 3 ? zmsg_first (msg) : NULL;
        head = head && zframe_streq (head, KVP_W_CHUNK) ? zmsg_next (msg)
                                                         : NULL;
        if (head && kvp_repl_decode (&hdr, KVP_REPL_CHUNK, zframe_data (head),
                                     zframe_size (head))
        &&  hdr.index == 0) {
            int rc = s_mark (self, hdr.part, true);
            if (rc)
                return rc;
        }
    }
    return 0;
}

//  The batch failed: what this pass applied is not there; start over.
static void
s_undo (kvp_replicate_t *self, int rc)
{
    zsys_error ("cannot apply replicated changes: %s",
                kvp_store_strerror (rc));
    for (size_t i = 0; i < self->touched_count; i++) {
        uint32_t part = self->touched_list [i];
        self->touched [part] = 0;
        kvp_roles_advance (self->roles, part, s_position (self, part));
        s_resync (self, part, kvp_roles_epoch (self->roles, part));
    }
    self->touched_count = 0;
}

//  What this pass applied is synced: ACK each partition it moved (once a
//  copy's record is cleared: a copy not known whole is not acknowledged).
static void
s_acknowledge (kvp_replicate_t *self)
{
    for (size_t i = 0; i < self->touched_count; i++) {
        uint32_t part = self->touched_list [i];
        self->touched [part] = 0;
        if (kvp_roles_chunk (self->roles, part) == 0 && s_marked (self, part)
        &&  s_mark (self, part, false) != 0)
            continue;               //  not known whole yet: no ACK
        s_send_pos (self, KVP_W_ACK, part, kvp_roles_epoch (self->roles, part),
                    kvp_roles_position (self->roles, part));
    }
    self->touched_count = 0;
}

//  Does the inbox hold a piece of a copy? (Copies keep a batch of their
//  own: their record of the copy's start is written before it.)
static bool
s_copying (kvp_replicate_t *self)
{
    zmsg_t *msg = (zmsg_t *) zlist_first (self->inbox);
    for (; msg; msg = (zmsg_t *) zlist_next (self->inbox))
        if (zframe_streq (zmsg_first (msg), KVP_W_CHUNK))
            return true;
    return false;
}

int
kvp_replicate_fold (void *arg, bool *wrote)
{
    kvp_replicate_t *self = (kvp_replicate_t *) arg;
    *wrote = false;
    if (zlist_size (self->inbox) == 0 || s_copying (self))
        return 0;
    self->folded = true;
    int rc = 0;
    zmsg_t *msg = (zmsg_t *) zlist_first (self->inbox);
    for (; msg && rc == 0; msg = (zmsg_t *) zlist_next (self->inbox))
        rc = s_apply_repl (self, msg);
    *wrote = self->touched_count > 0;
    return rc;
}

void
kvp_replicate_unfold (void *arg)
{
    kvp_replicate_t *self = (kvp_replicate_t *) arg;
    self->folded = false;
    for (size_t i = 0; i < self->touched_count; i++) {
        uint32_t part = self->touched_list [i];
        self->touched [part] = 0;
        kvp_roles_advance (self->roles, part, self->prior [part]);
    }
    self->touched_count = 0;
}

void
kvp_replicate_apply (kvp_replicate_t *self)
{
    if (self->folded) {             //  committed with the requests
        self->folded = false;
        s_inbox_clear (self);
        s_acknowledge (self);
        return;
    }
    if (zlist_size (self->inbox) == 0)
        return;
    int rc = s_mark_copies (self);
    if (rc == 0)
        rc = kvp_store_begin (self->store);
    zmsg_t *msg;
    while ((msg = (zmsg_t *) zlist_pop (self->inbox))) {
        if (rc == 0)
            rc = zframe_streq (zmsg_first (msg), KVP_W_REPL)
               ? s_apply_repl (self, msg) : s_apply_chunk (self, msg);
        zmsg_destroy (&msg);
    }
    if (rc == 0)
        rc = kvp_store_commit (self->store);
    else
        kvp_store_abort (self->store);
    if (rc) {
        s_undo (self, rc);
        return;
    }
    s_acknowledge (self);
}
