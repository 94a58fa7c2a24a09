/*
 * ctl.h - the control socket between a capture process and its servers.
 *
 * Transport: an AF_UNIX SOCK_SEQPACKET socket at a filesystem path
 * (--ctl).  Each message is one datagram-like record, so framing is the
 * kernel's: a message is received whole or (if larger than our buffer)
 * reported truncated and refused.
 *
 * Conversation
 *   server  -> capture   CTL_HELLO      abi, pid, label, the kinds of
 *                                       stream it can serve
 *   capture -> server    CTL_WELCOME    the JPEG ring: generation,
 *                                       geometry, shm name, and the kinds
 *                                       the capture publishes;
 *                                       SCM_RIGHTS: [eventfd, ring fd]
 *           or           CTL_REFUSED    errno-style code and a reason
 *   capture -> server    CTL_STREAM     the ring of another kind (H.264):
 *                                       right after the welcome, and
 *                                       again whenever that ring is
 *                                       replaced (bigger slots, another
 *                                       run of the encoder); only to a
 *                                       server whose hello asked for the
 *                                       kind.  SCM_RIGHTS: [eventfd, ring
 *                                       fd], both for that ring alone
 *   server  -> capture   CTL_VIEWERS    how many clients it serves, per
 *                                       kind (whenever a count changes)
 *   server  -> capture   CTL_KEYFRAME   a viewer of that kind just
 *                                       started: please publish a
 *                                       keyframe soon
 *
 *   Each eventfd is the server's own: after each publish into a ring the
 *   capture writes 1 to the eventfd of that ring of every attached
 *   server whose last CTL_VIEWERS counted a viewer of its kind
 *   (non-blocking; a full counter just means a wake-up is already
 *   pending).  A server with no viewer of a kind is not woken for it: it
 *   reads the ring's newest frame itself when a viewer comes, and the
 *   capture writes its eventfd once when the CTL_VIEWERS that counts
 *   that viewer arrives, so a frame published in between is not missed.
 *   Reading an eventfd resets it, which is why no two servers share one,
 *   and why each ring has its own.  The ring fd is
 *   opened O_RDONLY by the capture, so the server can map the ring only
 *   PROT_READ whatever its own privileges.
 *
 *   Encoders run only while someone watches their kind: the capture adds
 *   up the servers' CTL_VIEWERS counts per kind.  With no JPEG viewer,
 *   raw frames are encoded to JPEG about once a second (snapshots stay
 *   fresh); with no H.264 viewer, nothing is encoded to H.264, and the
 *   first frame after that is a keyframe.
 *
 *   Keyframe requests are rate-limited by the capture: a request makes
 *   the next frame a keyframe unless a keyframe was published less than
 *   CTL_KEYFRAME_INTERVAL_MS ago, in which case the keyframe comes when
 *   that interval is over.  Requests while one is pending are merged.
 *   So a hundred viewers arriving at once cost one extra keyframe, and
 *   any number cost at most one per interval, while each waits at most
 *   the interval plus a frame.  A camera that sends H.264 itself cannot
 *   be asked: requests are counted, and viewers wait for its next
 *   keyframe.
 *
 *   A server that closes its socket is forgotten and its eventfds closed.
 *   When the capture exits, servers see EOF, keep their HTTP clients and
 *   reconnect with backoff; a WELCOME with a new generation means a new
 *   ring to map, and so does a CTL_STREAM with a new generation.
 *
 * Trust
 *   Every message is checked before use: magic, type, exact length for
 *   its type, NUL-terminated strings, and exactly the descriptors its
 *   type carries.  Descriptors that arrive unexpected, or with a
 *   truncated control message, are closed and the message refused.
 *
 * Return values: 0, a positive byte count where stated, or -errno.
 */
#ifndef SHMCAM_CTL_H
#define SHMCAM_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CTL_MAGIC	UINT32_C(0x4c54434d)	/* "MCTL" */
#define CTL_ABI_VERSION	2
#define CTL_LABEL_MAX	32
#define CTL_REASON_MAX	64
#define CTL_MAX_FDS	2
#define CTL_PATH_MAX	108	/* sizeof(sun_path) */
/* At most one keyframe made on request per this many ms (see above): a
 * viewer waits at most this plus a frame interval for its keyframe. */
#define CTL_KEYFRAME_INTERVAL_MS	250

enum ctl_type {
	CTL_HELLO = 1,
	CTL_WELCOME = 2,
	CTL_REFUSED = 3,
	CTL_VIEWERS = 4,
	CTL_STREAM = 5,
	CTL_KEYFRAME = 6,
};

/* Kinds of stream, each with its own ring (ring.h's codecs). */
enum ctl_kind {
	CTL_KIND_JPEG = 0,	/* RING_CODEC_JPEG: MJPEG, snapshots */
	CTL_KIND_H264 = 1,	/* RING_CODEC_H264 */
	CTL_KINDS = 2,
};
#define CTL_KIND_BIT(k)		(1u << (k))
#define CTL_KINDS_ALL		((1u << CTL_KINDS) - 1)

struct ctl_hdr {
	uint32_t ch_magic;	/* CTL_MAGIC */
	uint16_t ch_type;	/* enum ctl_type */
	uint16_t ch_abi;	/* CTL_ABI_VERSION */
	uint32_t ch_len;	/* whole message, header included */
	uint32_t ch_reserved;	/* zero */
};

struct ctl_hello {
	struct ctl_hdr	h;
	uint32_t	pid;
	uint32_t	ring_abi;		/* RING_ABI_VERSION it reads */
	uint32_t	kinds;			/* CTL_KIND_BIT()s it serves */
	uint32_t	reserved;		/* zero */
	char		label[CTL_LABEL_MAX];	/* for logs, e.g. "server" */
};

struct ctl_welcome {
	struct ctl_hdr	h;
	uint64_t	generation;
	uint32_t	ring_abi;
	uint32_t	slot_count;
	uint32_t	slot_size;
	uint32_t	width;
	uint32_t	height;
	uint32_t	fps_milli;
	uint32_t	pid;			/* the capture's */
	uint32_t	kinds;			/* CTL_KIND_BIT()s it publishes
						 * (JPEG always) */
	char		shm_name[64];		/* RING_NAME_MAX */
};

/* The ring of one more kind: its own eventfd and ring fd follow. */
struct ctl_stream {
	struct ctl_hdr	h;
	uint64_t	generation;		/* of that ring */
	uint32_t	kind;			/* enum ctl_kind, not JPEG */
	uint32_t	codec;			/* enum ring_codec of the ring */
	uint32_t	slot_count;
	uint32_t	slot_size;
	uint32_t	width;
	uint32_t	height;
	uint32_t	fps_milli;
	uint32_t	reserved;		/* zero */
	char		shm_name[64];		/* RING_NAME_MAX */
};

struct ctl_refused {
	struct ctl_hdr	h;
	int32_t		error;			/* positive errno */
	uint32_t	reserved;
	char		reason[CTL_REASON_MAX];
};

/* Clients of this server, per kind: MJPEG streams, H.264 streams. */
struct ctl_viewers {
	struct ctl_hdr	h;
	uint32_t	viewers[CTL_KINDS];	/* by enum ctl_kind */
};

struct ctl_keyframe {
	struct ctl_hdr	h;
	uint32_t	kind;			/* CTL_KIND_H264 */
	uint32_t	reserved;		/* zero */
};

union ctl_msg {
	struct ctl_hdr		hdr;
	struct ctl_hello	hello;
	struct ctl_welcome	welcome;
	struct ctl_refused	refused;
	struct ctl_viewers	viewers;
	struct ctl_stream	stream;
	struct ctl_keyframe	keyframe;
};

_Static_assert(sizeof(struct ctl_hdr) == 16, "ctl ABI");
_Static_assert(sizeof(struct ctl_hello) == 64, "ctl ABI");
_Static_assert(sizeof(struct ctl_welcome) == 120, "ctl ABI");
_Static_assert(sizeof(struct ctl_refused) == 88, "ctl ABI");
_Static_assert(sizeof(struct ctl_viewers) == 24, "ctl ABI");
_Static_assert(sizeof(struct ctl_stream) == 120, "ctl ABI");
_Static_assert(sizeof(struct ctl_keyframe) == 24, "ctl ABI");

#define CTL_SYSTEM_DIR	"/run/shmcam"
#define CTL_FALLBACK_DIR "/tmp/shmcam-"	/* + the effective uid */

/*
 * Writes the default control socket path for a camera name into buf:
 * CTL_SYSTEM_DIR/<name>.sock for root, for a user who may create sockets
 * there, and for members of the directory's group (the servers of a
 * system install); else $XDG_RUNTIME_DIR/shmcam/<name>.sock, else
 * /tmp/shmcam-<uid>/<name>.sock.  -ENAMETOOLONG if it does not fit.
 */
int	ctl_default_path(const char *name, char *buf, size_t size);

/*
 * Where a control socket may be: its directory must be one that nobody
 * but root, this user, or a user root chose can have made, and in which
 * nobody else can add, remove or rename entries, or else another local
 * user could plant a socket (a fake capture), a symbolic link (to make us
 * chown a file of ours), or the directory itself (in /tmp, which anyone
 * may write to).  So dir must be a directory, not a symbolic link; owned
 * by root, by us or by trusted (the capture's user a server was told of,
 * or (uid_t)-1), or by anyone if its parent is root's or ours and not
 * writable by others (/run/shmcam, which systemd-tmpfiles gives to
 * shmcam-capture); and not writable by group or others unless sticky
 * (/tmp).  The fallback /tmp/shmcam-EUID must be ours and mode 0700 or
 * stricter.  0 with its owner and whether group or others may write to
 * it (sticky) in *owner and *shared (either may be NULL), or -errno
 * with why[] saying what is wrong (-ELOOP for a symbolic link, -EPERM).
 */
int	ctl_dir_check(const char *dir, uid_t trusted, uid_t *owner,
	    int *shared, char *why, size_t whylen);

/*
 * Binds and listens (non-blocking, close-on-exec); returns the listening
 * socket, or -errno with why[] saying what is wrong.  Creates the parent
 * directory if missing (one level: 0700 for the fallback in /tmp, else
 * 0755), then checks it (ctl_dir_check()).  A stale socket file is
 * replaced; a live one (a capture answers) fails with -EADDRINUSE; any
 * other file is left alone (-EEXIST).  The socket file is made with mode
 * (through the umask, never chmod() by path) and, unless gid is
 * (gid_t)-1, given group gid through an O_PATH descriptor checked to be
 * the socket just made.
 */
int	ctl_listen(const char *path, mode_t mode, gid_t gid, char *why,
	    size_t whylen);
/* Non-blocking connect; 0 and *fdp on success (connected at once: unix). */
int	ctl_connect(const char *path, int *fdp);
/*
 * A server's connect to its capture, with the checks that make sure the
 * capture is the one it should be: the directory passes ctl_dir_check();
 * the socket file belongs to capture_uid or root if capture_uid is not
 * (uid_t)-1 (--capture-user), else to root, us, or the owner of a
 * directory nobody else may write to; and the process listening on it
 * (SO_PEERCRED) is that same user, or root.  0 and *fdp, or -errno with
 * why[] (-EPERM: refused).
 */
int	ctl_connect_capture(const char *path, uid_t capture_uid, int *fdp,
	    char *why, size_t whylen);

/* Fills the header for a message of the given type and size. */
void	ctl_init(struct ctl_hdr *h, enum ctl_type type, size_t len);

/*
 * Sends one message with nfds descriptors, never blocking and never
 * raising SIGPIPE.  -EAGAIN if the peer's queue is full.
 */
int	ctl_send(int sock, const void *msg, size_t len, const int *fds,
	    int nfds);

/*
 * Receives and validates one message (see Trust above).  Returns its length
 * (> 0), 0 on orderly EOF, -EAGAIN if nothing is queued, or an error:
 * -EMSGSIZE (truncated), -EPROTO (bad header, length, type, descriptors).
 * On success fds[0..*nfds) are the descriptors the type carries, owned by
 * the caller; on any failure none are left open.
 */
ssize_t	ctl_recv(int sock, union ctl_msg *msg, int fds[CTL_MAX_FDS],
	    int *nfds);

/*
 * Checks a received message: header fields, exact length for its type,
 * the number of descriptors its type carries, NUL-terminated strings,
 * kinds and codecs this build knows, reserved fields zero.  Pure; exposed
 * for the fuzzer and the tests.  0 or -EPROTO.
 */
int	ctl_validate(const union ctl_msg *msg, size_t len, int nfds);

/*
 * 1 if fd is an eventfd (/proc/self/fdinfo says so), 0 if it is something
 * else, -errno if that cannot be told.  A reader checks the wake-up
 * descriptor of a welcome or a stream with it (attach.c).
 */
int	ctl_fd_is_eventfd(int fd);

const char *ctl_type_name(unsigned type);
/* "jpeg", "h264", or "unknown". */
const char *ctl_kind_name(unsigned kind);

#endif /* SHMCAM_CTL_H */
