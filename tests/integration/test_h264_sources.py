"""Every source path gives the source's picture in H.264: each raw format
of the simulated camera (tests/v4l2sim), its MJPEG, and its own H.264
(passed through), decoded by ffmpeg and compared by SSIM with the frame
the camera made (tests/tools/simref reads each decoded frame's barcode
and renders that frame again).  Broken access units from an H.264 camera
are dropped and counted, and what is published still decodes without an
error."""

import os
import subprocess

from h264tools import PASSTHROUGH, decode, h264dump, need_x264, ssim
from shmcam import BUILD
from test_v4l2 import V4l2TestCase

SIMREF = os.path.join(BUILD, "tests", "simref")
W, H = 320, 240
FRAMES = 30

# Per frame, each plane.  Measured at 320x240, 1000 kbit/s: luma 0.87 to
# 0.99 (the camera's noisy texture is what costs), chroma above 0.999.
# A picture 8 pixels off gives luma 0.67, swapped chroma 0.84: the bounds
# sit between.
MIN_Y = 0.8
MIN_UV = 0.97


class H264SourcesTest(V4l2TestCase):

    def picture_check(self, sim_format, capture_format, grey=False,
                      sim=None):
        name = self.new_name()
        env = {"V4L2SIM_FORMATS": "%s:%dx%d@30" % (sim_format, W, H)}
        env.update(sim or {})
        self.start_sim_capture(name, "--format", capture_format, "--size",
                               "%dx%d" % (W, H), "--fps", "30",
                               "--h264-bitrate", "1000", sim=env)
        out = os.path.join(self.tmp, "out.h264")
        idx = os.path.join(self.tmp, "out.idx")
        index = h264dump(self.ctl_path(name), out, idx, frames=FRAMES)
        raw = os.path.join(self.tmp, "out.yuv")
        ref = os.path.join(self.tmp, "ref.yuv")
        decode(out, raw)
        r = subprocess.run([SIMREF, "%dx%d" % (W, H), raw, ref] +
                           (["grey"] if grey else []),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        seqs = [int(line.split()[3]) for line in r.stdout.splitlines()]
        self.assertEqual(len(seqs), FRAMES)
        # Consecutive frames of the camera, in order (a 30 fps camera,
        # read by a capture that keeps up).
        for a, b in zip(seqs, seqs[1:]):
            self.assertGreater(b, a)
        for i, v in enumerate(ssim(raw, ref, W, H)):
            self.assertGreater(v["Y"], MIN_Y, (sim_format, i, v))
            self.assertGreater(v["U"], MIN_UV, (sim_format, i, v))
            self.assertGreater(v["V"], MIN_UV, (sim_format, i, v))
        return name, index

    @need_x264
    def test_raw_formats(self):
        # Every raw format of the capture's table (capture/rawframe.c),
        # rows padded (320 pixels into 512-byte aligned rows) so that no
        # conversion can get away with assuming unpadded planes.
        pad = {"V4L2SIM_STRIDE_ALIGN": "512"}
        for sim, fmt in (("YUYV", "YUYV"), ("UYVY", "UYVY"),
                         ("NV12", "NV12"), ("NV21", "NV21"),
                         ("NV16", "NV16"), ("NV61", "NV61"),
                         ("YU12", "YUV420"), ("YV12", "YVU420"),
                         ("RGB3", "RGB24"), ("BGR3", "BGR24"),
                         ("XR24", "XBGR32"), ("GREY", "GREY")):
            with self.subTest(format=fmt):
                self.picture_check(sim, fmt, grey=fmt == "GREY", sim=pad)

    @need_x264
    def test_multiplanar_formats(self):
        # A buffer per plane, each padded, on a multi-planar-only device.
        env = {"V4L2SIM_MPLANE": "1", "V4L2SIM_STRIDE_ALIGN": "512"}
        for sim, fmt in (("NM12", "NV12M"), ("NM21", "NV21M"),
                         ("NM16", "NV16M"), ("NM61", "NV61M"),
                         ("YM12", "YUV420M"), ("YM21", "YVU420M")):
            with self.subTest(format=fmt):
                self.picture_check(sim, fmt, sim=env)

    @need_x264
    def test_mjpeg_decoded_and_encoded(self):
        name, index = self.picture_check("MJPG", "MJPEG")
        for u in index.units:
            self.assertEqual(u.flags & PASSTHROUGH, 0)

    @need_x264
    def test_camera_h264_passed_through(self):
        name, index = self.picture_check("H264", "H264")
        for u in index.units:
            self.assertEqual(u.flags & PASSTHROUGH, PASSTHROUGH)
        info = self.ring_info(name, h264=True)
        # Nothing of ours: no encoding, no rate limit or GOP of ours.
        self.assertEqual(info["encoded"], 0)
        self.assertEqual(info["bitrate_kbps"], 0)
        self.assertGreater(info["params_len"], 8)
        # Its JPEG ring says why it has no picture of its own.
        self.assertEqual(self.ring_info(name)["frame_flags"] & 1, 1)

    @need_x264
    def test_broken_h264_dropped_and_counted(self):
        name = self.new_name()
        cap = self.start_sim_capture(
            name, "--format", "H264", "--size", "%dx%d" % (W, H),
            sim={"V4L2SIM_FORMATS": "H264:%dx%d@30" % (W, H),
                 "V4L2SIM_GARBAGE_EVERY": 25})
        out = os.path.join(self.tmp, "out.h264")
        idx = os.path.join(self.tmp, "out.idx")
        index = h264dump(self.ctl_path(name), out, idx, frames=60)
        # What was published decodes with no error at all: nothing
        # broken, nothing that refers to a picture that was dropped.
        self.assertEqual(decode(out), 60)
        info = self.ring_info(name, h264=True)
        # One in 25 broken (cut before its picture, or noise), and the
        # pictures after each until the camera's next IDR (every 30)
        # dropped too: in the first 90 frames 6 + 11 + 16.
        self.assertGreater(info["dropped"], 15)
        self.assertRegex(cap.log(), r"dropping a broken")
        keys = [u.seq for u in index.units if u.keyframe]
        self.assertEqual(keys[0], index.units[0].seq)
        # Sequence numbers are the ring's: consecutive whatever dropped.
        for a, b in zip(index.units, index.units[1:]):
            self.assertEqual(b.seq, a.seq + 1)
