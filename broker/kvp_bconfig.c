/*  kvp_bconfig.c - the broker's option table, parser and usage text.
*/
#include "kvp_bconfig.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef enum { S_STR, S_UINT, S_FLAG, S_HELP } s_type_t;

//  One option: the table is the single source of the parser and --help.
typedef struct {
    const char *name;           //  without the leading "--"
    s_type_t type;
    size_t offset;              //  where the value lives in kvp_bconfig_t
    const char *def_str;        //  S_STR default
    uint64_t def_uint;          //  S_UINT default
    uint64_t min, max;          //  S_UINT bounds, inclusive
    const char *arg;            //  placeholder shown in usage
    const char *help;
} s_option_t;

#define S_AT(field) offsetof (kvp_bconfig_t, field)
#define S_MIB       (1024ull * 1024)

static const s_option_t s_options [] = {
    { "data", S_STR, S_AT (data), "./var/broker", 0, 0, 0, "DIR",
      "registry folder (created if missing)" },
    { "clients", S_STR, S_AT (clients), "tcp://127.0.0.1:5555", 0, 0, 0, "EP",
      "ROUTER endpoint for clients" },
    { "workers", S_STR, S_AT (workers), "tcp://127.0.0.1:5556", 0, 0, 0, "EP",
      "ROUTER endpoint for workers" },
    { "events-in", S_STR, S_AT (events_in), "tcp://127.0.0.1:5557", 0, 0, 0,
      "EP", "XSUB endpoint the workers publish to" },
    { "events", S_STR, S_AT (events), "tcp://127.0.0.1:5558", 0, 0, 0, "EP",
      "XPUB endpoint for subscribers" },
    { "partitions", S_UINT, S_AT (partitions), NULL, 64, 1, 65535, "N",
      "number of partitions (fixed for the life of the data)" },
    { "heartbeat", S_UINT, S_AT (heartbeat_ms), NULL, 1000, 10, 60000, "MS",
      "heartbeat interval to and from workers" },
    { "liveness", S_UINT, S_AT (liveness), NULL, 3, 1, 100, "N",
      "silent heartbeat intervals before a worker is down" },
    { "deadline", S_UINT, S_AT (deadline_ms), NULL, 10000, 1000, 600000, "MS",
      "time a worker has to answer before the client gets 32772" },
    { "queue-limit", S_UINT, S_AT (queue_limit), NULL, 4096, 1024, 1000000,
      "N", "requests in flight per worker before 32774" },
    { "max-msg", S_UINT, S_AT (max_msg), NULL, 4 * S_MIB + 64 * 1024,
      4 * S_MIB, 1024 * S_MIB, "BYTES",
      "transport cap (ZMQ_MAXMSGSIZE) on network-facing sockets" },
    { "verbose", S_FLAG, S_AT (verbose), NULL, 0, 0, 0, NULL,
      "debug logs" },
    { "help", S_HELP, 0, NULL, 0, 0, 0, NULL, "print this text and exit" },
};
#define S_OPTIONS (sizeof s_options / sizeof s_options [0])

void
kvp_bconfig_defaults (kvp_bconfig_t *self)
{
    memset (self, 0, sizeof *self);
    for (size_t i = 0; i < S_OPTIONS; i++) {
        const s_option_t *opt = &s_options [i];
        char *field = (char *) self + opt->offset;
        if (opt->type == S_STR)
            *(const char **) field = opt->def_str;
        else
        if (opt->type == S_UINT)
            *(uint64_t *) field = opt->def_uint;
    }
}

//  The option named by `name` (`len` bytes), or NULL.
static const s_option_t *
s_lookup (const char *name, size_t len)
{
    for (size_t i = 0; i < S_OPTIONS; i++)
        if (strlen (s_options [i].name) == len
        &&  memcmp (s_options [i].name, name, len) == 0)
            return &s_options [i];
    return NULL;
}

//  Strict decimal: digits only, no sign, no overflow.
static bool
s_parse_uint (const char *text, uint64_t *value)
{
    if (*text < '0' || *text > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull (text, &end, 10);
    if (errno || *end)
        return false;
    *value = v;
    return true;
}

//  Store `value` into the option's field; false with a reason on error.
static bool
s_set (kvp_bconfig_t *self, const s_option_t *opt, const char *value,
       char *error, size_t size)
{
    char *field = (char *) self + opt->offset;
    if (opt->type == S_STR) {
        if (!*value) {
            snprintf (error, size, "--%s needs a non-empty value", opt->name);
            return false;
        }
        *(const char **) field = value;
        return true;
    }
    uint64_t v;
    if (!s_parse_uint (value, &v) || v < opt->min || v > opt->max) {
        snprintf (error, size, "--%s: '%s' is not a number in %llu..%llu",
                  opt->name, value, (unsigned long long) opt->min,
                  (unsigned long long) opt->max);
        return false;
    }
    *(uint64_t *) field = v;
    return true;
}

//  Handle argv[*i]; advances *i past a separate value. Returns a
//  KVP_BCONFIG_* code.
static int
s_parse_one (kvp_bconfig_t *self, int argc, char *argv [], int *i,
             char *error, size_t size)
{
    const char *arg = argv [*i];
    if (strncmp (arg, "--", 2) != 0) {
        snprintf (error, size, "unexpected argument '%s'", arg);
        return KVP_BCONFIG_ERROR;
    }
    const char *name = arg + 2;
    const char *eq = strchr (name, '=');
    size_t len = eq ? (size_t) (eq - name) : strlen (name);
    const s_option_t *opt = s_lookup (name, len);
    if (!opt) {
        snprintf (error, size, "unknown option '%.*s'", (int) len + 2, arg);
        return KVP_BCONFIG_ERROR;
    }
    if (opt->type == S_HELP || opt->type == S_FLAG) {
        if (eq) {
            snprintf (error, size, "--%s takes no value", opt->name);
            return KVP_BCONFIG_ERROR;
        }
        if (opt->type == S_HELP)
            return KVP_BCONFIG_HELP;
        *(bool *) ((char *) self + opt->offset) = true;
        return KVP_BCONFIG_OK;
    }
    const char *value = eq ? eq + 1 : NULL;
    if (!value) {
        if (*i + 1 >= argc) {
            snprintf (error, size, "--%s needs a value", opt->name);
            return KVP_BCONFIG_ERROR;
        }
        value = argv [++*i];
    }
    return s_set (self, opt, value, error, size) ? KVP_BCONFIG_OK
                                                 : KVP_BCONFIG_ERROR;
}

int
kvp_bconfig_parse (kvp_bconfig_t *self, int argc, char *argv [],
                   char *error, size_t size)
{
    kvp_bconfig_defaults (self);
    if (size)
        *error = 0;
    for (int i = 1; i < argc; i++) {
        int rc = s_parse_one (self, argc, argv, &i, error, size);
        if (rc != KVP_BCONFIG_OK)
            return rc;
    }
    return KVP_BCONFIG_OK;
}

void
kvp_bconfig_usage (FILE *out, const char *prog)
{
    fprintf (out, "usage: %s [options]\n\n"
             "Routes KVP/1 requests to the workers that own their partition "
             "and relays\ntheir events.\n\noptions:\n", prog);
    for (size_t i = 0; i < S_OPTIONS; i++) {
        const s_option_t *opt = &s_options [i];
        char head [64];
        snprintf (head, sizeof head, "--%s%s%s", opt->name,
                  opt->arg ? " " : "", opt->arg ? opt->arg : "");
        fprintf (out, "  %-22s %s", head, opt->help);
        if (opt->type == S_STR)
            fprintf (out, " (default %s)", opt->def_str);
        else
        if (opt->type == S_UINT)
            fprintf (out, " (default %llu; %llu..%llu)",
                     (unsigned long long) opt->def_uint,
                     (unsigned long long) opt->min,
                     (unsigned long long) opt->max);
        fputc ('\n', out);
    }
}
