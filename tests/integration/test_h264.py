"""H.264 from the capture, as a server sees it (tests/tools/h264dump
attaches through the control socket, says it has an H.264 viewer, and
writes the ring's access units as Annex B): ffprobe and ffmpeg decode it
at the right size and profile; it is the source's picture (SSIM against
the JPEG ring's frames of the same capture time); keyframes come at the
GOP and on request, a flood of requests costs at most one keyframe per
250 ms; encoding stops with the last viewer and resumes with a keyframe;
a restarted capture brings a new generation with its parameter sets; the
encoder's threads pass the sandbox; a build without x264 says so."""

import os
import subprocess
import unittest

from h264tools import (H264DUMP, X264, Index, decode, ffprobe,
                       frame_bytes, h264dump, need_x264, ssim)
from shmcam import CAPTURE, Proc, ShmcamTestCase, drop_args, wait_until

# ctl.h CTL_KEYFRAME_INTERVAL_MS
INTERVAL_S = 0.25


class H264Test(ShmcamTestCase):

    def paths(self, tag):
        return (os.path.join(self.tmp, tag + ".h264"),
                os.path.join(self.tmp, tag + ".idx"))

    @need_x264
    def test_pattern_decodes_as_the_source(self):
        name = self.new_name()
        self.start_capture(name, "--source", "pattern", "--size",
                           "640x360", "--fps", "30")
        out, idx = self.paths("pattern")
        jdir = os.path.join(self.tmp, "jpeg")
        os.mkdir(jdir)
        index = h264dump(self.ctl_path(name), out, idx, frames=60,
                         args=["-j", jdir])
        info = ffprobe(out)
        self.assertEqual(info["codec_name"], "h264")
        self.assertEqual((info["width"], info["height"]), ("640", "360"))
        self.assertEqual(info["profile"], "Main")
        self.assertEqual(info["pix_fmt"], "yuv420p")
        self.assertEqual(decode(out), 60)
        units = index.written()
        self.assertEqual(len(units), 60)
        self.assertTrue(units[0].keyframe)
        for u in units:
            self.assertEqual((u.width, u.height), (640, 360))
        for a, b in zip(units, units[1:]):
            self.assertEqual(b.seq, a.seq + 1)
            self.assertGreater(b.capture_real_ns, a.capture_real_ns)

        # The picture: each decoded frame against the JPEG the capture
        # made of the same source frame (same capture time).
        raw = os.path.join(self.tmp, "h264.yuv")
        decode(out, raw)
        fb = frame_bytes(640, 360)
        with open(raw, "rb") as f:
            frames = f.read()
        a = os.path.join(self.tmp, "a.yuv")
        b = os.path.join(self.tmp, "b.yuv")
        n = 0
        with open(a, "wb") as fa, open(b, "wb") as fb_:
            for i, u in enumerate(units):
                jpg = os.path.join(jdir, "%d.jpg" % u.capture_real_ns)
                if not os.path.exists(jpg):
                    continue
                jraw = os.path.join(self.tmp, "j.yuv")
                decode(jpg, jraw, fmt=None)
                with open(jraw, "rb") as f:
                    fb_.write(f.read())
                fa.write(frames[i * fb:(i + 1) * fb])
                n += 1
        self.assertGreaterEqual(n, 50, "frames with a JPEG twin")
        values = ssim(a, b, 640, 360)
        worst = min(v["All"] for v in values)
        # Both are lossy copies of the same picture (JPEG at quality 80,
        # H.264 at its default quality); 0.9 is far below what they give
        # (about 0.98 here) and far above a wrong or shifted picture, a
        # frame of another time (the block moves) or swapped chroma
        # (below 0.7 in every such case tried).
        self.assertGreater(worst, 0.9, values)

    @need_x264
    def test_short_stream(self):
        """A small stream through every part of the H.264 path, short
        enough for make check-valgrind (about 10 s under memcheck)."""
        name = self.new_name()
        self.start_capture(name, "--source", "pattern", "--size",
                           "160x120", "--fps", "30")
        out, idx = self.paths("short")
        index = h264dump(self.ctl_path(name), out, idx, frames=20)
        self.assertEqual(decode(out), 20)
        self.assertTrue(index.units[0].keyframe)
        self.assertEqual((index.units[0].width, index.units[0].height),
                         (160, 120))

    @need_x264
    def test_keyframes_at_gop_and_on_request(self):
        name = self.new_name()
        self.start_capture(name, "--source", "pattern", "--size",
                           "320x240", "--fps", "30", "--h264-gop", "15")
        out, idx = self.paths("gop")
        # One request at unit 40, a hundred at unit 63.
        index = h264dump(self.ctl_path(name), out, idx, frames=100,
                         args=["-r", "1@40", "-r", "100@63"])
        self.assertEqual(decode(out), 100)
        keys = [u for u in index.units if u.keyframe]
        seqs = [u.seq for u in keys]
        self.assertEqual(seqs[0], index.units[0].seq)
        # Never more than a GOP apart.
        for a, b in zip(seqs, seqs[1:]):
            self.assertLessEqual(b - a, 15, seqs)
        # Each request answered by a keyframe within the interval and a
        # frame (283 ms), plus the time to encode and publish it: 450 ms
        # leaves 167 ms for that on a loaded 2-core machine.
        for t, count in index.requests:
            first = min(u.publish_mono_ns for u in keys
                        if u.publish_mono_ns >= t)
            self.assertLess((first - t) / 1e9, 0.45, (t, seqs))
        # The hundred cost one keyframe: two forced in all.
        info = self.ring_info(name, h264=True)
        self.assertEqual(info["keyframe_requests"], 101)
        self.assertEqual(info["keyframes_forced"], 2)
        self.assertEqual(info["gop"], 15)
        self.assertEqual(info["keyframes"], len(keys))

    @need_x264
    def test_request_flood_is_rate_limited(self):
        name = self.new_name()
        self.start_capture(name, "--source", "pattern", "--size",
                           "320x240", "--fps", "30", "--h264-gop", "300")
        out, idx = self.paths("flood")
        # Five requests after every unit for three seconds.
        index = h264dump(self.ctl_path(name), out, idx, frames=90,
                         args=["-q", "5"])
        self.assertEqual(decode(out), 90)
        keys = [u for u in index.units if u.keyframe]
        span = (index.units[-1].capture_mono_ns -
                index.units[0].capture_mono_ns) / 1e9
        sent = sum(n for _, n in index.requests)
        self.assertGreaterEqual(sent, 5 * 40)
        # Every request reached the capture and was counted.
        info = wait_until(lambda: (lambda i: i if i["keyframe_requests"] ==
                                   sent else None)(self.ring_info(name,
                                                             h264=True)),
                          5, "%d requests counted" % sent)
        # At most one forced keyframe per interval (plus the first, which
        # the start of encoding makes anyway) ...
        self.assertLessEqual(len(keys), span / INTERVAL_S + 2, len(keys))
        # ... and with requests pending all the time, about that many:
        # each interval is at most a frame longer than 250 ms.
        self.assertGreaterEqual(len(keys), span / (INTERVAL_S + 1 / 30.0),
                                len(keys))
        for a, b in zip(keys[1:], keys[2:]):
            # Chosen at least 250 ms after the keyframe before was
            # published: capture times at least 250 ms minus what
            # encoding one took apart; 200 ms allows 50 ms of that.
            self.assertGreater((b.capture_mono_ns - a.capture_mono_ns) /
                               1e9, 0.2)

    @need_x264
    def test_no_viewer_no_encoding_resumes_with_keyframe(self):
        name = self.new_name()
        self.start_capture(name, "--source", "pattern", "--size",
                           "320x240", "--fps", "30", "--h264-gop", "300")
        out, idx = self.paths("idle")
        before = self.ring_info(name, h264=True)
        self.assertEqual(before["latest"], 0, "encoded with no viewer")
        # After 30 units, no viewer for 1.5 s, then one again.
        index = h264dump(self.ctl_path(name), out, idx, frames=60,
                         args=["-p", "30:1500"])
        self.assertEqual(decode(out), 60)
        (off, _), (on, _) = index.viewers[1], index.viewers[2]
        after = [u for u in index.units if u.capture_mono_ns > off]
        # A frame captured up to 100 ms after the viewer left may still
        # be on its way (the capture hears of it in a turn of its loop,
        # a frame may be in the encoder); none later until it is back.
        for u in after:
            self.assertFalse(off + 100e6 < u.capture_mono_ns < on,
                             "encoded while nobody watched")
        resumed = [u for u in after if u.capture_mono_ns >= on]
        self.assertTrue(resumed[0].keyframe, "resumed without a keyframe")
        self.assertEqual(sum(u.keyframe for u in index.units), 2)
        info = self.ring_info(name, h264=True)
        # 1.5 s at 30 fps: about 45 frames not encoded (30 at least, for
        # the 100 ms above and a slow start of the loop).
        self.assertGreaterEqual(info["idle"], 30)

    @need_x264
    def test_capture_restart_new_generation(self):
        name = self.new_name()
        cap = self.start_capture(name, "--source", "pattern", "--size",
                                 "320x240", "--fps", "30")
        out, idx = self.paths("restart")
        dump = Proc([H264DUMP, "-c", self.ctl_path(name), "-n", "90",
                     "-t", "30", "-o", out, "-i", idx, "-R"],
                    os.path.join(self.tmp, "dump.log"))
        self.procs.append(dump)

        def units():
            with open(idx) as f:
                return sum(1 for line in f if line.startswith("au"))
        wait_until(lambda: os.path.exists(idx) and units() >= 30, 10,
                   "30 units before the restart")
        self.assertEqual(cap.stop(), 0)
        # A log of its own: the first one's says "capturing" already.
        cap2 = Proc([CAPTURE, "--name", name, "--ctl", self.ctl_path(name),
                     "--source", "pattern", "--size", "320x240", "--fps",
                     "30"] + drop_args(()), os.path.join(self.tmp,
                                                        "capture2.log"))
        self.procs.append(cap2)
        self.assertEqual(dump.wait_exit(30), 0, dump.log())
        index = Index(idx)
        self.assertEqual(len(index.attaches), 2)
        self.assertNotEqual(index.attaches[0]["generation"],
                            index.attaches[1]["generation"])
        # The new run starts at sequence 1, with a keyframe, and the
        # header has its parameter sets from that keyframe on.
        second = [e[1] for e in index.events[index.events.index(
            ("attach", index.attaches[1]["generation"])):] if e[0] == "au"]
        self.assertEqual(second[0].seq, 1)
        self.assertTrue(second[0].keyframe)
        info = self.ring_info(name, h264=True)
        self.assertEqual(info["params_from"], 1)
        self.assertGreater(info["params_len"], 8)
        # The file decodes across the restart.
        self.assertEqual(decode(out), 90)

    @need_x264
    def test_counters_and_threads_under_the_sandbox(self):
        name = self.new_name()
        self.start_capture(name, "--source", "pattern", "--size",
                           "640x360", "--fps", "30", "--h264-threads", "2",
                           "--h264-bitrate", "800", "--h264-profile",
                           "baseline")
        out, idx = self.paths("threads")
        index = h264dump(self.ctl_path(name), out, idx, frames=45)
        self.assertEqual(decode(out), 45)
        self.assertEqual(ffprobe(out)["profile"], "Constrained Baseline")
        info = self.ring_info(name, h264=True)
        self.assertEqual(info["codec"], "h264")
        self.assertEqual(info["bitrate_kbps"], 800)
        self.assertEqual(info["gop"], 30)
        self.assertGreaterEqual(info["encoded"], 45)
        self.assertGreater(info["encode_ns"], 0)
        self.assertGreaterEqual(info["bytes"],
                                sum(u.length for u in index.units))
        # Sliced threads: a slice for each thread in every picture.
        for u in index.units:
            self.assertEqual(u.slices, 2, "unit %d" % u.seq)

    @unittest.skipIf(X264, "built with x264: see the other tests")
    def test_without_x264(self):
        name = self.new_name()
        r = subprocess.run([CAPTURE, "--name", name, "--ctl",
                            self.ctl_path(name), "--h264", "on"] +
                           drop_args(()),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("built without x264", r.stderr)
        cap = self.start_capture(name, "--source", "pattern")
        cap.wait_log(r"this build has no x264")
        self.assertIsNone(self.ring_info(name, h264=True))
