/*
 * fuzzutil.h - helpers shared by the fuzz harnesses.
 *
 * Descriptor accounting counts only what our code and the harnesses open
 * (sockets, eventfds and timerfds, shared-memory objects, memfds, files
 * under /tmp/fuzz_*): the sanitizer runtime
 * opens pipes and /dev/null of its own at unpredictable times (a
 * symbolizer process for LeakSanitizer's periodic checks), which a plain
 * count of /proc/self/fd would take for a leak.
 */
#ifndef SHMCAM_FUZZUTIL_H
#define SHMCAM_FUZZUTIL_H

#include <stddef.h>
#include <sys/types.h>

#define FUZZ_MAX_FDS	32

/*
 * Sends msg on sock with nfds (up to FUZZ_MAX_FDS) descriptors, as many
 * as asked, also more than any message carries or a receiver has room
 * for (truncated control data); never blocks, never raises SIGPIPE.
 * sendmsg()'s result.
 */
ssize_t	fuzz_send(int sock, const void *msg, size_t len, const int *fds,
	    unsigned nfds);
/*
 * Makes the first bytes of msg (at least a struct ctl_hdr) a valid
 * control header of len bytes, whatever its type and body, so that a
 * harness gets past the framing into the handling.
 */
void	fuzz_fix_hdr(void *msg, size_t len);
/* Open descriptors of the kinds above. */
int	fuzz_count_fds(void);
/* Every open descriptor and what it is, on stderr (a leak's report). */
void	fuzz_list_fds(void);

#endif /* SHMCAM_FUZZUTIL_H */
