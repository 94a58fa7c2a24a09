"""shmcam-rtsp with the clients that use it: ffmpeg (Home Assistant's
stream component, Frigate) and GStreamer's rtspsrc, each over RTP over
TCP and over UDP, each decoding 150 frames of the simulated camera, and
each frame is the camera's picture (tests/tools/simref reads the frame's
barcode and renders that frame again; SSIM against it).  ffprobe reads
what DESCRIBE says.

VLC is not among them: Debian builds it without live555
(--disable-live555), its only RTSP client for H.264, so Debian's VLC
cannot open rtsp:// at all (it tries SAT>IP and RealRTSP and gives up);
docs/integrations.md says so."""

import os
import subprocess

from h264tools import need_x264, ssim
from rtsptools import ffmpeg_raw, gst_raw, start_rtsp
from shmcam import BUILD
from test_v4l2 import V4l2TestCase

SIMREF = os.path.join(BUILD, "tests", "simref")
W, H = 320, 240
FRAMES = 150
# Per frame, each plane; the bounds of test_h264_sources (measured at
# this size and rate: luma 0.87 to 0.99, chroma above 0.999; a picture
# 8 pixels off gives luma 0.67, swapped chroma 0.84).
MIN_Y = 0.8
MIN_UV = 0.97


class RtspClientsTest(V4l2TestCase):

    def setUp(self):
        super().setUp()
        self.name = self.new_name()
        self.start_sim_capture(self.name, "--format", "YUYV", "--size",
                               "%dx%d" % (W, H), "--fps", "30",
                               "--h264-bitrate", "1000",
                               sim={"V4L2SIM_FORMATS": "YUYV:%dx%d@30"
                                    % (W, H)})
        self.rtsp = start_rtsp(self, self.name)
        self.rtsp.wait_log(r"h264 ring", what="the H.264 ring")

    def check_picture(self, raw):
        """150 frames of the camera, in order, each its picture."""
        ref = os.path.join(self.tmp, "ref.yuv")
        r = subprocess.run([SIMREF, "%dx%d" % (W, H), raw, ref],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        seqs = [int(line.split()[3]) for line in r.stdout.splitlines()]
        self.assertEqual(len(seqs), FRAMES)
        for a, b in zip(seqs, seqs[1:]):
            self.assertGreater(b, a, "frames out of order or repeated")
        for i, v in enumerate(ssim(raw, ref, W, H)):
            self.assertGreater(v["Y"], MIN_Y, (i, v))
            self.assertGreater(v["U"], MIN_UV, (i, v))
            self.assertGreater(v["V"], MIN_UV, (i, v))
        return seqs

    @need_x264
    def test_ffprobe_reads_the_description(self):
        r = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport",
                            "tcp", "-select_streams", "v:0", "-show_streams",
                            self.rtsp.url(self.name)],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        info = dict(line.split("=", 1) for line in r.stdout.splitlines()
                    if "=" in line)
        self.assertEqual(info["codec_name"], "h264")
        self.assertEqual((info["width"], info["height"]), ("320", "240"))
        self.assertEqual(info["profile"], "Main")
        self.assertEqual(info["pix_fmt"], "yuv420p")

    @need_x264
    def test_ffmpeg_tcp(self):
        raw = os.path.join(self.tmp, "out.yuv")
        ffmpeg_raw(self.rtsp.url(self.name), raw, FRAMES, "tcp")
        self.check_picture(raw)

    @need_x264
    def test_ffmpeg_udp(self):
        raw = os.path.join(self.tmp, "out.yuv")
        ffmpeg_raw(self.rtsp.url(self.name + "/stream"), raw, FRAMES, "udp")
        self.check_picture(raw)
        # It really was UDP.
        self.rtsp.wait_log(r"over UDP")

    @need_x264
    def test_gstreamer_tcp(self):
        raw = os.path.join(self.tmp, "out.yuv")
        gst_raw(self.rtsp.url(self.name), raw, FRAMES, "tcp")
        self.check_picture(raw)

    @need_x264
    def test_gstreamer_udp(self):
        raw = os.path.join(self.tmp, "out.yuv")
        gst_raw(self.rtsp.url(), raw, FRAMES, "udp")
        self.check_picture(raw)
        self.rtsp.wait_log(r"over UDP")
