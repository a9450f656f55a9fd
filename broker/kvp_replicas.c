/*  kvp_replicas.c - the replication controller (see kvp_replicas.h).
*/
#include "kvp_broker_priv.h"
#include "kvp_replicas.h"
#include "kvp_bio.h"
#include "kvp_repl.h"
#include "kvp_failover.h"

#define S_R KVP_DECISION_REPLICAS_MAX

//  What the broker knows of one partition's positions, for `epoch`.
typedef struct {
    uint64_t epoch;                 //  the numbers below are of this epoch
    uint64_t acked [S_R];           //  per copy, in replica order
    bool heard [S_R];               //  an ACK of this epoch came
    int64_t behind [S_R];           //  mono ms it fell behind; 0: not
    uint64_t target [S_R];          //  the leader's position then
    int64_t copied [S_R];           //  mono ms a copy was last asked for
                                    //  it; 0: none since it caught up
    uint64_t leader_seq;            //  the leader's position
    bool leader_known;              //  heard from the leader this epoch
    uint64_t committed;             //  last COMMIT sent
    bool copy_pending [S_R];        //  a copy asked for it, its last piece
                                    //  not yet forwarded: never EXPANDed
                                    //  meanwhile (the copy's first piece
                                    //  drops what it holds)
} s_pos_t;

struct kvp_rparts_t {
    s_pos_t *pos;                   //  [N]
    int64_t started;                //  mono ms the broker started
    zhashx_t *down;                 //  worker name -> mono ms down since
    uint64_t decisions;             //  committed, for the metrics
    uint64_t copies;                //  COPY sent
};

bool
kvp_replicas_on (kvp_broker_t *self)
{
    return self->rparts != NULL;
}

bool
kvp_replicas_init (kvp_broker_t *self)
{
    if (kvp_regstate_replicas (kvp_registry_state (self->registry)) < 2)
        return true;
    self->rparts = calloc (1, sizeof *self->rparts);
    if (!self->rparts)
        return false;
    self->rparts->pos = calloc (self->nparts, sizeof (s_pos_t));
    self->rparts->started = zclock_mono ();
    self->rparts->down = zhashx_new ();
    if (self->rparts->down)
        zhashx_set_destructor (self->rparts->down, (zhashx_destructor_fn *)
                               zstr_free);
    return self->rparts->pos != NULL && self->rparts->down != NULL;
}

void
kvp_replicas_destroy (kvp_broker_t *self)
{
    if (self->rparts) {
        zhashx_destroy (&self->rparts->down);
        free (self->rparts->pos);
        free (self->rparts);
        self->rparts = NULL;
    }
}

//  --- reading the registry ----------------------------------------------------

static const kvp_regstate_t *
s_state (kvp_broker_t *self)
{
    return kvp_registry_state (self->registry);
}

//  Partition `part` as the registry has it, with its positions (reset
//  when the epoch moved on).
static s_pos_t *
s_part (kvp_broker_t *self, uint32_t part, kvp_regpart_t *rp)
{
    if (part >= self->nparts || !kvp_regstate_partition (s_state (self), part,
                                                         rp))
        return NULL;
    s_pos_t *pos = &self->rparts->pos [part];
    if (pos->epoch != rp->epoch) {
        memset (pos, 0, sizeof *pos);
        pos->epoch = rp->epoch;
    }
    return pos;
}

static int
s_index (const kvp_regpart_t *rp, const char *name)
{
    for (size_t i = 0; i < rp->count; i++)
        if (streq (rp->replicas [i], name))
            return (int) i;
    return -1;
}

static kvp_session_t *
s_session (kvp_broker_t *self, const char *name)
{
    return (kvp_session_t *) kvp_owners_session (self->owners, name);
}

static unsigned
s_in_sync (const kvp_regpart_t *rp)
{
    unsigned count = 0;
    for (size_t i = 0; i < rp->count; i++)
        count += rp->in_sync [i];
    return count;
}

static bool
s_writable (kvp_broker_t *self, const kvp_regpart_t *rp)
{
    return s_in_sync (rp) >= kvp_regstate_min_insync (s_state (self));
}

//  --- the table -----------------------------------------------------------

//  Live workers not retired, and of those the ones holding no copy of rp
static void
s_count_live (kvp_broker_t *self, const kvp_regpart_t *rp, unsigned *live,
              unsigned *spare)
{
    *live = *spare = 0;
    size_t count = kvp_owners_workers (self->owners);
    for (size_t i = 0; i < count; i++) {
        bool alive;
        const char *name = kvp_owners_worker (self->owners, i, &alive);
        if (!alive || kvp_regstate_retired (s_state (self), name))
            continue;
        (*live)++;
        if (!rp || s_index (rp, name) < 0)
            (*spare)++;
    }
}

//  What the failover table (broker/kvp_failover.h) knows of a partition;
//  the live and spare workers (a walk of them all) only when `live`, as
//  kvp_failover_classify needs neither
static kvp_failover_facts_t
s_facts (kvp_broker_t *self, const kvp_regpart_t *rp, bool live)
{
    const kvp_regstate_t *state = s_state (self);
    kvp_failover_facts_t facts = {
        .placed = rp && rp->count > 0,
        .replicas = kvp_regstate_replicas (state),
        .min_insync = kvp_regstate_min_insync (state)
    };
    if (live)
        s_count_live (self, facts.placed ? rp : NULL, &facts.live,
                      &facts.spare);
    if (!facts.placed)
        return facts;
    facts.leader_live = s_session (self, rp->replicas [rp->leader]) != NULL;
    facts.in_sync = s_in_sync (rp);
    for (size_t i = 0; i < rp->count; i++)
        if (i != rp->leader && rp->in_sync [i]
        &&  s_session (self, rp->replicas [i]))
            facts.candidates++;
    return facts;
}

//  Does the table, in the partition's settled state, answer `event` with
//  the action `letter`? Every decision the controller takes asks first.
static bool
s_table_says (kvp_broker_t *self, const kvp_regpart_t *rp,
              kvp_failover_event_t event, char letter)
{
    kvp_failover_facts_t facts = s_facts (self, rp, true);
    const char *actions = "";
    kvp_failover_next (kvp_failover_classify (&facts), event, &facts,
                       &actions);
    return strchr (actions, letter) != NULL;
}

//  --- decisions -----------------------------------------------------------

//  Commit one decision; the owners table follows a new leader.
static bool
s_decide (kvp_broker_t *self, const kvp_decision_t *record)
{
    char why [256], line [256];
    kvp_decision_describe (record, line, sizeof line);
    int rc = kvp_registry_apply (self->registry, record, why, sizeof why);
    if (rc) {
        zsys_error ("%s: decision %s not taken: %s", self->logid, line, why);
        return false;
    }
    zsys_notice ("%s: decided: %s", self->logid, line);
    self->rparts->decisions++;
    if (record->type == KVP_DECISION_PLACE
    ||  record->type == KVP_DECISION_LEADER)
        kvp_owners_refresh (self->owners, record->part);
    return true;
}

//  --- sending -------------------------------------------------------------

static void
s_send_role (kvp_broker_t *self, kvp_session_t *session, uint32_t part,
             const kvp_regpart_t *rp)
{
    kvp_repl_t hdr = { .part = part, .epoch = rp->epoch,
                       .writable = s_writable (self, rp) };
    uint8_t bytes [KVP_REPL_HEADER_MAX];
    size_t size = kvp_repl_encode (&hdr, KVP_REPL_ROLE, bytes);
    const char *leader = rp->replicas [rp->leader];
    const void *data [] = { bytes, leader };
    size_t sizes [] = { size, strlen (leader) };
    kvp_bio_send_worker (self, session, KVP_W_ROLE, data, sizes, 2);
}

//  Tell every live copy its role (after a decision).
static void
s_roles (kvp_broker_t *self, uint32_t part)
{
    kvp_regpart_t rp;
    if (!s_part (self, part, &rp) || rp.count == 0)
        return;
    for (size_t i = 0; i < rp.count; i++) {
        kvp_session_t *session = s_session (self, rp.replicas [i]);
        if (session)
            s_send_role (self, session, part, &rp);
    }
}

static void
s_send_pos (kvp_broker_t *self, kvp_session_t *session, const char *command,
            uint32_t part, uint64_t epoch, uint64_t seq)
{
    kvp_repl_t hdr = { .part = part, .epoch = epoch, .seq = seq };
    uint8_t bytes [KVP_REPL_HEADER_MAX];
    size_t size = kvp_repl_encode (&hdr, KVP_REPL_POS, bytes);
    const void *data [] = { bytes };
    size_t sizes [] = { size };
    kvp_bio_send_worker (self, session, command, data, sizes, 1);
}

//  Ask the leader for a copy for copy `i` (a new or returning follower
//  behind it with nothing the stream could replay, or one behind too
//  long). Asked again while it stays behind, S_COPY_AGAIN liveness bounds
//  apart, so that a slow copy is not started over and over; a follower
//  that asks (RESYNC) lost what was sent and is answered at once.
#define S_COPY_AGAIN 10

static void
s_ask_copy (kvp_broker_t *self, uint32_t part, s_pos_t *pos,
            const kvp_regpart_t *rp, size_t i)
{
    kvp_session_t *leader = s_session (self, rp->replicas [rp->leader]);
    //  Never to a member of the in-sync set: the copy begins by dropping
    //  what it holds
    if (i == rp->leader || rp->in_sync [i] || !leader
    ||  !s_session (self, rp->replicas [i])
    ||  (pos->copied [i]
      && self->now - pos->copied [i] < S_COPY_AGAIN * self->silence_ms))
        return;
    pos->copied [i] = self->now;
    pos->copy_pending [i] = true;
    self->rparts->copies++;
    kvp_repl_t copy = { .part = part, .epoch = rp->epoch };
    uint8_t bytes [KVP_REPL_HEADER_MAX];
    size_t size = kvp_repl_encode (&copy, KVP_REPL_COPY, bytes);
    const char *name = rp->replicas [i];
    const void *data [] = { bytes, name };
    size_t sizes [] = { size, strlen (name) };
    kvp_bio_send_worker (self, leader, KVP_W_COPY, data, sizes, 2);
}

//  A follower out of sync that said where it stands, behind the leader:
//  it needs a copy (what it lacks is not in any REPL still to come).
static void
s_catch_up (kvp_broker_t *self, uint32_t part, s_pos_t *pos,
            const kvp_regpart_t *rp, size_t i)
{
    if (i != rp->leader && !rp->in_sync [i] && pos->heard [i]
    &&  pos->leader_known && pos->acked [i] < pos->leader_seq)
        s_ask_copy (self, part, pos, rp, i);
}

//  The in-sync set's commit point; COMMIT to the leader when it grew.
static void
s_commit_point (kvp_broker_t *self, uint32_t part)
{
    kvp_regpart_t rp;
    s_pos_t *pos = s_part (self, part, &rp);
    //  With fewer than M in sync this still lets reads go; the leader,
    //  told it is not writable first (ROLE), holds the replies of jobs.
    if (!pos || rp.count == 0 || !pos->leader_known)
        return;
    uint64_t point = pos->leader_seq;
    for (size_t i = 0; i < rp.count; i++)
        if (i != rp.leader && rp.in_sync [i]) {
            uint64_t acked = pos->heard [i] ? pos->acked [i] : 0;
            if (acked < point)
                point = acked;
        }
    if (point <= pos->committed)
        return;
    pos->committed = point;
    kvp_session_t *leader = s_session (self, rp.replicas [rp.leader]);
    if (leader)
        s_send_pos (self, leader, KVP_W_COMMIT, part, rp.epoch, point);
}

//  A follower leaves the in-sync set (registry first), then the commit
//  point is counted without it and the leader learns if writes stop.
static void
s_shrink (kvp_broker_t *self, uint32_t part, const char *name,
          const char *why)
{
    kvp_regpart_t rp;
    if (!s_part (self, part, &rp))
        return;
    int i = s_index (&rp, name);
    if (i < 0 || (size_t) i == rp.leader || !rp.in_sync [i]
    ||  !s_table_says (self, &rp, KVP_FAILOVER_FOLLOWER_LOST, 's'))
        return;
    kvp_decision_t record = { .type = KVP_DECISION_SHRINK, .part = part,
                              .epoch = rp.epoch, .worker = name };
    zsys_warning ("%s: partition %u: %s leaves the in-sync set: %s",
                  self->logid, part, name, why);
    if (!s_decide (self, &record))
        return;
    s_roles (self, part);
    s_commit_point (self, part);
}

//  The live in-sync follower that acknowledged most, or -1.
static int
s_candidate (kvp_broker_t *self, const kvp_regpart_t *rp, const s_pos_t *pos)
{
    int best = -1;
    for (size_t i = 0; i < rp->count; i++) {
        if (i == rp->leader || !rp->in_sync [i]
        ||  !s_session (self, rp->replicas [i]))
            continue;
        if (best < 0 || pos->acked [i] > pos->acked [best])
            best = (int) i;
    }
    return best;
}

//  A liveness bound has passed since the broker started: a leader not
//  registered by now is down, not still reconnecting after a restart.
static bool
s_settled (kvp_broker_t *self)
{
    return self->now - self->rparts->started > self->silence_ms;
}

//  Is `name`, not registered, known to be down: seen leaving since the
//  broker started, or silent for a liveness period since then? Until the
//  broker settled, a worker it has not heard from yet may only be slower
//  to register than another.
static bool
s_known_down (kvp_broker_t *self, const char *name)
{
    return zhashx_lookup (self->rparts->down, name) != NULL
        || s_settled (self);
}

//  The leader is down: promote, if an in-sync follower is live.
static void
s_promote (kvp_broker_t *self, uint32_t part)
{
    kvp_regpart_t rp;
    s_pos_t *pos = s_part (self, part, &rp);
    if (!pos || rp.count < 2 || s_session (self, rp.replicas [rp.leader])
    ||  !s_known_down (self, rp.replicas [rp.leader])
    ||  !s_table_says (self, &rp, KVP_FAILOVER_LEADER_LOST, 'l'))
        return;                     //  none: waits for its last in-sync set
    int best = s_candidate (self, &rp, pos);
    if (best < 0)
        return;
    kvp_decision_t record = { .type = KVP_DECISION_LEADER, .part = part,
                              .epoch = rp.epoch + 1,
                              .worker = rp.replicas [best] };
    if (s_decide (self, &record))
        s_roles (self, part);
}

//  --- placement -------------------------------------------------------------

//  Copies the registry gives each worker: for the emptiest-first choice.
static size_t
s_copies_of (kvp_broker_t *self, const char *name)
{
    size_t count = 0;
    for (uint32_t part = 0; part < self->nparts; part++) {
        kvp_regpart_t rp;
        if (kvp_regstate_partition (s_state (self), part, &rp)
        &&  s_index (&rp, name) >= 0)
            count++;
    }
    return count;
}

//  Is `zone` already taken by one of the `count` workers chosen, or by a
//  copy in `skip`? (The empty zone is no zone: never taken.)
static bool
s_zone_taken (kvp_broker_t *self, const char *zone, const char **chosen,
              size_t count, const kvp_regpart_t *skip)
{
    if (!*zone)
        return false;
    for (size_t i = 0; i < count; i++) {
        kvp_session_t *session = s_session (self, chosen [i]);
        if (session && streq (kvp_session_zone (session), zone))
            return true;
    }
    for (size_t i = 0; skip && i < skip->count; i++) {
        kvp_session_t *session = s_session (self, skip->replicas [i]);
        if (session && streq (kvp_session_zone (session), zone))
            return true;
    }
    return false;
}

//  Up to `want` live, not retired workers, skipping those in `skip`: in
//  a zone not yet used first, then fewest copies, then name. Returns how
//  many were chosen.
static size_t
s_choose (kvp_broker_t *self, const char **chosen, size_t want,
          const kvp_regpart_t *skip)
{
    size_t workers = kvp_owners_workers (self->owners), count = 0;
    size_t *copies = calloc (workers ? workers : 1, sizeof *copies);
    bool *taken = calloc (workers ? workers : 1, sizeof *taken);
    for (size_t i = 0; copies && taken && i < workers; i++) {
        bool alive;
        const char *name = kvp_owners_worker (self->owners, i, &alive);
        taken [i] = !alive || kvp_regstate_retired (s_state (self), name)
                 || (skip && s_index (skip, name) >= 0);
        copies [i] = taken [i] ? 0 : s_copies_of (self, name);
    }
    while (copies && taken && count < want) {
        size_t best = workers;
        bool best_new = false;
        for (size_t i = 0; i < workers; i++) {
            if (taken [i])
                continue;
            const char *name = kvp_owners_worker (self->owners, i, NULL);
            kvp_session_t *session = s_session (self, name);
            bool fresh = session && !s_zone_taken (self,
                kvp_session_zone (session), chosen, count, skip);
            if (best == workers || (fresh && !best_new)
            ||  (fresh == best_new && copies [i] < copies [best])) {
                best = i;
                best_new = fresh;
            }
        }
        if (best == workers)
            break;
        taken [best] = true;
        chosen [count++] = kvp_owners_worker (self->owners, best, NULL);
    }
    free (copies);
    free (taken);
    return count;
}

kvp_session_t *
kvp_replicas_place (kvp_broker_t *self, uint32_t part, const char **leader,
                    int *rc)
{
    *leader = NULL;
    *rc = 0;
    if (!s_table_says (self, NULL, KVP_FAILOVER_REQUEST, 'p'))
        return NULL;                //  no worker is live
    kvp_decision_t record = { .type = KVP_DECISION_PLACE, .part = part };
    record.count = s_choose (self, record.workers,
                             kvp_regstate_replicas (s_state (self)), NULL);
    if (record.count == 0)
        return NULL;
    //  The copy that leads fewest leads this one (the first listed leads)
    size_t lead = 0;
    for (size_t i = 1; i < record.count; i++)
        if (kvp_owners_count (self->owners, record.workers [i])
            < kvp_owners_count (self->owners, record.workers [lead]))
            lead = i;
    const char *first = record.workers [0];
    record.workers [0] = record.workers [lead];
    record.workers [lead] = first;
    if (!s_decide (self, &record)) {
        *rc = KVP_STORE_EIO;
        return NULL;
    }
    s_roles (self, part);
    *leader = record.workers [0];
    return s_session (self, record.workers [0]);
}

//  A partition short of R copies gets one on a live worker holding none.
static void
s_add_copy (kvp_broker_t *self, uint32_t part)
{
    kvp_regpart_t rp;
    if (!s_part (self, part, &rp) || rp.count == 0
    ||  rp.count >= kvp_regstate_replicas (s_state (self))
    ||  !s_session (self, rp.replicas [rp.leader])
    ||  !s_table_says (self, &rp, KVP_FAILOVER_EXPIRED, 'm'))
        return;
    const char *to;
    if (s_choose (self, &to, 1, &rp) == 0)
        return;
    kvp_decision_t record = { .type = KVP_DECISION_MOVE, .part = part,
                              .epoch = rp.epoch, .worker = "", .to = to };
    if (s_decide (self, &record))
        s_roles (self, part);
}

//  --- liveness ----------------------------------------------------------------

void
kvp_replicas_attach (kvp_broker_t *self, kvp_session_t *session)
{
    if (!self->rparts)
        return;
    const char *name = kvp_session_name (session);
    zhashx_delete (self->rparts->down, name);
    for (uint32_t part = 0; part < self->nparts; part++) {
        kvp_regpart_t rp;
        if (!s_part (self, part, &rp) || rp.count == 0)
            continue;
        if (s_index (&rp, name) >= 0) {
            s_promote (self, part);         //  it may be the one awaited
            s_part (self, part, &rp);
            s_send_role (self, session, part, &rp);
        }
        else
            s_add_copy (self, part);
    }
}

void
kvp_replicas_detach (kvp_broker_t *self, const char *name)
{
    if (!self->rparts)
        return;
    int64_t *since = malloc (sizeof *since);
    if (since) {
        *since = self->now;
        zhashx_update (self->rparts->down, name, since);
    }
    for (uint32_t part = 0; part < self->nparts; part++) {
        kvp_regpart_t rp;
        s_pos_t *pos = s_part (self, part, &rp);
        int i = pos && rp.count ? s_index (&rp, name) : -1;
        if (i < 0)
            continue;
        //  What it said of itself holds no more once it returns
        pos->heard [i] = false;
        pos->copied [i] = 0;
        pos->copy_pending [i] = false;
        pos->behind [i] = 0;
        if ((size_t) i == rp.leader)
            s_promote (self, part);
        else
            s_shrink (self, part, name, "down");
    }
}

//  Move one copy off `name` (retired, or down past --replace-after) to a
//  live worker holding none: a leader is promoted away first, an in-sync
//  follower leaves the set. Nothing happens without a spare worker.
static void
s_move_off (kvp_broker_t *self, uint32_t part, const char *name)
{
    kvp_regpart_t rp;
    s_pos_t *pos = s_part (self, part, &rp);
    int i = pos && rp.count ? s_index (&rp, name) : -1;
    if (i < 0)
        return;
    const char *spare;
    if (s_choose (self, &spare, 1, &rp) == 0)
        return;
    if ((size_t) i == rp.leader) {
        int best = s_candidate (self, &rp, pos);
        if (best < 0)
            return;                 //  nobody else may lead it yet
        kvp_decision_t record = { .type = KVP_DECISION_LEADER, .part = part,
                                  .epoch = rp.epoch + 1,
                                  .worker = rp.replicas [best] };
        if (!s_decide (self, &record))
            return;
        s_roles (self, part);
    }
    s_shrink (self, part, name, "its copy moves");
    pos = s_part (self, part, &rp);
    if (!s_table_says (self, &rp, KVP_FAILOVER_EXPIRED, 'm'))
        return;
    kvp_decision_t record = { .type = KVP_DECISION_MOVE, .part = part,
                              .epoch = rp.epoch, .worker = name,
                              .to = spare };
    if (s_decide (self, &record))
        s_roles (self, part);
}

static void
s_move_all (kvp_broker_t *self, const char *name)
{
    for (uint32_t part = 0; part < self->nparts; part++)
        s_move_off (self, part, name);
}

void
kvp_replicas_retired (kvp_broker_t *self, const char *worker)
{
    if (!self->rparts)
        return;
    zsys_notice ("%s: worker %s is retired: its copies move to the other "
                 "workers", self->logid, worker);
    s_move_all (self, worker);
}

//  Workers whose copies are to move: retired, or down past the bound
//  (down since the broker started, for one that never registered since).
static void
s_replace (kvp_broker_t *self)
{
    size_t count = kvp_owners_workers (self->owners);
    for (size_t i = 0; i < count; i++) {
        bool alive;
        const char *name = kvp_owners_worker (self->owners, i, &alive);
        int64_t *since = (int64_t *) zhashx_lookup (self->rparts->down, name);
        int64_t down = since ? *since : self->rparts->started;
        if (kvp_regstate_retired (s_state (self), name)
        ||  (!alive && self->now - down
                       > (int64_t) self->config.replace_after_ms))
            s_move_all (self, name);
    }
}

//  Follower i has been behind the leader too long: out of the in-sync
//  set, and a copy. It may wait for a REPL that is gone (sent to a
//  broker that died) while no new one comes to show it the gap (writes
//  stop below M, or there are none), so it would never catch up alone.
static void
s_behind (kvp_broker_t *self, uint32_t part, const kvp_regpart_t *rp,
          s_pos_t *pos, size_t i)
{
    const char *name = rp->replicas [i];
    if (rp->in_sync [i])
        s_shrink (self, part, name, "behind the leader too long");
    kvp_regpart_t now;
    if (s_part (self, part, &now))
        s_ask_copy (self, part, pos, &now, i);
}

void
kvp_replicas_tick (kvp_broker_t *self)
{
    if (!self->rparts)
        return;
    int64_t now = self->now;
    bool settled = s_settled (self);
    for (uint32_t part = 0; part < self->nparts; part++) {
        kvp_regpart_t rp;
        s_pos_t *pos = s_part (self, part, &rp);
        if (!pos || rp.count == 0)
            continue;
        if (settled && !s_session (self, rp.replicas [rp.leader]))
            s_promote (self, part);         //  down since before a restart
        for (size_t i = 0; i < rp.count; i++) {
            if (i == rp.leader)
                continue;
            const char *name = rp.replicas [i];
            if (settled && rp.in_sync [i] && !s_session (self, name))
                s_shrink (self, part, name, "down");
            else
            if (pos->behind [i] && now - pos->behind [i] > self->silence_ms)
                s_behind (self, part, &rp, pos, i);
            else
            if (pos->copy_pending [i])      //  asked again if it never came
                s_ask_copy (self, part, pos, &rp, i);
        }
        if (settled)
            s_add_copy (self, part);
    }
    s_replace (self);
}

void
kvp_replicas_totals (kvp_broker_t *self, kvp_bmetrics_totals_t *totals)
{
    if (!self->rparts)
        return;
    totals->replicated = true;
    totals->decisions = self->rparts->decisions;
    totals->copies = self->rparts->copies;
    for (uint32_t part = 0; part < self->nparts; part++) {
        kvp_regpart_t rp;
        if (!kvp_regstate_partition (s_state (self), part, &rp)
        ||  rp.count == 0)
            continue;
        kvp_failover_facts_t facts = s_facts (self, &rp, false);
        switch (kvp_failover_classify (&facts)) {
            case KVP_FAILOVER_OFFLINE:   totals->offline++; break;
            case KVP_FAILOVER_UNDER_MIN: totals->under_min_insync++; break;
            default: break;
        }
        if (facts.in_sync < facts.replicas)
            totals->under_replicated++;
    }
}

//  --- commands ------------------------------------------------------------------

//  frames: [identity][command][head][more...]
enum { R_ID, R_CMD, R_HEAD, R_ARG };

//  The session's worker is the leader of hdr->part at hdr->epoch?
static bool
s_from_leader (kvp_broker_t *self, kvp_session_t *session,
               const kvp_repl_t *hdr, kvp_regpart_t *rp, s_pos_t **pos)
{
    *pos = s_part (self, hdr->part, rp);
    return *pos && rp->count > 0 && rp->epoch == hdr->epoch
        && streq (rp->replicas [rp->leader], kvp_session_name (session));
}

//  The leader's position moved on: followers that were level fall behind.
static void
s_leader_at (kvp_broker_t *self, uint32_t part, s_pos_t *pos,
             const kvp_regpart_t *rp, uint64_t seq)
{
    if (pos->leader_known && seq <= pos->leader_seq)
        return;
    bool first = !pos->leader_known;
    pos->leader_seq = seq;
    pos->leader_known = true;
    for (size_t i = 0; first && i < rp->count; i++)
        s_catch_up (self, part, pos, rp, i);
    for (size_t i = 0; i < rp->count; i++)
        if (i != rp->leader && !pos->behind [i]
        &&  (!pos->heard [i] || pos->acked [i] < seq)) {
            pos->behind [i] = self->now;
            pos->target [i] = seq;
        }
}

//  A follower's ACK: behind means not reaching, within the bound, the
//  position the leader had when it fell behind (so a follower that keeps
//  up a batch behind under load is not behind).
static void
s_follower_at (kvp_broker_t *self, s_pos_t *pos, size_t i, uint64_t seq)
{
    if (!pos->heard [i] || seq > pos->acked [i])
        pos->acked [i] = seq;
    pos->heard [i] = true;
    if (!pos->behind [i] || pos->acked [i] < pos->target [i])
        return;
    if (pos->leader_known && pos->acked [i] < pos->leader_seq) {
        pos->behind [i] = self->now;
        pos->target [i] = pos->leader_seq;
    }
    else
        pos->behind [i] = 0;
}

//  REPL [head][changes]: to every live follower, then the commit point
//  (the leader alone in sync commits at once).
static void
s_on_repl (kvp_broker_t *self, kvp_session_t *session, zframe_t **frames)
{
    kvp_repl_t hdr;
    kvp_regpart_t rp;
    s_pos_t *pos;
    if (!kvp_repl_decode (&hdr, KVP_REPL_DATA, zframe_data (frames [R_HEAD]),
                          zframe_size (frames [R_HEAD]))
    ||  !s_from_leader (self, session, &hdr, &rp, &pos))
        return;                     //  malformed, or a deposed leader
    s_leader_at (self, hdr.part, pos, &rp, hdr.seq);
    const void *data [] = { zframe_data (frames [R_HEAD]),
                            zframe_data (frames [R_ARG]) };
    size_t sizes [] = { zframe_size (frames [R_HEAD]),
                        zframe_size (frames [R_ARG]) };
    for (size_t i = 0; i < rp.count; i++) {
        kvp_session_t *follower = i == rp.leader ? NULL
                                : s_session (self, rp.replicas [i]);
        if (follower)
            kvp_bio_send_worker (self, follower, KVP_W_REPL, data, sizes, 2);
    }
    s_commit_point (self, hdr.part);
}

//  CHUNK [to][head][changes]: to that follower alone.
static void
s_on_chunk (kvp_broker_t *self, kvp_session_t *session, zframe_t **frames)
{
    kvp_repl_t hdr;
    kvp_regpart_t rp;
    s_pos_t *pos;
    zframe_t *to = frames [R_HEAD], *head = frames [R_ARG],
             *body = frames [R_ARG + 1];
    if (!body || !kvp_repl_decode (&hdr, KVP_REPL_CHUNK, zframe_data (head),
                                   zframe_size (head))
    ||  !s_from_leader (self, session, &hdr, &rp, &pos))
        return;
    char name [KVP_WORKER_ID_MAX + 1];
    size_t len = zframe_size (to);
    if (len == 0 || len > KVP_WORKER_ID_MAX)
        return;
    memcpy (name, zframe_data (to), len);
    name [len] = 0;
    int i = s_index (&rp, name);
    kvp_session_t *follower = i >= 0 && (size_t) i != rp.leader
                            ? s_session (self, name) : NULL;
    if (!follower)
        return;
    s_leader_at (self, hdr.part, pos, &rp, hdr.seq);
    const void *data [] = { zframe_data (head), zframe_data (body) };
    size_t sizes [] = { zframe_size (head), zframe_size (body) };
    kvp_bio_send_worker (self, follower, KVP_W_CHUNK, data, sizes, 2);
    if (hdr.last)
        pos->copy_pending [i] = false;  //  its ACKs from now on are whole
}

//  An ACK's or RESYNC's header, from a copy of its partition at its
//  epoch: that copy's positions and place *i; NULL for one to drop.
static s_pos_t *
s_from_copy (kvp_broker_t *self, kvp_session_t *session, zframe_t **frames,
             kvp_repl_t *hdr, kvp_regpart_t *rp, int *i)
{
    if (!kvp_repl_decode (hdr, KVP_REPL_POS, zframe_data (frames [R_HEAD]),
                          zframe_size (frames [R_HEAD])))
        return NULL;
    s_pos_t *pos = s_part (self, hdr->part, rp);
    *i = pos ? s_index (rp, kvp_session_name (session)) : -1;
    return *i >= 0 && rp->epoch == hdr->epoch ? pos : NULL;
}

//  ACK [head]: a copy's position in this epoch. The leader's says where
//  it stands; a follower's may move the commit point or end its catch-up.
static void
s_on_ack (kvp_broker_t *self, kvp_session_t *session, zframe_t **frames)
{
    kvp_repl_t hdr;
    kvp_regpart_t rp;
    int i;
    s_pos_t *pos = s_from_copy (self, session, frames, &hdr, &rp, &i);
    if (!pos)
        return;
    if ((size_t) i == rp.leader) {
        s_leader_at (self, hdr.part, pos, &rp, hdr.seq);
        s_commit_point (self, hdr.part);
        return;
    }
    bool first = !pos->heard [i];
    s_follower_at (self, pos, (size_t) i, hdr.seq);
    if (rp.in_sync [i]) {
        s_commit_point (self, hdr.part);
        return;
    }
    if (first)
        s_catch_up (self, hdr.part, pos, &rp, (size_t) i);
    if (!pos->leader_known || pos->acked [i] < pos->leader_seq
    ||  pos->copy_pending [i]
    ||  !s_table_says (self, &rp, KVP_FAILOVER_CAUGHT_UP, 'e'))
        return;
    kvp_decision_t record = { .type = KVP_DECISION_EXPAND, .part = hdr.part,
                              .epoch = rp.epoch, .worker = rp.replicas [i] };
    pos->copied [i] = 0;
    if (s_decide (self, &record)) {
        s_roles (self, hdr.part);
        s_commit_point (self, hdr.part);
    }
}

//  RESYNC [head]: a follower cannot continue; out of the in-sync set
//  first, then the leader sends it a copy.
static void
s_on_resync (kvp_broker_t *self, kvp_session_t *session, zframe_t **frames)
{
    kvp_repl_t hdr;
    kvp_regpart_t rp;
    int i;
    s_pos_t *pos = s_from_copy (self, session, frames, &hdr, &rp, &i);
    if (!pos || (size_t) i == rp.leader)
        return;
    const char *name = kvp_session_name (session);
    pos->heard [i] = false;
    s_shrink (self, hdr.part, name, "it asked for a copy");
    s_part (self, hdr.part, &rp);
    //  It lost what was sent (or never had it): at once, unless a copy
    //  went within the liveness bound and may still be on its way
    if (self->now - pos->copied [i] > self->silence_ms)
        pos->copied [i] = 0;
    s_ask_copy (self, hdr.part, pos, &rp, (size_t) i);
}

typedef void (s_command_fn) (kvp_broker_t *self, kvp_session_t *session,
                             zframe_t **frames);

static const struct {
    const char *name;
    size_t frames;                  //  identity included
    s_command_fn *fn;
} s_commands [] = {
    { KVP_W_ACK,    3, s_on_ack },
    { KVP_W_REPL,   4, s_on_repl },
    { KVP_W_CHUNK,  5, s_on_chunk },
    { KVP_W_RESYNC, 3, s_on_resync },
};
#define S_COMMANDS (sizeof s_commands / sizeof s_commands [0])

bool
kvp_replicas_handles (zframe_t *command)
{
    for (size_t i = 0; i < S_COMMANDS; i++)
        if (zframe_streq (command, s_commands [i].name))
            return true;
    return false;
}

void
kvp_replicas_command (kvp_broker_t *self, kvp_session_t *session,
                      zframe_t **frames, size_t total)
{
    for (size_t i = 0; i < S_COMMANDS; i++) {
        if (!zframe_streq (frames [R_CMD], s_commands [i].name))
            continue;
        if (total != s_commands [i].frames) {
            kvp_bio_warn (self, "dropped a %s of %zu frames",
                          s_commands [i].name, total);
            return;
        }
        if (!self->rparts || kvp_session_state (session) != KVP_SESSION_READY)
            return;                 //  not replicated, or not registered
        kvp_session_set_expires (session, self->now + self->silence_ms);
        s_commands [i].fn (self, session, frames);
        return;
    }
}
