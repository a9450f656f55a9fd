/*  kvp_notify.c - sd_notify for the reactors. See kvp_notify.h.
*/
#include "kvp_notify.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

static struct {
    bool ready;                 //  READY=1 sent
    bool checked;               //  WATCHDOG_USEC read
    int64_t interval;           //  ms between WATCHDOG=1; 0: none
    int64_t due;                //  mono ms of the next one
} s_notify;

//  Read WATCHDOG_USEC (and WATCHDOG_PID) once: systemd asks for a ping
//  at least that often and advises twice as often.
static void
s_check (int64_t now)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled (0, &usec) > 0 && usec > 0) {
        s_notify.interval = (int64_t) (usec / 2000);
        if (s_notify.interval < 1)
            s_notify.interval = 1;
    }
    s_notify.due = now;
    s_notify.checked = true;
}

void
kvp_notify_ready (const char *format, ...)
{
    char status [256];
    va_list args;
    va_start (args, format);
    vsnprintf (status, sizeof status, format, args);
    va_end (args);
    for (char *eol = strchr (status, '\n'); eol; eol = strchr (eol, '\n'))
        *eol = ' ';             //  one line: a newline starts a new field
    sd_notifyf (0, "%sSTATUS=%s", s_notify.ready ? "" : "READY=1\n",
                status);
    s_notify.ready = true;
}

int64_t
kvp_notify_alive (int64_t now)
{
    if (!s_notify.checked)
        s_check (now);
    if (s_notify.interval && now >= s_notify.due) {
        sd_notify (0, "WATCHDOG=1");
        s_notify.due = now + s_notify.interval;
    }
    return kvp_notify_due ();
}

int64_t
kvp_notify_due (void)
{
    return s_notify.interval ? s_notify.due : INT64_MAX;
}

void
kvp_notify_stopping (void)
{
    sd_notify (0, "STOPPING=1");
}
