/*  kvp_guest.h - the guest agent: keeps one system's Source 0 items in the
    guest's pool file (kvp_pool), following its job events.

    On start the agent waits until the gap-free subscriber (kvp_feed) knows
    where the system's partition stands (from the position file when there
    is one, else "now"), reads the system's Source 0 items (GetKvpItems,
    page by page with kvp_pager: a system of any size), and rewrites the
    pool file. Then each Completed AddKvpItems or
    ModifyKvpItems event sets its Source 0 items and each Completed
    RemoveKvpItems event removes them; the file is rewritten once per batch
    of events and the position saved after it, so the position never runs
    ahead of the file. Replaying events the snapshot already holds is
    harmless: each sets or removes whole items, so the file converges.

    A lost-events notice (past retention), and every `resync_ms`, read the
    items again (a system that no longer exists empties the file: its
    DestroySystem has no event). Source 4 items never reach the file.

    One agent is used by one thread; it stops on SIGINT/SIGTERM (czmq's
    zsys_interrupted). Uses kvp_feed, kvp_client, kvp_pager, kvp_pool and
    proto.
*/
#ifndef KVP_GUEST_H_INCLUDED
#define KVP_GUEST_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include "kvp_curve.h"
#include "kvp_log.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *system;         /* GUID or WMI path of the guest's system */
    const char *pool_dir;       /* folder of .kvp_pool_0 */
    const char *position;       /* position file, or NULL: from now */
    const char *broker;         /* clients endpoint */
    const char *events;         /* events endpoint */
    unsigned timeout_ms;        /* wait for a reply before asking again */
    unsigned resync_ms;         /* read every item again this often */
    const char *curve_secret;   /* secured cluster: our secret certificate */
    const char *broker_public;  /* and the broker's public one */
    const kvp_curve_t *curve;   /* the keys those name (main loads them),
                                   or NULL: plain */
    kvp_log_config_t log;       /* the program's log options (main) */
} kvp_guest_config_t;

typedef struct _kvp_guest_t kvp_guest_t;

/*  Make an agent (strings in `config` are borrowed for its life). Returns
    NULL if the system is not a GUID or WMI path, the pool folder cannot
    be made, an endpoint is invalid or the position file is unreadable
    (logged). */
kvp_guest_t *
    kvp_guest_new (const kvp_guest_config_t *config);

/*  Stop following and null the caller's pointer; safe on NULL. */
void
    kvp_guest_destroy (kvp_guest_t **self_p);

/*  Follow the system until interrupted. Returns 0 when interrupted, 1
    when the feed cannot go on (logged). */
int
    kvp_guest_run (kvp_guest_t *self);

#ifdef __cplusplus
}
#endif
#endif
