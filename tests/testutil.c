/*
 * testutil.c - see testutil.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

uint64_t
tu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int
tu_wait_fd(int fd, short events, int timeout_ms)
{
	uint64_t deadline = tu_now_ms() + (uint64_t)timeout_ms;
	struct pollfd pfd = { .fd = fd, .events = events };
	int left, n;

	for (;;) {
		left = (int)(deadline - tu_now_ms());
		if (left < 0)
			left = 0;
		n = poll(&pfd, 1, left);
		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return 0;
	}
}

pid_t
tu_spawn(char *const argv[], const char *log_path)
{
	pid_t parent = getpid(), pid;
	int fd;

	pid = fork();
	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
	if (log_path != NULL) {
		fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		    0644);
		if (fd != -1) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
	}
	execv(argv[0], argv);
	fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

int
tu_stop(pid_t pid, int grace_ms)
{
	uint64_t deadline = tu_now_ms() + (uint64_t)grace_ms;
	int status = 0;

	kill(pid, SIGTERM);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (tu_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		usleep(10000);
	}
	return status;
}

uint64_t
tu_eventfd_read(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

int
tu_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own descriptor */
}

int
tu_ms(int ms)
{
	static double slow;
	const char *env;

	if (slow == 0) {
		env = getenv("SHMCAM_SLOW");
		slow = env != NULL ? strtod(env, NULL) : 1;
		if (!(slow >= 1 && slow <= 1000))
			slow = 1;
	}
	return (int)(ms * slow);
}

const char *
tu_build_path(const char *name)
{
	static char path[4096];
	const char *dir = getenv("SHMCAM_BUILD");

	snprintf(path, sizeof(path), "%s/%s", dir != NULL ? dir : "build",
	    name);
	return path;
}

static char tu_dir[64];
static pid_t tu_dir_owner;

static int
tu_rm_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/*
 * At exit of the process that made it, and only that one: Check forks a
 * child per test, and children inherit atexit handlers (and an unchecked
 * fixture's directory, made in the parent, must outlive them).
 */
static void
tu_tmpdir_remove(void)
{
	if (tu_dir[0] != '\0' && tu_dir_owner == getpid())
		nftw(tu_dir, tu_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
tu_tmpdir(void)
{
	static int registered;

	/* Reused while it exists; a caller may have removed it. */
	if (tu_dir[0] != '\0' && tu_dir_owner == getpid() &&
	    access(tu_dir, F_OK) == 0)
		return tu_dir;
	snprintf(tu_dir, sizeof(tu_dir), "/tmp/shmcam-test-XXXXXX");
	if (mkdtemp(tu_dir) == NULL)
		return NULL;
	chmod(tu_dir, 0755);
	tu_dir_owner = getpid();
	if (!registered++)
		atexit(tu_tmpdir_remove);
	return tu_dir;
}

unsigned char *
tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) != NULL &&
	    fread(buf, 1, (size_t)n, f) == (size_t)n)
		*len = (size_t)n;
	else {
		free(buf);
		buf = NULL;
		if (errno == 0)
			errno = EIO;
	}
	fclose(f);
	return buf;
}

void
tu_preload_v4l2sim(char **argv)
{
	char so[PATH_MAX], asan[1024];
	const char *old;

	if (getenv("V4L2SIM_CHECK_CHILD") != NULL)
		return;
	if (realpath(tu_build_path("tests/libv4l2sim.so"), so) == NULL) {
		fprintf(stderr, "%s: %s: %s\n", argv[0],
		    tu_build_path("tests/libv4l2sim.so"), strerror(errno));
		exit(EXIT_FAILURE);
	}
	old = getenv("ASAN_OPTIONS");
	snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0",
	    old != NULL ? old : "", old != NULL && *old ? ":" : "");
	setenv("ASAN_OPTIONS", asan, 1);
	setenv("LD_PRELOAD", so, 1);
	setenv("V4L2SIM_CHECK_CHILD", "1", 1);
	execv("/proc/self/exe", argv);
	fprintf(stderr, "%s: exec: %s\n", argv[0], strerror(errno));
	exit(EXIT_FAILURE);
}
