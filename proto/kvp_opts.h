/*  kvp_opts.h - the project's command-line helper: one option table
    drives both the parser and the usage text, so they cannot drift apart.

    This is not part of the KVP/1 wire codec. It lives in proto/ because
    proto is the leaf library that every program links; it depends on the
    C library, and on CZMQ's zconfig for the option file (no sockets).

    A program describes its options in a constant table of
    kvp_opts_option_t (name, type, metavar, default, bounds, field, help)
    over its own configuration struct, then calls kvp_opts_parse with a
    pointer to that struct. Both `--name value` and `--name=value` are
    accepted; `--help` and `-h` are built in. String values point into
    argv or into the table's defaults: nothing is allocated.

    A table may hold one KVP_OPTS_CONFIG option (`--config FILE`). Then
    kvp_opts_parse_file reads that file, in ZPL (one `name = value` line
    per option, `#` comments), between the defaults and the flags: flags
    override the file. The file's strings live in a kvp_opts_file_t that
    the caller keeps as long as the configuration.
*/
#ifndef KVP_OPTS_H_INCLUDED
#define KVP_OPTS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  What kvp_opts_parse found. */
#define KVP_OPTS_OK     0       /* run with the configuration */
#define KVP_OPTS_HELP   1       /* --help or -h: print usage, exit 0 */
#define KVP_OPTS_ERROR  2       /* bad option or value: print why, exit 2 */

/*  How an option's text becomes a value. */
typedef enum {
    KVP_OPTS_STRING,            /* non-empty text, borrowed */
    KVP_OPTS_UINT,              /* strict decimal within [min, max] */
    KVP_OPTS_BYTES,             /* decimal with an optional K/M/G/T suffix
                                   (x1024, any case), within [min, max] */
    KVP_OPTS_FLAG,              /* takes no value: sets a bool to true */
    KVP_OPTS_CHOICE,            /* one of `choices`: stores its value */
    KVP_OPTS_CONFIG             /* a ZPL file of options (as STRING; read
                                   by kvp_opts_parse_file) */
} kvp_opts_type_t;

/*  The text of an option file, which string fields borrow (opaque). */
typedef struct _kvp_opts_file_t kvp_opts_file_t;

/*  The C type of the field an option fills (KVP_OPTS_FIELD finds it). */
typedef enum {
    KVP_OPTS_C_OTHER,           /* unsupported: a table error */
    KVP_OPTS_C_STRING,          /* const char * (or char *) */
    KVP_OPTS_C_BOOL,            /* bool */
    KVP_OPTS_C_INT,             /* int */
    KVP_OPTS_C_UNSIGNED,        /* unsigned int */
    KVP_OPTS_C_ULONG,           /* unsigned long (uint64_t, size_t on LP64) */
    KVP_OPTS_C_ULLONG           /* unsigned long long */
} kvp_opts_ctype_t;

/*  One name a KVP_OPTS_CHOICE option accepts; a list ends with a NULL
    name. */
typedef struct {
    const char *name;           /* the text on the command line */
    uint64_t value;             /* what it stores into the field */
} kvp_opts_choice_t;

/*  An extra check of an option's text (after its type's own checks).
    Returns true when `value` is acceptable; otherwise writes why into
    `reason` (`size` bytes), which the error shows as
    `--name: "value" <reason>`. */
typedef bool (kvp_opts_check_fn) (const char *value, char *reason,
                                  size_t size);

/*  One option of a table. Use designated initializers and KVP_OPTS_FIELD:
        { .name = "batch", .type = KVP_OPTS_UINT, .metavar = "N",
          .def = "256", .min = 1, .max = 4096,
          KVP_OPTS_FIELD (my_config_t, batch), .help = "..." } */
typedef struct {
    const char *name;           /* without the leading "--" */
    kvp_opts_type_t type;
    const char *metavar;        /* value placeholder in usage and errors;
                                   NULL: flags none, choices "a|b" */
    const char *def;            /* default as command-line text; NULL: the
                                   field is zeroed (NULL, 0, false) */
    uint64_t min, max;          /* UINT and BYTES bounds, inclusive */
    size_t offset;              /* the field in the caller's struct */
    kvp_opts_ctype_t ctype;     /* its C type */
    const kvp_opts_choice_t *choices;   /* CHOICE: the accepted names */
    kvp_opts_check_fn *check;   /* extra check of the text, or NULL */
    const char *help;           /* one line of usage text */
} kvp_opts_option_t;

/*  The C type of expression `expr` as a kvp_opts_ctype_t constant. */
#define KVP_OPTS_CTYPE(expr) _Generic ((expr),                          \
    const char *: KVP_OPTS_C_STRING, char *: KVP_OPTS_C_STRING,         \
    bool: KVP_OPTS_C_BOOL, int: KVP_OPTS_C_INT,                         \
    unsigned int: KVP_OPTS_C_UNSIGNED, unsigned long: KVP_OPTS_C_ULONG, \
    unsigned long long: KVP_OPTS_C_ULLONG, default: KVP_OPTS_C_OTHER)

/*  Designated initializers for .offset and .ctype of `field` in struct
    type `type` (the member is only named, never read). */
#define KVP_OPTS_FIELD(type, field)                                     \
    .offset = offsetof (type, field),                                   \
    .ctype = KVP_OPTS_CTYPE (((type *) 0)->field)

/*  The number of entries of a table array. */
#define KVP_OPTS_COUNT(table) (sizeof (table) / sizeof ((table) [0]))

/*  Set every field named by the `count` options of `table` in `config` to
    its default (or zero when the option has none). Other fields of
    `config` are left alone. A default that does not parse, or a field of
    the wrong C type, is a programmer error (asserted). */
void
    kvp_opts_defaults (const kvp_opts_option_t *table, size_t count,
                       void *config);

/*  Fill `config` from the defaults, then from argv[1..argc-1]. Returns
    KVP_OPTS_OK, KVP_OPTS_HELP (stops at --help or -h, whatever else is
    given), or KVP_OPTS_ERROR with the reason in `error` (`size` bytes,
    NUL-terminated when `size` > 0; the first error stops the parse).
    `config` borrows strings from argv: keep argv alive. */
int
    kvp_opts_parse (const kvp_opts_option_t *table, size_t count,
                    void *config, int argc, char *argv [],
                    char *error, size_t size);

/*  As kvp_opts_parse; then, when the table's KVP_OPTS_CONFIG option was
    given, fill `config` again from the defaults, that file, and argv (so
    flags override the file). In the file an option is `name = value` on
    a line of its own (ZPL, top level; a flag takes true or false); an
    unknown name, a repeated one, a bad value or bad ZPL is refused with
    KVP_OPTS_ERROR and "FILE:LINE: reason" in `error`. On success *file is
    the file's text (NULL when no file was given), which `config` borrows:
    the caller destroys it after `config`. On error *file is NULL. What
    zconfig prints about a refusal is caught while the file is read. */
int
    kvp_opts_parse_file (const kvp_opts_option_t *table, size_t count,
                         void *config, int argc, char *argv [],
                         kvp_opts_file_t **file, char *error, size_t size);

/*  Destroy an option file; safe on NULL and twice. Nulls *self_p. */
void
    kvp_opts_file_destroy (kvp_opts_file_t **self_p);

/*  Print one line per option of `table` (name, metavar, help, default,
    bounds), then the built-in --help, to `out`. The caller prints the
    synopsis above it. */
void
    kvp_opts_usage (const kvp_opts_option_t *table, size_t count,
                    FILE *out);

/*  A kvp_opts_check_fn for "HOST:PORT": a non-empty host, a colon, and a
    decimal port 0..65535. */
bool
    kvp_opts_check_hostport (const char *value, char *reason, size_t size);

/*  The `--metrics HOST:PORT` row that broker and worker share, filling the
    string `field` of the struct `conf`. */
#define KVP_OPTS_METRICS(conf, field) \
    { .name = "metrics", .type = KVP_OPTS_STRING, .metavar = "HOST:PORT", \
      .check = kvp_opts_check_hostport, KVP_OPTS_FIELD (conf, field), \
      .help = "serve Prometheus metrics at http://HOST:PORT/metrics (off " \
              "when not given)" }

/*  Parse `text` as an unsigned decimal (digits only: no sign, no spaces),
    with a binary K/M/G/T suffix when `bytes`. Returns false on anything
    else or on overflow; *value is set only on success. */
bool
    kvp_opts_parse_uint (const char *text, bool bytes, uint64_t *value);

#ifdef __cplusplus
}
#endif
#endif
