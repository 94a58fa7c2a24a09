/*
 * state.c - what shmcam-rtsp is doing, over HTTP on --http (or a socket
 * named "http" from systemd): GET /state (JSON: each camera's link and
 * stream, each session with its client, transport and what its receiver
 * reports) and GET /metrics (Prometheus text).  Nothing else, and
 * nothing that changes anything; bind it to a loopback or management
 * address.  The same figures in short go to systemd's status line.
 * (Camera names are letters, digits, '.', '_' and '-': safe in a
 * Prometheus label as they are.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "json.h"
#include "listener.h"
#include "log.h"
#include "netaddr.h"
#include "opt.h"
#include "rtsp.h"

static void
state_session(struct evbuffer *out, const struct rtsp_session *ss,
    uint64_t now)
{
	const struct rtcp_feedback *rr = &ss->ss_rr;

	evbuffer_add_printf(out, "{\"id\":\"%s\",\"client\":", ss->ss_id);
	json_add_string(out, ss->ss_conn->cn_addr);
	evbuffer_add_printf(out, ",\"transport\":\"%s\","
	    "\"state\":\"%s\",\"seconds\":%.1f,\"frames\":%llu,"
	    "\"bytes\":%llu,\"keyframe_waits\":%llu,\"skips\":%llu,"
	    "\"waiting_for_keyframe\":%s,\"udp_dropped\":%llu,"
	    "\"queued\":%zu,\"send\":{\"decision\":\"%s\",\"why\":\"%s\","
	    "\"rtt_ms\":%.2f,\"rate\":%llu,\"ahead\":%llu},"
	    "\"rtcp_received\":%llu,\"rtcp_ignored\":%llu,"
	    "\"receiver\":{\"reports\":%llu,\"fraction_lost\":%.3f,"
	    "\"lost\":%d,\"jitter_ms\":%.2f,\"rtt_ms\":%.2f}}",
	    ss->ss_tr.tr_lower == RTSP_LOWER_TCP ? "tcp" : "udp",
	    ss->ss_state == SS_PLAYING ? "playing" : "ready",
	    (double)(now - ss->ss_start_ns) / 1e9,
	    (unsigned long long)ss->ss_frames,
	    (unsigned long long)ss->ss_bytes,
	    (unsigned long long)ss->ss_keyframes,
	    (unsigned long long)ss->ss_skips,
	    ss->ss_waiting_key ? "true" : "false",
	    (unsigned long long)ss->ss_udp_dropped, conn_queued(ss->ss_conn),
	    sendpolicy_decision_name(ss->ss_verdict.v_decision),
	    sendpolicy_why_name(ss->ss_verdict.v_why),
	    ss->ss_net.sp_srtt_us / 1000.0,
	    (unsigned long long)ss->ss_verdict.v_rate,
	    (unsigned long long)ss->ss_verdict.v_ahead,
	    (unsigned long long)ss->ss_rtcp_in,
	    (unsigned long long)ss->ss_rtcp_ignored,
	    (unsigned long long)ss->ss_rr_count,
	    rr->fb_fraction_lost / 256.0, rr->fb_lost,
	    rr->fb_jitter / 90.0, ss->ss_rtt_us / 1000.0);
}

static void
state_json(struct rtsp_server *srv, struct evbuffer *out)
{
	struct camera *cam;
	struct rtsp_session *ss;
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	int first = 1, sfirst;

	evbuffer_add_printf(out, "{\"server\":\"shmcam-rtsp\","
	    "\"uptime\":%.1f,\"connections\":%u,\"max_clients\":%u,"
	    "\"cameras\":[", (double)(now - srv->started_mono_ns) / 1e9,
	    srv->nconns, srv->opt.max_clients);
	TAILQ_FOREACH(cam, &srv->cameras, c_entry) {
		evbuffer_add_printf(out, "%s{\"name\":", first ? "" : ",");
		first = 0;
		json_add_string(out, cam->c_name);
		evbuffer_add_printf(out, ",\"link\":\"%s\",\"why\":",
		    attach_state_name(&cam->c_at));
		json_add_string(out, cam->c_at.at_why);
		evbuffer_add_printf(out, ",\"h264\":%s,\"width\":%u,"
		    "\"height\":%u,\"ssrc\":\"%08X\",\"frames_in\":%llu,"
		    "\"frames_lost\":%llu,\"keyframe_requests\":%llu,"
		    "\"sessions\":[",
		    cam->c_at.at_mapped[CTL_KIND_H264] ? "true" : "false",
		    cam->c_width, cam->c_height, cam->c_ssrc,
		    (unsigned long long)cam->c_frames_in,
		    (unsigned long long)cam->c_frames_lost,
		    (unsigned long long)cam->c_keyframe_requests);
		sfirst = 1;
		TAILQ_FOREACH(ss, &cam->c_sessions, ss_entry) {
			if (!sfirst)
				evbuffer_add(out, ",", 1);
			sfirst = 0;
			state_session(out, ss, now);
		}
		evbuffer_add_printf(out, "]}");
	}
	evbuffer_add_printf(out, "]}\n");
}

static void
metric(struct evbuffer *out, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(out, "# HELP shmcam_rtsp_%s %s\n"
	    "# TYPE shmcam_rtsp_%s %s\n", name, help, name, type);
}

static void
state_metrics(struct rtsp_server *srv, struct evbuffer *out)
{
	static const struct {
		const char	*name;
		const char	*help;
		size_t		 off;
	} cam_counters[] = {
#define C(f, n, h) { n, h, offsetof(struct camera, f) }
		C(c_frames_in, "frames_in_total",
		    "H.264 access units read from the ring"),
		C(c_frames_lost, "frames_lost_total",
		    "access units overwritten before they were read"),
		C(c_invalid, "frames_invalid_total",
		    "access units refused as malformed"),
		C(c_frames_sent, "frames_sent_total",
		    "access units sent to sessions"),
		C(c_packets_sent, "packets_sent_total", "RTP packets sent"),
		C(c_bytes_sent, "bytes_sent_total", "RTP bytes sent"),
		C(c_skips, "skips_total",
		    "sessions sent to the next keyframe (behind, UDP full)"),
		C(c_keyframe_requests, "keyframe_requests_total",
		    "keyframes asked of the capture"),
		C(c_pli, "pli_total", "PLI and FIR acted on"),
		C(c_udp_dropped, "udp_dropped_total",
		    "RTP packets a UDP socket would not take"),
#undef C
	};
	static const struct {
		const char	*name;
		const char	*help;
		size_t		 off;
	} srv_counters[] = {
#define S(f, h) { #f "_total", h, offsetof(struct rtsp_server, f) }
		S(connections, "connections accepted"),
		S(requests, "requests handled"),
		S(bad_requests, "requests refused as malformed or too large"),
		S(rejected_busy, "connections refused over --max-clients, "
		    "logins refused while too many were being checked"),
		S(rejected_auth, "requests answered 401"),
		S(rejected_throttled, "requests refused after too many failed "
		    "logins from their address"),
		S(request_timeouts, "connections closed by --request-timeout"),
		S(session_timeouts, "sessions ended by --session-timeout"),
		S(stalled, "connections closed by --client-timeout"),
		S(sessions, "sessions set up"),
#undef S
	};
	struct camera *cam;
	size_t i;

	metric(out, "connections", "gauge", "RTSP connections open");
	evbuffer_add_printf(out, "shmcam_rtsp_connections %u\n", srv->nconns);
	for (i = 0; i < sizeof(srv_counters) / sizeof(srv_counters[0]); i++) {
		metric(out, srv_counters[i].name, "counter",
		    srv_counters[i].help);
		evbuffer_add_printf(out, "shmcam_rtsp_%s %llu\n",
		    srv_counters[i].name, (unsigned long long)*(const uint64_t *)
		    ((const char *)srv + srv_counters[i].off));
	}
	metric(out, "sessions", "gauge", "sessions by camera");
	TAILQ_FOREACH(cam, &srv->cameras, c_entry) {
		evbuffer_add_printf(out, "shmcam_rtsp_sessions{camera=\"%s\"} "
		    "%u\n", cam->c_name, cam->c_nsessions);
	}
	metric(out, "attached", "gauge", "1 while attached to the capture");
	TAILQ_FOREACH(cam, &srv->cameras, c_entry) {
		evbuffer_add_printf(out, "shmcam_rtsp_attached{camera=\"%s\"} "
		    "%d\n", cam->c_name, cam->c_at.at_state == ATTACH_ATTACHED);
	}
	for (i = 0; i < sizeof(cam_counters) / sizeof(cam_counters[0]); i++) {
		metric(out, cam_counters[i].name, "counter",
		    cam_counters[i].help);
		TAILQ_FOREACH(cam, &srv->cameras, c_entry) {
			evbuffer_add_printf(out, "shmcam_rtsp_%s{camera=\"%s\"} "
			    "%llu\n", cam_counters[i].name, cam->c_name,
			    (unsigned long long)*(const uint64_t *)
			    ((const char *)cam + cam_counters[i].off));
		}
	}
}

static void
state_request_cb(struct evhttp_request *req, void *arg)
{
	struct rtsp_server *srv = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(
	    req));
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
	struct evbuffer *out;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, NULL);
		return;
	}
	if (path == NULL || (strcmp(path, "/state") != 0 &&
	    strcmp(path, "/metrics") != 0)) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	if ((out = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evhttp_add_header(hdr, "Server", "shmcam-rtsp/" SHMCAM_VERSION);
	evhttp_add_header(hdr, "Cache-Control", "no-store");
	if (strcmp(path, "/state") == 0) {
		evhttp_add_header(hdr, "Content-Type", "application/json");
		state_json(srv, out);
	} else {
		evhttp_add_header(hdr, "Content-Type",
		    "text/plain; version=0.0.4");
		state_metrics(srv, out);
	}
	evhttp_send_reply(req, HTTP_OK, "OK", out);
	evbuffer_free(out);
}

static void
state_http(struct rtsp_server *srv)
{
	struct timeval tv = { (time_t)srv->opt.request_timeout_s, 0 };

	if (srv->http != NULL)
		return;
	if ((srv->http = evhttp_new(srv->base)) == NULL)
		fatalx("evhttp_new failed");
	evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(srv->http, 8192);
	evhttp_set_max_body_size(srv->http, 0);
	evhttp_set_timeout_tv(srv->http, &tv);
	evhttp_set_gencb(srv->http, state_request_cb, srv);
}

void
state_adopt(struct rtsp_server *srv, int fd)
{
	state_http(srv);
	/* evhttp accepts in a loop until EAGAIN. */
	if (evutil_make_socket_nonblocking(fd) == -1 ||
	    evutil_make_socket_closeonexec(fd) == -1)
		fatal("fd %d", fd);
	if (evhttp_accept_socket_with_handle(srv->http, fd) == NULL)
		fatalx("socket activation: fd %d: evhttp cannot take it", fd);
	log_info("/state and /metrics on fd %d (socket activation)", fd);
}

void
state_setup(struct rtsp_server *srv)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[RTSP_ADDR_MAX];
	int fd;

	if (!srv->opt.http_set)
		return;
	state_http(srv);
	fd = listener_bind_tcp(srv->opt.http.la_host, srv->opt.http.la_port,
	    "--http", NULL, NULL);
	if (evutil_make_socket_nonblocking(fd) == -1)
		fatal("--http: fd %d", fd);
	if (evhttp_accept_socket_with_handle(srv->http, fd) == NULL)
		fatalx("--http: evhttp cannot take fd %d", fd);
	/* The port bound, which port 0 leaves to the kernel. */
	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		fatal("--http: getsockname");
	netaddr_text((struct sockaddr *)&ss, 1, addr, sizeof(addr));
	log_info("/state and /metrics on http://%s/", addr);
}

void
state_free(struct rtsp_server *srv)
{
	if (srv->http != NULL)
		evhttp_free(srv->http);
	srv->http = NULL;
}
