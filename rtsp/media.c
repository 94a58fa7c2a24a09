/*
 * media.c - a camera's H.264 as RTP, fanned out to its sessions.
 *
 * One RTP stream per camera, never one per client: each access unit the
 * capture publishes into the H.264 ring (ring.h, RING_CODEC_H264) is
 * copied out once, checked (h264_au_check()), and packetized once
 * (rtp.h) into a reference-counted buffer (struct pkts).  A TCP session
 * gets one reference to all of it (its interleaved heads are built in),
 * a UDP session one sendmmsg() of its packets.  Every session sees the
 * same SSRC, sequence numbers and timestamps; the timestamps come from
 * the capture's clock (rtp.h), so they mean the same in every process.
 *
 * Which access units a session gets.  A frame other than a keyframe
 * refers to the frames before it, so a session gets an unbroken run of
 * them from a keyframe on, or nothing:
 *
 *   - It starts at a keyframe: the newest access unit if that is one,
 *     else the next one, which it asks the capture for (rate-limited
 *     here and by the capture, ctl.h).
 *   - A TCP session takes an access unit when shmcam-server's send
 *     policy says what is still on its way to the client leaves the
 *     path within MEDIA_SEND_BUDGET_NS (server/sendpolicy.h: our buffer,
 *     the kernel's unsent bytes, and what is in flight beyond what the
 *     path holds while moving), so a viewer far away with room on its
 *     path gets every frame.  When it says wait, the session is behind: it
 *     skips to the next keyframe instead of queueing, so its memory is
 *     bounded and what it gets is fresh.  The gap shows in the sequence
 *     numbers as loss, which is what it is; receivers resume at the
 *     keyframe.  When it says stalled (bytes queued and nothing taken
 *     for --client-timeout), the connection is closed.
 *   - A UDP session whose socket would not take a whole access unit
 *     (sendmmsg() never blocks) loses the rest of it and skips to the
 *     next keyframe likewise.
 *   - An access unit this process missed (the ring overwrote it before
 *     it was read, or it was refused) stops every session until the next
 *     keyframe, so what a client gets always decodes.
 *
 * When the capture restarts (a new H.264 ring), sessions stay and
 * continue from the new ring's first keyframe: sequence numbers run on,
 * timestamps keep increasing (the same monotonic clock), and the
 * keyframe carries its parameter sets in-band, so a decoder follows even
 * if the size changed.
 *
 * Sender reports go to each playing session every SR_INTERVAL_NS, and
 * right after its first keyframe, mapping the RTP timestamp of the last
 * access unit sent to its wall-clock capture time (rtcp.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "h264.h"
#include "log.h"
#include "rtsp.h"

/* Access units read per wake-up at most; a reader this far behind
 * skips to the next keyframe. */
#define MEDIA_READS_MAX		64
/* A session never starts with a keyframe older than this. */
#define MEDIA_START_MAX_AGE_NS	1000000000ull
#define SR_INTERVAL_NS		2000000000ull
/* The frame interval until the capture times tell (30 fps). */
#define MEDIA_INTERVAL_NS	33333333ull
/*
 * How long what is ahead of an access unit may take to reach a TCP
 * client before it skips to the next keyframe instead: a skip freezes
 * its picture until then (up to a GOP, a second by default), a queue
 * only delays it.  Half a second lets a long path's slow start and a
 * keyframe's burst through (measured: a client 200 ms away skipped a
 * dozen times in 6 s with one frame interval, never with this), and
 * keeps a client on a link narrower than the stream within about that
 * of live.
 */
#define MEDIA_SEND_BUDGET_NS	500000000ull
#define MEDIA_POOL_MAX		8

/* ------------------------------------------------------------ packets */

static void
pkts_unref(struct pkts *pk)
{
	struct camera *cam = pk->pk_cam;

	if (--pk->pk_refs > 0)
		return;
	if (cam != NULL && cam->c_pool_n < MEDIA_POOL_MAX) {
		TAILQ_INSERT_HEAD(&cam->c_pool, pk, pk_free);
		cam->c_pool_n++;
		return;
	}
	free(pk->pk_out.o_buf);
	free(pk->pk_out.o_pk);
	free(pk);
}

static void
pkts_unref_cb(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	pkts_unref(arg);
}

/* Packets for an access unit of len bytes and nals NAL units; refs 1. */
static struct pkts *
pkts_get(struct camera *cam, size_t len, unsigned nals)
{
	struct pkts *pk;
	size_t bytes;
	unsigned packets;
	void *p;

	rtp_h264_bound(len, nals, RTP_PACKET_MAX, &bytes, &packets);
	if ((pk = TAILQ_FIRST(&cam->c_pool)) != NULL) {
		TAILQ_REMOVE(&cam->c_pool, pk, pk_free);
		cam->c_pool_n--;
	} else if ((pk = calloc(1, sizeof(*pk))) == NULL) {
		return NULL;
	}
	pk->pk_cam = cam;
	pk->pk_refs = 1;
	if (pk->pk_cap < bytes) {
		if ((p = realloc(pk->pk_out.o_buf, bytes)) == NULL)
			goto fail;
		pk->pk_out.o_buf = p;
		pk->pk_cap = bytes;
	}
	if (pk->pk_maxpk < packets) {
		p = reallocarray(pk->pk_out.o_pk, packets,
		    sizeof(*pk->pk_out.o_pk));
		if (p == NULL)
			goto fail;
		pk->pk_out.o_pk = p;
		pk->pk_maxpk = packets;
	}
	pk->pk_out.o_cap = pk->pk_cap;
	pk->pk_out.o_maxpk = pk->pk_maxpk;
	return pk;
fail:
	pk->pk_cam = NULL;
	pkts_unref(pk);
	return NULL;
}

static void
camera_set_latest(struct camera *cam, struct pkts *pk)
{
	if (cam->c_latest != NULL)
		pkts_unref(cam->c_latest);
	cam->c_latest = pk;
}

/* ----------------------------------------------------------- sessions */

void
camera_keyframe_wanted(struct camera *cam, const char *why)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC);

	/* The capture makes at most one per CTL_KEYFRAME_INTERVAL_MS: no
	 * use asking more often. */
	if (cam->c_keyframe_asked_ns != 0 && now - cam->c_keyframe_asked_ns <
	    CTL_KEYFRAME_INTERVAL_MS * 1000000ull)
		return;
	if (attach_request_keyframe(&cam->c_at, CTL_KIND_H264) != 0)
		return;
	cam->c_keyframe_asked_ns = now;
	cam->c_keyframe_requests++;
	log_debug("camera %s: keyframe requested: %s", cam->c_name, why);
}

/* ss falls out of its run: it waits for the next keyframe. */
static void
session_skip(struct rtsp_session *ss, const char *why)
{
	ss->ss_waiting_key = 1;
	ss->ss_skips++;
	ss->ss_cam->c_skips++;
	camera_keyframe_wanted(ss->ss_cam, why);
}

/*
 * Asks the send policy whether the TCP session ss may take an access
 * unit of len bytes now (server/sendpolicy.h), from our state of it and
 * the kernel's figures for its socket; keeps the verdict for /state.
 */
static enum send_decision
session_decide(struct rtsp_session *ss, uint64_t now)
{
	struct rtsp_conn *cn = ss->ss_conn;
	struct send_client cl = {
		.cl_now_ns = now,
		.cl_ours = conn_queued(cn),
		.cl_last_len = ss->ss_last_len,
		.cl_last_push_ns = ss->ss_last_push_ns,
		.cl_interval_ns = ss->ss_cam->c_interval_ns != 0 ?
		    ss->ss_cam->c_interval_ns : MEDIA_INTERVAL_NS,
		.cl_stall_ns = (uint64_t)cn->cn_srv->opt.client_timeout_s *
		    1000000000u,
		.cl_budget_ns = MEDIA_SEND_BUDGET_NS,
	};

	/* A connected TCP socket always describes itself; if not, it is
	 * not bounded. */
	if (sendpolicy_read_path(cn->cn_fd, cn->cn_peer.ss_family, 1, now,
	    &ss->ss_rate_max, &ss->ss_net) != 0)
		ss->ss_net.sp_kind = SEND_PATH_UNBOUNDED;
	/* A queue that has stood longer than the budget is a backlog,
	 * whatever the path's estimates say (on loopback they say the
	 * path is fast while a reader takes nothing). */
	cl.cl_backlog_ns = sendpolicy_backlog_since(&ss->ss_backlog_ns, now,
	    cl.cl_ours, &ss->ss_net);
	sendpolicy_decide(&cl, &ss->ss_net, &ss->ss_verdict);
	return ss->ss_verdict.v_decision;
}

/* Queues pk for a TCP session: a reference to the shared bytes, or a
 * copy with its own channel in the interleaved heads. */
static int
session_queue_tcp(struct rtsp_session *ss, struct pkts *pk)
{
	struct evbuffer *out = bufferevent_get_output(ss->ss_conn->cn_bev);
	const struct rtp_out *o = &pk->pk_out;
	unsigned i;
	uint8_t *copy;
	int rc;

	if (ss->ss_tr.tr_channel[0] == 0) {
		pk->pk_refs++;
		if (evbuffer_add_reference(out, o->o_buf, o->o_used,
		    pkts_unref_cb, pk) != 0) {
			pk->pk_refs--;
			return -1;
		}
		return 0;
	}
	if ((copy = malloc(o->o_used)) == NULL)
		return -1;
	memcpy(copy, o->o_buf, o->o_used);
	for (i = 0; i < o->o_npk; i++)
		copy[o->o_pk[i].p_off + 1] = (uint8_t)ss->ss_tr.tr_channel[0];
	rc = evbuffer_add(out, copy, o->o_used);
	free(copy);
	return rc;
}

/* Offers the access unit pk to a playing session. */
static void
session_offer(struct rtsp_session *ss, struct pkts *pk, uint64_t now)
{
	struct camera *cam = ss->ss_cam;
	const struct rtp_out *o = &pk->pk_out;
	unsigned sent, i;
	size_t bytes = 0;

	if (ss->ss_state != SS_PLAYING || ss->ss_last_seq == pk->pk_seq)
		return;
	if (ss->ss_waiting_key) {
		if (!pk->pk_key || (now > pk->pk_mono_ns &&
		    now - pk->pk_mono_ns > MEDIA_START_MAX_AGE_NS))
			return;
	}
	if (ss->ss_tr.tr_lower == RTSP_LOWER_TCP) {
		switch (session_decide(ss, now)) {
		case SEND_NOW:
		case SEND_NDECISIONS:
			break;
		case SEND_WAIT:
			if (!ss->ss_waiting_key)
				session_skip(ss, "a TCP client fell behind");
			return;
		case SEND_STALLED:
			cam->c_srv->stalled++;
			conn_close(ss->ss_conn, "stalled: took nothing while "
			    "data waited");
			return;
		}
		if (session_queue_tcp(ss, pk) != 0) {
			session_skip(ss, "out of memory");
			return;
		}
		sent = o->o_npk;
		bytes = o->o_used;
	} else {
		sent = udp_send(ss->ss_udp, &ss->ss_rtp_dst, ss->ss_dst_len, pk,
		    0, o->o_npk);
		for (i = 0; i < sent; i++)
			bytes += o->o_pk[i].p_len;
		if (sent < o->o_npk) {
			ss->ss_udp_dropped += o->o_npk - sent;
			cam->c_udp_dropped += o->o_npk - sent;
			session_skip(ss, "UDP socket full");
			return;
		}
	}
	if (ss->ss_waiting_key) {
		ss->ss_waiting_key = 0;
		ss->ss_keyframes++;
		if (ss->ss_first_frame_ns == 0)
			ss->ss_first_frame_ns = now;
	}
	ss->ss_last_seq = pk->pk_seq;
	ss->ss_last_len = bytes;
	ss->ss_last_push_ns = now;
	ss->ss_last_real_ns = pk->pk_real_ns;
	ss->ss_last_ts = pk->pk_ts;
	ss->ss_frames++;
	ss->ss_bytes += bytes;
	ss->ss_packets += sent;
	ss->ss_octets += o->o_payload;
	cam->c_frames_sent++;
	cam->c_packets_sent += sent;
	cam->c_bytes_sent += bytes;
	if (ss->ss_sr_due_ns == 0 || now >= ss->ss_sr_due_ns)
		media_send_sr(ss, 0);
}

void
media_send_sr(struct rtsp_session *ss, int bye)
{
	struct camera *cam = ss->ss_cam;
	uint8_t buf[4 + RTCP_SR_MAX];
	struct rtcp_sr sr;
	char cname[RING_NAME_MAX + 8];
	ssize_t n;

	if (ss->ss_last_real_ns == 0)
		return;		/* nothing sent yet to map */
	sr.ssrc = cam->c_ssrc;
	sr.real_ns = ss->ss_last_real_ns;
	sr.rtp_ts = ss->ss_last_ts;
	sr.packets = ss->ss_packets;
	sr.octets = ss->ss_octets;
	snprintf(cname, sizeof(cname), "shmcam-%s", cam->c_name);
	n = bye ? rtcp_write_sr_bye(buf + 4, sizeof(buf) - 4, &sr, cname) :
	    rtcp_write_sr(buf + 4, sizeof(buf) - 4, &sr, cname);
	if (n < 0)
		return;
	ss->ss_sr_ntp = rtcp_ntp(sr.real_ns);
	ss->ss_sr_sent_ns = clock_ns(CLOCK_MONOTONIC);
	ss->ss_sr_due_ns = ss->ss_sr_sent_ns + SR_INTERVAL_NS;
	if (ss->ss_tr.tr_lower == RTSP_LOWER_TCP) {
		buf[0] = '$';
		buf[1] = (uint8_t)ss->ss_tr.tr_channel[1];
		buf[2] = (uint8_t)(n >> 8);
		buf[3] = (uint8_t)n;
		evbuffer_add(bufferevent_get_output(ss->ss_conn->cn_bev), buf,
		    (size_t)n + 4);
	} else {
		(void)udp_send_rtcp(ss, buf + 4, (size_t)n);
	}
}

void
camera_play(struct camera *cam, struct rtsp_session *ss)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	struct pkts *pk = cam->c_latest;

	ss->ss_state = SS_PLAYING;
	ss->ss_waiting_key = 1;
	ss->ss_active_ns = now;
	/* The send policy's stall clock starts now (PAUSE, PLAY too). */
	ss->ss_last_push_ns = now;
	/* The newest access unit, if it is a keyframe; else the next one. */
	if (pk != NULL && pk->pk_key && cam->c_at.at_mapped[CTL_KIND_H264] &&
	    ring_latest(&cam->c_at.at_ring[CTL_KIND_H264]) == pk->pk_seq)
		session_offer(ss, pk, now);
	if (ss->ss_waiting_key)
		camera_keyframe_wanted(cam, "a session starts");
}

/* ----------------------------------------------------------- the ring */

/* Keeps the parameter sets a keyframe starts with, for DESCRIBE. */
static void
camera_keep_params(struct camera *cam, const uint8_t *au,
    const struct h264_au_info *info)
{
	struct h264_params *hp = &cam->c_params;

	if (info->sps_len > sizeof(hp->hp_sps) ||
	    info->pps_len > sizeof(hp->hp_pps) || info->sps_len < 4 ||
	    info->pps_len < 1)
		return;
	if (hp->hp_version != 0 && hp->hp_sps_len == info->sps_len &&
	    hp->hp_pps_len == info->pps_len &&
	    memcmp(hp->hp_sps, au + info->sps_off, info->sps_len) == 0 &&
	    memcmp(hp->hp_pps, au + info->pps_off, info->pps_len) == 0)
		return;
	memcpy(hp->hp_sps, au + info->sps_off, info->sps_len);
	hp->hp_sps_len = info->sps_len;
	memcpy(hp->hp_pps, au + info->pps_off, info->pps_len);
	hp->hp_pps_len = info->pps_len;
	hp->hp_version++;
	log_info("camera %s: H.264 profile %u level %u (parameter sets %llu)",
	    cam->c_name, hp->hp_sps[1], hp->hp_sps[3],
	    (unsigned long long)hp->hp_version);
}

int
camera_params(struct camera *cam, struct h264_params *hp)
{
	struct ring_params rp;
	struct h264_au_info info;
	struct h264_nal nal;
	size_t pos = 0;
	const uint8_t *sps = NULL, *pps = NULL;
	size_t sps_len = 0, pps_len = 0;

	if (cam->c_params.hp_version == 0 &&
	    cam->c_at.at_mapped[CTL_KIND_H264] &&
	    ring_read_params(&cam->c_at.at_ring[CTL_KIND_H264], &rp) == 0 &&
	    rp.from != 0) {
		/* What the ring says the encoder uses: SPS and PPS units,
		 * length-prefixed like a payload. */
		while (h264_au_next(rp.data, rp.len, &pos, &nal) == 1) {
			if (nal.type == H264_NAL_SPS && sps == NULL) {
				sps = nal.data;
				sps_len = nal.len;
			} else if (nal.type == H264_NAL_PPS && pps == NULL) {
				pps = nal.data;
				pps_len = nal.len;
			}
		}
		if (sps != NULL && pps != NULL) {
			memset(&info, 0, sizeof(info));
			info.sps_off = (size_t)(sps - rp.data);
			info.sps_len = sps_len;
			info.pps_off = (size_t)(pps - rp.data);
			info.pps_len = pps_len;
			camera_keep_params(cam, rp.data, &info);
		}
	}
	if (cam->c_params.hp_version == 0)
		return 0;
	*hp = cam->c_params;
	return 1;
}

/* The DESCRIBEs waiting for parameter sets get them. */
static void
camera_answer_describes(struct camera *cam)
{
	struct rtsp_conn *cn, *next;

	if (cam->c_describing == 0)
		return;
	for (cn = TAILQ_FIRST(&cam->c_srv->conns); cn != NULL; cn = next) {
		next = TAILQ_NEXT(cn, cn_entry);
		if (cn->cn_describe_cam == cam)
			session_describe_answer(cn);
	}
}

/* A whole access unit out of the ring (in c_au): packetized, sent. */
static void
camera_frame(struct camera *cam, const struct ring_frame *meta)
{
	struct rtsp_session *ss, *next;
	struct h264_au_info info;
	struct pkts *pk;
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	uint16_t seq;
	int key = (meta->flags & RING_FRAME_KEYFRAME) != 0, n;

	cam->c_frames_in++;
	/* Trust nothing in shared memory: whole units, and a keyframe flag
	 * that the content bears out. */
	if (h264_au_check(cam->c_au, meta->length, &info) != 0 ||
	    key != info.idr) {
		if (cam->c_invalid++ % 100 == 0)
			log_warnx("camera %s: H.264 frame %llu refused (%llu so "
			    "far)", cam->c_name, (unsigned long long)meta->seq,
			    (unsigned long long)cam->c_invalid);
		cam->c_broken = 1;
		return;
	}
	if (key) {
		camera_keep_params(cam, cam->c_au, &info);
		cam->c_broken = 0;
		cam->c_width = meta->width;
		cam->c_height = meta->height;
	}
	/* The frame interval, smoothed, from the capture's clock. */
	if (cam->c_last_mono_ns != 0 &&
	    meta->capture_mono_ns > cam->c_last_mono_ns) {
		uint64_t gap = meta->capture_mono_ns - cam->c_last_mono_ns;

		cam->c_interval_ns = cam->c_interval_ns == 0 ? gap :
		    (7 * cam->c_interval_ns + gap) / 8;
	}
	cam->c_last_mono_ns = meta->capture_mono_ns;
	if (cam->c_broken)
		return;
	if ((pk = pkts_get(cam, meta->length, info.nals)) == NULL) {
		log_warnx("camera %s: out of memory for packets", cam->c_name);
		cam->c_broken = 1;
		return;
	}
	if (!cam->c_rtp_seq_set) {
		cam->c_rtp_seq = rtp_seq_origin(
		    cam->c_at.at_generation[CTL_KIND_H264], meta->seq);
		cam->c_rtp_seq_set = 1;
	}
	seq = cam->c_rtp_seq;
	pk->pk_seq = meta->seq;
	pk->pk_real_ns = meta->capture_real_ns;
	pk->pk_mono_ns = meta->capture_mono_ns;
	pk->pk_ts = rtp_timestamp(meta->capture_mono_ns);
	pk->pk_key = key;
	n = rtp_h264_packetize(cam->c_au, meta->length, cam->c_ssrc,
	    pk->pk_ts, &seq, RTP_PACKET_MAX, &pk->pk_out);
	if (n <= 0) {
		/* h264_au_check() passed: a bug, not the capture's fault. */
		log_warnx("camera %s: frame %llu not packetized: %s",
		    cam->c_name, (unsigned long long)meta->seq,
		    strerror(-n));
		pkts_unref(pk);
		cam->c_broken = 1;
		return;
	}
	cam->c_rtp_seq = seq;
	camera_set_latest(cam, pk);
	if (key)
		camera_answer_describes(cam);
	for (ss = TAILQ_FIRST(&cam->c_sessions); ss != NULL; ss = next) {
		next = TAILQ_NEXT(ss, ss_entry);
		session_offer(ss, pk, now);
	}
}

/* Everything new in the H.264 ring. */
static void
camera_read(struct camera *cam)
{
	struct ring_reader *r = &cam->c_at.at_ring[CTL_KIND_H264];
	struct ring_frame meta;
	uint64_t latest;
	int i, rc;

	for (i = 0; i < MEDIA_READS_MAX; i++) {
		latest = ring_latest(r);
		/* A sequence that went backwards is not this writer's. */
		if (latest < cam->c_ring_seq) {
			log_warnx("camera %s: H.264 ring sequence went "
			    "backwards, resyncing", cam->c_name);
			cam->c_ring_seq = latest;
			cam->c_broken = 1;
		}
		rc = ring_read_next(r, cam->c_ring_seq, &meta, cam->c_au,
		    cam->c_au_cap);
		switch (rc) {
		case 0:
			if (meta.gap > 0) {
				cam->c_frames_lost += meta.gap;
				cam->c_broken = 1;
			}
			cam->c_ring_seq = meta.seq;
			camera_frame(cam, &meta);
			continue;
		case -EAGAIN:
		case -ENODATA:
			return;
		case -ESTALE:
			attach_drop(&cam->c_at, "H.264 ring replaced under us");
			return;
		default:
			/* Torn every time, or a bad slot: pass it by. */
			if (cam->c_invalid++ % 100 == 0)
				log_warnx("camera %s: H.264 frame %llu "
				    "rejected: %s (%llu so far)", cam->c_name,
				    (unsigned long long)cam->c_ring_seq + 1,
				    ring_strerror(rc),
				    (unsigned long long)cam->c_invalid);
			cam->c_ring_seq++;
			cam->c_broken = 1;
			continue;
		}
	}
	/* Far behind: from the newest on, at the next keyframe. */
	cam->c_ring_seq = ring_latest(r);
	cam->c_broken = 1;
}

static void
camera_attach_cb(struct attach *at, enum attach_event ev,
    enum ctl_kind kind, void *arg)
{
	struct camera *cam = arg;
	struct rtsp_session *ss;
	struct ring_reader *r = &at->at_ring[CTL_KIND_H264];
	size_t cap;
	void *p;

	if (kind != CTL_KIND_H264)
		return;		/* the JPEG ring: not ours to read */
	switch (ev) {
	case ATTACH_UP:
		cap = r->rr_geo.slot_size - RING_SLOT_HEADER_SIZE;
		if (cam->c_au_cap < cap) {
			if ((p = realloc(cam->c_au, cap)) == NULL) {
				attach_drop(at, "out of memory for frames");
				return;
			}
			cam->c_au = p;
			cam->c_au_cap = cap;
		}
		/* From the newest frame on: what was published before we
		 * came is old. */
		cam->c_ring_seq = ring_latest(r);
		cam->c_broken = 1;
		camera_set_latest(cam, NULL);
		TAILQ_FOREACH(ss, &cam->c_sessions, ss_entry)
			ss->ss_waiting_key = 1;
		if (cam->c_nsessions > 0 || cam->c_describing > 0)
			camera_keyframe_wanted(cam, "a new H.264 ring");
		break;
	case ATTACH_WAKEUP:
		camera_read(cam);
		break;
	case ATTACH_DOWN:
		camera_set_latest(cam, NULL);
		TAILQ_FOREACH(ss, &cam->c_sessions, ss_entry)
			ss->ss_waiting_key = 1;
		break;
	case ATTACH_WAITING:	/* the link's: sent with CTL_KIND_JPEG */
		break;
	}
}

/* ------------------------------------------------------------ cameras */

void
camera_viewers_changed(struct camera *cam)
{
	attach_set_viewers(&cam->c_at, CTL_KIND_H264,
	    cam->c_nsessions + cam->c_describing);
}

/* Once a second: sessions that timed out, sender reports. */
static void
camera_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct camera *cam = arg;
	struct rtsp_session *ss, *next;
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	uint64_t timeout = (uint64_t)cam->c_srv->opt.session_timeout_s *
	    1000000000u;
	char why[64];

	(void)fd;
	(void)what;
	for (ss = TAILQ_FIRST(&cam->c_sessions); ss != NULL; ss = next) {
		next = TAILQ_NEXT(ss, ss_entry);
		if ((ss->ss_tr.tr_lower == RTSP_LOWER_UDP ||
		    ss->ss_state != SS_PLAYING) &&
		    now - ss->ss_active_ns > timeout) {
			cam->c_srv->session_timeouts++;
			snprintf(why, sizeof(why), "session %s timed out",
			    ss->ss_id);
			conn_close(ss->ss_conn, why);
			continue;
		}
		if (ss->ss_state == SS_PLAYING && ss->ss_sr_due_ns != 0 &&
		    now >= ss->ss_sr_due_ns)
			media_send_sr(ss, 0);
	}
}

struct camera *
camera_new(struct rtsp_server *srv, const char *name, const char *ctl_path)
{
	struct camera *cam;
	char label[CTL_LABEL_MAX];

	if ((cam = calloc(1, sizeof(*cam))) == NULL)
		return NULL;
	cam->c_srv = srv;
	snprintf(cam->c_name, sizeof(cam->c_name), "%s", name);
	TAILQ_INIT(&cam->c_pool);
	TAILQ_INIT(&cam->c_sessions);
	/* A random SSRC (RFC 3550 8.1), one per camera and process. */
	if (getrandom(&cam->c_ssrc, sizeof(cam->c_ssrc), 0) !=
	    sizeof(cam->c_ssrc)) {
		free(cam);
		return NULL;
	}
	snprintf(label, sizeof(label), "rtsp/%s", name);
	if (attach_init(&cam->c_at, srv->base, name, ctl_path, label,
	    CTL_KIND_BIT(CTL_KIND_H264), camera_attach_cb, cam) != 0) {
		free(cam);
		return NULL;
	}
	cam->c_at.at_capture_uid = srv->opt.capture_uid;
	cam->c_tick_ev = event_new(srv->base, -1, EV_PERSIST, camera_tick_cb,
	    cam);
	if (cam->c_tick_ev == NULL) {
		camera_free(cam);
		return NULL;
	}
	return cam;
}

void
camera_start(struct camera *cam)
{
	struct timeval second = { 1, 0 };

	event_add(cam->c_tick_ev, &second);
	attach_start(&cam->c_at);
}

struct camera *
camera_find(struct rtsp_server *srv, const char *name, int alias)
{
	struct camera *cam;

	TAILQ_FOREACH(cam, &srv->cameras, c_entry)
		if (strcmp(cam->c_name, name) == 0)
			return cam;
	/* "", and "stream" when no camera has that name: the only one. */
	if (srv->ncameras == 1 && (name[0] == '\0' || alias))
		return TAILQ_FIRST(&srv->cameras);
	return NULL;
}

/* After every connection is closed: no packets are referenced. */
void
camera_free(struct camera *cam)
{
	struct pkts *pk;

	attach_free(&cam->c_at);
	if (cam->c_tick_ev != NULL)
		event_free(cam->c_tick_ev);
	camera_set_latest(cam, NULL);
	while ((pk = TAILQ_FIRST(&cam->c_pool)) != NULL) {
		TAILQ_REMOVE(&cam->c_pool, pk, pk_free);
		free(pk->pk_out.o_buf);
		free(pk->pk_out.o_pk);
		free(pk);
	}
	free(cam->c_au);
	free(cam);
}
