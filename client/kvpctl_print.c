/*  kvpctl_print.c - what kvpctl prints for replies and events. */

#include <inttypes.h>
#include <stdio.h>
#include "kvpctl.h"
#include "kvp_json.h"
#include "kvp_obj.h"
#include "kvp_rc.h"
#include "kvp_reply.h"

/*  Print the str under `key` in `map`, or `fallback` if there is none. */
static void
s_put_str (const msgpack_object *map, const char *key, const char *fallback)
{
    size_t len;
    const char *str = kvp_obj_get_str (map, key, &len);
    if (str)
        fwrite (str, 1, len, stdout);
    else
        fputs (fallback, stdout);
}

/*  The rc name for a possibly malformed rc. */
static const char *
s_rc_name (int rc)
{
    return rc < 0 ? "MalformedReply" : kvp_rc_name ((unsigned) rc);
}

static bool
s_job_completed (const msgpack_object *job)
{
    uint64_t state;
    return kvp_obj_get_uint (job, "JobState", &state)
        && state == KVP_JOB_COMPLETED;
}

//  "job <InstanceID> <JobType>", the start of job and event lines.
static void
s_put_job_head (const msgpack_object *job)
{
    fputs ("job ", stdout);
    s_put_str (job, "InstanceID", "?");
    putchar (' ');
    s_put_str (job, "JobType", "?");
}

//  " Exception: <RcName>: <ErrorDescription>", the end of a failed one.
static void
s_put_exception (const msgpack_object *job)
{
    uint64_t code = 0;
    kvp_obj_get_uint (job, "ErrorCode", &code);
    printf (" Exception: %s: ", kvp_rc_name ((unsigned) code));
    s_put_str (job, "ErrorDescription", "");
    putchar ('\n');
}

void
ctl_print_job (const msgpack_object *job, long items)
{
    s_put_job_head (job);
    if (s_job_completed (job)) {
        uint64_t elapsed = 0;
        kvp_obj_get_uint (job, "ElapsedTime", &elapsed);
        if (items >= 0)
            printf (" Completed (%ld items, %" PRIu64 " us)\n", items,
                    elapsed);
        else
            printf (" Completed (%" PRIu64 " us)\n", elapsed);
        return;
    }
    s_put_exception (job);
}

void
ctl_print_event (const msgpack_object *event)
{
    uint64_t seq = 0, partition = 0;
    kvp_obj_get_uint (event, "seq", &seq);
    kvp_obj_get_uint (event, "partition", &partition);
    const msgpack_object_array *items = kvp_obj_get_array (event, "items");
    printf ("seq %" PRIu64 " partition %" PRIu64 " ", seq, partition);
    //  Same words as a job line, with the target before the outcome.
    s_put_job_head (event);
    putchar (' ');
    s_put_str (event, "TargetSystem", "?");
    if (s_job_completed (event)) {
        long n = items ? (long) items->size : 0;
        printf (" Completed (%ld items)\n", n);
        return;
    }
    s_put_exception (event);
}

void
ctl_print_lost (uint32_t partition, uint64_t from, uint64_t count, bool json)
{
    if (json)
        printf ("{\"lost\":%" PRIu64 ",\"partition\":%u,\"from\":%" PRIu64
                "}\n", count, partition, from);
    else
        printf ("lost %" PRIu64 " events of partition %u (seq %" PRIu64
                " to %" PRIu64 ": past retention)\n", count, partition, from,
                from + count - 1);
}

void
ctl_print_ok (const kvp_reply_t *reply)
{
    puts ("ok");
}

void
ctl_print_pong (const kvp_reply_t *reply)
{
    puts ("pong");
}

void
ctl_print_id (const kvp_reply_t *reply)
{
    s_put_str (kvp_reply_map (reply), "id", "?");
    putchar ('\n');
}

void
ctl_print_system (const kvp_reply_t *reply)
{
    const msgpack_object *map = kvp_reply_map (reply);
    bool enabled = false;
    fputs ("id ", stdout);
    s_put_str (map, "id", "?");
    fputs ("\nname ", stdout);
    s_put_str (map, "name", "?");
    if (kvp_obj_get_bool (map, "DataExchangeEnabled", &enabled))
        printf ("\nDataExchangeEnabled %s\n", enabled ? "true" : "false");
    else
        puts ("\nDataExchangeEnabled ?");
}

void
ctl_print_item (const msgpack_object *item)
{
    uint64_t source = 0;
    if (kvp_obj_get_uint (item, "Source", &source))
        printf ("%" PRIu64 " ", source);
    else
        fputs ("? ", stdout);
    s_put_str (item, "Name", "");
    putchar ('=');
    s_put_str (item, "Data", "");
    putchar ('\n');
}

/*  One row of the status table. */
static void
s_print_worker (const msgpack_object *worker)
{
    size_t len = 0;
    const char *id = kvp_obj_get_str (worker, "id", &len);
    bool alive = false;
    kvp_obj_get_bool (worker, "alive", &alive);
    const msgpack_object_array *parts =
        kvp_obj_get_array (worker, "partitions");
    const msgpack_object_array *follows =
        kvp_obj_get_array (worker, "follows");
    printf ("%-24.*s %-6s %-10u %u\n", id ? (int) len : 1, id ? id : "?",
            alive ? "yes" : "no", parts ? parts->size : 0,
            follows ? follows->size : 0);
}

void
ctl_print_status (const kvp_reply_t *reply)
{
    const msgpack_object *map = kvp_reply_map (reply);
    uint64_t partitions = 0;
    kvp_obj_get_uint (map, "partitions", &partitions);
    const msgpack_object_array *workers = kvp_obj_get_array (map, "workers");
    const msgpack_object_array *unowned = kvp_obj_get_array (map, "unowned");
    uint32_t alive = 0;
    for (uint32_t i = 0; workers && i < workers->size; i++) {
        bool up = false;
        if (kvp_obj_get_bool (&workers->ptr [i], "alive", &up) && up)
            alive++;
    }
    uint64_t replicas = 1, min_insync = 1;      //  as an older broker has
    kvp_obj_get_uint (map, "replicas", &replicas);
    kvp_obj_get_uint (map, "min_insync", &min_insync);
    printf ("partitions %" PRIu64 ", workers %u (%u alive), unowned %u, "
            "replicas %" PRIu64 " (%" PRIu64 " in sync)\n", partitions,
            workers ? workers->size : 0, alive, unowned ? unowned->size : 0,
            replicas, min_insync);
    printf ("%-24s %-6s %-10s %s\n", "WORKER", "ALIVE", "PARTITIONS",
            "FOLLOWS");
    for (uint32_t i = 0; workers && i < workers->size; i++)
        s_print_worker (&workers->ptr [i]);
}

/*  The outcome of a 4096 reply: its job line; whether the job completed. */
static bool
s_finish_job (const kvp_reply_t *reply, long items, bool print)
{
    const msgpack_object *job = kvp_reply_get (reply, "job");
    if (print && job)
        ctl_print_job (job, items);
    if (!job)
        fputs ("error: reply has rc 4096 but no job\n", stderr);
    return job && s_job_completed (job);
}

int
ctl_print_error (int rc, const char *error)
{
    fprintf (stderr, "error: %s (%d): %s\n", s_rc_name (rc), rc, error);
    return CTL_FAILED;
}

int
ctl_print_no_reply (ctl_t *ctl)
{
    fprintf (stderr, "error: no reply from %s within %d ms\n", ctl->broker,
             ctl->timeout_ms);
    return CTL_NO_REPLY;
}

int
ctl_finish (ctl_t *ctl, kvp_reply_t **reply_p, ctl_print_fn_t *print,
            long items)
{
    kvp_reply_t *reply = *reply_p;
    if (!reply)
        return ctl_print_no_reply (ctl);
    if (ctl->json) {
        kvp_json_write (stdout, kvp_reply_map (reply));
        putchar ('\n');
    }
    int rc = kvp_reply_rc (reply);
    int status = CTL_OK;
    if (rc == KVP_RC_OK && !ctl->json)
        print (reply);
    else
    if (rc == KVP_RC_JOB_STARTED)
        status = s_finish_job (reply, items, !ctl->json) ? CTL_OK : CTL_FAILED;
    else
    if (rc != KVP_RC_OK)
        status = ctl_print_error (rc, kvp_reply_error (reply));
    kvp_reply_destroy (reply_p);
    return status;
}

void
ctl_print_jobinfo (const kvp_reply_t *reply)
{
    const msgpack_object *job = kvp_reply_get (reply, "job");
    if (!job) {
        puts ("job ?");
        return;
    }
    ctl_print_job (job, -1);
    uint64_t submitted = 0;
    kvp_obj_get_uint (job, "TimeSubmitted", &submitted);
    fputs ("target ", stdout);
    s_put_str (job, "TargetSystem", "?");
    printf ("\nsubmitted %" PRIu64 " ms\n", submitted);
}
