/*
 * ctl.c - control socket transport and message validation (see ctl.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "ring.h"

/* Room for more descriptors than any message carries, so that a peer that
 * sends too many gets them all closed rather than leaked by truncation. */
#define CTL_RECV_FDS	16

/*
 * 1 if the system-wide /run/shmcam is meant for us: we are root, we may
 * create sockets in it (the capture's user of a system install), or its
 * group is one of ours (the servers' group, systemd/shmcam.tmpfiles.in).
 * A server run by systemd has no $XDG_RUNTIME_DIR and must find the
 * capture there without being told where.
 */
static int
ctl_system_dir_ours(void)
{
	struct stat st;
	gid_t *groups;
	int i, n, ours = 0;

	if (geteuid() == 0 || access(CTL_SYSTEM_DIR, W_OK | X_OK) == 0)
		return 1;
	if (stat(CTL_SYSTEM_DIR, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    (st.st_mode & S_IXGRP) == 0)
		return 0;
	if (st.st_gid == getegid())
		return 1;
	if ((n = getgroups(0, NULL)) <= 0 ||
	    (groups = calloc((size_t)n, sizeof(*groups))) == NULL)
		return 0;
	n = getgroups(n, groups);
	for (i = 0; i < n && !ours; i++)
		ours = groups[i] == st.st_gid;
	free(groups);
	return ours;
}

int
ctl_default_path(const char *name, char *buf, size_t size)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (ctl_system_dir_ours())
		n = snprintf(buf, size, CTL_SYSTEM_DIR "/%s.sock", name);
	else if (xdg != NULL && xdg[0] == '/')
		n = snprintf(buf, size, "%s/shmcam/%s.sock", xdg, name);
	else
		n = snprintf(buf, size, CTL_FALLBACK_DIR "%u/%s.sock",
		    (unsigned)geteuid(), name);
	if (n < 0 || (size_t)n >= size || (size_t)n >= CTL_PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

static int
ctl_sockaddr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (path == NULL || path[0] == '\0' ||
	    strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	memcpy(sun->sun_path, path, strlen(path));
	return 0;
}

/* The directory part of path ("." if none) into dir[CTL_PATH_MAX]. */
static void
ctl_dirname(const char *path, char *dir)
{
	char *slash;

	snprintf(dir, CTL_PATH_MAX, "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, CTL_PATH_MAX, ".");
	else if (slash == dir)
		dir[1] = '\0';		/* "/" */
	else
		*slash = '\0';
}

/* 1 if dir is this user's fallback directory, /tmp/shmcam-EUID. */
static int
ctl_is_fallback(const char *dir)
{
	char mine[64];

	snprintf(mine, sizeof(mine), CTL_FALLBACK_DIR "%u",
	    (unsigned)geteuid());
	return strcmp(dir, mine) == 0;
}

/* Others may create and remove entries: writable by group or others,
 * and not sticky (in a sticky directory only an entry's owner, the
 * directory's and root may remove or rename it). */
static int
ctl_dir_open_to_others(const struct stat *st)
{
	return (st->st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
	    (st->st_mode & S_ISVTX) == 0;
}

/* 1 if nobody but root or we could have made dir (so its owner is who
 * one of us chose): its parent is root's or ours and nobody else may
 * write to it. */
static int
ctl_dir_vouched(const char *dir)
{
	char parent[CTL_PATH_MAX + 3];
	struct stat st;

	snprintf(parent, sizeof(parent), "%s/..", dir);
	if (stat(parent, &st) != 0)
		return 0;
	return (st.st_uid == 0 || st.st_uid == geteuid()) &&
	    (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

int
ctl_dir_check(const char *dir, uid_t trusted, uid_t *owner, int *shared,
    char *why, size_t whylen)
{
	struct stat st;
	int fd, rc;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		rc = -errno;
		/* O_NOFOLLOW on a symbolic link: ELOOP (ENOTDIR with
		 * O_DIRECTORY on some kernels); lstat() says which. */
		if ((rc == -ELOOP || rc == -ENOTDIR) && lstat(dir, &st) == 0 &&
		    S_ISLNK(st.st_mode)) {
			snprintf(why, whylen, "%s: a symbolic link, not a "
			    "directory: refusing it (made by uid %u)", dir,
			    (unsigned)st.st_uid);
			return -ELOOP;
		}
		snprintf(why, whylen, "%s: %s", dir, strerror(-rc));
		return rc;
	}
	rc = fstat(fd, &st) == -1 ? -errno : 0;
	close(fd);
	if (rc != 0) {
		snprintf(why, whylen, "%s: %s", dir, strerror(-rc));
		return rc;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid() && st.st_uid != trusted &&
	    !ctl_dir_vouched(dir)) {
		snprintf(why, whylen, "%s: belongs to uid %u, who could have "
		    "planted it: refusing it", dir, (unsigned)st.st_uid);
		return -EPERM;
	}
	if (ctl_is_fallback(dir) && (st.st_uid != geteuid() ||
	    (st.st_mode & 077) != 0)) {
		snprintf(why, whylen, "%s: must be this user's and mode 0700 "
		    "or stricter, is uid %u mode %04o: refusing it", dir,
		    (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	if (ctl_dir_open_to_others(&st)) {
		snprintf(why, whylen, "%s: writable by others (mode %04o), who "
		    "could replace the socket: refusing it", dir,
		    (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	if (owner != NULL)
		*owner = st.st_uid;
	if (shared != NULL)
		*shared = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
	return 0;
}

/*
 * Creates the socket's directory if it is missing (one level only):
 * 0700 for the fallback in /tmp, which is this user's alone, else 0755
 * (servers of other users, in the socket's group, must reach it).
 */
static int
ctl_make_parent(const char *dir)
{
	if (mkdir(dir, ctl_is_fallback(dir) ? 0700 : 0755) == -1 &&
	    errno != EEXIST)
		return -errno;
	return 0;
}

int
ctl_listen(const char *path, mode_t mode, gid_t gid, char *why, size_t whylen)
{
	struct sockaddr_un sun;
	char dir[CTL_PATH_MAX];
	struct stat st;
	mode_t umask_was;
	int fd, probe, rc, ofd;

	if ((rc = ctl_sockaddr(path, &sun)) != 0) {
		snprintf(why, whylen, "%s: path too long", path);
		return rc;
	}
	ctl_dirname(path, dir);
	if ((rc = ctl_make_parent(dir)) != 0) {
		snprintf(why, whylen, "%s: %s", dir, strerror(-rc));
		return rc;
	}
	/* Nobody else may have made the directory or be able to change
	 * its entries: then what is at path stays what we make it. */
	if ((rc = ctl_dir_check(dir, (uid_t)-1, NULL, NULL, why, whylen)) !=
	    0)
		return rc;

	/* A socket that still accepts belongs to a live capture; a stale
	 * one is replaced; anything else is left alone. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(why, whylen, "%s: exists and is not a socket",
			    path);
			return -EEXIST;
		}
		probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (probe == -1)
			return -errno;
		rc = connect(probe, (struct sockaddr *)&sun, sizeof(sun));
		close(probe);
		if (rc == 0) {
			snprintf(why, whylen, "%s: another capture is running "
			    "there", path);
			return -EADDRINUSE;
		}
		if (unlink(path) == -1) {
			rc = -errno;
			snprintf(why, whylen, "%s: a stale socket of uid %u that "
			    "cannot be removed: %s", path, (unsigned)st.st_uid,
			    strerror(-rc));
			return rc;
		}
	}

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	/*
	 * The mode the socket file is made with: a socket's inode is
	 * created 0777 minus the umask (unix(7)), so no chmod() by path is
	 * needed after bind(), and there is no moment with another mode.
	 * Setup is single-threaded: the process-wide umask is ours here.
	 */
	umask_was = umask(0777 & ~mode);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(umask_was);
	if (rc == -1)
		goto fail;
	/*
	 * The group, through a descriptor of the file just made (O_PATH,
	 * not following a symbolic link), checked to be our socket: in a
	 * directory only we or root can change, it is the one bind() made.
	 */
	if (gid != (gid_t)-1 && gid != getegid()) {
		ofd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (ofd == -1)
			goto fail;
		if (fstat(ofd, &st) == -1 || !S_ISSOCK(st.st_mode) ||
		    st.st_uid != geteuid()) {
			close(ofd);
			errno = EPERM;
			goto fail;
		}
		rc = fchownat(ofd, "", (uid_t)-1, gid, AT_EMPTY_PATH);
		close(ofd);
		if (rc == -1)
			goto fail;
	}
	if (listen(fd, 64) == -1)
		goto fail;
	return fd;

fail:
	rc = -errno;
	snprintf(why, whylen, "%s: %s", path, strerror(-rc));
	close(fd);
	return rc;
}

int
ctl_connect_capture(const char *path, uid_t capture_uid, int *fdp,
    char *why, size_t whylen)
{
	char dir[CTL_PATH_MAX];
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct stat st;
	uid_t dir_owner;
	int shared, rc, fd;

	ctl_dirname(path, dir);
	if ((rc = ctl_dir_check(dir, capture_uid, &dir_owner, &shared, why,
	    whylen)) != 0)
		return rc;
	if (lstat(path, &st) == -1) {
		rc = -errno;
		snprintf(why, whylen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(why, whylen, "%s: not a socket", path);
		return -ENOTSOCK;
	}
	/*
	 * Whose socket we take: --capture-user's (or root's) when it is
	 * given; else root's, ours, or the directory's owner's if nobody
	 * else may make entries there (a capture's own /run/shmcam).
	 */
	if (capture_uid != (uid_t)-1 ? st.st_uid != capture_uid &&
	    st.st_uid != 0 : st.st_uid != 0 && st.st_uid != geteuid() &&
	    (shared || st.st_uid != dir_owner)) {
		if (capture_uid != (uid_t)-1)
			snprintf(why, whylen, "%s: belongs to uid %u, not %u "
			    "(--capture-user): refusing it", path,
			    (unsigned)st.st_uid, (unsigned)capture_uid);
		else
			snprintf(why, whylen, "%s: belongs to uid %u: refusing "
			    "it (--capture-user names the capture's user)",
			    path, (unsigned)st.st_uid);
		return -EPERM;
	}
	if ((rc = ctl_connect(path, &fd)) != 0) {
		snprintf(why, whylen, "%s", strerror(-rc));
		return rc;
	}
	/* Who listens there (SO_PEERCRED: as it was at listen()). */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		rc = -errno;
		close(fd);
		snprintf(why, whylen, "SO_PEERCRED: %s", strerror(-rc));
		return rc;
	}
	if (capture_uid != (uid_t)-1 && cred.uid != capture_uid &&
	    cred.uid != 0) {
		close(fd);
		snprintf(why, whylen, "capture runs as uid %u, not %u "
		    "(--capture-user): refusing it", (unsigned)cred.uid,
		    (unsigned)capture_uid);
		return -EPERM;
	}
	if (capture_uid == (uid_t)-1 && cred.uid != st.st_uid &&
	    cred.uid != 0) {
		close(fd);
		snprintf(why, whylen, "capture runs as uid %u, but %s belongs "
		    "to uid %u: refusing it", (unsigned)cred.uid, path,
		    (unsigned)st.st_uid);
		return -EPERM;
	}
	*fdp = fd;
	return 0;
}

int
ctl_connect(const char *path, int *fdp)
{
	struct sockaddr_un sun;
	int fd, rc;

	if ((rc = ctl_sockaddr(path, &sun)) != 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	/* AF_UNIX connects at once or fails (EAGAIN: backlog full). */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		rc = -errno;
		close(fd);
		return rc;
	}
	*fdp = fd;
	return 0;
}

void
ctl_init(struct ctl_hdr *h, enum ctl_type type, size_t len)
{
	memset(h, 0, len);
	h->ch_magic = CTL_MAGIC;
	h->ch_type = (uint16_t)type;
	h->ch_abi = CTL_ABI_VERSION;
	h->ch_len = (uint32_t)len;
}

int
ctl_send(int sock, const void *msg, size_t len, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)msg,
	    .iov_len = len };
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t n;

	if (nfds < 0 || nfds > CTL_MAX_FDS)
		return -EINVAL;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	do {
		n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -errno;
	/* SOCK_SEQPACKET sends a record whole or not at all. */
	if ((size_t)n != len)
		return -EIO;
	return 0;
}

static size_t
ctl_type_len(unsigned type)
{
	switch (type) {
	case CTL_HELLO:
		return sizeof(struct ctl_hello);
	case CTL_WELCOME:
		return sizeof(struct ctl_welcome);
	case CTL_REFUSED:
		return sizeof(struct ctl_refused);
	case CTL_VIEWERS:
		return sizeof(struct ctl_viewers);
	case CTL_STREAM:
		return sizeof(struct ctl_stream);
	case CTL_KEYFRAME:
		return sizeof(struct ctl_keyframe);
	default:
		return 0;
	}
}

static int
ctl_terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

int
ctl_validate(const union ctl_msg *msg, size_t len, int nfds)
{
	const struct ctl_hdr *h = &msg->hdr;
	size_t want;

	if (len < sizeof(*h))
		return -EPROTO;
	if (h->ch_magic != CTL_MAGIC || h->ch_abi != CTL_ABI_VERSION ||
	    h->ch_len != len)
		return -EPROTO;
	want = ctl_type_len(h->ch_type);
	if (want == 0 || want != len)
		return -EPROTO;
	if (nfds != (h->ch_type == CTL_WELCOME || h->ch_type == CTL_STREAM ?
	    2 : 0))
		return -EPROTO;
	switch (h->ch_type) {
	case CTL_HELLO:
		if (!ctl_terminated(msg->hello.label,
		    sizeof(msg->hello.label)) ||
		    (msg->hello.kinds & ~CTL_KINDS_ALL) != 0 ||
		    msg->hello.reserved != 0)
			return -EPROTO;
		break;
	case CTL_WELCOME:
		if (!ctl_terminated(msg->welcome.shm_name,
		    sizeof(msg->welcome.shm_name)) ||
		    (msg->welcome.kinds & ~CTL_KINDS_ALL) != 0 ||
		    !(msg->welcome.kinds & CTL_KIND_BIT(CTL_KIND_JPEG)))
			return -EPROTO;
		break;
	case CTL_STREAM:
		/* H.264 is the only kind that comes this way. */
		if (!ctl_terminated(msg->stream.shm_name,
		    sizeof(msg->stream.shm_name)) ||
		    msg->stream.kind != CTL_KIND_H264 ||
		    msg->stream.codec != RING_CODEC_H264 ||
		    msg->stream.reserved != 0)
			return -EPROTO;
		break;
	case CTL_KEYFRAME:
		if (msg->keyframe.kind != CTL_KIND_H264 ||
		    msg->keyframe.reserved != 0)
			return -EPROTO;
		break;
	case CTL_REFUSED:
		if (!ctl_terminated(msg->refused.reason,
		    sizeof(msg->refused.reason)))
			return -EPROTO;
		break;
	default:
		break;
	}
	return 0;
}

ssize_t
ctl_recv(int sock, union ctl_msg *msg, int fds[CTL_MAX_FDS], int *nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * CTL_RECV_FDS)];
		struct cmsghdr align;
	} cbuf;
	int got[CTL_RECV_FDS];
	struct iovec iov = { .iov_base = msg, .iov_len = sizeof(*msg) };
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t n;
	int i, ngot = 0, bad = 0, rc;

	*nfds = 0;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf.buf;
	mh.msg_controllen = sizeof(cbuf.buf);
	do {
		n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -errno;

	/* Collect every descriptor the kernel installed, whatever else. */
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t k, count;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
			bad = 1;
			continue;
		}
		if (cm->cmsg_len < CMSG_LEN(0)) {
			bad = 1;
			continue;
		}
		count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < count && ngot < CTL_RECV_FDS; k++)
			memcpy(&got[ngot++], CMSG_DATA(cm) + k * sizeof(int),
			    sizeof(int));
	}

	if (n == 0 && ngot == 0)
		return 0;	/* orderly EOF */
	if (mh.msg_flags & MSG_TRUNC)
		rc = -EMSGSIZE;
	else if ((mh.msg_flags & MSG_CTRUNC) || bad)
		rc = -EPROTO;
	else
		rc = ctl_validate(msg, (size_t)n, ngot);
	if (rc != 0) {
		for (i = 0; i < ngot; i++)
			close(got[i]);
		return rc;
	}
	for (i = 0; i < ngot; i++)
		fds[i] = got[i];
	*nfds = ngot;
	return n;
}

int
ctl_fd_is_eventfd(int fd)
{
	char path[64], buf[512];
	ssize_t n;
	int info;

	/*
	 * The kernel's own description of the descriptor (proc(5)): an
	 * eventfd's has an "eventfd-count:" line.  fstat() cannot tell: an
	 * eventfd shares its anonymous inode with timerfds, signalfds and
	 * others.  Reading /proc/self needs no more than a read-only open.
	 */
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if ((info = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -errno;
	n = read(info, buf, sizeof(buf) - 1);
	close(info);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return strstr(buf, "\neventfd-count:") != NULL ? 1 : 0;
}

const char *
ctl_type_name(unsigned type)
{
	switch (type) {
	case CTL_HELLO:
		return "hello";
	case CTL_WELCOME:
		return "welcome";
	case CTL_REFUSED:
		return "refused";
	case CTL_VIEWERS:
		return "viewers";
	case CTL_STREAM:
		return "stream";
	case CTL_KEYFRAME:
		return "keyframe";
	default:
		return "unknown";
	}
}

const char *
ctl_kind_name(unsigned kind)
{
	switch (kind) {
	case CTL_KIND_JPEG:
		return "jpeg";
	case CTL_KIND_H264:
		return "h264";
	default:
		return "unknown";
	}
}
