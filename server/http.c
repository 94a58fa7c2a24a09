/*
 * http.c - request routing and the endpoints that are not streams.
 *
 * URLs
 *   /stream, /?action=stream              multipart MJPEG (stream.c)
 *   /snapshot, /snapshot.jpg, /?action=snapshot   the newest JPEG, at once
 *   /                                     a page that shows the stream
 *
 * The action= parameter is matched the way mjpg-streamer's clients use
 * it in the wild: anywhere in the query, other parameters ignored, and
 * its value cut at the first character that cannot belong to it (so
 * "?action=stream?nonce=1" is a stream).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "server.h"

enum route {
	ROUTE_NONE,
	ROUTE_INDEX,
	ROUTE_STREAM,
	ROUTE_SNAPSHOT,
};

/*
 * Finds action=VALUE in a raw query string.  Returns the value's length
 * and sets *value, or 0 if there is none.
 */
static size_t
query_action(const char *query, const char **value)
{
	const char *p = query;
	size_t n;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, "action=", 7) == 0) {
			p += 7;
			for (n = 0; p[n] != '\0' && (p[n] == '_' ||
			    (p[n] >= 'a' && p[n] <= 'z') ||
			    (p[n] >= 'A' && p[n] <= 'Z') ||
			    (p[n] >= '0' && p[n] <= '9')); n++)
				;
			*value = p;
			return n;
		}
		p = strpbrk(p, "&;?");
		if (p != NULL)
			p++;
	}
	return 0;
}

static enum route
route_for(const char *path, size_t pathlen, const char *query)
{
	const char *action;
	size_t n;

	if (pathlen == 0 || (pathlen == 1 && path[0] == '/') ||
	    (pathlen == 11 && strncmp(path, "/index.html", 11) == 0)) {
		n = query != NULL ? query_action(query, &action) : 0;
		if (n == 6 && strncmp(action, "stream", 6) == 0)
			return ROUTE_STREAM;
		if (n == 8 && strncmp(action, "snapshot", 8) == 0)
			return ROUTE_SNAPSHOT;
		return ROUTE_INDEX;
	}
	if (pathlen == 7 && strncmp(path, "/stream", 7) == 0)
		return ROUTE_STREAM;
	if ((pathlen == 9 && strncmp(path, "/snapshot", 9) == 0) ||
	    (pathlen == 13 && strncmp(path, "/snapshot.jpg", 13) == 0))
		return ROUTE_SNAPSHOT;
	return ROUTE_NONE;
}

static void
http_common_headers(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Server", SERVER_SOFTWARE);
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

static void
http_error(struct evhttp_request *req, int code, const char *reason,
    const char *text)
{
	struct evbuffer *body = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	http_common_headers(req);
	evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
	if (body != NULL)
		evbuffer_add_printf(body, "%d %s: %s\n", code, reason, text);
	evhttp_send_reply(req, code, reason, body);
	if (body != NULL)
		evbuffer_free(body);
}

static void
http_snapshot(struct camera *cam, struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct frame *f = cam->c_latest;
	struct evbuffer *body;
	char ts[32];

	if (f == NULL) {
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
	evhttp_add_header(h, "X-Timestamp", ts);
	if (f->f_placeholder)
		evhttp_add_header(h, "X-Shmcam-Placeholder", "offline");
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

static const char index_html[] =
"<!DOCTYPE html>\n"
"<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
"<title>shmcam</title>\n"
"<style>body{margin:0;background:#111;color:#ddd;font:14px sans-serif}"
"img{display:block;max-width:100%%;margin:0 auto}"
"p{text-align:center}a{color:#8cf}</style>\n"
"</head><body>\n"
"<img src=\"%sstream\" alt=\"live stream of camera %s\">\n"
"<p>camera <b>%s</b> &middot; <a href=\"%sstream\">stream</a> &middot; "
"<a href=\"%ssnapshot\">snapshot</a></p>\n"
"</body></html>\n";

static void
http_index(struct camera *cam, struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *body = evbuffer_new();
	char base[RING_NAME_MAX + 4];

	if (body == NULL) {
		http_error(req, HTTP_SERVUNAVAIL, "Service Unavailable",
		    "out of memory");
		return;
	}
	/* Relative links work behind a reverse proxy's path prefix. */
	snprintf(base, sizeof(base), "%s/", cam->c_prefix);
	if (base[0] == '/')
		memmove(base, base + 1, strlen(base));
	http_common_headers(req);
	evhttp_add_header(h, "Content-Type", "text/html; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evbuffer_add_printf(body, index_html, base, cam->c_name, cam->c_name,
	    base, base);
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

static void
http_request_cb(struct evhttp_request *req, void *arg)
{
	struct server *srv = arg;
	const char *uri = evhttp_request_get_uri(req);
	const char *query, *path = uri;
	struct camera *cam = TAILQ_FIRST(&srv->cameras);
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	size_t pathlen;
	enum route route;

	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD");
		http_error(req, 405, "Method Not Allowed", "use GET or HEAD");
		return;
	}
	query = strchr(uri, '?');
	pathlen = query != NULL ? (size_t)(query - uri) : strlen(uri);
	if (query != NULL)
		query++;

	route = cam != NULL ? route_for(path, pathlen, query) : ROUTE_NONE;
	switch (route) {
	case ROUTE_STREAM:
		if (method == EVHTTP_REQ_HEAD) {
			struct evkeyvalq *h =
			    evhttp_request_get_output_headers(req);
			http_common_headers(req);
			http_no_cache(req);
			evhttp_add_header(h, "Content-Type",
			    "multipart/x-mixed-replace;boundary=" BOUNDARY);
			evhttp_send_reply(req, HTTP_OK, "OK", NULL);
			return;
		}
		stream_start(cam, req);
		return;
	case ROUTE_SNAPSHOT:
		http_snapshot(cam, req);
		return;
	case ROUTE_INDEX:
		http_index(cam, req);
		return;
	case ROUTE_NONE:
		break;
	}
	http_error(req, HTTP_NOTFOUND, "Not Found", "no such resource");
}

int
http_setup(struct server *srv)
{
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
	evhttp_set_timeout(srv->http, 10);
	evhttp_set_gencb(srv->http, http_request_cb, srv);
	return 0;
}
