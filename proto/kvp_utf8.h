/*  kvp_utf8.h - strict UTF-8 validation, and quoting of untrusted bytes
    for error texts (internal to proto/).

    Every str the codec accepts as text, and every error text it makes,
    must be valid UTF-8: clients in other languages decode them strictly.
    Leaf module: no dependencies.
*/
#ifndef KVP_UTF8_H_INCLUDED
#define KVP_UTF8_H_INCLUDED

#include <stddef.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  True if `len` bytes at `text` are valid UTF-8 as RFC 3629 defines it:
    no overlong forms, no surrogates (U+D800..U+DFFF), nothing above
    U+10FFFF, no truncated sequence. NUL is valid UTF-8 (callers that
    refuse it check separately). `text` may be NULL when len is 0. */
bool
    kvp_utf8_valid (const char *text, size_t len);

/*  Copy at most `max` bytes of untrusted `src` into `dst` (`size` bytes,
    always NUL-terminated when size > 0) so that the result is printable
    valid UTF-8: invalid bytes and control characters become '?', and
    "..." marks a cut. Returns the length written. */
size_t
    kvp_utf8_quote (char *dst, size_t size, const char *src, size_t len,
                    size_t max);

#ifdef __cplusplus
}
#endif
#endif
