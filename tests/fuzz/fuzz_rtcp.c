/*
 * fuzz_rtcp.c - what RTP receivers send shmcam-rtsp, against arbitrary
 * bytes: the RTCP parser (rtsp/rtcp.c), with the SSRC it looks for
 * taken from the input so that report blocks and feedback about "us"
 * are reached.  Also the H.264 packetizer (rtsp/rtp.c) on the same
 * bytes as an access unit: whatever it accepts must come back whole
 * through the tests' depacketizer.
 *
 * Checked: rtcp_parse() accepts only compound packets whose lengths add
 * up and then counts no more feedback than the packets could hold; the
 * packetizer never writes outside its buffers and round-trips.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rtcp.h"
#include "rtp.h"
#include "rtsp/rtpdepay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_rtcp(const uint8_t *p, size_t n, uint32_t ssrc)
{
	struct rtcp_feedback fb;

	if (rtcp_parse(p, n, ssrc, &fb) != 0) {
		if (fb.fb_packets != 0 || fb.fb_pli != 0)
			abort();
		return;
	}
	if (fb.fb_packets == 0 || fb.fb_packets > n / 4 ||
	    fb.fb_reports > n / 24 || fb.fb_fir > n / 8 ||
	    fb.fb_pli > n / 12)
		abort();
}

static void
check_rtp(const uint8_t *au, size_t len, size_t mtu)
{
	static uint8_t back[70000];
	struct rtp_depay d;
	struct rtp_out out;
	size_t bytes;
	unsigned packets;
	uint16_t seq = 65535;
	int n, k;

	rtp_h264_bound(len, (unsigned)(len / 5 + 1), mtu, &bytes, &packets);
	memset(&out, 0, sizeof(out));
	out.o_buf = malloc(bytes);
	out.o_cap = bytes;
	out.o_pk = malloc(packets * sizeof(*out.o_pk));
	out.o_maxpk = packets;
	if (out.o_buf == NULL || out.o_pk == NULL)
		abort();
	n = rtp_h264_packetize(au, len, 7, 9, &seq, mtu, &out);
	if (n == -ENOBUFS)
		abort();		/* the bound is a bound */
	if (n > 0) {
		rtp_depay_init(&d, back, sizeof(back));
		for (k = 0; k < n; k++) {
			if (out.o_pk[k].p_len > mtu)
				abort();
			if (rtp_depay_push(&d, out.o_buf + out.o_pk[k].p_off +
			    RTP_PREFIX_SIZE, out.o_pk[k].p_len) != 0)
				abort();
		}
		if (!d.d_done || d.d_len != len || memcmp(back, au, len) != 0)
			abort();
	}
	free(out.o_buf);
	free(out.o_pk);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;
	uint32_t ssrc;

	if (size < 6 || size > 65536)
		return 0;
	ssrc = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
	    (uint32_t)data[2] << 8 | data[3];
	/* Exactly sized, so a read past the end is reported. */
	copy = malloc(size - 4);
	if (copy == NULL)
		return 0;
	memcpy(copy, data + 4, size - 4);
	check_rtcp(copy, size - 4, ssrc);
	check_rtp(copy, size - 4, RTP_PACKET_MIN + data[4] % 64 +
	    (data[5] & 1) * RTP_PACKET_MAX);
	free(copy);
	return 0;
}
