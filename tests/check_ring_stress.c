/*
 * check_ring_stress.c - one writer process publishes checksummed frames of
 * varying sizes as fast as it can into a three-slot ring (the tightest
 * there is) while four reader processes read for several seconds, two
 * always the newest frame, two every next frame.  No frame with a bad
 * checksum may be accepted, accepted sequences only increase, and torn
 * copies are counted and retried.
 *
 * The same run is made twice: with processes (the real deployment) and
 * with threads in one process over one mapping, which is what the thread
 * sanitizer can see (make SANITIZE=thread check-unit).
 *
 * SHMCAM_STRESS_SECONDS sets the duration of each (default 4); each runs
 * on until the writer has published STRESS_FRAMES_MIN frames.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "ring.h"
#include "testutil.h"

#define SLOTS		3
#define SLOT_SIZE	(256 * 1024)
#define PAYLOAD_MAX	(SLOT_SIZE - RING_SLOT_HEADER_SIZE)
#define READERS		4
#define NOISE_SIZE	(1 << 20)

struct reader_result {
	uint64_t accepted;
	uint64_t bad_checksum;
	uint64_t not_increasing;
	uint64_t torn;
	uint64_t overrun;
	uint64_t busy;
	uint64_t gaps;
	uint64_t errors;
};

struct shared {
	int stop;		/* __atomic */
	uint64_t published;	/* __atomic */
	struct reader_result r[READERS];
};

static uint8_t noise[NOISE_SIZE];

static uint64_t
fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n-- > 0)
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

static void
make_noise(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < NOISE_SIZE; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		noise[i] = (uint8_t)x;
	}
}

/* Frame seq: [seq][fnv of the rest][slice of noise], size from seq. */
static uint32_t
frame_len(uint64_t seq)
{
	return 16 + (uint32_t)((seq * 2654435761u) % (PAYLOAD_MAX - 16));
}

static int
writer_loop(struct ring_writer *w, struct shared *sh)
{
	struct ring_frame f;
	uint32_t cap, len;
	uint8_t *p;
	uint64_t seq, h;

	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
		p = ring_writer_begin(w, &cap);
		seq = w->rw_seq + 1;
		len = frame_len(seq);
		memcpy(p + 16, noise + seq % (NOISE_SIZE - PAYLOAD_MAX),
		    len - 16);
		h = fnv1a(p + 16, len - 16);
		memcpy(p, &seq, 8);
		memcpy(p + 8, &h, 8);
		memset(&f, 0, sizeof(f));
		f.length = len;
		f.width = f.height = 16;
		if (ring_writer_commit(w, &f) != 0)
			return 3;
		__atomic_store_n(&sh->published, f.seq, __ATOMIC_RELAXED);
	}
	return 0;
}

/* The writer process: the ring was made before the fork, its mapping
 * is shared with the parent's (MAP_SHARED survives fork()). */
static void
writer(struct ring_writer *w, struct shared *sh)
{
	_exit(writer_loop(w, sh));
}

static int
reader_loop(struct ring_reader *rp, struct shared *sh, int idx)
{
	uint8_t *buf = malloc(PAYLOAD_MAX);
	struct reader_result *res = &sh->r[idx];
	struct ring_frame f;
	uint64_t last = 0, seq, h;
	int next = idx % 2, rc;

	if (buf == NULL)
		return 2;
	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
		rc = next ? ring_read_next(rp, last, &f, buf, PAYLOAD_MAX)
		    : ring_read_latest(rp, last, &f, buf, PAYLOAD_MAX);
		if (rc == -EAGAIN || rc == -ENODATA)
			continue;
		if (rc == -EBUSY) {
			res->busy++;
			continue;
		}
		if (rc != 0) {
			res->errors++;
			continue;
		}
		memcpy(&seq, buf, 8);
		memcpy(&h, buf + 8, 8);
		if (seq != f.seq || f.length != frame_len(seq) ||
		    h != fnv1a(buf + 16, f.length - 16))
			res->bad_checksum++;
		if (f.seq <= last)
			res->not_increasing++;
		if (f.gap != 0)
			res->gaps++;
		last = f.seq;
		res->accepted++;
	}
	res->torn = rp->rr_torn;
	res->overrun = rp->rr_overrun;
	free(buf);
	return 0;
}

/* A reader process: attaches as a server does, by the read-only
 * descriptor (inherited here, passed over the control socket there). */
static void
reader(int ro_fd, struct shared *sh, int idx)
{
	struct ring_reader r;
	int rc;

	if (ring_reader_attach_fd(&r, ro_fd) != 0)
		_exit(2);
	rc = reader_loop(&r, sh, idx);
	ring_reader_close(&r);
	_exit(rc);
}

static int
stress_seconds(void)
{
	const char *env = getenv("SHMCAM_STRESS_SECONDS");
	int seconds = env != NULL ? atoi(env) : 4;

	return seconds < 1 || seconds > 600 ? 4 : seconds;
}

/*
 * The run: at least its length, and at least STRESS_FRAMES_MIN frames
 * published, however slowly a loaded machine
 * (or a sanitizer) lets the writer go; up to STRESS_DEADLINE_S.  What
 * matters is how many frames went through, not how fast.
 */
#define STRESS_FRAMES_MIN	200
#define STRESS_DEADLINE_S	120

static int
run_enough(struct shared *sh)
{
	return __atomic_load_n(&sh->published, __ATOMIC_RELAXED) >=
	    STRESS_FRAMES_MIN;
}

static void
run_for(struct shared *sh, int seconds)
{
	uint64_t start = tu_now_ms();

	while (tu_now_ms() < start + (uint64_t)seconds * 1000 ||
	    (!run_enough(sh) && tu_now_ms() < start + STRESS_DEADLINE_S *
	    1000ull))
		usleep(50000);
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
}

static void
report(const char *how, struct shared *sh, int seconds)
{
	uint64_t total = 0, torn = 0;

	printf("ring stress (%s): %d s, %llu frames published\n", how, seconds,
	    (unsigned long long)sh->published);
	for (int i = 0; i < READERS; i++) {
		struct reader_result *r = &sh->r[i];

		printf("  reader %d (%s): %llu accepted, %llu torn, "
		    "%llu overrun, %llu busy, %llu with gaps\n", i,
		    i % 2 ? "next" : "latest",
		    (unsigned long long)r->accepted,
		    (unsigned long long)r->torn,
		    (unsigned long long)r->overrun,
		    (unsigned long long)r->busy,
		    (unsigned long long)r->gaps);
		ck_assert_uint_eq(r->bad_checksum, 0);
		ck_assert_uint_eq(r->not_increasing, 0);
		ck_assert_uint_eq(r->errors, 0);
		ck_assert_uint_gt(r->accepted, 0);
		total += r->accepted;
		torn += r->torn;
	}
	ck_assert_uint_ge(sh->published, STRESS_FRAMES_MIN);
	printf("  %llu frames verified, %llu torn copies caught\n",
	    (unsigned long long)total, (unsigned long long)torn);
}

START_TEST(test_stress_processes)
{
	int seconds = stress_seconds();
	struct ring_writer w;
	struct shared *sh;
	char name[64];
	pid_t pids[READERS + 1];
	int status, i;

	make_noise();
	snprintf(name, sizeof(name), "shmcam-stress-%d", (int)getpid());
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(sh, MAP_FAILED);
	ck_assert_int_eq(ring_writer_create(&w, name, SLOTS, SLOT_SIZE), 0);

	if ((pids[0] = fork()) == 0)
		writer(&w, sh);
	for (i = 0; i < READERS; i++)
		if ((pids[i + 1] = fork()) == 0)
			reader(w.rw_ro_fd, sh, i);

	run_for(sh, seconds);
	for (i = 0; i <= READERS; i++) {
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "process %d failed: status %d", i, status);
	}
	report("processes", sh, seconds);
	ring_writer_destroy(&w);
	munmap(sh, sizeof(*sh));
}
END_TEST

struct thread_arg {
	struct shared *sh;
	struct ring_writer *w;
	struct ring_reader r;
	int idx;
	int rc;
};

static void *
writer_thread(void *p)
{
	struct thread_arg *a = p;

	a->rc = writer_loop(a->w, a->sh);
	return NULL;
}

static void *
reader_thread(void *p)
{
	struct thread_arg *a = p;

	a->rc = reader_loop(&a->r, a->sh, a->idx);
	return NULL;
}

START_TEST(test_stress_threads)
{
	int seconds = stress_seconds();
	static struct shared sh;
	struct ring_writer w;
	struct thread_arg args[READERS + 1];
	pthread_t th[READERS + 1];
	char name[64];
	int i;

	make_noise();
	memset(&sh, 0, sizeof(sh));
	memset(args, 0, sizeof(args));
	snprintf(name, sizeof(name), "shmcam-stress-t%d", (int)getpid());
	ck_assert_int_eq(ring_writer_create(&w, name, SLOTS, SLOT_SIZE), 0);
	args[0].sh = &sh;
	args[0].w = &w;
	ck_assert_int_eq(pthread_create(&th[0], NULL, writer_thread,
	    &args[0]), 0);
	for (i = 1; i <= READERS; i++) {
		args[i].sh = &sh;
		args[i].idx = i - 1;
		/*
		 * Readers use the writer's own mapping: ThreadSanitizer tracks
		 * virtual addresses, so only then does it see writer and
		 * readers touch the same bytes.
		 */
		ck_assert_int_eq(ring_reader_attach_mem(&args[i].r, w.rw_map,
		    w.rw_map_size), 0);
		ck_assert_int_eq(pthread_create(&th[i], NULL, reader_thread,
		    &args[i]), 0);
	}
	run_for(&sh, seconds);
	for (i = 0; i <= READERS; i++) {
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
		ck_assert_int_eq(args[i].rc, 0);
		if (i > 0)
			ring_reader_close(&args[i].r);
	}
	ring_writer_destroy(&w);
	report("threads", &sh, seconds);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("ring-stress");
	TCase *tc = tcase_create("stress");

	tcase_set_timeout(tc, 660);
	tcase_add_test(tc, test_stress_processes);
	tcase_add_test(tc, test_stress_threads);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
