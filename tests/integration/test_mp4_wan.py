"""/stream.mp4 for viewers far away and on slow links (the send policy,
server/sendpolicy.h, with the budget an H.264 client has for its queue):
the capture's H.264 of the test pattern at 640x360, 30 fps, a keyframe a
second, the server in a network namespace of its own and the readers in
others, across the simulated links of wan.py.

  - Long paths with room to spare (RTT 100 and 200 ms): after TCP's slow
    start each viewer gets every fragment a viewer on loopback gets, and
    skips to no keyframe a loopback viewer does not also skip to.
  - A link narrower than the stream (RTT 100 ms): the viewer skips to
    fresh keyframes instead of queueing: what it gets is no older at the
    end than at the start, within a bound set by the budget and the
    link, and every run it gets from a keyframe on decodes (ffmpeg).
"""

import os
import statistics
import subprocess
import unittest

from shmcam import (Mp4Reader, ShmcamTestCase, ffmpeg_decode, figure,
                    observe, wait_until)
from test_mp4_stream import H264, NO_H264, H264Server
from wan import Wan

# The simulated links' forwarder must not be starved by other tests
# (run.py runs this module alone).
RUN_ALONE = True

# Slow start: on a 200 ms path the congestion window grows for about a
# second before it carries a keyframe and the frames behind it at once;
# 3 s leaves room for a slow machine.
WARMUP = 3
# The H.264 client's budget for its queue (STREAM_H264_BUDGET_NS).
BUDGET = 0.5


@unittest.skipUnless(H264, NO_H264)
class Mp4WanTest(H264Server, ShmcamTestCase):

    def serve(self, source=()):
        name = self.new_name()
        self.net = Wan(self)
        self.start_capture(name, "--size", "640x360", "--fps", "30",
                           "--h264", "on", "--h264-gop", "30", *source)
        srv = self.start_server(name, "--listen", "0.0.0.0:0",
                                netns=self.net.server)
        self.wait_attached(srv)
        wait_until(lambda: self.state(srv)["cameras"][0]["h264"], 10,
                   "the H.264 ring")
        return srv

    def state(self, srv):
        return self.net.server.get_json(srv.port)

    def wan_reader(self, srv, where, host, **kw):
        r = Mp4Reader(srv.port, host=host, ns=where, **kw)
        r.start()
        self.addCleanup(r.stop)
        return r

    def skips(self, srv):
        """skips_to_keyframe of each MP4 client, by its address."""
        return {c["address"].rsplit(":", 1)[0]: c["skips_to_keyframe"]
                for c in self.state(srv)["cameras"][0]["clients"]
                if c.get("kind") == "mp4"}

    @staticmethod
    def window(r, t0, t1):
        """The sequence numbers of the fragments r got in [t0, t1)."""
        with r.lock:
            return [f.sequence for f in r.fragments if t0 <= f.arrival < t1]

    def noise(self):
        """A still picture of fine noise, as the capture's source: its
        keyframes (about 60 KB) outgrow what TCP sends in the first round
        trips, its other frames are small."""
        d = os.path.join(self.tmp, "noise")
        os.makedirs(d)
        r = subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
             "nullsrc=s=640x360,geq=lum='128+random(1)*16':cb=128:cr=128",
             "-frames:v", "1", "-q:v", "3", os.path.join(d, "noise.jpg")],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return ("--source", "dir:" + d, "--h264-bitrate", "8000")

    def test_long_paths_get_every_fragment(self):
        srv = self.serve(self.noise())
        links = [self.net.link(rtt_ms=100), self.net.link(rtt_ms=200)]
        control = self.wan_reader(srv, self.net.server, "127.0.0.1")
        far = [self.wan_reader(srv, ln.ns, ln.server_addr) for ln in links]
        for r in [control] + far:
            r.wait_fragments(1, timeout=10)
        observe(WARMUP)
        s0 = self.skips(srv)
        with control.lock:
            t0 = control.fragments[-1].arrival
        observe(5)
        s1 = self.skips(srv)
        with control.lock:
            t1 = control.fragments[-1].arrival
        # What the loopback viewer got over those seconds, but for the
        # last 0.5 s, which a far viewer gets up to a round trip and a
        # keyframe's transfer later.
        want = set(self.window(control, t0, t1 - 0.5))
        with control.lock:
            frags = [f for f in control.fragments if f.arrival >= t0]
        rate = sum(f.size for f in frags) / (t1 - t0)
        key = max(f.size for f in frags if f.sync)
        self.assertGreater(len(want), 4 * 30 * 0.8, "capture starved")
        skipped_control = s1["127.0.0.1"] - s0["127.0.0.1"]
        for ln, r in zip(links, far):
            got = set(self.window(r, t0, t1 + 1.5))
            missing = want - got
            skipped = s1[ln.client_addr] - s0[ln.client_addr]
            figure("stream.mp4 across %d ms: %d of %d fragments, %d skips "
                   "to a keyframe (loopback %d); %.0f KB/s, keyframes up to "
                   "%.1f KB", ln.rtt_ms, len(want) - len(missing), len(want),
                   skipped, skipped_control, rate / 1e3, key / 1e3)
            self.assertEqual(sorted(missing), [], ln.rtt_ms)
            self.assertLessEqual(skipped, skipped_control, ln.rtt_ms)
            self.assertIsNone(r.error)
            self.assert_runs_decodable(r)

    def test_narrow_link_gets_fresh_keyframes(self):
        srv = self.serve()
        # The stream's rate on loopback first: the narrow link carries
        # half of it.
        control = self.wan_reader(srv, self.net.server, "127.0.0.1")
        control.wait_fragments(1, timeout=10)
        observe(2)
        with control.lock:
            frags = list(control.fragments)
        rate = sum(f.size for f in frags[1:]) / (frags[-1].arrival -
                                                  frags[0].arrival)
        key = max(f.size for f in frags if f.sync)
        narrow = self.net.link(rtt_ms=100, rate=max(4000, rate / 2))
        saved = os.path.join(self.tmp, "narrow.mp4")
        r = self.wan_reader(srv, narrow.ns, narrow.server_addr, save=saved)
        r.wait_fragments(1, timeout=15)
        observe(10)
        r.stop()
        with r.lock:
            frags = list(r.fragments)
        ages = [f.arrival_real - f.capture_real for f in frags]
        half = len(ages) // 2
        skips = self.skips(srv).get(narrow.client_addr)
        figure("stream.mp4 at %.0f KB/s across 100 ms (the stream %.0f KB/s, "
               "keyframes up to %.1f KB): %d fragments in 10 s, %d skips to "
               "a keyframe, age p50 %.0f ms (halves %.0f, %.0f) max %.0f "
               "ms", narrow.rate / 1e3, rate / 1e3, key / 1e3, len(frags),
               skips or -1, statistics.median(ages) * 1e3,
               statistics.median(ages[:half]) * 1e3,
               statistics.median(ages[half:]) * 1e3, max(ages) * 1e3)
        self.assertIsNone(r.error)
        # Narrower than the stream: it skipped, and got fragments
        # meanwhile.
        self.assertGreater(skips, 0)
        self.assertGreater(len(frags), 30)
        # Fresh: a fragment is queued only while what is ahead of it
        # leaves within the budget, and what is ahead is at most that
        # and the kernel's unsent bytes (TCP_NOTSENT_LOWAT, 16 KiB), and
        # a keyframe is then on its way: their transfer at the link's
        # rate, the one-way delay, and a second for a loaded machine.
        # A backlog would grow with the 10 s.
        bound = BUDGET + (16384 + 2 * key) / narrow.rate + 0.05 + 1.0
        self.assertLess(max(ages[half:]), bound, ages)
        self.assertLess(statistics.median(ages[half:]),
                        statistics.median(ages[:half]) + 0.5, ages)
        # Every run from a keyframe on decodes.
        for a, b in zip(frags, frags[1:]):
            if b.sequence != a.sequence + 1:
                self.assertTrue(b.sync, (a.sequence, b.sequence))
        self.assert_runs_decodable(r)
        n, err = ffmpeg_decode(saved)
        self.assertEqual(err, "")
        self.assertGreaterEqual(n, len(frags) - 1)
        self.assertGreater(narrow.stop()["ab"]["bytes"], 0)
