/*  kvp_guest.c - one system's Source 0 items, followed into the pool file. */
#include "kvp_guest.h"
#include "kvp_pool.h"

#include <czmq.h>
#include <string.h>
#include "kvp_client.h"
#include "kvp_feed.h"
#include "kvp_guid.h"
#include "kvp_obj.h"

#define S_RETRY_MS      1000    /* a failed read or write is tried again */
#define S_BATCH_MAX     1024    /* events applied before the file is written */
#define S_PAGE          1000    /* GetKvpItems page */

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
        .partition = -1, .timeout_ms = (int) config->timeout_ms };
    self->client = kvp_client_new (config->broker);
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

//  Put the Source 0 items of an `items` array into the pool; *last is the
//  last item's name (for the next page).
static void
s_put_items (kvp_guest_t *self, const msgpack_object_array *items,
             const char **last, size_t *last_len)
{
    for (uint32_t i = 0; items && i < items->size; i++) {
        const msgpack_object *item = &items->ptr [i];
        size_t name_len, data_len;
        const char *name = kvp_obj_get_str (item, "Name", &name_len);
        const char *data = kvp_obj_get_str (item, "Data", &data_len);
        uint64_t source;
        if (!name || !kvp_obj_get_uint (item, "Source", &source))
            continue;
        *last = name;
        *last_len = name_len;
        if (source == 0)
            kvp_pool_put (self->pool, name, name_len, data? data: "",
                          data? data_len: 0);
    }
}

//  One GetKvpItems page after `after` (NULL: from the start). Returns the
//  reply (the caller destroys it) or NULL when none came.
static kvp_reply_t *
s_get_page (kvp_guest_t *self, const char *after, size_t after_len)
{
    msgpack_packer *pk = kvp_client_begin (self->client, "GetKvpItems",
                                           after? 4: 3);
    msgpack_pack_str_with_body (pk, "target", 6);
    msgpack_pack_str_with_body (pk, self->guid.text, KVP_GUID_LEN);
    msgpack_pack_str_with_body (pk, "Source", 6);
    msgpack_pack_uint8 (pk, 0);
    msgpack_pack_str_with_body (pk, "limit", 5);
    msgpack_pack_uint32 (pk, S_PAGE);
    if (after) {
        msgpack_pack_str_with_body (pk, "after", 5);
        msgpack_pack_map (pk, 2);
        msgpack_pack_str_with_body (pk, "Source", 6);
        msgpack_pack_uint8 (pk, 0);
        msgpack_pack_str_with_body (pk, "Name", 4);
        msgpack_pack_str_with_body (pk, after, after_len);
    }
    return kvp_client_call (self->client, (int) self->config.timeout_ms);
}

//  Read every Source 0 item into the pool. Returns 0, or -1 (the pool is
//  then stale: not written until a snapshot succeeds).
static int
s_snapshot (kvp_guest_t *self)
{
    kvp_pool_clear (self->pool);
    self->stale = true;
    char after [KVP_POOL_KEY_SIZE];
    size_t after_len = 0;
    for (bool first = true, more = true; more; first = false) {
        kvp_reply_t *reply = s_get_page (self, first? NULL: after, after_len);
        int rc = reply? kvp_reply_rc (reply): -1;
        more = false;
        if (rc == 0) {
            const char *last = NULL;
            size_t len = 0;
            s_put_items (self, kvp_obj_get_array (kvp_reply_map (reply),
                                                  "items"), &last, &len);
            kvp_obj_get_bool (kvp_reply_map (reply), "more", &more);
            more = more && last && len < sizeof after;
            if (more)
                memcpy (after, last, after_len = len);
        }
        kvp_reply_destroy (&reply);
        if (rc == 32773)
            break;              //  no such system (any more): no items
        if (rc != 0) {
            zsys_warning ("reading the items: %s", rc < 0? "no reply":
                          "refused");
            return -1;
        }
    }
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
