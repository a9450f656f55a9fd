/*  kvp_guest.c - one system's Source 0 items, followed into the pool file. */
#include "kvp_guest.h"
#include "kvp_pool.h"

#include <czmq.h>
#include <string.h>
#include "kvp_client.h"
#include "kvp_feed.h"
#include "kvp_guid.h"
#include "kvp_obj.h"
#include "kvp_pager.h"
#include "kvp_rc.h"

#define S_RETRY_MS      1000    /* a failed read or write is tried again */
#define S_BATCH_MAX     1024    /* events applied before the file is written */

struct _kvp_guest_t {
    kvp_guest_config_t config;  /* as given (strings borrowed) */
    kvp_guid_t guid;            /* the system */
    kvp_client_t *client;       /* GetKvpItems */
    kvp_feed_t *feed;           /* the system's events */
    kvp_pool_t *pool;           /* the pool file */
    int64_t resync_at;          /* mono ms of the next snapshot */
    bool stale;                 /* memory is not a whole state: no write */
    bool moved;                 /* events handed on since the last save */
};

kvp_guest_t *
kvp_guest_new (const kvp_guest_config_t *config)
{
    kvp_guest_t *self = (kvp_guest_t *) zmalloc (sizeof (kvp_guest_t));
    self->config = *config;
    self->stale = true;         //  until the first snapshot
    if (!kvp_guid_parse_target (&self->guid, config->system,
                                strlen (config->system))) {
        zsys_error ("not a GUID or WMI path: %s", config->system);
        kvp_guest_destroy (&self);
        return NULL;
    }
    kvp_feed_config_t feed = { .broker = config->broker,
        .events = config->events, .system = self->guid.text,
        .partition = -1, .timeout_ms = (int) config->timeout_ms,
        .curve = config->curve };
    self->client = kvp_client_new_curve (config->broker, config->curve);
    self->feed = self->client? kvp_feed_new (&feed): NULL;
    self->pool = self->feed? kvp_pool_new (config->pool_dir): NULL;
    if (self->pool && config->position
    &&  kvp_feed_load (self->feed, config->position, NULL) != 0) {
        zsys_error ("position %s: %s", config->position,
                    kvp_feed_error (self->feed));
        kvp_pool_destroy (&self->pool);
    }
    if (!self->pool)
        kvp_guest_destroy (&self);
    return self;
}

void
kvp_guest_destroy (kvp_guest_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_guest_t *self = *self_p;
    kvp_pool_destroy (&self->pool);
    kvp_feed_destroy (&self->feed);
    kvp_client_destroy (&self->client);
    free (self);
    *self_p = NULL;
}

//  --- reading the items -------------------------------------------------------

//  Put every Source 0 item into the pool, page by page. Returns the
//  pager's rc (0 when all were read).
static int
s_read_items (kvp_guest_t *self, kvp_pager_t *pager)
{
    const msgpack_object *item;
    int timeout_ms = (int) self->config.timeout_ms;
    while ((item = kvp_pager_next (pager, timeout_ms))) {
        size_t name_len, data_len = 0;
        uint64_t source;
        const char *name = kvp_obj_get_str (item, "Name", &name_len);
        const char *data = kvp_obj_get_str (item, "Data", &data_len);
        if (kvp_obj_get_uint (item, "Source", &source) && source == 0)
            kvp_pool_put (self->pool, name, name_len, data? data: "",
                          data_len);
    }
    return kvp_pager_rc (pager);
}

//  Read every Source 0 item into the pool. Returns 0, or -1 (the pool is
//  then stale: not written until a snapshot succeeds).
static int
s_snapshot (kvp_guest_t *self)
{
    kvp_pool_clear (self->pool);
    self->stale = true;
    kvp_pager_t *pager = kvp_pager_new (self->client, self->guid.text, 0, 0);
    int rc = pager? s_read_items (self, pager): KVP_PAGER_MALFORMED;
    if (rc == KVP_RC_INVALID_PARAM)
        kvp_pool_clear (self->pool);    //  no such system (any more)
    else
    if (rc)
        zsys_warning ("reading the items: %s",
                      pager? kvp_pager_error (pager): "out of memory");
    kvp_pager_destroy (&pager);
    if (rc && rc != KVP_RC_INVALID_PARAM)
        return -1;
    self->stale = false;
    return 0;
}

//  --- events ------------------------------------------------------------------

static void
s_apply (kvp_guest_t *self, const msgpack_object *event)
{
    uint64_t state;
    size_t type_len;
    const char *type = kvp_obj_get_str (event, "JobType", &type_len);
    if (!type || !kvp_obj_get_uint (event, "JobState", &state) || state != 7)
        return;
    bool removes = type_len == 14 && memcmp (type, "RemoveKvpItems", 14) == 0;
    bool sets = (type_len == 11 && memcmp (type, "AddKvpItems", 11) == 0)
             || (type_len == 14 && memcmp (type, "ModifyKvpItems", 14) == 0);
    const msgpack_object_array *items = kvp_obj_get_array (event, "items");
    for (uint32_t i = 0; items && (sets || removes) && i < items->size; i++) {
        size_t name_len, data_len = 0;
        const char *name = kvp_obj_get_str (&items->ptr [i], "Name", &name_len);
        const char *data = kvp_obj_get_str (&items->ptr [i], "Data", &data_len);
        uint64_t source;
        if (!name || !kvp_obj_get_uint (&items->ptr [i], "Source", &source)
        ||  source != 0)
            continue;           //  Source 4 is host-only: never in the guest
        if (removes)
            kvp_pool_remove (self->pool, name, name_len);
        else
            kvp_pool_put (self->pool, name, name_len, data? data: "", data_len);
    }
}

//  Handle one feed message.
static void
s_handle (kvp_guest_t *self, const kvp_feed_msg_t *msg)
{
    self->moved = true;
    KVP_DEBUG ("%s seq %" PRIu64 " of partition %u",
               msg->kind == KVP_FEED_LOST? "lost": "event", msg->seq,
               msg->partition);
    if (msg->kind == KVP_FEED_LOST) {
        zsys_warning ("lost %" PRIu64 " events of partition %u from seq %"
                      PRIu64 ": reading the items again", msg->count,
                      msg->partition, msg->seq);
        self->resync_at = 0;
    }
    else
    if (!self->stale)
        s_apply (self, msg->event);
}

//  Write the file if it changed, then save the position (never before).
static void
s_flush (kvp_guest_t *self)
{
    if (self->stale)
        return;
    if (kvp_pool_dirty (self->pool)) {
        if (kvp_pool_write (self->pool) != 0) {
            zsys_error ("writing %s: %s", kvp_pool_path (self->pool),
                        strerror (errno));
            return;             //  the position stays behind the file
        }
        zsys_info ("%s: %zu items", kvp_pool_path (self->pool),
                   kvp_pool_size (self->pool));
    }
    if (!self->moved || !self->config.position)
        return;
    if (kvp_feed_save (self->feed, self->config.position) == 0)
        self->moved = false;
    else
        zsys_error ("saving the position: %s", kvp_feed_error (self->feed));
}

static void
s_resync (kvp_guest_t *self)
{
    bool ok = s_snapshot (self) == 0;
    self->resync_at = zclock_mono () + (ok? self->config.resync_ms: S_RETRY_MS);
    self->moved |= ok;          //  the file is at least at the position now
    s_flush (self);
}

//  Wait until the feed knows where the partition stands. Returns false when
//  interrupted or when the feed failed.
static bool
s_wait_ready (kvp_guest_t *self)
{
    kvp_feed_msg_t msg;
    while (!kvp_feed_ready (self->feed)) {
        int rc = kvp_feed_recv (self->feed, 100, &msg);
        if (rc < 0)
            return false;
        if (rc > 0)
            s_handle (self, &msg);  //  the snapshot below covers it
    }
    return true;
}

int
kvp_guest_run (kvp_guest_t *self)
{
    if (!s_wait_ready (self))
        return zsys_interrupted? 0: 1;
    s_resync (self);
    while (!zsys_interrupted) {
        int64_t wait = self->resync_at - zclock_mono ();
        kvp_feed_msg_t msg;
        int rc = kvp_feed_recv (self->feed, wait > 0? (int) wait: 0, &msg);
        for (int n = 1; rc > 0; n++) {
            s_handle (self, &msg);
            rc = n < S_BATCH_MAX? kvp_feed_recv (self->feed, 0, &msg): 0;
        }
        if (rc < 0)
            break;
        if (zclock_mono () >= self->resync_at)
            s_resync (self);
        else
            s_flush (self);
    }
    if (zsys_interrupted)
        return 0;
    zsys_error ("following the events: %s", kvp_feed_error (self->feed));
    return 1;
}
