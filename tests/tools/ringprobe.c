/*
 * ringprobe - tries every way of changing a ring through a descriptor or
 * a path, as a hostile process would, and reports each:
 *
 *   ringprobe FD|PATH...
 *
 * An argument that is a number is a descriptor the probe inherited; any
 * other is a path, opened read-write if the probe may, else read-only.
 * For each it tries, in this order: pwrite(), fallocate() (punching a
 * hole), mmap(PROT_WRITE, MAP_SHARED), mmap(PROT_READ, MAP_SHARED) then
 * mprotect(PROT_WRITE), ftruncate() to grow and to shrink; then the same
 * through a read-write reopen of /proc/self/fd/N, if the kernel grants
 * one.  A shrink that works takes the pages from under the capture and
 * kills it with SIGBUS, which is the point of trying it last.
 *
 * One line per attempt ("pwrite: denied (Operation not permitted)" or
 * "pwrite: ALLOWED"); exit 0 if every change was denied, 1 if any was
 * allowed, 2 if an argument could not be used at all.  Opening for
 * writing is reported ("granted" or "denied") but is no change in
 * itself: root, for one, may open anything, and the ring's seals must
 * still stop it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int allowed;

static void
report(const char *what, const char *how, int ok, int err)
{
	if (ok) {
		printf("%s%s: ALLOWED\n", what, how);
		allowed = 1;
	} else
		printf("%s%s: denied (%s)\n", what, how, strerror(err));
}

/* An open: what it tells about permissions, not a change. */
static void
report_open(const char *what, int fd, int err)
{
	if (fd != -1)
		printf("%s: granted\n", what);
	else
		printf("%s: denied (%s)\n", what, strerror(err));
}

static void
probe_fd(int fd, const char *how)
{
	struct stat st;
	void *m;
	int rc;

	if (fstat(fd, &st) == -1) {
		printf("fstat%s: %s\n", how, strerror(errno));
		exit(2);
	}
	rc = (int)pwrite(fd, "x", 1, 0);
	report("pwrite", how, rc == 1, errno);
	rc = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
	    4096);
	report("fallocate", how, rc == 0, errno);
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	report("mmap-write", how, m != MAP_FAILED, errno);
	if (m != MAP_FAILED)
		munmap(m, 4096);
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		report("mmap-read", how, 0, errno);
	else {
		rc = mprotect(m, 4096, PROT_READ | PROT_WRITE);
		report("mprotect-write", how, rc == 0, errno);
		munmap(m, 4096);
	}
	rc = ftruncate(fd, st.st_size + 4096);
	report("ftruncate-grow", how, rc == 0, errno);
	rc = ftruncate(fd, 0);
	report("ftruncate-shrink", how, rc == 0, errno);
}

int
main(int argc, char **argv)
{
	char path[64], *end;
	long n;
	int i, fd, rw;

	if (argc < 2) {
		fprintf(stderr, "usage: ringprobe FD|PATH...\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 1; i < argc; i++) {
		printf("== %s\n", argv[i]);
		n = strtol(argv[i], &end, 10);
		if (*end == '\0' && end != argv[i])
			fd = (int)n;
		else {
			fd = open(argv[i], O_RDWR | O_CLOEXEC);
			report_open("open-rdwr", fd, errno);
			if (fd == -1)
				fd = open(argv[i], O_RDONLY | O_CLOEXEC);
			if (fd == -1) {
				printf("open-rdonly: %s\n", strerror(errno));
				continue;
			}
		}
		probe_fd(fd, "");
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		rw = open(path, O_RDWR | O_CLOEXEC);
		report_open("reopen-rdwr", rw, errno);
		if (rw != -1) {
			probe_fd(rw, " (reopened)");
			close(rw);
		}
	}
	return allowed ? 1 : 0;
}
