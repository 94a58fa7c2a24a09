/*
 * ring.c - the shared-memory frame ring.  The contract is in ring.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ring.h"

/*
 * Atomic accessors.  Every word another process may change while we look
 * at it is read through one of these, exactly once per use, so the
 * compiler can neither tear the load nor fetch the same field twice (a
 * bounds check on one load and a copy sized by another would be an
 * out-of-bounds read waiting to happen).
 */
static inline uint64_t
ld64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline uint32_t
ld32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Pairs with st64_release() of the same word by the writer. */
static inline uint64_t
ld64_acquire(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void
st64(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static inline void
st32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* Everything stored before is visible to whoever acquires this value. */
static inline void
st64_release(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/*
 * The four ordering points of a seqlock, named after the kernel's
 * (Documentation/locking/seqlock.rst).
 *
 * ThreadSanitizer does not model standalone fences (GCC refuses them
 * under -fsanitize=thread).  In that build only, the fences are left out
 * and the counter accesses beside them become seq_cst, which TSan does
 * model; the payload copy the fences order is the one suppressed race.
 */
#ifdef __SANITIZE_THREAD__
#define SEQ_FENCE(order)	((void)0)
#define SEQ_ORDER		__ATOMIC_SEQ_CST
#else
#define SEQ_FENCE(order)	__atomic_thread_fence(order)
#define SEQ_ORDER		__ATOMIC_RELAXED
#endif

/*
 * Counter odd: from here readers of the section see "busy".  *mine is the
 * writer's private copy of the counter: the shared word is only stored.
 */
static inline void
seq_write_begin(uint64_t *seq, uint64_t *mine)
{
	*mine += 1 + (*mine & 1);	/* the next odd value */
	__atomic_store_n(seq, *mine, SEQ_ORDER);
	/* The odd count is visible before any store into the section
	 * (smp_wmb() in write_seqcount_begin). */
	SEQ_FENCE(__ATOMIC_RELEASE);
}

/* Counter even: everything stored in the section is visible first. */
static inline void
seq_write_end(uint64_t *seq, uint64_t *mine)
{
	*mine += 1;
	st64_release(seq, *mine);
}

/* The count a read starts from; odd means a write is in progress. */
static inline uint64_t
seq_read_begin(const uint64_t *seq)
{
	return ld64_acquire(seq);
}

/* True if the section changed since seq_read_begin() returned start. */
static inline int
seq_read_retry(const uint64_t *seq, uint64_t start)
{
	/* Orders the section's loads and copy before the re-check
	 * (smp_rmb() in read_seqcount_retry). */
	SEQ_FENCE(__ATOMIC_ACQUIRE);
	return __atomic_load_n(seq, SEQ_ORDER) != start;
}

#ifdef __SANITIZE_THREAD__
/* ThreadSanitizer's dynamic annotations (libtsan exports them). */
void	AnnotateIgnoreReadsBegin(const char *file, int line);
void	AnnotateIgnoreReadsEnd(const char *file, int line);
#endif

/*
 * The one place a reader copies bytes the writer may be changing at the
 * same moment.  The copy may be torn; the caller finds out from the slot's
 * sequence counter and throws it away.  That race is the seqlock protocol,
 * so the thread sanitizer is told to ignore this copy and only this one:
 * by annotation (a suppression in tests/tsan.supp alone is not enough,
 * because TSan often cannot restore the stack of a large memcpy to match
 * it against).
 */
__attribute__((noinline)) static void
ring_copy_payload(void *dst, const void *src, size_t len)
{
#ifdef __SANITIZE_THREAD__
	AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
#endif
	memcpy(dst, src, len);
#ifdef __SANITIZE_THREAD__
	AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
#endif
}

/* Copies a string the writer may be changing, then makes it safe to print:
 * NUL-terminated, printable ASCII only. */
static void
ring_copy_text(char *dst, const char *src, size_t size)
{
	size_t i;

	ring_copy_payload(dst, src, size);
	dst[size - 1] = '\0';
	for (i = 0; i < size && dst[i] != '\0'; i++)
		if ((unsigned char)dst[i] < 0x20 || (unsigned char)dst[i] > 0x7e)
			dst[i] = '?';
}

/* Writes a NUL-padded string of at most size - 1 characters. */
static void
ring_put_text(char *dst, const char *src, size_t size)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	memset(dst + n, 0, size - n);
}

int
ring_name_valid(const char *name)
{
	size_t i, len;

	if (name == NULL)
		return -EINVAL;
	len = strnlen(name, RING_NAME_MAX);
	if (len == 0 || len >= RING_NAME_MAX)
		return -EINVAL;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return -EINVAL;
	}
	return 0;
}

int
ring_camera_name_valid(const char *name)
{
	if (name == NULL || strnlen(name, RING_NAME_MAX) > RING_NAME_MAX - 8)
		return -EINVAL;
	return ring_name_valid(name);
}

uint32_t
ring_slot_size_for(uint32_t max_frame)
{
	uint64_t size = (uint64_t)max_frame + RING_SLOT_HEADER_SIZE;

	size = (size + 4095) & ~(uint64_t)4095;
	if (size < RING_SLOT_SIZE_MIN)
		size = RING_SLOT_SIZE_MIN;
	if (size > RING_SLOT_SIZE_MAX)
		size = RING_SLOT_SIZE_MAX;
	return (uint32_t)size;
}

static int
ring_geometry_valid(uint32_t count, uint32_t size)
{
	if (count < RING_SLOTS_MIN || count > RING_SLOTS_MAX)
		return 0;
	if (size < RING_SLOT_SIZE_MIN || size > RING_SLOT_SIZE_MAX ||
	    size % RING_SLOT_HEADER_SIZE != 0)
		return 0;
	return 1;
}

static uint64_t
ring_new_generation(void)
{
	uint64_t g = 0;

	if (getrandom(&g, sizeof(g), 0) != (ssize_t)sizeof(g))
		g = clock_ns(CLOCK_REALTIME) ^ ((uint64_t)getpid() << 32);
	return g != 0 ? g : 1;
}

int
ring_map_size(uint32_t slot_count, uint32_t slot_size, uint64_t max,
    size_t *size)
{
	uint64_t need;

	if (!ring_geometry_valid(slot_count, slot_size))
		return -EINVAL;
	/* At most 1024 * 256 MiB + 4096: no overflow in 64 bits. */
	need = RING_HEADER_SIZE + (uint64_t)slot_count * slot_size;
	if (need > max || need > SIZE_MAX || need > (uint64_t)INT64_MAX)
		return -EFBIG;
	*size = (size_t)need;
	return 0;
}

/* ---------------------------------------------------------------- writer */

/* Linux 6.3: an memfd that can never be made executable (and is not
 * 0777).  Older kernels refuse the flag: the ring then goes without. */
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL		0x0008U
#endif
/* Linux 5.1; glibc's fcntl.h has it only with new kernel headers. */
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE	0x0010
#endif

static struct ring_slot *
ring_writer_slot(const struct ring_writer *w, uint64_t seq)
{
	return (struct ring_slot *)(w->rw_map + RING_HEADER_SIZE +
	    (size_t)(seq % w->rw_slot_count) * w->rw_slot_size);
}

static int
ring_codec_valid(uint32_t codec)
{
	return codec == RING_CODEC_JPEG || codec == RING_CODEC_H264;
}

int
ring_writer_create(struct ring_writer *w, const char *name,
    uint32_t slot_count, uint32_t slot_size)
{
	return ring_writer_create_codec(w, name, RING_CODEC_JPEG, slot_count,
	    slot_size);
}

int
ring_writer_create_codec(struct ring_writer *w, const char *name,
    uint32_t codec, uint32_t slot_count, uint32_t slot_size)
{
	struct ring_header *h;
	char self[64];
	size_t size;
	int fd, rc;

	memset(w, 0, sizeof(*w));
	w->rw_ro_fd = -1;
	if (ring_name_valid(name) != 0 || !ring_codec_valid(codec))
		return -EINVAL;
	if ((rc = ring_map_size(slot_count, slot_size, SIZE_MAX, &size)) != 0)
		return rc;
	snprintf(w->rw_name, sizeof(w->rw_name), "%s", name);

	fd = memfd_create(name, MFD_ALLOW_SEALING | MFD_CLOEXEC |
	    MFD_NOEXEC_SEAL);
	if (fd == -1 && errno == EINVAL)
		fd = memfd_create(name, MFD_ALLOW_SEALING | MFD_CLOEXEC);
	if (fd == -1)
		return -errno;
	if (ftruncate(fd, (off_t)size) == -1)
		goto fail;
	w->rw_map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	    0);
	if (w->rw_map == MAP_FAILED) {
		w->rw_map = NULL;
		goto fail;
	}
	w->rw_map_size = size;
	/*
	 * From here the size is fixed and nobody, this process included,
	 * can write to the memfd except through the mapping just made
	 * (ring.h).  Then the mode: a read-write open of /proc/PID/fd/N
	 * needs write permission on top of the access to /proc/PID.
	 */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) == -1)
		goto fail;
	if (fchmod(fd, RING_MODE) == -1)
		goto fail;
	/*
	 * The servers' descriptor: a read-only open file of its own.  A
	 * dup() would share this one's read-write access mode; a reopen
	 * through /proc is what makes a read-only one of the same memfd.
	 */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	w->rw_ro_fd = open(self, O_RDONLY | O_CLOEXEC);
	if (w->rw_ro_fd == -1)
		goto fail;
	close(fd);
	fd = -1;
	w->rw_locks = calloc(slot_count, sizeof(*w->rw_locks));
	if (w->rw_locks == NULL) {
		errno = ENOMEM;
		goto fail;
	}

	/* ftruncate() zero-filled everything; only identity is left. */
	h = (struct ring_header *)w->rw_map;
	w->rw_hdr = h;
	w->rw_slot_count = slot_count;
	w->rw_slot_size = slot_size;
	h->rh_abi = RING_ABI_VERSION;
	h->rh_header_size = RING_HEADER_SIZE;
	h->rh_slot_count = slot_count;
	h->rh_slot_size = slot_size;
	h->rh_generation = ring_new_generation();
	h->rh_writer_pid = (uint32_t)getpid();
	h->rh_codec = codec;
	h->rh_created_ns = clock_ns(CLOCK_REALTIME);
	w->rw_identity = *h;
	w->rw_identity.rh_magic = RING_MAGIC;
	/* Magic last: a reader that maps it during creation sees -ENOMSG
	 * until the identity above is complete. */
	st64_release(&h->rh_magic, RING_MAGIC);
	return 0;

fail:
	rc = -errno;
	if (fd != -1)
		close(fd);
	ring_writer_destroy(w);
	return rc;
}

void
ring_writer_destroy(struct ring_writer *w)
{
	if (w->rw_hdr != NULL) {
		struct ring_status st = w->rw_status;

		st.state = RING_STATE_STOPPED;
		snprintf(st.reason, sizeof(st.reason), "capture stopped");
		ring_writer_set_status(w, &st);
	}
	if (w->rw_map != NULL)
		munmap(w->rw_map, w->rw_map_size);
	free(w->rw_locks);
	if (w->rw_ro_fd != -1)
		close(w->rw_ro_fd);
	memset(w, 0, sizeof(*w));
	w->rw_ro_fd = -1;
}

uint8_t *
ring_writer_begin(struct ring_writer *w, uint32_t *capacity)
{
	struct ring_slot *s;

	if (w->rw_open != NULL)
		ring_writer_abort(w);
	s = ring_writer_slot(w, w->rw_seq + 1);
	w->rw_open_lock = &w->rw_locks[(w->rw_seq + 1) % w->rw_slot_count];
	seq_write_begin(&s->rs_seqlock, w->rw_open_lock);
	/* Until commit the slot holds no frame, whatever the payload says. */
	st64(&s->rs_sequence, 0);
	st32(&s->rs_length, 0);
	w->rw_open = s;
	*capacity = w->rw_slot_size - RING_SLOT_HEADER_SIZE;
	return (uint8_t *)s + RING_SLOT_HEADER_SIZE;
}

void
ring_writer_abort(struct ring_writer *w)
{
	struct ring_slot *s = w->rw_open;

	if (s == NULL)
		return;
	/* Even again, empty: sequence 0 never matches what a reader wants. */
	seq_write_end(&s->rs_seqlock, w->rw_open_lock);
	w->rw_open = NULL;
}

int
ring_writer_commit(struct ring_writer *w, struct ring_frame *f)
{
	struct ring_slot *s = w->rw_open;
	uint64_t seq = w->rw_seq + 1;

	if (s == NULL)
		return -EINVAL;
	if (f->length == 0 ||
	    f->length > w->rw_slot_size - RING_SLOT_HEADER_SIZE) {
		ring_writer_abort(w);
		return -EINVAL;
	}
	f->seq = seq;
	f->publish_real_ns = clock_ns(CLOCK_REALTIME);
	f->publish_mono_ns = clock_ns(CLOCK_MONOTONIC);
	f->gap = 0;
	st64(&s->rs_sequence, seq);
	st64(&s->rs_capture_real_ns, f->capture_real_ns);
	st64(&s->rs_capture_mono_ns, f->capture_mono_ns);
	st64(&s->rs_publish_real_ns, f->publish_real_ns);
	st64(&s->rs_publish_mono_ns, f->publish_mono_ns);
	st32(&s->rs_length, f->length);
	st32(&s->rs_width, f->width);
	st32(&s->rs_height, f->height);
	st32(&s->rs_flags, f->flags);
	/* Even: payload and metadata are complete before this is seen. */
	seq_write_end(&s->rs_seqlock, w->rw_open_lock);
	w->rw_counters.bytes += f->length;
	st64(&w->rw_hdr->rh_bytes, w->rw_counters.bytes);
	if (f->flags & RING_FRAME_KEYFRAME) {
		w->rw_counters.keyframe_seq = seq;
		st64(&w->rw_hdr->rh_keyframes, ++w->rw_counters.keyframes);
		st64(&w->rw_hdr->rh_keyframe_seq, seq);
	}
	/* The publication: frame seq is complete for whoever acquires it. */
	st64_release(&w->rw_hdr->rh_latest, seq);
	w->rw_seq = seq;
	w->rw_open = NULL;
	return 0;
}

int
ring_writer_publish(struct ring_writer *w, struct ring_frame *f,
    const void *data)
{
	uint32_t cap;
	uint8_t *p;

	if (f->length == 0 ||
	    f->length > w->rw_slot_size - RING_SLOT_HEADER_SIZE)
		return -EINVAL;
	p = ring_writer_begin(w, &cap);
	memcpy(p, data, f->length);
	return ring_writer_commit(w, f);
}

void
ring_writer_set_status(struct ring_writer *w, const struct ring_status *st)
{
	struct ring_header *h = w->rw_hdr;

	w->rw_status = *st;
	seq_write_begin(&h->rh_status_seq, &w->rw_status_lock);
	st32(&h->rh_width, st->width);
	st32(&h->rh_height, st->height);
	st32(&h->rh_fps_milli, st->fps_milli);
	st32(&h->rh_state, st->state);
	st32(&h->rh_format, st->format);
	ring_put_text(h->rh_source, st->source, sizeof(h->rh_source));
	ring_put_text(h->rh_reason, st->reason, sizeof(h->rh_reason));
	seq_write_end(&h->rh_status_seq, &w->rw_status_lock);
}

int
ring_writer_repair(struct ring_writer *w)
{
	struct ring_header *h = w->rw_hdr;
	const size_t id_len = offsetof(struct ring_header, rh_latest);
	int damaged;

	/* Plain compare: a concurrent scribbler makes this racy by design;
	 * the only consequence is one more or one fewer repair. */
	damaged = memcmp(h, &w->rw_identity, id_len) != 0 ||
	    ld64(&h->rh_latest) != w->rw_seq;
	if (!damaged)
		return 0;
	memcpy((uint8_t *)h + sizeof(h->rh_magic),
	    (const uint8_t *)&w->rw_identity + sizeof(h->rh_magic),
	    id_len - sizeof(h->rh_magic));
	st64_release(&h->rh_latest, w->rw_seq);
	/* Magic last, as at creation. */
	st64_release(&h->rh_magic, RING_MAGIC);
	ring_writer_set_status(w, &w->rw_status);
	return 1;
}

void
ring_writer_heartbeat(struct ring_writer *w, uint64_t mono_ns)
{
	st64(&w->rw_hdr->rh_heartbeat_ns, mono_ns);
}

void
ring_writer_count(struct ring_writer *w, uint64_t captured, uint64_t dropped,
    uint64_t idle, uint64_t restarts)
{
	struct ring_counters *c = &w->rw_counters;
	struct ring_header *h = w->rw_hdr;

	c->frames_captured += captured;
	c->frames_dropped += dropped;
	c->frames_idle += idle;
	c->source_restarts += restarts;
	st64(&h->rh_frames_captured, c->frames_captured);
	st64(&h->rh_frames_dropped, c->frames_dropped);
	st64(&h->rh_frames_idle, c->frames_idle);
	st64(&h->rh_source_restarts, c->source_restarts);
}

void
ring_writer_set_peers(struct ring_writer *w, uint32_t servers,
    uint32_t viewers)
{
	w->rw_counters.servers = servers;
	w->rw_counters.viewers = viewers;
	st32(&w->rw_hdr->rh_servers, servers);
	st32(&w->rw_hdr->rh_viewers, viewers);
}

void
ring_writer_count_encode(struct ring_writer *w, uint64_t encode_ns)
{
	struct ring_counters *c = &w->rw_counters;

	c->encode_ns += encode_ns;
	st64(&w->rw_hdr->rh_encode_ns, c->encode_ns);
	st64(&w->rw_hdr->rh_encoded, ++c->encoded);
}

void
ring_writer_count_requests(struct ring_writer *w, uint64_t requests,
    uint64_t forced)
{
	struct ring_counters *c = &w->rw_counters;

	c->keyframe_requests += requests;
	c->keyframes_forced += forced;
	st64(&w->rw_hdr->rh_keyframe_requests, c->keyframe_requests);
	st64(&w->rw_hdr->rh_keyframes_forced, c->keyframes_forced);
}

int
ring_writer_set_params(struct ring_writer *w, uint64_t from,
    const void *data, uint32_t len, uint32_t bitrate_kbps, uint32_t gop)
{
	struct ring_header *h = w->rw_hdr;

	if (len > RING_PARAMS_MAX)
		return -EMSGSIZE;
	seq_write_begin(&h->rh_params_seq, &w->rw_params_lock);
	st64(&h->rh_params_from, from);
	st32(&h->rh_params_len, len);
	st32(&h->rh_bitrate_kbps, bitrate_kbps);
	st32(&h->rh_gop, gop);
	memcpy(h->rh_params, data, len);
	seq_write_end(&h->rh_params_seq, &w->rw_params_lock);
	return 0;
}

void
ring_writer_set_encoder(struct ring_writer *w, const char *name)
{
	struct ring_header *h = w->rw_hdr;
	char buf[RING_ENCODER_MAX];

	memset(buf, 0, sizeof(buf));
	for (size_t i = 0; i < sizeof(buf) - 1 && name[i] != '\0'; i++)
		buf[i] = name[i];
	seq_write_begin(&h->rh_params_seq, &w->rw_params_lock);
	memcpy(h->rh_encoder, buf, sizeof(buf));
	seq_write_end(&h->rh_params_seq, &w->rw_params_lock);
}

void
ring_writer_inherit(struct ring_writer *w, const struct ring_writer *old)
{
	const struct ring_counters *c = &old->rw_counters;
	struct ring_header *h = w->rw_hdr;
	struct ring_reader r;
	struct ring_params p;

	/* The counters from the old writer's private copies: totals go on
	 * (sequences, and so rh_keyframe_seq, start over). */
	w->rw_counters.bytes = c->bytes;
	w->rw_counters.encode_ns = c->encode_ns;
	w->rw_counters.encoded = c->encoded;
	w->rw_counters.keyframes = c->keyframes;
	st64(&h->rh_bytes, c->bytes);
	st64(&h->rh_encode_ns, c->encode_ns);
	st64(&h->rh_encoded, c->encoded);
	st64(&h->rh_keyframes, c->keyframes);
	ring_writer_count_requests(w, c->keyframe_requests,
	    c->keyframes_forced);
	ring_writer_count(w, c->frames_captured, c->frames_dropped,
	    c->frames_idle, c->source_restarts);
	/* The parameters stay until the next keyframe brings them again;
	 * the sequence numbers start over, so they apply from frame 1.  They
	 * are only in the old mapping, which nobody else can write (sealed):
	 * read back through a reader all the same, trusted no more than any
	 * other. */
	if (ring_reader_attach_mem(&r, old->rw_map, old->rw_map_size) == 0 &&
	    ring_read_params(&r, &p) == 0) {
		if (p.from != 0)
			(void)ring_writer_set_params(w, 1, p.data, p.len,
			    p.bitrate_kbps, p.gop);
		ring_writer_set_encoder(w, p.encoder);
	}
}

/* ---------------------------------------------------------------- reader */

int
ring_header_validate(const void *mem, size_t size, struct ring_geometry *geo)
{
	const struct ring_header *h = mem;
	uint32_t count, slot, codec;
	uint64_t need;

	if (mem == NULL || size < RING_HEADER_SIZE)
		return -EMSGSIZE;
	if (ld64(&h->rh_magic) != RING_MAGIC)
		return -ENOMSG;
	if (ld32(&h->rh_abi) != RING_ABI_VERSION)
		return -EPROTONOSUPPORT;
	if (ld32(&h->rh_header_size) != RING_HEADER_SIZE)
		return -EPROTO;
	codec = ld32(&h->rh_codec);
	if (!ring_codec_valid(codec))
		return -EMEDIUMTYPE;
	count = ld32(&h->rh_slot_count);
	slot = ld32(&h->rh_slot_size);
	if (!ring_geometry_valid(count, slot))
		return -ERANGE;
	/* At most 1024 * 256 MiB + 4096: no overflow in 64 bits, and no
	 * more than size, which is a size_t. */
	need = RING_HEADER_SIZE + (uint64_t)count * slot;
	if (need > size)
		return -EMSGSIZE;
	geo->slot_count = count;
	geo->slot_size = slot;
	geo->generation = ld64(&h->rh_generation);
	geo->writer_pid = ld32(&h->rh_writer_pid);
	geo->codec = codec;
	geo->map_size = (size_t)need;
	return 0;
}

int
ring_reader_attach_mem(struct ring_reader *r, const void *mem, size_t size)
{
	int rc;

	memset(r, 0, sizeof(*r));
	if (((uintptr_t)mem & 63) != 0)
		return -EINVAL;
	rc = ring_header_validate(mem, size, &r->rr_geo);
	if (rc != 0)
		return rc;
	r->rr_map = mem;
	r->rr_map_size = size;
	return 0;
}

int
ring_reader_attach_fd(struct ring_reader *r, int fd)
{
	const int seals = F_SEAL_SHRINK | F_SEAL_GROW;
	struct stat st;
	void *map;
	int rc, fl;

	memset(r, 0, sizeof(*r));
	if (fstat(fd, &st) == -1)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOMSG;
	/* Read-only, and sealed so that nobody can cut the mapping short
	 * under us (a shrink would kill us with SIGBUS). */
	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return -errno;
	if ((fl & O_ACCMODE) != O_RDONLY)
		return -EPERM;
	if ((rc = fcntl(fd, F_GET_SEALS)) == -1 || (rc & seals) != seals)
		return -EPERM;
	if (st.st_size < RING_HEADER_SIZE)
		return -EMSGSIZE;
	if ((uint64_t)st.st_size > (uint64_t)RING_HEADER_SIZE +
	    (uint64_t)RING_SLOTS_MAX * RING_SLOT_SIZE_MAX ||
	    (uint64_t)st.st_size > SIZE_MAX)
		return -ERANGE;
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	rc = ring_reader_attach_mem(r, map, (size_t)st.st_size);
	if (rc != 0) {
		munmap(map, (size_t)st.st_size);
		return rc;
	}
	r->rr_owns_map = 1;
	return 0;
}

void
ring_reader_close(struct ring_reader *r)
{
	if (r->rr_map != NULL && r->rr_owns_map)
		munmap((void *)(uintptr_t)r->rr_map, r->rr_map_size);
	memset(r, 0, sizeof(*r));
}

static const struct ring_header *
ring_reader_hdr(const struct ring_reader *r)
{
	return (const struct ring_header *)r->rr_map;
}

int
ring_reader_check(const struct ring_reader *r)
{
	const struct ring_header *h = ring_reader_hdr(r);

	if (h == NULL)
		return -EINVAL;
	if (ld64(&h->rh_magic) != RING_MAGIC ||
	    ld64(&h->rh_generation) != r->rr_geo.generation)
		return -ESTALE;
	return 0;
}

uint64_t
ring_latest(const struct ring_reader *r)
{
	if (r->rr_map == NULL)
		return 0;
	return ld64_acquire(&ring_reader_hdr(r)->rh_latest);
}

enum slot_result {
	SLOT_OK = 0,
	SLOT_TORN = 1,		/* changed under us: retry */
	SLOT_OVERWRITTEN = 2,	/* holds a newer frame than asked for */
};

/* True if the slot's counter still reads s1 after everything read before. */
static int
ring_slot_stable(const struct ring_slot *s, uint64_t s1)
{
	return !seq_read_retry(&s->rs_seqlock, s1);
}

static int
ring_read_slot(struct ring_reader *r, uint64_t want, struct ring_frame *f,
    void *buf, size_t cap)
{
	const uint32_t count = r->rr_geo.slot_count;
	const uint32_t payload_max = r->rr_geo.slot_size - RING_SLOT_HEADER_SIZE;
	const struct ring_slot *s;
	struct ring_frame m;
	uint64_t s1;

	s = (const struct ring_slot *)(r->rr_map + RING_HEADER_SIZE +
	    (size_t)(want % count) * r->rr_geo.slot_size);
	s1 = seq_read_begin(&s->rs_seqlock);
	if (s1 & 1)
		return SLOT_TORN;

	memset(&m, 0, sizeof(m));
	m.seq = ld64(&s->rs_sequence);
	m.capture_real_ns = ld64(&s->rs_capture_real_ns);
	m.capture_mono_ns = ld64(&s->rs_capture_mono_ns);
	m.publish_real_ns = ld64(&s->rs_publish_real_ns);
	m.publish_mono_ns = ld64(&s->rs_publish_mono_ns);
	m.length = ld32(&s->rs_length);
	m.width = ld32(&s->rs_width);
	m.height = ld32(&s->rs_height);
	m.flags = ld32(&s->rs_flags);

	if (m.seq != want) {
		if (!ring_slot_stable(s, s1))
			return SLOT_TORN;
		/*
		 * The writer lapped us: the slot now holds want + k * count,
		 * or nothing (sequence 0) because it opened the slot for a
		 * later frame and aborted it.
		 */
		if (m.seq == 0 ||
		    (m.seq > want && (m.seq - want) % count == 0))
			return SLOT_OVERWRITTEN;
		return -EBADMSG;
	}
	if (m.length == 0 || m.length > payload_max) {
		if (!ring_slot_stable(s, s1))
			return SLOT_TORN;
		return -EBADMSG;
	}
	if (m.length > cap) {
		if (!ring_slot_stable(s, s1))
			return SLOT_TORN;
		f->length = m.length;
		return -ENOBUFS;
	}
	ring_copy_payload(buf, (const uint8_t *)s + RING_SLOT_HEADER_SIZE,
	    m.length);
	if (!ring_slot_stable(s, s1))
		return SLOT_TORN;
	*f = m;
	return SLOT_OK;
}

static int
ring_read(struct ring_reader *r, uint64_t after, int next,
    struct ring_frame *f, void *buf, size_t cap)
{
	const uint32_t count = r->rr_geo.slot_count;
	uint64_t latest, want, oldest;
	int tries, rc;

	if (r->rr_map == NULL)
		return -EINVAL;
	for (tries = 0; tries < RING_READ_TRIES; tries++) {
		if (ring_reader_check(r) != 0)
			return -ESTALE;
		latest = ld64_acquire(&ring_reader_hdr(r)->rh_latest);
		if (latest == 0)
			return -ENODATA;
		if (latest <= after)
			return -EAGAIN;
		want = latest;
		if (next) {
			/*
			 * The slot after latest may be open for writing, and
			 * it is the slot of latest - count + 1: the oldest
			 * frame certainly held is latest - count + 2.
			 */
			oldest = latest > count - 2 ? latest - (count - 2) : 1;
			want = after + 1 < oldest ? oldest : after + 1;
			if (want != after + 1)
				r->rr_overrun++;
		}
		rc = ring_read_slot(r, want, f, buf, cap);
		if (rc == SLOT_TORN) {
			r->rr_torn++;
			continue;
		}
		if (rc == SLOT_OVERWRITTEN) {
			r->rr_overrun++;
			continue;
		}
		if (rc == -EBADMSG)
			r->rr_invalid++;
		if (rc < 0)
			return rc;
		f->gap = after != 0 && want > after + 1 ? want - after - 1 : 0;
		return 0;
	}
	return -EBUSY;
}

int
ring_read_latest(struct ring_reader *r, uint64_t after, struct ring_frame *f,
    void *buf, size_t cap)
{
	return ring_read(r, after, 0, f, buf, cap);
}

int
ring_read_next(struct ring_reader *r, uint64_t after, struct ring_frame *f,
    void *buf, size_t cap)
{
	return ring_read(r, after, 1, f, buf, cap);
}

int
ring_read_status(const struct ring_reader *r, struct ring_status *st)
{
	const struct ring_header *h = ring_reader_hdr(r);
	uint64_t s1;
	int tries;

	if (h == NULL)
		return -EINVAL;
	for (tries = 0; tries < RING_READ_TRIES; tries++) {
		s1 = seq_read_begin(&h->rh_status_seq);
		if (s1 & 1)
			continue;
		st->width = ld32(&h->rh_width);
		st->height = ld32(&h->rh_height);
		st->fps_milli = ld32(&h->rh_fps_milli);
		st->state = ld32(&h->rh_state);
		st->format = ld32(&h->rh_format);
		ring_copy_text(st->source, h->rh_source, sizeof(st->source));
		ring_copy_text(st->reason, h->rh_reason, sizeof(st->reason));
		if (!seq_read_retry(&h->rh_status_seq, s1))
			return 0;
	}
	return -EBUSY;
}

void
ring_read_counters(const struct ring_reader *r, struct ring_counters *c)
{
	const struct ring_header *h = ring_reader_hdr(r);

	memset(c, 0, sizeof(*c));
	if (h == NULL)
		return;
	c->latest = ld64_acquire(&h->rh_latest);
	c->heartbeat_ns = ld64(&h->rh_heartbeat_ns);
	c->frames_captured = ld64(&h->rh_frames_captured);
	c->frames_dropped = ld64(&h->rh_frames_dropped);
	c->frames_idle = ld64(&h->rh_frames_idle);
	c->source_restarts = ld64(&h->rh_source_restarts);
	c->servers = ld32(&h->rh_servers);
	c->viewers = ld32(&h->rh_viewers);
	c->keyframe_seq = ld64(&h->rh_keyframe_seq);
	c->bytes = ld64(&h->rh_bytes);
	c->encode_ns = ld64(&h->rh_encode_ns);
	c->encoded = ld64(&h->rh_encoded);
	c->keyframes = ld64(&h->rh_keyframes);
	c->keyframe_requests = ld64(&h->rh_keyframe_requests);
	c->keyframes_forced = ld64(&h->rh_keyframes_forced);
}

int
ring_read_params(const struct ring_reader *r, struct ring_params *p)
{
	const struct ring_header *h = ring_reader_hdr(r);
	uint64_t s1;
	uint32_t len;
	int tries;

	if (h == NULL)
		return -EINVAL;
	for (tries = 0; tries < RING_READ_TRIES; tries++) {
		s1 = seq_read_begin(&h->rh_params_seq);
		if (s1 & 1)
			continue;
		p->from = ld64(&h->rh_params_from);
		len = ld32(&h->rh_params_len);
		p->bitrate_kbps = ld32(&h->rh_bitrate_kbps);
		p->gop = ld32(&h->rh_gop);
		if (len > RING_PARAMS_MAX) {
			if (seq_read_retry(&h->rh_params_seq, s1))
				continue;
			return -EBADMSG;
		}
		ring_copy_payload(p->data, h->rh_params, len);
		ring_copy_payload(p->encoder, h->rh_encoder,
		    sizeof(p->encoder));
		if (seq_read_retry(&h->rh_params_seq, s1))
			continue;
		p->len = len;
		/* The writer's word, trusted no more than the rest: up to
		 * the first byte that is not a lower-case letter or digit. */
		for (size_t i = 0; i < sizeof(p->encoder); i++)
			if (!((p->encoder[i] >= 'a' && p->encoder[i] <= 'z') ||
			    (p->encoder[i] >= '0' && p->encoder[i] <= '9'))) {
				p->encoder[i] = '\0';
				break;
			}
		p->encoder[sizeof(p->encoder) - 1] = '\0';
		return 0;
	}
	return -EBUSY;
}

const char *
ring_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -EPERM:
		return "ring descriptor writable or not sealed against resizing";
	case -EMSGSIZE:
		return "shared memory smaller than the ring header or geometry";
	case -ENOMSG:
		return "not a shmcam ring (bad magic)";
	case -EPROTONOSUPPORT:
		return "ring ABI version not supported by this build";
	case -EPROTO:
		return "ring header size differs from this build's";
	case -ERANGE:
		return "ring slot count or slot size out of bounds";
	case -ESTALE:
		return "ring identity changed since attach";
	case -ENODATA:
		return "no frame published yet";
	case -EAGAIN:
		return "no newer frame";
	case -EBUSY:
		return "slot rewritten during every read attempt";
	case -ENOBUFS:
		return "frame larger than the buffer";
	case -EBADMSG:
		return "inconsistent slot (corrupt or hostile writer)";
	case -EMEDIUMTYPE:
		return "ring holds frames of another codec";
	default:
		return strerror(-err);
	}
}

const char *
ring_state_name(uint32_t state)
{
	switch (state) {
	case RING_STATE_STARTING:
		return "starting";
	case RING_STATE_ONLINE:
		return "online";
	case RING_STATE_OFFLINE:
		return "offline";
	case RING_STATE_STOPPED:
		return "stopped";
	default:
		return "unknown";
	}
}

const char *
ring_codec_name(uint32_t codec)
{
	switch (codec) {
	case RING_CODEC_JPEG:
		return "jpeg";
	case RING_CODEC_H264:
		return "h264";
	default:
		return "unknown";
	}
}
