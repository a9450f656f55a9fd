/*  kvp_retire.c - what the broker does once a worker is retired (a RETIRE
    decision committed, from RetireWorker or `kvpctl retire`): for now it
    says so in the log. Restoring R copies of the worker's partitions on
    the other live workers (spec section 12) hooks in here.
*/
#include "kvp_broker_priv.h"

void
kvp_broker_on_retire (kvp_broker_t *self, const char *worker)
{
    zsys_notice ("%s: worker %s is retired: it gets no new copy", self->logid,
                 worker);
}
