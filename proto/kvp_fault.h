/*  kvp_fault.h - the faults found while validating one request (internal
    to proto/).

    Spec section 4 ranks faults: a field of the wrong type (32776) beats a
    field with a bad value (32773), wherever each sits in the body. So the
    validators record the first fault of each kind separately and the
    request picks the winner at the end. Texts are formatted only when a
    fault is recorded, never on the success path.
*/
#ifndef KVP_FAULT_H_INCLUDED
#define KVP_FAULT_H_INCLUDED

#include <stddef.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_FAULT_MAX   256     /* one error text, bytes with the NUL */
#define KVP_QUOTE_MAX   48      /* bytes of untrusted text quoted in one */

typedef struct {
    bool type;                          /* a wrong-type fault was recorded */
    bool value;                         /* a bad-value fault was recorded */
    char type_error [KVP_FAULT_MAX];    /* the first wrong-type fault */
    char value_error [KVP_FAULT_MAX];   /* the first bad-value fault */
} kvp_fault_t;

/*  Forget every fault. */
void
    kvp_fault_reset (kvp_fault_t *self);

/*  Record a wrong-type / bad-value fault, printf-style, unless one of the
    same kind is already recorded (the first one wins). */
void
    kvp_fault_type (kvp_fault_t *self, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));
void
    kvp_fault_value (kvp_fault_t *self, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

/*  The text rules shared by names and item parts: `min`..`max` bytes, no
    NUL, valid UTF-8. On a fault, records "field: why", or with `index` >=
    0 "items[index].field: why", and returns false. */
bool
    kvp_fault_check_text (kvp_fault_t *self, const char *field, long index,
                          const char *text, size_t len, size_t min,
                          size_t max);

/*  Quote untrusted bytes for an error text into `buf` (`size` bytes):
    at most KVP_QUOTE_MAX bytes, printable, valid UTF-8. Returns buf. */
const char *
    kvp_fault_quote (char *buf, size_t size, const char *text, size_t len);

#ifdef __cplusplus
}
#endif
#endif
