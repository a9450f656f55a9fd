/*  kvp_opts.c - the table-driven command-line parser and usage printer.
*/
#include "kvp_opts.h"

#include <czmq.h>
#include <unistd.h>

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define S_USAGE_WIDTH   24      //  column where the help text starts
#define S_LINE_MAX      1024    //  longest option file line, bytes

//  printf into the caller's error buffer; returns KVP_OPTS_ERROR.
static int
s_fail (char *error, size_t size, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_fail (char *error, size_t size, const char *format, ...)
{
    if (size) {
        va_list args;
        va_start (args, format);
        vsnprintf (error, size, format, args);
        va_end (args);
    }
    return KVP_OPTS_ERROR;
}

bool
kvp_opts_parse_uint (const char *text, bool bytes, uint64_t *value)
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
        const char *units = "KMGT";
        const char *unit = strchr (units, toupper ((unsigned char) *end));
        if (!unit)
            return false;       //  also the NUL strchr would find
        shift = 10 * (int) (unit - units + 1);
        end++;
    }
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        return false;
    *value = (uint64_t) v << shift;
    return true;
}

bool
kvp_opts_check_hostport (const char *value, char *reason, size_t size)
{
    const char *colon = strrchr (value, ':');
    uint64_t port;
    if (colon && colon > value
    &&  kvp_opts_parse_uint (colon + 1, false, &port) && port <= 65535)
        return true;
    snprintf (reason, size, "is not HOST:PORT");
    return false;
}

//  The option named by the `len` bytes at `name`, or NULL.
static const kvp_opts_option_t *
s_lookup (const kvp_opts_option_t *table, size_t count, const char *name,
          size_t len)
{
    for (size_t i = 0; i < count; i++)
        if (strlen (table [i].name) == len
        &&  memcmp (table [i].name, name, len) == 0)
            return &table [i];
    return NULL;
}

//  A choice option's names as "a|b|c", built into `buf`.
static const char *
s_choices (const kvp_opts_option_t *opt, char *buf, size_t size)
{
    size_t used = 0;
    buf [0] = 0;
    for (const kvp_opts_choice_t *c = opt->choices; c->name; c++) {
        int n = snprintf (buf + used, size - used, "%s%s",
                          c == opt->choices ? "" : "|", c->name);
        if (n < 0 || (size_t) n >= size - used)
            break;              //  truncated: good enough for a hint
        used += (size_t) n;
    }
    return buf;
}

//  The placeholder for an option's value: NULL for a flag, else its
//  metavar, else the names of a choice, else "VALUE".
static const char *
s_metavar (const kvp_opts_option_t *opt, char *buf, size_t size)
{
    if (opt->type == KVP_OPTS_FLAG)
        return NULL;
    if (opt->metavar)
        return opt->metavar;
    if (opt->type == KVP_OPTS_CHOICE)
        return s_choices (opt, buf, size);
    return "VALUE";
}

//  The value of the choice named `value`; false if there is none.
static bool
s_choose (const kvp_opts_option_t *opt, const char *value, uint64_t *number)
{
    for (const kvp_opts_choice_t *c = opt->choices; c->name; c++)
        if (strcmp (c->name, value) == 0) {
            *number = c->value;
            return true;
        }
    return false;
}

//  Turn an option's text into the number it stores (flags 1; strings
//  store the text itself). Returns a KVP_OPTS_* code.
static int
s_convert (const kvp_opts_option_t *opt, const char *value,
           uint64_t *number, char *error, size_t size)
{
    char choices [128];
    switch (opt->type) {
        case KVP_OPTS_STRING:
        case KVP_OPTS_CONFIG:
            if (!*value)
                return s_fail (error, size, "--%s: empty value", opt->name);
            return KVP_OPTS_OK;
        case KVP_OPTS_FLAG:
            *number = 1;
            return KVP_OPTS_OK;
        case KVP_OPTS_CHOICE:
            if (s_choose (opt, value, number))
                return KVP_OPTS_OK;
            return s_fail (error, size, "--%s: expected %s, got \"%s\"",
                           opt->name,
                           s_choices (opt, choices, sizeof choices), value);
        case KVP_OPTS_UINT:
        case KVP_OPTS_BYTES:
            if (kvp_opts_parse_uint (value, opt->type == KVP_OPTS_BYTES,
                                     number)
            &&  *number >= opt->min && *number <= opt->max)
                return KVP_OPTS_OK;
            return s_fail (error, size, "--%s: \"%s\" is not a number in "
                           "%llu..%llu", opt->name, value,
                           (unsigned long long) opt->min,
                           (unsigned long long) opt->max);
    }
    return s_fail (error, size, "--%s: unsupported option", opt->name);
}

//  The largest number a field of C type `ctype` holds.
static uint64_t
s_ctype_max (kvp_opts_ctype_t ctype)
{
    switch (ctype) {
        case KVP_OPTS_C_BOOL:     return 1;
        case KVP_OPTS_C_INT:      return INT_MAX;
        case KVP_OPTS_C_UNSIGNED: return UINT_MAX;
        case KVP_OPTS_C_ULONG:    return ULONG_MAX;
        case KVP_OPTS_C_ULLONG:   return ULLONG_MAX;
        default:                  return 0;
    }
}

//  Store a converted value into the option's field of `config`. A field
//  whose C type does not fit the option is a table error.
static void
s_store (const kvp_opts_option_t *opt, void *config, const char *text,
         uint64_t number)
{
    void *field = (char *) config + opt->offset;
    if (opt->type == KVP_OPTS_STRING || opt->type == KVP_OPTS_CONFIG) {
        assert (opt->ctype == KVP_OPTS_C_STRING);
        *(const char **) field = text;
        return;
    }
    assert (opt->type != KVP_OPTS_FLAG || opt->ctype == KVP_OPTS_C_BOOL);
    assert (opt->ctype != KVP_OPTS_C_STRING && opt->ctype != KVP_OPTS_C_OTHER);
    assert (number <= s_ctype_max (opt->ctype));
    switch (opt->ctype) {
        case KVP_OPTS_C_BOOL:     *(bool *) field = number != 0; break;
        case KVP_OPTS_C_INT:      *(int *) field = (int) number; break;
        case KVP_OPTS_C_UNSIGNED: *(unsigned *) field = (unsigned) number;
                                  break;
        case KVP_OPTS_C_ULONG:    *(unsigned long *) field =
                                      (unsigned long) number;
                                  break;
        case KVP_OPTS_C_ULLONG:   *(unsigned long long *) field = number;
                                  break;
        default:                  break;
    }
}

//  Check, convert and store one option's value. Returns a KVP_OPTS_* code.
static int
s_set (const kvp_opts_option_t *opt, void *config, const char *value,
       char *error, size_t size)
{
    uint64_t number = 0;
    int rc = s_convert (opt, value, &number, error, size);
    if (rc != KVP_OPTS_OK)
        return rc;
    char reason [128] = "is not valid";
    if (opt->check && !opt->check (value, reason, sizeof reason))
        return s_fail (error, size, "--%s: \"%s\" %s", opt->name, value,
                       reason);
    s_store (opt, config, value, number);
    return KVP_OPTS_OK;
}

void
kvp_opts_defaults (const kvp_opts_option_t *table, size_t count,
                   void *config)
{
    char ignored [8];
    for (size_t i = 0; i < count; i++) {
        const kvp_opts_option_t *opt = &table [i];
        if (opt->def) {
            int rc = s_set (opt, config, opt->def, ignored, sizeof ignored);
            assert (rc == KVP_OPTS_OK);     //  a table's own default
            (void) rc;
        }
        else
            s_store (opt, config, NULL, 0);
    }
}

//  Handle argv[*index], and the next argument when it is the value.
//  Returns a KVP_OPTS_* code.
static int
s_parse_one (const kvp_opts_option_t *table, size_t count, void *config,
             int argc, char *argv [], int *index, char *error, size_t size)
{
    const char *arg = argv [*index];
    if (strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0)
        return KVP_OPTS_HELP;
    if (strncmp (arg, "--", 2) != 0)
        return s_fail (error, size, "unexpected argument \"%s\"", arg);
    const char *name = arg + 2, *eq = strchr (name, '=');
    size_t len = eq ? (size_t) (eq - name) : strlen (name);
    const kvp_opts_option_t *opt = s_lookup (table, count, name, len);
    if (!opt)
        return s_fail (error, size, "unknown option \"--%.*s\"", (int) len,
                       name);
    if (opt->type == KVP_OPTS_FLAG) {
        if (eq)
            return s_fail (error, size, "--%s takes no value", opt->name);
        return s_set (opt, config, "", error, size);
    }
    const char *value = eq ? eq + 1 : NULL;
    if (!value) {
        char choices [128];
        if (*index + 1 >= argc)
            return s_fail (error, size, "--%s needs a value (%s)", opt->name,
                           s_metavar (opt, choices, sizeof choices));
        value = argv [++*index];
    }
    return s_set (opt, config, value, error, size);
}

//  Fill `config` from argv[1..argc-1] only. Returns a KVP_OPTS_* code.
static int
s_parse_args (const kvp_opts_option_t *table, size_t count, void *config,
              int argc, char *argv [], char *error, size_t size)
{
    for (int i = 1; i < argc; i++) {
        int rc = s_parse_one (table, count, config, argc, argv, &i,
                              error, size);
        if (rc != KVP_OPTS_OK)
            return rc;
    }
    return KVP_OPTS_OK;
}

int
kvp_opts_parse (const kvp_opts_option_t *table, size_t count, void *config,
                int argc, char *argv [], char *error, size_t size)
{
    kvp_opts_defaults (table, count, config);
    if (size)
        *error = 0;
    return s_parse_args (table, count, config, argc, argv, error, size);
}


//  ---------------------------------------------------------------------
//  The option file: CZMQ's zconfig reads the ZPL; this code maps each
//  item back to its line (zconfig keeps none) and applies it.

struct _kvp_opts_file_t {
    char *path;                 //  as given, for errors
    zconfig_t *root;            //  the parsed file
    int *lines;                 //  line of each item, depth first
    size_t nlines;              //  entries of lines
};

void
kvp_opts_file_destroy (kvp_opts_file_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_opts_file_t *self = *self_p;
    zconfig_destroy (&self->root);
    free (self->lines);
    free (self->path);
    free (self);
    *self_p = NULL;
}

//  True when a ZPL line makes an item: not blank, not a comment.
static bool
s_zpl_item (const char *line)
{
    line += strspn (line, " \t");
    return *line && *line != '#' && *line != '\r' && *line != '\n';
}

//  Number the lines of `text` that make items: zconfig makes one item
//  per such line, in order, so the n-th item found depth first is on
//  lines[n]. False when out of memory or a line is too long for zconfig.
static bool
s_file_number (kvp_opts_file_t *self, const char *text)
{
    size_t alloc = 0;
    int lineno = 1;
    for (const char *line = text; *line; lineno++) {
        const char *eol = strchr (line, '\n');
        size_t len = eol ? (size_t) (eol - line) : strlen (line);
        if (len >= S_LINE_MAX)
            return false;
        if (s_zpl_item (line) && self->nlines == alloc) {
            alloc = alloc ? 2 * alloc : 32;
            int *grown = realloc (self->lines, alloc * sizeof *grown);
            if (!grown)
                return false;
            self->lines = grown;
        }
        if (s_zpl_item (line))
            self->lines [self->nlines++] = lineno;
        line += len + (eol != NULL);
    }
    return true;
}

//  zconfig_str_load, with what it prints to stdout (its reason for a
//  refusal, "... (zconfig): (LINE) reason") caught into `caught`.
static zconfig_t *
s_file_zload (const char *text, char *caught, size_t size)
{
    caught [0] = 0;
    FILE *capture = tmpfile ();
    int saved = capture ? dup (STDOUT_FILENO) : -1;
    fflush (stdout);
    if (saved >= 0)
        dup2 (fileno (capture), STDOUT_FILENO);
    zconfig_t *root = zconfig_str_load (text);
    fflush (stdout);
    if (saved >= 0) {
        dup2 (saved, STDOUT_FILENO);
        close (saved);
        rewind (capture);
        size_t n = fread (caught, 1, size - 1, capture);
        caught [n] = 0;
    }
    if (capture)
        fclose (capture);
    return root;
}

//  Parse `text` with zconfig; on a refusal, "PATH:LINE: reason".
static zconfig_t *
s_file_parse (const char *path, const char *text, char *error, size_t size)
{
    char caught [512];
    zconfig_t *root = s_file_zload (text, caught, sizeof caught);
    if (root)
        return root;
    int lineno = 0;
    char reason [200] = "not valid ZPL";
    const char *mark = strstr (caught, "(zconfig): (");
    if (mark)
        sscanf (mark, "(zconfig): (%d) %199[^\n]", &lineno, reason);
    s_fail (error, size, "%s:%d: %s", path, lineno, reason);
    return NULL;
}

//  The whole file at `path` as a string (malloc'd), or NULL.
static char *
s_file_read (const char *path, char *error, size_t size)
{
    FILE *in = fopen (path, "r");
    if (!in) {
        s_fail (error, size, "--config %s: %s", path, strerror (errno));
        return NULL;
    }
    char *text = NULL;
    size_t alloc = 0;
    ssize_t len = getdelim (&text, &alloc, 0, in);
    bool failed = ferror (in) || (len >= 0 && (size_t) len < strlen (text));
    fclose (in);
    if (len < 0 && !failed && text)
        text [0] = 0;           //  an empty file
    if (failed || !text) {
        s_fail (error, size, "--config %s: cannot read it (or it holds a "
                "NUL byte)", path);
        free (text);
        return NULL;
    }
    return text;
}

//  Read and parse the ZPL file at `path`; NULL with the reason in `error`.
//  (zconfig_load itself leaks when it refuses a file: read it here.)
static kvp_opts_file_t *
s_file_load (const char *path, char *error, size_t size)
{
    char *text = s_file_read (path, error, size);
    if (!text)
        return NULL;
    kvp_opts_file_t *self = calloc (1, sizeof *self);
    bool numbered = self && (self->path = strdup (path))
                 && s_file_number (self, text);
    if (!numbered)
        s_fail (error, size, "%s: out of memory, or a line of %d bytes or "
                "more", path, S_LINE_MAX);
    else
        self->root = s_file_parse (path, text, error, size);
    free (text);
    if (self && !self->root)
        kvp_opts_file_destroy (&self);
    return self;
}

//  The file's line of the `index`-th item (0 when it cannot be known).
static int
s_file_line (kvp_opts_file_t *self, size_t index)
{
    return index < self->nlines ? self->lines [index] : 0;
}

//  A flag's value in a file: true or false (also yes/no, 1/0).
static int
s_file_flag (const kvp_opts_option_t *opt, const char *value, bool *on,
             char *error, size_t size)
{
    if (streq (value, "true") || streq (value, "yes") || streq (value, "1"))
        *on = true;
    else
    if (streq (value, "false") || streq (value, "no") || streq (value, "0"))
        *on = false;
    else
        return s_fail (error, size, "%s: expected true or false, got \"%s\"",
                       opt->name, value);
    return KVP_OPTS_OK;
}

//  Check one top-level item and set its option. Returns a KVP_OPTS_* code.
static int
s_file_item (zconfig_t *item, const kvp_opts_option_t *table, size_t count,
             void *config, char *error, size_t size)
{
    const char *name = zconfig_name (item);
    const char *value = zconfig_value (item);
    const kvp_opts_option_t *opt = s_lookup (table, count, name,
                                             strlen (name));
    if (!opt)
        return s_fail (error, size, "unknown option \"%s\"", name);
    if (zconfig_child (item))
        return s_fail (error, size, "%s: options take no indented lines",
                       name);
    if (opt->type == KVP_OPTS_CONFIG)
        return s_fail (error, size, "%s: a file cannot name another one",
                       name);
    if (opt->type != KVP_OPTS_FLAG)
        return s_set (opt, config, value, error, size);
    bool on = false;
    int rc = s_file_flag (opt, value, &on, error, size);
    if (rc == KVP_OPTS_OK)
        s_store (opt, config, NULL, on);
    return rc;
}

//  The number of items below `item` (its whole subtree, not itself).
static size_t
s_file_subtree (zconfig_t *item)
{
    size_t n = 0;
    for (zconfig_t *c = zconfig_child (item); c; c = zconfig_next (c))
        n += 1 + s_file_subtree (c);
    return n;
}

//  The first top-level item before `item` with the same name, or NULL.
static zconfig_t *
s_file_earlier (zconfig_t *root, zconfig_t *item, size_t *index)
{
    size_t at = 0;
    for (zconfig_t *c = zconfig_child (root); c != item;
         c = zconfig_next (c)) {
        if (streq (zconfig_name (c), zconfig_name (item))) {
            *index = at;
            return c;
        }
        at += 1 + s_file_subtree (c);
    }
    return NULL;
}

//  Set the options the file names, in order. Returns a KVP_OPTS_* code
//  with "PATH:LINE: reason" in `error`.
static int
s_file_apply (kvp_opts_file_t *self, const kvp_opts_option_t *table,
              size_t count, void *config, char *error, size_t size)
{
    char reason [256];
    size_t index = 0, first;
    for (zconfig_t *item = zconfig_child (self->root); item;
         item = zconfig_next (item)) {
        int rc = KVP_OPTS_OK;
        if (s_file_earlier (self->root, item, &first))
            rc = s_fail (reason, sizeof reason, "%s: set again (first on "
                         "line %d)", zconfig_name (item),
                         s_file_line (self, first));
        else
            rc = s_file_item (item, table, count, config, reason,
                              sizeof reason);
        if (rc != KVP_OPTS_OK)
            return s_fail (error, size, "%s:%d: %s", self->path,
                           s_file_line (self, index), reason);
        index += 1 + s_file_subtree (item);
    }
    return KVP_OPTS_OK;
}

//  The table's KVP_OPTS_CONFIG option, or NULL.
static const kvp_opts_option_t *
s_config_option (const kvp_opts_option_t *table, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (table [i].type == KVP_OPTS_CONFIG)
            return &table [i];
    return NULL;
}

int
kvp_opts_parse_file (const kvp_opts_option_t *table, size_t count,
                     void *config, int argc, char *argv [],
                     kvp_opts_file_t **file, char *error, size_t size)
{
    *file = NULL;
    int rc = kvp_opts_parse (table, count, config, argc, argv, error, size);
    const kvp_opts_option_t *opt = s_config_option (table, count);
    if (rc != KVP_OPTS_OK || !opt)
        return rc;
    const char *path = *(const char **) ((char *) config + opt->offset);
    if (!path)
        return KVP_OPTS_OK;
    kvp_opts_file_t *loaded = s_file_load (path, error, size);
    if (!loaded)
        return KVP_OPTS_ERROR;
    kvp_opts_defaults (table, count, config);
    rc = s_file_apply (loaded, table, count, config, error, size);
    if (rc == KVP_OPTS_OK)
        rc = s_parse_args (table, count, config, argc, argv, error, size);
    if (rc == KVP_OPTS_OK)
        *file = loaded;
    else
        kvp_opts_file_destroy (&loaded);
    return rc;
}

//  One usage line: "  --name METAVAR   help [default X] (min..max)".
static void
s_usage_line (const kvp_opts_option_t *opt, FILE *out)
{
    char choices [128], left [64];
    const char *metavar = s_metavar (opt, choices, sizeof choices);
    snprintf (left, sizeof left, "--%s%s%s", opt->name, metavar ? " " : "",
              metavar ? metavar : "");
    fprintf (out, "  %-*s %s", S_USAGE_WIDTH, left, opt->help);
    if (opt->def)
        fprintf (out, " [default %s]", opt->def);
    if (opt->type == KVP_OPTS_UINT || opt->type == KVP_OPTS_BYTES)
        fprintf (out, " (%llu..%llu)", (unsigned long long) opt->min,
                 (unsigned long long) opt->max);
    fputc ('\n', out);
}

void
kvp_opts_usage (const kvp_opts_option_t *table, size_t count, FILE *out)
{
    for (size_t i = 0; i < count; i++)
        s_usage_line (&table [i], out);
    fprintf (out, "  %-*s %s\n", S_USAGE_WIDTH, "--help",
             "print this text and exit");
}
