/*  kvp_log.c - zsys's log lines through a level and a format. See
    kvp_log.h.

    zsys writes each line as "L: (IDENT) yy-mm-dd HH:MM:SS TEXT" (or
    without the ident) with one fprintf and an fflush, into the stream set
    by zsys_set_logstream. Here that stream is a cookie stream whose write
    function gathers the bytes into lines and hands each one on; stdio
    holds the stream's lock while it runs, so lines from several threads
    never mix.
*/
#include "kvp_log.h"
#include "kvp_json.h"

#include <czmq.h>
#include <ctype.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_LINE_MAX  4096        //  a line cut here (zsys writes <= 1024)
#define S_OUT_BUF   (8 * S_LINE_MAX)    //  a JSON line escaped, in one write
#define S_ID_MAX    64          //  role and id kept

const kvp_opts_choice_t kvp_log_levels [] = {
    { "error", KVP_LOG_ERROR }, { "warning", KVP_LOG_WARNING },
    { "notice", KVP_LOG_NOTICE }, { "info", KVP_LOG_INFO },
    { "debug", KVP_LOG_DEBUG }, { NULL, 0 }
};

const kvp_opts_choice_t kvp_log_formats [] = {
    { "text", KVP_LOG_TEXT }, { "json", KVP_LOG_JSON }, { NULL, 0 }
};

//  The process's log, as zsys's is one per process.
static struct {
    FILE *in;                   //  the stream zsys writes to, or NULL
    FILE *out;                  //  the descriptor's copy, fully buffered
    kvp_log_level_t level;      //  the least severe level written
    kvp_log_format_t format;
    char role [S_ID_MAX + 1];   //  "kvp-broker", ...
    char id [S_ID_MAX + 1];     //  the name, or the PID until named
    char line [S_LINE_MAX];     //  the line being gathered
    size_t used;                //  its bytes so far
    kvp_log_level_t last;       //  the level of the last zsys line
} s_log = { .level = KVP_LOG_INFO, .last = KVP_LOG_INFO };

//  True if `line` (`len` bytes) starts as zsys starts a line, with its
//  level letter and ": "; sets *level.
static bool
s_zsys_line (const char *line, size_t len, kvp_log_level_t *level)
{
    static const char letters [] = "EWNID";    //  by kvp_log_level_t
    const char *letter = len >= 3 && line [1] == ':' && line [2] == ' '
                       ? strchr (letters, line [0]) : NULL;
    if (!letter || !*letter)
        return false;
    *level = (kvp_log_level_t) (letter - letters);
    return true;
}

//  True if `text` starts with zsys's "yy-mm-dd HH:MM:SS " (it stops at
//  the first byte that differs, so never reads past the NUL).
static bool
s_is_date (const char *text)
{
    static const char shape [] = "00-00-00 00:00:00 ";
    for (size_t i = 0; shape [i]; i++)
        if (shape [i] == '0' ? !isdigit ((unsigned char) text [i])
                             : text [i] != shape [i])
            return false;
    return true;
}

//  The text of a zsys line ("L: " already checked), after its ident and
//  date: the first ") " followed by a date ends an ident.
static const char *
s_message (const char *line)
{
    const char *at = line + 3;
    size_t date = strlen ("yy-mm-dd HH:MM:SS ");
    if (*at == '(')
        for (const char *end = strstr (at, ") "); end;
             end = strstr (end + 1, ") "))
            if (s_is_date (end + 2))
                return end + 2 + date;
    return s_is_date (at) ? at + date : at;
}

//  "time":"2026-12-01T22:20:23.123Z", UTC, now.
static void
s_write_time (FILE *out)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r (&now.tv_sec, &tm);
    char date [32];
    strftime (date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf (out, "\"time\":\"%s.%03ldZ\"", date, now.tv_nsec / 1000000);
}

static void
s_write_json (kvp_log_level_t level, const char *msg, size_t len)
{
    static const char *names [] = { "error", "warning", "notice", "info",
                                    "debug" };
    FILE *out = s_log.out;
    fputc ('{', out);
    s_write_time (out);
    fprintf (out, ",\"level\":\"%s\",\"role\":", names [level]);
    kvp_json_write_str (out, s_log.role, strlen (s_log.role));
    fputs (",\"id\":", out);
    kvp_json_write_str (out, s_log.id, strlen (s_log.id));
    fprintf (out, ",\"pid\":%d,\"msg\":", (int) getpid ());
    kvp_json_write_str (out, msg, len);
    fputs ("}\n", out);
}

//  One whole line (NUL-terminated, without its newline): written, or
//  dropped when its level is off. A line not in zsys's shape continues a
//  message with a newline in it, at that message's level.
static void
s_emit (const char *line, size_t len)
{
    bool zsys_line = s_zsys_line (line, len, &s_log.last);
    kvp_log_level_t level = s_log.last;
    if (level > s_log.level)
        return;
    if (s_log.format == KVP_LOG_JSON) {
        const char *msg = zsys_line ? s_message (line) : line;
        s_write_json (level, msg, len - (size_t) (msg - line));
    }
    else {
        fwrite (line, 1, len, s_log.out);
        fputc ('\n', s_log.out);
    }
    fflush (s_log.out);
}

//  The cookie stream's write: gather lines, emit each whole one.
static ssize_t
s_receive (void *cookie, const char *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (data [i] != '\n')
            s_log.line [s_log.used++] = data [i];
        if (data [i] == '\n' || s_log.used == S_LINE_MAX - 1) {
            s_log.line [s_log.used] = 0;
            s_emit (s_log.line, s_log.used);
            s_log.used = 0;
        }
    }
    return (ssize_t) size;
}

bool
kvp_log_start (const kvp_log_config_t *config, const char *role, int fd)
{
    assert (!s_log.in);
    int copy = dup (fd);
    FILE *out = copy >= 0 ? fdopen (copy, "w") : NULL;
    cookie_io_functions_t io = { .write = s_receive };
    FILE *in = out ? fopencookie (NULL, "w", io) : NULL;
    if (!in) {
        if (out)
            fclose (out);
        else
        if (copy >= 0)
            close (copy);
        return false;
    }
    setvbuf (out, NULL, _IOFBF, S_OUT_BUF);
    setvbuf (in, NULL, _IOFBF, S_LINE_MAX);
    s_log.in = in;
    s_log.out = out;
    s_log.used = 0;
    s_log.last = KVP_LOG_INFO;
    s_log.level = config->verbose ? KVP_LOG_DEBUG
                                  : (kvp_log_level_t) config->level;
    s_log.format = (kvp_log_format_t) config->format;
    snprintf (s_log.role, sizeof s_log.role, "%s", role);
    snprintf (s_log.id, sizeof s_log.id, "%d", (int) getpid ());
    zsys_init ();
    zsys_set_logident (role);
    zsys_set_logstream (in);
    return true;
}

void
kvp_log_name (const char *id)
{
    char ident [2 * S_ID_MAX + 2];
    snprintf (ident, sizeof ident, "%s %s", s_log.role, id);
    //  Under the stream's lock: a thread may be writing a line.
    if (s_log.in)
        flockfile (s_log.in);
    snprintf (s_log.id, sizeof s_log.id, "%s", id);
    zsys_set_logident (ident);
    if (s_log.in)
        funlockfile (s_log.in);
}

bool
kvp_log_limit (kvp_log_limit_t *self, int64_t ms, uint64_t *held)
{
    int64_t now = zclock_mono ();
    if (self->at && now - self->at < ms) {
        self->held++;
        return false;
    }
    *held = self->held;
    self->held = 0;
    self->at = now;
    return true;
}

bool
kvp_log_on (kvp_log_level_t level)
{
    return level <= s_log.level;
}

void
kvp_log_stop (void)
{
    if (!s_log.in)
        return;
    zsys_set_logstream (stderr);
    fclose (s_log.in);
    fclose (s_log.out);
    s_log.in = s_log.out = NULL;
    s_log.level = KVP_LOG_INFO;
    s_log.format = KVP_LOG_TEXT;
}
