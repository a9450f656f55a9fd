/*  kvp_log.h - the programs' log: a level past which nothing is written,
    and lines as text or as JSON, over CZMQ's zsys logging.

    Code logs with zsys_error, zsys_warning, zsys_notice, zsys_info and
    zsys_debug as before. kvp_log_start points zsys at a stream of its own
    that drops every line past the configured level and writes the others
    to a file descriptor (stderr in the programs), either as zsys writes
    them (text) or as one JSON object a line (json), for log shippers:

        {"time":"2026-12-01T22:20:23.123Z","level":"notice",
         "role":"kvp-worker","id":"w1","pid":4242,"msg":"registered: ..."}

    (one line). `time` is UTC with milliseconds; `level` is error, warning,
    notice, info or debug; `role` the program; `id` its name once
    kvp_log_name gave one (a worker's id), else its PID; `msg` the text,
    escaped as JSON requires (kvp_json_write_str). Each line reaches the
    descriptor in one write.

    Formatting is not free, so a line that is off must not be formatted:
    zsys formats before the stream sees the level. Debug lines, the only
    ones on hot paths, are therefore written as KVP_DEBUG (...) (or
    behind kvp_log_on (KVP_LOG_DEBUG)), which formats nothing when debug
    is off; the other levels mark rare events and are filtered by the
    stream.

    The options: KVP_LOG_OPTIONS puts --log-level, --log-format and
    --verbose (the same as --log-level debug) into a program's kvp_opts
    table, so flags, the --config file and --help all have them.

    The state is the process's (zsys's log is), set up by the main thread
    before other threads log. Depends on CZMQ and kvp_json.
*/
#ifndef KVP_LOG_H_INCLUDED
#define KVP_LOG_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include "kvp_opts.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Levels, most severe first; a level shows itself and those above it.
    They are zsys's: E, W, N, I and D. */
typedef enum {
    KVP_LOG_ERROR,
    KVP_LOG_WARNING,
    KVP_LOG_NOTICE,
    KVP_LOG_INFO,
    KVP_LOG_DEBUG
} kvp_log_level_t;

/*  Line formats. */
typedef enum {
    KVP_LOG_TEXT,               /* as zsys writes them */
    KVP_LOG_JSON                /* one JSON object a line */
} kvp_log_format_t;

/*  The log options of a program's configuration. */
typedef struct {
    unsigned level;             /* --log-level: a kvp_log_level_t */
    unsigned format;            /* --log-format: a kvp_log_format_t */
    bool verbose;               /* --verbose: the level is debug */
} kvp_log_config_t;

/*  The names --log-level and --log-format accept (NULL-terminated). */
extern const kvp_opts_choice_t kvp_log_levels [];
extern const kvp_opts_choice_t kvp_log_formats [];

/*  The three option entries over the kvp_log_config_t `member` of the
    configuration struct type `T`, for a kvp_opts table. */
#define KVP_LOG_OPTIONS(T, member)                                   \
    { .name = "log-level", .type = KVP_OPTS_CHOICE, .metavar = "LEVEL", \
      .choices = kvp_log_levels, .def = "info",                         \
      KVP_OPTS_FIELD (T, member.level),                                 \
      .help = "the least severe lines written: error, warning, "        \
              "notice, info or debug" },                                \
    { .name = "log-format", .type = KVP_OPTS_CHOICE,                    \
      .choices = kvp_log_formats, .def = "text",                        \
      KVP_OPTS_FIELD (T, member.format),                                \
      .help = "json: one JSON object a line (time, level, role, id, "   \
              "pid, msg)" },                                            \
    { .name = "verbose", .type = KVP_OPTS_FLAG,                         \
      KVP_OPTS_FIELD (T, member.verbose),                               \
      .help = "the same as --log-level debug" }

/*  Send zsys's log lines through the level and format of `config`, to
    `fd` (not closed; it is duplicated), with the zsys ident and the JSON
    role `role` (e.g. "kvp-broker"). Calls zsys_init. Returns false (and
    leaves zsys's log as it was) when out of memory or `fd` is bad. Call
    it once, from the main thread, before other threads log; again only
    after kvp_log_stop. */
bool
    kvp_log_start (const kvp_log_config_t *config, const char *role,
                   int fd);

/*  Name the process: its lines carry `id` (the zsys ident becomes
    "ROLE ID"; the JSON `id` is `id`, cut to 64 bytes). */
void
    kvp_log_name (const char *id);

/*  True when lines of `level` are written. Before kvp_log_start every
    level but debug is. Cheap: a load and a compare. */
bool
    kvp_log_on (kvp_log_level_t level);

/*  A rate limit for one kind of log line: at most one line every `ms`,
    the lines held back counted into the next one. Zeroed: the first line
    passes. */
typedef struct {
    int64_t at;                 /* monotonic ms of the last line written */
    uint64_t held;              /* lines held back since then */
} kvp_log_limit_t;

/*  Whether a line may be written now. When true, *held is how many were
    held back since the last one (and the count starts again). */
bool
    kvp_log_limit (kvp_log_limit_t *self, int64_t ms, uint64_t *held);

/*  Give zsys its stderr back and free the stream; lines that follow are
    written by zsys as before kvp_log_start. Safe when not started. */
void
    kvp_log_stop (void);

/*  A debug line, formatted only when debug lines are written. */
#define KVP_DEBUG(...) \
    do { if (kvp_log_on (KVP_LOG_DEBUG)) zsys_debug (__VA_ARGS__); } while (0)

#ifdef __cplusplus
}
#endif
#endif
