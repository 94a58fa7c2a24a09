/*
 * fuzzutil.c - see fuzzutil.h.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl.h"
#include "fuzzutil.h"

ssize_t
fuzz_send(int sock, const void *msg, size_t len, const int *fds,
    unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * FUZZ_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { (void *)(uintptr_t)msg, len };
	struct msghdr mh;
	struct cmsghdr *cm;

	if (nfds > FUZZ_MAX_FDS)
		abort();
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	return sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
}

void
fuzz_fix_hdr(void *msg, size_t len)
{
	struct ctl_hdr h;

	memcpy(&h, msg, sizeof(h));
	h.ch_magic = CTL_MAGIC;
	h.ch_abi = CTL_ABI_VERSION;
	h.ch_len = (uint32_t)len;
	h.ch_reserved = 0;
	memcpy(msg, &h, sizeof(h));
}

/* Calls fn for every descriptor but the directory's own. */
static int
fuzz_each_fd(void (*fn)(const char *fd, const char *target, int *n))
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	char path[300], target[256];
	ssize_t len;
	int n = 0;

	if (d == NULL)
		abort();
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		target[len > 0 ? len : 0] = '\0';
		fn(de->d_name, target, &n);
	}
	closedir(d);
	return n;
}

static void
count_ours(const char *fd, const char *target, int *n)
{
	static const char *const ours[] = { "socket:", "anon_inode:",
	    "/dev/shm/", "/memfd:", "/tmp/fuzz_" };
	size_t i;

	(void)fd;
	for (i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
		if (strncmp(target, ours[i], strlen(ours[i])) == 0)
			(*n)++;
}

static void
print_one(const char *fd, const char *target, int *n)
{
	(void)n;
	fprintf(stderr, "  fd %s: %s\n", fd, target);
}

int
fuzz_count_fds(void)
{
	return fuzz_each_fd(count_ours);
}

void
fuzz_list_fds(void)
{
	(void)fuzz_each_fd(print_one);
}
