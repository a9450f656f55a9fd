/*  kvp_metrics.c - the snapshot, its HTTP endpoint and the text helpers.
*/
#include "kvp_metrics.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_CONTENT_TYPE  "text/plain; version=0.0.4; charset=utf-8"

struct _kvp_metrics_t {
    struct MHD_Daemon *daemon;  //  the HTTP server and its thread
    unsigned port;              //  the port it listens on
    pthread_mutex_t lock;       //  guards text and length only
    char *text;                 //  the published snapshot
    size_t length;              //  its bytes
    FILE *next;                 //  the snapshot being written
    char *next_text;            //  its buffer (open_memstream)
    size_t next_length;
};

//  The published text, copied, then the process metrics: a malloc'd
//  buffer of *length bytes, or NULL.
static char *
s_scrape (kvp_metrics_t *self, size_t *length)
{
    char *text = NULL;
    FILE *out = open_memstream (&text, length);
    if (!out)
        return NULL;
    pthread_mutex_lock (&self->lock);
    if (self->text)
        fwrite (self->text, 1, self->length, out);
    pthread_mutex_unlock (&self->lock);
    kvp_metrics_process (out);
    fclose (out);
    return text;
}

//  Send `body` (taken) with `status`.
static enum MHD_Result
s_respond (struct MHD_Connection *connection, unsigned status, char *body,
           size_t length, const char *type)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (
        length, body, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free (body);
        return MHD_NO;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result rc = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return rc;
}

//  One request: GET (or HEAD) /metrics, anything else 404 or 405.
static enum MHD_Result
s_request (void *cls, struct MHD_Connection *connection, const char *url,
           const char *method, const char *version, const char *upload,
           size_t *upload_size, void **state)
{
    if (strcmp (method, "GET") && strcmp (method, "HEAD"))
        return s_respond (connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                          strdup ("GET only\n"), 9, "text/plain");
    if (strcmp (url, "/metrics"))
        return s_respond (connection, MHD_HTTP_NOT_FOUND,
                          strdup ("see /metrics\n"), 13, "text/plain");
    size_t length = 0;
    char *text = s_scrape (cls, &length);
    if (!text)
        return MHD_NO;
    return s_respond (connection, MHD_HTTP_OK, text, length, S_CONTENT_TYPE);
}

//  "HOST:PORT" into an IPv4 address; false with the reason.
static bool
s_address (const char *hostport, struct sockaddr_in *addr, char *error,
           size_t size)
{
    const char *colon = strrchr (hostport, ':');
    char host [256];
    char *end;
    long port = colon ? strtol (colon + 1, &end, 10) : -1;
    if (!colon || colon == hostport || (size_t) (colon - hostport) >= sizeof host
    ||  !colon [1] || *end || port < 0 || port > 65535) {
        snprintf (error, size, "--metrics: \"%s\" is not HOST:PORT", hostport);
        return false;
    }
    snprintf (host, sizeof host, "%.*s", (int) (colon - hostport), hostport);
    struct addrinfo hints = { .ai_family = AF_INET }, *found = NULL;
    int rc = getaddrinfo (host, NULL, &hints, &found);
    if (rc || !found) {
        snprintf (error, size, "--metrics: %s: %s", host, gai_strerror (rc));
        return false;
    }
    *addr = *(struct sockaddr_in *) found->ai_addr;
    addr->sin_port = htons ((uint16_t) port);
    freeaddrinfo (found);
    return true;
}

//  The port the daemon's socket is bound to.
static unsigned
s_bound_port (struct MHD_Daemon *daemon)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (
        daemon, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    if (!info || getsockname (info->listen_fd, (struct sockaddr *) &addr,
                              &len))
        return 0;
    return ntohs (addr.sin_port);
}

kvp_metrics_t *
kvp_metrics_new (const char *hostport, char *error, size_t size)
{
    struct sockaddr_in addr;
    if (!s_address (hostport, &addr, error, size))
        return NULL;
    kvp_metrics_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (error, size, "out of memory");
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    //  One thread, few connections: a scraper or two, never the hot path.
    self->daemon = MHD_start_daemon (
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL,
        s_request, self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
        MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
        MHD_OPTION_END);
    if (!self->daemon) {
        snprintf (error, size, "--metrics: cannot listen on %s", hostport);
        kvp_metrics_destroy (&self);
        return NULL;
    }
    self->port = s_bound_port (self->daemon);
    return self;
}

void
kvp_metrics_destroy (kvp_metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_metrics_t *self = *self_p;
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    if (self->next)
        fclose (self->next);
    free (self->next_text);
    free (self->text);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

unsigned
kvp_metrics_port (kvp_metrics_t *self)
{
    return self->port;
}

FILE *
kvp_metrics_begin (kvp_metrics_t *self)
{
    if (self->next)
        fclose (self->next);
    free (self->next_text);
    self->next_text = NULL;
    self->next = open_memstream (&self->next_text, &self->next_length);
    return self->next;
}

void
kvp_metrics_publish (kvp_metrics_t *self)
{
    if (!self->next)
        return;
    fclose (self->next);
    self->next = NULL;
    pthread_mutex_lock (&self->lock);
    char *old = self->text;
    self->text = self->next_text;
    self->length = self->next_length;
    pthread_mutex_unlock (&self->lock);
    self->next_text = NULL;
    free (old);
}

void
kvp_metrics_family (FILE *out, const char *name, const char *type,
                    const char *help)
{
    fprintf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
kvp_metrics_sample (FILE *out, const char *name, const char *type,
                    const char *help, double value)
{
    kvp_metrics_family (out, name, type, help);
    if (value == (double) (uint64_t) value)
        fprintf (out, "%s %.0f\n", name, value);
    else
        fprintf (out, "%s %.9g\n", name, value);
}

void
kvp_metrics_hist_init (kvp_metrics_hist_t *self, const double *bounds,
                       size_t nbounds)
{
    memset (self, 0, sizeof *self);
    self->bounds = bounds;
    self->nbounds = nbounds < KVP_METRICS_BUCKETS_MAX
                  ? nbounds : KVP_METRICS_BUCKETS_MAX;
}

void
kvp_metrics_hist_observe (kvp_metrics_hist_t *self, double value)
{
    size_t i = 0;
    while (i < self->nbounds && value > self->bounds [i])
        i++;
    self->counts [i]++;
    self->sum += value;
}

void
kvp_metrics_hist_write (FILE *out, const char *name, const char *labels,
                        const kvp_metrics_hist_t *self)
{
    const char *sep = labels ? "," : "";
    labels = labels ? labels : "";
    uint64_t total = 0;
    for (size_t i = 0; i <= self->nbounds; i++) {
        total += self->counts [i];
        if (i < self->nbounds)
            fprintf (out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
                     sep, self->bounds [i], (unsigned long long) total);
        else
            fprintf (out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
                     sep, (unsigned long long) total);
    }
    const char *open = *labels ? "{" : "", *close = *labels ? "}" : "";
    fprintf (out, "%s_sum%s%s%s %.9g\n", name, open, labels, close,
             self->sum);
    fprintf (out, "%s_count%s%s%s %llu\n", name, open, labels, close,
             (unsigned long long) total);
}

//  Read an unsigned msgpack integer at *p (advanced); false if none.
static bool
s_uint (const uint8_t **p, const uint8_t *end, uint64_t *value)
{
    const uint8_t *at = *p;
    if (at >= end)
        return false;
    size_t len = *at < 0x80 ? 0 : *at == 0xcc ? 1 : *at == 0xcd ? 2
               : *at == 0xce ? 4 : *at == 0xcf ? 8 : 9;
    if (len == 9 || at + 1 + len > end)
        return false;
    *value = len ? 0 : *at;
    for (size_t i = 0; i < len; i++)
        *value = (*value << 8) | at [1 + i];
    *p = at + 1 + len;
    return true;
}

//  Skip a msgpack string at *p; its bytes into *str, *len. False if none.
static bool
s_str (const uint8_t **p, const uint8_t *end, const uint8_t **str,
       size_t *len)
{
    const uint8_t *at = *p;
    if (at >= end)
        return false;
    size_t head = (*at & 0xe0) == 0xa0 ? 1 : *at == 0xd9 ? 2 : *at == 0xda
                ? 3 : *at == 0xdb ? 5 : 0;
    if (!head || at + head > end)
        return false;
    *len = head == 1 ? (size_t) (*at & 0x1f) : 0;
    for (size_t i = 1; i < head; i++)
        *len = (*len << 8) | at [i];
    if (*len > (size_t) (end - at - (ptrdiff_t) head))
        return false;
    *str = at + head;
    *p = at + head + *len;
    return true;
}

bool
kvp_metrics_reply_rc (const void *body, size_t size, unsigned *rc)
{
    const uint8_t *p = body;
    const uint8_t *end = p + size;
    if (!size || (*p & 0xf0) != 0x80)
        return false;           //  replies are small fixmaps
    p++;
    for (int key = 0; key < 2; key++) {
        const uint8_t *name;
        size_t len;
        uint64_t value;
        if (!s_str (&p, end, &name, &len))
            return false;
        if (len == 2 && memcmp (name, "rc", 2) == 0) {
            if (!s_uint (&p, end, &value))
                return false;
            *rc = (unsigned) value;
            return true;
        }
        if (!s_uint (&p, end, &value) && !s_str (&p, end, &name, &len))
            return false;       //  the rid: a number or a string
    }
    return false;
}

//  Open file descriptors of this process (entries of /proc/self/fd,
//  less the one the listing itself holds).
static long
s_open_fds (void)
{
    DIR *dir = opendir ("/proc/self/fd");
    if (!dir)
        return -1;
    long count = 0;
    for (struct dirent *entry; (entry = readdir (dir));)
        if (entry->d_name [0] != '.')
            count++;
    closedir (dir);
    return count - 1;
}

//  utime, stime, starttime (clock ticks), vsize (bytes) and rss (pages)
//  from /proc/self/stat; false if it cannot be read.
static bool
s_stat (unsigned long long *ticks, unsigned long long *start,
        unsigned long long *vsize, long long *rss)
{
    char line [1024];
    FILE *in = fopen ("/proc/self/stat", "r");
    if (!in)
        return false;
    bool read = fgets (line, sizeof line, in) != NULL;
    fclose (in);
    const char *after = read ? strrchr (line, ')') : NULL;
    unsigned long long utime, stime;
    //  Fields from 3 (state) on; the name in () may hold spaces.
    if (!after || sscanf (after + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
                          "%*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu "
                          "%llu %lld", &utime, &stime, start, vsize, rss)
                  != 5)
        return false;
    *ticks = utime + stime;
    return true;
}

//  The system's boot time, Unix seconds (for process_start_time).
static double
s_boot_time (void)
{
    char line [256];
    double boot = 0;
    FILE *in = fopen ("/proc/stat", "r");
    while (in && fgets (line, sizeof line, in))
        if (sscanf (line, "btime %lf", &boot) == 1)
            break;
    if (in)
        fclose (in);
    return boot;
}

void
kvp_metrics_process (FILE *out)
{
    unsigned long long ticks, start, vsize;
    long long rss;
    double hz = (double) sysconf (_SC_CLK_TCK);
    if (s_stat (&ticks, &start, &vsize, &rss)) {
        kvp_metrics_family (out, "process_cpu_seconds_total", "counter",
                            "User and system CPU time spent in seconds.");
        fprintf (out, "process_cpu_seconds_total %.2f\n", (double) ticks / hz);
        kvp_metrics_family (out, "process_resident_memory_bytes", "gauge",
                            "Resident memory size in bytes.");
        fprintf (out, "process_resident_memory_bytes %lld\n",
                 rss * (long long) sysconf (_SC_PAGESIZE));
        kvp_metrics_family (out, "process_virtual_memory_bytes", "gauge",
                            "Virtual memory size in bytes.");
        fprintf (out, "process_virtual_memory_bytes %llu\n", vsize);
        kvp_metrics_family (out, "process_start_time_seconds", "gauge",
                            "Start time of the process since unix epoch in "
                            "seconds.");
        fprintf (out, "process_start_time_seconds %.2f\n",
                 s_boot_time () + (double) start / hz);
    }
    kvp_metrics_family (out, "process_open_fds", "gauge",
                        "Number of open file descriptors.");
    fprintf (out, "process_open_fds %ld\n", s_open_fds ());
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0) {
        kvp_metrics_family (out, "process_max_fds", "gauge",
                            "Maximum number of open file descriptors.");
        fprintf (out, "process_max_fds %llu\n",
                 (unsigned long long) limit.rlim_cur);
    }
}
