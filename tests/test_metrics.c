/*  test_metrics.c - the Prometheus endpoints (--metrics): the text helpers
    of kvp_metrics, then a real broker and worker scraped while requests
    are in flight, their text checked by a parser of the exposition format
    written here, and their counters seen to move.
*/
#include <check.h>
#include "kvp_testkit.h"
#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "kvp_metrics.h"
#include "kvp_reply.h"

//  --- a parser of the text exposition format 0.0.4 ------------------------

#define S_SAMPLES_MAX   2000

typedef struct {
    char key [256];             //  name{labels} as written
    char name [128];            //  the metric name alone
    double value;
} s_sample_t;

typedef struct {
    s_sample_t samples [S_SAMPLES_MAX];
    size_t count;
    char types [64][192];       //  families with a TYPE line, "name type"
    size_t ntypes;
} s_scrape_t;

static bool
s_name_ok (const char *name)
{
    if (!*name || !(isalpha ((unsigned char) *name) || *name == '_'
                 || *name == ':'))
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum ((unsigned char) *p) && *p != '_' && *p != ':')
            return false;
    return true;
}

//  Labels `text` ("a=\"x\",b=\"y\""): each a valid name and a quoted value.
static bool
s_labels_ok (const char *text)
{
    while (*text) {
        const char *eq = strchr (text, '=');
        if (!eq || eq [1] != '"')
            return false;
        char name [128];
        snprintf (name, sizeof name, "%.*s", (int) (eq - text), text);
        if (!s_name_ok (name))
            return false;
        const char *close = strchr (eq + 2, '"');
        if (!close)
            return false;
        text = close + 1;
        if (*text == ',')
            text++;
        else
        if (*text)
            return false;
    }
    return true;
}

//  The family a sample belongs to: its name less a histogram or summary
//  suffix when the family is typed so.
static bool
s_typed (const s_scrape_t *self, const char *name)
{
    const char *suffixes [] = { "", "_bucket", "_sum", "_count" };
    for (size_t s = 0; s < 4; s++) {
        size_t len = strlen (name), slen = strlen (suffixes [s]);
        if (slen > len || strcmp (name + len - slen, suffixes [s]))
            continue;
        for (size_t i = 0; i < self->ntypes; i++) {
            size_t flen = strcspn (self->types [i], " ");
            if (flen == len - slen && !strncmp (self->types [i], name, flen))
                return true;
        }
    }
    return false;
}

//  One "# TYPE name type" line.
static void
s_parse_type (s_scrape_t *self, const char *line)
{
    char name [128], type [32];
    ck_assert_msg (sscanf (line, "# TYPE %127s %31s", name, type) == 2,
                   "bad TYPE line: %s", line);
    ck_assert_msg (s_name_ok (name), "bad family name: %s", line);
    ck_assert_msg (!strcmp (type, "counter") || !strcmp (type, "gauge")
                || !strcmp (type, "histogram") || !strcmp (type, "summary")
                || !strcmp (type, "untyped"), "bad type: %s", line);
    ck_assert_uint_lt (self->ntypes, 64);
    snprintf (self->types [self->ntypes++], 192, "%s %s", name, type);
}

//  One sample line: name, optional {labels}, a space, a number.
static void
s_parse_sample (s_scrape_t *self, const char *line)
{
    ck_assert_uint_lt (self->count, S_SAMPLES_MAX);
    s_sample_t *sample = &self->samples [self->count++];
    size_t name_len = strcspn (line, "{ ");
    snprintf (sample->name, sizeof sample->name, "%.*s", (int) name_len,
              line);
    ck_assert_msg (s_name_ok (sample->name), "bad name: %s", line);
    ck_assert_msg (s_typed (self, sample->name), "no TYPE before: %s", line);
    const char *rest = line + name_len;
    if (*rest == '{') {
        const char *close = strchr (rest, '}');
        ck_assert_msg (close != NULL, "unclosed labels: %s", line);
        char labels [256];
        snprintf (labels, sizeof labels, "%.*s", (int) (close - rest - 1),
                  rest + 1);
        ck_assert_msg (s_labels_ok (labels), "bad labels: %s", line);
        rest = close + 1;
    }
    snprintf (sample->key, sizeof sample->key, "%.*s", (int) (rest - line),
              line);
    ck_assert_msg (*rest == ' ', "no value: %s", line);
    char *end;
    sample->value = strtod (rest + 1, &end);
    ck_assert_msg (end != rest + 1 && (*end == 0 || *end == ' '),
                   "bad value: %s", line);
}

//  Parse a whole scrape into `self`.
static void
s_parse (s_scrape_t *self, char *text)
{
    memset (self, 0, sizeof *self);
    for (char *line = strtok (text, "\n"); line; line = strtok (NULL, "\n")) {
        if (!strncmp (line, "# TYPE ", 7))
            s_parse_type (self, line);
        else
        if (!strncmp (line, "# HELP ", 7) || line [0] == '#')
            continue;
        else
            s_parse_sample (self, line);
    }
}

//  The value of the sample written `key`, or NAN.
static double
s_value (const s_scrape_t *self, const char *key)
{
    for (size_t i = 0; i < self->count; i++)
        if (!strcmp (self->samples [i].key, key))
            return self->samples [i].value;
    return NAN;
}

//  The sum over every sample whose key starts with `prefix`.
static double
s_total (const s_scrape_t *self, const char *prefix)
{
    double sum = 0;
    for (size_t i = 0; i < self->count; i++)
        if (!strncmp (self->samples [i].key, prefix, strlen (prefix)))
            sum += self->samples [i].value;
    return sum;
}

//  Every histogram's buckets rise and end at its _count.
static void
s_check_histograms (const s_scrape_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        const s_sample_t *s = &self->samples [i];
        size_t len = strlen (s->name);
        if (len < 7 || strcmp (s->name + len - 7, "_bucket"))
            continue;
        if (i + 1 < self->count && !strcmp (self->samples [i + 1].name,
                                            s->name))
            ck_assert_msg (self->samples [i + 1].value >= s->value,
                           "%s falls", s->key);
        const char *le = strstr (s->key, "le=\"+Inf\"");
        if (le) {
            //  name_count with the bucket's labels less le
            const char *open = strchr (s->key, '{');
            int labels = (int) (le - open - 1) - (le [-1] == ',');
            char count [300];
            if (labels > 0)
                snprintf (count, sizeof count, "%.*s_count{%.*s}",
                          (int) (len - 7), s->name, labels, open + 1);
            else
                snprintf (count, sizeof count, "%.*s_count", (int) (len - 7),
                          s->name);
            ck_assert_msg (s_value (self, count) == s->value,
                           "%s is not %s", count, s->key);
        }
    }
}

//  --- HTTP -------------------------------------------------------------

//  A free loopback TCP port.
static int
s_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t len = sizeof sa;
    ck_assert (fd >= 0);
    ck_assert (bind (fd, (struct sockaddr *) &sa, sizeof sa) == 0);
    ck_assert (getsockname (fd, (struct sockaddr *) &sa, &len) == 0);
    close (fd);
    return ntohs (sa.sin_port);
}

//  GET `path` from 127.0.0.1:`port`: the status, the body into a malloc'd
//  *body (NULL when it could not connect).
static int
s_get (int port, const char *path, char **body)
{
    *body = NULL;
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons ((uint16_t) port),
                              .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    if (connect (fd, (struct sockaddr *) &sa, sizeof sa)) {
        close (fd);
        return -1;
    }
    char request [256], buf [65536];
    int n = snprintf (request, sizeof request, "GET %s HTTP/1.0\r\n\r\n",
                      path);
    ck_assert (write (fd, request, (size_t) n) == n);
    size_t size = 0;
    char *all = NULL;
    FILE *out = open_memstream (&all, &size);
    ssize_t got;
    while ((got = read (fd, buf, sizeof buf)) > 0)
        fwrite (buf, 1, (size_t) got, out);
    fclose (out);
    close (fd);
    int status = 0;
    char *split = strstr (all, "\r\n\r\n");
    ck_assert_msg (sscanf (all, "HTTP/1.%*d %d", &status) == 1 && split,
                   "not HTTP: %s", all);
    *body = strdup (split + 4);
    free (all);
    return status;
}

//  Scrape `port` into `scrape` (waiting, by polling, until it answers).
static void
s_scrape (int port, s_scrape_t *scrape)
{
    char *body = NULL;
    int status = -1;
    for (int i = 0; i < 200 && status < 0; i++)
        if ((status = s_get (port, "/metrics", &body)) < 0)
            zclock_sleep (25);
    ck_assert_int_eq (status, 200);
    s_parse (scrape, body);
    s_check_histograms (scrape);
    free (body);
}

//  --- the helpers ----------------------------------------------------------

START_TEST (test_reply_rc)
{
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    unsigned rc = 1;
    kvp_rid_t none = { .type = KVP_RID_NONE };
    kvp_reply_status (&buf, &none, 0, NULL);
    ck_assert (kvp_metrics_reply_rc (buf.data, buf.size, &rc));
    ck_assert_uint_eq (rc, 0);
    msgpack_sbuffer_clear (&buf);
    kvp_rid_t num = { .type = KVP_RID_UINT, .uint = 1ULL << 40 };
    kvp_reply_status (&buf, &num, 32772, "late");
    ck_assert (kvp_metrics_reply_rc (buf.data, buf.size, &rc));
    ck_assert_uint_eq (rc, 32772);
    msgpack_sbuffer_clear (&buf);
    //  A string rid that holds the bytes of the key "rc"
    kvp_rid_t str = { .type = KVP_RID_STR, .str = "\xc2\xa2rc", .len = 4 };
    kvp_reply_status (&buf, &str, 4096, NULL);
    ck_assert (kvp_metrics_reply_rc (buf.data, buf.size, &rc));
    ck_assert_uint_eq (rc, 4096);
    //  Cut short: not found
    ck_assert (!kvp_metrics_reply_rc (buf.data, buf.size - 2, &rc));
    ck_assert (!kvp_metrics_reply_rc ("", 0, &rc));
    msgpack_sbuffer_destroy (&buf);
}
END_TEST

START_TEST (test_endpoint)
{
    static const double bounds [] = { 0.001, 0.01, 0.1 };
    kvp_metrics_hist_t hist;
    kvp_metrics_hist_init (&hist, bounds, 3);
    kvp_metrics_hist_observe (&hist, 0.0005);
    kvp_metrics_hist_observe (&hist, 0.05);
    kvp_metrics_hist_observe (&hist, 7);
    char error [256];
    int port = s_free_port ();
    char hostport [64];
    snprintf (hostport, sizeof hostport, "127.0.0.1:%d", port);
    kvp_metrics_t *metrics = kvp_metrics_new (hostport, error, sizeof error);
    ck_assert_msg (metrics != NULL, "%s", error);
    ck_assert_uint_eq (kvp_metrics_port (metrics), (unsigned) port);
    //  A second one on the same port cannot start
    ck_assert_ptr_null (kvp_metrics_new (hostport, error, sizeof error));
    ck_assert_ptr_null (kvp_metrics_new ("127.0.0.1", error, sizeof error));
    ck_assert_ptr_nonnull (strstr (error, "HOST:PORT"));
    FILE *out = kvp_metrics_begin (metrics);
    kvp_metrics_family (out, "t_seconds", "histogram", "A test.");
    kvp_metrics_hist_write (out, "t_seconds", "op=\"x\"", &hist);
    kvp_metrics_publish (metrics);
    s_scrape_t *scrape = malloc (sizeof *scrape);
    s_scrape (port, scrape);
    ck_assert (s_value (scrape, "t_seconds_bucket{op=\"x\",le=\"0.001\"}") == 1);
    ck_assert (s_value (scrape, "t_seconds_bucket{op=\"x\",le=\"0.1\"}") == 2);
    ck_assert (s_value (scrape, "t_seconds_bucket{op=\"x\",le=\"+Inf\"}") == 3);
    ck_assert (s_value (scrape, "t_seconds_count{op=\"x\"}") == 3);
    ck_assert (fabs (s_value (scrape, "t_seconds_sum{op=\"x\"}") - 7.0505)
               < 1e-9);
    ck_assert (s_value (scrape, "process_open_fds") > 2);
    ck_assert (s_value (scrape, "process_resident_memory_bytes") > 1e5);
    ck_assert (s_value (scrape, "process_cpu_seconds_total") >= 0);
    ck_assert (s_value (scrape, "process_start_time_seconds") > 1.6e9);
    char *body;
    ck_assert_int_eq (s_get (port, "/other", &body), 404);
    free (body);
    free (scrape);
    kvp_metrics_destroy (&metrics);
    kvp_metrics_destroy (&metrics);
    ck_assert_int_lt (s_get (port, "/metrics", &body), 0);  //  stopped
}
END_TEST

//  --- a cluster under load ---------------------------------------------

//  Send `n` AddKvpItems to the systems in `ids` without waiting.
static void
s_send_adds (zsock_t *client, char ids [][37], int systems, int first,
             int n)
{
    for (int i = first; i < first + n; i++) {
        tk_body_t body;
        tk_body_begin (&body, "AddKvpItems", 3);
        tk_pack_kv_str (&body.pk, "target", ids [i % systems]);
        tk_pack_kv_uint (&body.pk, "rid", (uint64_t) i);
        tk_pack_str (&body.pk, "items");
        msgpack_pack_array (&body.pk, 1);
        char name [32];
        snprintf (name, sizeof name, "m%d", i);
        tk_pack_item (&body.pk, 0, name, "data");
        tk_send (client, &body);
        tk_body_end (&body);
    }
}

//  Scrape `port` until the sum of the samples under `prefix` is at least
//  `want` (the snapshot is a timer's), within 10 s.
static double
s_wait_total (int port, const char *prefix, double want, s_scrape_t *scrape)
{
    double total = 0;
    for (int i = 0; i < 200; i++) {
        s_scrape (port, scrape);
        if ((total = s_total (scrape, prefix)) >= want)
            break;
        zclock_sleep (50);
    }
    return total;
}

START_TEST (test_cluster_scrape)
{
    enum { SYSTEMS = 8, ROUNDS = 3, N = 300 };
    int bport = s_free_port (), wport = s_free_port ();
    char bargs [64], wargs [64];
    snprintf (bargs, sizeof bargs, "--metrics 127.0.0.1:%d", bport);
    snprintf (wargs, sizeof wargs, "--metrics 127.0.0.1:%d", wport);
    tk_cluster_t *cluster = tk_cluster_new (1);
    cluster->broker_args = bargs;
    cluster->worker_args = wargs;
    //  A subscriber, so that the workers' events flow through the broker
    zsock_t *sub = zsock_new_sub (cluster->events, "");
    ck_assert_ptr_nonnull (sub);
    ck_assert_msg (tk_cluster_start (cluster), "cluster did not come up");
    zsock_t *client = tk_dealer (cluster->clients);
    char ids [SYSTEMS][37];
    for (int s = 0; s < SYSTEMS; s++)
        ck_assert_int_eq (tk_define (client, "metrics", ids [s]), 0);
    s_scrape_t *b = malloc (sizeof *b), *w = malloc (sizeof *w);
    double b_add = 0, w_add = 0;
    for (int round = 0; round < ROUNDS; round++) {
        s_send_adds (client, ids, SYSTEMS, round * N, N);
        //  Scraped while the requests are being served
        s_scrape (bport, b);
        s_scrape (wport, w);
        for (int got = 0; got < N; got++) {
            tk_reply_t *reply = tk_recv (client, 20000);
            ck_assert_ptr_nonnull (reply);
            ck_assert_int_eq (tk_rc (reply), 4096);
            tk_reply_destroy (&reply);
        }
        //  Then the counters have moved by N at least
        double b_now = s_wait_total (bport, "kvpbus_broker_requests_total{"
                                     "op=\"AddKvpItems\"}", b_add + N, b);
        double w_now = s_wait_total (wport, "kvpbus_worker_requests_total{"
                                     "op=\"AddKvpItems\",rc=\"4096\"}",
                                     w_add + N, w);
        ck_assert_msg (b_now >= b_add + N, "broker: %g after %g", b_now,
                       b_add);
        ck_assert_msg (w_now >= w_add + N, "worker: %g after %g", w_now,
                       w_add);
        b_add = b_now;
        w_add = w_now;
    }
    //  The rest of each family set, after the load
    s_wait_total (bport, "kvpbus_broker_reply_latency_seconds_count",
                  ROUNDS * N + SYSTEMS, b);
    ck_assert (s_value (b, "kvpbus_broker_replies_total{from=\"worker\","
                        "rc=\"4096\"}") >= ROUNDS * N);
    ck_assert (s_value (b, "kvpbus_broker_reply_latency_seconds_count")
               >= ROUNDS * N + SYSTEMS);
    ck_assert (s_value (b, "kvpbus_broker_workers_alive") == 1);
    ck_assert (s_value (b, "kvpbus_broker_worker_partitions{worker=\"w0\"}")
               >= 1);
    ck_assert (s_value (b, "kvpbus_broker_worker_inflight{worker=\"w0\"}")
               == 0);
    ck_assert (s_value (b, "kvpbus_broker_partitions") > 0);
    ck_assert (s_wait_total (bport, "kvpbus_broker_events_published_total",
                             ROUNDS * N, b) >= ROUNDS * N);
    ck_assert (s_value (b, "process_open_fds") > 0);
    ck_assert (s_value (w, "kvpbus_worker_batch_size_count") > 0);
    ck_assert (s_value (w, "kvpbus_worker_batch_size_sum")
               >= ROUNDS * N + SYSTEMS);
    ck_assert (s_value (w, "kvpbus_worker_commit_duration_seconds_count")
               > 0);
    ck_assert (s_value (w, "kvpbus_worker_reply_latency_seconds_count")
               >= ROUNDS * N + SYSTEMS);
    ck_assert (s_value (w, "kvpbus_worker_events_published_total")
               >= ROUNDS * N);
    ck_assert (s_value (w, "kvpbus_worker_log_bytes") > 0);
    ck_assert (s_value (w, "kvpbus_worker_log_segments") >= 1);
    ck_assert (s_value (w, "kvpbus_worker_partitions_owned") >= 1);
    ck_assert (!isnan (s_value (w, "kvpbus_worker_checkpoint_duration_"
                                   "seconds_count")));
    ck_assert (s_value (w, "process_resident_memory_bytes") > 0);
    free (b);
    free (w);
    zsock_destroy (&sub);
    zsock_destroy (&client);
    tk_cluster_destroy (&cluster);
}
END_TEST

//  Scrape `port` until `key` reads `want`, within 10 s; its last value.
static double
s_wait_value (int port, const char *key, double want, s_scrape_t *scrape)
{
    double value = NAN;
    for (int i = 0; i < 200; i++) {
        s_scrape (port, scrape);
        if ((value = s_value (scrape, key)) == want)
            break;
        zclock_sleep (50);
    }
    return value;
}

//  A replicated cluster's gauges: under-replicated once a copy is down,
//  back to 0 once it returned and caught up; decisions counted.
START_TEST (test_replication_gauges)
{
    enum { SYSTEMS = 6 };
    int bport = s_free_port ();
    char bargs [96];
    snprintf (bargs, sizeof bargs, "--metrics 127.0.0.1:%d --replicas 3 "
              "--partitions 4 --heartbeat 200", bport);
    tk_cluster_t *cluster = tk_cluster_new (3);
    cluster->broker_args = bargs;
    ck_assert_msg (tk_cluster_start (cluster), "cluster did not come up");
    zsock_t *client = tk_dealer (cluster->clients);
    char ids [SYSTEMS][37];
    for (int s = 0; s < SYSTEMS; s++)
        ck_assert_int_eq (tk_define (client, "metrics", ids [s]), 0);
    s_scrape_t *b = malloc (sizeof *b);
    const char *under = "kvpbus_broker_partitions_under_replicated";
    //  Each placement is one decision: once the snapshot has them all
    //  (a partition per define at most), they are the placed partitions
    double placed = s_wait_total (bport, "kvpbus_broker_replication_"
                                  "decisions_total", 1, b);
    zclock_sleep (600);             //  a snapshot after the last define
    s_scrape (bport, b);
    placed = s_value (b, "kvpbus_broker_replication_decisions_total");
    ck_assert (placed >= 1 && placed <= SYSTEMS);
    ck_assert (s_value (b, under) == 0);
    ck_assert (s_value (b, "kvpbus_broker_partitions_offline") == 0);
    //  One copy of three down: every placed partition is short of R, none
    //  below M, none offline (a leader there was promoted away)
    tk_stop (cluster->workers [2], SIGKILL, 5000);
    cluster->workers [2] = 0;
    ck_assert (s_wait_value (bport, under, placed, b) == placed);
    ck_assert (s_value (b, "kvpbus_broker_partitions_under_min_insync") == 0);
    ck_assert (s_value (b, "kvpbus_broker_partitions_offline") == 0);
    ck_assert (s_value (b, "kvpbus_broker_replication_decisions_total")
               > placed);
    //  Back, copied, in sync again
    ck_assert (tk_worker_start (cluster, 2) > 0);
    ck_assert (s_wait_value (bport, under, 0, b) == 0);
    ck_assert (s_value (b, "kvpbus_broker_replication_copies_total") >= 1);
    free (b);
    zsock_destroy (&client);
    tk_cluster_destroy (&cluster);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("metrics");
    TCase *tc = tcase_create ("helpers");
    tcase_add_test (tc, test_reply_rc);
    tcase_add_test (tc, test_endpoint);
    suite_add_tcase (suite, tc);
    tc = tcase_create ("cluster");
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_cluster_scrape);
    tcase_add_test (tc, test_replication_gauges);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
