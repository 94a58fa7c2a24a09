/*
 * mkseeds - writes seed inputs for the fuzzers: real rings (made by the
 * real writer, with frames in them), real control messages and scripts
 * of them for both ends (the formats are at the top of fuzz_peers.c and
 * fuzz_link.c), and real JPEGs from TurboJPEG (with their tables
 * stripped, as UVC cameras send them, and padded).
 *
 *   mkseeds DIR   writes DIR/ring/, DIR/ctl/, DIR/peers/, DIR/link/,
 *                 DIR/mjpeg/ and (with x264) DIR/h264/
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <turbojpeg.h>

#include "ctl.h"
#include "ring.h"
#include "v4l2sim/simh264.h"

static void
put(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void
ring_seeds(const char *dir)
{
	static const uint8_t jpeg[] = { 0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J',
	    'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xff, 0xd9 };
	struct ring_writer w;
	struct ring_frame f;
	struct ring_status st;
	char name[64], file[64];
	int frames[] = { 0, 1, 2, 5 };

	for (size_t k = 0; k < sizeof(frames) / sizeof(frames[0]); k++) {
		snprintf(name, sizeof(name), "shmcam-mkseeds-%d", (int)getpid());
		if (ring_writer_create(&w, name, RING_SLOTS_MIN,
		    RING_SLOT_SIZE_MIN) != 0) {
			fprintf(stderr, "ring_writer_create failed\n");
			exit(1);
		}
		memset(&st, 0, sizeof(st));
		st.width = 64;
		st.height = 48;
		st.state = RING_STATE_ONLINE;
		snprintf(st.source, sizeof(st.source), "pattern");
		ring_writer_set_status(&w, &st);
		for (int i = 0; i < frames[k]; i++) {
			memset(&f, 0, sizeof(f));
			f.length = sizeof(jpeg);
			f.width = 64;
			f.height = 48;
			ring_writer_publish(&w, &f, jpeg);
		}
		snprintf(file, sizeof(file), "ring/frames-%d", frames[k]);
		put(dir, file, w.rw_map, w.rw_map_size);
		/* The same ring, cut short. */
		snprintf(file, sizeof(file), "ring/short-%d", frames[k]);
		put(dir, file, w.rw_map, w.rw_map_size / 2);
		ring_writer_destroy(&w);
	}

	/* An H.264 ring: parameters, a keyframe and two more frames, with
	 * the encoder's counters. */
	{
		static const uint8_t params[] = { 0, 0, 0, 4, 0x67, 0x42, 0xc0,
		    0x1f, 0, 0, 0, 2, 0x68, 0xce };
		static const uint8_t au[] = { 0, 0, 0, 4, 0x67, 0x42, 0xc0,
		    0x1f, 0, 0, 0, 2, 0x68, 0xce, 0, 0, 0, 3, 0x65, 0x88, 0x80 };

		snprintf(name, sizeof(name), "shmavc-mkseeds-%d", (int)getpid());
		if (ring_writer_create_codec(&w, name, RING_CODEC_H264,
		    RING_SLOTS_MIN, RING_SLOT_SIZE_MIN) != 0) {
			fprintf(stderr, "ring_writer_create_codec failed\n");
			exit(1);
		}
		ring_writer_set_status(&w, &st);
		ring_writer_set_params(&w, 1, params, sizeof(params), 1000, 30);
		for (int i = 0; i < 3; i++) {
			memset(&f, 0, sizeof(f));
			f.length = sizeof(au);
			f.width = 64;
			f.height = 48;
			f.flags = i == 0 ? RING_FRAME_KEYFRAME : 0;
			ring_writer_count_encode(&w, 1000000);
			ring_writer_publish(&w, &f, au);
		}
		ring_writer_count_requests(&w, 3, 1);
		put(dir, "ring/h264-3", w.rw_map, w.rw_map_size);
		ring_writer_destroy(&w);
	}
}

static void
ctl_seeds(const char *dir)
{
	union ctl_msg m;
	uint8_t buf[1 + sizeof(m)];

	/* Byte 0: descriptors to attach; then the message. */
	ctl_init(&m.hdr, CTL_HELLO, sizeof(m.hello));
	snprintf(m.hello.label, sizeof(m.hello.label), "server/x");
	buf[0] = 0;
	memcpy(buf + 1, &m, sizeof(m.hello));
	put(dir, "ctl/hello", buf, 1 + sizeof(m.hello));

	ctl_init(&m.hdr, CTL_WELCOME, sizeof(m.welcome));
	m.welcome.kinds = CTL_KINDS_ALL;
	snprintf(m.welcome.shm_name, sizeof(m.welcome.shm_name), "shmcam-x");
	buf[0] = 2;
	memcpy(buf + 1, &m, sizeof(m.welcome));
	put(dir, "ctl/welcome", buf, 1 + sizeof(m.welcome));
	buf[0] = 20;
	put(dir, "ctl/welcome-20fds", buf, 1 + sizeof(m.welcome));

	ctl_init(&m.hdr, CTL_REFUSED, sizeof(m.refused));
	snprintf(m.refused.reason, sizeof(m.refused.reason), "no");
	buf[0] = 0;
	memcpy(buf + 1, &m, sizeof(m.refused));
	put(dir, "ctl/refused", buf, 1 + sizeof(m.refused));

	ctl_init(&m.hdr, CTL_VIEWERS, sizeof(m.viewers));
	m.viewers.viewers[CTL_KIND_JPEG] = 3;
	m.viewers.viewers[CTL_KIND_H264] = 2;
	buf[0] = 1;
	memcpy(buf + 1, &m, sizeof(m.viewers));
	put(dir, "ctl/viewers-1fd", buf, 1 + sizeof(m.viewers));

	ctl_init(&m.hdr, CTL_STREAM, sizeof(m.stream));
	m.stream.kind = CTL_KIND_H264;
	m.stream.codec = RING_CODEC_H264;
	snprintf(m.stream.shm_name, sizeof(m.stream.shm_name), "shmavc-x");
	buf[0] = 2;
	memcpy(buf + 1, &m, sizeof(m.stream));
	put(dir, "ctl/stream", buf, 1 + sizeof(m.stream));

	ctl_init(&m.hdr, CTL_KEYFRAME, sizeof(m.keyframe));
	m.keyframe.kind = CTL_KIND_H264;
	buf[0] = 0;
	memcpy(buf + 1, &m, sizeof(m.keyframe));
	put(dir, "ctl/keyframe", buf, 1 + sizeof(m.keyframe));
}

/* A script being written: steps appended to buf. */
struct script {
	uint8_t	 buf[4096];
	size_t	 len;
};

static void
step(struct script *s, uint8_t op)
{
	s->buf[s->len++] = op;
}

/* A message step: op, descriptor bytes, little-endian length, bytes. */
static void
step_msg(struct script *s, uint8_t op, const uint8_t *fdbytes, size_t nfdb,
    const void *msg, size_t len)
{
	s->buf[s->len++] = op;
	memcpy(s->buf + s->len, fdbytes, nfdb);
	s->len += nfdb;
	s->buf[s->len++] = (uint8_t)(len & 0xff);
	s->buf[s->len++] = (uint8_t)(len >> 8);
	memcpy(s->buf + s->len, msg, len);
	s->len += len;
}

static void
peers_seeds(const char *dir)
{
	struct ctl_hello hello;
	struct ctl_viewers viewers;
	struct ctl_keyframe kf;
	struct script s;
	uint8_t none = 0, three = 3;

	ctl_init(&hello.h, CTL_HELLO, sizeof(hello));
	hello.pid = 1234;
	hello.ring_abi = RING_ABI_VERSION;
	snprintf(hello.label, sizeof(hello.label), "server/x");
	ctl_init(&viewers.h, CTL_VIEWERS, sizeof(viewers));
	viewers.viewers[CTL_KIND_JPEG] = 3;
	ctl_init(&kf.h, CTL_KEYFRAME, sizeof(kf));
	kf.kind = CTL_KIND_H264;

	/* Two servers attach, report viewers, are woken, leave. */
	memset(&s, 0, sizeof(s));
	step_msg(&s, 0x00, &none, 1, &hello, sizeof(hello));
	step(&s, 0x01);
	step_msg(&s, 0x00, &none, 1, &viewers, sizeof(viewers));
	step(&s, 0x03);
	step_msg(&s, 0x04, &none, 1, &hello, sizeof(hello));
	step(&s, 0x05);
	viewers.viewers[CTL_KIND_JPEG] = 7;
	step_msg(&s, 0x04, &none, 1, &viewers, sizeof(viewers));
	step(&s, 0x01);
	step(&s, 0x02);
	step(&s, 0x03);
	step(&s, 0x05);
	put(dir, "peers/two-servers", s.buf, s.len);

	/* Descriptors nobody asked for, viewers before hello, a second
	 * hello. */
	memset(&s, 0, sizeof(s));
	step_msg(&s, 0x00, &three, 1, &hello, sizeof(hello));
	step(&s, 0x01);
	step_msg(&s, 0x04, &none, 1, &viewers, sizeof(viewers));
	step(&s, 0x05);
	step_msg(&s, 0x00, &none, 1, &hello, sizeof(hello));
	step_msg(&s, 0x00, &none, 1, &hello, sizeof(hello));
	step(&s, 0x01);
	put(dir, "peers/junk", s.buf, s.len);

	/* Servers that ask for H.264 get its ring, report H.264 viewers
	 * and ask for keyframes, also before their hello. */
	memset(&s, 0, sizeof(s));
	hello.kinds = CTL_KINDS_ALL;
	step_msg(&s, 0x08, &none, 1, &kf, sizeof(kf));
	step_msg(&s, 0x0c, &none, 1, &hello, sizeof(hello));
	step(&s, 0x05);
	viewers.viewers[CTL_KIND_H264] = 4;
	step_msg(&s, 0x0c, &none, 1, &viewers, sizeof(viewers));
	step_msg(&s, 0x0c, &none, 1, &kf, sizeof(kf));
	step_msg(&s, 0x0c, &none, 1, &kf, sizeof(kf));
	step(&s, 0x03);
	step(&s, 0x05);
	step(&s, 0x06);
	put(dir, "peers/h264", s.buf, s.len);
	hello.kinds = 0;
	viewers.viewers[CTL_KIND_H264] = 0;

	/* A server that reads another ring ABI is refused. */
	memset(&s, 0, sizeof(s));
	hello.ring_abi = RING_ABI_VERSION + 1;
	step_msg(&s, 0x08, &none, 1, &hello, sizeof(hello));
	step(&s, 0x01);
	put(dir, "peers/wrong-abi", s.buf, s.len);
}

static void
link_seeds(const char *dir)
{
	struct ctl_welcome w;
	struct ctl_refused r;
	struct ctl_viewers v;
	struct script s;
	/* Descriptor count, then two bits of kind each: eventfd, ring. */
	const uint8_t efd_ring[2] = { 2, 0 | 1 << 2 };
	const uint8_t file_memfd[2] = { 2, 2 | 3 << 2 };
	const uint8_t many[2] = { 7, 0 | 1 << 2 | 2 << 4 | 3 << 6 };
	const uint8_t none[2] = { 0, 0 };

	ctl_init(&w.h, CTL_WELCOME, sizeof(w));
	w.ring_abi = RING_ABI_VERSION;
	w.width = 64;
	w.height = 48;
	w.fps_milli = 30000;
	w.pid = 4321;
	w.kinds = CTL_KIND_BIT(CTL_KIND_JPEG);
	snprintf(w.shm_name, sizeof(w.shm_name), "shmcam-x");

	/* Attached (the harness fills in the ring's generation and
	 * geometry), frames, a junk frame, the capture leaves. */
	memset(&s, 0, sizeof(s));
	step_msg(&s, 0x18, efd_ring, 2, &w, sizeof(w));
	step(&s, 0x02);
	step(&s, 0x01);
	step(&s, 0x02);
	step(&s, 0x0a);
	step(&s, 0x01);
	step(&s, 0x03);
	put(dir, "link/attach-frames", s.buf, s.len);

	/* A welcome for another ring, then wrong descriptors, then too
	 * many. */
	memset(&s, 0, sizeof(s));
	step_msg(&s, 0x00, efd_ring, 2, &w, sizeof(w));
	step_msg(&s, 0x18, file_memfd, 2, &w, sizeof(w));
	step_msg(&s, 0x18, many, 2, &w, sizeof(w));
	step(&s, 0x01);
	put(dir, "link/bad-welcomes", s.buf, s.len);

	/* Attached, then the H.264 ring (op & 32: its descriptor), then a
	 * replacement of it, then a stream for the wrong codec. */
	{
		struct ctl_stream st;

		memset(&s, 0, sizeof(s));
		ctl_init(&st.h, CTL_STREAM, sizeof(st));
		st.kind = CTL_KIND_H264;
		st.codec = RING_CODEC_H264;
		st.width = 64;
		st.height = 48;
		snprintf(st.shm_name, sizeof(st.shm_name), "shmavc-x");
		w.kinds = CTL_KINDS_ALL;
		step_msg(&s, 0x18, efd_ring, 2, &w, sizeof(w));
		step(&s, 0x01);
		step_msg(&s, 0x38, efd_ring, 2, &st, sizeof(st));
		step(&s, 0x01);
		step_msg(&s, 0x38, efd_ring, 2, &st, sizeof(st));
		step(&s, 0x02);
		step_msg(&s, 0x18, efd_ring, 2, &st, sizeof(st));
		step(&s, 0x01);
		put(dir, "link/attach-h264", s.buf, s.len);
		w.kinds = CTL_KIND_BIT(CTL_KIND_JPEG);
	}

	/* Refused, and an unexpected message after attaching. */
	memset(&s, 0, sizeof(s));
	ctl_init(&r.h, CTL_REFUSED, sizeof(r));
	r.error = 87;
	snprintf(r.reason, sizeof(r.reason), "too many servers attached");
	step_msg(&s, 0x00, none, 2, &r, sizeof(r));
	step(&s, 0x01);
	step_msg(&s, 0x18, efd_ring, 2, &w, sizeof(w));
	ctl_init(&v.h, CTL_VIEWERS, sizeof(v));
	v.viewers[CTL_KIND_JPEG] = 1;
	step_msg(&s, 0x00, none, 2, &v, sizeof(v));
	step(&s, 0x01);
	put(dir, "link/refused-unexpected", s.buf, s.len);
}

/* buf[0..len) without its DHT segments (those before the first scan). */
static size_t
strip_dht(uint8_t *buf, size_t len)
{
	size_t i = 2, seg;

	while (i + 4 <= len && buf[i] == 0xff && buf[i + 1] != 0xda) {
		seg = 2 + ((size_t)buf[i + 2] << 8 | buf[i + 3]);
		if (i + seg > len)
			break;
		if (buf[i + 1] == 0xc4) {
			memmove(buf + i, buf + i + seg, len - i - seg);
			len -= seg;
		} else
			i += seg;
	}
	return len;
}

static void
mjpeg_seeds(const char *dir)
{
	/* After the EOI, before the padding: junk that ends no frame (the
	 * check walks the data then), or a marker inside the data that
	 * only the walk sees (an SOI 20 bytes before the end). */
	enum { TAIL_NONE, TAIL_JUNK, TAIL_SOI_INSIDE };
	static const uint8_t junk[] = { 0xff, 0xd8, 0x12 };
	static const struct {
		const char	*name;
		int		 w, h, subsamp, flags, strip, pad, tail;
	} v[] = {
		{ "mjpeg/420", 16, 16, TJSAMP_420, 0, 0, 0, 0 },
		{ "mjpeg/422-no-dht", 32, 16, TJSAMP_422, 0, 1, 0, 0 },
		{ "mjpeg/gray-padded", 24, 8, TJSAMP_GRAY, 0, 0, 64, 0 },
		{ "mjpeg/444-progressive", 16, 8, TJSAMP_444, TJFLAG_PROGRESSIVE,
		    0, 0, 0 },
		{ "mjpeg/420-no-dht-padded", 16, 16, TJSAMP_420, 0, 1, 16, 0 },
		{ "mjpeg/420-junk-padded", 16, 16, TJSAMP_420, 0, 0, 8,
		    TAIL_JUNK },
		{ "mjpeg/422-soi-inside", 32, 16, TJSAMP_422, 0, 0, 4,
		    TAIL_SOI_INSIDE },
	};
	uint8_t rgb[32 * 16 * 3], out[8192];
	unsigned char *jpeg;
	unsigned long len;
	size_t i, n, k;
	tjhandle tj;

	for (k = 0; k < sizeof(rgb); k++)
		rgb[k] = (uint8_t)(k * 37 + k / 7);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		tj = tjInitCompress();
		jpeg = NULL;
		len = 0;
		if (tj == NULL || tjCompress2(tj, rgb, v[i].w, 0, v[i].h,
		    TJPF_RGB, &jpeg, &len, v[i].subsamp, 75, v[i].flags) != 0 ||
		    len + sizeof(junk) + (size_t)v[i].pad > sizeof(out)) {
			fprintf(stderr, "%s: TurboJPEG failed\n", v[i].name);
			exit(1);
		}
		memcpy(out, jpeg, len);
		n = v[i].strip ? strip_dht(out, len) : len;
		if (v[i].tail == TAIL_JUNK) {
			memcpy(out + n, junk, sizeof(junk));
			n += sizeof(junk);
		} else if (v[i].tail == TAIL_SOI_INSIDE) {
			out[n - 20] = 0xff;
			out[n - 19] = 0xd8;
		}
		memset(out + n, 0, (size_t)v[i].pad);
		put(dir, v[i].name, out, n + (size_t)v[i].pad);
		tjFree(jpeg);
		tjDestroy(tj);
	}
}

/*
 * Streams of access units as fuzz_h264 reads them (a 2-byte length, the
 * unit), from x264 the way the simulated camera sends them: an AUD before
 * each picture, parameter sets before the first IDR only, IDR every 3.
 */
static void
h264_seeds(const char *dir)
{
	static const struct {
		const char	*name;
		const char	*profile;
		int		 headers_once, noise_at;
	} v[] = {
		{ "h264/main-once", "main", 1, -1 },
		{ "h264/baseline-every-idr", "baseline", 0, -1 },
		{ "h264/high-noise", "high", 1, 2 },
	};
	static uint8_t img[64 * 48 * 3 / 2], buf[65536];
	struct simh264_opts o = { .gop = 3, .aud = 1, .annexb = 1 };
	struct simh264 *enc;
	const uint8_t *au;
	size_t len, n;
	int idr;

	if (!simh264_available())
		return;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		o.profile = v[i].profile;
		o.headers_once = v[i].headers_once;
		if (simh264_new(&enc, 64, 48, 30, &o) != 0) {
			fprintf(stderr, "x264 refused %s\n", v[i].name);
			exit(1);
		}
		n = 0;
		for (int f = 0; f < 7; f++) {
			for (size_t k = 0; k < sizeof(img); k++)
				img[k] = (uint8_t)(k * 5 + f * 9 + k / 64);
			if (simh264_encode(enc, img, img + 64 * 48,
			    img + 64 * 48 * 5 / 4, 0, &au, &len, &idr) != 0 ||
			    n + 2 + len > sizeof(buf)) {
				fprintf(stderr, "x264 failed\n");
				exit(1);
			}
			if (f == v[i].noise_at) {
				/* A unit of noise instead of this one. */
				for (size_t k = 0; k < 40; k++)
					buf[n + 2 + k] = (uint8_t)(k * 97 + 13);
				len = 40;
			} else
				memcpy(buf + n + 2, au, len);
			buf[n] = (uint8_t)len;
			buf[n + 1] = (uint8_t)(len >> 8);
			n += 2 + len;
		}
		put(dir, v[i].name, buf, n);
		simh264_free(enc);
	}
}

int
main(int argc, char **argv)
{
	static const char *const subs[] = { "ring", "ctl", "peers", "link",
	    "mjpeg", "h264" };
	char sub[4096];
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds DIR\n");
		return 2;
	}
	mkdir(argv[1], 0755);
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		snprintf(sub, sizeof(sub), "%s/%s", argv[1], subs[i]);
		mkdir(sub, 0755);
	}
	ring_seeds(argv[1]);
	ctl_seeds(argv[1]);
	peers_seeds(argv[1]);
	link_seeds(argv[1]);
	mjpeg_seeds(argv[1]);
	h264_seeds(argv[1]);
	return 0;
}
