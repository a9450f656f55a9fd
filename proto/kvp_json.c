/*  kvp_json.c - print a msgpack object as one line of JSON. See kvp_json.h. */

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kvp_json.h"

/*  Length of the valid UTF-8 sequence at `p` (`left` bytes available), or
    0 if the bytes there are not one: overlong forms, surrogates and code
    points past U+10FFFF are invalid. */
static size_t
s_utf8_len (const uint8_t *p, size_t left)
{
    uint8_t b = p [0];
    size_t n;
    uint32_t cp, min;
    if (b < 0x80) return 1;
    else if ((b & 0xe0) == 0xc0) { n = 2; cp = b & 0x1f; min = 0x80; }
    else if ((b & 0xf0) == 0xe0) { n = 3; cp = b & 0x0f; min = 0x800; }
    else if ((b & 0xf8) == 0xf0) { n = 4; cp = b & 0x07; min = 0x10000; }
    else return 0;
    if (n > left)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p [i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p [i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/*  Write one ASCII byte, escaped if JSON wants it escaped. */
static int
s_write_ascii (FILE *out, uint8_t c)
{
    switch (c) {
        case '"':  return fputs ("\\\"", out) < 0 ? -1 : 0;
        case '\\': return fputs ("\\\\", out) < 0 ? -1 : 0;
        case '\b': return fputs ("\\b", out) < 0 ? -1 : 0;
        case '\f': return fputs ("\\f", out) < 0 ? -1 : 0;
        case '\n': return fputs ("\\n", out) < 0 ? -1 : 0;
        case '\r': return fputs ("\\r", out) < 0 ? -1 : 0;
        case '\t': return fputs ("\\t", out) < 0 ? -1 : 0;
        default:
            if (c < 0x20 || c == 0x7f)
                return fprintf (out, "\\u%04x", c) < 0 ? -1 : 0;
            return fputc (c, out) == EOF ? -1 : 0;
    }
}

int
kvp_json_write_str (FILE *out, const char *str, size_t len)
{
    const uint8_t *p = (const uint8_t *) str;
    if (fputc ('"', out) == EOF)
        return -1;
    size_t i = 0;
    while (i < len) {
        size_t n = s_utf8_len (p + i, len - i);
        int rc;
        if (n == 1)
            rc = s_write_ascii (out, p [i]);
        else
        if (n > 1)
            rc = fwrite (p + i, 1, n, out) == n ? 0 : -1;
        else {
            //  Not UTF-8: keep the byte recoverable (surrogateescape).
            rc = fprintf (out, "\\udc%02x", p [i]) < 0 ? -1 : 0;
            n = 1;
        }
        if (rc)
            return -1;
        i += n;
    }
    return fputc ('"', out) == EOF ? -1 : 0;
}

/*  Write `len` bytes as a quoted base64 string (RFC 4648, padded). */
static int
s_write_base64 (FILE *out, const uint8_t *p, size_t len)
{
    static const char alphabet [] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (fputc ('"', out) == EOF)
        return -1;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t) p [i] << 16;
        if (i + 1 < len) v |= (uint32_t) p [i + 1] << 8;
        if (i + 2 < len) v |= p [i + 2];
        char quad [5] = {
            alphabet [(v >> 18) & 63], alphabet [(v >> 12) & 63],
            i + 1 < len ? alphabet [(v >> 6) & 63] : '=',
            i + 2 < len ? alphabet [v & 63] : '=', 0
        };
        if (fputs (quad, out) < 0)
            return -1;
    }
    return fputc ('"', out) == EOF ? -1 : 0;
}

static int
s_write_float (FILE *out, double value)
{
    if (!isfinite (value))
        return fputs ("null", out) < 0 ? -1 : 0;
    //  %.17g always round-trips; try the shorter %.15g first for the
    //  common case so 0.1 prints as 0.1.
    char text [32];
    snprintf (text, sizeof text, "%.15g", value);
    if (strtod (text, NULL) != value)
        snprintf (text, sizeof text, "%.17g", value);
    return fputs (text, out) < 0 ? -1 : 0;
}

/*  A map key: a str as it is, anything else as the text of its JSON. */
static int
s_write_key (FILE *out, const msgpack_object *key)
{
    if (key->type == MSGPACK_OBJECT_STR)
        return kvp_json_write_str (out, key->via.str.ptr, key->via.str.size);
    char *text = kvp_json_encode (key);
    if (!text)
        return -1;
    int rc = kvp_json_write_str (out, text, strlen (text));
    free (text);
    return rc;
}

static int
s_write_map (FILE *out, const msgpack_object_map *map)
{
    if (fputc ('{', out) == EOF)
        return -1;
    for (uint32_t i = 0; i < map->size; i++) {
        if ((i && fputc (',', out) == EOF)
        ||  s_write_key (out, &map->ptr [i].key)
        ||  fputc (':', out) == EOF
        ||  kvp_json_write (out, &map->ptr [i].val))
            return -1;
    }
    return fputc ('}', out) == EOF ? -1 : 0;
}

static int
s_write_array (FILE *out, const msgpack_object_array *array)
{
    if (fputc ('[', out) == EOF)
        return -1;
    for (uint32_t i = 0; i < array->size; i++) {
        if ((i && fputc (',', out) == EOF)
        ||  kvp_json_write (out, &array->ptr [i]))
            return -1;
    }
    return fputc (']', out) == EOF ? -1 : 0;
}

static int
s_write_ext (FILE *out, const msgpack_object_ext *ext)
{
    if (fprintf (out, "{\"$ext\":%d,\"data\":", (int) ext->type) < 0
    ||  s_write_base64 (out, (const uint8_t *) ext->ptr, ext->size))
        return -1;
    return fputc ('}', out) == EOF ? -1 : 0;
}

int
kvp_json_write (FILE *out, const msgpack_object *obj)
{
    switch (obj->type) {
        case MSGPACK_OBJECT_NIL:
            return fputs ("null", out) < 0 ? -1 : 0;
        case MSGPACK_OBJECT_BOOLEAN:
            return fputs (obj->via.boolean ? "true" : "false", out) < 0 ? -1 : 0;
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            return fprintf (out, "%" PRIu64, obj->via.u64) < 0 ? -1 : 0;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            return fprintf (out, "%" PRId64, obj->via.i64) < 0 ? -1 : 0;
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
            return s_write_float (out, obj->via.f64);
        case MSGPACK_OBJECT_STR:
            return kvp_json_write_str (out, obj->via.str.ptr, obj->via.str.size);
        case MSGPACK_OBJECT_ARRAY:
            return s_write_array (out, &obj->via.array);
        case MSGPACK_OBJECT_MAP:
            return s_write_map (out, &obj->via.map);
        case MSGPACK_OBJECT_BIN:
            if (fputs ("{\"$bin\":", out) < 0
            ||  s_write_base64 (out, (const uint8_t *) obj->via.bin.ptr,
                                obj->via.bin.size))
                return -1;
            return fputc ('}', out) == EOF ? -1 : 0;
        case MSGPACK_OBJECT_EXT:
            return s_write_ext (out, &obj->via.ext);
    }
    return fputs ("null", out) < 0 ? -1 : 0;    //  a type msgpack-c added later
}

char *
kvp_json_encode (const msgpack_object *obj)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return NULL;
    int rc = kvp_json_write (out, obj);
    if (fclose (out) || rc) {
        free (text);
        return NULL;
    }
    return text;
}
