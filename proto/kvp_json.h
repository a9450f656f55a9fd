/*  kvp_json.h - print a msgpack object as one line of JSON.

    Used by kvpctl --json and kvpbench --json, and for the strings of the
    programs' JSON log lines (kvp_log). The mapping:

      nil -> null, bool -> true/false, integers -> decimal, floats -> the
      shortest round-trip form (NaN and infinities, which JSON lacks, ->
      null), str -> a JSON string, array -> array, map -> object.

    Strings are escaped as JSON requires (quote, backslash, control
    characters). Valid UTF-8 passes through unchanged; each byte that is not
    part of a valid UTF-8 sequence is written as the lone surrogate escape
    "\udcXX" (XX = the byte), the convention Python calls
    "surrogateescape": the output stays one JSON line and the original bytes
    can be recovered. A bin becomes {"$bin":"<base64>"}, an ext
    {"$ext":<type>,"data":"<base64>"}. A map key that is not a str is
    printed as JSON and that text used as the key.

    Uses msgpack-c and stdio only.
*/
#ifndef KVP_JSON_H_INCLUDED
#define KVP_JSON_H_INCLUDED

#include <stdio.h>
#include <stddef.h>
#include <msgpack.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  Write `obj` as JSON to `out` (no trailing newline). Returns 0, or -1 if
    writing failed. The object's nesting is trusted to be bounded (objects
    from bytes that passed kvp_mpcheck_scan are). */
int
    kvp_json_write (FILE *out, const msgpack_object *obj);

/*  Write `len` bytes as a quoted, escaped JSON string. Returns 0 or -1. */
int
    kvp_json_write_str (FILE *out, const char *str, size_t len);

/*  Return `obj` as a freshly allocated NUL-terminated JSON string; the
    caller frees it with free(). NULL when out of memory. */
char *
    kvp_json_encode (const msgpack_object *obj);

#ifdef __cplusplus
}
#endif
#endif
