"""The fragmented MP4 writer (server/mp4.c) judged by a real demuxer and
decoder: ffprobe must report every sample where, how large and how
flagged the writer meant it, for random sample sizes, timings (jitter,
gaps) and fragment sizes; ffmpeg must decode real x264 output written
by it, every frame, without a complaint."""

import os
import subprocess
import tempfile
import unittest

from shmcam import BUILD

MP4MUX = os.path.join(BUILD, "tests", "mp4mux")


def x264_stream(path, size="640x360", rate=30, frames=150, gop=30,
                profile="baseline", pix_fmt="yuv420p"):
    """An Annex-B H.264 stream of ffmpeg's moving test picture, encoded
    by x264 (Debian's ffmpeg has libx264)."""
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i",
                    "testsrc2=size=%s:rate=%d" % (size, rate),
                    "-frames:v", str(frames), "-pix_fmt", pix_fmt,
                    "-c:v", "libx264", "-profile:v", profile,
                    "-g", str(gop), "-bf", "0", "-f", "h264", path],
                   check=True, timeout=60)


def mux(src, dst, *args):
    """mp4mux's expected samples: [(dts, duration, size, sync)]."""
    r = subprocess.run([MP4MUX] + [str(a) for a in args] + [src, dst],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("mp4mux failed: " + r.stderr)
    return [tuple(int(v) for v in line.split())
            for line in r.stdout.splitlines()]


def probe_packets(path, quiet=False):
    """ffprobe's packets: [(dts, size, keyframe)], and its stderr."""
    r = subprocess.run(["ffprobe", "-v", "quiet" if quiet else "error",
                        "-show_entries", "packet=dts,size,flags",
                        "-of", "csv=p=0", path],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("ffprobe failed on %s: %s" % (path, r.stderr))
    pkts = []
    for line in r.stdout.splitlines():
        dts, size, flags = line.split(",")
        pkts.append((int(dts), int(size), flags.startswith("K")))
    return pkts, r.stderr


class Mp4WriterTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="shmcam-mp4-")
        cls.h264 = os.path.join(cls.tmp, "in.h264")
        x264_stream(cls.h264)

    @classmethod
    def tearDownClass(cls):
        import shutil
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def test_stream_description(self):
        out = self.path("plain.mp4")
        mux(self.h264, out, "--fps", 30)
        r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v",
                            "-show_entries",
                            "stream=codec_name,width,height,r_frame_rate,"
                            "profile", "-of", "default=nw=1", out],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        info = dict(line.split("=", 1) for line in r.stdout.splitlines())
        self.assertEqual(info["codec_name"], "h264")
        self.assertEqual((info["width"], info["height"]), ("640", "360"))
        self.assertEqual(info["r_frame_rate"], "30/1")
        self.assertEqual(info["profile"], "Constrained Baseline")

    def check_packets(self, expected, pkts):
        self.assertEqual(len(pkts), len(expected))
        for i, ((dts, _, size, sync), got) in enumerate(zip(expected, pkts)):
            self.assertEqual(got, (dts, size, bool(sync)),
                             "sample %d: wrote %r, ffprobe read %r"
                             % (i, (dts, size, sync), got))

    def test_random_sizes_and_timings(self):
        # Samples of random bytes and sizes (1 B to 256 KiB): ffprobe only
        # demuxes them (its parser's complaints about the bytes are
        # expected and silenced), and must find each where it was put.
        for seed in range(1, 7):
            with self.subTest(seed=seed):
                out = self.path("random-%d.mp4" % seed)
                expected = mux(self.h264, out, "--random-sizes", "--seed",
                               seed, "--jitter", seed * 3, "--drop",
                               0.05 * (seed % 3), "--group", seed % 4 + 1)
                pkts, _ = probe_packets(out, quiet=True)
                self.check_packets(expected, pkts)
                dts = [e[0] for e in expected]
                self.assertEqual(dts, sorted(set(dts)))

    def test_decodes_with_jitter_gaps_and_groups(self):
        for seed, args in ((11, ()), (12, ("--jitter", 10)),
                           (13, ("--jitter", 5, "--drop", 0.2)),
                           (14, ("--group", 8, "--jitter", 30))):
            with self.subTest(seed=seed, args=args):
                out = self.path("real-%d.mp4" % seed)
                expected = mux(self.h264, out, "--seed", seed, *args)
                pkts, err = probe_packets(out)
                self.assertEqual(err, "")
                self.check_packets(expected, pkts)
                # passthrough: every decoded frame, even two whose
                # times jitter to 1 tick apart.
                r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error",
                                    "-i", out, "-fps_mode", "passthrough",
                                    "-f", "framecrc", "-"],
                                   capture_output=True, text=True,
                                   timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stderr, "")
                frames = [ln for ln in r.stdout.splitlines()
                          if ln and not ln.startswith("#")]
                self.assertEqual(len(frames), 150)

    def test_profiles_and_sizes(self):
        for size, profile, pix_fmt in (("1280x720", "main", "yuv420p"),
                                       ("1366x766", "high", "yuv420p"),
                                       ("320x240", "baseline", "yuv420p")):
            with self.subTest(size=size, profile=profile):
                src = self.path("%s-%s.h264" % (size, profile))
                out = self.path("%s-%s.mp4" % (size, profile))
                x264_stream(src, size=size, frames=20, profile=profile,
                            pix_fmt=pix_fmt)
                mux(src, out)
                r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error",
                                    "-i", out, "-f", "rawvideo",
                                    "-pix_fmt", pix_fmt, "-"],
                                   capture_output=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stderr, b"")
                w, h = (int(v) for v in size.split("x"))
                self.assertEqual(len(r.stdout), 20 * w * h * 3 // 2)
        # What browsers do not all decode is refused, not written: 4:2:2
        # (h264_sps_parse(), -ENOTSUP).
        src = self.path("422.h264")
        x264_stream(src, size="320x240", frames=5, profile="high422",
                    pix_fmt="yuv422p")
        with self.assertRaisesRegex(AssertionError, "not supported"):
            mux(src, self.path("422.mp4"))


if __name__ == "__main__":
    unittest.main()
