"""shmcam-rtsp across restarts, and what it costs the capture:

  - The capture restarts: an RTSP client over TCP and one over UDP carry
    on from the new capture's first keyframe, with sequence numbers that
    run on and timestamps that keep rising; ffmpeg decoding across the
    restart gets all its frames without an error.
  - shmcam-rtsp restarts (cleanly or killed): the capture and an HTTP
    server do not notice: same capture process and ring, the MJPEG
    viewer's frames keep coming without a gap, and the new process
    serves again.
  - A shared encode: ten RTSP clients, ten /stream.mp4 clients and ten
    MJPEG clients on one camera: the capture encodes each H.264 frame
    once (its ring's counters), every RTSP client gets the frames and
    every /stream.mp4 client gets fragments of them."""

import signal
import subprocess
import time

from h264tools import need_x264
from rtsptools import RtspReader, start_rtsp
from shmcam import (MjpegReader, Mp4Reader, ShmcamTestCase, get_json,
                    observe, wait_until)

FPS = 30
SIZE = "320x240"


def rtp_later(a, b):
    """b is after a in RTP timestamp order (modulo 2^32)."""
    return 0 < (b - a) % (1 << 32) < (1 << 31)


class RtspLifecycleTest(ShmcamTestCase):

    def capture(self, name):
        return self.start_capture(name, "--source", "pattern", "--size",
                                  SIZE, "--fps", str(FPS))

    @need_x264
    def test_capture_restart(self):
        name = self.new_name()
        cap = self.capture(name)
        rtsp = start_rtsp(self, name)
        readers = [RtspReader(rtsp.port, name, t) for t in ("tcp", "udp")]
        for r in readers:
            r.start()
            self.addCleanup(r.stop)
        for r in readers:
            r.wait_units(20)
        # ffmpeg decoding 240 frames (8 s) while the capture restarts.
        ff = subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error",
                               "-rtsp_transport", "tcp", "-i",
                               rtsp.url(name), "-frames:v", "240",
                               # frames as they come, with the RTP
                               # timestamps' own time base
                               "-fps_mode", "passthrough",
                               "-enc_time_base:v", "-1",
                               "-f", "null", "-"],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        self.addCleanup(ff.kill)
        observe(1)
        before = [r.count() for r in readers]
        last = [r.client.depay.units[-1] for r in readers]
        self.assertEqual(cap.stop(), 0)
        rtsp.wait_log(r"capture closed the control socket")
        self.capture(name)
        wait_until(lambda: rtsp.log().count("h264 ring") == 2, 10,
                   "the new capture's H.264 ring")
        for r, n, u in zip(readers, before, last):
            r.wait_units(n + 30, timeout=10)
            units = r.client.depay.units
            after = [x for x in units[n:] if rtp_later(u.ts, x.ts)]
            self.assertTrue(after)
            # The first unit after the pause (the longest time between
            # two units' capture) is a keyframe, its sequence number runs
            # on from the last one's, and nothing came broken.  (A busy
            # machine may slow this reader enough for the send policy to
            # skip it to a keyframe now and then: sequence numbers with a
            # gap, counted as loss, are what that looks like.)
            span = units[n - 1:]
            k = max(range(1, len(span)), key=lambda i:
                    (span[i].ts - span[i - 1].ts) % (1 << 32))
            self.assertTrue(span[k].key, r.transport)
            self.assertLess(0, (span[k].seq - span[k - 1].seq) % 65536)
            self.assertLess((span[k].seq - span[k - 1].seq) % 65536, 1000)
            self.assertEqual(r.client.depay.broken, 0, r.transport)
            for a, b in zip(units, units[1:]):
                self.assertTrue(rtp_later(a.ts, b.ts), r.transport)
        _, err = ff.communicate(timeout=60)
        self.assertEqual(ff.returncode, 0, err)
        self.assertEqual(err.strip(), "")
        # A new client after the restart, of course.
        r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error",
                            "-rtsp_transport", "tcp", "-i", rtsp.url(name),
                            "-frames:v", "10", "-f", "null", "-"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

    @need_x264
    def test_rtsp_restart_unnoticed(self):
        name = self.new_name()
        cap = self.capture(name)
        srv = self.start_server(name)
        self.wait_attached(srv)
        mjpeg = MjpegReader(srv.port, keep=0)
        mjpeg.start()
        self.addCleanup(mjpeg.stop)
        mjpeg.wait_frames(10)
        gen0 = self.ring_info(name)["generation"]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            rtsp = start_rtsp(self, name)
            r = RtspReader(rtsp.port, name)
            r.start()
            r.wait_units(20)
            t0, n0 = time.monotonic(), mjpeg.count()
            rtsp.stop(sig)
            r.stop()
            # The next one serves.
            rtsp = start_rtsp(self, name)
            r = RtspReader(rtsp.port, name)
            r.start()
            self.addCleanup(r.stop)
            r.wait_units(20)
            r.stop()
            rtsp.stop()
            elapsed = time.monotonic() - t0
            # The MJPEG viewer never waited: frames at the camera's rate
            # (less a third for a busy machine) and no gap of a second.
            got = mjpeg.count() - n0
            self.assertGreater(got, FPS * elapsed * 2 / 3, sig)
            arrivals = [f.arrival for f in mjpeg.frames[n0:]]
            self.assertLess(max(b - a for a, b in zip(arrivals,
                                                      arrivals[1:])), 1.0)
        self.assertTrue(cap.alive())
        self.assertEqual(self.ring_info(name)["generation"], gen0)
        self.assertIsNone(mjpeg.error)
        self.assertFalse(mjpeg.closed)
        # The capture saw readers come and go, nothing else.
        self.assertNotRegex(cap.log(), r"(?i)error|refus|invalid")
        self.assertEqual(srv.log().count("attached to capture"), 1)

    @need_x264
    def test_shared_encode(self):
        name = self.new_name()
        self.capture(name)
        srv = self.start_server(name)
        self.wait_attached(srv)
        rtsp = start_rtsp(self, name)
        wait_until(lambda: get_json(srv.port)["cameras"][0]["h264"], 10,
                   "the server's H.264 ring")
        readers = [RtspReader(rtsp.port, name, "tcp" if i % 2 else "udp")
                   for i in range(10)]
        mp4s = [Mp4Reader(srv.port) for _ in range(10)]
        mjpegs = [MjpegReader(srv.port, keep=0) for _ in range(10)]
        for c in readers + mp4s + mjpegs:
            c.start()
            self.addCleanup(c.stop)
        for r in readers:
            r.wait_units(5, timeout=10)
        for m in mp4s:
            m.wait_count(5, 10, "fragments")
        for m in mjpegs:
            m.wait_frames(5)
        h0 = self.ring_info(name, h264=True)
        n0 = [r.count() for r in readers]
        f0 = [m.count() for m in mp4s]
        t0 = time.monotonic()
        observe(3)
        h1 = self.ring_info(name, h264=True)
        elapsed = time.monotonic() - t0
        encoded = h1["encoded"] - h0["encoded"]
        published = h1["latest"] - h0["latest"]
        taken = h1["captured"] - h0["captured"]
        # One encode per frame published and at most one per source
        # frame the encoder took, whatever the clients (the counters are
        # read while frames go on: one either way).
        self.assertLessEqual(abs(encoded - published), 1, (h0, h1))
        self.assertLessEqual(encoded, taken + 1, (h0, h1))
        self.assertGreater(published, FPS * elapsed * 2 / 3)
        # Every RTSP client got (almost) all of them: a third less on a
        # busy machine.
        for r, n in zip(readers, n0):
            self.assertGreater(r.count() - n, published * 2 / 3,
                               r.transport)
        self.assertEqual(len(rtsp.camera(name)["sessions"]), 10)
        # Every /stream.mp4 client got fragments of them (one per frame),
        # well formed.  A third of them at least: these readers parse
        # every box in Python, thirty client threads share one
        # interpreter lock on a busy 2-core machine, and the server's
        # send policy may skip a reader that falls behind to a keyframe.
        for m, n in zip(mp4s, f0):
            self.assertIsNone(m.error)
            self.assertGreater(m.count() - n, published / 3)
        self.assertEqual(get_json(srv.port)["cameras"][0]["streams"]
                         ["mp4"]["clients"], 10)
