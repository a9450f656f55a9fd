/*  kvp_utf8.c - strict UTF-8 validation and safe quoting. */
#include <stdint.h>
#include <string.h>
#include "kvp_utf8.h"

/*  Length of the valid UTF-8 sequence at `s` (at most `len` bytes), or 0
    if the bytes there are not one. The second-byte ranges exclude
    overlong forms (E0, F0), surrogates (ED) and code points past
    U+10FFFF (F4). */
static size_t
s_sequence (const uint8_t *s, size_t len)
{
    uint8_t b = s [0];
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF)
        need = 2;
    else
    if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    }
    else
    if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    }
    else
        return 0;
    if (len < need || s [1] < lo || s [1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if (s [i] < 0x80 || s [i] > 0xBF)
            return 0;
    return need;
}

bool
kvp_utf8_valid (const char *text, size_t len)
{
    const uint8_t *s = (const uint8_t *) text;
    size_t pos = 0;
    while (pos < len) {
        //  ASCII fast path, eight bytes at a time: most text is ASCII
        if (len - pos >= 8) {
            uint64_t word;
            memcpy (&word, s + pos, 8);
            if ((word & 0x8080808080808080ULL) == 0) {
                pos += 8;
                continue;
            }
        }
        size_t step = s_sequence (s + pos, len - pos);
        if (step == 0)
            return false;
        pos += step;
    }
    return true;
}

size_t
kvp_utf8_quote (char *dst, size_t size, const char *src, size_t len,
                size_t max)
{
    if (size == 0)
        return 0;
    const uint8_t *s = (const uint8_t *) src;
    size_t out = 0, pos = 0;
    size_t limit = len < max? len: max;
    while (pos < limit) {
        size_t step = s_sequence (s + pos, len - pos);
        bool control = step == 1 && (s [pos] < 0x20 || s [pos] == 0x7F);
        size_t emit = (step == 0 || control)? 1: step;
        if (pos + emit > limit || out + emit + 1 > size)
            break;              //  cut here, at a character edge
        if (emit == 1 && (step != 1 || control))
            dst [out] = '?';    //  an invalid byte or a control character
        else
            memcpy (dst + out, s + pos, emit);
        out += emit;
        pos += step? step: 1;
    }
    if (pos < len && out + 4 <= size) {
        memcpy (dst + out, "...", 3);
        out += 3;
    }
    dst [out] = 0;
    return out;
}
