/*
 * check_service.c - the service manager notifications (common/service.h),
 * against a notification socket of our own, as systemd would provide:
 * nothing at all without NOTIFY_SOCKET; READY=1 exactly once (at once, or
 * from the first loop iteration); STATUS= only when it changed and never
 * with a newline in it; WATCHDOG=1 from the loop at half the interval, and
 * none when WATCHDOG_PID names another process; STOPPING=1 once.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "service.h"
#include "testutil.h"

static char notify_dir[64];
static char notify_path[108];

/* A datagram socket in a fresh directory, named in NOTIFY_SOCKET. */
static int
notify_socket(void)
{
	struct sockaddr_un sun;
	const char *dir = tu_tmpdir();
	int fd;

	ck_assert_ptr_nonnull(dir);
	snprintf(notify_dir, sizeof(notify_dir), "%s", dir);
	snprintf(notify_path, sizeof(notify_path), "%s/notify", dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", notify_path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", sun.sun_path, 1), 0);
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	return fd;
}

static void
notify_close(int fd)
{
	close(fd);
	unlink(notify_path);
	rmdir(notify_dir);
}

/* The next notification within timeout_ms into buf, or 0 if none came. */
static int
next_msg(int fd, char *buf, size_t size, int timeout_ms)
{
	ssize_t n;

	if (!tu_wait_fd(fd, POLLIN, timeout_ms))
		return 0;
	n = recv(fd, buf, size - 1, 0);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	return 1;
}

struct status_src {
	char	text[512];
	int	calls;
};

static void
status_cb(char *buf, size_t size, void *arg)
{
	struct status_src *s = arg;

	s->calls++;
	snprintf(buf, size, "%s", s->text);
}

START_TEST(test_no_manager)
{
	struct event_base *base = event_base_new();
	struct status_src src = { "x", 0 };
	struct service sv;

	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(service_init(&sv, base, status_cb, &src), 0);
	ck_assert_int_eq(sv.sv_enabled, 0);
	ck_assert_ptr_null(sv.sv_tick_ev);
	ck_assert_int_eq(service_ready(&sv), 0);
	ck_assert_int_eq(service_ready_on_loop(&sv), 0);
	ck_assert_int_eq(service_update(&sv), 0);
	ck_assert_int_eq(service_stopping(&sv), 0);
	ck_assert_int_eq(src.calls, 0);
	service_free(&sv);
	event_base_free(base);
}
END_TEST

START_TEST(test_ready_status_stopping)
{
	struct event_base *base = event_base_new();
	struct status_src src = { "12.5 fps, online", 0 };
	struct service sv;
	char msg[1024];
	int fd = notify_socket();

	ck_assert_int_eq(service_init(&sv, base, status_cb, &src), 0);
	ck_assert_int_eq(sv.sv_enabled, 1);
	ck_assert_uint_eq(sv.sv_watchdog_usec, 0);
	ck_assert(!next_msg(fd, msg, sizeof(msg), 50));

	ck_assert_int_eq(service_ready(&sv), 0);
	ck_assert(next_msg(fd, msg, sizeof(msg), 2000));
	ck_assert_str_eq(msg, "READY=1\nSTATUS=12.5 fps, online");
	/* Once only. */
	ck_assert_int_eq(service_ready(&sv), 0);
	ck_assert(!next_msg(fd, msg, sizeof(msg), 50));

	/* An unchanged status is not sent again; a changed one is, and a
	 * newline cannot smuggle in a field of its own. */
	ck_assert_int_eq(service_update(&sv), 0);
	ck_assert(!next_msg(fd, msg, sizeof(msg), 50));
	snprintf(src.text, sizeof(src.text), "offline\nREADY=0");
	ck_assert_int_eq(service_update(&sv), 0);
	ck_assert(next_msg(fd, msg, sizeof(msg), 2000));
	ck_assert_str_eq(msg, "STATUS=offline");

	ck_assert_int_eq(service_stopping(&sv), 0);
	ck_assert(next_msg(fd, msg, sizeof(msg), 2000));
	ck_assert_str_eq(msg, "STOPPING=1");
	ck_assert_int_eq(service_stopping(&sv), 0);
	ck_assert(!next_msg(fd, msg, sizeof(msg), 50));

	/* A status longer than SERVICE_STATUS_MAX is cut, not overrun. */
	memset(src.text, 'x', sizeof(src.text) - 1);
	src.text[sizeof(src.text) - 1] = '\0';
	ck_assert_int_eq(service_update(&sv), 0);
	ck_assert(next_msg(fd, msg, sizeof(msg), 2000));
	ck_assert_uint_eq(strlen(msg), strlen("STATUS=") +
	    SERVICE_STATUS_MAX - 1);
	service_free(&sv);
	event_base_free(base);
	notify_close(fd);
}
END_TEST

START_TEST(test_ready_on_loop)
{
	struct event_base *base = event_base_new();
	struct service sv;
	char msg[256];
	int fd = notify_socket();

	ck_assert_int_eq(service_init(&sv, base, NULL, NULL), 0);
	ck_assert_int_eq(service_ready_on_loop(&sv), 0);
	/* Not before the loop runs... */
	ck_assert(!next_msg(fd, msg, sizeof(msg), 50));
	ck_assert_int_eq(event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK),
	    0);
	/* ...then exactly once, and without a status (no callback). */
	ck_assert(next_msg(fd, msg, sizeof(msg), 2000));
	ck_assert_str_eq(msg, "READY=1");
	ck_assert_int_eq(sv.sv_ready, 1);
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	ck_assert(!next_msg(fd, msg, sizeof(msg), 50));
	service_free(&sv);
	event_base_free(base);
	notify_close(fd);
}
END_TEST

struct pinger {
	int	 fd;
	int	 pings;
	int	 statuses;
	uint64_t first_ms;
	uint64_t last_ms;
	struct event_base *base;
};

static void
pinger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pinger *p = arg;
	char msg[256];
	ssize_t n;

	(void)what;
	while ((n = recv(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT)) > 0) {
		msg[n] = '\0';
		if (strstr(msg, "WATCHDOG=1") == NULL)
			continue;
		if (strstr(msg, "STATUS=") != NULL)
			p->statuses++;
		if (p->pings++ == 0)
			p->first_ms = tu_now_ms();
		p->last_ms = tu_now_ms();
		if (p->pings == 5)
			event_base_loopbreak(p->base);
	}
}

START_TEST(test_watchdog_pings_from_loop)
{
	struct event_base *base = event_base_new();
	struct status_src src = { "steady", 0 };
	struct pinger p = { 0 };
	struct timeval limit = { 10, 0 };
	struct event *ev;
	struct service sv;
	char pid[32];

	p.fd = notify_socket();
	p.base = base;
	ck_assert_int_eq(setenv("WATCHDOG_USEC", "200000", 1), 0);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	ck_assert_int_eq(setenv("WATCHDOG_PID", pid, 1), 0);
	ck_assert_int_eq(service_init(&sv, base, status_cb, &src), 0);
	ck_assert_uint_eq(sv.sv_watchdog_usec, 200000);

	ev = event_new(base, p.fd, EV_READ | EV_PERSIST, pinger_cb, &p);
	event_add(ev, NULL);
	event_base_loopexit(base, &limit);
	event_base_dispatch(base);
	ck_assert_int_eq(p.pings, 5);
	/* The status rode along with the first ping only. */
	ck_assert_int_eq(p.statuses, 1);
	/* Every half interval (100 ms): four periods between five pings,
	 * never faster (a slow machine may make them later, not sooner). */
	ck_assert_uint_ge(p.last_ms - p.first_ms, 4 * 100 - 20);
	ck_assert_uint_eq(sv.sv_pings, 5);
	event_free(ev);
	service_free(&sv);
	event_base_free(base);
	notify_close(p.fd);
}
END_TEST

START_TEST(test_watchdog_for_another_process)
{
	struct event_base *base = event_base_new();
	struct service sv;
	struct timeval t = { 0, 300000 };
	char msg[256], pid[32];
	int fd = notify_socket(), n = 0;

	/* WATCHDOG_PID of our parent: the watchdog is not ours to feed. */
	ck_assert_int_eq(setenv("WATCHDOG_USEC", "100000", 1), 0);
	snprintf(pid, sizeof(pid), "%ld", (long)getppid());
	ck_assert_int_eq(setenv("WATCHDOG_PID", pid, 1), 0);
	ck_assert_int_eq(service_init(&sv, base, NULL, NULL), 0);
	ck_assert_uint_eq(sv.sv_watchdog_usec, 0);
	event_base_loopexit(base, &t);
	event_base_dispatch(base);
	while (next_msg(fd, msg, sizeof(msg), 0))
		n++;
	ck_assert_int_eq(n, 0);
	service_free(&sv);
	event_base_free(base);
	notify_close(fd);
}
END_TEST

static Suite *
service_suite(void)
{
	Suite *s = suite_create("service");
	TCase *tc = tcase_create("notify");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_no_manager);
	tcase_add_test(tc, test_ready_status_stopping);
	tcase_add_test(tc, test_ready_on_loop);
	tcase_add_test(tc, test_watchdog_pings_from_loop);
	tcase_add_test(tc, test_watchdog_for_another_process);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(service_suite());
}
