/*
 * rtsp.h - shmcam-rtsp's shared structures.
 *
 *   main.c     options, setup, signals
 *   listen.c   listening sockets (TCP, systemd socket activation),
 *              accepting within --max-clients
 *   conn.c     one RTSP connection: requests and interleaved frames in,
 *              responses and media out, its deadlines
 *   session.c  the methods (OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE,
 *              TEARDOWN, GET_PARAMETER, SET_PARAMETER) and sessions
 *   media.c    one camera's H.264: each access unit packetized once and
 *              fanned out to its sessions; keyframes, skips, sender
 *              reports, receiver feedback
 *   udp.c      RTP and RTCP over UDP: server ports from --udp-ports,
 *              sending that never blocks, RTCP from the client's
 *              address only
 *   access.c   Basic and Digest authentication from --auth-file
 *   state.c    /state (JSON) and /metrics (Prometheus text) on --http
 *
 *   proto.c    RTSP messages as bytes         (pure; proto.h)
 *   rtp.c      H.264 in RTP                   (pure; rtp.h)
 *   rtcp.c     RTCP reports and feedback      (pure; rtcp.h)
 *   sdp.c      the session description        (pure; sdp.h)
 *   digest.c   Digest authentication's MD5s   (pure; digest.h)
 *
 * The link to each capture is common/attach.c; the decision whether a TCP
 * client takes the next access unit is shmcam-server's send policy
 * (server/sendpolicy.h), and so is the auth file (server/auth.c).
 * Everything runs on one libevent loop in one thread.
 */
#ifndef SHMCAM_RTSP_H
#define SHMCAM_RTSP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "../server/sendpolicy.h"
#include "attach.h"
#include "clock.h"
#include "proto.h"
#include "rtcp.h"
#include "rtp.h"

#define RTSP_SESSION_ID_LEN	16	/* hex digits */
#define RTSP_NONCE_LEN		32	/* hex digits */
#define RTSP_ADDR_MAX		64	/* "[v6]:port" */

struct rtsp_server;
struct rtsp_conn;
struct rtsp_session;
struct access;

/* --------------------------------------------------------------- media */

/*
 * The packets of one access unit, built once (rtp.h) and shared by
 * reference: every TCP client's output buffer holds a reference to the
 * bytes (evbuffer_add_reference()), UDP clients send them at once.
 * Immutable once built; back to the camera's pool with the last
 * reference.
 */
struct pkts {
	unsigned	 pk_refs;
	struct camera	*pk_cam;
	TAILQ_ENTRY(pkts) pk_free;
	uint64_t	 pk_seq;	/* ring sequence of the access unit */
	uint64_t	 pk_real_ns;	/* its capture, CLOCK_REALTIME */
	uint64_t	 pk_mono_ns;	/* its capture, CLOCK_MONOTONIC */
	uint32_t	 pk_ts;		/* RTP timestamp */
	int		 pk_key;	/* a keyframe, parameter sets first */
	struct rtp_out	 pk_out;	/* the packets */
	size_t		 pk_cap;	/* bytes of pk_out.o_buf */
	unsigned	 pk_maxpk;	/* entries of pk_out.o_pk */
};

/* The SPS and PPS a DESCRIBE describes. */
struct h264_params {
	uint64_t	 hp_version;	/* +1 whenever they change */
	size_t		 hp_sps_len;
	size_t		 hp_pps_len;
	uint8_t		 hp_sps[1024];
	uint8_t		 hp_pps[1024];
};

/* A camera: its link to the capture and its H.264 as RTP. */
struct camera {
	TAILQ_ENTRY(camera) c_entry;
	struct rtsp_server *c_srv;
	char		 c_name[RING_NAME_MAX];
	struct attach	 c_at;

	/* the H.264 ring as we follow it */
	uint64_t	 c_ring_seq;	/* last sequence read */
	int		 c_broken;	/* frames were lost: next keyframe */
	uint8_t		*c_au;		/* one access unit out of the ring */
	size_t		 c_au_cap;
	struct h264_params c_params;	/* for DESCRIBE; version 0: none */
	uint32_t	 c_width;
	uint32_t	 c_height;

	/* RTP: one stream per camera, shared by its sessions */
	uint32_t	 c_ssrc;
	uint16_t	 c_rtp_seq;	/* next sequence number */
	int		 c_rtp_seq_set;
	struct pkts	*c_latest;	/* newest access unit's packets */
	TAILQ_HEAD(, pkts) c_pool;
	unsigned	 c_pool_n;
	uint64_t	 c_keyframe_asked_ns; /* our last request */
	uint64_t	 c_interval_ns;	/* between access units, smoothed */
	uint64_t	 c_last_mono_ns; /* capture time of the last one */

	/* sessions, and DESCRIBEs waiting for parameter sets */
	TAILQ_HEAD(, rtsp_session) c_sessions;
	unsigned	 c_nsessions;
	unsigned	 c_describing;
	struct event	*c_tick_ev;

	/* counters */
	uint64_t	 c_frames_in;	/* access units read */
	uint64_t	 c_frames_lost;	/* sequences never read */
	uint64_t	 c_invalid;	/* refused access units */
	uint64_t	 c_frames_sent;	/* access units queued to sessions */
	uint64_t	 c_packets_sent;
	uint64_t	 c_bytes_sent;
	uint64_t	 c_skips;	/* sessions sent to the next keyframe */
	uint64_t	 c_keyframe_requests; /* asked of the capture */
	uint64_t	 c_pli;		/* PLI and FIR received */
	uint64_t	 c_udp_dropped;	/* packets UDP would not take */
};

/* media.c */
struct camera *camera_new(struct rtsp_server *srv, const char *name,
	    const char *ctl_path);
void	camera_start(struct camera *cam);
void	camera_free(struct camera *cam);
/* The camera of that name, or the only one for "" or the "stream"
 * alias (proto.h's rtsp_uri_target()); NULL if none. */
struct camera *camera_find(struct rtsp_server *srv, const char *name,
	    int alias);
/* Sessions and DESCRIBEs waiting changed: tell the capture. */
void	camera_viewers_changed(struct camera *cam);
/* A session starts playing: its first access unit is a keyframe. */
void	camera_play(struct camera *cam, struct rtsp_session *ss);
/* A receiver asked for a keyframe (PLI, FIR): rate-limited. */
void	camera_keyframe_wanted(struct camera *cam, const char *why);
/* 1 and the parameter sets if known. */
int	camera_params(struct camera *cam, struct h264_params *hp);
/* Sends a sender report to ss now (and a BYE with bye). */
void	media_send_sr(struct rtsp_session *ss, int bye);

/* ------------------------------------------------------------ sessions */

enum session_state {
	SS_READY,		/* set up, not playing */
	SS_PLAYING,
};

struct udp_pair;

struct rtsp_session {
	TAILQ_ENTRY(rtsp_session) ss_entry;	/* camera's c_sessions */
	struct camera	*ss_cam;
	struct rtsp_conn *ss_conn;
	char		 ss_id[RTSP_SESSION_ID_LEN + 1];
	enum session_state ss_state;
	struct rtsp_transport ss_tr;
	struct udp_pair	*ss_udp;	/* UDP transport */
	struct sockaddr_storage ss_rtp_dst;	/* UDP: the client's RTP port */
	struct sockaddr_storage ss_rtcp_src;	/* its RTCP port: RTCP goes
						 * there, and only from there
						 * is it taken */
	socklen_t	 ss_dst_len;
	uint64_t	 ss_start_ns;
	uint64_t	 ss_active_ns;	/* last request or RTCP: timeout */

	/* delivery */
	int		 ss_waiting_key; /* skips frames until a keyframe */
	uint64_t	 ss_last_seq;	/* ring sequence last queued */
	uint64_t	 ss_last_real_ns; /* its capture times, for SRs */
	uint32_t	 ss_last_ts;
	uint64_t	 ss_last_len;	/* its bytes (TCP) */
	uint64_t	 ss_last_push_ns; /* when it was queued */
	struct send_rate_max ss_rate_max; /* TCP: the send policy's */
	struct send_path ss_net;
	uint64_t	 ss_backlog_ns;	/* since when a queue has stood
					 * (sendpolicy_backlog_since()) */
	struct send_verdict ss_verdict;	/* the last decision */
	uint64_t	 ss_sr_due_ns;
	uint32_t	 ss_packets;	/* sent: RTCP's counts (mod 2^32) */
	uint32_t	 ss_octets;
	uint64_t	 ss_frames;
	uint64_t	 ss_bytes;
	uint64_t	 ss_skips;
	uint64_t	 ss_keyframes;
	uint64_t	 ss_udp_dropped;
	uint64_t	 ss_first_frame_ns;
	uint64_t	 ss_pli_ns;	/* last PLI/FIR acted on */

	/* what the receiver reports (RTCP RR) */
	struct rtcp_feedback ss_rr;
	uint64_t	 ss_rr_count;
	uint64_t	 ss_rtcp_in;
	uint64_t	 ss_rtcp_ignored; /* from another address, or junk */
	uint32_t	 ss_rtt_us;	/* from LSR/DLSR; 0: unknown */
	uint64_t	 ss_sr_ntp;	/* NTP time of our last SR */
	uint64_t	 ss_sr_sent_ns;	/* CLOCK_MONOTONIC when sent */
};

/* session.c */
/* Handles one request of conn (srv->rq). */
void	session_request(struct rtsp_conn *cn, struct rtsp_request *rq);
/* A DESCRIBE waiting for parameter sets gets its answer (or 503), and
 * the requests after it are handled; cn may be closed on return. */
void	session_describe_answer(struct rtsp_conn *cn);
/* Ends ss (its connection stays), with the reason in the log. */
void	session_free(struct rtsp_session *ss, const char *why);
/* Receiver feedback for ss (RTCP, UDP or interleaved). */
void	session_rtcp(struct rtsp_session *ss, const uint8_t *p, size_t len);

/* --------------------------------------------------------- connections */

struct rtsp_conn {
	TAILQ_ENTRY(rtsp_conn) cn_entry;
	struct rtsp_server *cn_srv;
	struct bufferevent *cn_bev;
	int		 cn_fd;
	struct sockaddr_storage cn_peer;
	struct sockaddr_storage cn_local;
	socklen_t	 cn_peer_len;
	char		 cn_addr[RTSP_ADDR_MAX];
	char		 cn_local_addr[RTSP_ADDR_MAX];	/* numeric host */
	uint64_t	 cn_start_ns;
	struct event	*cn_deadline_ev;	/* a request's head, or idle */
	int		 cn_refuse;	/* over --max-clients: 503, close */
	int		 cn_closing;	/* close once the output is out */
	char		 cn_nonce[RTSP_NONCE_LEN + 1];	/* Digest */
	struct rtsp_session *cn_session;
	/* a request waiting for its credentials to be checked (it stays
	 * in the input until then), and the answer once it is */
	int		 cn_auth_wait;
	int		 cn_auth_answer;	/* enum access_result, or -1 */
	/* a DESCRIBE waiting for the camera's parameter sets */
	struct camera	*cn_describe_cam;
	long long	 cn_describe_cseq;
	char		*cn_describe_base;	/* its Content-Base */
	uint64_t	 cn_requests;
};

/* conn.c */
/* Takes over an accepted socket. */
void	conn_new(struct rtsp_server *srv, int fd, const struct sockaddr *sa,
	    socklen_t salen);
/* Closes now, with the reason in the log. */
void	conn_close(struct rtsp_conn *cn, const char *why);
/* Closes once what is queued has gone out. */
void	conn_close_after_output(struct rtsp_conn *cn);
/* Writes a response head (and a body of body_len bytes). */
void	conn_respond(struct rtsp_conn *cn, const struct rtsp_response *rs,
	    const void *body);
/* Re-arms the idle deadline (no session: --request-timeout). */
void	conn_idle(struct rtsp_conn *cn);
/* Handles no further request until conn_resume(); ms from now,
 * session_describe_answer() is called if nothing else was. */
void	conn_park(struct rtsp_conn *cn, unsigned ms);
/* Handles the requests that came meanwhile; cn may be closed on
 * return. */
void	conn_resume(struct rtsp_conn *cn);
/* Handles no request until conn_auth_answer(): the one being handled
 * waits, with no deadline, for a hash to be checked (access.h). */
void	conn_auth_wait(struct rtsp_conn *cn);
/* The answer (enum access_result): the waiting request is handled again
 * with it; cn may be closed on return.  An access_done_fn. */
void	conn_auth_answer(void *arg, int result, const char *who);
void	conn_close_all(struct rtsp_server *srv);
/* Bytes waiting in our output buffer. */
size_t	conn_queued(const struct rtsp_conn *cn);

/* ------------------------------------------------------------------ UDP */

/* A pair of server ports, bound at start; a session's while it has it. */
struct udp_pair {
	struct rtsp_server *u_srv;
	struct rtsp_session *u_ss;	/* NULL: free */
	int		 u_family;	/* AF_INET6 (dual-stack) or AF_INET */
	unsigned	 u_port;	/* RTP; RTCP is u_port + 1 */
	int		 u_rtp_fd;	/* -1: another program has the port */
	int		 u_rtcp_fd;
	struct event	*u_rtp_ev;	/* added while a session has it */
	struct event	*u_rtcp_ev;
};

/* udp.c */
/* Binds every pair of --udp-ports (before the sandbox); fatal on errors
 * other than a port in use. */
void	udp_setup(struct rtsp_server *srv);
void	udp_free(struct rtsp_server *srv);
/*
 * Gives ss a free pair, sending to peer's address at client_port[0] and
 * taking RTCP from client_port[1] only: -EADDRINUSE if every pair is
 * taken, -EAFNOSUPPORT for an IPv6 client of an IPv4-only host.
 */
int	udp_open(struct rtsp_session *ss, const struct sockaddr_storage *peer,
	    const unsigned client_port[2]);
/* Gives the pair back. */
void	udp_close(struct udp_pair *up);
/* Sends packets first..first+n of pk, never blocking: how many went
 * (the rest were dropped). */
unsigned udp_send(struct udp_pair *up, const struct sockaddr_storage *dst,
	    socklen_t dstlen, const struct pkts *pk, unsigned first,
	    unsigned n);
/* Sends one RTCP packet to ss's RTCP port; 0 or -errno. */
int	udp_send_rtcp(struct rtsp_session *ss, const void *p, size_t len);

/* -------------------------------------------------------------- server */

/* Where to listen: a TCP address (numeric or name) and port. */
struct listen_addr {
	char		 la_host[256];
	unsigned	 la_port;
};

struct rtsp_options {
	int		 allow_root;
	int		 no_sandbox;
	unsigned	 request_timeout_s;	/* a request head; idle */
	unsigned	 session_timeout_s;	/* no request, no RTCP */
	unsigned	 client_timeout_s;	/* output stalled */
	unsigned	 max_clients;		/* connections */
	unsigned	 udp_min;		/* 0: no UDP */
	unsigned	 udp_max;
	const char	*auth_file;
	uid_t		 capture_uid;		/* --capture-user, or -1 */
	struct listen_addr *listen;
	unsigned	 nlisten;
	struct listen_addr http;		/* la_port 0: none */
	int		 http_set;
};

struct listener;

struct rtsp_server {
	struct rtsp_options opt;
	struct event_base *base;
	TAILQ_HEAD(, camera) cameras;
	unsigned	 ncameras;
	TAILQ_HEAD(, rtsp_conn) conns;
	unsigned	 nconns;
	unsigned	 nrefusing;
	TAILQ_HEAD(, listener) listeners;
	struct evhttp	*http;
	struct access	*access;
	struct rtsp_request rq;		/* the request being handled */
	struct udp_pair	*udp;		/* the pairs of --udp-ports */
	unsigned	 nudp;
	unsigned	 udp_next;
	uint64_t	 started_real_ns;
	uint64_t	 started_mono_ns;

	/* counters */
	uint64_t	 connections;
	uint64_t	 requests;
	uint64_t	 bad_requests;		/* 4xx for malformed ones */
	uint64_t	 rejected_busy;		/* --max-clients */
	uint64_t	 rejected_auth;		/* 401 */
	uint64_t	 rejected_throttled;	/* too many failed logins */
	uint64_t	 request_timeouts;
	uint64_t	 session_timeouts;
	uint64_t	 stalled;		/* output stalled, closed */
	uint64_t	 sessions;
	uint64_t	 accept_pauses;
};

/* main.c */
void	server_init(struct rtsp_server *srv);

/* listen.c */
/* Parses "HOST:PORT", "[V6]:PORT" or ":PORT"; 0 or -1. */
int	listen_parse_addr(const char *s, struct listen_addr *la);
/* Binds every --listen, adopts sockets passed by systemd; fatal on
 * failure. */
void	listen_setup(struct rtsp_server *srv);
void	listen_free(struct rtsp_server *srv);

/* state.c */
/* Serves /state and /metrics on the listening socket fd. */
void	state_adopt(struct rtsp_server *srv, int fd);
/* Binds --http if given (and nothing was adopted); fatal on failure. */
void	state_setup(struct rtsp_server *srv);
void	state_free(struct rtsp_server *srv);

#endif /* SHMCAM_RTSP_H */
