/*
 * state.c - what the server knows about itself, for people (/state, JSON)
 * and for Prometheus (/metrics, text format 0.0.4).
 *
 * Every string that can come from outside (camera names, client keys and
 * addresses, the capture's status text read from shared memory) goes
 * through json_add_string().  Numbers are printed from our own counters.
 * The ring's status and counters are read with ring_read_status() and
 * ring_read_counters(), which trust nothing in the mapping.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "server.h"

const double hist_bounds[HIST_NBUCKETS] = {
	0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 10,
};

void
histogram_add(struct histogram *h, uint64_t ns, uint64_t n)
{
	double s = (double)ns / 1e9;
	unsigned i;

	for (i = 0; i < HIST_NBUCKETS && s > hist_bounds[i]; i++)
		;
	h->h_count[i] += n;
	h->h_n += n;
	h->h_sum += s * (double)n;
}

static double
secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static const char *const path_kind_names[] = {
	[SEND_PATH_TCP] = "tcp",
	[SEND_PATH_LOCAL] = "local",
	[SEND_PATH_UNBOUNDED] = "unbounded",
};

/* The send policy's last verdict for a client and the figures it used. */
static void
state_send(struct evbuffer *out, const struct stream_client *sc,
    uint64_t now)
{
	const struct send_path *sp = &sc->sc_net;
	const struct send_verdict *v = &sc->sc_verdict;

	if (sc->sc_decided_ns == 0) {
		evbuffer_add_printf(out, ",\"send\":null");
		return;
	}
	evbuffer_add_printf(out, ",\"send\":{\"decision\":\"%s\""
	    ",\"reason\":\"%s\",\"age\":%.3f,\"path\":\"%s\""
	    ",\"ours\":%" PRIu64 ",\"unsent\":%" PRIu64
	    ",\"in_flight\":%" PRIu64,
	    sendpolicy_decision_name(v->v_decision),
	    sendpolicy_why_name(v->v_why), secs(now - sc->sc_decided_ns),
	    path_kind_names[sp->sp_kind], sc->sc_ours, sp->sp_unsent,
	    sp->sp_inflight);
	if (sp->sp_kind == SEND_PATH_TCP)
		evbuffer_add_printf(out, ",\"rtt_ms\":%.3f,\"min_rtt_ms\":%.3f"
		    ",\"rttvar_ms\":%.3f,\"delivery_rate\":%" PRIu64
		    ",\"delivery_rate_max\":%" PRIu64
		    ",\"app_limited\":%s,\"window\":%" PRIu64,
		    sp->sp_srtt_us / 1e3, sp->sp_min_rtt_us / 1e3,
		    sp->sp_rttvar_us / 1e3, sp->sp_rate, sp->sp_rate_max,
		    sp->sp_app_limited ? "true" : "false", sp->sp_window);
	evbuffer_add_printf(out, ",\"ahead\":%" PRIu64
	    ",\"path_queue\":%" PRIu64, v->v_ahead, v->v_path_queue);
	/* A budget in time when the policy had a rate, else in bytes. */
	if (v->v_rate != 0)
		evbuffer_add_printf(out, ",\"drain_ms\":%.3f"
		    ",\"budget_ms\":%.3f}", v->v_drain_ns / 1e6,
		    v->v_budget / 1e6);
	else
		evbuffer_add_printf(out, ",\"drain_ms\":null"
		    ",\"budget_bytes\":%" PRIu64 "}", v->v_budget);
}

static void
state_client(struct evbuffer *out, const struct stream_client *sc,
    uint64_t now)
{
	size_t kernel, queued = stream_client_queued(sc, &kernel);

	evbuffer_add_printf(out, "{\"address\":");
	json_add_string(out, sc->sc_addr);
	evbuffer_add_printf(out, ",\"path\":");
	json_add_string(out, sc->sc_path);
	evbuffer_add_printf(out, ",\"key\":");
	json_add_string(out, sc->sc_params.sp_key);
	if (sc->sc_params.sp_fps > 0)
		evbuffer_add_printf(out, ",\"fps\":%.3f", sc->sc_params.sp_fps);
	else
		evbuffer_add_printf(out, ",\"fps\":null");
	evbuffer_add_printf(out,
	    ",\"connected_since\":%.3f,\"seconds\":%.3f"
	    ",\"frames\":%" PRIu64 ",\"bytes\":%" PRIu64
	    ",\"skipped\":%" PRIu64 ",\"deferred\":%" PRIu64
	    ",\"queued_bytes\":%zu,\"kernel_queued_bytes\":%zu",
	    secs(sc->sc_start_real_ns), secs(now - sc->sc_start_ns),
	    sc->sc_frames, sc->sc_bytes, sc->sc_dropped, sc->sc_deferred,
	    queued, kernel);
	/* The age of the frame still on its way, if one is. */
	if (queued > 0 && sc->sc_last_capture_ns != 0 &&
	    now > sc->sc_last_capture_ns)
		evbuffer_add_printf(out, ",\"frame_age\":%.3f",
		    secs(now - sc->sc_last_capture_ns));
	else
		evbuffer_add_printf(out, ",\"frame_age\":null");
	state_send(out, sc, now);
	evbuffer_add_printf(out, ",\"advance_headers\":%s"
	    ",\"extra_headers\":%s",
	    sc->sc_params.sp_advance_headers ? "true" : "false",
	    sc->sc_params.sp_extra_headers ? "true" : "false");
	if (sc->sc_kind == STREAM_MP4) {
		evbuffer_add_printf(out, ",\"kind\":\"mp4\",\"chunked\":%s"
		    ",\"waiting_for_keyframe\":%s,\"keyframes\":%" PRIu64
		    ",\"skips_to_keyframe\":%" PRIu64,
		    sc->sc_chunked ? "true" : "false",
		    sc->sc_waiting ? "true" : "false", sc->sc_keyframes,
		    sc->sc_skips);
		/* Time to first frame: from the request to its first
		 * keyframe's queueing. */
		if (sc->sc_first_frame_ns != 0)
			evbuffer_add_printf(out, ",\"first_frame_after\":%.3f",
			    secs(sc->sc_first_frame_ns - sc->sc_start_ns));
		else
			evbuffer_add_printf(out, ",\"first_frame_after\":null");
	} else
		evbuffer_add_printf(out, ",\"kind\":\"mjpeg\"");
	evbuffer_add(out, "}", 1);
}

/* The H.264 stream: the capture's ring and encoder, our mux, clients. */
static void
state_h264(struct evbuffer *out, const struct camera *cam)
{
	const struct mp4_mux *mx = &cam->c_mp4;
	const struct ring_reader *r = &cam->c_at.at_ring[CTL_KIND_H264];
	struct ring_counters rc;
	struct ring_params *pp;

	if (!cam->c_at.at_mapped[CTL_KIND_H264]) {
		evbuffer_add_printf(out, "null");
		return;
	}
	ring_read_counters(r, &rc);
	evbuffer_add_printf(out, "{\"generation\":\"%016" PRIx64 "\""
	    ",\"slots\":%u,\"slot_size\":%u,\"latest\":%" PRIu64
	    ",\"keyframes_published\":%" PRIu64
	    ",\"keyframe_requests_received\":%" PRIu64
	    ",\"keyframes_forced\":%" PRIu64,
	    r->rr_geo.generation, r->rr_geo.slot_count, r->rr_geo.slot_size,
	    rc.latest, rc.keyframes, rc.keyframe_requests,
	    rc.keyframes_forced);
	pp = malloc(sizeof(*pp));
	if (pp != NULL && ring_read_params(r, pp) == 0)
		evbuffer_add_printf(out, ",\"encoder\":\"%s\""
		    ",\"encoder_bitrate_kbps\":%u,\"gop\":%u",
		    pp->encoder, pp->bitrate_kbps, pp->gop);
	free(pp);
	evbuffer_add_printf(out, ",\"bitrate\":%.0f,\"encode_seconds\":%.6f"
	    ",\"width\":%u,\"height\":%u,\"parameter_sets\":%" PRIu64
	    ",\"frames_in\":%" PRIu64 ",\"keyframes_in\":%" PRIu64
	    ",\"frames_lost\":%" PRIu64 ",\"frames_dropped\":%" PRIu64
	    ",\"frames_invalid\":%" PRIu64 "}",
	    mx->mx_bitrate, mx->mx_encode_s, mx->mx_width, mx->mx_height,
	    mx->mx_epoch, mx->mx_frames_in, mx->mx_keyframes_in, mx->mx_lost,
	    mx->mx_dropped, mx->mx_invalid);
}

/* LL-HLS: requests by kind, held requests, the window in memory. */
static void
state_hls(struct evbuffer *out, const struct camera *cam)
{
	const struct hls_mux *hl = &cam->c_hls;
	const struct hls_window *w = &hl->hl_win;
	uint64_t dur = 0;
	unsigned i, parts = 0;

	for (i = 0; i < w->count; i++) {
		dur += HLS_SEG(w, i)->duration;
		parts += HLS_SEG(w, i)->nparts;
	}
	evbuffer_add_printf(out, "{\"available\":%s,\"active\":%s"
	    ",\"requests\":{\"playlist\":%" PRIu64 ",\"blocking\":%" PRIu64
	    ",\"part\":%" PRIu64 ",\"segment\":%" PRIu64 ",\"init\":%" PRIu64
	    "},\"held\":%u,\"held_total\":%" PRIu64
	    ",\"held_timeouts\":%" PRIu64 ",\"too_far\":%" PRIu64
	    ",\"not_found\":%" PRIu64 ",\"bytes_sent\":%" PRIu64
	    ",\"parts_made\":%" PRIu64 ",\"segments_made\":%" PRIu64
	    ",\"discontinuities\":%" PRIu64 ",\"stalls\":%" PRIu64
	    ",\"frames_skipped\":%" PRIu64 ",\"keyframes_requested\":%" PRIu64
	    ",\"activations\":%" PRIu64,
	    mp4_available(cam) ? "true" : "false",
	    hl->hl_active ? "true" : "false", hl->hl_requests_playlist,
	    hl->hl_requests_blocking, hl->hl_requests_part,
	    hl->hl_requests_segment, hl->hl_requests_init, hl->hl_nheld,
	    hl->hl_held_total, hl->hl_held_timeouts, hl->hl_too_far,
	    hl->hl_not_found, hl->hl_bytes_sent, hl->hl_parts_made,
	    hl->hl_segments_made, hl->hl_breaks, hl->hl_stalls,
	    hl->hl_frames_skipped, hl->hl_keyframes_requested,
	    hl->hl_activations);
	evbuffer_add_printf(out, ",\"window\":{\"segments\":%u,\"parts\":%u"
	    ",\"bytes\":%zu,\"seconds\":%.3f,\"target_duration\":%u"
	    ",\"part_target\":%.5f", w->count, parts, hl->hl_bytes,
	    (double)dur / MP4_TIMESCALE, w->target_s,
	    (double)w->part_target / MP4_TIMESCALE);
	if (w->count > 0)
		evbuffer_add_printf(out, ",\"first_msn\":%" PRIu64
		    ",\"last_msn\":%" PRIu64, HLS_SEG(w, 0)->msn,
		    HLS_SEG(w, w->count - 1)->msn);
	else
		evbuffer_add_printf(out, ",\"first_msn\":null"
		    ",\"last_msn\":null");
	evbuffer_add_printf(out, "}}");
}

/* Per kind of stream: clients, what they were sent, and for MP4 how
 * they started and kept up. */
static void
state_streams(struct evbuffer *out, const struct camera *cam)
{
	const struct mp4_mux *mx = &cam->c_mp4;

	evbuffer_add_printf(out, "{\"mjpeg\":{\"clients\":%u"
	    ",\"frames_sent\":%" PRIu64 ",\"bytes_sent\":%" PRIu64 "}"
	    ",\"mp4\":{\"available\":%s,\"clients\":%u"
	    ",\"clients_total\":%" PRIu64 ",\"frames_sent\":%" PRIu64
	    ",\"bytes_sent\":%" PRIu64 ",\"keyframes_requested\":%" PRIu64
	    ",\"keyframes_served\":%" PRIu64 ",\"skips_to_keyframe\":%" PRIu64
	    ",\"responses_ended\":%" PRIu64 "},\"hls\":",
	    cam->c_nclients, cam->c_frames_sent, cam->c_bytes_sent,
	    mp4_available(cam) ? "true" : "false", mx->mx_nclients,
	    mx->mx_clients_total, mx->mx_frames_sent, mx->mx_bytes_sent,
	    mx->mx_keyframes_requested, mx->mx_keyframes_served, mx->mx_skips,
	    mx->mx_ends);
	state_hls(out, cam);
	evbuffer_add(out, "}", 1);
}

static void
state_ring(struct evbuffer *out, const struct camera *cam, uint64_t now)
{
	const struct ring_reader *r = &cam->c_at.at_ring[CTL_KIND_JPEG];
	struct ring_status st;
	struct ring_counters rc;

	if (cam->c_at.at_state != ATTACH_ATTACHED) {
		evbuffer_add_printf(out, "null");
		return;
	}
	ring_read_counters(r, &rc);
	evbuffer_add_printf(out, "{\"generation\":\"%016" PRIx64 "\""
	    ",\"slots\":%u,\"slot_size\":%u,\"writer_pid\":%u",
	    r->rr_geo.generation, r->rr_geo.slot_count, r->rr_geo.slot_size,
	    r->rr_geo.writer_pid);
	if (ring_read_status(r, &st) == 0) {
		evbuffer_add_printf(out, ",\"state\":");
		json_add_string(out, ring_state_name(st.state));
		evbuffer_add_printf(out, ",\"source\":");
		json_add_string(out, st.source);
		evbuffer_add_printf(out, ",\"reason\":");
		json_add_string(out, st.reason);
		evbuffer_add_printf(out, ",\"width\":%u,\"height\":%u"
		    ",\"fps\":%.3f", st.width, st.height,
		    (double)st.fps_milli / 1000);
	}
	evbuffer_add_printf(out, ",\"latest\":%" PRIu64
	    ",\"frames_captured\":%" PRIu64 ",\"frames_dropped\":%" PRIu64
	    ",\"frames_idle\":%" PRIu64 ",\"source_restarts\":%" PRIu64
	    ",\"servers\":%u,\"viewers\":%u",
	    rc.latest, rc.frames_captured, rc.frames_dropped, rc.frames_idle,
	    rc.source_restarts, rc.servers, rc.viewers);
	if (rc.heartbeat_ns != 0 && now >= rc.heartbeat_ns)
		evbuffer_add_printf(out, ",\"heartbeat_age\":%.3f",
		    secs(now - rc.heartbeat_ns));
	evbuffer_add_printf(out, ",\"torn_reads\":%" PRIu64
	    ",\"overruns\":%" PRIu64 "}", r->rr_torn, r->rr_overrun);
}

static void
state_camera(struct evbuffer *out, const struct camera *cam, uint64_t now)
{
	const struct stream_client *sc;
	const struct frame *f = cam->c_latest;
	int attached = cam->c_at.at_state == ATTACH_ATTACHED;
	char path[RING_NAME_MAX + 4];

	snprintf(path, sizeof(path), "%s/", cam->c_prefix);
	evbuffer_add_printf(out, "{\"name\":");
	json_add_string(out, cam->c_name);
	evbuffer_add_printf(out, ",\"path\":");
	json_add_string(out, path);
	evbuffer_add_printf(out, ",\"ctl\":");
	json_add_string(out, cam->c_at.at_ctl);
	evbuffer_add_printf(out, ",\"link\":\"%s\",\"online\":%s,\"why\":",
	    attach_state_name(&cam->c_at), attached && f != NULL &&
	    !f->f_placeholder ? "true" : "false");
	json_add_string(out, cam->c_at.at_why);
	evbuffer_add_printf(out, ",\"capture_pid\":%d"
	    ",\"width\":%u,\"height\":%u,\"fps\":%.2f",
	    attached ? (int)cam->c_at.at_capture_pid : 0,
	    cam->c_width, cam->c_height, cam->c_fps);
	if (f != NULL && !f->f_placeholder)
		evbuffer_add_printf(out, ",\"frame\":{\"sequence\":%" PRIu64
		    ",\"bytes\":%zu,\"age\":%.3f}", f->f_meta.seq,
		    f->f_jpeg_len, now > f->f_meta.capture_mono_ns ?
		    secs(now - f->f_meta.capture_mono_ns) : 0.0);
	else
		evbuffer_add_printf(out, ",\"frame\":null");
	evbuffer_add_printf(out, ",\"frames_in\":%" PRIu64
	    ",\"frames_sent\":%" PRIu64 ",\"frames_dropped\":%" PRIu64
	    ",\"frames_skipped\":%" PRIu64 ",\"frames_invalid\":%" PRIu64
	    ",\"bytes_sent\":%" PRIu64 ",\"attaches\":%" PRIu64
	    ",\"link_losses\":%" PRIu64 ",\"clients_total\":%" PRIu64
	    ",\"clients_stalled\":%" PRIu64 ",\"ring\":",
	    cam->c_frames_in, cam->c_frames_sent, cam->c_frames_dropped,
	    cam->c_frames_skipped, cam->c_invalid, cam->c_bytes_sent,
	    cam->c_at.at_attaches, cam->c_at.at_losses, cam->c_clients_total,
	    cam->c_clients_stalled);
	state_ring(out, cam, now);
	evbuffer_add_printf(out, ",\"h264\":");
	state_h264(out, cam);
	evbuffer_add_printf(out, ",\"streams\":");
	state_streams(out, cam);
	evbuffer_add_printf(out, ",\"clients\":[");
	TAILQ_FOREACH(sc, &cam->c_clients, sc_entry) {
		if (sc != TAILQ_FIRST(&cam->c_clients))
			evbuffer_add(out, ",", 1);
		state_client(out, sc, now);
	}
	TAILQ_FOREACH(sc, &cam->c_mp4.mx_clients, sc_entry) {
		if (sc != TAILQ_FIRST(&cam->c_mp4.mx_clients) ||
		    !TAILQ_EMPTY(&cam->c_clients))
			evbuffer_add(out, ",", 1);
		state_client(out, sc, now);
	}
	evbuffer_add_printf(out, "]}");
}

void
state_json(struct server *srv, struct camera *only, struct evbuffer *out)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	struct camera *cam;
	int first = 1;

	evbuffer_add_printf(out, "{\"server\":{\"software\":\"%s\""
	    ",\"pid\":%d,\"started\":%.3f,\"uptime\":%.3f"
	    ",\"clients\":%u,\"max_clients\":%u,\"requests\":%" PRIu64
	    ",\"rejected_busy\":%" PRIu64 ",\"rejected_auth\":%" PRIu64
	    ",\"rejected_throttled\":%" PRIu64
	    ",\"request_timeouts\":%" PRIu64 ",\"accept_pauses\":%" PRIu64
	    ",\"send_bound\":%s,\"held_requests\":%u"
	    ",\"held_abandoned\":%" PRIu64 "},\"cameras\":[",
	    SERVER_SOFTWARE, (int)getpid(), secs(srv->started_real_ns),
	    secs(now - srv->started_mono_ns), srv->nstreams,
	    srv->opt.max_clients, srv->requests, srv->rejected_busy,
	    srv->rejected_auth, auth_throttled(srv->auth),
	    srv->request_timeouts, srv->accept_pauses,
	    srv->opt.send_bound ? "true" : "false", srv->nheld,
	    srv->requests_abandoned);
	TAILQ_FOREACH(cam, &srv->cameras, c_entry) {
		if (only != NULL && cam != only)
			continue;
		if (!first)
			evbuffer_add(out, ",", 1);
		first = 0;
		state_camera(out, cam, now);
	}
	evbuffer_add_printf(out, "]}\n");
}

/* ------------------------------------------------------------ metrics */

static void
metric_head(struct evbuffer *out, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

#define FOREACH_CAMERA_METRIC(out, srv, cam, name, fmt, expr)		\
	TAILQ_FOREACH(cam, &(srv)->cameras, c_entry)			\
		evbuffer_add_printf(out, "%s{camera=\"%s\"} " fmt "\n",	\
		    name, (cam)->c_name, expr)

/*
 * A camera's rows of a metric split by one label:
 * NAME{camera="CAM",LABEL="values[i]"} counts[i], in that order.
 */
static void
metric_split(struct evbuffer *out, const char *name, const char *camera,
    const char *label, const char *const *values, const uint64_t *counts,
    size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		evbuffer_add_printf(out, "%s{camera=\"%s\",%s=\"%s\"} %"
		    PRIu64 "\n", name, camera, label, values[i], counts[i]);
}

static void
metric_histogram(struct evbuffer *out, const char *name,
    const char *camera, const struct histogram *h)
{
	uint64_t cum = 0;
	unsigned i;

	for (i = 0; i < HIST_NBUCKETS; i++) {
		cum += h->h_count[i];
		evbuffer_add_printf(out, "%s_bucket{camera=\"%s\",le=\"%g\"} "
		    "%" PRIu64 "\n", name, camera, hist_bounds[i], cum);
	}
	evbuffer_add_printf(out, "%s_bucket{camera=\"%s\",le=\"+Inf\"} %" PRIu64
	    "\n%s_sum{camera=\"%s\"} %.6f\n%s_count{camera=\"%s\"} %" PRIu64
	    "\n", name, camera, h->h_n, name, camera, h->h_sum, name, camera,
	    h->h_n);
}

/* The per-camera counters, all uint64_t fields of struct camera. */
static const struct counter_metric {
	const char	*name;
	size_t		 offset;
	const char	*help;
} camera_counters[] = {
	{ "shmcam_frames_received_total", offsetof(struct camera, c_frames_in),
	    "Frames taken from the capture's ring" },
	{ "shmcam_frames_sent_total", offsetof(struct camera, c_frames_sent),
	    "Frames queued to stream clients" },
	{ "shmcam_frames_dropped_total",
	    offsetof(struct camera, c_frames_dropped),
	    "Frames stream clients skipped because they were still busy" },
	{ "shmcam_frames_missed_total",
	    offsetof(struct camera, c_frames_skipped),
	    "Ring frames this server never took (overwritten first)" },
	{ "shmcam_frames_invalid_total", offsetof(struct camera, c_invalid),
	    "Ring reads rejected as invalid" },
	{ "shmcam_bytes_sent_total", offsetof(struct camera, c_bytes_sent),
	    "Bytes queued to stream clients" },
	{ "shmcam_clients_total", offsetof(struct camera, c_clients_total),
	    "Stream clients ever connected" },
	{ "shmcam_clients_stalled_total",
	    offsetof(struct camera, c_clients_stalled),
	    "Stream clients closed for not reading" },
	{ "shmcam_capture_attaches_total",
	    offsetof(struct camera, c_at.at_attaches),
	    "Times the server attached to a capture (1 + reconnects)" },
	{ "shmcam_capture_losses_total",
	    offsetof(struct camera, c_at.at_losses),
	    "Times an attached capture went away" },
	{ "shmcam_h264_frames_received_total",
	    offsetof(struct camera, c_mp4.mx_frames_in),
	    "H.264 access units taken from the capture's ring" },
	{ "shmcam_h264_frames_lost_total",
	    offsetof(struct camera, c_mp4.mx_lost),
	    "H.264 ring frames overwritten before this server read them" },
	{ "shmcam_h264_frames_invalid_total",
	    offsetof(struct camera, c_mp4.mx_invalid),
	    "H.264 access units refused (not whole, flags that lie, "
	    "parameter sets that do not parse)" },
	{ "shmcam_h264_keyframes_requested_total",
	    offsetof(struct camera, c_mp4.mx_keyframes_requested),
	    "Keyframes asked of the capture for MP4 clients that start or "
	    "fell behind" },
	{ "shmcam_h264_keyframes_served_total",
	    offsetof(struct camera, c_mp4.mx_keyframes_served),
	    "MP4 clients started or resumed at a keyframe" },
	{ "shmcam_h264_keyframe_skips_total",
	    offsetof(struct camera, c_mp4.mx_skips),
	    "MP4 clients that fell behind and skipped to the next keyframe" },
	{ "shmcam_hls_parts_total", offsetof(struct camera, c_hls.hl_parts_made),
	    "LL-HLS parts written" },
	{ "shmcam_hls_segments_total",
	    offsetof(struct camera, c_hls.hl_segments_made),
	    "LL-HLS segments completed" },
	{ "shmcam_hls_discontinuities_total",
	    offsetof(struct camera, c_hls.hl_breaks),
	    "LL-HLS breaks (frames lost, capture restarts, stalls): "
	    "EXT-X-DISCONTINUITY" },
	{ "shmcam_hls_held_requests_total",
	    offsetof(struct camera, c_hls.hl_held_total),
	    "LL-HLS requests held until a part was published" },
};

void
state_metrics(struct server *srv, struct evbuffer *out)
{
	struct camera *cam;
	size_t i;

	/* Camera names are [A-Za-z0-9._-]: safe as label values. */
	metric_head(out, "shmcam_up", "gauge",
	    "1 while the camera's capture is attached and live");
	FOREACH_CAMERA_METRIC(out, srv, cam, "shmcam_up", "%d",
	    cam->c_at.at_state == ATTACH_ATTACHED && cam->c_latest != NULL &&
	    !cam->c_latest->f_placeholder);
	metric_head(out, "shmcam_clients", "gauge",
	    "Stream clients connected");
	FOREACH_CAMERA_METRIC(out, srv, cam, "shmcam_clients", "%u",
	    cam->c_nclients);
	for (i = 0; i < sizeof(camera_counters) / sizeof(camera_counters[0]);
	    i++) {
		const struct counter_metric *m = &camera_counters[i];

		metric_head(out, m->name, "counter", m->help);
		FOREACH_CAMERA_METRIC(out, srv, cam, m->name, "%" PRIu64,
		    *(const uint64_t *)(const void *)((const char *)cam +
		    m->offset));
	}

	metric_head(out, "shmcam_stream_clients", "gauge",
	    "Stream clients connected, per kind of stream");
	TAILQ_FOREACH(cam, &srv->cameras, c_entry) {
		static const char *const kinds[] = { "mjpeg", "mp4" };
		const uint64_t n[] = { cam->c_nclients,
		    cam->c_mp4.mx_nclients };

		metric_split(out, "shmcam_stream_clients", cam->c_name, "kind",
		    kinds, n, sizeof(n) / sizeof(n[0]));
	}
	metric_head(out, "shmcam_stream_bytes_sent_total", "counter",
	    "Bytes queued to stream clients, per kind of stream");
	TAILQ_FOREACH(cam, &srv->cameras, c_entry) {
		static const char *const kinds[] = { "mjpeg", "mp4", "hls" };
		const uint64_t n[] = { cam->c_bytes_sent,
		    cam->c_mp4.mx_bytes_sent, cam->c_hls.hl_bytes_sent };

		metric_split(out, "shmcam_stream_bytes_sent_total",
		    cam->c_name, "kind", kinds, n, sizeof(n) / sizeof(n[0]));
	}
	metric_head(out, "shmcam_hls_requests_total", "counter",
	    "LL-HLS requests, by what they asked for (blocking: playlists "
	    "with _HLS_msn, also counted as playlist)");
	TAILQ_FOREACH(cam, &srv->cameras, c_entry) {
		static const char *const kinds[] = { "playlist", "blocking",
		    "part", "segment", "init" };
		const struct hls_mux *hl = &cam->c_hls;
		const uint64_t n[] = { hl->hl_requests_playlist,
		    hl->hl_requests_blocking, hl->hl_requests_part,
		    hl->hl_requests_segment, hl->hl_requests_init };

		metric_split(out, "shmcam_hls_requests_total", cam->c_name,
		    "kind", kinds, n, sizeof(n) / sizeof(n[0]));
	}
	metric_head(out, "shmcam_hls_refused_total", "counter",
	    "LL-HLS requests answered with an error: too_far (400), "
	    "not_found (404), timeout (503 after three target durations)");
	TAILQ_FOREACH(cam, &srv->cameras, c_entry) {
		static const char *const reasons[] = { "too_far", "not_found",
		    "timeout" };
		const uint64_t n[] = { cam->c_hls.hl_too_far,
		    cam->c_hls.hl_not_found, cam->c_hls.hl_held_timeouts };

		metric_split(out, "shmcam_hls_refused_total", cam->c_name,
		    "reason", reasons, n, sizeof(n) / sizeof(n[0]));
	}
	metric_head(out, "shmcam_hls_held_requests", "gauge",
	    "LL-HLS requests held now, waiting for a part");
	FOREACH_CAMERA_METRIC(out, srv, cam, "shmcam_hls_held_requests", "%u",
	    cam->c_hls.hl_nheld);
	metric_head(out, "shmcam_hls_window_segments", "gauge",
	    "LL-HLS segments in memory");
	FOREACH_CAMERA_METRIC(out, srv, cam, "shmcam_hls_window_segments",
	    "%u", cam->c_hls.hl_win.count);
	metric_head(out, "shmcam_hls_window_bytes", "gauge",
	    "Bytes of LL-HLS parts in memory");
	FOREACH_CAMERA_METRIC(out, srv, cam, "shmcam_hls_window_bytes", "%zu",
	    cam->c_hls.hl_bytes);
	metric_head(out, "shmcam_h264_bitrate_bits_per_second", "gauge",
	    "What the capture published into the H.264 ring, last second");
	FOREACH_CAMERA_METRIC(out, srv, cam,
	    "shmcam_h264_bitrate_bits_per_second", "%.0f",
	    cam->c_mp4.mx_bitrate);
	metric_head(out, "shmcam_h264_encode_seconds", "gauge",
	    "The capture's mean H.264 encoding time per frame, last second");
	FOREACH_CAMERA_METRIC(out, srv, cam, "shmcam_h264_encode_seconds",
	    "%.6f", cam->c_mp4.mx_encode_s);

	metric_head(out, "shmcam_send_decisions_total", "counter",
	    "Send policy verdicts: a stream client took a frame, waited for a "
	    "newer one, or was stalled; and why");
	TAILQ_FOREACH(cam, &srv->cameras, c_entry)
		for (i = 0; i < WHY_N; i++)
			evbuffer_add_printf(out, "shmcam_send_decisions_total"
			    "{camera=\"%s\",decision=\"%s\",reason=\"%s\"} %"
			    PRIu64 "\n", cam->c_name, sendpolicy_decision_name(
			    sendpolicy_why_decision((enum send_why)i)),
			    sendpolicy_why_name((enum send_why)i),
			    cam->c_decisions[i]);
	metric_head(out, "shmcam_send_latency_seconds", "histogram",
	    "Time from a frame's publication to its queueing for a client");
	TAILQ_FOREACH(cam, &srv->cameras, c_entry)
		metric_histogram(out, "shmcam_send_latency_seconds",
		    cam->c_name, &cam->c_hist_latency);
	metric_head(out, "shmcam_frame_age_seconds", "histogram",
	    "Age of a frame (since capture) when queued for a client");
	TAILQ_FOREACH(cam, &srv->cameras, c_entry)
		metric_histogram(out, "shmcam_frame_age_seconds",
		    cam->c_name, &cam->c_hist_age);

	metric_head(out, "shmcam_http_requests_total", "counter",
	    "HTTP requests received");
	evbuffer_add_printf(out, "shmcam_http_requests_total %" PRIu64 "\n",
	    srv->requests);
	metric_head(out, "shmcam_http_rejected_total", "counter",
	    "Requests refused: too many clients or logins being checked "
	    "(503), no credentials (401), too many failed logins (429)");
	evbuffer_add_printf(out, "shmcam_http_rejected_total{reason=\"busy\"} "
	    "%" PRIu64 "\nshmcam_http_rejected_total{reason=\"auth\"} %" PRIu64
	    "\nshmcam_http_rejected_total{reason=\"throttled\"} %" PRIu64
	    "\n", srv->rejected_busy, srv->rejected_auth,
	    auth_throttled(srv->auth));
	metric_head(out, "shmcam_http_request_timeouts_total", "counter",
	    "Connections closed for not completing a request in time");
	evbuffer_add_printf(out, "shmcam_http_request_timeouts_total %" PRIu64
	    "\n", srv->request_timeouts);
	metric_head(out, "shmcam_http_held_abandoned_total", "counter",
	    "Held requests whose client left before the answer");
	evbuffer_add_printf(out, "shmcam_http_held_abandoned_total %" PRIu64
	    "\n", srv->requests_abandoned);
	metric_head(out, "shmcam_accept_pauses_total", "counter",
	    "Times accepting paused for lack of descriptors");
	evbuffer_add_printf(out, "shmcam_accept_pauses_total %" PRIu64 "\n",
	    srv->accept_pauses);
	metric_head(out, "shmcam_start_time_seconds", "gauge",
	    "Server start, seconds since the epoch");
	evbuffer_add_printf(out, "shmcam_start_time_seconds %.3f\n",
	    secs(srv->started_real_ns));
}
