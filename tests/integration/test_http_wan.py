"""Viewers far away and on slow links (server/sendpolicy.h): the simulated
camera at 1280x720, 30 fps, MJPEG (about 80 KB a frame), the server in a
network namespace of its own and the load client in others, across the
simulated links of wan.py (a round-trip time, a bottleneck rate with a
router's tail-drop buffer, loss).

  - Long paths with room to spare (RTT 100 and 200 ms): one viewer and
    five each take at least 95 % of the source's frames.  Bytes in
    flight on a long path are not a queue.
  - A narrow path (RTT 100 ms at 250 KB/s): the median latency is at
    most one frame's transfer + the one-way delay + 150 ms, and the
    second half of the run is no worse than the first: fewer frames,
    each fresh, no backlog.
  - The slow viewer (RTT 20 ms at 100 KB/s): fresh frames at the rate
    its link carries.
  - All at once: 20 fast clients on loopback, 5 at RTT 100 ms, 5 at
    100 KB/s, each group getting what it should.
  - RTT 50 ms with 1 % loss: the stream goes on, and its frames are
    fresh.

Each run starts the load clients together, lets TCP's slow start pass
(WARMUP), and measures for a few seconds.  "95 % of the frames" counts
the camera's sequence numbers, of the frames the capture published and
a loopback client in the same run got (assert_every_frame).  The bounds
are wide enough for a loaded 2-core machine: each says why.
"""

import json
import re
import subprocess
import time

from shmcam import LOADCLIENT, figure, wait_until
from test_v4l2 import V4l2TestCase
from wan import WIRE, Wan

# The simulated links' forwarder must not be starved by other tests
# (run.py runs this module alone).
RUN_ALONE = True

FPS = 30
SIZE = "1280x720"
# Slow start: on a 200 ms path the congestion window grows for about a
# second before it carries the stream (measured: the policy's last wait
# for it at 1.1 s); 2 s leaves room for a slow machine.
WARMUP = 2


class WanTest(V4l2TestCase):

    def serve(self):
        """The simulated camera, and a server in the WAN's server
        namespace, listening on every address there (its loopback and
        each link's end, nothing else exists in it)."""
        name = self.new_name()
        self.start_sim_capture(name, "--format", "MJPEG", "--size", SIZE,
                               sim={"V4L2SIM_FORMATS": "MJPG:%s@%d"
                                    % (SIZE, FPS)})
        self.net = Wan(self)
        srv = self.start_server(name, "--listen", "0.0.0.0:0",
                                netns=self.net.server)
        self.wait_attached(srv)
        return srv

    def ring(self, srv):
        """(newest sequence, frames captured, frames lost) of the ring."""
        r = self.net.server.get_json(srv.port)["cameras"][0]["ring"]
        return r["latest"], r["frames_captured"], r["frames_dropped"]

    def load(self, srv, groups, duration, during=None):
        """Runs one load client per group at once: groups maps a label to
        (namespace or link, host, number of clients); calls during() while
        they run, if given.  Returns the results by label, and the
        source's frame rate meanwhile.  Each
        result gets "published": the share of the camera's frames the
        capture published meanwhile (it may lose some to a loaded
        machine, which no client can then get)."""
        (seq0, cap0, lost0), t0 = self.ring(srv), time.monotonic()
        procs = {}
        for label, (where, host, n) in groups.items():
            procs[label] = where.popen(
                [LOADCLIENT, "-u", "http://%s:%d/stream" % (host, srv.port),
                 "-n", n, "-d", duration, "--warmup", WARMUP,
                 "--ts", "simstamp"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if during is not None:
            during()
        res = {}
        for label, p in procs.items():
            out, err = p.communicate(timeout=duration + WARMUP + 60)
            self.assertEqual(p.returncode, 0, "%s: %s" % (label, err))
            res[label] = json.loads(out)
        (seq1, cap1, lost1), t1 = self.ring(srv), time.monotonic()
        source_fps = (seq1 - seq0) / (t1 - t0)
        published = (cap1 - cap0) / max(1, cap1 - cap0 + lost1 - lost0)
        # The camera itself must have kept its rate, or the frame counts
        # below would say nothing about the server.
        self.assertGreater(source_fps, 0.8 * FPS, "capture starved")
        for label, r in res.items():
            r["published"] = published
            f = r["fast"]
            figure("%s: %s, source %.1f fps: fps min %.1f median %.1f, "
                   "frames %.1f %% (published %.1f %%), latency p50 %.0f ms "
                   "p90 %.0f ms "
                   "(halves %.0f, %.0f), %.0f bytes/frame",
                   self.id().rsplit(".", 1)[1], label, source_fps,
                   f["fps_min"], f["fps_median"], f["coverage_min"] * 100,
                   published * 100,
                   f["latency_p50"] * 1e3, f["latency_p90"] * 1e3,
                   f["latency_p50_first_half"] * 1e3,
                   f["latency_p50_second_half"] * 1e3,
                   f["bytes"] / max(1, f["frames"]))
            self.assertEqual(r["errors"], [], (label, r))
            self.assertEqual(r["connected_at_end"], r["clients"], label)
            self.assertEqual(r["fast"]["unstamped"], 0, label)
        return res, min(FPS, source_fps)

    def assert_every_frame(self, label, r, control):
        """Each far client got at least 95 % of the frames that a client
        on loopback got in the same run (control), and of those the
        capture published: counted by the camera's sequence numbers, so
        that a load client slowed down by the rest of the machine does
        not count as frames missed.  On a machine to itself the loopback
        client gets them all, and this is 95 % of the source's frames; on
        a busy one the server itself may take fewer from the ring (every
        client alike: 81 % seen at a load average of 10 with the five
        far viewers' forwarders busy), which is not the send policy's
        doing.  The control must then still have had 80 % of them."""
        published = r["published"]
        base = min(published, control["fast"]["coverage_min"])
        self.assertGreaterEqual(base, 0.8 * published,
                                ("the machine starved the server: even "
                                 "the loopback client missed frames",
                                 published, control["fast"]))
        self.assertGreaterEqual(r["fast"]["coverage_min"], 0.95 * base,
                                (label, published, base, r["fast"]))

    def assert_fresh(self, label, r, rate, one_way, slack):
        """The frames of a client on a link of `rate` bytes/s arrive a
        frame's transfer + the one-way delay + slack after their capture
        (median), and the second half of the run is no worse than the
        first: a backlog would add a whole frame's transfer per frame
        queued, so half of one is the noise allowed.  They come at about
        the rate the link carries (the median of a few slow clients'
        rates is at least 60 % of it: one frame more or less in a short
        window is a lot at one frame a second)."""
        f = r["fast"]
        frame = f["bytes"] / f["frames"]
        transfer = frame * WIRE / rate
        self.assertLessEqual(f["latency_p50"], transfer + one_way + slack,
                             (label, transfer, f))
        self.assertLessEqual(f["latency_p50_second_half"],
                             f["latency_p50_first_half"] + transfer / 2,
                             (label, transfer, f))
        self.assertGreaterEqual(f["fps_median"], 0.6 / transfer,
                                (label, transfer, f))
        return transfer

    def test_long_paths_get_every_frame(self):
        srv = self.serve()
        links = {rtt: (self.net.link(rtt_ms=rtt), self.net.link(rtt_ms=rtt))
                 for rtt in (100, 200)}
        # One viewer on each path, then five on each (two links per
        # round-trip time, so that the runs do not share one), and one on
        # loopback as the control.
        for n, which in ((1, 0), (5, 1)):
            groups = {"rtt %d ms, %d viewer(s)" % (rtt, n):
                      (pair[which], pair[which].server_addr, n)
                      for rtt, pair in links.items()}
            groups["loopback"] = (self.net.server, "127.0.0.1", 1)
            far = links[200][which].client_addr
            seen = {}

            def sending():
                """/state shows a viewer 200 ms away taking frames, its
                bytes in flight not counted as a queue."""
                c = self.client_state(srv, far)
                if c and c["send"]["decision"] == "send" and \
                        c["send"]["in_flight"] > 100000:
                    seen.update(c["send"])
                    return True
                return False
            res, _ = self.load(srv, groups, 4, during=lambda: wait_until(
                sending, WARMUP + 4, "a send with bytes in flight"))
            self.assertGreaterEqual(seen["min_rtt_ms"], 200, seen)
            self.assertLess(seen["path_queue"], seen["in_flight"] / 4, seen)
            for label, r in res.items():
                if label != "loopback":
                    self.assert_every_frame(label, r, res["loopback"])
        st = self.net.server.get_json(srv.port)
        self.assertEqual(st["server"]["send_bound"], True)

    def client_state(self, srv, addr):
        """The /state entry of the client from addr, or None."""
        st = self.net.server.get_json(srv.port)
        for c in st["cameras"][0]["clients"]:
            if c["address"].startswith(addr + ":") and c["send"]:
                return c
        return None

    def test_narrow_paths_get_fresh_frames(self):
        srv = self.serve()
        narrow = self.net.link(rtt_ms=100, rate=250000)
        slow = self.net.link(rtt_ms=20, rate=100000)
        seen = {}

        def waiting():
            """/state shows the narrow client waiting for a newer frame,
            with the figures the policy weighed."""
            c = self.client_state(srv, narrow.client_addr)
            if c and c["send"]["decision"] == "wait" and \
                    c["send"]["reason"] == "queued":
                seen.update(c["send"])
                return True
            return False
        res, _ = self.load(srv, {
            "rtt 100 ms, 250 KB/s": (narrow, narrow.server_addr, 1),
            "rtt 20 ms, 100 KB/s": (slow, slow.server_addr, 1)}, 8,
            during=lambda: wait_until(waiting, 8, "a wait in /state"))
        s = seen
        self.assertEqual(s["path"], "tcp")
        # The path's figures as the kernel measured them: 100 ms (and
        # what queues), at most the link's 250 KB/s (payload: 241 KB/s).
        self.assertGreaterEqual(s["min_rtt_ms"], 100, s)
        self.assertLess(s["min_rtt_ms"], 150, s)
        self.assertGreaterEqual(s["rtt_ms"], s["min_rtt_ms"], s)
        self.assertGreater(s["delivery_rate_max"], 100000, s)
        self.assertLessEqual(s["delivery_rate_max"], 250000, s)
        # It waited because what is ahead would not leave in time.
        self.assertGreater(s["drain_ms"], s["budget_ms"], s)
        self.assertEqual(s["ahead"], s["ours"] + s["unsent"] +
                         s["path_queue"], s)
        metrics = self.net.server.http_get(srv.port, "/metrics")[2].decode()
        for decision, reason in (("send", "drains"), ("wait", "queued"),
                                 ("wait", "busy")):
            m = re.search(r'(?m)^shmcam_send_decisions_total\{camera="[^"]+",'
                          r'decision="%s",reason="%s"\} (\d+)$'
                          % (decision, reason), metrics)
            self.assertTrue(m and int(m.group(1)) > 0, (decision, reason))
        # Physics allows a frame's transfer + the one-way delay; the
        # policy may start a frame while up to one frame interval of the
        # last is still queued, and its newest frame is up to an interval
        # old: 67 ms, and 150 ms (the bound asked for) leaves 80 ms for
        # a loaded machine.
        self.assert_fresh("narrow", res["rtt 100 ms, 250 KB/s"], 250000,
                          0.05, 0.15)
        # The slow viewer of the loopback test (test_http_slow_readers),
        # 20 ms away: at 100 KB/s a frame takes 0.85 s, and the same 150
        # ms of slack holds.
        self.assert_fresh("slow", res["rtt 20 ms, 100 KB/s"], 100000, 0.01,
                          0.15)
        for ln in (narrow, slow):
            self.assertGreater(ln.stop()["ab"]["bytes"], 0)

    def test_mixed_viewers(self):
        srv = self.serve()
        far = self.net.link(rtt_ms=100)
        slow = [self.net.link(rtt_ms=20, rate=100000) for _ in range(5)]
        groups = {"loopback": (self.net.server, "127.0.0.1", 20),
                  "far": (far, far.server_addr, 5)}
        for i, ln in enumerate(slow):
            groups["slow %d" % i] = (ln, ln.server_addr, 1)
        res, _ = self.load(srv, groups, 6)
        self.assert_every_frame("far", res["far"], res["loopback"])
        for i in range(len(slow)):
            self.assert_fresh("slow %d" % i, res["slow %d" % i], 100000,
                              0.01, 0.15)

    def test_lossy_path(self):
        srv = self.serve()
        lossy = self.net.link(rtt_ms=50, loss=0.01, seed=7)
        res, _ = self.load(srv, {"lossy": (lossy,
                                                    lossy.server_addr, 1)}, 6)
        f = res["lossy"]["fast"]
        # The stream goes on: 1 % loss on a 50 ms path halves TCP's
        # window now and then, and a frame may wait for a
        # retransmission, but most frames come (half of them is far below
        # what it gets, 98 % measured, and far above a stream that
        # stopped).
        self.assertGreaterEqual(f["coverage_min"], 0.5, f)
        # Fresh: the median frame is late by the one-way delay and its
        # transfer, and by a retransmission (an RTT or two) at worst;
        # 250 ms is that with room for a slow machine (56 ms measured).
        # No backlog: the second half no worse than the first by more
        # than a frame interval or two.
        self.assertLessEqual(f["latency_p50"], 0.25, f)
        self.assertLessEqual(f["latency_p50_second_half"],
                             f["latency_p50_first_half"] + 0.07, f)
        self.assertGreater(lossy.stop()["ab"]["lost"], 0)
