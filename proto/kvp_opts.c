/*  kvp_opts.c - the table-driven command-line parser and usage printer.
*/
#include "kvp_opts.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define S_USAGE_WIDTH   24      //  column where the help text starts

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
    if (opt->type == KVP_OPTS_STRING) {
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

int
kvp_opts_parse (const kvp_opts_option_t *table, size_t count, void *config,
                int argc, char *argv [], char *error, size_t size)
{
    kvp_opts_defaults (table, count, config);
    if (size)
        *error = 0;
    for (int i = 1; i < argc; i++) {
        int rc = s_parse_one (table, count, config, argc, argv, &i,
                              error, size);
        if (rc != KVP_OPTS_OK)
            return rc;
    }
    return KVP_OPTS_OK;
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
