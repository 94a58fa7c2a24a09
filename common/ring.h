/*
 * ring.h - the shared-memory frame ring: the contract between one capture
 * process (the only writer) and any number of server processes (readers).
 *
 * Layout of the ring's memory:
 *
 *   offset 0                      struct ring_header  (RING_HEADER_SIZE)
 *   offset rh_header_size         slot 0: struct ring_slot, then the frame
 *   ... + i * rh_slot_size        slot i
 *
 * Codecs
 *   A capture publishes one ring per kind of stream, each of this same
 *   design, and says in rh_codec (W once) what its frames are:
 *
 *   RING_CODEC_JPEG  ("shmcam-NAME")  every frame a complete JPEG (SOI to
 *       EOI); always there.
 *   RING_CODEC_H264  ("shmavc-NAME")  every frame one H.264 access unit
 *       (one picture), when the capture has H.264 (--h264).  The payload
 *       is the access unit's NAL units in decoding order, each preceded
 *       by its length as a 4-byte big-endian integer (the sample format
 *       of ISO/IEC 14496-15 with lengthSizeMinusOne = 3; no start codes,
 *       no access unit delimiter, emulation prevention bytes kept).  No
 *       B-frames: decoding order is presentation order, and capture
 *       times increase from frame to frame.  A frame flagged
 *       RING_FRAME_KEYFRAME is an IDR picture whose payload starts with
 *       the SPS and PPS it uses, so a reader can start decoding at any
 *       keyframe without anything else.  The header holds the current
 *       SPS and PPS too (rh_params, below), for a reader that attaches
 *       between keyframes; rh_keyframe_seq says where the newest
 *       keyframe is.  common/h264.h checks and walks these payloads.
 *   A reader checks rh_codec (ring_geometry.codec) against the kind it
 *   asked for: the control socket says which ring is which (ctl.h), but
 *   the mapping is the authority.
 *
 * Only fixed-width types appear in shared memory; sizes and offsets are
 * pinned by _Static_assert below and by tests/check_ring.c, so a reader and
 * a writer built by different compilers or with different flags agree.
 *
 * The memory: a sealed memfd, and nothing else can change it
 *   The capture creates the ring at every start as an anonymous memfd
 *   (memfd_create(2) with MFD_ALLOW_SEALING), named for /proc/PID/fd and
 *   /proc/PID/maps only ("/memfd:shmcam-NAME", "/memfd:shmavc-NAME"): there is no name in
 *   /dev/shm or anywhere else to open it by.  It maps the memfd
 *   read-write, then seals it (fcntl(2) F_ADD_SEALS):
 *
 *     F_SEAL_SHRINK, F_SEAL_GROW   its size never changes, so nobody's
 *                                  mapping is ever cut short (a shrink
 *                                  would kill every mapper with SIGBUS)
 *     F_SEAL_FUTURE_WRITE          no write(2), no new writable shared
 *                                  mapping, no mprotect() of a read-only
 *                                  one to writable, for anyone, root
 *                                  included; the capture's own mapping,
 *                                  made before the seal, stays writable
 *                                  (F_SEAL_WRITE cannot be used: it
 *                                  refuses while that mapping exists)
 *     F_SEAL_SEAL                  and no seal is ever added or removed
 *
 *   and makes it mode 0400.  Servers get a read-only descriptor (an
 *   O_RDONLY reopen of /proc/self/fd/N: a dup() would share the capture's
 *   read-write open file) through the control socket (ctl.h), and map it
 *   PROT_READ.  The only way left to write to the ring is through the
 *   capture's own mapping, that is, by being the capture: ptrace(2) of
 *   it, or /proc/PID/mem, which the kernel's ptrace rules guard (a
 *   capture that dropped root is not even dumpable).  Readers check the
 *   seals at attach and refuse a descriptor without them (-EPERM).
 *
 * Who writes what
 *   The capture creates the ring at every start, with a fresh random
 *   rh_generation.  It never resizes or re-initialises a ring that readers
 *   may have mapped: a new run, or frames that outgrow the slots, means a
 *   new ring, and readers learn of it through the control socket (ctl.h).
 *   Readers map it PROT_READ and never write.
 *
 * Memory ordering (see the kernel's Documentation/locking/seqlock.rst)
 *   Each slot is guarded by its own sequence counter rs_seqlock, written
 *   only by the writer:
 *
 *     writer                              reader
 *     rs_seqlock = s + 1   (odd: busy)    s1 = load_acquire(rs_seqlock)
 *     release fence  (orders the odd      if s1 is odd: busy, retry
 *       store before the data stores)     load metadata, copy payload
 *     store metadata, write payload       acquire fence (orders the copy
 *     store_release(rs_seqlock, s + 2)      before the re-check)
 *     store_release(rh_latest, seq)       s2 = load(rs_seqlock)
 *                                         s1 != s2: torn, discard, retry
 *
 *   The release store of rh_latest is the publication: a reader that
 *   load-acquires rh_latest == N and then finds slot N % rh_slot_count with
 *   an even counter and rs_sequence == N has a complete frame N.  The
 *   eventfd write that follows (ctl.h) is only a wake-up; it carries no
 *   data and orders nothing.
 *
 *   The writer never waits for a reader: a slow reader is overtaken, sees
 *   a torn or overwritten slot and retries with the newest frame.  A slot
 *   the writer opened and then aborted (even counter, sequence 0) is an
 *   overwritten one too: the writer has moved past the frame it held.
 *
 *   The writer only ever stores into the mapping: every counter, the
 *   identity and the status are kept in its private memory, and the
 *   shared copies are written from there, never read back.
 *
 * Trust
 *   Readers trust nothing in the mapping.  The geometry (slot count and
 *   size) is validated against the size of the mapping once, at attach,
 *   and cached; later reads use the cached copy, never the live header.
 *   Every field a reader acts on is loaded exactly once into a local
 *   (no double fetch), and every length is checked against the cached
 *   slot capacity before a byte is copied.  A garbage header or slot gives
 *   one of the errors below, never a crash or a read outside the mapping.
 *
 * Return values
 *   Functions return 0 or a negative errno value.  The reader uses:
 *     -EPERM             the descriptor is writable or not sealed against
 *                        shrinking and growing (not a ring of this kind)
 *     -EMSGSIZE          mapping smaller than the header or than the
 *                        geometry the header claims
 *     -ENOMSG            bad magic: not a shmcam ring
 *     -EPROTONOSUPPORT   ABI version this build does not speak
 *     -EPROTO            header size differs from this build's
 *     -ERANGE            slot count or slot size out of bounds
 *     -EMEDIUMTYPE       rh_codec is none this build knows (attach), or
 *                        not the codec the caller expected
 *     -ESTALE            the header's identity (magic or generation)
 *                        changed after attach: re-attach
 *     -ENODATA           nothing published yet
 *     -EAGAIN            nothing newer than the sequence asked for
 *     -EBUSY             the slot was rewritten during every attempt
 *                        (torn or overwritten RING_READ_TRIES times);
 *                        try again later
 *     -ENOBUFS           the frame does not fit the caller's buffer;
 *                        frame->length says how much is needed
 *     -EBADMSG           the slot is inconsistent (length out of range,
 *                        sequence that cannot be there): corrupt or
 *                        hostile writer
 *   ring_strerror() turns any of them into a sentence.
 */
#ifndef SHMCAM_RING_H
#define SHMCAM_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RING_MAGIC		UINT64_C(0x31474e524d434853)	/* "SHCMRNG1" */
/* 2: the ring is a sealed memfd, handed over only as a descriptor;
 * 3: a codec per ring (rh_codec) and its parameters in a page-sized
 * header. */
#define RING_ABI_VERSION	3
#define RING_HEADER_SIZE	4096	/* one page: slots are page-aligned */
#define RING_SLOT_HEADER_SIZE	64

#define RING_SLOTS_MIN		3	/* newest, one being written, one spare */
#define RING_SLOTS_MAX		1024
#define RING_SLOT_SIZE_MIN	4096
#define RING_SLOT_SIZE_MAX	(256u << 20)
#define RING_READ_TRIES		4
#define RING_NAME_MAX		64	/* including the NUL */
#define RING_MODE		0400	/* of the memfd: see above */
#define RING_TEXT_MAX		64	/* rh_source, rh_reason, with NUL */
#define RING_ENCODER_MAX	32	/* rh_encoder, with NUL */
#define RING_PARAMS_MAX		3072	/* rh_params: SPS and PPS, length-
					 * prefixed like a payload */

/* Ring (memfd) names: prefix + camera name (at most 56). */
#define RING_PREFIX_JPEG	"shmcam-"
#define RING_PREFIX_H264	"shmavc-"

/* rh_codec */
enum ring_codec {
	RING_CODEC_JPEG = 1,
	RING_CODEC_H264 = 2,
};

/* rs_flags */
#define RING_FRAME_PLACEHOLDER	0x1u	/* "no signal" picture, not live */
#define RING_FRAME_PASSTHROUGH	0x2u	/* the device's frame, not ours: JPEG
					 * unchanged, H.264 as the camera
					 * coded it */
#define RING_FRAME_KEYFRAME	0x4u	/* H.264: an IDR picture after its
					 * SPS and PPS; a decoder can start
					 * here */

/* rh_state */
enum ring_state {
	RING_STATE_STARTING = 0,	/* created, no frame yet */
	RING_STATE_ONLINE = 1,		/* live frames from the source */
	RING_STATE_OFFLINE = 2,		/* source lost: placeholder frames */
	RING_STATE_STOPPED = 3,		/* writer exited cleanly */
};

/*
 * The header.  "W once" fields are written before the object is shared and
 * never change; "W" fields are updated by the writer while running, with
 * the access named in brackets.
 */
struct ring_header {
	/* identity: W once */
	uint64_t rh_magic;		/*   0 RING_MAGIC */
	uint32_t rh_abi;		/*   8 RING_ABI_VERSION */
	uint32_t rh_header_size;	/*  12 RING_HEADER_SIZE */
	uint32_t rh_slot_count;		/*  16 number of slots */
	uint32_t rh_slot_size;		/*  20 bytes per slot, header included */
	uint64_t rh_generation;		/*  24 random, new at each capture start */
	uint32_t rh_writer_pid;		/*  32 pid of the capture process */
	uint32_t rh_codec;		/*  36 enum ring_codec: what a frame is */
	uint64_t rh_created_ns;		/*  40 CLOCK_REALTIME at creation */
	uint8_t  rh_reserved1[16];	/*  48 zero */

	/* publication: W, per frame */
	uint64_t rh_latest;		/*  64 newest complete sequence, 0 = none
					 *     [release store; readers acquire] */
	uint64_t rh_heartbeat_ns;	/*  72 CLOCK_MONOTONIC of the writer's last
					 *     loop iteration [relaxed] */
	uint64_t rh_frames_captured;	/*  80 frames taken from the source [relaxed] */
	uint64_t rh_frames_dropped;	/*  88 source frames rejected as invalid
					 *     or lost to overload [relaxed] */
	uint64_t rh_frames_idle;	/*  96 frames not encoded: no viewer of
					 *     this ring's kind [relaxed] */
	uint32_t rh_servers;		/* 104 attached server processes [relaxed] */
	uint32_t rh_viewers;		/* 108 viewers of this ring's kind the
					 *     servers report [relaxed] */
	uint64_t rh_source_restarts;	/* 112 times the source was reopened [relaxed] */
	uint64_t rh_keyframe_seq;	/* 120 sequence of the newest keyframe,
					 *     0 = none; stored before the
					 *     rh_latest that publishes it: a
					 *     hint, the slot must still be read
					 *     and checked [relaxed] */

	/* status: W, under rh_status_seq (a seqlock of its own, same rules
	 * as a slot's) */
	uint64_t rh_status_seq;		/* 128 */
	uint32_t rh_width;		/* 136 current frame width, pixels */
	uint32_t rh_height;		/* 140 current frame height, pixels */
	uint32_t rh_fps_milli;		/* 144 nominal source rate, frames/1000 s */
	uint32_t rh_state;		/* 148 enum ring_state */
	uint32_t rh_format;		/* 152 V4L2 fourcc of the source frames */
	uint32_t rh_reserved3;		/* 156 zero */
	char     rh_source[RING_TEXT_MAX]; /* 160 e.g. "v4l2:/dev/video0" */
	char     rh_reason[RING_TEXT_MAX]; /* 224 why offline, "" when online */

	/* what publishing costs: W, per frame [relaxed] */
	uint64_t rh_bytes;		/* 288 payload bytes published */
	uint64_t rh_encode_ns;		/* 296 encoding time (wall clock, ns) of
					 *     the rh_encoded frames */
	uint64_t rh_encoded;		/* 304 frames this capture encoded and
					 *     published (not passed through) */
	uint64_t rh_keyframes;		/* 312 frames published with
					 *     RING_FRAME_KEYFRAME */
	uint64_t rh_keyframe_requests;	/* 320 keyframe requests from servers
					 *     (CTL_KEYFRAME) */
	uint64_t rh_keyframes_forced;	/* 328 keyframes made because of a
					 *     request (at most one per
					 *     CTL_KEYFRAME_INTERVAL_MS) */
	uint8_t  rh_reserved4[48];	/* 336 zero */

	/* codec parameters: W, under rh_params_seq (a seqlock, same rules as
	 * a slot's); changed only between frames, before the first frame
	 * that uses them is published */
	uint64_t rh_params_seq;		/* 384 */
	uint64_t rh_params_from;	/* 392 sequence of the first frame the
					 *     parameters below apply to (a
					 *     keyframe); 0 = none yet */
	uint32_t rh_params_len;		/* 400 bytes in rh_params */
	uint32_t rh_bitrate_kbps;	/* 404 the encoder's rate limit, kbit/s;
					 *     0 = not ours (passed through) */
	uint32_t rh_gop;		/* 408 frames from keyframe to keyframe
					 *     when nobody asks for one; 0 =
					 *     unknown (passed through) */
	uint32_t rh_reserved5;		/* 412 zero */
	char     rh_encoder[RING_ENCODER_MAX]; /* 416 who encodes: "x264",
					 *     "m2m" (a V4L2 memory-to-memory
					 *     encoder), "camera" (passed
					 *     through), "" = not said; NUL-
					 *     terminated */
	uint8_t  rh_reserved6[64];	/* 448 zero */
	uint8_t  rh_params[RING_PARAMS_MAX]; /* 512 H.264: the SPS and PPS of
					 *     the current keyframes, each
					 *     preceded by its 4-byte length
					 *     like a payload's NAL units */

	uint8_t  rh_reserved[RING_HEADER_SIZE - 3584]; /* 3584 zero: room to grow */
};

/*
 * A slot.  All fields are written by the writer between the odd and even
 * stores of rs_seqlock; the payload follows at RING_SLOT_HEADER_SIZE.
 */
struct ring_slot {
	uint64_t rs_seqlock;		/*  0 odd while being written */
	uint64_t rs_sequence;		/*  8 frame sequence, from 1 */
	uint64_t rs_capture_real_ns;	/* 16 CLOCK_REALTIME of capture */
	uint64_t rs_capture_mono_ns;	/* 24 CLOCK_MONOTONIC of capture (driver
					 *    timestamp for V4L2 sources) */
	uint64_t rs_publish_real_ns;	/* 32 CLOCK_REALTIME of publish */
	uint64_t rs_publish_mono_ns;	/* 40 CLOCK_MONOTONIC of publish */
	uint32_t rs_length;		/* 48 bytes in the payload */
	uint32_t rs_width;		/* 52 pixels */
	uint32_t rs_height;		/* 56 pixels */
	uint32_t rs_flags;		/* 60 RING_FRAME_* */
};

_Static_assert(sizeof(struct ring_header) == RING_HEADER_SIZE,
    "ring header size is ABI");
_Static_assert(offsetof(struct ring_header, rh_generation) == 24, "ABI");
_Static_assert(offsetof(struct ring_header, rh_latest) == 64, "ABI");
_Static_assert(offsetof(struct ring_header, rh_heartbeat_ns) == 72, "ABI");
_Static_assert(offsetof(struct ring_header, rh_status_seq) == 128, "ABI");
_Static_assert(offsetof(struct ring_header, rh_width) == 136, "ABI");
_Static_assert(offsetof(struct ring_header, rh_source) == 160, "ABI");
_Static_assert(offsetof(struct ring_header, rh_reason) == 224, "ABI");
_Static_assert(offsetof(struct ring_header, rh_codec) == 36, "ABI");
_Static_assert(offsetof(struct ring_header, rh_keyframe_seq) == 120, "ABI");
_Static_assert(offsetof(struct ring_header, rh_bytes) == 288, "ABI");
_Static_assert(offsetof(struct ring_header, rh_keyframes_forced) == 328,
    "ABI");
_Static_assert(offsetof(struct ring_header, rh_params_seq) == 384, "ABI");
_Static_assert(offsetof(struct ring_header, rh_params_len) == 400, "ABI");
_Static_assert(offsetof(struct ring_header, rh_params) == 512, "ABI");
_Static_assert(offsetof(struct ring_header, rh_encoder) == 416, "ABI");
_Static_assert(offsetof(struct ring_header, rh_reserved) == 3584, "ABI");
_Static_assert(sizeof(struct ring_slot) == RING_SLOT_HEADER_SIZE,
    "ring slot header size is ABI");
_Static_assert(offsetof(struct ring_slot, rs_sequence) == 8, "ABI");
_Static_assert(offsetof(struct ring_slot, rs_publish_mono_ns) == 40, "ABI");
_Static_assert(offsetof(struct ring_slot, rs_length) == 48, "ABI");
_Static_assert(offsetof(struct ring_slot, rs_flags) == 60, "ABI");
/*
 * Readers load 64-bit words of a PROT_READ mapping atomically; that must
 * be a plain load, not a library call or a locked cmpxchg (which writes).
 * x86-64 and arm64 load 64 bits at once.  32-bit ARM needs ARMv6K or
 * later, in ARM or Thumb-2 code: GCC loads with LDREXD (LDRD with LPAE),
 * which is single-copy atomic and only reads, as the kernel's own
 * atomic64_read() on ARM; for plain ARMv6 (and Thumb-1) it calls
 * libatomic instead, which takes a lock or a compare-and-swap, neither
 * of which works on a read-only mapping shared between processes.  The
 * Makefile builds for ARMv6KZ when the compiler targets plain ARMv6, as
 * Raspberry Pi OS's does for the Pi 1 and Zero (ARM1176JZF-S: ARMv6KZ).
 */
_Static_assert(__atomic_always_lock_free(sizeof(uint64_t), 0),
    "64-bit atomics must be lock-free: on 32-bit ARM, build for ARMv6K "
    "or later, in ARM or Thumb-2 code (-march=armv6kz+fp -marm)");

/* What a reader learns of one frame (a copy, not a pointer into the ring). */
struct ring_frame {
	uint64_t seq;
	uint64_t capture_real_ns;
	uint64_t capture_mono_ns;
	uint64_t publish_real_ns;
	uint64_t publish_mono_ns;
	uint32_t length;
	uint32_t width;
	uint32_t height;
	uint32_t flags;
	uint64_t gap;		/* frames between the one asked after and
				 * this one that the caller never got */
};

/* The status block, as a reader copies it (strings NUL-terminated and
 * printable). */
struct ring_status {
	uint32_t width;
	uint32_t height;
	uint32_t fps_milli;
	uint32_t state;
	uint32_t format;
	char source[RING_TEXT_MAX];
	char reason[RING_TEXT_MAX];
};

/*
 * Counters of the writer, copied for reporting (relaxed, not a snapshot).
 * A reader derives rates from two copies: bitrate = 8 * delta bytes /
 * delta time, encoding time per frame = delta encode_ns / delta encoded.
 */
struct ring_counters {
	uint64_t latest;
	uint64_t heartbeat_ns;
	uint64_t frames_captured;
	uint64_t frames_dropped;
	uint64_t frames_idle;
	uint64_t source_restarts;
	uint32_t servers;
	uint32_t viewers;
	uint64_t keyframe_seq;
	uint64_t bytes;
	uint64_t encode_ns;
	uint64_t encoded;
	uint64_t keyframes;
	uint64_t keyframe_requests;
	uint64_t keyframes_forced;
};

/* The codec parameters (rh_params_*), as a reader copies them. */
struct ring_params {
	uint64_t from;		/* first sequence they apply to, 0: none */
	uint32_t len;		/* bytes in data, <= RING_PARAMS_MAX */
	uint32_t bitrate_kbps;
	uint32_t gop;
	char	 encoder[RING_ENCODER_MAX]; /* NUL-terminated, [a-z0-9] */
	uint8_t	 data[RING_PARAMS_MAX];
};

struct ring_geometry {
	uint32_t slot_count;
	uint32_t slot_size;
	uint64_t generation;
	uint32_t writer_pid;
	uint32_t codec;		/* enum ring_codec, a known one */
	size_t	 map_size;	/* bytes the geometry needs */
};

/* ---------------------------------------------------------------- writer */

/*
 * The writer keeps everything it needs in private memory and only ever
 * stores into the mapping: it never reads back a counter or an identity
 * field that another process with write access could have changed.
 */
struct ring_writer {
	int		 rw_ro_fd;	/* O_RDONLY, handed to servers */
	uint8_t		*rw_map;	/* read-write, made before the seals */
	size_t		 rw_map_size;
	struct ring_header *rw_hdr;
	struct ring_header rw_identity;	/* private copy of the W-once part */
	uint32_t	 rw_slot_count;
	uint32_t	 rw_slot_size;
	uint64_t	 rw_seq;	/* last published sequence */
	uint64_t	*rw_locks;	/* private value of each rs_seqlock */
	uint64_t	 rw_status_lock; /* private value of rh_status_seq */
	uint64_t	 rw_params_lock; /* private value of rh_params_seq */
	struct ring_status rw_status;	/* last status set */
	struct ring_counters rw_counters; /* private totals, stored as is */
	struct ring_slot *rw_open;	/* slot between begin and commit */
	uint64_t	*rw_open_lock;	/* its entry in rw_locks */
	char		 rw_name[RING_NAME_MAX];
};

/* 0 if name is a valid ring name: 1-63 of [A-Za-z0-9._-], not "." or "..". */
int	ring_name_valid(const char *name);
/* 0 if name is a valid camera name (--name, --camera): its ring is
 * "shmcam-NAME", so 1-56 of the same. */
int	ring_camera_name_valid(const char *name);

/* Bytes a slot needs for frames of up to max_frame bytes (page-rounded). */
uint32_t ring_slot_size_for(uint32_t max_frame);

/*
 * Bytes of a ring of slot_count slots of slot_size bytes, in *size, if
 * that is at most max (SIZE_MAX for this machine's address space; on a
 * 32-bit system 1024 slots of 256 MiB do not fit).  Computed in 64 bits
 * whatever size_t is.  0, or -EINVAL for a geometry out of bounds,
 * -EFBIG beyond max.
 */
int	ring_map_size(uint32_t slot_count, uint32_t slot_size, uint64_t max,
	    size_t *size);

/*
 * Creates a ring of slot_count slots of slot_size bytes with a fresh
 * random generation: a sealed memfd named name (see the top of this
 * file), mapped read-write into this process, and a read-only descriptor
 * of it (rw_ro_fd) for the servers.  Nothing is created in any file
 * system.  Its frames are of codec (enum ring_codec; ring_writer_create()
 * makes a JPEG ring).  0, -EINVAL for a bad name, codec or geometry,
 * -EFBIG if it cannot be mapped here, or the errno of the call that
 * failed.
 */
int	ring_writer_create_codec(struct ring_writer *w, const char *name,
	    uint32_t codec, uint32_t slot_count, uint32_t slot_size);
int	ring_writer_create(struct ring_writer *w, const char *name,
	    uint32_t slot_count, uint32_t slot_size);
/* Marks the ring stopped, unmaps, closes.  Readers keep their mappings. */
void	ring_writer_destroy(struct ring_writer *w);

/*
 * Two-step publication, so an encoder can write straight into the slot:
 * ring_writer_begin() opens the next slot (readers of it now see "busy")
 * and returns its payload and capacity; ring_writer_commit() fills in the
 * metadata of f (seq and publish times are set here and returned in f),
 * closes the slot and publishes it, counting its bytes (rh_bytes) and,
 * for RING_FRAME_KEYFRAME, the keyframe (rh_keyframes, rh_keyframe_seq).
 * ring_writer_abort() closes the slot with nothing in it.  Never blocks.
 */
uint8_t *ring_writer_begin(struct ring_writer *w, uint32_t *capacity);
int	ring_writer_commit(struct ring_writer *w, struct ring_frame *f);
void	ring_writer_abort(struct ring_writer *w);
/* begin + copy + commit. */
int	ring_writer_publish(struct ring_writer *w, struct ring_frame *f,
	    const void *data);

void	ring_writer_set_status(struct ring_writer *w,
	    const struct ring_status *st);
/*
 * Rewrites the identity fields and rh_latest from the writer's private
 * copy if anything else changed them (only a process with write access
 * to the object can).  Returns 1 if it had to, else 0.  Readers that saw
 * the damage re-attach and recover.
 */
int	ring_writer_repair(struct ring_writer *w);
void	ring_writer_heartbeat(struct ring_writer *w, uint64_t mono_ns);
/* Adds to the writer's counters (any may be 0) and stores the totals. */
void	ring_writer_count(struct ring_writer *w, uint64_t captured,
	    uint64_t dropped, uint64_t idle, uint64_t restarts);
void	ring_writer_set_peers(struct ring_writer *w, uint32_t servers,
	    uint32_t viewers);
/* One frame encoded (and about to be published) in encode_ns. */
void	ring_writer_count_encode(struct ring_writer *w, uint64_t encode_ns);
/* Keyframe requests received, and keyframes forced for them. */
void	ring_writer_count_requests(struct ring_writer *w, uint64_t requests,
	    uint64_t forced);
/*
 * The codec parameters: data[0..len) (len <= RING_PARAMS_MAX, else
 * -EMSGSIZE), first used by frame `from` (the next sequence the writer
 * will publish: w->rw_seq + 1), the encoder's bitrate limit and GOP.
 * Call before publishing that frame.
 */
int	ring_writer_set_params(struct ring_writer *w, uint64_t from,
	    const void *data, uint32_t len, uint32_t bitrate_kbps,
	    uint32_t gop);
/* Who encodes (rh_encoder): up to RING_ENCODER_MAX - 1 of [a-z0-9],
 * longer is cut. */
void	ring_writer_set_encoder(struct ring_writer *w, const char *name);
/* A ring that replaces old (bigger slots) starts with old's counters. */
void	ring_writer_inherit(struct ring_writer *w,
	    const struct ring_writer *old);

/* ---------------------------------------------------------------- reader */

struct ring_reader {
	const uint8_t	*rr_map;
	size_t		 rr_map_size;
	int		 rr_owns_map;	/* munmap at close */
	struct ring_geometry rr_geo;	/* validated at attach, then trusted */
	uint64_t	 rr_torn;	/* copies discarded as torn */
	uint64_t	 rr_overrun;	/* asked-for frames already overwritten */
	uint64_t	 rr_invalid;	/* reads rejected as -EBADMSG */
};

/*
 * Checks a header at mem (size bytes available there) and fills geo.  Pure:
 * reads mem only, once per field.  Returns 0 or one of the attach errors.
 */
int	ring_header_validate(const void *mem, size_t size,
	    struct ring_geometry *geo);

/*
 * Maps fd (it stays the caller's) PROT_READ and validates it.  The
 * descriptor must be read-only and sealed against shrinking and growing
 * (-EPERM otherwise): what a capture hands over (ctl.h).
 */
int	ring_reader_attach_fd(struct ring_reader *r, int fd);
/* Uses memory the caller owns (tests, fuzzing); nothing is unmapped. */
int	ring_reader_attach_mem(struct ring_reader *r, const void *mem,
	    size_t size);
void	ring_reader_close(struct ring_reader *r);

/*
 * Copies the newest frame if its sequence is greater than after (use 0 for
 * "any"), into buf of cap bytes; fills f.  f->gap counts the frames after
 * `after` that were skipped.
 */
int	ring_read_latest(struct ring_reader *r, uint64_t after,
	    struct ring_frame *f, void *buf, size_t cap);
/*
 * Copies frame after + 1, or if that one was already overwritten the
 * oldest frame still held (f->gap > 0 and rr_overrun counts it).
 */
int	ring_read_next(struct ring_reader *r, uint64_t after,
	    struct ring_frame *f, void *buf, size_t cap);

/* Newest published sequence (acquire), or 0; -ESTALE as a negative value
 * is never returned here: compare generation with ring_reader_check(). */
uint64_t ring_latest(const struct ring_reader *r);
/* 0 if the header's identity is unchanged since attach, else -ESTALE. */
int	ring_reader_check(const struct ring_reader *r);
int	ring_read_status(const struct ring_reader *r, struct ring_status *st);
/* 0, -EBUSY (being rewritten every try), -EBADMSG (length beyond
 * RING_PARAMS_MAX). */
int	ring_read_params(const struct ring_reader *r, struct ring_params *p);
void	ring_read_counters(const struct ring_reader *r,
	    struct ring_counters *c);

const char *ring_strerror(int err);
const char *ring_state_name(uint32_t state);
/* "jpeg", "h264", or "unknown". */
const char *ring_codec_name(uint32_t codec);

#endif /* SHMCAM_RING_H */
