/*
 * privs.c - dropping root (see privs.h).
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "log.h"
#include "privs.h"

static int
parse_id(const char *s, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && s[0] != '-' &&
	    *out < UINT_MAX ? 0 : -1;
}

int
privs_lookup_group(const char *name, gid_t *gid)
{
	struct group *gr;
	unsigned long v;

	if ((gr = getgrnam(name)) != NULL)
		*gid = gr->gr_gid;
	else if (parse_id(name, &v) == 0)
		*gid = (gid_t)v;
	else
		return -1;
	return 0;
}

int
privs_resolve(struct privs *p, const char *user, const char *group,
    char *why, size_t whylen)
{
	struct passwd *pw;
	unsigned long v;
	int n;

	memset(p, 0, sizeof(*p));
	if (geteuid() != 0)
		return 0;
	p->drop = 1;
	if (user == NULL) {
		/* Not nobody: it shares its uid with every other daemon that
		 * uses it, and is in no group that may open a camera. */
		if ((pw = getpwnam(PRIVS_DEFAULT_USER)) == NULL) {
			snprintf(why, whylen, "started as root without --user, "
			    "and there is no user %s (make install creates it "
			    "with systemd-sysusers): pass --user USER, a user "
			    "in group video", PRIVS_DEFAULT_USER);
			return -1;
		}
		user = PRIVS_DEFAULT_USER;
	} else if ((pw = getpwnam(user)) == NULL && parse_id(user, &v) == 0)
		pw = getpwuid((uid_t)v);
	if (pw == NULL) {
		snprintf(why, whylen, "unknown --user '%s'", user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(why, whylen, "--user '%s' is root: the capture does "
		    "not run its loop as root", user);
		return -1;
	}
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	snprintf(p->user, sizeof(p->user), "%s", pw->pw_name);
	if (group != NULL && privs_lookup_group(group, &p->gid) != 0) {
		snprintf(why, whylen, "unknown --group '%s'", group);
		return -1;
	}
	if (p->gid == 0) {
		snprintf(why, whylen, "--group is root's group: refusing");
		return -1;
	}
	/*
	 * The user's groups, as a login would give them (video...), with
	 * the primary group among them: --group adds a group, it does not
	 * take the user's others away.
	 */
	n = PRIVS_GROUPS_MAX;
	if (getgrouplist(p->user, p->gid, p->groups, &n) == -1) {
		snprintf(why, whylen, "--user '%s' is in more than %d groups",
		    user, PRIVS_GROUPS_MAX);
		return -1;
	}
	p->ngroups = n;
	return 0;
}

int
privs_keep_group(struct privs *p, gid_t gid, char *why, size_t whylen)
{
	int i;

	if (!p->drop || gid == 0 || gid == (gid_t)-1)
		return 0;
	for (i = 0; i < p->ngroups; i++)
		if (p->groups[i] == gid)
			return 0;
	if (p->ngroups >= PRIVS_GROUPS_MAX) {
		snprintf(why, whylen, "--user '%s' is in more than %d groups",
		    p->user, PRIVS_GROUPS_MAX);
		return -1;
	}
	p->groups[p->ngroups++] = gid;
	return 0;
}

void
privs_drop(const struct privs *p)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (!p->drop)
		return;
	if (setgroups((size_t)p->ngroups, p->groups) == -1)
		fatal("setgroups");
	if (setresgid(p->gid, p->gid, p->gid) == -1)
		fatal("setresgid %u", (unsigned)p->gid);
	if (setresuid(p->uid, p->uid, p->uid) == -1)
		fatal("setresuid %u", (unsigned)p->uid);
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1)
		fatal("getresuid");
	if (ru != p->uid || eu != p->uid || su != p->uid || rg != p->gid ||
	    eg != p->gid || sg != p->gid)
		fatalx("privilege drop left other ids behind");
	/* All three uids changed from 0, so the kernel cleared every
	 * capability: these must fail now.  Check rather than trust. */
	if (setuid(0) != -1 || seteuid(0) != -1)
		fatalx("could regain root after dropping privileges");
	if (setgid(0) != -1 || setegid(0) != -1)
		fatalx("could regain group root after dropping privileges");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_NO_NEW_PRIVS)");
#if defined(__SANITIZE_ADDRESS__)
	/*
	 * Sanitizer builds only: LeakSanitizer stops the process's threads
	 * from a helper with ptrace at exit, which a setuid-made
	 * non-dumpable process does not allow.
	 */
	(void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
	log_info("running as user %s (uid %u, gid %u, %d groups)", p->user,
	    (unsigned)p->uid, (unsigned)p->gid, p->ngroups);
}
