/*  kvp_peers.c - the broker's clients: in flight, replies waiting,
    requests set aside (see kvp_peers.h).
*/
#include "kvp_peers.h"
#include "kvp_idkey.h"
#include <errno.h>

#define S_FRAME_COST    128         //  a zframe_t and its content's header
#define S_RETRY_MIN     1           //  ms before a blocked client's retry,
#define S_RETRY_MAX     64          //  doubling while nothing moves

//  One message waiting: a reply (its frame, moved, not copied), or a
//  request's frames after the identity, copied one after the other (the
//  identity is its peer's).
typedef struct s_node {
    struct s_node *next;
    zframe_t *reply;                //  a reply's body, or NULL
    size_t total;                   //  a request's frame count
    size_t sizes [KVP_PEERS_FRAMES];    //  its frames' sizes (0: identity)
    size_t bytes;                   //  counted against queue_max
    uint8_t data [];                //  a request's frames 1 ..
} s_node_t;

typedef struct {
    s_node_t *head, *tail;
} s_fifo_t;

struct _kvp_peer_t {
    uint8_t key [KVP_IDKEY_MAX];    //  its routing identity as a key
    zframe_t *identity;             //  the same, to send to
    size_t inflight;                //  routed, not yet answered
    s_fifo_t replies;               //  not taken by ZeroMQ yet, in order
    s_fifo_t held;                  //  requests set aside, in order
    size_t bytes;                   //  of both
    bool listed;                    //  on the blocked list
    bool pumping;                   //  kvp_peers_pump has it: not freed
    kvp_peer_t *prev, *next;        //  the blocked list
    kvp_peer_t *due;                //  kvp_peers_pump's own list
    int64_t retry_at;               //  monotonic ms
    int64_t backoff;                //  ms
};

struct _kvp_peers_t {
    zhashx_t *peers;                //  identity key -> kvp_peer_t
    size_t inflight_max;
    size_t queue_max;
    kvp_peers_send_fn *send;
    void *arg;
    kvp_peer_t *first, *last;       //  blocked: replies or requests wait
    size_t blocked;
    size_t bytes;                   //  waiting, all clients
    size_t replies;                 //  replies waiting, all clients
    uint64_t discarded;
    uint64_t gone;
};

//  --- messages ---------------------------------------------------------------

//  A node for a reply, taking *body_p; NULL when out of memory (the frame
//  stays the caller's).
static s_node_t *
s_reply_new (zframe_t **body_p)
{
    s_node_t *node = calloc (1, sizeof *node);
    if (!node)
        return NULL;
    node->reply = *body_p;
    *body_p = NULL;
    node->bytes = sizeof *node + S_FRAME_COST + zframe_size (node->reply);
    return node;
}

//  The bytes a request's node takes: its frames after the identity.
static size_t
s_request_bytes (zframe_t **frames, size_t total)
{
    size_t bytes = sizeof (s_node_t);
    for (size_t i = 1; i < total && i < KVP_PEERS_FRAMES; i++)
        bytes += frames [i] ? zframe_size (frames [i]) : 0;
    return bytes;
}

//  A node with a copy of a request's frames after the identity; NULL when
//  out of memory. The frames stay the caller's.
static s_node_t *
s_request_new (zframe_t **frames, size_t total)
{
    size_t bytes = s_request_bytes (frames, total);
    s_node_t *node = calloc (1, bytes);
    if (!node)
        return NULL;
    node->total = total;
    node->bytes = bytes;
    uint8_t *at = node->data;
    for (size_t i = 1; i < total && i < KVP_PEERS_FRAMES; i++) {
        node->sizes [i] = frames [i] ? zframe_size (frames [i]) : 0;
        if (node->sizes [i])
            memcpy (at, zframe_data (frames [i]), node->sizes [i]);
        at += node->sizes [i];
    }
    return node;
}

//  The request's frames again, its peer's identity first. False when out
//  of memory (whatever was made is destroyed).
static bool
s_request_frames (s_node_t *node, zframe_t *identity, zframe_t **frames)
{
    const uint8_t *at = node->data;
    bool made = (frames [0] = zframe_dup (identity)) != NULL;
    for (size_t i = 1; made && i < node->total && i < KVP_PEERS_FRAMES; i++) {
        made = (frames [i] = zframe_new (at, node->sizes [i])) != NULL;
        at += node->sizes [i];
    }
    for (size_t i = 0; !made && i < KVP_PEERS_FRAMES; i++)
        zframe_destroy (&frames [i]);
    return made;
}

static void
s_node_destroy (s_node_t **node_p)
{
    zframe_destroy (&(*node_p)->reply);
    free (*node_p);
    *node_p = NULL;
}

static void
s_push (s_fifo_t *fifo, s_node_t *node)
{
    if (fifo->tail)
        fifo->tail->next = node;
    else
        fifo->head = node;
    fifo->tail = node;
}

static s_node_t *
s_pop (s_fifo_t *fifo)
{
    s_node_t *node = fifo->head;
    if (node) {
        fifo->head = node->next;
        if (!fifo->head)
            fifo->tail = NULL;
        node->next = NULL;
    }
    return node;
}

//  Count a node in (+1) or out (-1) of its peer's bytes and the table's.
static void
s_count (kvp_peers_t *self, kvp_peer_t *peer, s_node_t *node, int sign)
{
    if (sign > 0) {
        peer->bytes += node->bytes;
        self->bytes += node->bytes;
    }
    else {
        peer->bytes -= node->bytes;
        self->bytes -= node->bytes;
    }
}

//  --- the blocked list ---------------------------------------------------

static bool
s_waiting (kvp_peer_t *peer)
{
    return peer->replies.head || peer->held.head;
}

static void
s_list (kvp_peers_t *self, kvp_peer_t *peer)
{
    if (peer->listed)
        return;
    peer->listed = true;
    peer->prev = self->last;
    peer->next = NULL;
    if (self->last)
        self->last->next = peer;
    else
        self->first = peer;
    self->last = peer;
    self->blocked++;
    peer->backoff = S_RETRY_MIN;
    peer->retry_at = zclock_mono () + peer->backoff;
}

static void
s_unlist (kvp_peers_t *self, kvp_peer_t *peer)
{
    if (!peer->listed)
        return;
    if (peer->prev)
        peer->prev->next = peer->next;
    else
        self->first = peer->next;
    if (peer->next)
        peer->next->prev = peer->prev;
    else
        self->last = peer->prev;
    peer->prev = peer->next = NULL;
    peer->listed = false;
    self->blocked--;
}

//  --- peers ------------------------------------------------------------------

static void
s_peer_destroy (kvp_peer_t **peer_p)
{
    kvp_peer_t *peer = *peer_p;
    s_node_t *node;
    while ((node = s_pop (&peer->replies)))
        s_node_destroy (&node);
    while ((node = s_pop (&peer->held)))
        s_node_destroy (&node);
    zframe_destroy (&peer->identity);
    free (peer);
    *peer_p = NULL;
}

//  The peer of `identity`, made when `make` and new; NULL if none.
static kvp_peer_t *
s_peer (kvp_peers_t *self, zframe_t *identity, bool make)
{
    uint8_t key [KVP_IDKEY_MAX];
    if (!identity
    ||  !kvp_idkey_set (key, zframe_data (identity), zframe_size (identity)))
        return NULL;
    kvp_peer_t *peer = zhashx_lookup (self->peers, key);
    if (peer || !make)
        return peer;
    peer = calloc (1, sizeof *peer);
    if (!peer || !(peer->identity = zframe_dup (identity))) {
        free (peer);
        return NULL;
    }
    memcpy (peer->key, key, sizeof key);
    if (zhashx_insert (self->peers, peer->key, peer) != 0) {
        s_peer_destroy (&peer);
        return NULL;
    }
    return peer;
}

//  Forget a peer that holds nothing any more.
static void
s_idle (kvp_peers_t *self, kvp_peer_t *peer)
{
    if (!peer->inflight && !s_waiting (peer) && !peer->pumping)
        zhashx_delete (self->peers, peer->key);   //  destroys it
}

//  The client is gone: what waits for it goes.
static void
s_forget (kvp_peers_t *self, kvp_peer_t *peer)
{
    s_node_t *node;
    self->gone += s_waiting (peer);
    while ((node = s_pop (&peer->replies))) {
        s_count (self, peer, node, -1);
        s_node_destroy (&node);
        self->replies--;
    }
    while ((node = s_pop (&peer->held))) {
        s_count (self, peer, node, -1);
        s_node_destroy (&node);
    }
    s_unlist (self, peer);
}

//  --- replies ----------------------------------------------------------------

//  Keep a reply for later, behind those already waiting.
static void
s_park (kvp_peers_t *self, kvp_peer_t *peer, zframe_t **body_p)
{
    s_node_t *node = s_reply_new (body_p);
    if (!node) {
        zframe_destroy (body_p);    //  out of memory: nothing else to do
        return;
    }
    s_push (&peer->replies, node);
    s_count (self, peer, node, +1);
    self->replies++;
    s_list (self, peer);
}

//  A reply to a known peer: after those waiting, else now if it fits.
static void
s_deliver (kvp_peers_t *self, kvp_peer_t *peer, zframe_t **body_p)
{
    int rc = peer->replies.head ? EAGAIN
           : self->send (self->arg, peer->identity, body_p);
    if (rc == EAGAIN)
        s_park (self, peer, body_p);
    else
    if (rc != 0) {
        zframe_destroy (body_p);
        s_forget (self, peer);
    }
}

void
kvp_peers_send (kvp_peers_t *self, zframe_t **identity_p, zframe_t **body_p)
{
    //  Nobody waits: straight to ZeroMQ, with no lookup
    int rc = self->blocked ? EAGAIN
           : self->send (self->arg, *identity_p, body_p);
    kvp_peer_t *peer = rc == EAGAIN ? s_peer (self, *identity_p, true) : NULL;
    zframe_destroy (identity_p);
    if (peer && self->blocked)
        s_deliver (self, peer, body_p);
    else
    if (peer)
        s_park (self, peer, body_p);    //  the first to find it full
    zframe_destroy (body_p);            //  sent, gone, or out of memory
    if (peer)
        s_idle (self, peer);
}

void
kvp_peers_reply (kvp_peers_t *self, kvp_peer_t *peer, zframe_t **identity_p,
                 zframe_t **body_p)
{
    zframe_destroy (identity_p);
    s_deliver (self, peer, body_p);
}

bool
kvp_peers_crowded (kvp_peers_t *self, kvp_peer_t *peer, size_t size)
{
    return peer && peer->replies.head
        && peer->bytes + sizeof (s_node_t) + S_FRAME_COST + size
           > self->queue_max;
}

//  --- requests ---------------------------------------------------------------

kvp_peer_t *
kvp_peers_route_begin (kvp_peers_t *self, zframe_t *identity)
{
    kvp_peer_t *peer = s_peer (self, identity, true);
    if (peer && peer->inflight >= self->inflight_max) {
        s_idle (self, peer);
        return NULL;
    }
    if (peer)
        peer->inflight++;
    return peer;
}

void
kvp_peers_route_end (kvp_peers_t *self, kvp_peer_t *peer)
{
    assert (peer && peer->inflight > 0);
    peer->inflight--;
    s_idle (self, peer);
}

size_t
kvp_peers_inflight (kvp_peer_t *peer)
{
    return peer->inflight;
}

kvp_peers_hold_t
kvp_peers_hold (kvp_peers_t *self, zframe_t **frames, size_t total)
{
    kvp_peer_t *peer = self->blocked ? s_peer (self, frames [0], false)
                                     : NULL;
    if (!peer || !s_waiting (peer))
        return KVP_PEERS_SERVE;
    size_t bytes = s_request_bytes (frames, total);
    s_node_t *node = peer->bytes + bytes <= self->queue_max
                   ? s_request_new (frames, total) : NULL;
    for (size_t i = 0; i < KVP_PEERS_FRAMES; i++)
        zframe_destroy (&frames [i]);
    if (!node) {
        self->discarded++;
        return KVP_PEERS_DISCARDED;
    }
    s_push (&peer->held, node);
    s_count (self, peer, node, +1);
    return KVP_PEERS_HELD;
}

//  --- the retries ------------------------------------------------------------

//  Send what waits for the peer, as far as ZeroMQ takes it. True if any
//  went.
static bool
s_flush (kvp_peers_t *self, kvp_peer_t *peer)
{
    bool moved = false;
    s_node_t *node;
    while ((node = peer->replies.head)) {
        int rc = self->send (self->arg, peer->identity, &node->reply);
        if (rc == EAGAIN)
            break;
        if (rc != 0) {
            s_forget (self, peer);
            return true;
        }
        s_pop (&peer->replies);
        s_count (self, peer, node, -1);
        s_node_destroy (&node);
        self->replies--;
        moved = true;
    }
    return moved;
}

//  Serve the requests the peer set aside while none of its replies waits,
//  at most *batch of them. True if any was served.
static bool
s_serve_held (kvp_peers_t *self, kvp_peer_t *peer, size_t *batch,
              kvp_peers_serve_fn *serve, void *arg)
{
    bool moved = false;
    while (!peer->replies.head && peer->held.head && *batch > 0) {
        s_node_t *node = s_pop (&peer->held);
        s_count (self, peer, node, -1);
        (*batch)--;
        zframe_t *frames [KVP_PEERS_FRAMES] = { NULL };
        if (s_request_frames (node, peer->identity, frames))
            serve (arg, frames, node->total);
        for (size_t i = 0; i < KVP_PEERS_FRAMES; i++)
            zframe_destroy (&frames [i]);
        s_node_destroy (&node);
        moved = true;
    }
    return moved;
}

static void
s_pump_one (kvp_peers_t *self, kvp_peer_t *peer, int64_t now, size_t *batch,
            kvp_peers_serve_fn *serve, void *arg)
{
    bool moved = s_flush (self, peer);
    moved |= s_serve_held (self, peer, batch, serve, arg);
    peer->pumping = false;
    if (!s_waiting (peer)) {
        s_unlist (self, peer);
        s_idle (self, peer);
        return;
    }
    //  Requests left for want of batch go on at the next pass; a client
    //  that takes nothing is tried less and less often
    if (moved || !peer->replies.head)
        peer->backoff = S_RETRY_MIN;
    else
    if (peer->backoff < S_RETRY_MAX)
        peer->backoff *= 2;
    peer->retry_at = now + (peer->replies.head ? peer->backoff : 0);
}

void
kvp_peers_pump (kvp_peers_t *self, int64_t now, size_t batch,
                kvp_peers_serve_fn *serve, void *arg)
{
    //  The peers due now, taken first: serving one may block others
    kvp_peer_t *due = NULL, **tail = &due;
    for (kvp_peer_t *peer = self->first; peer; peer = peer->next)
        if (peer->retry_at <= now) {
            peer->pumping = true;
            peer->due = NULL;
            *tail = peer;
            tail = &peer->due;
        }
    while (due) {
        kvp_peer_t *peer = due;
        due = peer->due;
        s_pump_one (self, peer, now, &batch, serve, arg);
    }
}

int64_t
kvp_peers_next (kvp_peers_t *self)
{
    int64_t next = -1;
    for (kvp_peer_t *peer = self->first; peer; peer = peer->next)
        if (next < 0 || peer->retry_at < next)
            next = peer->retry_at;
    return next;
}

//  --- the table --------------------------------------------------------------

kvp_peers_t *
kvp_peers_new (size_t inflight_max, size_t queue_max,
               kvp_peers_send_fn *send, void *arg)
{
    kvp_peers_t *self = calloc (1, sizeof *self);
    if (!self || !(self->peers = zhashx_new ())) {
        free (self);
        return NULL;
    }
    kvp_idkey_table (self->peers);
    zhashx_set_destructor (self->peers,
                           (zhashx_destructor_fn *) s_peer_destroy);
    self->inflight_max = inflight_max;
    self->queue_max = queue_max;
    self->send = send;
    self->arg = arg;
    return self;
}

void
kvp_peers_destroy (kvp_peers_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy (&(*self_p)->peers);
    free (*self_p);
    *self_p = NULL;
}

size_t
kvp_peers_count (kvp_peers_t *self)
{
    return zhashx_size (self->peers);
}

size_t
kvp_peers_blocked (kvp_peers_t *self)
{
    return self->blocked;
}

size_t
kvp_peers_bytes (kvp_peers_t *self)
{
    return self->bytes;
}

size_t
kvp_peers_replies (kvp_peers_t *self)
{
    return self->replies;
}

uint64_t
kvp_peers_discarded (kvp_peers_t *self)
{
    return self->discarded;
}

uint64_t
kvp_peers_gone (kvp_peers_t *self)
{
    return self->gone;
}
