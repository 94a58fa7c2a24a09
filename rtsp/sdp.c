/*
 * sdp.c - the session description of a camera's H.264 stream (see
 * sdp.h).
 *
 * Besides what RFC 6184 asks for, it says:
 *   a=range:npt=now-        a live stream: no seeking (ffmpeg, VLC)
 *   a=control:*             the aggregate control URL is the base
 *   a=rtcp-fb: nack pli,    that we act on picture loss indications and
 *              ccm fir      full intra requests (RFC 4585, RFC 5104);
 *                           GStreamer's RTP session sends PLI only when
 *                           the description offers it
 *   a=framerate             the capture's nominal rate, a hint
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <nettle/base64.h>

#include "rtp.h"
#include "proto.h"
#include "sdp.h"

/* Appends base64 of src[0..len) to out at *n. */
static int
put_base64(char *out, size_t size, size_t *n, const uint8_t *src,
    size_t len)
{
	size_t need = BASE64_ENCODE_RAW_LENGTH(len);

	if (size - *n <= need)
		return -1;
	base64_encode_raw(out + *n, len, src);
	*n += need;
	out[*n] = '\0';
	return 0;
}

/* Text SDP can carry in a line: printable, no spaces. */
static int
sdp_text_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

ssize_t
sdp_write(char *buf, size_t size, const struct sdp_params *p)
{
	size_t n = 0;
	int bad = 0;

	if (p->sps_len < 4 || p->pps_len < 1 || !sdp_text_ok(p->name) ||
	    !sdp_text_ok(p->addr) || size == 0)
		return -EINVAL;
	bad |= rtsp_putf(buf, size, &n,
	    "v=0\r\n"
	    "o=- %llu %llu IN %s %s\r\n"
	    "s=%s\r\n"
	    "c=IN %s %s\r\n"
	    "t=0 0\r\n"
	    "a=tool:shmcam\r\n"
	    "a=range:npt=now-\r\n"
	    "a=control:*\r\n"
	    "m=video 0 RTP/AVP %u\r\n"
	    "a=rtpmap:%u H264/%u\r\n"
	    "a=fmtp:%u packetization-mode=1;profile-level-id=%02X%02X%02X;"
	    "sprop-parameter-sets=",
	    (unsigned long long)p->session_id, (unsigned long long)p->version,
	    p->ipv6 ? "IP6" : "IP4", p->addr, p->name,
	    p->ipv6 ? "IP6" : "IP4", p->ipv6 ? "::" : "0.0.0.0",
	    RTP_PT_H264, RTP_PT_H264, RTP_CLOCK_RATE, RTP_PT_H264,
	    p->sps[1], p->sps[2], p->sps[3]);
	if (bad == 0)
		bad |= put_base64(buf, size, &n, p->sps, p->sps_len);
	bad |= rtsp_putf(buf, size, &n, ",");
	if (bad == 0)
		bad |= put_base64(buf, size, &n, p->pps, p->pps_len);
	bad |= rtsp_putf(buf, size, &n, "\r\n"
	    "a=rtcp-fb:%u nack pli\r\n"
	    "a=rtcp-fb:%u ccm fir\r\n", RTP_PT_H264, RTP_PT_H264);
	if (p->fps_milli != 0)
		bad |= rtsp_putf(buf, size, &n, "a=framerate:%u.%03u\r\n",
		    p->fps_milli / 1000, p->fps_milli % 1000);
	bad |= rtsp_putf(buf, size, &n, "a=control:%s\r\n",
	    RTSP_TRACK_CONTROL);
	return bad ? -ENOBUFS : (ssize_t)n;
}
