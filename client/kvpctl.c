/*  kvpctl.c - command-line client for a kvpbus cluster (spec section 9).

        bin/kvpctl [--broker EP] [--events EP] [--timeout MS] [--retries N]
                   [--json] COMMAND ARGS...

    Global options come before the command; a command's own options may be
    mixed with its arguments ("--" ends options). Exit status: 0 success, 1
    an error rc or a failed job, 2 a usage error, 3 no reply in time.
*/

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kvpctl.h"

/* --- global options: one table for parsing and for --help --------------- */

typedef enum { G_STR, G_INT, G_FLAG } g_type_t;

typedef struct {
    const char *flag;           /* "--broker" */
    const char *metavar;        /* shown in help; NULL for flags */
    g_type_t type;              /* how to read the value */
    size_t offset;              /* field in ctl_t */
    long min, max;              /* bounds for G_INT */
    const char *help;           /* one line, with the default */
} g_option_t;

static const g_option_t s_globals [] = {
    { "--broker", "EP", G_STR, offsetof (ctl_t, broker), 0, 0,
      "broker clients endpoint (default tcp://127.0.0.1:5555)" },
    { "--events", "EP", G_STR, offsetof (ctl_t, events), 0, 0,
      "broker events endpoint, for watch (default tcp://127.0.0.1:5558)" },
    { "--timeout", "MS", G_INT, offsetof (ctl_t, timeout_ms), 1, INT_MAX,
      "how long to wait for a reply (default 15000)" },
    { "--retries", "N", G_INT, offsetof (ctl_t, retries), 0, 100,
      "add/modify/remove with --key: resend the same request up to N\n"
      "                    times while its outcome is unknown (default 0)" },
    { "--json", NULL, G_FLAG, offsetof (ctl_t, json), 0, 0,
      "print each reply or event body as one line of JSON" },
    { "--curve-secret", "FILE", G_STR, offsetof (ctl_t, curve_secret), 0, 0,
      "our secret certificate, for a secured cluster\n"
      "                    (default $" KVP_CURVE_ENV_SECRET ")" },
    { "--broker-public", "FILE", G_STR, offsetof (ctl_t, broker_public), 0,
      0, "the broker's public certificate (default $"
      KVP_CURVE_ENV_BROKER ")" },
};
#define G_COUNT (sizeof s_globals / sizeof s_globals [0])

/* --- commands ------------------------------------------------------------- */

typedef struct {
    const char *name;           /* as typed */
    ctl_fn_t *run;              /* handler */
    int min_args, max_args;     /* positional arguments; -1: no limit */
    unsigned options;           /* OPTBIT set accepted */
    const char *synopsis;       /* for --help */
} ctl_command_t;

#define ITEM_OPTS (OPTBIT (OPT_SOURCE) | OPTBIT (OPT_KEY) | OPTBIT (OPT_CIM))

static const ctl_command_t s_commands [] = {
    { "ping", ctl_ping, 0, 0, 0, "ping" },
    { "status", ctl_status, 0, 0, 0, "status" },
    { "retire", ctl_retire, 1, 1, 0, "retire ID" },
    { "define", ctl_define, 0, 0, OPTBIT (OPT_NAME) | OPTBIT (OPT_ID),
      "define --name NAME [--id GUID]" },
    { "destroy", ctl_destroy, 1, 1, 0, "destroy TARGET" },
    { "settings", ctl_settings, 1, 1, OPTBIT (OPT_EXCHANGE),
      "settings TARGET --exchange on|off" },
    { "add", ctl_add, 1, -1, ITEM_OPTS,
      "add TARGET NAME=DATA... [--source 0|4] [--key K] [--cim FILE]" },
    { "modify", ctl_modify, 1, -1, ITEM_OPTS,
      "modify TARGET NAME=DATA... [--source S] [--key K] [--cim FILE]" },
    { "remove", ctl_remove, 1, -1, OPTBIT (OPT_SOURCE) | OPTBIT (OPT_KEY),
      "remove TARGET NAME... [--source S] [--key K]" },
    { "get", ctl_get, 1, 1, OPTBIT (OPT_SOURCE) | OPTBIT (OPT_LIMIT),
      "get TARGET [--source S] [--limit N]" },
    { "system", ctl_system, 1, 1, 0, "system TARGET" },
    { "job", ctl_job, 1, 1, 0, "job JOBID" },
    { "watch", ctl_watch, 0, 1, OPTBIT (OPT_COUNT) | OPTBIT (OPT_SECONDS)
      | OPTBIT (OPT_FROM_START) | OPTBIT (OPT_POSITION)
      | OPTBIT (OPT_PARTITION),
      "watch [TARGET | --partition P] [--from-start] [--position FILE]\n"
      "        [--count N] [--seconds S]" },
    { "events", ctl_events, 1, 1, OPTBIT (OPT_FROM) | OPTBIT (OPT_LIMIT),
      "events PARTITION [--from SEQ] [--limit N]" },
    { "keygen", ctl_keygen, 1, 1, OPTBIT (OPT_ROLE) | OPTBIT (OPT_DIR),
      "keygen NAME [--role reader|writer|admin] [--dir DIR]" },
};
#define C_COUNT (sizeof s_commands / sizeof s_commands [0])

/*  Command option flags, indexed by ctl_opt_t. */
static const char *s_option_flags [OPT_MAX] = {
    [OPT_NAME] = "--name", [OPT_ID] = "--id", [OPT_EXCHANGE] = "--exchange",
    [OPT_SOURCE] = "--source", [OPT_KEY] = "--key", [OPT_CIM] = "--cim",
    [OPT_COUNT] = "--count", [OPT_SECONDS] = "--seconds",
    [OPT_FROM_START] = "--from-start", [OPT_POSITION] = "--position",
    [OPT_PARTITION] = "--partition", [OPT_FROM] = "--from",
    [OPT_LIMIT] = "--limit", [OPT_ROLE] = "--role", [OPT_DIR] = "--dir"
};

static void
s_usage (FILE *out)
{
    fputs ("usage: kvpctl [OPTIONS] COMMAND ARGS...\n\noptions:\n", out);
    for (size_t i = 0; i < G_COUNT; i++) {
        char left [32];
        snprintf (left, sizeof left, "%s%s%s", s_globals [i].flag,
                  s_globals [i].metavar ? " " : "",
                  s_globals [i].metavar ? s_globals [i].metavar : "");
        fprintf (out, "  %-17s %s\n", left, s_globals [i].help);
    }
    fprintf (out, "  %-17s %s\n\ncommands:\n", "--help", "this text");
    for (size_t i = 0; i < C_COUNT; i++)
        fprintf (out, "  %s\n", s_commands [i].synopsis);
    fputs ("\nTARGET is a system GUID or a WMI object path holding one.\n"
           "NAME=DATA splits at the first '='. --cim FILE holds one CIM-XML\n"
           "embedded instance per line, each sent as an item.\n"
           "watch prints one line per job event, each once and in seq order\n"
           "per partition, until --count events or --seconds have passed\n"
           "(else until Ctrl-C). Gaps in the live stream are read back from\n"
           "the workers' logs (GetEvents); events that can no longer be read\n"
           "are reported as \"lost N events of partition P\". It starts from\n"
           "now, or with --from-start from the first event kept; with\n"
           "--position FILE it resumes from FILE when it exists and keeps\n"
           "the position there (one line per partition: PARTITION LAST-SEQ).\n"
           "get prints every item of a system, read in pages of --limit\n"
           "items (1 to 10000, default 1000), whatever its size.\n"
           "events reads one partition's stored events once (--from: the\n"
           "first seq wanted, default the first kept; --limit: 1 to 10000).\n"
           "retire ID retires worker ID (RetireWorker, as admin): it gets no\n"
           "new partition, and the broker restores the copies it holds on\n"
           "the other workers (a worker gone for good: its folder lost).\n"
           "keygen writes the certificate pair DIR/NAME and DIR/NAME_secret\n"
           "(mode 0600; DIR default .) with metadata name NAME and role.\n"
           "exit status: 0 ok, 1 error reply or failed job, 2 usage, "
           "3 no reply\n", out);
}

int
ctl_usage_error (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fputs ("kvpctl: ", stderr);
    vfprintf (stderr, format, args);
    va_end (args);
    fputs ("\n(kvpctl --help for usage)\n", stderr);
    return CTL_USAGE;
}

bool
ctl_opt_uint (ctl_t *ctl, ctl_opt_t opt, uint64_t max, uint64_t *value)
{
    const char *text = ctl->opt [opt];
    if (!text)
        return true;
    char *end;
    errno = 0;
    unsigned long long number = strtoull (text, &end, 10);
    if (errno || end == text || *end || *text == '-' || number > max) {
        ctl_usage_error ("%s: not a number up to %" PRIu64 ": %s",
                         s_option_flags [opt], max, text);
        return false;
    }
    *value = number;
    return true;
}

/*  Set global option `g` from `value`. */
static bool
s_set_global (ctl_t *ctl, const g_option_t *g, const char *value)
{
    void *field = (char *) ctl + g->offset;
    if (g->type == G_FLAG)
        *(bool *) field = true;
    else
    if (g->type == G_STR)
        *(const char **) field = value;
    else {
        char *end;
        errno = 0;
        long number = strtol (value, &end, 10);
        if (errno || end == value || *end || number < g->min
        ||  number > g->max) {
            ctl_usage_error ("%s: expected a number from %ld to %ld: %s",
                             g->flag, g->min, g->max, value);
            return false;
        }
        *(int *) field = (int) number;
    }
    return true;
}

/*  If argv[*i] is a global option, apply it and step *i past its value.
    Returns 1 if it was one, 0 if not, -1 after a usage error. */
static int
s_take_global (ctl_t *ctl, int argc, char **argv, int *i)
{
    const g_option_t *g = NULL;
    for (size_t k = 0; k < G_COUNT && !g; k++)
        if (streq (argv [*i], s_globals [k].flag))
            g = &s_globals [k];
    if (!g)
        return 0;
    if (g->type != G_FLAG && *i + 1 >= argc)
        return ctl_usage_error ("%s needs a value", g->flag), -1;
    if (!s_set_global (ctl, g, g->type == G_FLAG ? NULL : argv [*i + 1]))
        return -1;
    *i += g->type != G_FLAG;
    return 1;
}

/*  Parse global options; returns the index of the command, or -1 after a
    usage error or after --help (*help set). */
static int
s_parse_globals (ctl_t *ctl, int argc, char **argv, bool *help)
{
    int i = 1;
    for (; i < argc && argv [i][0] == '-'; i++) {
        *help = streq (argv [i], "--help");
        if (*help)
            return -1;
        int rc = s_take_global (ctl, argc, argv, &i);
        if (rc == 0)
            return ctl_usage_error ("unknown option: %s", argv [i]), -1;
        if (rc < 0)
            return -1;
    }
    if (i >= argc)
        return ctl_usage_error ("no command given"), -1;
    return i;
}

/*  Split a command's words into options and positional arguments (kept in
    argv order, in place). Global options are accepted here too, so
    "kvpctl status --json" works as well. */
static bool
s_parse_command (ctl_t *ctl, const ctl_command_t *cmd, int argc, char **argv,
                 bool *help)
{
    bool options_done = false;
    ctl->args = argv;
    for (int i = 0; i < argc; i++) {
        if (!options_done && streq (argv [i], "--")) {
            options_done = true;
            continue;
        }
        if (options_done || strncmp (argv [i], "--", 2) != 0) {
            ctl->args [ctl->nargs++] = argv [i];
            continue;
        }
        if ((*help = streq (argv [i], "--help")))
            return false;
        int opt = 0;
        while (opt < OPT_MAX && !streq (argv [i], s_option_flags [opt]))
            opt++;
        if (opt == OPT_MAX || !(cmd->options & OPTBIT (opt))) {
            int rc = s_take_global (ctl, argc, argv, &i);
            if (rc > 0)
                continue;
            if (rc < 0)
                return false;
        }
        if (opt == OPT_MAX || !(cmd->options & OPTBIT (opt)))
            return ctl_usage_error ("%s: unknown option %s", cmd->name,
                                    argv [i]), false;
        if (OPT_FLAGS & OPTBIT (opt)) {
            ctl->opt [opt] = "";
            continue;
        }
        if (i + 1 >= argc)
            return ctl_usage_error ("%s needs a value", argv [i]), false;
        ctl->opt [opt] = argv [++i];
    }
    if (ctl->nargs < cmd->min_args
    ||  (cmd->max_args >= 0 && ctl->nargs > cmd->max_args))
        return ctl_usage_error ("usage: kvpctl %s", cmd->synopsis), false;
    return true;
}

static const ctl_command_t *
s_lookup (const char *name)
{
    for (size_t i = 0; i < C_COUNT; i++)
        if (streq (s_commands [i].name, name))
            return &s_commands [i];
    return NULL;
}

int
main (int argc, char **argv)
{
    //  czmq logs to stdout by default; stdout is for results.
    zsys_set_logstream (stderr);
    ctl_t ctl = {
        .broker = "tcp://127.0.0.1:5555", .events = "tcp://127.0.0.1:5558",
        .timeout_ms = 15000
    };
    bool help = false;
    int at = s_parse_globals (&ctl, argc, argv, &help);
    if (help)
        s_usage (stdout);
    if (at < 0)
        return help ? CTL_OK : CTL_USAGE;
    const ctl_command_t *cmd = s_lookup (argv [at]);
    if (!cmd)
        return ctl_usage_error ("unknown command: %s", argv [at]);
    ctl.command = cmd->name;
    if (!s_parse_command (&ctl, cmd, argc - at - 1, argv + at + 1, &help)) {
        if (help)
            s_usage (stdout);
        return help ? CTL_OK : CTL_USAGE;
    }
    char error [512];
    if (cmd->run != ctl_keygen
    &&  !kvp_curve_for_client (ctl.curve_secret, ctl.broker_public,
                               &ctl.curve, error, sizeof error))
        return ctl_usage_error ("%s", error);
    //  watch makes its own connections (kvp_feed); keygen none; the others
    //  share one.
    if (cmd->run != ctl_watch && cmd->run != ctl_keygen) {
        ctl.client = kvp_client_new_curve (ctl.broker, ctl.curve);
        if (!ctl.client)
            return ctl_usage_error ("cannot use broker endpoint %s",
                                    ctl.broker);
    }
    int status = cmd->run (&ctl);
    kvp_client_destroy (&ctl.client);
    kvp_curve_destroy (&ctl.curve);
    return status;
}
