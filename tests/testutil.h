/*
 * testutil.h - helpers shared by the C tests: deadlines, child processes
 * that die with the test, descriptor counting.
 */
#ifndef SHMCAM_TESTUTIL_H
#define SHMCAM_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

#include <check.h>

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t tu_now_ms(void);

/*
 * ms stretched by $SHMCAM_SLOW (a factor, default 1), as the integration
 * tests stretch their deadlines: for a slow machine, valgrind, or an
 * emulated CPU (make check-arch).  For deadlines and observation windows.
 */
int	tu_ms(int ms);

/* poll() one fd for events until it is ready or timeout_ms passes:
 * 1 ready, 0 timed out. */
int	tu_wait_fd(int fd, short events, int timeout_ms);

/*
 * Starts argv[0] (a path) with argv, stdout/stderr to log_path (if not
 * NULL).  The child gets SIGTERM if the test process dies first, so a
 * failed assertion never leaves it running.
 */
pid_t	tu_spawn(char *const argv[], const char *log_path);
/* SIGTERM, then SIGKILL after grace_ms; returns the wait status. */
int	tu_stop(pid_t pid, int grace_ms);

/* The writes counted by eventfd fd since it was last read (resetting
 * it), 0 if none (fd non-blocking) or if the read fails. */
uint64_t tu_eventfd_read(int fd);

/* Number of open descriptors of this process. */
int	tu_count_fds(void);

/* "$SHMCAM_BUILD/<name>" (default build directory "build"). */
const char *tu_build_path(const char *name);

/*
 * Runs a Check suite (forked, as Check does by default) and returns the
 * process exit status: EXIT_SUCCESS if every test passed.  Inline, so
 * that testutil.o does not need libcheck: tools link it too.
 */
static inline int
tu_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * Runs this test program again with the simulated camera
 * (tests/libv4l2sim.so) in LD_PRELOAD, unless that is what this is:
 * returns only in the program so started.  (ASan wants its runtime first
 * in the library list; it is initialised first anyway, so the check is
 * turned off.)
 */
void	tu_preload_v4l2sim(char **argv);

/* A private directory under /tmp (mode 0755), one per process, removed
 * with its contents when that process exits. */
const char *tu_tmpdir(void);

/* The whole of a file, malloc()ed, in *len; NULL with errno on failure. */
unsigned char *tu_read_file(const char *path, size_t *len);

#endif /* SHMCAM_TESTUTIL_H */
