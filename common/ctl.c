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
		n = snprintf(buf, size, "/tmp/shmcam-%u/%s.sock",
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

/* Creates the socket's directory if it is missing (one level only). */
static int
ctl_make_parent(const char *path)
{
	char dir[CTL_PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		return -errno;
	return 0;
}

int
ctl_listen(const char *path, mode_t mode, gid_t gid)
{
	struct sockaddr_un sun;
	int fd, probe, rc;

	if ((rc = ctl_sockaddr(path, &sun)) != 0)
		return rc;
	if ((rc = ctl_make_parent(path)) != 0)
		return rc;

	/* A socket file that still accepts belongs to a live capture. */
	probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (probe == -1)
		return -errno;
	if (connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		close(probe);
		return -EADDRINUSE;
	}
	close(probe);
	if (unlink(path) == -1 && errno != ENOENT)
		return -errno;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		goto fail;
	if (chmod(path, mode) == -1)
		goto fail;
	if (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) == -1)
		goto fail;
	if (listen(fd, 64) == -1)
		goto fail;
	return fd;

fail:
	rc = -errno;
	close(fd);
	return rc;
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
