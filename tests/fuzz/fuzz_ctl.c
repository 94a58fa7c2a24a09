/*
 * fuzz_ctl.c - the control protocol's receive path against arbitrary
 * messages and ancillary data.
 *
 * Input: byte 0 is how many descriptors to attach (0-31, more than any
 * message carries and more than ctl_recv() has room for, so truncated
 * control data happens too); the rest is the message.  It really goes
 * through a SOCK_SEQPACKET socketpair with SCM_RIGHTS, then ctl_recv()
 * must either accept it with exactly the descriptors its type carries or
 * refuse it, and in both cases no descriptor may be left open that the
 * caller was not handed.  ctl_validate() also sees the raw bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl.h"
#include "fuzzutil.h"

static int sv[2] = { -1, -1 };
static int spare = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	union ctl_msg m;
	int fds[CTL_MAX_FDS], nfds, want[32], n, before, i;
	ssize_t rc;

	if (sv[0] == -1) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
		    sv) == -1)
			abort();
		spare = eventfd(0, EFD_CLOEXEC);
	}
	if (size < 2)
		return 0;

	/* Pure validation of the raw bytes, as if they had arrived. */
	memset(&m, 0, sizeof(m));
	memcpy(&m, data + 1, size - 1 < sizeof(m) ? size - 1 : sizeof(m));
	if (size - 1 <= sizeof(m))
		(void)ctl_validate(&m, size - 1, data[0] % 3);

	n = data[0] % 32;
	for (i = 0; i < n; i++)
		want[i] = spare;
	before = fuzz_count_fds();
	if (fuzz_send(sv[0], data + 1, size - 1, want, (unsigned)n) == -1)
		return 0;	/* too large for the socket: nothing sent */

	rc = ctl_recv(sv[1], &m, fds, &nfds);
	if (rc > 0) {
		/* Accepted: valid, with exactly its descriptors. */
		if (ctl_validate(&m, (size_t)rc, nfds) != 0)
			abort();
		if (nfds != (m.hdr.ch_type == CTL_WELCOME ||
		    m.hdr.ch_type == CTL_STREAM ? 2 : 0))
			abort();
		for (i = 0; i < nfds; i++)
			close(fds[i]);
	} else if (rc != 0 && rc != -EPROTO && rc != -EMSGSIZE) {
		abort();
	}
	if (fuzz_count_fds() != before)
		abort();	/* a descriptor leaked */
	return 0;
}
