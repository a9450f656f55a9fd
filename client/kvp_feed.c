/*  kvp_feed.c - the gap-free subscriber. See kvp_feed.h.

    One loop, driven by kvp_feed_recv: hand on what the merge has ready;
    when it has nothing, send the requests that are due (ClusterStatus
    until N is known; per partition a GetEvents to learn "now", to fill a
    gap, to read the next page, or to look after a quiet spell), then
    wait for the live stream, a reply or the next timer. The live stream
    is read only while nothing is ready, so a slow caller leaves events
    in the socket's queue (which then sheds them) rather than in memory;
    replies bring at most S_INFLIGHT pages at a time.
*/
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "kvp_feed.h"
#include "kvp_client.h"
#include "kvp_merge.h"
#include "kvp_obj.h"
#include "kvp_pack.h"
#include "kvp_poll.h"
#include "kvp_guid.h"
#include "kvp_rc.h"

#define S_TIMEOUT_MS    3000        /* default reply wait */
#define S_LIMIT         1000        /* default page */
#define S_BACKOFF_MIN   100         /* ms, after "try again" or no reply */
#define S_BACKOFF_MAX   5000
#define S_PROBE_MIN     1000        /* ms of quiet before a partition is
                                       asked */
#define S_PROBE_MAX     16000
#define S_INFLIGHT      8           /* GetEvents in flight at once */
#define S_RING          1024        /* rid -> partition, > S_INFLIGHT + 1 */
#define S_LIVE_BATCH    256         /* live messages per wake-up */
#define S_WAIT_MAX      1000        /* longest single wait, ms */

//  One followed partition.
typedef struct {
    uint32_t part;
    uint64_t rid;               /* GetEvents in flight; 0 for none */
    int64_t sent_at;            /* when it went, mono ms */
    int64_t retry_at;           /* not before, mono ms */
    int backoff;                /* next backoff, ms */
    int64_t probe_at;           /* ask even without a known gap, mono ms */
    int probe;                  /* the quiet interval now, ms */
    bool more;                  /* the last page left events to read */
} s_track_t;

typedef struct {
    uint64_t rid;
    s_track_t *track;
} s_slot_t;

struct _kvp_feed_t {
    kvp_feed_config_t config;   /* strings below */
    char *broker, *events;
    bool has_system;            /* following one system */
    kvp_guid_t system;          /* its GUID */
    kvp_sub_t *sub;             /* the live stream */
    kvp_client_t *client;       /* requests */
    kvp_merge_t *merge;         /* order and repeats */
    uint32_t nparts;            /* N; 0 until known */
    uint64_t status_rid;        /* ClusterStatus in flight */
    int64_t status_at;          /* when sent, or not before (retry) */
    int status_backoff;
    s_track_t *tracks;          /* followed partitions, ascending */
    size_t ntracks;
    size_t cursor;              /* where the next scheduling round starts */
    size_t inflight;            /* GetEvents in flight */
    s_slot_t ring [S_RING];     /* rid -> track */
    uint64_t *saved;            /* positions given or loaded: seq + 1 */
    kvp_reply_t *event;         /* the event last handed out */
    msgpack_sbuffer pack;       /* a replayed event, packed again */
    kvp_feed_stats_t counts;    /* requests, timeouts, retries */
    bool started;               /* the first recv has run */
    bool failed;                /* cannot go on (error says why) */
    char error [256];
};

static int64_t
s_now (void)
{
    return zclock_mono ();
}

static int
s_error (kvp_feed_t *self, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->error, sizeof self->error, format, args);
    va_end (args);
    return -1;
}

//  --- life cycle -------------------------------------------------------------

static bool
s_config (kvp_feed_t *self, const kvp_feed_config_t *config)
{
    self->config = *config;
    self->config.system = NULL;
    if (self->config.timeout_ms <= 0)
        self->config.timeout_ms = S_TIMEOUT_MS;
    if (self->config.limit == 0 || self->config.limit > 10000)
        self->config.limit = S_LIMIT;
    self->broker = strdup (config->broker);
    self->events = strdup (config->events);
    self->has_system = config->system != NULL;
    if (self->has_system
    &&  !kvp_guid_parse_target (&self->system, config->system,
                                strlen (config->system))) {
        zsys_error ("feed: not a GUID or WMI path: %s", config->system);
        return false;
    }
    return self->broker && self->events;
}

kvp_feed_t *
kvp_feed_new (const kvp_feed_config_t *config)
{
    assert (config && config->broker && config->events);
    kvp_feed_t *self = (kvp_feed_t *) zmalloc (sizeof (kvp_feed_t));
    if (!self)
        return NULL;
    msgpack_sbuffer_init (&self->pack);
    self->status_backoff = S_BACKOFF_MIN;
    bool ok = s_config (self, config);
    char topic [8 + KVP_GUID_LEN] = "job/";
    if (ok && self->has_system)
        snprintf (topic, sizeof topic, "job/%s", self->system.text);
    self->saved = ok? (uint64_t *) calloc (KVP_MERGE_PARTS, sizeof (uint64_t))
                    : NULL;
    self->merge = self->saved? kvp_merge_new (config->held_max): NULL;
    self->client = self->merge? kvp_client_new_curve (self->broker,
                                                      config->curve): NULL;
    self->sub = self->client? kvp_sub_new_curve (self->events, topic,
                                                 config->rcvhwm,
                                                 config->curve): NULL;
    if (!self->sub)
        kvp_feed_destroy (&self);
    return self;
}

void
kvp_feed_destroy (kvp_feed_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_feed_t *self = *self_p;
    kvp_sub_destroy (&self->sub);
    kvp_client_destroy (&self->client);
    kvp_merge_destroy (&self->merge);
    kvp_reply_destroy (&self->event);
    msgpack_sbuffer_destroy (&self->pack);
    free (self->tracks);
    free (self->saved);
    free (self->broker);
    free (self->events);
    free (self);
    *self_p = NULL;
}

//  --- positions --------------------------------------------------------------

int
kvp_feed_set_position (kvp_feed_t *self, uint32_t part, uint64_t last)
{
    if (self->started || part >= KVP_MERGE_PARTS || last == UINT64_MAX)
        return s_error (self, "position of partition %u: %s", part,
                        self->started? "the feed has started": "out of range");
    self->saved [part] = last + 1;
    return 0;
}

//  One line of a position file; false if malformed.
static bool
s_load_line (kvp_feed_t *self, const char *line)
{
    unsigned long long part, seq;
    char tail;
    while (*line == ' ' || *line == '\t')
        line++;
    if (*line == '#' || *line == '\n' || *line == 0)
        return true;
    if (sscanf (line, "%llu %llu %c", &part, &seq, &tail) != 2
    ||  strchr (line, '-'))
        return false;
    return part < KVP_MERGE_PARTS
        && kvp_feed_set_position (self, (uint32_t) part, seq) == 0;
}

int
kvp_feed_load (kvp_feed_t *self, const char *path, bool *found)
{
    FILE *file = fopen (path, "r");
    if (found)
        *found = file != NULL;
    if (!file)
        return errno == ENOENT? 0: s_error (self, "%s: %s", path,
                                            strerror (errno));
    char line [128];
    int number = 0, rc = 0;
    while (rc == 0 && fgets (line, sizeof line, file)) {
        number++;
        if (!s_load_line (self, line))
            rc = s_error (self, "%s:%d: not \"PARTITION SEQ\"", path, number);
    }
    fclose (file);
    return rc;
}

bool
kvp_feed_position (kvp_feed_t *self, uint32_t part, uint64_t *last)
{
    return kvp_merge_position (self->merge, part, last);
}

//  The position to save for `part`: the merge's, else the one given.
static bool
s_saved (kvp_feed_t *self, uint32_t part, uint64_t *last)
{
    if (kvp_merge_position (self->merge, part, last))
        return true;
    *last = self->saved [part] - 1;
    return self->saved [part] != 0;
}

int
kvp_feed_save (kvp_feed_t *self, const char *path)
{
    char temp [4096];
    snprintf (temp, sizeof temp, "%s.tmp", path);
    FILE *file = fopen (temp, "w");
    if (!file)
        return s_error (self, "%s: %s", temp, strerror (errno));
    fputs ("# kvpbus event position: PARTITION LAST-SEQ-SEEN\n", file);
    for (uint32_t part = 0; part < KVP_MERGE_PARTS; part++) {
        uint64_t last;
        if (s_saved (self, part, &last))
            fprintf (file, "%u %" PRIu64 "\n", part, last);
    }
    if (fclose (file) != 0 || rename (temp, path) != 0) {
        s_error (self, "%s: %s", path, strerror (errno));
        remove (temp);
        return -1;
    }
    return 0;
}

//  --- following partitions ---------------------------------------------------

static s_track_t *
s_track_of (kvp_feed_t *self, uint32_t part)
{
    size_t lo = 0, hi = self->ntracks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->tracks [mid].part == part)
            return &self->tracks [mid];
        if (self->tracks [mid].part < part)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

//  Start following `part` from its saved position, the start or now.
static int
s_follow (kvp_feed_t *self, uint32_t part)
{
    s_track_t *t = &self->tracks [self->ntracks++];
    *t = (s_track_t) { .part = part, .backoff = S_BACKOFF_MIN,
                       .probe = S_PROBE_MIN,
                       .probe_at = s_now () + S_PROBE_MIN };
    uint64_t saved = self->saved [part];
    kvp_merge_from_t from = saved? KVP_MERGE_AT
                          : self->config.from_start? KVP_MERGE_START
                          : KVP_MERGE_NOW;
    //  From a position or the start: read what follows it at once.
    t->more = from != KVP_MERGE_NOW;
    return kvp_merge_track (self->merge, part, from, saved? saved - 1: 0);
}

//  N is known: which partitions to follow.
static void
s_on_partitions (kvp_feed_t *self, uint64_t nparts)
{
    int wanted = self->config.partition;
    if (nparts == 0 || nparts > KVP_MERGE_PARTS) {
        self->failed = true;
        s_error (self, "the broker says it has %" PRIu64 " partitions", nparts);
        return;
    }
    if (wanted >= 0 && (uint64_t) wanted >= nparts) {
        self->failed = true;
        s_error (self, "partition %d: the cluster has %" PRIu64 " partitions "
                 "(0 to %" PRIu64 ")", wanted, nparts, nparts - 1);
        return;
    }
    self->nparts = (uint32_t) nparts;
    bool all = wanted < 0 && !self->has_system;
    self->tracks = (s_track_t *) calloc (all? nparts: 1, sizeof (s_track_t));
    uint32_t only = self->has_system
                  ? kvp_guid_partition (&self->system, self->nparts)
                  : (uint32_t) wanted;
    for (uint32_t part = 0; self->tracks && part < self->nparts; part++)
        if ((all || part == only) && s_follow (self, part) != 0)
            break;
    if (!self->tracks || self->ntracks != (all? nparts: 1)) {
        self->failed = true;
        s_error (self, "out of memory");
    }
}

//  --- requests ---------------------------------------------------------------

//  Send the body begun on the client; its rid, or 0 if it could not go.
static uint64_t
s_send (kvp_feed_t *self)
{
    uint64_t rid = 0;
    if (kvp_client_send (self->client, &rid) != 0)
        return 0;
    self->counts.requests++;
    return rid;
}

static void
s_ask_status (kvp_feed_t *self, int64_t now)
{
    kvp_client_begin (self->client, "ClusterStatus", 0);
    self->status_rid = s_send (self);
    self->status_at = now;
}

//  GetEvents of t's partition from `from`.
static void
s_ask (kvp_feed_t *self, s_track_t *t, uint64_t from, int64_t now)
{
    msgpack_packer *pk = kvp_client_begin (self->client, "GetEvents", 3);
    kvp_pack_cstr (pk, "partition");
    msgpack_pack_uint32 (pk, t->part);
    kvp_pack_cstr (pk, "from");
    msgpack_pack_uint64 (pk, from);
    kvp_pack_cstr (pk, "limit");
    msgpack_pack_uint32 (pk, self->config.limit);
    t->rid = s_send (self);
    t->sent_at = now;
    if (!t->rid) {
        t->retry_at = now + S_BACKOFF_MAX;
        return;
    }
    self->ring [t->rid % S_RING] = (s_slot_t) { t->rid, t };
    self->inflight++;
}

//  Whether t's partition has something to ask for now.
static bool
s_due (kvp_feed_t *self, s_track_t *t, int64_t now)
{
    if (t->rid || now < t->retry_at)
        return false;
    if (!kvp_merge_is_known (self->merge, t->part))
        return true;            //  learn "now"
    return t->more || now >= t->probe_at
        || kvp_merge_gap (self->merge, t->part);
}

//  Send the GetEvents that are due, round robin, at most S_INFLIGHT.
static void
s_schedule (kvp_feed_t *self, int64_t now)
{
    size_t start = self->cursor;
    for (size_t n = 0; n < self->ntracks && self->inflight < S_INFLIGHT; n++) {
        size_t index = (start + n) % self->ntracks;
        s_track_t *t = &self->tracks [index];
        if (!s_due (self, t, now))
            continue;
        bool known = kvp_merge_is_known (self->merge, t->part);
        //  From past any seq: the reply's `last` is "now".
        s_ask (self, t, known? kvp_merge_next (self->merge, t->part)
                             : UINT64_MAX, now);
        self->cursor = (index + 1) % self->ntracks;
    }
}

//  When t's partition will want attention next (mono ms).
static int64_t
s_track_wake (kvp_feed_t *self, const s_track_t *t)
{
    if (t->rid)
        return t->sent_at + self->config.timeout_ms;
    bool pressing = t->more || !kvp_merge_is_known (self->merge, t->part)
                 || kvp_merge_gap (self->merge, t->part);
    return pressing || t->retry_at > t->probe_at? t->retry_at: t->probe_at;
}

//  A request of t's came back with "try again", or not at all.
static void
s_backoff (s_track_t *t, int64_t now)
{
    t->retry_at = now + t->backoff;
    t->backoff = t->backoff * 2 > S_BACKOFF_MAX? S_BACKOFF_MAX: t->backoff * 2;
}

//  Give up on requests not answered in time (their late replies are
//  dropped: the rid no longer matches).
static void
s_expire (kvp_feed_t *self, int64_t now)
{
    int64_t timeout = self->config.timeout_ms;
    if (self->status_rid && now - self->status_at >= timeout) {
        self->status_rid = 0;
        self->counts.timeouts++;
        self->status_at = now + self->status_backoff;
        self->status_backoff = self->status_backoff * 2 > S_BACKOFF_MAX
                             ? S_BACKOFF_MAX: self->status_backoff * 2;
    }
    for (size_t i = 0; i < self->ntracks; i++) {
        s_track_t *t = &self->tracks [i];
        if (t->rid && now - t->sent_at >= timeout) {
            t->rid = 0;
            self->inflight--;
            self->counts.timeouts++;
            s_backoff (t, now);
        }
    }
}

//  --- replies ----------------------------------------------------------------

static void
s_on_status (kvp_feed_t *self, const kvp_reply_t *reply, int64_t now)
{
    uint64_t nparts = 0;
    self->status_rid = 0;
    if (kvp_reply_rc (reply) == KVP_RC_OK
    &&  kvp_obj_get_uint (kvp_reply_map (reply), "partitions", &nparts)) {
        s_on_partitions (self, nparts);
        return;
    }
    self->counts.retries++;
    self->status_at = now + self->status_backoff;
    self->status_backoff = self->status_backoff * 2 > S_BACKOFF_MAX
                         ? S_BACKOFF_MAX: self->status_backoff * 2;
}

//  Offer one replayed event of t's partition; false if it is not one.
static bool
s_offer_replayed (kvp_feed_t *self, s_track_t *t, const msgpack_object *ev)
{
    uint64_t part, seq;
    if (!kvp_obj_get_uint (ev, "partition", &part) || part != t->part
    ||  !kvp_obj_get_uint (ev, "seq", &seq))
        return false;
    int flags = KVP_MERGE_REPLAYED;
    if (self->has_system) {
        size_t len;
        const char *target = kvp_obj_get_str (ev, "TargetSystem", &len);
        if (!target || len != KVP_GUID_LEN
        ||  memcmp (target, self->system.text, KVP_GUID_LEN) != 0)
            flags |= KVP_MERGE_HIDDEN;
    }
    msgpack_packer pk;
    kvp_pack_start (&pk, &self->pack);
    msgpack_pack_object (&pk, *ev);
    kvp_merge_offer (self->merge, t->part, seq, self->pack.data,
                     self->pack.size, flags);
    return true;
}

//  A page of t's partition: its events, then what to ask next.
static void
s_on_page (kvp_feed_t *self, s_track_t *t, const kvp_reply_t *reply,
           int64_t now)
{
    const msgpack_object *map = kvp_reply_map (reply);
    const msgpack_object_array *events = kvp_obj_get_array (map, "events");
    uint64_t next, last;
    bool ok = events && kvp_obj_get_uint (map, "next", &next)
           && kvp_obj_get_uint (map, "last", &last);
    if (ok && !kvp_merge_is_known (self->merge, t->part)) {
        kvp_merge_known (self->merge, t->part, last);
        return;
    }
    for (uint32_t i = 0; ok && i < events->size; i++)
        ok = s_offer_replayed (self, t, &events->ptr [i]);
    t->more = ok && next <= last;
    if (!ok || (t->more && events->size == 0)) {
        zsys_warning ("feed: malformed GetEvents reply for partition %u",
                      t->part);
        s_backoff (t, now);
        return;
    }
    t->backoff = S_BACKOFF_MIN;
    if (!t->more && !kvp_merge_gap (self->merge, t->part)) {
        t->probe_at = now + t->probe;   //  caught up: quiet from here
        t->probe = t->probe * 2 > S_PROBE_MAX? S_PROBE_MAX: t->probe * 2;
    }
}

static void
s_on_events (kvp_feed_t *self, s_track_t *t, const kvp_reply_t *reply,
             int64_t now)
{
    int rc = kvp_reply_rc (reply);
    uint64_t first;
    if (rc == KVP_RC_OK)
        s_on_page (self, t, reply, now);
    else
    if (rc == KVP_RC_INVALID_PARAM
    &&  kvp_obj_get_uint (kvp_reply_map (reply), "first", &first)) {
        kvp_merge_gone (self->merge, t->part, first);     //  past retention
        t->more = true;
    }
    else {
        if (rc != KVP_RC_NOT_AVAILABLE && rc != KVP_RC_TIMEOUT
        &&  rc != KVP_RC_IN_USE && rc != KVP_RC_STATUS_UNKNOWN)
            zsys_warning ("feed: GetEvents of partition %u: %d %s", t->part,
                          rc, kvp_reply_error (reply));
        self->counts.retries++;
        s_backoff (t, now);
    }
}

static void
s_on_reply (kvp_feed_t *self, const kvp_reply_t *reply, int64_t now)
{
    uint64_t rid = kvp_reply_rid (reply);
    if (rid && rid == self->status_rid) {
        s_on_status (self, reply, now);
        return;
    }
    s_slot_t *slot = &self->ring [rid % S_RING];
    if (!rid || slot->rid != rid || slot->track->rid != rid)
        return;                 //  late: its request was given up
    s_track_t *t = slot->track;
    t->rid = 0;
    self->inflight--;
    s_on_events (self, t, reply, now);
}

static void
s_take_replies (kvp_feed_t *self)
{
    kvp_reply_t *reply;
    while ((reply = kvp_client_recv (self->client, 0))) {
        s_on_reply (self, reply, s_now ());
        kvp_reply_destroy (&reply);
    }
}

//  --- the live stream --------------------------------------------------------

//  Offer one live event; false when none was waiting.
static bool
s_take_live (kvp_feed_t *self, int64_t now)
{
    const char *topic;
    const msgpack_object *event;
    if (kvp_sub_recv (self->sub, 0, &topic, &event) != 1)
        return false;
    uint64_t part, seq;
    size_t len;
    const void *body = kvp_sub_body (self->sub, &len);
    if (!kvp_obj_get_uint (event, "partition", &part) || part >= self->nparts
    ||  !kvp_obj_get_uint (event, "seq", &seq))
        return true;            //  before N is known, or not an event
    s_track_t *t = s_track_of (self, (uint32_t) part);
    if (!t)
        return true;
    kvp_merge_offer (self->merge, t->part, seq, body, len, 0);
    t->probe = S_PROBE_MIN;     //  busy: a gap will show in the stream
    t->probe_at = now + S_PROBE_MIN;
    return true;
}

//  --- the loop ---------------------------------------------------------------

//  Hand on the next ready item; false when none is.
static bool
s_pop (kvp_feed_t *self, kvp_feed_msg_t *msg)
{
    kvp_merge_item_t item;
    while (kvp_merge_pop (self->merge, &item)) {
        *msg = (kvp_feed_msg_t) { item.kind == KVP_MERGE_LOST
            ? KVP_FEED_LOST: KVP_FEED_EVENT, item.partition, item.seq,
            item.count, item.replayed, NULL, item.body, item.len };
        if (item.kind == KVP_MERGE_LOST)
            return true;
        kvp_reply_destroy (&self->event);
        self->event = kvp_reply_new (item.body, item.len);
        if (!self->event)
            continue;           //  checked before: cannot happen
        msg->event = kvp_reply_map (self->event);
        return true;
    }
    return false;
}

//  Send what is due; when to look again (mono ms).
static int64_t
s_work (kvp_feed_t *self, int64_t now)
{
    s_take_replies (self);
    s_expire (self, now);
    if (!self->nparts && !self->status_rid && now >= self->status_at)
        s_ask_status (self, now);
    s_schedule (self, now);
    int64_t wake = now + S_WAIT_MAX;
    if (!self->nparts)
        wake = self->status_rid? self->status_at + self->config.timeout_ms
                               : self->status_at;
    //  With every slot taken, only a reply or a time-out frees one.
    bool full = self->inflight >= S_INFLIGHT;
    for (size_t i = 0; i < self->ntracks; i++) {
        const s_track_t *t = &self->tracks [i];
        int64_t at = s_track_wake (self, t);
        if ((t->rid || !full) && at < wake)
            wake = at;
    }
    return wake;
}

//  Wait for input until `until` at most; take what came.
static int
s_wait (kvp_feed_t *self, int64_t until, int64_t now)
{
    zmq_pollitem_t items [] = {
        { zsock_resolve (kvp_sub_sock (self->sub)), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (kvp_client_sock (self->client)), 0, ZMQ_POLLIN, 0 }
    };
    long wait = until > now? (long) (until - now): 0;
    if (zmq_poll (items, 2, wait) < 0)
        return errno == EINTR || errno == ETERM? -1: 0;
    if (items [1].revents & ZMQ_POLLIN)
        s_take_replies (self);
    for (int n = 0; n < S_LIVE_BATCH && (items [0].revents & ZMQ_POLLIN)
                    && s_take_live (self, s_now ()); n++)
        ;
    return 0;
}

int
kvp_feed_recv (kvp_feed_t *self, int timeout_ms, kvp_feed_msg_t *msg)
{
    self->started = true;
    int64_t deadline = timeout_ms < 0? INT64_MAX: s_now () + timeout_ms;
    bool waited = false;
    while (!self->failed && !zsys_interrupted) {
        if (s_pop (self, msg))
            return 1;
        int64_t now = s_now ();
        if (waited && now >= deadline)
            return 0;
        int64_t wake = s_work (self, now);
        if (s_pop (self, msg))
            return 1;
        if (s_wait (self, wake < deadline? wake: deadline, now) < 0)
            return -1;
        waited = true;
    }
    return -1;
}

bool
kvp_feed_ready (kvp_feed_t *self)
{
    for (size_t i = 0; i < self->ntracks; i++)
        if (!kvp_merge_is_known (self->merge, self->tracks [i].part))
            return false;
    return self->nparts > 0;
}

void
kvp_feed_catch_up (kvp_feed_t *self)
{
    int64_t now = s_now ();
    for (size_t i = 0; i < self->ntracks; i++) {
        self->tracks [i].probe_at = now;
        self->tracks [i].probe = S_PROBE_MIN;
    }
}

uint32_t
kvp_feed_partitions (kvp_feed_t *self)
{
    return self->nparts;
}

void
kvp_feed_stats (kvp_feed_t *self, kvp_feed_stats_t *stats)
{
    kvp_merge_stats_t merged;
    kvp_merge_stats (self->merge, &merged);
    *stats = self->counts;
    stats->delivered = merged.delivered;
    stats->replayed = merged.replayed;
    stats->repeats = merged.repeats;
    stats->lost = merged.lost;
    stats->shed = merged.shed;
    stats->skipped = merged.skipped;
}

const char *
kvp_feed_error (kvp_feed_t *self)
{
    return self->error;
}
