/*  kvp_notify.h - tell the service manager how the process is: ready,
    alive, stopping (systemd's sd_notify protocol, through libsystemd).

    Under a unit of Type=notify, systemd sets NOTIFY_SOCKET and waits for
    READY=1 before it counts the service started (and starts the units
    ordered after it); with WatchdogSec= it also sets WATCHDOG_USEC and
    restarts a process that does not send WATCHDOG=1 at least that often.
    Elsewhere (no NOTIFY_SOCKET) every call here does nothing.

    A program's reactor calls kvp_notify_ready once it really serves (the
    broker: bound, registry open; the worker: recovered and registered),
    kvp_notify_alive from its timers and kvp_notify_due for its poll
    timeout, so WATCHDOG=1 goes out every half WATCHDOG_USEC while the
    loop turns and stops when it hangs, and kvp_notify_stopping when a
    stop begins.

    Not part of the KVP/1 codec: it lives in proto/ because proto is the
    one library both the broker and the worker link. The state is the
    process's; only the reactor's thread calls these.
*/
#ifndef KVP_NOTIFY_H_INCLUDED
#define KVP_NOTIFY_H_INCLUDED

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  READY=1 (the first time only) with STATUS= the printf-style `format`
    and its arguments, a line an operator sees in `systemctl status`
    (cut at 255 bytes); later calls update the status. */
void
    kvp_notify_ready (const char *format, ...)
    __attribute__ ((format (printf, 1, 2)));

/*  WATCHDOG=1 when one is due at `now` (monotonic ms, zclock_mono): the
    first call sends one, then every half WATCHDOG_USEC. Returns
    kvp_notify_due (). */
int64_t
    kvp_notify_alive (int64_t now);

/*  The monotonic ms when kvp_notify_alive must be called next, or
    INT64_MAX when there is no watchdog (WATCHDOG_USEC unset or for
    another PID). */
int64_t
    kvp_notify_due (void);

/*  STOPPING=1: the stop has begun (the reactor drains, then exits). */
void
    kvp_notify_stopping (void);

#ifdef __cplusplus
}
#endif
#endif
