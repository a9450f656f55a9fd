/*  kvp_failover.c - the replication states of one partition and their
    table (see kvp_failover.h).
*/
#include "kvp_failover.h"
#include <assert.h>
#include <stddef.h>

#define S_UNASSIGNED    KVP_FAILOVER_UNASSIGNED
#define S_PLACING       KVP_FAILOVER_PLACING
#define S_SYNCED        KVP_FAILOVER_SYNCED
#define S_DEGRADED      KVP_FAILOVER_DEGRADED
#define S_UNDER_MIN     KVP_FAILOVER_UNDER_MIN
#define S_PROMOTING     KVP_FAILOVER_PROMOTING
#define S_OFFLINE       KVP_FAILOVER_OFFLINE
#define S_SETTLE        KVP_FAILOVER_STATES         //  classify the facts
#define S_SAME          (KVP_FAILOVER_STATES + 1)   //  stay

#define E_REQUEST       KVP_FAILOVER_REQUEST
#define E_COMMITTED     KVP_FAILOVER_COMMITTED
#define E_REFUSED       KVP_FAILOVER_REFUSED
#define E_FOLLOWER_LOST KVP_FAILOVER_FOLLOWER_LOST
#define E_FOLLOWER_BACK KVP_FAILOVER_FOLLOWER_BACK
#define E_CAUGHT_UP     KVP_FAILOVER_CAUGHT_UP
#define E_LEADER_LOST   KVP_FAILOVER_LEADER_LOST
#define E_LEADER_BACK   KVP_FAILOVER_LEADER_BACK
#define E_EXPIRED       KVP_FAILOVER_EXPIRED

typedef enum {
    G_ANY,                      //  always
    G_LIVE,                     //  a live worker to place on
    G_CANDIDATE,                //  a live in-sync follower to promote
    G_SPARE                     //  a live worker without a copy
} s_guard_t;

typedef struct {
    int state;
    int event;
    s_guard_t guard;
    int next;                   //  a state, S_SETTLE or S_SAME
    const char *actions;
} s_row_t;

//  The rows every led state has
#define S_LED(s) \
    { s, E_REQUEST,       G_ANY,       S_SAME,      "r" }, \
    { s, E_COMMITTED,     G_ANY,       S_SETTLE,    "t" }, \
    { s, E_FOLLOWER_LOST, G_ANY,       S_SAME,      "s" }, \
    { s, E_FOLLOWER_BACK, G_ANY,       S_SAME,      "c" }, \
    { s, E_LEADER_LOST,   G_CANDIDATE, S_PROMOTING, "lf" }, \
    { s, E_LEADER_LOST,   G_ANY,       S_OFFLINE,   "f" }

//  And those a led state with a copy out of sync has
#define S_BEHIND(s) \
    { s, E_CAUGHT_UP,     G_ANY,       S_SAME,      "e" }, \
    { s, E_EXPIRED,       G_SPARE,     S_SAME,      "m" }

//  Of the rows of a state and event, the first whose guard holds applies
static const s_row_t
s_table [] = {
    { S_UNASSIGNED, E_REQUEST,     G_LIVE,      S_PLACING,    "ph" },
    { S_UNASSIGNED, E_REQUEST,     G_ANY,       S_UNASSIGNED, "u" },
    { S_PLACING,    E_REQUEST,     G_ANY,       S_PLACING,    "h" },
    { S_PLACING,    E_COMMITTED,   G_ANY,       S_SETTLE,     "tr" },
    { S_PLACING,    E_REFUSED,     G_ANY,       S_UNASSIGNED, "u" },
    S_LED (S_SYNCED),
    S_LED (S_DEGRADED),
    S_BEHIND (S_DEGRADED),
    S_LED (S_UNDER_MIN),
    S_BEHIND (S_UNDER_MIN),
    { S_PROMOTING,  E_REQUEST,     G_ANY,       S_PROMOTING,  "h" },
    { S_PROMOTING,  E_COMMITTED,   G_ANY,       S_SETTLE,     "tr" },
    { S_PROMOTING,  E_REFUSED,     G_CANDIDATE, S_PROMOTING,  "l" },
    { S_PROMOTING,  E_REFUSED,     G_ANY,       S_OFFLINE,    "u" },
    { S_OFFLINE,    E_REQUEST,     G_ANY,       S_OFFLINE,    "u" },
    { S_OFFLINE,    E_COMMITTED,   G_ANY,       S_SETTLE,     "t" },
    { S_OFFLINE,    E_LEADER_LOST, G_CANDIDATE, S_PROMOTING,  "l" },
    { S_OFFLINE,    E_FOLLOWER_BACK, G_CANDIDATE, S_PROMOTING, "l" },
    { S_OFFLINE,    E_LEADER_BACK, G_ANY,       S_SETTLE,     "t" },
    { S_OFFLINE,    E_EXPIRED,     G_SPARE,     S_OFFLINE,    "m" },
};

static bool
s_guard (s_guard_t guard, const kvp_failover_facts_t *facts)
{
    switch (guard) {
        case G_LIVE:      return facts->live > 0;
        case G_CANDIDATE: return facts->candidates > 0;
        case G_SPARE:     return facts->spare > 0;
        default:          return true;
    }
}

kvp_failover_state_t
kvp_failover_classify (const kvp_failover_facts_t *facts)
{
    if (!facts->placed)
        return S_UNASSIGNED;
    if (!facts->leader_live)
        return S_OFFLINE;
    if (facts->in_sync < facts->min_insync)
        return S_UNDER_MIN;
    if (facts->in_sync < facts->replicas)
        return S_DEGRADED;
    return S_SYNCED;
}

kvp_failover_state_t
kvp_failover_next (kvp_failover_state_t state, kvp_failover_event_t event,
                   const kvp_failover_facts_t *facts, const char **actions)
{
    assert (state < KVP_FAILOVER_STATES && event < KVP_FAILOVER_EVENTS);
    size_t rows = sizeof s_table / sizeof s_table [0];
    const s_row_t *row = NULL;
    for (size_t i = 0; !row && i < rows; i++)
        if ((int) state == s_table [i].state
        &&  (int) event == s_table [i].event
        &&  s_guard (s_table [i].guard, facts))
            row = &s_table [i];
    if (actions)
        *actions = row? row->actions: "";
    if (!row || row->next == S_SAME)
        return state;
    if (row->next == S_SETTLE)
        return kvp_failover_classify (facts);
    return (kvp_failover_state_t) row->next;
}

bool
kvp_failover_writable (kvp_failover_state_t state)
{
    return state == S_SYNCED || state == S_DEGRADED;
}

bool
kvp_failover_readable (kvp_failover_state_t state)
{
    return kvp_failover_writable (state) || state == S_UNDER_MIN;
}

const char *
kvp_failover_state_name (kvp_failover_state_t state)
{
    static const char *names [] = {
        "unassigned", "placing", "synced", "degraded", "under-min",
        "promoting", "offline"
    };
    return state < KVP_FAILOVER_STATES? names [state]: "?";
}

const char *
kvp_failover_event_name (kvp_failover_event_t event)
{
    static const char *names [] = {
        "request", "committed", "refused", "follower-lost", "follower-back",
        "caught-up", "leader-lost", "leader-back", "expired"
    };
    return event < KVP_FAILOVER_EVENTS? names [event]: "?";
}
