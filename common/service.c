/*
 * service.c - see service.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "service.h"

/*
 * Sends one notification: the fixed fields, then STATUS= when the status
 * callback has something new.  sd_notify() returns > 0 when sent, 0 when
 * there is no NOTIFY_SOCKET, or -errno.
 */
static int
service_send(struct service *sv, const char *fields)
{
	char status[SERVICE_STATUS_MAX] = "";
	char msg[sizeof(status) + 64];
	int rc, changed = 0;

	if (!sv->sv_enabled)
		return 0;
	if (sv->sv_status_cb != NULL) {
		sv->sv_status_cb(status, sizeof(status), sv->sv_status_arg);
		/* A newline would start a field of our status' choosing. */
		status[strcspn(status, "\n")] = '\0';
		changed = strcmp(status, sv->sv_status) != 0;
	}
	if (changed)
		snprintf(msg, sizeof(msg), "%s%sSTATUS=%s", fields,
		    fields[0] != '\0' ? "\n" : "", status);
	else
		snprintf(msg, sizeof(msg), "%s", fields);
	if (msg[0] == '\0')
		return 0;
	rc = sd_notify(0, msg);
	if (rc < 0) {
		/* Once, not at every tick while the manager stays away. */
		if (!sv->sv_failing)
			log_warnx("sd_notify(%s): %s", fields[0] ? fields :
			    "STATUS", strerror(-rc));
		sv->sv_failing = 1;
		return rc;
	}
	sv->sv_failing = 0;
	if (changed)
		memcpy(sv->sv_status, status, sizeof(status));
	return 0;
}

static void
service_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct service *sv = arg;

	(void)fd;
	(void)what;
	if (sv->sv_watchdog_usec != 0) {
		if (service_send(sv, "WATCHDOG=1") == 0)
			sv->sv_pings++;
	} else
		service_send(sv, "");
}

static void
service_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	service_ready(arg);
}

int
service_init(struct service *sv, struct event_base *base,
    service_status_fn *status_cb, void *arg)
{
	const char *sock = getenv("NOTIFY_SOCKET");
	uint64_t usec = 0, period_ms = SERVICE_STATUS_PERIOD_MS;
	struct timeval tv;
	int rc;

	memset(sv, 0, sizeof(*sv));
	sv->sv_base = base;
	sv->sv_status_cb = status_cb;
	sv->sv_status_arg = arg;
	sv->sv_enabled = sock != NULL && sock[0] != '\0';
	if (!sv->sv_enabled)
		return 0;

	/* > 0 only if WATCHDOG_PID is unset or ours: a child we forked
	 * must not ping on our behalf. */
	rc = sd_watchdog_enabled(0, &usec);
	if (rc < 0)
		log_warnx("watchdog settings ignored: %s", strerror(-rc));
	if (rc > 0 && usec > 0) {
		sv->sv_watchdog_usec = usec;
		if (usec / 2000 < period_ms)
			period_ms = usec / 2000 ? usec / 2000 : 1;
	}
	sv->sv_tick_ev = event_new(base, -1, EV_PERSIST, service_tick_cb, sv);
	if (sv->sv_tick_ev == NULL)
		return -ENOMEM;
	tv.tv_sec = (time_t)(period_ms / 1000);
	tv.tv_usec = (suseconds_t)(period_ms % 1000 * 1000);
	if (event_add(sv->sv_tick_ev, &tv) != 0)
		return -ENOMEM;
	log_debug("service manager: notify socket %s, watchdog %llu ms, "
	    "tick %llu ms", sock, (unsigned long long)(usec / 1000),
	    (unsigned long long)period_ms);
	return 0;
}

/* Sends fields unless *sent says they went out already. */
static int
service_send_once(struct service *sv, const char *fields, int *sent)
{
	int rc;

	if (!sv->sv_enabled || *sent)
		return 0;
	if ((rc = service_send(sv, fields)) == 0)
		*sent = 1;
	return rc;
}

int
service_ready(struct service *sv)
{
	return service_send_once(sv, "READY=1", &sv->sv_ready);
}

int
service_ready_on_loop(struct service *sv)
{
	struct timeval zero = { 0, 0 };

	if (!sv->sv_enabled || sv->sv_ready || sv->sv_ready_ev != NULL)
		return 0;
	sv->sv_ready_ev = evtimer_new(sv->sv_base, service_ready_cb, sv);
	if (sv->sv_ready_ev == NULL || evtimer_add(sv->sv_ready_ev, &zero) != 0)
		return -ENOMEM;
	return 0;
}

int
service_update(struct service *sv)
{
	return service_send(sv, "");
}

int
service_stopping(struct service *sv)
{
	return service_send_once(sv, "STOPPING=1", &sv->sv_stopping);
}

void
service_free(struct service *sv)
{
	if (sv->sv_tick_ev != NULL)
		event_free(sv->sv_tick_ev);
	if (sv->sv_ready_ev != NULL)
		event_free(sv->sv_ready_ev);
	sv->sv_tick_ev = sv->sv_ready_ev = NULL;
}
