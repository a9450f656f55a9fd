/*  kvp_workers.c - the broker's worker side: sessions by routing id, the
    wire commands (REGISTER, HEARTBEAT, REPLY, BYE), the session actions,
    heartbeats and liveness.
*/
#include "kvp_broker_priv.h"
#include "kvp_workers.h"
#include "kvp_bio.h"
#include "kvp_idkey.h"
#include "kvp_replicas.h"
#include <errno.h>

//  The frames we look at: [identity][command][arg][arg].
enum { W_ID, W_CMD, W_ARG1, W_ARG2, W_ARG3, W_MAX };

#define S_UNKNOWN   "unknown worker, register first"

//  --- sending -------------------------------------------------------------

//  [identity][command][self->buf].
static int
s_send_buf (kvp_broker_t *self, kvp_session_t *session, const char *command)
{
    int rc = kvp_bio_send_head (self, session, command, true);
    if (rc == 0)
        zmq_send (self->workers_h, self->buf.data, self->buf.size,
                  ZMQ_DONTWAIT);
    return rc;
}

int
kvp_broker_send_assign (kvp_broker_t *self, kvp_session_t *session,
                        uint32_t part)
{
    kvp_assign_encode (&self->buf, &part, 1, 0, 0);
    return s_send_buf (self, session, KVP_W_ASSIGN);
}

int
kvp_broker_send_request (kvp_broker_t *self, kvp_session_t *session,
                         uint64_t tag, uint32_t part, const kvp_guid_t *guid,
                         zframe_t **body_p)
{
    int rc = kvp_bio_send_head (self, session, KVP_W_REQUEST, true);
    if (rc)
        return rc;
    uint8_t tag8 [8], part4 [4];
    kvp_put_u64 (tag8, tag);
    kvp_put_u32 (part4, part);
    int more = ZMQ_SNDMORE | ZMQ_DONTWAIT;
    zmq_send (self->workers_h, tag8, sizeof tag8, more);
    zmq_send (self->workers_h, part4, sizeof part4, more);
    zmq_send (self->workers_h, guid ? guid->text : "",
              guid ? KVP_GUID_LEN : 0, more);
    if (zframe_send (body_p, self->workers_h, ZFRAME_DONTWAIT) == -1)
        zframe_destroy (body_p);    //  cannot happen once the head is in
    return 0;
}

//  --- session actions (see the table in kvp_session.h) ---------------------

static void
s_adopt (kvp_session_t *session, void *ctx)
{
    kvp_broker_t *self = ctx;
    kvp_session_set_name (session, self->reg.id);
    kvp_session_set_zone (session, self->reg.zone);
    kvp_owners_attach (self->owners, self->reg.id, session);
    kvp_session_set_expires (session, self->now + self->silence_ms);
}

static void
s_welcome (kvp_session_t *session, void *ctx)
{
    kvp_broker_t *self = ctx;
    const char *name = kvp_session_name (session);
    size_t count = kvp_owners_list (self->owners, name, self->scratch);
    kvp_assign_encode (&self->buf, self->scratch, count, self->nparts,
                       (uint32_t) self->config.heartbeat_ms);
    s_send_buf (self, session, KVP_W_WELCOME);
    zsys_notice ("%s: worker %s registered, owns %zu partitions",
                 self->logid, name, count);
    kvp_replicas_attach (self, session);
}

static void
s_refuse (kvp_session_t *session, void *ctx)
{
    kvp_broker_t *self = ctx;
    kvp_refuse_encode (&self->buf, self->refusal);
    s_send_buf (self, session, KVP_W_REFUSE);
    zsys_warning ("%s: refused worker %s: %s", self->logid, self->reg.id,
                  self->refusal);
}

//  Tell a worker we do not know to register; once a heartbeat interval at
//  most, so a burst of stale replies does not make a burst of REFUSEs.
static void
s_reject (kvp_session_t *session, void *ctx)
{
    kvp_broker_t *self = ctx;
    kvp_session_set_expires (session, self->now + self->silence_ms);
    if (self->now - kvp_session_refused_at (session)
        < (int64_t) self->config.heartbeat_ms)
        return;
    kvp_session_set_refused_at (session, self->now);
    kvp_refuse_encode (&self->buf, S_UNKNOWN);
    s_send_buf (self, session, KVP_W_REFUSE);
    const char *name = kvp_session_name (session);
    kvp_bio_warn (self, "a message from an unregistered worker %s: "
                  "told it to register", *name ? name : "(never named)");
}

void
kvp_broker_flight_done (kvp_broker_t *self, kvp_flight_t *entry)
{
    kvp_session_inflight_add (entry->worker, -1, entry->bytes);
    kvp_peers_route_end (self->peers, entry->peer);
}

static void
s_fail_one (kvp_flight_t *entry, void *arg)
{
    kvp_broker_t *self = arg;
    self->lost++;
    kvp_bio_reply (self, &entry->client, &entry->rid,
                   KVP_RC_STATUS_UNKNOWN, "worker %s went away; the "
                   "request may or may not have been applied",
                   kvp_session_name (entry->worker));
    kvp_broker_flight_done (self, entry);
}

static void
s_fail (kvp_session_t *session, void *ctx)
{
    kvp_broker_t *self = ctx;
    size_t count = kvp_inflight_drain (self->inflight, session, s_fail_one,
                                       self);
    if (count)
        zsys_warning ("%s: %zu requests in flight to worker %s answered "
                      "32771", self->logid, count,
                      kvp_session_name (session));
}

static void
s_retire (kvp_session_t *session, void *ctx)
{
    kvp_broker_t *self = ctx;
    const char *name = kvp_session_name (session);
    if (kvp_owners_session (self->owners, name) != session)
        return;                     //  a stale session: nothing changes
    kvp_owners_retire (self->owners, name, session);
    kvp_replicas_detach (self, name);
}

static void
s_refresh (kvp_session_t *session, void *ctx)
{
    kvp_broker_t *self = ctx;
    kvp_session_set_expires (session, self->now + self->silence_ms);
}

static const kvp_session_actions_t s_actions = {
    .adopt = s_adopt, .welcome = s_welcome, .refuse = s_refuse,
    .reject = s_reject, .fail = s_fail, .retire = s_retire,
    .refresh = s_refresh,
};

static kvp_session_state_t
s_event (kvp_broker_t *self, kvp_session_t *session,
         kvp_session_event_t event)
{
    kvp_session_state_t before = kvp_session_state (session);
    kvp_session_state_t after = kvp_session_execute (session, event,
                                                     &s_actions, self);
    if (before != after)
        KVP_BROKER_DEBUG (self, "%s: worker %s: %s on %s -> %s", self->logid,
                          kvp_session_name (session),
                          kvp_session_state_name (before),
                          kvp_session_event_name (event),
                          kvp_session_state_name (after));
    return after;
}

void
kvp_broker_worker_gone (kvp_broker_t *self, kvp_session_t *session)
{
    if (kvp_session_state (session) != KVP_SESSION_READY)
        return;
    zsys_warning ("%s: worker %s is down: cannot be reached", self->logid,
                  kvp_session_name (session));
    s_event (self, session, KVP_SESSION_SILENT);
}

//  --- commands ------------------------------------------------------------

//  Is the other session's worker still connected? A heartbeat tells.
static bool
s_reachable (kvp_broker_t *self, kvp_session_t *session)
{
    return kvp_bio_send_head (self, session, KVP_W_HEARTBEAT, false)
           != EHOSTUNREACH;
}

//  Checks a decoded REGISTER and records it. Returns false with the
//  reason in self->refusal.
static bool
s_admit (kvp_broker_t *self, kvp_session_t *session, const char *key_name)
{
    kvp_register_t *reg = &self->reg;
    //  With CURVE on, a worker's key names the one id it may take.
    if (self->curve && (!key_name || !streq (key_name, reg->id))) {
        snprintf (self->refusal, sizeof self->refusal,
                  "fatal: the key of worker %s may not register as %s",
                  key_name ? key_name : "?", reg->id);
        kvp_bio_warn (self, "refused a REGISTER as %s from the key of %s",
                      reg->id, key_name ? key_name : "?");
        return false;
    }
    if (!kvp_owners_check (self->owners, reg, self->refusal,
                           sizeof self->refusal))
        return false;
    kvp_session_t *other = kvp_owners_session (self->owners, reg->id);
    if (other && other != session) {
        //  A crashed worker restarting quickly finds its old session still
        //  ready: if that one cannot be reached it is gone, not a twin.
        if (s_reachable (self, other)) {
            snprintf (self->refusal, sizeof self->refusal,
                      "fatal: worker %s is already registered", reg->id);
            return false;
        }
        kvp_broker_worker_gone (self, other);
    }
    int rc = kvp_owners_adopt (self->owners, reg);
    if (rc) {
        snprintf (self->refusal, sizeof self->refusal,
                  "the broker cannot record worker %s: %s", reg->id,
                  kvp_store_strerror (rc));
        return false;
    }
    return true;
}

static void
s_on_register (kvp_broker_t *self, kvp_session_t *session, zframe_t **frames)
{
    zframe_t *map = frames [W_ARG1];
    kvp_register_t *reg = &self->reg;
    free (reg->partitions);
    memset (reg, 0, sizeof *reg);
    if (!kvp_register_decode (reg, zframe_data (map), zframe_size (map))) {
        memset (reg, 0, sizeof *reg);
        kvp_bio_warn (self, "dropped a malformed REGISTER");
        return;
    }
    bool admitted = s_admit (self, session, zframe_meta (map, "User-Id"));
    s_event (self, session, admitted ? KVP_SESSION_REGISTER
                                     : KVP_SESSION_REFUSED);
    free (reg->partitions);
    reg->partitions = NULL;
}

static void
s_on_heartbeat (kvp_broker_t *self, kvp_session_t *session,
                zframe_t **frames)
{
    s_event (self, session, KVP_SESSION_MESSAGE);
}

static void
s_on_bye (kvp_broker_t *self, kvp_session_t *session, zframe_t **frames)
{
    if (kvp_session_state (session) == KVP_SESSION_READY)
        zsys_notice ("%s: worker %s said goodbye", self->logid,
                     kvp_session_name (session));
    s_event (self, session, KVP_SESSION_BYE);
}

//  A worker's reply to its client. A read's reply that would take a
//  client past its bytes while it does not read is answered 32774
//  instead: asking again costs nothing; a write's is always kept.
static void
s_forward (kvp_broker_t *self, kvp_flight_t *entry, zframe_t **body_p)
{
    size_t size = zframe_size (*body_p);
    if (!kvp_op_writes ((kvp_op_t) entry->op)
    &&  kvp_peers_crowded (self->peers, entry->peer, size)) {
        kvp_bio_reply (self, &entry->client, &entry->rid, KVP_RC_IN_USE,
                       "a reply of %zu bytes not kept: this client leaves "
                       "its replies unread (over --client-queue); ask "
                       "again", size);
        return;
    }
    if (self->metrics)
        kvp_bmetrics_forward (self->metrics, zframe_data (*body_p), size,
                              (double) (zclock_usecs () - entry->sent_us)
                              / 1e6);
    kvp_peers_reply (self->peers, entry->peer, &entry->client, body_p);
}

static void
s_on_reply (kvp_broker_t *self, kvp_session_t *session, zframe_t **frames)
{
    if (s_event (self, session, KVP_SESSION_MESSAGE) != KVP_SESSION_READY)
        return;                     //  stale: its requests were answered
    if (zframe_size (frames [W_ARG1]) != 8) {
        kvp_bio_warn (self, "worker %s: dropped a REPLY with a bad tag",
                      kvp_session_name (session));
        return;
    }
    uint64_t tag = kvp_get_u64 (zframe_data (frames [W_ARG1]));
    kvp_flight_t *entry = kvp_inflight_lookup (self->inflight, tag);
    if (!entry || entry->worker != session) {
        //  Late (after its deadline) or not this worker's: nobody waits.
        KVP_BROKER_DEBUG (self, "%s: worker %s: dropped a reply for tag "
                          "%llu", self->logid, kvp_session_name (session),
                          (unsigned long long) tag);
        return;
    }
    entry = kvp_inflight_take (self->inflight, tag);
    self->answered++;
    s_forward (self, entry, &frames [W_ARG2]);
    kvp_broker_flight_done (self, entry);
    kvp_inflight_release (self->inflight, &entry);
}

typedef void (s_command_fn) (kvp_broker_t *self, kvp_session_t *session,
                             zframe_t **frames);

//  The commands a worker sends, with their exact frame counts (identity
//  included).
static const struct {
    const char *name;
    size_t frames;
    s_command_fn *fn;
} s_commands [] = {
    { KVP_W_REPLY,     4, s_on_reply },
    { KVP_W_HEARTBEAT, 2, s_on_heartbeat },
    { KVP_W_REGISTER,  3, s_on_register },
    { KVP_W_BYE,       2, s_on_bye },
};
#define S_COMMANDS (sizeof s_commands / sizeof s_commands [0])

//  The session of a routing id, made (unregistered) if new.
static kvp_session_t *
s_session (kvp_broker_t *self, zframe_t *identity)
{
    uint8_t key [KVP_IDKEY_MAX];
    if (!kvp_idkey_set (key, zframe_data (identity), zframe_size (identity)))
        return NULL;
    kvp_session_t *session = zhashx_lookup (self->sessions, key);
    if (!session) {
        session = kvp_session_new (key + 1, key [0]);
        if (!session)
            return NULL;
        kvp_session_set_expires (session, self->now + self->silence_ms);
        zhashx_insert (self->sessions, key, session);
    }
    return session;
}

static void
s_dispatch (kvp_broker_t *self, zframe_t **frames, size_t total)
{
    zframe_t *cmd = total > W_CMD ? frames [W_CMD] : NULL;
    for (size_t i = 0; cmd && i < S_COMMANDS; i++) {
        if (!zframe_streq (cmd, s_commands [i].name))
            continue;
        if (total != s_commands [i].frames) {
            kvp_bio_warn (self, "dropped a %s of %zu frames",
                          s_commands [i].name, total);
            return;
        }
        kvp_session_t *session = s_session (self, frames [W_ID]);
        if (session)
            s_commands [i].fn (self, session, frames);
        return;
    }
    if (cmd && kvp_replicas_handles (cmd)) {
        kvp_session_t *session = s_session (self, frames [W_ID]);
        if (session)
            kvp_replicas_command (self, session, frames, total);
        return;
    }
    kvp_bio_warn (self, "dropped an unknown worker message");
}

void
kvp_broker_workers_ready (kvp_broker_t *self)
{
    kvp_bio_drain (self, self->workers_h, W_MAX, s_dispatch);
}

//  --- liveness ------------------------------------------------------------

//  A ready session: heartbeat it, or expire it if it fell silent or is
//  gone.
static void
s_tick_ready (kvp_broker_t *self, kvp_session_t *session)
{
    const char *name = kvp_session_name (session);
    if (kvp_session_expires (session) < self->now) {
        zsys_warning ("%s: worker %s is down: silent for %lld ms",
                      self->logid, name, (long long) self->silence_ms);
        s_event (self, session, KVP_SESSION_SILENT);
    }
    else
    if (kvp_bio_send_head (self, session, KVP_W_HEARTBEAT, false) == EHOSTUNREACH)
        kvp_broker_worker_gone (self, session);
}

void
kvp_broker_workers_tick (kvp_broker_t *self)
{
    zlist_t *forget = NULL;
    kvp_session_t *session = zhashx_first (self->sessions);
    while (session) {
        if (kvp_session_state (session) == KVP_SESSION_READY)
            s_tick_ready (self, session);
        else
        if (kvp_session_expires (session) < self->now) {
            //  Not ready and quiet: nothing refers to it any more.
            if (!forget)
                forget = zlist_new ();
            if (forget)
                zlist_append (forget, (void *) zhashx_cursor (self->sessions));
        }
        session = zhashx_next (self->sessions);
    }
    kvp_replicas_tick (self);
    //  Keys point into the table: delete after the walk, each once.
    void *key;
    while (forget && (key = zlist_pop (forget)))
        zhashx_delete (self->sessions, key);
    zlist_destroy (&forget);
}

void
kvp_broker_workers_clear (kvp_broker_t *self)
{
    if (self->sessions)
        zhashx_purge (self->sessions);
}
