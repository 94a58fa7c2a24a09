/*
 * sysfilter - runs a program under a system call filter like the one a
 * systemd unit's SystemCallFilter= puts in place, to show that the
 * programs' own sandbox (common/sandbox.h) works beneath it.
 *
 *   sysfilter NAMES PROG [ARGS...]
 *
 * NAMES is a file of system call names, one per line (the tests make it
 * from "systemd-analyze syscall-filter").  Those are allowed; every other
 * call fails with EPERM (SystemCallErrorNumber=EPERM), seccomp() among
 * them, as under @system-service.  Then PROG is executed.  Names this
 * architecture does not have are skipped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <seccomp.h>

int
main(int argc, char **argv)
{
	scmp_filter_ctx ctx;
	char line[128];
	FILE *f;
	int nr, n = 0, rc;

	if (argc < 3) {
		fprintf(stderr, "usage: sysfilter NAMES PROG [ARGS...]\n");
		return 2;
	}
	if ((f = fopen(argv[1], "re")) == NULL) {
		perror(argv[1]);
		return 1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    (ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM))) == NULL) {
		perror("sysfilter: seccomp");
		return 1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, " \t\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		nr = seccomp_syscall_resolve_name(line);
		if (nr == __NR_SCMP_ERROR || nr < 0)
			continue;
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) != 0) {
			fprintf(stderr, "sysfilter: %s: %s\n", line,
			    strerror(-rc));
			return 1;
		}
		n++;
	}
	fclose(f);
	if ((rc = seccomp_load(ctx)) != 0) {
		fprintf(stderr, "sysfilter: seccomp_load: %s\n", strerror(-rc));
		return 1;
	}
	seccomp_release(ctx);
	fprintf(stderr, "sysfilter: %d system calls allowed, the rest EPERM\n",
	    n);
	execv(argv[2], argv + 2);
	perror(argv[2]);
	return 127;
}
