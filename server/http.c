/*
 * http.c - request handling: methods, access control, limits, and the
 * endpoints that are not streams.
 *
 * URLs (route.c parses them)
 *   /stream, /?action=stream              multipart MJPEG (stream.c)
 *   /stream.mp4                           H.264, fragmented MP4 (mp4stream.c)
 *   /hls.m3u8, /hls/NAME                  H.264, LL-HLS (hlsstream.c)
 *   /snapshot, /snapshot.jpg, /?action=snapshot   the newest JPEG, at once
 *   /state, /metrics                      JSON and Prometheus (state.c)
 *   /                                     the viewer page (page.c)
 *   /NAME/...                             the same for camera NAME
 *
 * Order of checks: method (405), OPTIONS (answered without credentials:
 * CORS preflights carry none), auth (401, so that nothing about the
 * paths shows without credentials), route (404), then the endpoint,
 * where a stream or a held HLS request beyond --max-clients gets 503.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "server.h"

/* The server and the request being handled, for the header helpers. */
static struct server *http_srv;

void
http_common_headers(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Server", SERVER_SOFTWARE);
	if (http_srv->opt.allow_origin != NULL)
		evhttp_add_header(h, "Access-Control-Allow-Origin",
		    http_srv->opt.allow_origin);
}

static void
http_no_cache(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Cache-Control",
	    "no-store, no-cache, must-revalidate, max-age=0");
	evhttp_add_header(h, "Pragma", "no-cache");
	evhttp_add_header(h, "Expires", "0");
}

void
http_error(struct evhttp_request *req, int code, const char *reason,
    const char *text)
{
	struct evbuffer *body = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	http_common_headers(req);
	evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (body != NULL)
		evbuffer_add_printf(body, "%d %s: %s\n", code, reason, text);
	evhttp_send_reply(req, code, reason, body);
	if (body != NULL)
		evbuffer_free(body);
}

void
http_peer_addr(struct server *srv, struct evhttp_request *req, char *buf,
    size_t size)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const char *xff, *last;
	char *host = NULL;
	ev_uint16_t port = 0;
	size_t n, i;

	evhttp_connection_get_peer(evcon, &host, &port);
	if (host == NULL || host[0] == '\0')
		snprintf(buf, size, "?");
	else if (port == 0)
		snprintf(buf, size, "%s", host);	/* unix socket */
	else if (strchr(host, ':') != NULL)
		snprintf(buf, size, "[%s]:%u", host, port);
	else
		snprintf(buf, size, "%s:%u", host, port);
	if (!srv->opt.trust_proxy)
		return;
	/* The proxy appends the address it saw: the last entry is the one
	 * we can trust (the ones before it came from the client). */
	xff = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "X-Forwarded-For");
	if (xff == NULL)
		return;
	last = strrchr(xff, ',');
	last = last != NULL ? last + 1 : xff;
	while (*last == ' ' || *last == '\t')
		last++;
	n = strcspn(last, " \t");
	if (n == 0 || n > 45)
		return;
	for (i = 0; i < n; i++)
		if (strchr("0123456789abcdefABCDEF:.", last[i]) == NULL)
			return;
	snprintf(buf, size, "%.*s", (int)n, last);
}

static void
http_snapshot(struct camera *cam, struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *body;
	struct frame *f;
	char ts[32], len[24];

	camera_refresh(cam);
	if ((f = cam->c_latest) == NULL) {
		evhttp_add_header(h, "Retry-After", "1");
		http_error(req, HTTP_SERVUNAVAIL, "Service Unavailable",
		    "no frame yet");
		return;
	}
	body = evbuffer_new();
	if (body == NULL || evbuffer_add_reference(body,
	    f->f_buf + f->f_jpeg_off, f->f_jpeg_len, frame_unref_cb,
	    frame_ref(f)) == -1) {
		if (body != NULL) {
			frame_unref(f);
			evbuffer_free(body);
		}
		http_error(req, HTTP_SERVUNAVAIL, "Service Unavailable",
		    "out of memory");
		return;
	}
	http_common_headers(req);
	http_no_cache(req);
	snprintf(ts, sizeof(ts), "%llu.%06u",
	    (unsigned long long)(f->f_meta.capture_real_ns / 1000000000u),
	    (unsigned)(f->f_meta.capture_real_ns % 1000000000u / 1000u));
	evhttp_add_header(h, "Content-Type", "image/jpeg");
	/* Explicit, so that HEAD gets it too (evhttp counts the body). */
	snprintf(len, sizeof(len), "%zu", f->f_jpeg_len);
	evhttp_add_header(h, "Content-Length", len);
	evhttp_add_header(h, "X-Timestamp", ts);
	if (f->f_placeholder)
		evhttp_add_header(h, "X-Shmcam-Placeholder",
		    frame_placeholder_name(f));
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

static void
http_send_body(struct evhttp_request *req, const char *ctype,
    struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	char len[24];

	http_common_headers(req);
	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	snprintf(len, sizeof(len), "%zu", evbuffer_get_length(body));
	evhttp_add_header(h, "Content-Length", len);
	evhttp_send_reply(req, HTTP_OK, "OK", body);
}

static void
http_page(struct server *srv, struct camera *cam, struct evhttp_request *req,
    enum route route)
{
	struct evbuffer *body = evbuffer_new();
	struct camera *c;

	if (body == NULL) {
		http_error(req, HTTP_SERVUNAVAIL, "Service Unavailable",
		    "out of memory");
		return;
	}
	if (route == ROUTE_STATE || route == ROUTE_METRICS)
		TAILQ_FOREACH(c, &srv->cameras, c_entry)
			camera_refresh(c);
	switch (route) {
	case ROUTE_STATE:
		state_json(srv, cam, body);
		http_send_body(req, "application/json", body);
		break;
	case ROUTE_METRICS:
		state_metrics(srv, body);
		http_send_body(req,
		    "text/plain; version=0.0.4; charset=utf-8", body);
		break;
	default:
		page_index(srv, cam, body);
		http_send_body(req, "text/html; charset=utf-8", body);
		break;
	}
	evbuffer_free(body);
}

static void
http_stream_head(struct evhttp_request *req, enum route route)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	http_common_headers(req);
	http_no_cache(req);
	evhttp_add_header(h, "Content-Type", route == ROUTE_MP4 ? "video/mp4" :
	    "multipart/x-mixed-replace;boundary=" BOUNDARY);
	evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

static int
http_auth_exempt(struct server *srv, const char *path, size_t pathlen)
{
	unsigned i;

	for (i = 0; i < srv->opt.nauth_exempt; i++)
		if (strlen(srv->opt.auth_exempt[i]) == pathlen &&
		    memcmp(srv->opt.auth_exempt[i], path, pathlen) == 0)
			return 1;
	return 0;
}

/* The request path for a log line: printable, at most size - 1 bytes. */
static const char *
http_log_path(const char *uri, size_t pathlen, char *buf, size_t size)
{
	size_t i;

	for (i = 0; i < pathlen && i + 1 < size; i++)
		buf[i] = uri[i] >= 0x20 && uri[i] < 0x7f ? uri[i] : '?';
	buf[i] = '\0';
	return buf;
}

static struct camera *
http_camera(struct server *srv, const char *name)
{
	struct camera *cam;

	if (name[0] == '\0')
		return srv->ncameras == 1 ? TAILQ_FIRST(&srv->cameras) : NULL;
	TAILQ_FOREACH(cam, &srv->cameras, c_entry)
		if (strcmp(cam->c_name, name) == 0)
			return cam;
	return NULL;
}

static void http_handle(struct server *srv, struct evhttp_request *req,
    int auth);

/* The answer of a check that waited for the hashing thread (auth.c). */
static void
http_auth_done(void *arg, int result, const char *who)
{
	struct evhttp_request *req = arg;

	(void)who;
	/* Answered now: the deadline runs again for the next request. */
	conn_request_done(http_srv, evhttp_request_get_connection(req), 0);
	http_handle(http_srv, req, result);
}

static void
http_request_cb(struct evhttp_request *req, void *arg)
{
	struct server *srv = arg;

	srv->requests++;
	/* Whatever the answer, this connection's request is complete: the
	 * deadline starts again for the next one.  Only a stream that
	 * really starts leaves its care (below); one refused (400, 401,
	 * 503) stays with evhttp for another request, which must arrive
	 * in time like any other. */
	conn_request_done(srv, evhttp_request_get_connection(req), 0);
	http_handle(srv, req, -1);
}

/*
 * A request, with the answer to its credentials if they were checked
 * already (auth: an enum auth_result), else -1: then they are checked
 * here, and the request may wait for a crypt(3) hash on the hashing
 * thread, to come back here with the answer.
 */
static void
http_handle(struct server *srv, struct evhttp_request *req, int auth)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	const char *uri = evhttp_request_get_uri(req);
	const char *query;
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	struct stream_params sp;
	struct camera *cam = NULL;
	char name[RING_NAME_MAX], addr[80], who[64], lpath[128], retry[16];
	unsigned wait_s;
	size_t pathlen;
	enum route route;

	query = strchr(uri, '?');
	pathlen = query != NULL ? (size_t)(query - uri) : strlen(uri);
	if (query != NULL)
		query++;
	route = route_parse(uri, pathlen, query, name, sizeof(name));
	if (route != ROUTE_NONE && route != ROUTE_REDIRECT) {
		cam = http_camera(srv, name);
		if (cam == NULL && (name[0] != '\0' || route == ROUTE_STREAM ||
		    route == ROUTE_MP4 || route == ROUTE_SNAPSHOT ||
		    route == ROUTE_HLS || route == ROUTE_HLS_FILE))
			route = ROUTE_NONE;
	} else if (route == ROUTE_REDIRECT && http_camera(srv, name) == NULL)
		route = ROUTE_NONE;

	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD &&
	    method != EVHTTP_REQ_OPTIONS) {
		evhttp_add_header(h, "Allow", "GET, HEAD, OPTIONS");
		http_error(req, 405, "Method Not Allowed",
		    "use GET, HEAD or OPTIONS");
		return;
	}
	if (method == EVHTTP_REQ_OPTIONS && route != ROUTE_NONE) {
		evhttp_add_header(h, "Allow", "GET, HEAD, OPTIONS");
		if (srv->opt.allow_origin != NULL) {
			evhttp_add_header(h, "Access-Control-Allow-Methods",
			    "GET, HEAD, OPTIONS");
			evhttp_add_header(h, "Access-Control-Allow-Headers",
			    "Authorization");
			evhttp_add_header(h, "Access-Control-Max-Age", "600");
		}
		http_common_headers(req);
		evhttp_send_reply(req, HTTP_NOCONTENT, "No Content", NULL);
		return;
	}
	if (srv->auth != NULL && method != EVHTTP_REQ_OPTIONS &&
	    !http_auth_exempt(srv, uri, pathlen)) {
		http_peer_addr(srv, req, addr, sizeof(addr));
		if (auth == -1) {
			/* Parked only where the connection's closing is
			 * heard of (listen.c cancels its checks). */
			auth = auth_request(srv->auth, evhttp_find_header(
			    evhttp_request_get_input_headers(req),
			    "Authorization"), addr, who, sizeof(who), &wait_s,
			    http_auth_done, req, conn_guarded(srv, evcon) ?
			    evcon : NULL);
			if (auth == AUTH_PENDING) {
				/* However long the hash takes on a busy
				 * machine, the client sent its request in
				 * time: no deadline while it waits. */
				conn_request_waits(srv, evcon);
				return;
			}
		}
		switch (auth) {
		case AUTH_OK:
			break;
		case AUTH_THROTTLED:
			log_info("client %s %s: 429, too many failed logins",
			    addr, http_log_path(uri, pathlen, lpath,
			    sizeof(lpath)));
			snprintf(retry, sizeof(retry), "%u", wait_s);
			evhttp_add_header(h, "Retry-After", retry);
			http_error(req, 429, "Too Many Requests",
			    "too many failed logins; try again later");
			return;
		case AUTH_BUSY:
			srv->rejected_busy++;
			log_info("client %s %s: 503, too many logins being "
			    "checked", addr, http_log_path(uri, pathlen, lpath,
			    sizeof(lpath)));
			evhttp_add_header(h, "Retry-After", "1");
			http_error(req, HTTP_SERVUNAVAIL, "Service Unavailable",
			    "too many logins being checked");
			return;
		default:
			srv->rejected_auth++;
			log_info("client %s %s: 401, no valid credentials", addr,
			    http_log_path(uri, pathlen, lpath, sizeof(lpath)));
			evhttp_add_header(h, "WWW-Authenticate",
			    "Basic realm=\"shmcam\", charset=\"UTF-8\"");
			http_error(req, 401, "Unauthorized",
			    "credentials required");
			return;
		}
	}

	if (route == ROUTE_NONE) {
		http_error(req, HTTP_NOTFOUND, "Not Found", srv->ncameras > 1 &&
		    name[0] == '\0' ? "no such resource; streams are at "
		    "/NAME/stream for each camera NAME" : "no such resource");
		return;
	}
	switch (route) {
	case ROUTE_REDIRECT: {
		char loc[RING_NAME_MAX + 4];

		snprintf(loc, sizeof(loc), "/%s/", name);
		evhttp_add_header(h, "Location", loc);
		http_error(req, 301, "Moved Permanently", loc);
		return;
	}
	case ROUTE_STREAM:
	case ROUTE_MP4:
		if (route == ROUTE_MP4 && !mp4_available(cam)) {
			http_error(req, HTTP_NOTFOUND, "Not Found", "this "
			    "camera has no H.264 stream (shmcam-capture "
			    "--h264); /stream is MJPEG");
			return;
		}
		if (method == EVHTTP_REQ_HEAD) {
			http_stream_head(req, route);
			return;
		}
		if (stream_params_parse(query, &sp) != 0) {
			http_error(req, HTTP_BADREQUEST, "Bad Request",
			    "fps= expects a number of frames per second");
			return;
		}
		http_peer_addr(srv, req, addr, sizeof(addr));
		if (http_busy(srv, req))
			return;
		conn_request_done(srv, evcon, 1);
		if (route == ROUTE_MP4)
			mp4_start(cam, req, &sp, addr);
		else
			stream_start(cam, req, &sp, addr);
		return;
	case ROUTE_HLS:
		hls_playlist_request(cam, req, query);
		return;
	case ROUTE_HLS_FILE: {
		const char *file = (const char *)memrchr(uri, '/', pathlen) + 1;

		hls_file_request(cam, req, file, pathlen - (size_t)(file - uri));
		return;
	}
	case ROUTE_SNAPSHOT:
		http_snapshot(cam, req);
		return;
	case ROUTE_INDEX:
	case ROUTE_STATE:
	case ROUTE_METRICS:
		http_page(srv, cam, req, route);
		return;
	case ROUTE_NONE:
		break;
	}
	http_error(req, HTTP_NOTFOUND, "Not Found", "no such resource");
}

int
http_busy(struct server *srv, struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	const char *uri = evhttp_request_get_uri(req);
	char addr[80], lpath[128];

	if (srv->nstreams + srv->nheld < srv->opt.max_clients)
		return 0;
	srv->rejected_busy++;
	http_peer_addr(srv, req, addr, sizeof(addr));
	log_info("client %s %s: 503, %u stream clients already and %u held "
	    "requests (--max-clients)", addr, http_log_path(uri,
	    strcspn(uri, "?"), lpath, sizeof(lpath)), srv->nstreams,
	    srv->nheld);
	evhttp_add_header(h, "Retry-After", "5");
	http_error(req, HTTP_SERVUNAVAIL, "Service Unavailable",
	    "too many clients");
	return 1;
}

void
server_init(struct server *srv)
{
	memset(srv, 0, sizeof(*srv));
	TAILQ_INIT(&srv->cameras);
	TAILQ_INIT(&srv->listeners);
	TAILQ_INIT(&srv->guards);
	srv->opt.client_timeout_s = 10;
	srv->opt.request_timeout_s = 10;
	srv->opt.max_clients = 1000;
	srv->opt.unix_mode = 0660;
	srv->opt.send_bound = 1;
	srv->opt.keyframe_requests = 1;
	srv->opt.capture_uid = (uid_t)-1;
}

int
http_setup(struct server *srv)
{
	http_srv = srv;
	srv->http = evhttp_new(srv->base);
	if (srv->http == NULL)
		return -ENOMEM;
	/* Every method reaches us, so that we answer 405 rather than
	 * evhttp's 501 for the ones we do not serve. */
	evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET |
	    EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	    EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(srv->http, 8192);
	evhttp_set_max_body_size(srv->http, 4096);
	/* Idle keep-alive connections; a request that takes too long to
	 * arrive is listen.c's deadline. */
	evhttp_set_timeout(srv->http, (int)srv->opt.request_timeout_s);
	evhttp_set_bevcb(srv->http, conn_new_bev, srv);
	evhttp_set_gencb(srv->http, http_request_cb, srv);
	return 0;
}
