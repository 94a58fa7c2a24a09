/*
 * probe.c - build/tests/libsandboxprobe.so, a test-only LD_PRELOAD
 * library that makes the program it is loaded into attempt a system call
 * its sandbox forbids, on SIGUSR2.  The tests see the real binaries'
 * filter at work this way, with no hook of any kind in those binaries.
 *
 *   SANDBOX_PROBE=exec:PATH    execve("/bin/touch", "touch", PATH): the
 *                              process becomes touch, which creates PATH
 *   SANDBOX_PROBE=write:PATH   open(PATH, O_WRONLY | O_CREAT): creates it
 *   SANDBOX_PROBE=inet         socket(AF_INET, SOCK_STREAM)
 *
 * Sandboxed, each of these kills the process with SIGSYS (and PATH never
 * appears); with --no-sandbox it succeeds.  Without SANDBOX_PROBE the
 * library does nothing.  The handler makes only async-signal-safe calls.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char probe_what[16];
static char probe_path[4096];

static void
probe_cb(int sig)
{
	char *const argv[] = { (char *)"touch", probe_path, NULL };
	char *const envp[] = { NULL };
	int fd;

	(void)sig;
	if (strcmp(probe_what, "exec") == 0)
		execve("/bin/touch", argv, envp);
	else if (strcmp(probe_what, "write") == 0) {
		fd = open(probe_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd != -1)
			close(fd);
	} else if (strcmp(probe_what, "inet") == 0) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd != -1)
			close(fd);
	}
}

__attribute__((constructor)) static void
probe_init(void)
{
	const char *spec = getenv("SANDBOX_PROBE"), *colon;
	struct sigaction sa;
	size_t n;

	if (spec == NULL)
		return;
	colon = strchr(spec, ':');
	n = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
	if (n >= sizeof(probe_what))
		return;
	memcpy(probe_what, spec, n);
	probe_what[n] = '\0';
	if (colon != NULL && strlen(colon + 1) < sizeof(probe_path))
		memcpy(probe_path, colon + 1, strlen(colon + 1) + 1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = probe_cb;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
}
