/*  kvp_mpcheck.c - a validating pre-scan of msgpack bytes.

    The scan keeps a stack of "objects still expected" per open container
    (a map of n pairs expects 2n) and reads one header at a time; it never
    looks inside str/bin/ext payloads beyond skipping them. The rid scan
    walks the top-level map's keys and values with the same walker, under
    a budget of headers.
*/
#include <stdint.h>
#include <stdbool.h>
#include <assert.h>
#include <string.h>
#include "kvp_mpcheck.h"

/*  What one header says: how many bytes to skip after it, and how many
    child objects follow (containers). */
typedef struct {
    size_t head;                /* header bytes, type byte included */
    uint64_t skip;              /* payload bytes after the header */
    uint64_t children;          /* objects nested in it (2n for a map) */
    bool container;             /* an array or a map, even an empty one */
} s_header_t;

uint64_t
kvp_mpcheck_be (const uint8_t *p, size_t bytes)
{
    uint64_t value = 0;
    for (size_t i = 0; i < bytes; i++)
        value = (value << 8) | p [i];
    return value;
}

/*  Size fields of the variable-length types: (type byte, length-field
    bytes, extra fixed bytes, kind). Kind 0 = payload, 1 = array, 2 = map. */
static const struct {
    uint8_t type;
    uint8_t field;
    uint8_t extra;
    uint8_t kind;
} s_variable [] = {
    { 0xc4, 1, 0, 0 }, { 0xc5, 2, 0, 0 }, { 0xc6, 4, 0, 0 },   /* bin */
    { 0xc7, 1, 1, 0 }, { 0xc8, 2, 1, 0 }, { 0xc9, 4, 1, 0 },   /* ext */
    { 0xd9, 1, 0, 0 }, { 0xda, 2, 0, 0 }, { 0xdb, 4, 0, 0 },   /* str */
    { 0xdc, 2, 0, 1 }, { 0xdd, 4, 0, 1 },                      /* array */
    { 0xde, 2, 0, 2 }, { 0xdf, 4, 0, 2 }                       /* map */
};

/*  Fixed-size types from 0xc0 to 0xdf: payload bytes after the type byte,
    or -1 for a variable or reserved one. */
static int
s_fixed_size (uint8_t type)
{
    switch (type) {
        case 0xc0: case 0xc2: case 0xc3: return 0;     /* nil, bool */
        case 0xca: return 4;                            /* float32 */
        case 0xcb: return 8;                            /* float64 */
        case 0xcc: case 0xd0: return 1;
        case 0xcd: case 0xd1: return 2;
        case 0xce: case 0xd2: return 4;
        case 0xcf: case 0xd3: return 8;
        case 0xd4: return 2;                            /* fixext 1..16 */
        case 0xd5: return 3;
        case 0xd6: return 5;
        case 0xd7: return 9;
        case 0xd8: return 17;
        default: return -1;
    }
}

/*  Read the header at p (avail bytes, avail >= 1). Returns false if the
    header itself is cut short or the type byte is reserved. */
static bool
s_header (const uint8_t *p, size_t avail, s_header_t *h)
{
    uint8_t type = p [0];
    *h = (s_header_t) { 1, 0, 0, false };
    if (type <= 0x7f || type >= 0xe0)
        return true;                                    /* fixint */
    if (type <= 0x9f) {                                 /* fixmap, fixarray */
        h->container = true;
        h->children = type <= 0x8f? 2 * (uint64_t) (type & 0x0f): type & 0x0f;
        return true;
    }
    if (type <= 0xbf) { h->skip = type & 0x1f; return true; }
    int fixed = s_fixed_size (type);
    if (fixed >= 0) {
        h->skip = (uint64_t) fixed;
        return true;
    }
    for (size_t i = 0; i < sizeof (s_variable) / sizeof (s_variable [0]); i++) {
        if (s_variable [i].type != type)
            continue;
        size_t field = s_variable [i].field;
        if (avail < 1 + field)
            return false;
        uint64_t n = kvp_mpcheck_be (p + 1, field);
        h->head = 1 + field;
        if (s_variable [i].kind == 0)
            h->skip = n + s_variable [i].extra;
        else {
            h->container = true;
            h->children = s_variable [i].kind == 2? 2 * n: n;
        }
        return true;
    }
    return false;                                       /* 0xc1 */
}

/*  Walk one whole object at *pos (its children too), advancing *pos past
    it. A container there may open at most `max_depth` levels. `budget`,
    unless NULL, is how many headers may still be read; it runs out as a
    fault. Returns NULL, or why the bytes are not fine. */
static const char *
s_walk (const uint8_t *p, size_t len, size_t *pos, unsigned max_depth,
        size_t *budget)
{
    uint64_t expect [KVP_MPCHECK_DEPTH + 1];
    unsigned depth = 0;
    expect [0] = 1;                     //  the one object
    while (true) {
        while (depth > 0 && expect [depth] == 0)
            depth--;                    //  close finished containers
        if (expect [depth] == 0)
            return NULL;
        if (*pos >= len)
            return "msgpack is cut short";
        if (budget && *budget == 0)
            return "msgpack holds more objects than the scan reads";
        if (budget)
            (*budget)--;
        expect [depth]--;
        s_header_t h;
        if (!s_header (p + *pos, len - *pos, &h))
            return "msgpack is cut short or uses a reserved type";
        *pos += h.head;
        //  Every child takes at least one byte: a larger count is a lie
        if (h.skip > len - *pos || h.children > len - *pos)
            return "msgpack declares more bytes than it holds";
        *pos += (size_t) h.skip;
        if (h.container && depth + 1 > max_depth)
            return "msgpack nests too deep";
        if (h.children > 0)
            expect [++depth] = h.children;
    }
}

const char *
kvp_mpcheck_scan (const void *data, size_t len, unsigned max_depth)
{
    assert (max_depth <= KVP_MPCHECK_DEPTH);
    size_t pos = 0;
    const char *why = s_walk ((const uint8_t *) data, len, &pos, max_depth,
                              NULL);
    if (!why && pos != len)
        why = "trailing bytes after the msgpack object";
    return why;
}

//  --------------------------------------------------------------------------
//  The rid of a body that does not decode

/*  The integer at p (avail >= 1 bytes) as msgpack-c decodes it: true with
    *value when it is an integer >= 0 of any width, signed types included. */
static bool
s_uint_at (const uint8_t *p, size_t avail, uint64_t *value)
{
    uint8_t type = p [0];
    if (type <= 0x7f) {
        *value = type;
        return true;
    }
    bool sign = type >= 0xd0 && type <= 0xd3;
    if (!sign && !(type >= 0xcc && type <= 0xcf))
        return false;
    size_t bytes = (size_t) 1 << (type & 0x03);
    if (avail < 1 + bytes || (sign && (p [1] & 0x80)))
        return false;
    *value = kvp_mpcheck_be (p + 1, bytes);
    return true;
}

/*  The key at *pos is the str "rid", in any str encoding? Steps over it
    either way. */
static bool
s_key_is_rid (const uint8_t *p, size_t len, size_t *pos, size_t *budget,
              const char **why)
{
    size_t start = *pos;
    *why = s_walk (p, len, pos, KVP_MPCHECK_DEPTH - 1, budget);
    if (*why)
        return false;
    s_header_t h;
    uint8_t type = p [start];
    bool str = (type >= 0xa0 && type <= 0xbf) || (type >= 0xd9 && type <= 0xdb);
    return str && s_header (p + start, len - start, &h) && h.skip == 3
        && memcmp (p + start + h.head, "rid", 3) == 0;
}

bool
kvp_mpcheck_rid (const void *data, size_t len, uint64_t *rid)
{
    assert (rid);
    const uint8_t *p = (const uint8_t *) data;
    s_header_t root;
    bool map = p && len > 0 && ((p [0] >= 0x80 && p [0] <= 0x8f)
                                || p [0] == 0xde || p [0] == 0xdf);
    if (!map || !s_header (p, len, &root))
        return false;
    size_t pos = root.head, budget = KVP_MPCHECK_RID_HEADERS;
    const char *why = NULL;
    for (uint64_t pair = 0; pair < root.children / 2 && !why; pair++) {
        if (s_key_is_rid (p, len, &pos, &budget, &why))
            return pos < len && s_uint_at (p + pos, len - pos, rid);
        if (!why)
            why = s_walk (p, len, &pos, KVP_MPCHECK_DEPTH - 1, &budget);
    }
    return false;
}
