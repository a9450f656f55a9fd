/*  kvp_guid.c - GUIDs, WMI object paths, the partition function, job ids.

    Everything here parses untrusted text: every read is bounded by the
    length given, and nothing assumes a NUL terminator.
*/
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <assert.h>
#include <fcntl.h>
#include <unistd.h>
#include <time.h>
#include <sys/random.h>
#include "kvp_guid.h"

static const char s_hex [] = "0123456789abcdef";

/*  Value of a hex digit, or -1. */
static int
s_hexval (char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool
s_is_dash_at (size_t i)
{
    return i == 8 || i == 13 || i == 18 || i == 23;
}

bool
kvp_guid_parse (kvp_guid_t *guid, const char *text, size_t len)
{
    assert (guid);
    if (!text || len != KVP_GUID_LEN)
        return false;
    char out [KVP_GUID_LEN + 1];
    for (size_t i = 0; i < KVP_GUID_LEN; i++) {
        if (s_is_dash_at (i)) {
            if (text [i] != '-')
                return false;
            out [i] = '-';
        }
        else {
            int v = s_hexval (text [i]);
            if (v < 0)
                return false;
            out [i] = s_hex [v];
        }
    }
    out [KVP_GUID_LEN] = 0;
    memcpy (guid->text, out, sizeof (out));
    return true;
}

//  --------------------------------------------------------------------------
//  WMI object paths:
//      [\\HOST\namespace:]Class.Key1="value",Key2="value"
//  A value is quoted ('"' or '\''), with backslash escapes, or a bare
//  token (numbers). Only the key property Name matters to us.

static bool
s_is_ident (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9') || c == '_';
}

static bool
s_is_bare (char c)
{
    return s_is_ident (c) || c == '.' || c == '+' || c == '-';
}

/*  Skip an identifier at *pos; false if there is none. */
static bool
s_ident (const char *text, size_t len, size_t *pos)
{
    size_t start = *pos;
    while (*pos < len && s_is_ident (text [*pos]))
        (*pos)++;
    return *pos > start;
}

/*  Read a key value at *pos: sets its raw span (between quotes for a
    quoted one) and whether it was a plain quoted string (quoted, with no
    escape in it): the only form a GUID can take. */
static bool
s_value (const char *text, size_t len, size_t *pos, size_t *start,
         size_t *end, bool *plain)
{
    *plain = false;
    if (*pos < len && (text [*pos] == '"' || text [*pos] == '\'')) {
        bool escaped = false;
        char quote = text [(*pos)++];
        *start = *pos;
        while (*pos < len && text [*pos] != quote) {
            if (text [*pos] == '\\') {
                escaped = true;
                if (++*pos >= len)
                    return false;
            }
            (*pos)++;
        }
        if (*pos >= len)
            return false;       //  no closing quote
        *end = (*pos)++;
        *plain = !escaped;
        return true;
    }
    *start = *pos;
    while (*pos < len && s_is_bare (text [*pos]))
        (*pos)++;
    *end = *pos;
    return *end > *start;
}

/*  Where the class name starts: after the namespace's ':' when the path
    has one before its first quote (so a ':' inside a value is not taken
    for it), else at 0. */
static size_t
s_class_start (const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (text [i] == '"' || text [i] == '\'')
            break;
        if (text [i] == ':')
            return i + 1;
    }
    return 0;
}

static bool
s_is_name_key (const char *key, size_t len)
{
    return len == 4 && strncasecmp (key, "Name", 4) == 0;
}

static bool
s_parse_path (kvp_guid_t *guid, const char *text, size_t len)
{
    size_t pos = s_class_start (text, len);
    if (!s_ident (text, len, &pos) || pos >= len || text [pos++] != '.')
        return false;
    bool found = false;
    while (true) {
        size_t key = pos, start, end;
        bool plain;
        if (!s_ident (text, len, &pos))
            return false;
        size_t key_len = pos - key;
        if (pos >= len || text [pos++] != '=')
            return false;
        if (!s_value (text, len, &pos, &start, &end, &plain))
            return false;
        if (s_is_name_key (text + key, key_len)) {
            if (found || !plain
            ||  !kvp_guid_parse (guid, text + start, end - start))
                return false;   //  Name twice, or not a GUID
            found = true;
        }
        if (pos == len)
            return found;
        if (text [pos++] != ',')
            return false;
    }
}

bool
kvp_guid_parse_target (kvp_guid_t *guid, const char *text, size_t len)
{
    assert (guid);
    if (!text)
        return false;
    if (len == KVP_GUID_LEN)
        return kvp_guid_parse (guid, text, len);
    kvp_guid_t parsed;
    if (!s_parse_path (&parsed, text, len))
        return false;
    *guid = parsed;
    return true;
}

//  --------------------------------------------------------------------------

/*  Fill `bytes` with randomness: getrandom, then /dev/urandom; as a last
    resort (neither available) a clock-and-pid mix, which still makes
    distinct ids in practice. */
static void
s_random_bytes (uint8_t *bytes, size_t len)
{
    if (getrandom (bytes, len, 0) == (ssize_t) len)
        return;
    int fd = open ("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t got = read (fd, bytes, len);
        close (fd);
        if (got == (ssize_t) len)
            return;
    }
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    uint64_t state = (uint64_t) ts.tv_nsec ^ ((uint64_t) ts.tv_sec << 30)
                   ^ ((uint64_t) getpid () << 17);
    for (size_t i = 0; i < len; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        bytes [i] = (uint8_t) (state >> 56);
    }
}

void
kvp_guid_random (kvp_guid_t *guid)
{
    assert (guid);
    uint8_t bytes [16];
    s_random_bytes (bytes, sizeof (bytes));
    bytes [6] = (bytes [6] & 0x0f) | 0x40;     //  version 4
    bytes [8] = (bytes [8] & 0x3f) | 0x80;     //  RFC 4122 variant
    kvp_guid_from_bytes (guid, bytes);
}

void
kvp_guid_to_bytes (const kvp_guid_t *guid, uint8_t bytes [16])
{
    assert (guid);
    size_t out = 0;
    //  Bytes in text order (not Windows' mixed-endian GUID layout)
    for (size_t i = 0; i < KVP_GUID_LEN && out < 16; i++) {
        if (s_is_dash_at (i))
            continue;
        int hi = s_hexval (guid->text [i]);
        int lo = s_hexval (guid->text [i + 1]);
        assert (hi >= 0 && lo >= 0);
        bytes [out++] = (uint8_t) (hi << 4 | lo);
        i++;
    }
}

void
kvp_guid_from_bytes (kvp_guid_t *guid, const uint8_t bytes [16])
{
    assert (guid);
    size_t in = 0;
    for (size_t i = 0; i < KVP_GUID_LEN; i++) {
        if (s_is_dash_at (i)) {
            guid->text [i] = '-';
            continue;
        }
        guid->text [i++] = s_hex [bytes [in] >> 4];
        guid->text [i] = s_hex [bytes [in++] & 0x0f];
    }
    guid->text [KVP_GUID_LEN] = 0;
}

uint32_t
kvp_guid_partition (const kvp_guid_t *guid, uint32_t partitions)
{
    assert (guid);
    assert (partitions > 0);
    return kvp_fnv1a32 (guid->text, KVP_GUID_LEN) % partitions;
}

uint32_t
kvp_fnv1a32 (const void *data, size_t len)
{
    const uint8_t *p = (const uint8_t *) data;
    uint32_t hash = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        hash ^= p [i];
        hash *= 16777619u;
    }
    return hash;
}

//  --------------------------------------------------------------------------
//  Job ids: "<partition>.<epoch>.<seq>"

size_t
kvp_jobid_format (char *buf, uint32_t partition, uint32_t epoch,
                  uint64_t seq)
{
    assert (buf);
    int len = snprintf (buf, KVP_JOBID_MAX + 1, "%u.%08x.%llu",
                        (unsigned) partition, (unsigned) epoch,
                        (unsigned long long) seq);
    assert (len > 0 && len <= KVP_JOBID_MAX);
    return (size_t) len;
}

/*  A decimal number at *pos up to `max`, with no leading zero (except "0"
    itself) and no overflow. */
static bool
s_decimal (const char *text, size_t len, size_t *pos, uint64_t max,
           uint64_t *value)
{
    size_t start = *pos;
    uint64_t v = 0;
    while (*pos < len && text [*pos] >= '0' && text [*pos] <= '9') {
        uint64_t digit = (uint64_t) (text [*pos] - '0');
        if (v > (max - digit) / 10)
            return false;
        v = v * 10 + digit;
        (*pos)++;
    }
    size_t digits = *pos - start;
    if (digits == 0 || (digits > 1 && text [start] == '0'))
        return false;
    *value = v;
    return true;
}

bool
kvp_jobid_parse (const char *text, size_t len, uint32_t *partition,
                 uint32_t *epoch, uint64_t *seq)
{
    if (!text || len > KVP_JOBID_MAX)
        return false;
    size_t pos = 0;
    uint64_t part, sequence;
    if (!s_decimal (text, len, &pos, UINT32_MAX, &part)
    ||  pos + 10 > len || text [pos] != '.' || text [pos + 9] != '.')
        return false;
    uint32_t ep = 0;
    for (size_t i = pos + 1; i < pos + 9; i++) {
        //  Exactly 8 lower-case hex digits, as the format makes them
        int v = s_hexval (text [i]);
        if (v < 0 || (text [i] >= 'A' && text [i] <= 'F'))
            return false;
        ep = ep << 4 | (uint32_t) v;
    }
    pos += 10;
    if (!s_decimal (text, len, &pos, UINT64_MAX, &sequence) || pos != len)
        return false;
    if (partition) *partition = (uint32_t) part;
    if (epoch) *epoch = ep;
    if (seq) *seq = sequence;
    return true;
}
