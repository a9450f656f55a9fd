/*  kvpctl_watch.c - the event commands: watch, on the gap-free subscriber
    (kvp_feed: every event once, in seq order per partition, gaps read
    back, losses reported), and events, one GetEvents read. */

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kvpctl.h"
#include "kvp_feed.h"
#include "kvp_guid.h"
#include "kvp_json.h"
#include "kvp_obj.h"
#include "kvp_pack.h"
#include "kvp_rc.h"

#define SAVE_EVERY_MS   200     /* --position: at most this often */

/* --- watch ---------------------------------------------------------------- */

typedef struct {
    ctl_t *ctl;
    kvp_feed_t *feed;
    const char *position;       /* --position FILE, or NULL */
    uint64_t count;             /* --count: events wanted; 0 = no limit */
    uint64_t seen;              /* events printed */
    int64_t deadline;           /* --seconds, mono ms; -1 = none */
    int64_t saved_at;           /* last save, mono ms */
    bool dirty;                 /* printed since the last save */
    bool saved_ready;           /* saved once every position was known */
} s_watch_t;

static bool
s_watch_seconds (ctl_t *ctl, double *seconds)
{
    const char *text = ctl->opt [OPT_SECONDS];
    if (!text)
        return true;
    char *end;
    *seconds = strtod (text, &end);
    if (end == text || *end || !(*seconds >= 0) || *seconds > 1e6) {
        ctl_usage_error ("--seconds: not a number of seconds: %s", text);
        return false;
    }
    return true;
}

//  What to follow: one system (TARGET), one partition or everything.
static bool
s_watch_config (ctl_t *ctl, kvp_feed_config_t *config)
{
    uint64_t partition = 0;
    if (ctl->nargs && ctl->opt [OPT_PARTITION]) {
        ctl_usage_error ("watch: give TARGET or --partition, not both");
        return false;
    }
    if (!ctl_opt_uint (ctl, OPT_PARTITION, 65534, &partition))
        return false;
    kvp_guid_t guid;
    if (ctl->nargs && !kvp_guid_parse_target (&guid, ctl->args [0],
                                              strlen (ctl->args [0]))) {
        ctl_usage_error ("watch: not a GUID: %s", ctl->args [0]);
        return false;
    }
    *config = (kvp_feed_config_t) {
        .broker = ctl->broker, .events = ctl->events,
        .system = ctl->nargs? ctl->args [0]: NULL,
        .partition = ctl->opt [OPT_PARTITION]? (int) partition: -1,
        .from_start = ctl->opt [OPT_FROM_START] != NULL,
        .timeout_ms = ctl->timeout_ms < 3000? ctl->timeout_ms: 3000,
        .curve = ctl->curve
    };
    return true;
}

static void
s_watch_print (s_watch_t *w, const kvp_feed_msg_t *msg)
{
    if (msg->kind == KVP_FEED_LOST) {
        ctl_print_lost (msg->partition, msg->seq, msg->count, w->ctl->json);
        return;
    }
    if (w->ctl->json) {
        kvp_json_write (stdout, msg->event);
        putchar ('\n');
    }
    else
        ctl_print_event (msg->event);
    w->seen++;
}

//  Keep the position in --position FILE: once every partition has one
//  (so that a watch stopped before any event still resumes from here),
//  then at most every SAVE_EVERY_MS while events come, and at the end.
static void
s_watch_save (s_watch_t *w, bool force)
{
    int64_t now = zclock_mono ();
    bool ready = !w->saved_ready && kvp_feed_ready (w->feed);
    if (!w->position || !(force || ready
                          || (w->dirty && now - w->saved_at >= SAVE_EVERY_MS)))
        return;
    if (kvp_feed_save (w->feed, w->position) != 0)
        fprintf (stderr, "kvpctl: watch: %s\n", kvp_feed_error (w->feed));
    w->saved_ready |= ready;
    w->saved_at = now;
    w->dirty = false;
}

//  Print events until --count or --seconds; false if the feed failed.
static bool
s_watch_loop (s_watch_t *w)
{
    while (!zsys_interrupted && (w->count == 0 || w->seen < w->count)) {
        int timeout = SAVE_EVERY_MS;
        if (w->deadline >= 0) {
            int64_t left = w->deadline - zclock_mono ();
            if (left <= 0)
                break;
            timeout = left < timeout? (int) left: timeout;
        }
        kvp_feed_msg_t msg;
        int rc = kvp_feed_recv (w->feed, timeout, &msg);
        if (rc < 0)
            return zsys_interrupted != 0;
        if (rc > 0) {
            s_watch_print (w, &msg);
            w->dirty = true;
        }
        s_watch_save (w, false);
    }
    return true;
}

//  Start the feed, from --position FILE when it exists.
static kvp_feed_t *
s_watch_open (ctl_t *ctl, const kvp_feed_config_t *config)
{
    kvp_feed_t *feed = kvp_feed_new (config);
    if (!feed) {
        ctl_usage_error ("watch: cannot use endpoints %s and %s",
                         config->broker, config->events);
        return NULL;
    }
    const char *position = ctl->opt [OPT_POSITION];
    if (position && kvp_feed_load (feed, position, NULL) != 0) {
        ctl_usage_error ("watch: %s", kvp_feed_error (feed));
        kvp_feed_destroy (&feed);
    }
    return feed;
}

int
ctl_watch (ctl_t *ctl)
{
    kvp_feed_config_t config;
    double seconds = -1;
    s_watch_t w = { .ctl = ctl, .position = ctl->opt [OPT_POSITION],
                    .deadline = -1 };
    if (!s_watch_config (ctl, &config)
    ||  !ctl_opt_uint (ctl, OPT_COUNT, UINT64_MAX, &w.count)
    ||  !s_watch_seconds (ctl, &seconds))
        return CTL_USAGE;
    w.feed = s_watch_open (ctl, &config);
    if (!w.feed)
        return CTL_USAGE;
    //  Lines go to pipes as they come, not when a buffer fills.
    setvbuf (stdout, NULL, _IOLBF, 0);
    if (seconds >= 0)
        w.deadline = zclock_mono () + (int64_t) llround (seconds * 1000);
    bool ok = s_watch_loop (&w);
    if (!ok)
        fprintf (stderr, "error: watch: %s\n", kvp_feed_error (w.feed));
    s_watch_save (&w, true);
    kvp_feed_destroy (&w.feed);
    if (!ok)
        return CTL_FAILED;
    if (w.count && w.seen < w.count && !zsys_interrupted) {
        fprintf (stderr, "error: %" PRIu64 " of %" PRIu64 " events within "
                 "%s s\n", w.seen, w.count, ctl->opt [OPT_SECONDS]);
        return CTL_NO_REPLY;
    }
    return CTL_OK;
}

/* --- events --------------------------------------------------------------- */

//  The text of a GetEvents reply: an event line each, then where it ends.
static void
s_print_events (const kvp_reply_t *reply)
{
    const msgpack_object *map = kvp_reply_map (reply);
    const msgpack_object_array *events = kvp_obj_get_array (map, "events");
    for (uint32_t i = 0; events && i < events->size; i++)
        ctl_print_event (&events->ptr [i]);
    uint64_t next = 0, first = 0, last = 0;
    kvp_obj_get_uint (map, "next", &next);
    kvp_obj_get_uint (map, "first", &first);
    kvp_obj_get_uint (map, "last", &last);
    printf ("next %" PRIu64 " (kept: first %" PRIu64 ", last %" PRIu64 ")\n",
            next, first, last);
}

static kvp_reply_t *
s_get_events (ctl_t *ctl, uint64_t partition, uint64_t from, bool limit,
              uint64_t count)
{
    msgpack_packer *pk = kvp_client_begin (ctl->client, "GetEvents",
                                           limit? 3: 2);
    kvp_pack_cstr (pk, "partition");
    msgpack_pack_uint64 (pk, partition);
    kvp_pack_cstr (pk, "from");
    msgpack_pack_uint64 (pk, from);
    if (limit) {
        kvp_pack_cstr (pk, "limit");
        msgpack_pack_uint64 (pk, count);
    }
    return kvp_client_call (ctl->client, ctl->timeout_ms);
}

int
ctl_events (ctl_t *ctl)
{
    uint64_t partition, from = 1, limit = 0;
    char *end;
    partition = strtoull (ctl->args [0], &end, 10);
    if (end == ctl->args [0] || *end || ctl->args [0][0] == '-')
        return ctl_usage_error ("events: not a partition: %s", ctl->args [0]);
    if (!ctl_opt_uint (ctl, OPT_FROM, UINT64_MAX, &from)
    ||  !ctl_opt_uint (ctl, OPT_LIMIT, UINT64_MAX, &limit))
        return CTL_USAGE;
    bool has_limit = ctl->opt [OPT_LIMIT] != NULL;
    kvp_reply_t *reply = s_get_events (ctl, partition, from, has_limit, limit);
    //  Without --from: from the first kept, whatever retention took.
    uint64_t first;
    if (reply && !ctl->opt [OPT_FROM]
    &&  kvp_reply_rc (reply) == KVP_RC_INVALID_PARAM
    &&  kvp_obj_get_uint (kvp_reply_map (reply), "first", &first)) {
        kvp_reply_destroy (&reply);
        reply = s_get_events (ctl, partition, first, has_limit, limit);
    }
    return ctl_finish (ctl, &reply, s_print_events, -1);
}
