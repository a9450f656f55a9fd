/*  kvp_trim.h - give memory that peers held back to the system, off the
    broker's reactor.

    glibc keeps freed memory in its arenas for good: a broker that once
    queued much for slow peers would stay at that size after they left.
    malloc_trim gives it back, but walks the heap while it does (60 ms
    after 500 subscribers went, measured): so a thread of its own does it
    when asked, at most once every KVP_TRIM_MS. Asking never blocks.
*/
#ifndef KVP_TRIM_H_INCLUDED
#define KVP_TRIM_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_TRIM_MS     1000        /* at most one trim this often */

typedef struct _kvp_trim_t kvp_trim_t;

/*  Start the thread; NULL when it cannot be started. */
kvp_trim_t *
    kvp_trim_new (void);

/*  Stop the thread and free; null the pointer. Safe on NULL. */
void
    kvp_trim_destroy (kvp_trim_t **self_p);

/*  Peers went away: trim soon (now, or KVP_TRIM_MS after the last). */
void
    kvp_trim_ask (kvp_trim_t *self);

#ifdef __cplusplus
}
#endif
#endif
