/*
 * service.h - talking to the service manager (sd_notify(3)): readiness,
 * a one-line status, watchdog pings, shutdown.
 *
 * systemd starts our units as Type=notify with WatchdogSec=.  It sets
 * NOTIFY_SOCKET, and WATCHDOG_USEC/WATCHDOG_PID when the watchdog is on.
 * Without NOTIFY_SOCKET (a terminal, the tests, another init) every
 * function here is a no-op that returns 0, so callers need no checks.
 *
 *   READY=1     sent once, by service_ready() (the capture: after its first
 *               frame or placeholder is published) or from the first
 *               iteration of the event loop (service_ready_on_loop(): the
 *               server, once it listens and its loop runs).  For
 *               Type=notify, "systemctl start" returns only then.
 *   STATUS=     whatever the status callback writes, asked for on every
 *               tick and sent only when it changed (systemctl status shows
 *               it).
 *   WATCHDOG=1  on every tick, from a libevent timer, so the pings prove
 *               that the event loop itself still runs: a process that is
 *               stopped (SIGSTOP) or stuck in a callback misses them and
 *               systemd kills and restarts it after WatchdogSec.
 *   STOPPING=1  by service_stopping(), when the loop has ended.
 *
 * The tick runs every half watchdog interval (the period sd_watchdog_enabled(3)
 * recommends), and at most SERVICE_STATUS_PERIOD_MS apart so the status
 * stays fresh when the watchdog is off.
 *
 * One struct service per process, used from the event loop's thread only.
 * Functions return 0 or -errno.
 */
#ifndef SHMCAM_SERVICE_H
#define SHMCAM_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#define SERVICE_STATUS_MAX		256
#define SERVICE_STATUS_PERIOD_MS	5000

/* Writes the current status line (NUL-terminated, may be truncated). */
typedef void service_status_fn(char *buf, size_t size, void *arg);

struct service {
	struct event_base *sv_base;
	struct event	*sv_tick_ev;	/* watchdog pings, status refresh */
	struct event	*sv_ready_ev;	/* READY=1 from the loop */
	service_status_fn *sv_status_cb;
	void		*sv_status_arg;
	uint64_t	 sv_watchdog_usec;	/* 0: no watchdog */
	uint64_t	 sv_pings;		/* WATCHDOG=1 sent */
	int		 sv_enabled;	/* NOTIFY_SOCKET is set */
	int		 sv_ready;	/* READY=1 sent */
	int		 sv_stopping;	/* STOPPING=1 sent */
	int		 sv_failing;	/* the last sd_notify() failed */
	char		 sv_status[SERVICE_STATUS_MAX];	/* last STATUS= */
};

/*
 * Reads the environment and, when run by a service manager, arms the tick
 * on base.  status_cb may be NULL (no STATUS= lines).  -ENOMEM if an event
 * cannot be made.
 */
int	service_init(struct service *sv, struct event_base *base,
	    service_status_fn *status_cb, void *arg);
/* READY=1 now, with the current status; later calls do nothing. */
int	service_ready(struct service *sv);
/* READY=1 as soon as the event loop runs a first iteration. */
int	service_ready_on_loop(struct service *sv);
/* Sends the status now if it changed (for changes worth showing at once). */
int	service_update(struct service *sv);
/* STOPPING=1; later calls do nothing. */
int	service_stopping(struct service *sv);
void	service_free(struct service *sv);

#endif /* SHMCAM_SERVICE_H */
