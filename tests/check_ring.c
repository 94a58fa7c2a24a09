/*
 * check_ring.c - unit tests of the shared-memory ring (common/ring.h):
 * the ABI pin, publish/read, wrap-around and overrun, generations, and
 * every validation error for corrupt headers and slots.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "ring.h"
#include "testutil.h"

#define SLOT_SIZE	8192
#define PAYLOAD_MAX	(SLOT_SIZE - RING_SLOT_HEADER_SIZE)

static char ring_name[RING_NAME_MAX];

static void
setup_name(void)
{
	static int n;

	snprintf(ring_name, sizeof(ring_name), "shmcam-check-%d-%d",
	    (int)getpid(), n++);
}

static void
fill(uint8_t *buf, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

static void
publish(struct ring_writer *w, uint64_t seed, uint32_t len)
{
	static uint8_t buf[PAYLOAD_MAX];
	struct ring_frame f;

	memset(&f, 0, sizeof(f));
	fill(buf, len, seed);
	f.length = len;
	f.width = 640;
	f.height = 480;
	f.capture_real_ns = seed * 1000;
	f.capture_mono_ns = seed * 2000;
	ck_assert_int_eq(ring_writer_publish(w, &f, buf), 0);
	ck_assert_uint_eq(f.seq, w->rw_seq);
}

static void
assert_payload(const uint8_t *got, size_t len, uint64_t seed)
{
	static uint8_t want[PAYLOAD_MAX];

	fill(want, len, seed);
	ck_assert_mem_eq(got, want, len);
}

/* The layout is ABI: these numbers may only change with RING_ABI_VERSION. */
START_TEST(test_abi_pin)
{
	ck_assert_uint_eq(RING_ABI_VERSION, 3);
	ck_assert_uint_eq(sizeof(struct ring_header), 4096);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_magic), 0);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_abi), 8);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_header_size), 12);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_slot_count), 16);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_slot_size), 20);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_generation), 24);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_writer_pid), 32);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_codec), 36);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_created_ns), 40);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_latest), 64);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_heartbeat_ns), 72);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_frames_captured), 80);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_frames_dropped), 88);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_frames_idle), 96);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_servers), 104);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_viewers), 108);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_source_restarts), 112);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_keyframe_seq), 120);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_status_seq), 128);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_width), 136);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_height), 140);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_fps_milli), 144);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_state), 148);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_format), 152);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_source), 160);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_reason), 224);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_bytes), 288);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_encode_ns), 296);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_encoded), 304);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_keyframes), 312);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_keyframe_requests),
	    320);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_keyframes_forced),
	    328);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_params_seq), 384);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_params_from), 392);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_params_len), 400);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_bitrate_kbps), 404);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_gop), 408);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_params), 512);
	ck_assert_uint_eq(RING_PARAMS_MAX, 3072);
	ck_assert_uint_eq(offsetof(struct ring_header, rh_reserved), 3584);
	ck_assert_uint_eq(RING_CODEC_JPEG, 1);
	ck_assert_uint_eq(RING_CODEC_H264, 2);
	ck_assert_uint_eq(RING_FRAME_PLACEHOLDER, 1);
	ck_assert_uint_eq(RING_FRAME_PASSTHROUGH, 2);
	ck_assert_uint_eq(RING_FRAME_KEYFRAME, 4);
	ck_assert_uint_eq(sizeof(struct ring_slot), 64);
	ck_assert_uint_eq(offsetof(struct ring_slot, rs_seqlock), 0);
	ck_assert_uint_eq(offsetof(struct ring_slot, rs_sequence), 8);
	ck_assert_uint_eq(offsetof(struct ring_slot, rs_capture_real_ns), 16);
	ck_assert_uint_eq(offsetof(struct ring_slot, rs_capture_mono_ns), 24);
	ck_assert_uint_eq(offsetof(struct ring_slot, rs_publish_real_ns), 32);
	ck_assert_uint_eq(offsetof(struct ring_slot, rs_publish_mono_ns), 40);
	ck_assert_uint_eq(offsetof(struct ring_slot, rs_length), 48);
	ck_assert_uint_eq(offsetof(struct ring_slot, rs_width), 52);
	ck_assert_uint_eq(offsetof(struct ring_slot, rs_height), 56);
	ck_assert_uint_eq(offsetof(struct ring_slot, rs_flags), 60);
	ck_assert_uint_eq(RING_MAGIC, UINT64_C(0x31474e524d434853));
}
END_TEST

START_TEST(test_names)
{
	ck_assert_int_eq(ring_name_valid("shmcam-default"), 0);
	ck_assert_int_eq(ring_name_valid("a.b_c-9"), 0);
	ck_assert_int_eq(ring_name_valid(""), -EINVAL);
	ck_assert_int_eq(ring_name_valid("."), -EINVAL);
	ck_assert_int_eq(ring_name_valid(".."), -EINVAL);
	ck_assert_int_eq(ring_name_valid("a/b"), -EINVAL);
	ck_assert_int_eq(ring_name_valid("sp ace"), -EINVAL);
	ck_assert_int_eq(ring_name_valid(NULL), -EINVAL);
	/* A camera's ring is "shmcam-NAME": 56 characters at most. */
	ck_assert_int_eq(ring_camera_name_valid(
	    "a2345678901234567890123456789012345678901234567890123456"), 0);
	ck_assert_int_eq(ring_camera_name_valid(
	    "a23456789012345678901234567890123456789012345678901234567"),
	    -EINVAL);
	ck_assert_int_eq(ring_camera_name_valid("a/b"), -EINVAL);
	ck_assert_int_eq(ring_camera_name_valid(NULL), -EINVAL);
	ck_assert_int_eq(ring_name_valid(
	    "0123456789012345678901234567890123456789012345678901234567890123"),
	    -EINVAL);
	ck_assert_uint_eq(ring_slot_size_for(1), RING_SLOT_SIZE_MIN);
	ck_assert_uint_eq(ring_slot_size_for(100000) % 4096, 0);
	ck_assert_uint_ge(ring_slot_size_for(100000),
	    100000 + RING_SLOT_HEADER_SIZE);
}
END_TEST

START_TEST(test_create_rejects_bad_geometry)
{
	struct ring_writer w;

	setup_name();
	ck_assert_int_eq(ring_writer_create(&w, ring_name, 2, SLOT_SIZE),
	    -EINVAL);
	ck_assert_int_eq(ring_writer_create(&w, ring_name, 4, 1000), -EINVAL);
	ck_assert_int_eq(ring_writer_create(&w, "bad/name", 4, SLOT_SIZE),
	    -EINVAL);
}
END_TEST

START_TEST(test_publish_read)
{
	struct ring_writer w;
	struct ring_reader r;
	struct ring_frame f;
	struct ring_status st;
	static uint8_t buf[PAYLOAD_MAX];

	setup_name();
	ck_assert_int_eq(ring_writer_create(&w, ring_name, 4, SLOT_SIZE), 0);
	ck_assert_int_eq(ring_reader_attach_fd(&r, w.rw_ro_fd), 0);
	ck_assert_uint_eq(r.rr_geo.slot_count, 4);
	ck_assert_uint_eq(r.rr_geo.slot_size, SLOT_SIZE);
	ck_assert_uint_eq(r.rr_geo.generation, w.rw_hdr->rh_generation);
	ck_assert_uint_ne(r.rr_geo.generation, 0);
	ck_assert_uint_eq(r.rr_geo.writer_pid, (uint32_t)getpid());

	ck_assert_int_eq(ring_read_latest(&r, 0, &f, buf, sizeof(buf)),
	    -ENODATA);
	publish(&w, 7, 1234);
	ck_assert_int_eq(ring_read_latest(&r, 0, &f, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(f.seq, 1);
	ck_assert_uint_eq(f.length, 1234);
	ck_assert_uint_eq(f.width, 640);
	ck_assert_uint_eq(f.height, 480);
	ck_assert_uint_eq(f.capture_real_ns, 7000);
	ck_assert_uint_eq(f.capture_mono_ns, 14000);
	ck_assert_uint_ne(f.publish_real_ns, 0);
	ck_assert_uint_ne(f.publish_mono_ns, 0);
	ck_assert_uint_eq(f.gap, 0);
	assert_payload(buf, 1234, 7);
	ck_assert_int_eq(ring_read_latest(&r, 1, &f, buf, sizeof(buf)),
	    -EAGAIN);
	ck_assert_uint_eq(ring_latest(&r), 1);

	/* A buffer too small says how much is needed and copies nothing. */
	ck_assert_int_eq(ring_read_latest(&r, 0, &f, buf, 100), -ENOBUFS);
	ck_assert_uint_eq(f.length, 1234);

	/* The status block round-trips, strings made printable. */
	memset(&st, 0, sizeof(st));
	st.width = 640;
	st.height = 480;
	st.fps_milli = 29970;
	st.state = RING_STATE_OFFLINE;
	snprintf(st.source, sizeof(st.source), "v4l2:/dev/video0");
	snprintf(st.reason, sizeof(st.reason), "unplugged\x01\x7f");
	ring_writer_set_status(&w, &st);
	memset(&st, 0xff, sizeof(st));
	ck_assert_int_eq(ring_read_status(&r, &st), 0);
	ck_assert_uint_eq(st.width, 640);
	ck_assert_uint_eq(st.fps_milli, 29970);
	ck_assert_uint_eq(st.state, RING_STATE_OFFLINE);
	ck_assert_str_eq(st.source, "v4l2:/dev/video0");
	ck_assert_str_eq(st.reason, "unplugged??");

	ring_writer_destroy(&w);
	/* Our mapping outlives the writer and says it stopped. */
	ck_assert_int_eq(ring_read_status(&r, &st), 0);
	ck_assert_uint_eq(st.state, RING_STATE_STOPPED);
	ring_reader_close(&r);
}
END_TEST

START_TEST(test_wraparound_and_overrun)
{
	struct ring_writer w;
	struct ring_reader r;
	struct ring_frame f;
	static uint8_t buf[PAYLOAD_MAX];
	uint64_t seq;

	setup_name();
	ck_assert_int_eq(ring_writer_create(&w, ring_name, 4, SLOT_SIZE), 0);
	ck_assert_int_eq(ring_reader_attach_fd(&r, w.rw_ro_fd), 0);

	/* Next-after-N is contiguous while the reader keeps up. */
	for (seq = 1; seq <= 10; seq++) {
		publish(&w, seq, (uint32_t)(100 + seq * 37));
		ck_assert_int_eq(ring_read_next(&r, seq - 1, &f, buf,
		    sizeof(buf)), 0);
		ck_assert_uint_eq(f.seq, seq);
		ck_assert_uint_eq(f.gap, 0);
		assert_payload(buf, f.length, seq);
	}
	/* Three laps behind: the oldest frame certainly held comes back
	 * with the gap reported and counted as an overrun. */
	for (; seq <= 22; seq++)
		publish(&w, seq, (uint32_t)(100 + seq * 37));
	ck_assert_int_eq(ring_read_next(&r, 10, &f, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(f.seq, 22 - (4 - 2));
	ck_assert_uint_eq(f.gap, f.seq - 11);
	ck_assert_uint_ge(r.rr_overrun, 1);
	assert_payload(buf, f.length, f.seq);

	/* Latest skips to the newest and reports what was skipped. */
	ck_assert_int_eq(ring_read_latest(&r, 10, &f, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(f.seq, 22);
	ck_assert_uint_eq(f.gap, 11);
	assert_payload(buf, f.length, 22);

	ring_reader_close(&r);
	ring_writer_destroy(&w);
}
END_TEST

START_TEST(test_begin_abort_commit)
{
	struct ring_writer w;
	struct ring_reader r;
	struct ring_frame f;
	static uint8_t buf[PAYLOAD_MAX];
	uint32_t cap;
	uint8_t *p;

	setup_name();
	ck_assert_int_eq(ring_writer_create(&w, ring_name, 3, SLOT_SIZE), 0);
	ck_assert_int_eq(ring_reader_attach_fd(&r, w.rw_ro_fd), 0);
	publish(&w, 1, 500);

	/* An open slot is not the latest: readers still get frame 1. */
	p = ring_writer_begin(&w, &cap);
	ck_assert_uint_eq(cap, PAYLOAD_MAX);
	memset(p, 0xaa, 100);
	ck_assert_int_eq(ring_read_latest(&r, 0, &f, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(f.seq, 1);
	ring_writer_abort(&w);
	ck_assert_uint_eq(w.rw_seq, 1);

	/* Committing nothing, or more than the slot holds, is refused. */
	p = ring_writer_begin(&w, &cap);
	memset(&f, 0, sizeof(f));
	ck_assert_int_eq(ring_writer_commit(&w, &f), -EINVAL);
	ck_assert_int_eq(ring_writer_commit(&w, &f), -EINVAL);
	p = ring_writer_begin(&w, &cap);
	f.length = cap + 1;
	ck_assert_int_eq(ring_writer_commit(&w, &f), -EINVAL);

	p = ring_writer_begin(&w, &cap);
	fill(p, 300, 2);
	memset(&f, 0, sizeof(f));
	f.length = 300;
	f.width = f.height = 16;
	ck_assert_int_eq(ring_writer_commit(&w, &f), 0);
	ck_assert_uint_eq(f.seq, 2);
	ck_assert_int_eq(ring_read_latest(&r, 1, &f, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(f.seq, 2);
	assert_payload(buf, 300, 2);
	ring_reader_close(&r);
	ring_writer_destroy(&w);
}
END_TEST

/*
 * A slot the writer opened and aborted (counter even, sequence 0) after
 * the reader chose it: the writer has moved past the frame the reader
 * wanted, which is an overrun to retry, not a corrupt or hostile slot.
 * The reader here believes frame 1 is the newest, as one that loaded
 * rh_latest just before the writer lapped it would.
 */
START_TEST(test_aborted_slot_is_overwritten)
{
	struct ring_writer w;
	struct ring_reader r;
	struct ring_frame f;
	static uint8_t buf[PAYLOAD_MAX];
	uint8_t *copy;
	uint32_t cap;

	setup_name();
	ck_assert_int_eq(ring_writer_create(&w, ring_name, 3, SLOT_SIZE), 0);
	publish(&w, 1, 100);
	publish(&w, 2, 100);
	publish(&w, 3, 100);
	(void)ring_writer_begin(&w, &cap);	/* frame 4: slot of frame 1 */
	ring_writer_abort(&w);
	ck_assert_int_eq(posix_memalign((void **)&copy, 4096, w.rw_map_size),
	    0);
	memcpy(copy, w.rw_map, w.rw_map_size);
	((struct ring_header *)copy)->rh_latest = 1;
	ck_assert_int_eq(ring_reader_attach_mem(&r, copy, w.rw_map_size), 0);
	ck_assert_int_ne(ring_read_latest(&r, 0, &f, buf, sizeof(buf)),
	    -EBADMSG);
	ck_assert_int_ne(ring_read_next(&r, 0, &f, buf, sizeof(buf)),
	    -EBADMSG);
	ck_assert_uint_eq(r.rr_invalid, 0);
	ck_assert_uint_gt(r.rr_overrun, 0);
	ring_reader_close(&r);
	free(copy);
	ring_writer_destroy(&w);
}
END_TEST

START_TEST(test_generation_change)
{
	struct ring_writer w;
	struct ring_reader old, cur;
	struct ring_frame f;
	static uint8_t buf[PAYLOAD_MAX];
	uint64_t gen1;

	setup_name();
	ck_assert_int_eq(ring_writer_create(&w, ring_name, 4, SLOT_SIZE), 0);
	gen1 = w.rw_hdr->rh_generation;
	publish(&w, 1, 100);
	ck_assert_int_eq(ring_reader_attach_fd(&old, w.rw_ro_fd), 0);

	/* A new run is a new ring: nothing of the old one is reused. */
	ring_writer_destroy(&w);
	ck_assert_int_eq(ring_writer_create(&w, ring_name, 4, SLOT_SIZE), 0);
	ck_assert_uint_ne(w.rw_hdr->rh_generation, gen1);
	publish(&w, 9, 200);

	ck_assert_int_eq(ring_reader_attach_fd(&cur, w.rw_ro_fd), 0);
	ck_assert_uint_eq(cur.rr_geo.generation, w.rw_hdr->rh_generation);
	ck_assert_int_eq(ring_read_latest(&cur, 0, &f, buf, sizeof(buf)), 0);
	assert_payload(buf, 200, 9);
	/* The old mapping still holds the old run, untouched. */
	ck_assert_uint_eq(old.rr_geo.generation, gen1);
	ck_assert_int_eq(ring_reader_check(&old), 0);
	ck_assert_int_eq(ring_read_latest(&old, 0, &f, buf, sizeof(buf)), 0);
	assert_payload(buf, 100, 1);
	ring_reader_close(&old);
	ring_reader_close(&cur);
	ring_writer_destroy(&w);
}
END_TEST

/*
 * The fields of the H.264 ring: the codec in the identity, what commit
 * counts by itself (bytes, keyframes, where the newest keyframe is), the
 * encoder's counters, the parameter sets under their seqlock, and a
 * replacement ring that carries all of it on.
 */
START_TEST(test_codec_fields)
{
	static const uint8_t params[] = { 0, 0, 0, 4, 0x67, 0x42, 0xc0, 0x1f,
	    0, 0, 0, 2, 0x68, 0xce };
	static uint8_t big[RING_PARAMS_MAX + 1];
	struct ring_writer w, w2;
	struct ring_reader r;
	struct ring_counters c;
	struct ring_params p;
	struct ring_frame f;
	static uint8_t buf[PAYLOAD_MAX];
	uint8_t au[100];

	setup_name();
	ck_assert_int_eq(ring_writer_create_codec(&w, ring_name, 0, 4,
	    SLOT_SIZE), -EINVAL);
	ck_assert_int_eq(ring_writer_create_codec(&w, ring_name,
	    RING_CODEC_H264, 4, SLOT_SIZE), 0);
	ck_assert_int_eq(ring_reader_attach_fd(&r, w.rw_ro_fd), 0);
	ck_assert_uint_eq(r.rr_geo.codec, RING_CODEC_H264);
	ck_assert_str_eq(ring_codec_name(r.rr_geo.codec), "h264");

	/* No parameters yet. */
	ck_assert_int_eq(ring_read_params(&r, &p), 0);
	ck_assert_uint_eq(p.from, 0);
	ck_assert_uint_eq(p.len, 0);
	ck_assert_int_eq(ring_writer_set_params(&w, 1, big, sizeof(big), 0, 0),
	    -EMSGSIZE);
	ck_assert_int_eq(ring_writer_set_params(&w, 1, params, sizeof(params),
	    1935, 30), 0);

	memset(au, 0x11, sizeof(au));
	memset(&f, 0, sizeof(f));
	f.length = 100;
	f.flags = RING_FRAME_KEYFRAME;
	ring_writer_count_encode(&w, 5000000);
	ck_assert_int_eq(ring_writer_publish(&w, &f, au), 0);
	f.length = 40;
	f.flags = 0;
	ring_writer_count_encode(&w, 3000000);
	ck_assert_int_eq(ring_writer_publish(&w, &f, au), 0);
	ring_writer_count_requests(&w, 100, 1);

	ring_read_counters(&r, &c);
	ck_assert_uint_eq(c.latest, 2);
	ck_assert_uint_eq(c.bytes, 140);
	ck_assert_uint_eq(c.keyframes, 1);
	ck_assert_uint_eq(c.keyframe_seq, 1);
	ck_assert_uint_eq(c.encoded, 2);
	ck_assert_uint_eq(c.encode_ns, 8000000);
	ck_assert_uint_eq(c.keyframe_requests, 100);
	ck_assert_uint_eq(c.keyframes_forced, 1);
	ck_assert_int_eq(ring_read_latest(&r, 0, &f, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(f.flags, 0);
	ck_assert_int_eq(ring_read_next(&r, 0, &f, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(f.flags, RING_FRAME_KEYFRAME);
	ck_assert_uint_eq(f.seq, c.keyframe_seq);

	ck_assert_int_eq(ring_read_params(&r, &p), 0);
	ck_assert_uint_eq(p.from, 1);
	ck_assert_uint_eq(p.len, sizeof(params));
	ck_assert_uint_eq(p.bitrate_kbps, 1935);
	ck_assert_uint_eq(p.gop, 30);
	ck_assert_mem_eq(p.data, params, sizeof(params));

	/* A hostile length is refused, a block left odd is busy. */
	w.rw_hdr->rh_params_len = RING_PARAMS_MAX + 1;
	ck_assert_int_eq(ring_read_params(&r, &p), -EBADMSG);
	w.rw_hdr->rh_params_len = sizeof(params);
	w.rw_hdr->rh_params_seq |= 1;
	ck_assert_int_eq(ring_read_params(&r, &p), -EBUSY);
	w.rw_hdr->rh_params_seq &= ~(uint64_t)1;

	/* A replacement (bigger slots) takes the counters and parameters
	 * over; its sequences start again at 1. */
	ck_assert_int_eq(ring_writer_create_codec(&w2, ring_name,
	    RING_CODEC_H264, 4, 2 * SLOT_SIZE), 0);
	ring_writer_inherit(&w2, &w);
	ring_reader_close(&r);
	ck_assert_int_eq(ring_reader_attach_fd(&r, w2.rw_ro_fd), 0);
	ring_read_counters(&r, &c);
	ck_assert_uint_eq(c.latest, 0);
	ck_assert_uint_eq(c.bytes, 140);
	ck_assert_uint_eq(c.keyframes, 1);
	ck_assert_uint_eq(c.keyframe_seq, 0);
	ck_assert_uint_eq(c.encoded, 2);
	ck_assert_uint_eq(c.encode_ns, 8000000);
	ck_assert_uint_eq(c.keyframe_requests, 100);
	ck_assert_uint_eq(c.keyframes_forced, 1);
	ck_assert_int_eq(ring_read_params(&r, &p), 0);
	ck_assert_uint_eq(p.from, 1);
	ck_assert_uint_eq(p.gop, 30);
	ck_assert_mem_eq(p.data, params, sizeof(params));
	ring_reader_close(&r);
	ring_writer_destroy(&w);
	ring_writer_destroy(&w2);
}
END_TEST

/*
 * Another process with write access scribbles over the header and a
 * slot's counter: the writer never reads them back, and repairs the
 * identity so that readers can re-attach.
 */
START_TEST(test_writer_survives_scribbling)
{
	struct ring_writer w;
	struct ring_reader r;
	struct ring_frame f;
	static uint8_t buf[PAYLOAD_MAX];
	struct ring_slot *next;
	uint64_t gen;

	setup_name();
	ck_assert_int_eq(ring_writer_create(&w, ring_name, 4, SLOT_SIZE), 0);
	publish(&w, 1, 100);
	ck_assert_int_eq(ring_writer_repair(&w), 0);
	ck_assert_int_eq(ring_reader_attach_fd(&r, w.rw_ro_fd), 0);
	gen = r.rr_geo.generation;

	w.rw_hdr->rh_magic = 0;
	w.rw_hdr->rh_generation ^= 0xff;
	w.rw_hdr->rh_slot_count = 7;
	w.rw_hdr->rh_latest = 12345;
	/* The next slot's counter left odd, as if mid-write for ever. */
	next = (struct ring_slot *)(w.rw_map + RING_HEADER_SIZE +
	    2 * SLOT_SIZE);
	next->rs_seqlock = 999;
	ck_assert_int_eq(ring_read_latest(&r, 0, &f, buf, sizeof(buf)),
	    -ESTALE);

	ck_assert_int_eq(ring_writer_repair(&w), 1);
	ck_assert_int_eq(ring_writer_repair(&w), 0);
	ck_assert_uint_eq(w.rw_hdr->rh_generation, gen);
	ck_assert_uint_eq(w.rw_hdr->rh_slot_count, 4);
	ck_assert_uint_eq(w.rw_hdr->rh_latest, 1);
	ck_assert_int_eq(ring_reader_check(&r), 0);

	/* The writer's own counter wins over the scribbled one. */
	publish(&w, 2, 200);
	ck_assert_uint_eq(next->rs_seqlock % 2, 0);
	ck_assert_int_eq(ring_read_latest(&r, 1, &f, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(f.seq, 2);
	assert_payload(buf, 200, 2);
	ring_reader_close(&r);
	ring_writer_destroy(&w);
}
END_TEST

/*
 * The writer's counters are its own: it stores its private totals and
 * never adds to what the shared header says (another process with write
 * access may have changed that).
 */
START_TEST(test_counters_are_the_writers)
{
	struct ring_writer w;
	struct ring_reader r;
	struct ring_counters c;

	setup_name();
	ck_assert_int_eq(ring_writer_create(&w, ring_name, 4, SLOT_SIZE), 0);
	ck_assert_int_eq(ring_reader_attach_mem(&r, w.rw_map, w.rw_map_size),
	    0);
	ring_writer_count(&w, 5, 1, 2, 1);
	w.rw_hdr->rh_frames_captured = 1000000;
	w.rw_hdr->rh_frames_dropped = UINT64_MAX;
	ring_writer_count(&w, 1, 0, 0, 0);
	ring_read_counters(&r, &c);
	ck_assert_uint_eq(c.frames_captured, 6);
	ck_assert_uint_eq(c.frames_dropped, 1);
	ck_assert_uint_eq(c.frames_idle, 2);
	ck_assert_uint_eq(c.source_restarts, 1);
	ring_reader_close(&r);
	ring_writer_destroy(&w);
}
END_TEST

/* A private, writable copy of a real ring, to corrupt at will. */
struct copy {
	uint8_t *mem;
	size_t size;
};

static struct copy
ring_copy(int frames)
{
	struct ring_writer w;
	struct copy c;

	setup_name();
	ck_assert_int_eq(ring_writer_create(&w, ring_name, 4, SLOT_SIZE), 0);
	for (int i = 1; i <= frames; i++)
		publish(&w, (uint64_t)i, (uint32_t)(200 * i));
	c.size = w.rw_map_size;
	ck_assert_int_eq(posix_memalign((void **)&c.mem, 4096, c.size), 0);
	memcpy(c.mem, w.rw_map, c.size);
	ring_writer_destroy(&w);
	return c;
}

static struct ring_header *
hdr(struct copy *c)
{
	return (struct ring_header *)c->mem;
}

static struct ring_slot *
slot(struct copy *c, uint64_t seq)
{
	return (struct ring_slot *)(c->mem + RING_HEADER_SIZE +
	    (seq % hdr(c)->rh_slot_count) * hdr(c)->rh_slot_size);
}

START_TEST(test_corrupt_headers)
{
	struct ring_geometry geo;
	struct ring_reader r;
	struct copy c = ring_copy(1);
	struct ring_header saved = *hdr(&c);
	static const struct {
		const char *what;
		size_t off;	/* field to overwrite */
		size_t len;
		uint64_t value;
		int expect;
	} cases[] = {
		{ "magic", 0, 8, 0x1234, -ENOMSG },
		{ "abi", 8, 4, RING_ABI_VERSION + 1, -EPROTONOSUPPORT },
		{ "abi 2", 8, 4, 2, -EPROTONOSUPPORT },
		{ "codec 0", 36, 4, 0, -EMEDIUMTYPE },
		{ "codec 3", 36, 4, 3, -EMEDIUMTYPE },
		{ "header size", 12, 4, 256, -EPROTO },
		{ "slot count 0", 16, 4, 0, -ERANGE },
		{ "slot count 2", 16, 4, 2, -ERANGE },
		{ "slot count huge", 16, 4, 0xffffffffu, -ERANGE },
		{ "slot count beyond map", 16, 4, 100, -EMSGSIZE },
		{ "slot size small", 20, 4, 100, -ERANGE },
		{ "slot size unaligned", 20, 4, SLOT_SIZE + 1, -ERANGE },
		{ "slot size huge", 20, 4, 0x80000000u, -ERANGE },
		{ "slot size beyond map", 20, 4, SLOT_SIZE * 2, -EMSGSIZE },
	};

	ck_assert_int_eq(ring_header_validate(c.mem, c.size, &geo), 0);
	ck_assert_uint_eq(geo.map_size, c.size);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		*hdr(&c) = saved;
		memcpy(c.mem + cases[i].off, &cases[i].value, cases[i].len);
		ck_assert_msg(ring_header_validate(c.mem, c.size, &geo) ==
		    cases[i].expect, "%s: got %d want %d", cases[i].what,
		    ring_header_validate(c.mem, c.size, &geo), cases[i].expect);
		ck_assert_int_eq(ring_reader_attach_mem(&r, c.mem, c.size),
		    cases[i].expect);
	}
	*hdr(&c) = saved;
	/* Mappings shorter than a header or than the geometry claims. */
	ck_assert_int_eq(ring_header_validate(c.mem, 100, &geo), -EMSGSIZE);
	ck_assert_int_eq(ring_header_validate(c.mem, RING_HEADER_SIZE, &geo),
	    -EMSGSIZE);
	ck_assert_int_eq(ring_header_validate(c.mem, c.size - 1, &geo),
	    -EMSGSIZE);
	ck_assert_int_eq(ring_header_validate(NULL, c.size, &geo), -EMSGSIZE);
	ck_assert_int_eq(ring_reader_attach_mem(&r, c.mem + 8, c.size - 8),
	    -EINVAL);
	free(c.mem);
}
END_TEST

START_TEST(test_corrupt_slots)
{
	struct ring_reader r;
	struct ring_frame f;
	static uint8_t buf[PAYLOAD_MAX];
	struct copy c = ring_copy(3);
	struct ring_slot saved = *slot(&c, 3);

	ck_assert_int_eq(ring_reader_attach_mem(&r, c.mem, c.size), 0);
	ck_assert_int_eq(ring_read_latest(&r, 0, &f, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(f.seq, 3);
	ck_assert_uint_eq(f.length, 600);

	/* Length beyond the slot: refused before a byte is copied. */
	slot(&c, 3)->rs_length = PAYLOAD_MAX + 1;
	ck_assert_int_eq(ring_read_latest(&r, 0, &f, buf, sizeof(buf)),
	    -EBADMSG);
	slot(&c, 3)->rs_length = 0xffffffffu;
	ck_assert_int_eq(ring_read_latest(&r, 0, &f, buf, sizeof(buf)),
	    -EBADMSG);
	slot(&c, 3)->rs_length = 0;
	ck_assert_int_eq(ring_read_latest(&r, 0, &f, buf, sizeof(buf)),
	    -EBADMSG);
	ck_assert_uint_eq(r.rr_invalid, 3);
	*slot(&c, 3) = saved;

	/* A sequence that cannot be in this slot. */
	slot(&c, 3)->rs_sequence = 5;
	ck_assert_int_eq(ring_read_latest(&r, 0, &f, buf, sizeof(buf)),
	    -EBADMSG);
	slot(&c, 3)->rs_sequence = 1;
	ck_assert_int_eq(ring_read_latest(&r, 0, &f, buf, sizeof(buf)),
	    -EBADMSG);
	*slot(&c, 3) = saved;

	/* Latest pointing far beyond anything written. */
	hdr(&c)->rh_latest = UINT64_MAX;
	ck_assert_int_eq(ring_read_latest(&r, 0, &f, buf, sizeof(buf)),
	    -EBADMSG);
	hdr(&c)->rh_latest = 3;

	/* A slot that stays "being written" is busy, not a hang. */
	slot(&c, 3)->rs_seqlock |= 1;
	ck_assert_int_eq(ring_read_latest(&r, 0, &f, buf, sizeof(buf)),
	    -EBUSY);
	ck_assert_uint_ge(r.rr_torn, RING_READ_TRIES);
	*slot(&c, 3) = saved;

	/* Identity changed under an attached reader. */
	hdr(&c)->rh_generation ^= 1;
	ck_assert_int_eq(ring_read_latest(&r, 0, &f, buf, sizeof(buf)),
	    -ESTALE);
	ck_assert_int_eq(ring_reader_check(&r), -ESTALE);
	hdr(&c)->rh_generation ^= 1;
	hdr(&c)->rh_magic = 0;
	ck_assert_int_eq(ring_read_latest(&r, 0, &f, buf, sizeof(buf)),
	    -ESTALE);
	hdr(&c)->rh_magic = RING_MAGIC;

	/* Geometry is cached at attach: changing it later changes nothing. */
	hdr(&c)->rh_slot_count = 1000;
	hdr(&c)->rh_slot_size = RING_SLOT_SIZE_MAX;
	ck_assert_int_eq(ring_read_latest(&r, 0, &f, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(f.seq, 3);
	ck_assert_str_eq(ring_strerror(-EBADMSG),
	    "inconsistent slot (corrupt or hostile writer)");
	free(c.mem);
}
END_TEST

/*
 * The ring's memfd: sealed against resizing and writing through anything
 * but the writer's own mapping, whoever tries (root too, whom permission
 * bits do not stop), and mode 0400.
 */
START_TEST(test_sealed)
{
	struct ring_writer w;
	struct stat st;
	char path[64];
	void *m;
	int fd, seals;

	setup_name();
	ck_assert_int_eq(ring_writer_create(&w, ring_name, 4, SLOT_SIZE), 0);
	seals = fcntl(w.rw_ro_fd, F_GET_SEALS);
	ck_assert_int_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL |
	    0x0010 /* F_SEAL_FUTURE_WRITE */), F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_SEAL | 0x0010);
	ck_assert_int_eq(fstat(w.rw_ro_fd, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, RING_MODE);
	ck_assert_int_eq(fcntl(w.rw_ro_fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	ck_assert_int_eq(ftruncate(w.rw_ro_fd, 0), -1);

	/* A read-write reopen: refused by the mode, or (root) granted and
	 * then refused by the seals. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", w.rw_ro_fd);
	fd = open(path, O_RDWR);
	if (fd == -1)
		ck_assert_int_eq(errno, EACCES);
	else {
		ck_assert_int_eq(pwrite(fd, "x", 1, 0), -1);
		ck_assert_int_eq(errno, EPERM);
		ck_assert_int_eq(ftruncate(fd, 0), -1);
		ck_assert_int_eq(errno, EPERM);
		ck_assert_int_eq(ftruncate(fd, (off_t)w.rw_map_size * 2), -1);
		ck_assert_int_eq(errno, EPERM);
		ck_assert_ptr_eq(mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, 0), MAP_FAILED);
		ck_assert_int_eq(errno, EPERM);
		m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
		ck_assert_ptr_ne(m, MAP_FAILED);
		ck_assert_int_eq(mprotect(m, 4096, PROT_READ | PROT_WRITE), -1);
		ck_assert_int_eq(errno, EACCES);
		munmap(m, 4096);
		close(fd);
	}
	/* The writer's own mapping still writes. */
	publish(&w, 1, 100);
	ring_writer_destroy(&w);
}
END_TEST

/* Readers take only a read-only descriptor sealed against resizing:
 * anything else could be cut short under their mapping (SIGBUS). */
START_TEST(test_reader_wants_sealed_read_only)
{
	struct ring_writer w;
	struct ring_reader r;
	char path[64];
	int fd;

	setup_name();
	ck_assert_int_eq(ring_writer_create(&w, ring_name, 4, SLOT_SIZE), 0);
	/* The same bytes in a memfd without seals. */
	fd = memfd_create("unsealed", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, w.rw_map, w.rw_map_size),
	    (ssize_t)w.rw_map_size);
	ck_assert_int_eq(ring_reader_attach_fd(&r, fd), -EPERM);
	close(fd);
	/* The sealed ring through a read-write descriptor (root may open
	 * one): refused too. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", w.rw_ro_fd);
	if ((fd = open(path, O_RDWR)) != -1) {
		ck_assert_int_eq(ring_reader_attach_fd(&r, fd), -EPERM);
		close(fd);
	}
	ck_assert_int_eq(ring_reader_attach_fd(&r, w.rw_ro_fd), 0);
	ring_reader_close(&r);
	ck_assert_str_eq(ring_strerror(-EPERM),
	    "ring descriptor writable or not sealed against resizing");
	ring_writer_destroy(&w);
}
END_TEST

/*
 * The ring's size in 64 bits, checked against what the address space
 * holds: 1024 slots of 256 MiB wrap a 32-bit size_t (to 4096 bytes), so
 * a 32-bit capture would have made a ring far smaller than its header
 * says.  max stands for SIZE_MAX of the machine.
 */
START_TEST(test_map_size)
{
	size_t size;

	ck_assert_int_eq(ring_map_size(RING_SLOTS_MAX, RING_SLOT_SIZE_MAX,
	    UINT32_MAX, &size), -EFBIG);
	ck_assert_int_eq(ring_map_size(16, RING_SLOT_SIZE_MAX, UINT32_MAX,
	    &size), -EFBIG);
	ck_assert_int_eq(ring_map_size(15, RING_SLOT_SIZE_MAX, UINT32_MAX,
	    &size), 0);
	ck_assert_uint_eq(size, RING_HEADER_SIZE + 15ull * RING_SLOT_SIZE_MAX);
	/* A max beyond this machine's address space: SIZE_MAX still holds
	 * (on a 32-bit system the largest geometry does not fit). */
	if ((uint64_t)SIZE_MAX < RING_HEADER_SIZE +
	    (uint64_t)RING_SLOTS_MAX * RING_SLOT_SIZE_MAX)
		ck_assert_int_eq(ring_map_size(RING_SLOTS_MAX,
		    RING_SLOT_SIZE_MAX, UINT64_MAX, &size), -EFBIG);
	else {
		ck_assert_int_eq(ring_map_size(RING_SLOTS_MAX,
		    RING_SLOT_SIZE_MAX, UINT64_MAX, &size), 0);
		ck_assert_uint_eq(size, RING_HEADER_SIZE +
		    (uint64_t)RING_SLOTS_MAX * RING_SLOT_SIZE_MAX);
	}
	ck_assert_int_eq(ring_map_size(2, SLOT_SIZE, UINT64_MAX, &size),
	    -EINVAL);
	ck_assert_int_eq(ring_map_size(4, 1000, UINT64_MAX, &size), -EINVAL);
}
END_TEST

/* A reader's mapping is read-only: writing to it must fault. */
START_TEST(test_reader_map_is_read_only)
{
	struct ring_writer w;
	struct ring_reader r;

	setup_name();
	ck_assert_int_eq(ring_writer_create(&w, ring_name, 4, SLOT_SIZE), 0);
	ck_assert_int_eq(ring_reader_attach_fd(&r, w.rw_ro_fd), 0);
	/* The fd handed to servers cannot be mapped writable either. */
	ck_assert_ptr_eq(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
	    w.rw_ro_fd, 0), MAP_FAILED);
	ck_assert_int_eq(errno, EACCES);
	*(volatile uint8_t *)(uintptr_t)r.rr_map = 0;	/* SIGSEGV */
}
END_TEST

static Suite *
ring_suite(void)
{
	Suite *s = suite_create("ring");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_abi_pin);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_create_rejects_bad_geometry);
	tcase_add_test(tc, test_publish_read);
	tcase_add_test(tc, test_wraparound_and_overrun);
	tcase_add_test(tc, test_begin_abort_commit);
	tcase_add_test(tc, test_generation_change);
	tcase_add_test(tc, test_codec_fields);
	tcase_add_test(tc, test_aborted_slot_is_overwritten);
	tcase_add_test(tc, test_counters_are_the_writers);
	tcase_add_test(tc, test_sealed);
	tcase_add_test(tc, test_reader_wants_sealed_read_only);
	tcase_add_test(tc, test_map_size);
	tcase_add_test(tc, test_writer_survives_scribbling);
	tcase_add_test(tc, test_corrupt_headers);
	tcase_add_test(tc, test_corrupt_slots);
	tcase_add_test_raise_signal(tc, test_reader_map_is_read_only,
	    SIGSEGV);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(ring_suite());
}
