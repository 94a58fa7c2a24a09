/*
 * auth.c - HTTP Basic authentication (RFC 7617) against --auth-file.
 *
 * The file holds "user:password" lines ('#' comments and blank lines
 * allowed).  A password that starts with a crypt(3) prefix ($y$, $gy$,
 * $7$, $2b$, $2a$, $2y$, $6$, $5$) is a hash, checked with libcrypt's
 * crypt_rn(); anything else is the password itself.
 *
 * Constant time
 *   Plain passwords are never kept: at load each "user:password" becomes
 *   a digest, crypt_rn() with a sha256crypt setting whose salt is random
 *   per process.  A request's credentials go through the same function,
 *   and the result is compared with every known digest, all of them, each
 *   over its full fixed length (ct_equal()), so neither the position of a
 *   mismatch nor the user it concerns shows in the time taken.  Hashed
 *   entries are checked with crypt_rn() against their own hash (whose
 *   slowness is the point); a success is remembered as a digest too, so
 *   that a browser polling /state does not pay for a bcrypt or yescrypt
 *   computation every second.
 *
 * The same cost for every failure
 *   When the file has hashed entries, every credential that no digest
 *   matches costs one crypt_rn() of a hash: the named user's, or, for a
 *   name with no hash (unknown, or a plain password), a dummy hash made
 *   at load with the setting of the first hashed entry.  So the answer's
 *   time does not tell whether a name exists.  (With hashed entries of
 *   different methods or costs, an unknown name costs what the first
 *   entry's method costs.)
 *
 * Not on the event loop, and not without limit
 *   Those crypt_rn() calls cost tens of milliseconds or more (yescrypt,
 *   bcrypt): on the loop thread they would stall every stream.  They run
 *   on one thread of their own (auth_start()); the request waits, parked,
 *   and the loop goes on.  Failures are throttled per client address
 *   (a generic cell rate algorithm: AUTH_FAIL_BURST at once, then one
 *   every AUTH_FAIL_INTERVAL_MS): beyond that a request gets 429 at once,
 *   with no hash computed, and at most AUTH_QUEUE_MAX checks wait for the
 *   thread at a time (503 beyond).  shmcam-rtsp checks Digest answers
 *   itself (no hash to compute) and counts their failures against the
 *   same budgets (auth_admit(), auth_failed()).
 */
#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "server.h"

#define AUTH_FIELD_MAX	256	/* user name, password: bytes with NUL */
#define AUTH_LINE_MAX	1024
#define AUTH_DIGEST_MAX	CRYPT_OUTPUT_SIZE
#define AUTH_HASH_MAX	CRYPT_OUTPUT_SIZE

/* Failures per client address: this many at once, then one every
 * interval (a client that has failed 5 times in a row waits 2 s for
 * each further guess). */
#define AUTH_FAIL_BURST		5
#define AUTH_FAIL_INTERVAL_MS	2000
#define AUTH_THROTTLE_SLOTS	256	/* addresses remembered */
#define AUTH_THROTTLE_PROBES	8
#define AUTH_KEY_MAX		64	/* an address, without its port */
/* Checks waiting for the hashing thread at once. */
#define AUTH_QUEUE_MAX		16
/* The hashing thread's nice value (common/sandbox.c allows this one). */
#define AUTH_THREAD_NICE	10

struct auth_user {
	char	 au_name[AUTH_FIELD_MAX];
	char	*au_hash;			/* NULL: plain password */
	int	 au_known;			/* au_digest is valid */
	char	 au_digest[AUTH_DIGEST_MAX];	/* of "user:password" */
};

/* A client address's failures: the time its budget is back in full
 * (a GCRA's "theoretical arrival time"); 0 or past: a free slot. */
struct auth_throttle {
	char	 at_key[AUTH_KEY_MAX];
	uint64_t at_tat_ns;
};

/* A check that needs crypt_rn(), done on the hashing thread. */
struct auth_job {
	TAILQ_ENTRY(auth_job) aj_entry;		/* a_jobs, a_done */
	TAILQ_ENTRY(auth_job) aj_active;	/* a_active */
	/* The loop's: whom to tell, and what to remember on success. */
	auth_done_fn	*aj_done;
	void		*aj_arg;
	const void	*aj_key;
	int		 aj_cancelled;
	int		 aj_user;			/* index, or -1 */
	char		 aj_who[AUTH_FIELD_MAX];
	char		 aj_addr[AUTH_KEY_MAX];
	char		 aj_digest[AUTH_DIGEST_MAX];
	/* The thread's: input and answer. */
	char		 aj_pass[AUTH_FIELD_MAX];
	char		 aj_hash[AUTH_HASH_MAX];
	int		 aj_ok;
};

TAILQ_HEAD(auth_jobs, auth_job);

struct auth {
	struct auth_user *a_users;
	unsigned	 a_n;
	unsigned	 a_nhashed;
	char		 a_setting[CRYPT_GENSALT_OUTPUT_SIZE];
	char		 a_dummy[AUTH_HASH_MAX];	/* for names with no hash */
	struct crypt_data a_cd;			/* 32 KiB: not on the stack */
	struct auth_throttle a_throttle[AUTH_THROTTLE_SLOTS];
	uint64_t	 a_throttled;		/* answered 429 */

	/* The hashing thread; a_jobs and a_done under a_lock. */
	int		 a_started;
	pthread_t	 a_thread;
	pthread_mutex_t	 a_lock;
	pthread_cond_t	 a_cond;
	struct auth_jobs a_jobs;		/* for the thread */
	struct auth_jobs a_done;		/* for the loop */
	struct auth_jobs a_active;		/* the loop's: all not done */
	unsigned	 a_queued;		/* in a_active */
	int		 a_quit;
	int		 a_efd;			/* thread -> loop wake-up */
	struct event	*a_ev;
	struct crypt_data a_tcd;		/* the thread's */
};

static const char *const hash_prefixes[] = {
	"$y$", "$gy$", "$7$", "$2b$", "$2a$", "$2y$", "$6$", "$5$",
};

int
ct_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

int
auth_is_hash(const char *pw)
{
	size_t i;

	for (i = 0; i < sizeof(hash_prefixes) / sizeof(hash_prefixes[0]); i++)
		if (strncmp(pw, hash_prefixes[i], strlen(hash_prefixes[i])) == 0)
			return 1;
	return 0;
}

int
auth_parse_line(const char *line, char *user, size_t usize, char *pass,
    size_t psize)
{
	const char *colon;
	size_t len = strlen(line), ulen;

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len == 0 || line[0] == '#')
		return 0;
	colon = memchr(line, ':', len);
	if (colon == NULL)
		return -EINVAL;
	ulen = (size_t)(colon - line);
	if (ulen == 0 || ulen >= usize || len - ulen - 1 == 0 ||
	    len - ulen - 1 >= psize)
		return -EINVAL;
	if (memchr(line, '\0', len) != NULL)
		return -EINVAL;
	memcpy(user, line, ulen);
	user[ulen] = '\0';
	memcpy(pass, colon + 1, len - ulen - 1);
	pass[len - ulen - 1] = '\0';
	return 1;
}

static int
b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
auth_decode_basic(const char *header, char *user, size_t usize, char *pass,
    size_t psize)
{
	char buf[2 * AUTH_FIELD_MAX];
	const char *p = header, *colon;
	size_t n = 0, ulen, plen;
	unsigned acc = 0;
	int bits = 0, v, pad = 0;

	if (strncasecmp(p, "Basic", 5) != 0 || (p[5] != ' ' && p[5] != '\t'))
		return -EINVAL;
	for (p += 5; *p == ' ' || *p == '\t'; p++)
		;
	for (; *p != '\0' && *p != ' ' && *p != '\t'; p++) {
		if (*p == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (v = b64_value((unsigned char)*p)) < 0)
			return -EINVAL;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= sizeof(buf) - 1)
				return -EINVAL;
			buf[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '\0' || pad > 2)
		return -EINVAL;
	if (memchr(buf, '\0', n) != NULL)
		return -EINVAL;
	colon = memchr(buf, ':', n);
	if (colon == NULL)
		return -EINVAL;
	ulen = (size_t)(colon - buf);
	plen = n - ulen - 1;
	if (ulen >= usize || plen >= psize)
		return -EINVAL;
	memcpy(user, buf, ulen);
	user[ulen] = '\0';
	memcpy(pass, colon + 1, plen);
	pass[plen] = '\0';
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

/* The per-process digest of "user:password" into out[AUTH_DIGEST_MAX]. */
static int
auth_digest(struct auth *a, const char *user, const char *pass, char *out)
{
	char both[2 * AUTH_FIELD_MAX + 1];
	char *r;

	snprintf(both, sizeof(both), "%s:%s", user, pass);
	memset(&a->a_cd, 0, sizeof(a->a_cd));
	r = crypt_rn(both, a->a_setting, &a->a_cd, sizeof(a->a_cd));
	explicit_bzero(both, sizeof(both));
	if (r == NULL || r[0] == '*')
		return -EINVAL;
	memset(out, 0, AUTH_DIGEST_MAX);
	snprintf(out, AUTH_DIGEST_MAX, "%s", r);
	return 0;
}

int
auth_new(struct auth **ap)
{
	struct auth *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return -ENOMEM;
	/* rbytes NULL: libcrypt takes the salt from the kernel. */
	if (crypt_gensalt_rn("$5$", 1000, NULL, 0, a->a_setting,
	    sizeof(a->a_setting)) == NULL) {
		free(a);
		return -EINVAL;
	}
	TAILQ_INIT(&a->a_jobs);
	TAILQ_INIT(&a->a_done);
	TAILQ_INIT(&a->a_active);
	pthread_mutex_init(&a->a_lock, NULL);
	pthread_cond_init(&a->a_cond, NULL);
	a->a_efd = -1;
	*ap = a;
	return 0;
}

/*
 * The hash checked for a name that has none: a random password hashed
 * with hash's own setting (method, cost, salt), so that it costs what
 * checking hash costs.
 */
static int
auth_make_dummy(struct auth *a, const char *hash)
{
	unsigned char rnd[24];
	char pw[2 * sizeof(rnd) + 1];
	char *r;
	size_t i;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(pw + 2 * i, 3, "%02x", rnd[i]);
	memset(&a->a_cd, 0, sizeof(a->a_cd));
	r = crypt_rn(pw, hash, &a->a_cd, sizeof(a->a_cd));
	explicit_bzero(pw, sizeof(pw));
	if (r == NULL || r[0] == '*' || strlen(r) >= sizeof(a->a_dummy))
		return -EINVAL;
	snprintf(a->a_dummy, sizeof(a->a_dummy), "%s", r);
	return 0;
}

int
auth_add(struct auth *a, const char *user, const char *pass)
{
	struct auth_user *u;
	char *r;

	u = reallocarray(a->a_users, a->a_n + 1, sizeof(*u));
	if (u == NULL)
		return -ENOMEM;
	a->a_users = u;
	u = &u[a->a_n];
	memset(u, 0, sizeof(*u));
	if (strlen(user) >= sizeof(u->au_name))
		return -EINVAL;
	snprintf(u->au_name, sizeof(u->au_name), "%s", user);
	if (auth_is_hash(pass)) {
		/* A hash libcrypt cannot use would never match: refuse it
		 * now rather than lock the user out silently. */
		memset(&a->a_cd, 0, sizeof(a->a_cd));
		r = crypt_rn("", pass, &a->a_cd, sizeof(a->a_cd));
		if (r == NULL || r[0] == '*' || strlen(r) != strlen(pass) ||
		    strlen(pass) >= AUTH_HASH_MAX)
			return -EPROTONOSUPPORT;
		if (a->a_nhashed == 0 && auth_make_dummy(a, pass) != 0)
			return -EPROTONOSUPPORT;
		if ((u->au_hash = strdup(pass)) == NULL)
			return -ENOMEM;
		a->a_nhashed++;
	} else {
		if (auth_digest(a, user, pass, u->au_digest) != 0)
			return -EINVAL;
		u->au_known = 1;
	}
	a->a_n++;
	return 0;
}

int
auth_load(struct auth **ap, const char *path, char *err, size_t errlen)
{
	char line[AUTH_LINE_MAX + 2];
	char user[AUTH_FIELD_MAX], pass[AUTH_FIELD_MAX];
	struct auth *a = NULL;
	struct stat st;
	unsigned lineno = 0;
	FILE *f;
	int rc;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -errno;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0004))
		log_warnx("--auth-file %s is readable by everyone", path);
	if ((rc = auth_new(&a)) != 0) {
		snprintf(err, errlen, "libcrypt has no sha256crypt");
		goto fail;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errlen, "line %u: longer than %d bytes",
			    lineno, AUTH_LINE_MAX);
			rc = -EINVAL;
			goto fail;
		}
		rc = auth_parse_line(line, user, sizeof(user), pass,
		    sizeof(pass));
		if (rc == 0)
			continue;
		if (rc < 0) {
			snprintf(err, errlen, "line %u: expected user:password "
			    "(user without ':', neither empty, each under "
			    "%d bytes)", lineno, AUTH_FIELD_MAX);
			goto fail;
		}
		rc = auth_add(a, user, pass);
		explicit_bzero(pass, sizeof(pass));
		if (rc != 0) {
			snprintf(err, errlen, "line %u: %s", lineno,
			    rc == -EPROTONOSUPPORT ? "password hash not "
			    "supported by libcrypt" : strerror(-rc));
			goto fail;
		}
	}
	explicit_bzero(line, sizeof(line));
	if (a->a_n == 0) {
		snprintf(err, errlen, "no user:password line");
		rc = -EINVAL;
		goto fail;
	}
	fclose(f);
	*ap = a;
	return 0;
fail:
	explicit_bzero(line, sizeof(line));
	fclose(f);
	auth_free(a);
	return rc < 0 ? rc : -EINVAL;
}

unsigned
auth_count(const struct auth *a)
{
	return a != NULL ? a->a_n : 0;
}

/*
 * The loop's part of a check.  1: the credentials match a digest (the
 * user in who); 0: they do not, and crypt_rn() of *hash must decide (the
 * named user's hash, or the dummy: see the top of this file; *user is
 * the named entry or -1); -1: no credentials, or no hashed entries to
 * try (denied at once, which costs the same for every name).
 */
static int
auth_first(struct auth *a, const char *header, char *user, char *pass,
    char *digest, const char **hash, int *named)
{
	char name[AUTH_FIELD_MAX];
	struct auth_user *u;
	unsigned i;
	int ok = 0, match;

	*named = -1;
	*hash = NULL;
	if (header == NULL || auth_decode_basic(header, user, AUTH_FIELD_MAX,
	    pass, AUTH_FIELD_MAX) != 0)
		return -1;
	if (auth_digest(a, user, pass, digest) != 0)
		return -1;
	memset(name, 0, sizeof(name));
	snprintf(name, sizeof(name), "%s", user);
	/* Every entry, every byte: no early exit. */
	for (i = 0; i < a->a_n; i++) {
		u = &a->a_users[i];
		match = ct_equal(u->au_digest, digest, AUTH_DIGEST_MAX);
		ok |= u->au_known & match;
		if (ct_equal(u->au_name, name, sizeof(name)) && u->au_hash)
			*named = (int)i;
	}
	if (ok)
		return 1;
	if (a->a_nhashed == 0)
		return -1;
	*hash = *named >= 0 ? a->a_users[*named].au_hash : a->a_dummy;
	return 0;
}

/* 1 if pass hashes to hash (the slow part, on either thread). */
static int
auth_hash_matches(const char *pass, const char *hash, struct crypt_data *cd)
{
	char *r;
	int ok;

	memset(cd, 0, sizeof(*cd));
	r = crypt_rn(pass, hash, cd, sizeof(*cd));
	ok = r != NULL && r[0] != '*' && strlen(r) == strlen(hash) &&
	    ct_equal(r, hash, strlen(r));
	explicit_bzero(cd, sizeof(*cd));
	return ok;
}

/* A hashed entry's password that matched: a digest from now on. */
static void
auth_remember(struct auth *a, int user, const char *digest)
{
	memcpy(a->a_users[user].au_digest, digest, AUTH_DIGEST_MAX);
	a->a_users[user].au_known = 1;
}

int
auth_check(struct auth *a, const char *header, char *who, size_t whosize)
{
	char user[AUTH_FIELD_MAX], pass[AUTH_FIELD_MAX];
	char digest[AUTH_DIGEST_MAX];
	const char *hash;
	int rc, named, ok = 0;

	rc = auth_first(a, header, user, pass, digest, &hash, &named);
	if (rc == 1)
		ok = 1;
	else if (rc == 0) {
		/* The dummy is checked as dearly as a user's hash, and
		 * never matches anyone. */
		ok = auth_hash_matches(pass, hash, &a->a_cd) && named >= 0;
		if (ok)
			auth_remember(a, named, digest);
	}
	if (ok && who != NULL)
		snprintf(who, whosize, "%s", user);
	explicit_bzero(pass, sizeof(pass));
	explicit_bzero(digest, sizeof(digest));
	return ok;
}

/* ------------------------------------------------------- throttling */

/* The client's address without its port: "1.2.3.4:5" and "[::1]:5" give
 * "1.2.3.4" and "::1"; anything else (a unix socket's peer) as it is. */
static void
auth_addr_key(const char *addr, char *key)
{
	const char *end;
	size_t n;

	if (addr[0] == '[' && (end = strchr(addr, ']')) != NULL) {
		n = (size_t)(end - addr - 1);
		addr++;
	} else if ((end = strrchr(addr, ':')) != NULL &&
	    strchr(addr, ':') == end)
		n = (size_t)(end - addr);
	else
		n = strlen(addr);
	if (n >= AUTH_KEY_MAX)
		n = AUTH_KEY_MAX - 1;
	memcpy(key, addr, n);
	key[n] = '\0';
}

/*
 * The slot of key, or NULL.  With create, a slot is found for it: its
 * own, else a free one (budget back in full) among the probes, else the
 * one nearest to being free.  A flood of addresses can thus push a
 * throttled one out early, which costs that one's attacker nothing he
 * could not have had from another address anyway.
 */
static struct auth_throttle *
auth_throttle_slot(struct auth *a, const char *key, uint64_t now, int create)
{
	struct auth_throttle *t, *best = NULL;
	uint64_t h = 0xcbf29ce484222325ull;
	unsigned i;

	for (const char *p = key; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	for (i = 0; i < AUTH_THROTTLE_PROBES; i++) {
		t = &a->a_throttle[(h + i) % AUTH_THROTTLE_SLOTS];
		if (t->at_tat_ns > now && strcmp(t->at_key, key) == 0)
			return t;
		if (best == NULL || t->at_tat_ns < best->at_tat_ns)
			best = t;
	}
	if (!create)
		return NULL;
	snprintf(best->at_key, sizeof(best->at_key), "%s", key);
	best->at_tat_ns = 0;
	return best;
}

#define AUTH_FAIL_INTERVAL_NS	((uint64_t)AUTH_FAIL_INTERVAL_MS * 1000000u)
#define AUTH_FAIL_TOLERANCE_NS	((AUTH_FAIL_BURST - 1) * AUTH_FAIL_INTERVAL_NS)

/* 0 if key may fail once more (and take, if take), else the time until
 * it may, rounded up to seconds (at least 1). */
static unsigned
auth_throttle(struct auth *a, const char *key, uint64_t now, int take)
{
	struct auth_throttle *t = auth_throttle_slot(a, key, now, take);
	uint64_t tat;

	if (t == NULL)
		return 0;
	tat = t->at_tat_ns > now ? t->at_tat_ns : now;
	if (tat - now > AUTH_FAIL_TOLERANCE_NS)
		return (unsigned)((tat - now - AUTH_FAIL_TOLERANCE_NS +
		    999999999u) / 1000000000u);
	if (take)
		t->at_tat_ns = tat + AUTH_FAIL_INTERVAL_NS;
	return 0;
}

/* A failure taken in advance that turned out a success. */
static void
auth_throttle_refund(struct auth *a, const char *key, uint64_t now)
{
	struct auth_throttle *t = auth_throttle_slot(a, key, now, 0);

	if (t != NULL)
		t->at_tat_ns = t->at_tat_ns > now + AUTH_FAIL_INTERVAL_NS ?
		    t->at_tat_ns - AUTH_FAIL_INTERVAL_NS : 0;
}

int
auth_admit(struct auth *a, const char *addr, unsigned *retry_after)
{
	char akey[AUTH_KEY_MAX];

	auth_addr_key(addr, akey);
	*retry_after = auth_throttle(a, akey, clock_ns(CLOCK_MONOTONIC), 0);
	if (*retry_after == 0)
		return AUTH_OK;
	a->a_throttled++;
	return AUTH_THROTTLED;
}

void
auth_failed(struct auth *a, const char *addr)
{
	char akey[AUTH_KEY_MAX];

	auth_addr_key(addr, akey);
	(void)auth_throttle(a, akey, clock_ns(CLOCK_MONOTONIC), 1);
}

void
auth_throttle_forget(struct auth *a)
{
	memset(a->a_throttle, 0, sizeof(a->a_throttle));
}

uint64_t
auth_throttled(const struct auth *a)
{
	return a != NULL ? a->a_throttled : 0;
}

/* ------------------------------------------------- the hashing thread */

static void *
auth_thread(void *arg)
{
	struct auth *a = arg;
	struct auth_job *j;
	static const uint64_t one = 1;
	int ok;

	/*
	 * A low priority: on a machine short of CPU, the event loop and
	 * the capture win over a hash (a nice value of 10 weighs 110
	 * against the 1024 of the default), while the hash still gets a
	 * share that does not starve it (19 weighs 15: a login took
	 * minutes at a load of 12).  A thread's nice value is its own on
	 * Linux (setpriority(2) with its tid).  Under systemd's filter (no
	 * @resources) this fails with EPERM, and the thread simply keeps
	 * the default priority.
	 */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), AUTH_THREAD_NICE);

	pthread_mutex_lock(&a->a_lock);
	for (;;) {
		while (!a->a_quit && TAILQ_EMPTY(&a->a_jobs))
			pthread_cond_wait(&a->a_cond, &a->a_lock);
		if (a->a_quit)
			break;
		j = TAILQ_FIRST(&a->a_jobs);
		TAILQ_REMOVE(&a->a_jobs, j, aj_entry);
		pthread_mutex_unlock(&a->a_lock);

		ok = auth_hash_matches(j->aj_pass, j->aj_hash, &a->a_tcd);
		explicit_bzero(j->aj_pass, sizeof(j->aj_pass));

		pthread_mutex_lock(&a->a_lock);
		j->aj_ok = ok;
		TAILQ_INSERT_TAIL(&a->a_done, j, aj_entry);
		/* A wake-up for the loop; a full counter is one pending. */
		if (write(a->a_efd, &one, sizeof(one)) == -1) {
			/* EAGAIN: a wake-up is pending already. */
		}
	}
	pthread_mutex_unlock(&a->a_lock);
	return NULL;
}

/* The loop: checks the thread has finished. */
static void
auth_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct auth *a = arg;
	struct auth_jobs done;
	struct auth_job *j;
	uint64_t count, now = clock_ns(CLOCK_MONOTONIC);
	int ok;

	(void)what;
	if (read(fd, &count, sizeof(count)) == -1) {
		/* EAGAIN: another callback took the wake-up. */
	}
	TAILQ_INIT(&done);
	pthread_mutex_lock(&a->a_lock);
	TAILQ_CONCAT(&done, &a->a_done, aj_entry);
	pthread_mutex_unlock(&a->a_lock);
	while ((j = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, j, aj_entry);
		TAILQ_REMOVE(&a->a_active, j, aj_active);
		ok = j->aj_ok && j->aj_user >= 0;
		if (ok) {
			auth_remember(a, j->aj_user, j->aj_digest);
			auth_throttle_refund(a, j->aj_addr, now);
		}
		if (!j->aj_cancelled)
			j->aj_done(j->aj_arg, ok ? AUTH_OK : AUTH_DENIED,
			    ok ? j->aj_who : NULL);
		a->a_queued--;
		explicit_bzero(j, sizeof(*j));
		free(j);
	}
}

int
auth_setup(struct auth *a, struct event_base *base)
{
	if (a == NULL || a->a_nhashed == 0)
		return 0;
	a->a_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->a_efd == -1)
		return -errno;
	a->a_ev = event_new(base, a->a_efd, EV_READ | EV_PERSIST,
	    auth_done_cb, a);
	if (a->a_ev == NULL || event_add(a->a_ev, NULL) == -1)
		return -ENOMEM;
	return 0;
}

int
auth_start(struct auth *a)
{
	int rc;

	if (a == NULL || a->a_ev == NULL)
		return 0;
	if ((rc = pthread_create(&a->a_thread, NULL, auth_thread, a)) != 0)
		return -rc;
	a->a_started = 1;
	return 0;
}

int
auth_request(struct auth *a, const char *header, const char *addr,
    char *who, size_t whosize, unsigned *retry_after, auth_done_fn *done,
    void *arg, const void *key)
{
	char user[AUTH_FIELD_MAX], pass[AUTH_FIELD_MAX];
	char digest[AUTH_DIGEST_MAX], akey[AUTH_KEY_MAX];
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	const char *hash;
	struct auth_job *j;
	int rc, named, result;

	*retry_after = 0;
	/* No credentials at all cost nothing: a browser's first request. */
	if (header == NULL)
		return AUTH_DENIED;
	if (auth_admit(a, addr, retry_after) != AUTH_OK)
		return AUTH_THROTTLED;
	auth_addr_key(addr, akey);
	rc = auth_first(a, header, user, pass, digest, &hash, &named);
	if (rc == 1) {
		snprintf(who, whosize, "%s", user);
		result = AUTH_OK;
	} else if (rc < 0) {
		(void)auth_throttle(a, akey, now, 1);
		result = AUTH_DENIED;
	} else if (!a->a_started || key == NULL) {
		/* No thread (or no way to hear of the connection closing):
		 * on the loop, as dearly. */
		(void)auth_throttle(a, akey, now, 1);
		result = AUTH_DENIED;
		if (auth_hash_matches(pass, hash, &a->a_cd) && named >= 0) {
			auth_remember(a, named, digest);
			auth_throttle_refund(a, akey, now);
			snprintf(who, whosize, "%s", user);
			result = AUTH_OK;
		}
	} else if (a->a_queued >= AUTH_QUEUE_MAX) {
		result = AUTH_BUSY;
	} else if ((j = calloc(1, sizeof(*j))) == NULL) {
		result = AUTH_BUSY;
	} else {
		/* Taken now, given back if it turns out a success: a client
		 * cannot queue more than its budget of checks at once. */
		(void)auth_throttle(a, akey, now, 1);
		j->aj_done = done;
		j->aj_arg = arg;
		j->aj_key = key;
		j->aj_user = named;
		snprintf(j->aj_who, sizeof(j->aj_who), "%s", user);
		snprintf(j->aj_addr, sizeof(j->aj_addr), "%s", akey);
		memcpy(j->aj_digest, digest, sizeof(j->aj_digest));
		snprintf(j->aj_pass, sizeof(j->aj_pass), "%s", pass);
		snprintf(j->aj_hash, sizeof(j->aj_hash), "%s", hash);
		TAILQ_INSERT_TAIL(&a->a_active, j, aj_active);
		a->a_queued++;
		pthread_mutex_lock(&a->a_lock);
		TAILQ_INSERT_TAIL(&a->a_jobs, j, aj_entry);
		pthread_cond_signal(&a->a_cond);
		pthread_mutex_unlock(&a->a_lock);
		result = AUTH_PENDING;
	}
	explicit_bzero(pass, sizeof(pass));
	explicit_bzero(digest, sizeof(digest));
	return result;
}

void
auth_cancel(struct auth *a, const void *key)
{
	struct auth_job *j;

	if (a == NULL)
		return;
	TAILQ_FOREACH(j, &a->a_active, aj_active)
		if (j->aj_key == key)
			j->aj_cancelled = 1;
}

void
auth_free(struct auth *a)
{
	struct auth_job *j;
	unsigned i;

	if (a == NULL)
		return;
	if (a->a_started) {
		pthread_mutex_lock(&a->a_lock);
		a->a_quit = 1;
		pthread_cond_broadcast(&a->a_cond);
		pthread_mutex_unlock(&a->a_lock);
		pthread_join(a->a_thread, NULL);
	}
	while ((j = TAILQ_FIRST(&a->a_active)) != NULL) {
		TAILQ_REMOVE(&a->a_active, j, aj_active);
		explicit_bzero(j, sizeof(*j));
		free(j);
	}
	if (a->a_ev != NULL)
		event_free(a->a_ev);
	if (a->a_efd != -1)
		close(a->a_efd);
	pthread_mutex_destroy(&a->a_lock);
	pthread_cond_destroy(&a->a_cond);
	for (i = 0; i < a->a_n; i++)
		free(a->a_users[i].au_hash);
	if (a->a_users != NULL)
		explicit_bzero(a->a_users, a->a_n * sizeof(*a->a_users));
	free(a->a_users);
	explicit_bzero(a, sizeof(*a));
	free(a);
}
