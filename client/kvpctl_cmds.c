/*  kvpctl_cmds.c - the kvpctl commands that make one request: each packs
    it, calls the broker and hands the reply to ctl_finish; and get, which
    reads as many pages as a system's items take (watch and events are in
    kvpctl_watch.c). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kvpctl.h"
#include "kvp_json.h"
#include "kvp_pager.h"
#include "kvp_reply.h"

#define RETRY_BACKOFF_MS 200

static void
s_pack_kv (msgpack_packer *pk, const char *key, const char *value)
{
    kvp_pack_cstr (pk, key);
    kvp_pack_cstr (pk, value);
}

/*  Send the body begun on the client and finish with `print`. */
static int
s_call (ctl_t *ctl, ctl_print_fn_t *print)
{
    kvp_reply_t *reply = kvp_client_call (ctl->client, ctl->timeout_ms);
    return ctl_finish (ctl, &reply, print, -1);
}

/*  A request whose only field is `key`: `value`. */
static int
s_call_one (ctl_t *ctl, const char *op, const char *key, const char *value,
            ctl_print_fn_t *print)
{
    msgpack_packer *pk = kvp_client_begin (ctl->client, op, 1);
    s_pack_kv (pk, key, value);
    return s_call (ctl, print);
}

int
ctl_ping (ctl_t *ctl)
{
    kvp_client_begin (ctl->client, "Ping", 0);
    return s_call (ctl, ctl_print_pong);
}

int
ctl_status (ctl_t *ctl)
{
    kvp_client_begin (ctl->client, "ClusterStatus", 0);
    return s_call (ctl, ctl_print_status);
}

int
ctl_retire (ctl_t *ctl)
{
    return s_call_one (ctl, "RetireWorker", "id", ctl->args [0],
                       ctl_print_ok);
}

int
ctl_define (ctl_t *ctl)
{
    const char *name = ctl->opt [OPT_NAME], *id = ctl->opt [OPT_ID];
    if (!name)
        return ctl_usage_error ("define needs --name NAME");
    msgpack_packer *pk = kvp_client_begin (ctl->client, "DefineSystem",
                                           id ? 2 : 1);
    s_pack_kv (pk, "name", name);
    if (id)
        s_pack_kv (pk, "id", id);
    return s_call (ctl, ctl_print_id);
}

int
ctl_destroy (ctl_t *ctl)
{
    return s_call_one (ctl, "DestroySystem", "target", ctl->args [0],
                       ctl_print_ok);
}

int
ctl_settings (ctl_t *ctl)
{
    const char *value = ctl->opt [OPT_EXCHANGE];
    bool on = value && (streq (value, "on") || streq (value, "true"));
    bool off = value && (streq (value, "off") || streq (value, "false"));
    if (!on && !off)
        return ctl_usage_error ("settings needs --exchange on|off");
    msgpack_packer *pk = kvp_client_begin (ctl->client,
                                           "ModifySystemSettings", 2);
    s_pack_kv (pk, "target", ctl->args [0]);
    kvp_pack_cstr (pk, "DataExchangeEnabled");
    if (on)
        msgpack_pack_true (pk);
    else
        msgpack_pack_false (pk);
    return s_call (ctl, ctl_print_ok);
}

/* --- item operations ------------------------------------------------------ */

/*  The lines of a --cim file (empty lines skipped, line ends removed). */
typedef struct {
    char **lines;               /* each malloc'd */
    size_t count;               /* entries in lines */
} s_lines_t;

static void
s_lines_free (s_lines_t *lines)
{
    for (size_t i = 0; i < lines->count; i++)
        free (lines->lines [i]);
    free (lines->lines);
}

static bool
s_read_lines (const char *path, s_lines_t *out)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        fprintf (stderr, "kvpctl: %s: %s\n", path, strerror (errno));
        return false;
    }
    char *line = NULL;
    size_t size = 0;
    ssize_t len;
    while ((len = getline (&line, &size, file)) >= 0) {
        while (len > 0 && (line [len - 1] == '\n' || line [len - 1] == '\r'))
            line [--len] = 0;
        if (len == 0)
            continue;
        char **grown = realloc (out->lines, (out->count + 1) * sizeof (char *));
        if (!grown)
            break;
        out->lines = grown;
        out->lines [out->count++] = strdup (line);
    }
    free (line);
    fclose (file);
    return true;
}

/*  Pack the item map for word "NAME=DATA", or for "NAME" when !with_data
    (RemoveKvpItems ignores Data: it goes empty). */
static void
s_pack_item (msgpack_packer *pk, const char *word, uint32_t source,
             bool with_data)
{
    const char *equals = with_data ? strchr (word, '=') : NULL;
    size_t name_len = equals ? (size_t) (equals - word) : strlen (word);
    const char *data = equals ? equals + 1 : "";
    kvp_item_t item = {
        source, word, (uint32_t) name_len, data, (uint32_t) strlen (data)
    };
    kvp_pack_item (pk, &item);
}

/*  Pack target, items and key for an item op, and send it. */
static int
s_item_call (ctl_t *ctl, const char *op, bool with_data, s_lines_t *cim,
             uint32_t source)
{
    char **words = ctl->args + 1;
    size_t nwords = (size_t) ctl->nargs - 1;
    const char *key = ctl->opt [OPT_KEY];
    msgpack_packer *pk = kvp_client_begin (ctl->client, op, key ? 3 : 2);
    s_pack_kv (pk, "target", ctl->args [0]);
    kvp_pack_cstr (pk, "items");
    msgpack_pack_array (pk, nwords + cim->count);
    for (size_t i = 0; i < nwords; i++)
        s_pack_item (pk, words [i], source, with_data);
    for (size_t i = 0; i < cim->count; i++)
        kvp_pack_cstr (pk, cim->lines [i]);
    if (key)
        s_pack_kv (pk, "key", key);
    kvp_reply_t *reply = key && ctl->retries > 0
        ? kvp_client_call_retry (ctl->client, ctl->timeout_ms, ctl->retries,
                                 RETRY_BACKOFF_MS)
        : kvp_client_call (ctl->client, ctl->timeout_ms);
    return ctl_finish (ctl, &reply, ctl_print_ok, (long) (nwords + cim->count));
}

static int
s_item_op (ctl_t *ctl, const char *op, bool with_data)
{
    uint64_t source = 0;
    if (!ctl_opt_uint (ctl, OPT_SOURCE, UINT32_MAX, &source))
        return CTL_USAGE;
    for (int i = 1; with_data && i < ctl->nargs; i++)
        if (!strchr (ctl->args [i], '='))
            return ctl_usage_error ("%s: expected NAME=DATA, got: %s",
                                    ctl->command, ctl->args [i]);
    s_lines_t cim = { NULL, 0 };
    if (ctl->opt [OPT_CIM] && !s_read_lines (ctl->opt [OPT_CIM], &cim))
        return CTL_USAGE;
    int status;
    if (ctl->nargs - 1 + cim.count == 0)
        status = ctl_usage_error ("%s: no items given", ctl->command);
    else
        status = s_item_call (ctl, op, with_data, &cim, (uint32_t) source);
    s_lines_free (&cim);
    return status;
}

int
ctl_add (ctl_t *ctl)
{
    return s_item_op (ctl, "AddKvpItems", true);
}

int
ctl_modify (ctl_t *ctl)
{
    return s_item_op (ctl, "ModifyKvpItems", true);
}

int
ctl_remove (ctl_t *ctl)
{
    return s_item_op (ctl, "RemoveKvpItems", false);
}

/* --- queries -------------------------------------------------------------- */

/*  How a paged read ended: 0, or the error (with --json, a refusal is
    also printed as {"rc", "error"}, as other commands print the reply). */
static int
s_get_end (ctl_t *ctl, kvp_pager_t *pager)
{
    int rc = kvp_pager_rc (pager);
    if (rc == KVP_PAGER_NO_REPLY)
        return ctl_print_no_reply (ctl);
    if (rc > 0 && ctl->json) {
        printf ("{\"rc\":%d,\"error\":", rc);
        kvp_json_write_str (stdout, kvp_pager_error (pager),
                            strlen (kvp_pager_error (pager)));
        puts ("}");
    }
    return rc? ctl_print_error (rc, kvp_pager_error (pager)): CTL_OK;
}

/*  --json: the whole read as one reply, {"rc":0,"items":[...]}, printed
    only once every page has come. */
static int
s_get_json (ctl_t *ctl, kvp_pager_t *pager)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return ctl_print_error (KVP_PAGER_MALFORMED, "out of memory");
    fputs ("{\"rc\":0,\"items\":[", out);
    const msgpack_object *item;
    for (size_t n = 0; (item = kvp_pager_next (pager, ctl->timeout_ms)); n++) {
        if (n)
            fputc (',', out);
        kvp_json_write (out, item);
    }
    fputs ("]}\n", out);
    fclose (out);
    if (kvp_pager_rc (pager) == 0)
        fwrite (text, 1, size, stdout);
    free (text);
    return s_get_end (ctl, pager);
}

/*  get: every item, page by page (--limit items a page), a line each. */
int
ctl_get (ctl_t *ctl)
{
    uint64_t source = 0, limit = KVP_PAGE_LIMIT;
    if (!ctl_opt_uint (ctl, OPT_SOURCE, INT64_MAX, &source)
    ||  !ctl_opt_uint (ctl, OPT_LIMIT, KVP_PAGE_LIMIT_MAX, &limit))
        return CTL_USAGE;
    if (limit == 0)
        return ctl_usage_error ("--limit: a page holds 1 to %d items",
                                KVP_PAGE_LIMIT_MAX);
    int64_t filter = ctl->opt [OPT_SOURCE]? (int64_t) source: -1;
    kvp_pager_t *pager = kvp_pager_new (ctl->client, ctl->args [0], filter,
                                        (unsigned) limit);
    if (!pager)
        return ctl_print_error (KVP_PAGER_MALFORMED, "out of memory");
    int status;
    if (ctl->json)
        status = s_get_json (ctl, pager);
    else {
        const msgpack_object *item;
        while ((item = kvp_pager_next (pager, ctl->timeout_ms)))
            ctl_print_item (item);
        status = s_get_end (ctl, pager);
    }
    kvp_pager_destroy (&pager);
    return status;
}

int
ctl_system (ctl_t *ctl)
{
    return s_call_one (ctl, "GetSystem", "target", ctl->args [0],
                       ctl_print_system);
}

int
ctl_job (ctl_t *ctl)
{
    return s_call_one (ctl, "GetJob", "job", ctl->args [0],
                       ctl_print_jobinfo);
}
