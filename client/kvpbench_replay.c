/*  kvpbench_replay.c - --replay: how fast the stored events read back.

    Learns N with ClusterStatus, then reads every partition's kept events
    with GetEvents, pages of --replay-limit, one request in flight per
    partition (all partitions at once, over one connection), up to the
    `last` each partition reported first. Every page is checked: events
    of that partition, in seq order, without gaps. The figure is events
    (and MB of reply bodies) per second of wall time.
*/

#include <inttypes.h>
#include "kvpbench.h"
#include "kvp_obj.h"
#include "kvp_pack.h"
#include "kvp_rc.h"

#define REPLY_WAIT_MS   10000   /* no reply this long: give up */

typedef struct {
    uint64_t rid;               /* request in flight; 0 when done */
    uint64_t next;              /* the seq to ask for */
    uint64_t until;             /* the partition's last at its first reply */
    bool started;               /* a page came back */
} s_part_t;

typedef struct {
    const bench_opts_t *opts;
    kvp_client_t *client;
    s_part_t *parts;
    uint32_t nparts;
    size_t open;                /* partitions still being read */
    uint64_t events, bytes, pages, errors;
} s_replay_t;

static uint32_t
s_partitions (kvp_client_t *client)
{
    kvp_client_begin (client, "ClusterStatus", 0);
    kvp_reply_t *reply = kvp_client_call (client, 5000);
    uint64_t nparts = 0;
    if (reply && kvp_reply_rc (reply) == KVP_RC_OK)
        kvp_obj_get_uint (kvp_reply_map (reply), "partitions", &nparts);
    kvp_reply_destroy (&reply);
    return nparts <= 65535? (uint32_t) nparts: 0;
}

static void
s_ask (s_replay_t *self, uint32_t part)
{
    msgpack_packer *pk = kvp_client_begin (self->client, "GetEvents", 3);
    kvp_pack_cstr (pk, "partition");
    msgpack_pack_uint32 (pk, part);
    kvp_pack_cstr (pk, "from");
    msgpack_pack_uint64 (pk, self->parts [part].next);
    kvp_pack_cstr (pk, "limit");
    msgpack_pack_uint32 (pk, (uint32_t) self->opts->replay_limit);
    if (kvp_client_send (self->client, &self->parts [part].rid) != 0)
        self->parts [part].rid = 0;
}

static void
s_done (s_replay_t *self, uint32_t part, bool error)
{
    self->parts [part].rid = 0;
    self->open--;
    self->errors += error;
}

//  Count a page's events; false if one is out of place.
static bool
s_count_page (s_replay_t *self, uint32_t part,
              const msgpack_object_array *events)
{
    s_part_t *p = &self->parts [part];
    for (uint32_t i = 0; i < events->size; i++) {
        uint64_t seq, in;
        if (!kvp_obj_get_uint (&events->ptr [i], "seq", &seq) || seq != p->next
        ||  !kvp_obj_get_uint (&events->ptr [i], "partition", &in)
        ||  in != part)
            return false;
        p->next++;
    }
    self->events += events->size;
    return true;
}

static void
s_on_page (s_replay_t *self, uint32_t part, const kvp_reply_t *reply)
{
    s_part_t *p = &self->parts [part];
    const msgpack_object *map = kvp_reply_map (reply);
    const msgpack_object_array *events = kvp_obj_get_array (map, "events");
    uint64_t last, first;
    if (!p->started && kvp_obj_get_uint (map, "first", &first))
        p->next = first;            //  from=1 while 1 is kept
    if (!p->started && kvp_obj_get_uint (map, "last", &last))
        p->until = last;
    p->started = true;
    size_t len;
    kvp_reply_body (reply, &len);
    self->bytes += len;
    self->pages++;
    if (!events || !s_count_page (self, part, events))
        s_done (self, part, true);
    else
    if (p->next > p->until || events->size == 0)
        s_done (self, part, p->next <= p->until);
    else
        s_ask (self, part);
}

static void
s_on_reply (s_replay_t *self, const kvp_reply_t *reply)
{
    uint64_t rid = kvp_reply_rid (reply), first;
    uint32_t part = 0;
    while (part < self->nparts && self->parts [part].rid != rid)
        part++;
    if (!rid || part == self->nparts)
        return;
    int rc = kvp_reply_rc (reply);
    if (rc == KVP_RC_OK)
        s_on_page (self, part, reply);
    else
    if (rc == KVP_RC_INVALID_PARAM && !self->parts [part].started
    &&  kvp_obj_get_uint (kvp_reply_map (reply), "first", &first)) {
        self->parts [part].next = first;        //  1 is past retention
        s_ask (self, part);
    }
    else {
        fprintf (stderr, "kvpbench: GetEvents of partition %u: %d %s\n",
                 part, rc, kvp_reply_error (reply));
        s_done (self, part, true);
    }
}

static void
s_report (s_replay_t *self, double seconds, FILE *out)
{
    double rate = seconds > 0? (double) self->events / seconds: 0;
    double mbps = seconds > 0? (double) self->bytes / 1e6 / seconds: 0;
    if (self->opts->json)
        fprintf (out, "{\"replay_partitions\":%u,\"replay_events\":%" PRIu64
                 ",\"replay_bytes\":%" PRIu64 ",\"replay_pages\":%" PRIu64
                 ",\"replay_limit\":%d,\"replay_s\":%.3f,"
                 "\"replay_events_per_s\":%.1f,\"replay_mb_per_s\":%.1f,"
                 "\"replay_errors\":%" PRIu64 "}\n", self->nparts,
                 self->events, self->bytes, self->pages,
                 self->opts->replay_limit, seconds, rate, mbps, self->errors);
    else
        fprintf (out, "replay: %" PRIu64 " events (%.1f MB in %" PRIu64
                 " pages of up to %d) from %u partitions in %.2f s: %.0f "
                 "events/s, %.1f MB/s, %" PRIu64 " errors\n", self->events,
                 (double) self->bytes / 1e6, self->pages,
                 self->opts->replay_limit, self->nparts, seconds, rate, mbps,
                 self->errors);
}

int
bench_replay_run (const bench_opts_t *opts, FILE *out)
{
    s_replay_t self = { .opts = opts };
    self.client = kvp_client_new_curve (opts->broker, opts->curve);
    self.nparts = self.client? s_partitions (self.client): 0;
    if (!self.nparts) {
        fprintf (stderr, "kvpbench: no ClusterStatus from %s\n", opts->broker);
        kvp_client_destroy (&self.client);
        return BENCH_NO_BROKER;
    }
    self.parts = (s_part_t *) calloc (self.nparts, sizeof (s_part_t));
    int64_t start = bench_now_us ();
    for (uint32_t part = 0; self.parts && part < self.nparts; part++) {
        self.parts [part].next = 1;
        s_ask (&self, part);
        self.open += self.parts [part].rid != 0;
    }
    kvp_reply_t *reply;
    while (self.open > 0 && !zsys_interrupted
    &&     (reply = kvp_client_recv (self.client, REPLY_WAIT_MS))) {
        s_on_reply (&self, reply);
        kvp_reply_destroy (&reply);
    }
    self.errors += self.open;       //  partitions that never finished
    s_report (&self, (double) (bench_now_us () - start) / 1e6, out);
    free (self.parts);
    kvp_client_destroy (&self.client);
    return BENCH_OK;
}
