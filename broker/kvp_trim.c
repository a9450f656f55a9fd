/*  kvp_trim.c - malloc_trim in a thread of its own (see kvp_trim.h).
*/
#include "kvp_trim.h"
#include <czmq.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

struct _kvp_trim_t {
    pthread_t thread;
    pthread_mutex_t lock;           //  guards what follows
    pthread_cond_t wake;
    bool asked;
    bool stop;
};

//  Wait (lock held) until asked or stopped; false to stop
static bool
s_wait_asked (kvp_trim_t *self)
{
    while (!self->asked && !self->stop)
        pthread_cond_wait (&self->wake, &self->lock);
    return !self->stop;
}

static void *
s_run (void *arg)
{
    kvp_trim_t *self = (kvp_trim_t *) arg;
    pthread_mutex_lock (&self->lock);
    while (s_wait_asked (self)) {
        self->asked = false;
        pthread_mutex_unlock (&self->lock);
        malloc_trim (0);
        //  Asks meanwhile wait for the next round
        struct timespec pause = { KVP_TRIM_MS / 1000,
                                  (KVP_TRIM_MS % 1000) * 1000000L };
        nanosleep (&pause, NULL);
        pthread_mutex_lock (&self->lock);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

kvp_trim_t *
kvp_trim_new (void)
{
    kvp_trim_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    if (pthread_create (&self->thread, NULL, s_run, self) != 0) {
        pthread_cond_destroy (&self->wake);
        pthread_mutex_destroy (&self->lock);
        free (self);
        return NULL;
    }
    return self;
}

void
kvp_trim_destroy (kvp_trim_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_trim_t *self = *self_p;
    pthread_mutex_lock (&self->lock);
    self->stop = true;
    pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
    pthread_join (self->thread, NULL);
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

void
kvp_trim_ask (kvp_trim_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->asked = true;
    pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
}
