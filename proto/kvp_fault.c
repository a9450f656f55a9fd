/*  kvp_fault.c - the faults found while validating one request. */
#include <stdio.h>
#include <string.h>
#include <stdarg.h>
#include "kvp_fault.h"
#include "kvp_utf8.h"

void
kvp_fault_reset (kvp_fault_t *self)
{
    self->type = self->value = false;
    self->type_error [0] = self->value_error [0] = 0;
}

void
kvp_fault_type (kvp_fault_t *self, const char *format, ...)
{
    if (self->type)
        return;
    self->type = true;
    va_list args;
    va_start (args, format);
    vsnprintf (self->type_error, KVP_FAULT_MAX, format, args);
    va_end (args);
}

void
kvp_fault_value (kvp_fault_t *self, const char *format, ...)
{
    if (self->value)
        return;
    self->value = true;
    va_list args;
    va_start (args, format);
    vsnprintf (self->value_error, KVP_FAULT_MAX, format, args);
    va_end (args);
}

bool
kvp_fault_check_text (kvp_fault_t *self, const char *field, long index,
                      const char *text, size_t len, size_t min, size_t max)
{
    const char *why;
    char limit [40];
    if (len < min)
        why = "empty";
    else
    if (len > max) {
        snprintf (limit, sizeof limit, "longer than %zu bytes", max);
        why = limit;
    }
    else
    if (len && memchr (text, 0, len))
        why = "contains NUL";
    else
    if (!kvp_utf8_valid (text, len))
        why = "not valid UTF-8";
    else
        return true;
    if (index >= 0)
        kvp_fault_value (self, "items[%ld].%s: %s", index, field, why);
    else
        kvp_fault_value (self, "%s: %s", field, why);
    return false;
}

const char *
kvp_fault_quote (char *buf, size_t size, const char *text, size_t len)
{
    kvp_utf8_quote (buf, size, text, len, KVP_QUOTE_MAX);
    return buf;
}
