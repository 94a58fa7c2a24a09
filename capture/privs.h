/*
 * privs.h - dropping root before the capture enters its loop.
 *
 * The capture opens what needs privileges first (the device, the ring,
 * the control socket), then, if it runs as root, becomes --user, by
 * default PRIVS_DEFAULT_USER (the user "make install" creates through
 * sysusers.d, in groups video and shmcam); with no such user it refuses
 * to start and says to pass --user.  It sets the supplementary groups
 * (the user's own, --group too when one is given, and the group that
 * owns the video device), then the real, effective and saved group ids
 * (--group, else the user's), then the user ids, each call checked; then
 * it makes sure it can get neither id 0 back, and sets
 * PR_SET_NO_NEW_PRIVS so nothing it might execute could gain privileges
 * either.  Any failure is fatal: the loop never runs as root.
 *
 * After the drop the device is reopened (after an unplug) as that user:
 * the device's group, kept whatever --group says, is what lets it.
 */
#ifndef SHMCAM_PRIVS_H
#define SHMCAM_PRIVS_H

#include <sys/types.h>

#define PRIVS_GROUPS_MAX	64
#define PRIVS_DEFAULT_USER	"shmcam-capture"

struct privs {
	int	 drop;			/* running as root: drop to uid/gid */
	uid_t	 uid;
	gid_t	 gid;
	gid_t	 groups[PRIVS_GROUPS_MAX];
	int	 ngroups;
	char	 user[64];
};

/* A group by name or number: 0 and *gid, or -1 if there is none. */
int	privs_lookup_group(const char *name, gid_t *gid);
/*
 * Resolves --user and --group (names or numbers; user NULL: the default
 * user) if the process runs as root; else notes that there is nothing
 * to drop.  0, or -1 with why[] (an unknown user or group, no default
 * user, root's ids).
 */
int	privs_resolve(struct privs *p, const char *user, const char *group,
	    char *why, size_t whylen);
/*
 * Keeps gid among the supplementary groups after the drop (the group of
 * the video device, so that it can be reopened after an unplug).  Root's
 * group 0 is never kept.  0, or -1 with why[] if there is no room.
 */
int	privs_keep_group(struct privs *p, gid_t gid, char *why, size_t whylen);
/* Drops to p (if p->drop); fatal on any failure. */
void	privs_drop(const struct privs *p);

#endif /* SHMCAM_PRIVS_H */
