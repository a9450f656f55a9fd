/*  kvp_config.c - the worker's option table, parser and usage text.
*/
#include "kvp_config.h"
#include "kvp_wire.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    S_STR,          /* any non-empty text */
    S_ID,           /* a worker name (kvp_config_valid_id) */
    S_UINT,         /* decimal, within [min, max] */
    S_BYTES,        /* decimal with an optional K/M/G/T suffix (x1024) */
    S_SYNC,         /* full | none -> nosync */
    S_FLAG          /* takes no value */
} s_type_t;

typedef struct {
    const char *name;           /* flag without the leading "--" */
    s_type_t type;
    const char *metavar;        /* shown in usage; NULL for flags */
    const char *def;            /* default as text; NULL = none */
    uint64_t min, max;          /* bounds of S_UINT / S_BYTES */
    size_t offset;              /* field in kvp_config_t */
    const char *help;
} s_option_t;

#define S_OFF(field) offsetof (kvp_config_t, field)
#define S_GIB        (1024ULL * 1024 * 1024)

static const s_option_t s_options [] = {
    { "data", S_STR, "DIR", NULL, 0, 0, S_OFF (data),
      "data directory (created if missing); keeps the worker's name" },
    { "broker", S_STR, "EP", "tcp://127.0.0.1:5556", 0, 0, S_OFF (broker),
      "the broker's workers endpoint" },
    { "events-in", S_STR, "EP", "tcp://127.0.0.1:5557", 0, 0,
      S_OFF (events_in), "the broker's events-in endpoint (job events)" },
    { "id", S_ID, "NAME", NULL, 0, 0, S_OFF (id),
      "worker name (default: the one in DIR, else w-<8 hex>)" },
    { "sync", S_SYNC, "full|none", "full", 0, 0, S_OFF (nosync),
      "none: no fsync per commit (survives a process crash only)" },
    { "map-size", S_BYTES, "BYTES", "64M", 1024 * 1024, 1024 * S_GIB,
      S_OFF (map_size), "initial LMDB map size (K/M/G/T suffixes)" },
    { "map-max", S_BYTES, "BYTES", "0", 0, 1024 * 1024 * S_GIB,
      S_OFF (map_max), "largest map size; 0 = limited by the disk only" },
    { "retention", S_UINT, "SECONDS", "86400", 1, 10ULL * 366 * 86400,
      S_OFF (retention_s), "jobs and idempotency keys are kept this long" },
    { "heartbeat", S_UINT, "MS", "1000", 10, 60000, S_OFF (heartbeat_ms),
      "heartbeat interval (the broker's WELCOME may override it)" },
    { "liveness", S_UINT, "N", "3", 1, 100, S_OFF (liveness),
      "broker declared dead after N silent heartbeat intervals" },
    { "batch", S_UINT, "N", "256", 1, 4096, S_OFF (batch),
      "most requests in one group commit" },
    { "verbose", S_FLAG, NULL, NULL, 0, 0, S_OFF (verbose),
      "log every message (debug level)" },
};
#define S_OPTIONS (sizeof s_options / sizeof s_options [0])

//  printf into the caller's error buffer; returns KVP_CONFIG_ERROR.
static int
s_fail (char *error, size_t size, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (error, size, format, args);
    va_end (args);
    return KVP_CONFIG_ERROR;
}

static const s_option_t *
s_lookup (const char *name, size_t len)
{
    for (size_t i = 0; i < S_OPTIONS; i++)
        if (strlen (s_options [i].name) == len
        &&  memcmp (s_options [i].name, name, len) == 0)
            return &s_options [i];
    return NULL;
}

//  Parse an unsigned decimal, with a binary K/M/G/T suffix when `bytes`.
static bool
s_parse_uint (const char *text, bool bytes, uint64_t *value)
{
    if (!isdigit ((unsigned char) *text))
        return false;           //  strtoull would take "-1" or " 1"
    char *end;
    errno = 0;
    unsigned long long v = strtoull (text, &end, 10);
    if (errno)
        return false;
    int shift = 0;
    if (bytes && *end) {
        const char *units = "KMGT", *unit = strchr (units, toupper (*end));
        if (!unit)
            return false;
        shift = 10 * (int) (unit - units + 1);
        end++;
    }
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        return false;
    *value = (uint64_t) v << shift;
    return true;
}

//  Store one option's value into the configuration.
static int
s_set (kvp_config_t *self, const s_option_t *opt, const char *value,
       char *error, size_t size)
{
    void *field = (char *) self + opt->offset;
    uint64_t number;
    if (opt->type == S_ID && !kvp_config_valid_id (value))
        return s_fail (error, size, "--%s: \"%s\" is not a worker name "
            "(1-%d of A-Z a-z 0-9 . _ - :)", opt->name, value,
            KVP_WORKER_ID_MAX);
    switch (opt->type) {
        case S_ID:
        case S_STR:
            if (!*value)
                return s_fail (error, size, "--%s: empty value", opt->name);
            *(const char **) field = value;
            return KVP_CONFIG_OK;
        case S_SYNC:
            if (strcmp (value, "full") && strcmp (value, "none"))
                return s_fail (error, size, "--%s: expected full or none, "
                    "got \"%s\"", opt->name, value);
            *(bool *) field = strcmp (value, "none") == 0;
            return KVP_CONFIG_OK;
        case S_FLAG:
            *(bool *) field = true;
            return KVP_CONFIG_OK;
        case S_UINT:
        case S_BYTES:
            if (!s_parse_uint (value, opt->type == S_BYTES, &number)
            ||  number < opt->min || number > opt->max)
                return s_fail (error, size, "--%s: \"%s\" is not a number "
                    "in %llu..%llu", opt->name, value,
                    (unsigned long long) opt->min,
                    (unsigned long long) opt->max);
            *(uint64_t *) field = number;
            return KVP_CONFIG_OK;
    }
    return s_fail (error, size, "--%s: unsupported option", opt->name);
}

//  Fill every field from the table's defaults.
static void
s_defaults (kvp_config_t *self)
{
    memset (self, 0, sizeof *self);
    char ignored [8];
    for (size_t i = 0; i < S_OPTIONS; i++)
        if (s_options [i].def) {
            int rc = s_set (self, &s_options [i], s_options [i].def,
                            ignored, sizeof ignored);
            (void) rc;  //  the table's defaults are valid by construction
        }
}

//  Parse argv[*index] (and maybe the next argument as its value).
static int
s_parse_one (kvp_config_t *self, int argc, char *argv [], int *index,
             char *error, size_t size)
{
    const char *arg = argv [*index];
    if (strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0)
        return KVP_CONFIG_HELP;
    if (strncmp (arg, "--", 2) != 0)
        return s_fail (error, size, "unexpected argument \"%s\"", arg);
    const char *name = arg + 2, *eq = strchr (name, '=');
    size_t len = eq ? (size_t) (eq - name) : strlen (name);
    const s_option_t *opt = s_lookup (name, len);
    if (!opt)
        return s_fail (error, size, "unknown option \"%s\"", arg);
    if (opt->type == S_FLAG) {
        if (eq)
            return s_fail (error, size, "--%s takes no value", opt->name);
        return s_set (self, opt, "", error, size);
    }
    const char *value = eq ? eq + 1 : NULL;
    if (!value) {
        if (*index + 1 >= argc)
            return s_fail (error, size, "--%s needs a value (%s)",
                           opt->name, opt->metavar);
        value = argv [++*index];
    }
    return s_set (self, opt, value, error, size);
}

int
kvp_config_parse (kvp_config_t *self, int argc, char *argv [],
                  char *error, size_t size)
{
    s_defaults (self);
    if (size)
        *error = 0;
    for (int i = 1; i < argc; i++) {
        int rc = s_parse_one (self, argc, argv, &i, error, size);
        if (rc != KVP_CONFIG_OK)
            return rc;
    }
    if (!self->data)
        return s_fail (error, size, "--data DIR is required");
    if (self->map_max && self->map_max < self->map_size)
        return s_fail (error, size, "--map-max is smaller than --map-size");
    return KVP_CONFIG_OK;
}

void
kvp_config_usage (FILE *out, const char *prog)
{
    fprintf (out, "usage: %s --data DIR [options]\n\n"
                  "Serves the partitions it owns for a kvpbus broker.\n\n"
                  "options:\n", prog);
    for (size_t i = 0; i < S_OPTIONS; i++) {
        const s_option_t *opt = &s_options [i];
        char left [64];
        snprintf (left, sizeof left, "--%s%s%s", opt->name,
                  opt->metavar ? " " : "", opt->metavar ? opt->metavar : "");
        fprintf (out, "  %-24s %s", left, opt->help);
        if (opt->def)
            fprintf (out, " [default %s]", opt->def);
        if (opt->type == S_UINT || opt->type == S_BYTES)
            fprintf (out, " (%llu..%llu)", (unsigned long long) opt->min,
                     (unsigned long long) opt->max);
        fprintf (out, "\n");
    }
    fprintf (out, "  %-24s %s\n", "--help", "print this text and exit");
}

bool
kvp_config_valid_id (const char *name)
{
    size_t len = strlen (name);
    if (len == 0 || len > KVP_WORKER_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) name [i];
        if (!isalnum (c) && !strchr ("._-:", c))
            return false;
    }
    return true;
}
