"""Viewers on slow links get fresh frames, not a growing backlog.

20 clients read at full speed and 5 at 100 KB/s (paced recv() with a small
receive buffer), 1280x720 at 30 fps for 20 s.  The slow clients' latency
(capture time to the arrival of a frame's last byte) stays bounded and
does not grow over the run, and their frame rate is about bandwidth /
frame size; the fast clients keep the source rate, and their p99 latency
is that of a run without slow clients."""

import statistics
import time
import unittest

from shmcam import SANITIZED, ShmcamTestCase, get_json, loadclient

RATE = 100000          # bytes/s of a slow client
DURATION = 20
FPS = 30
ROUNDS = 5


def load_with_source_fps(port, *args):
    """Runs the load client; also returns the rate the capture really
    published at meanwhile (the ring's sequence over the same window), so
    that "the fast clients keep the source rate" compares with the source
    and not with a nominal rate a starved capture could not reach."""
    seq0, t0 = get_json(port)["cameras"][0]["ring"]["latest"], time.monotonic()
    res = loadclient(port, "/stream", *args)
    seq1, t1 = get_json(port)["cameras"][0]["ring"]["latest"], time.monotonic()
    return res, min(FPS, (seq1 - seq0) / (t1 - t0))


class SlowReadersTest(ShmcamTestCase):

    def test_slow_readers_get_fresh_frames(self):
        name = self.new_name()
        self.start_capture(name, "--size", "1280x720", "--fps", str(FPS))
        srv = self.start_server(name)
        self.wait_attached(srv)
        res, source_fps = load_with_source_fps(
            srv.port, "-n", 25, "--slow", 5, "--slow-rate", RATE,
            "--slow-rcvbuf", 16384, "-d", DURATION, "--warmup", 1)
        fast, slow = res["fast"], res["slow"]
        self.assertEqual(res["errors"], [], res)
        self.assertEqual(res["connected_at_end"], 25)
        frame = fast["bytes"] / fast["frames"]
        # Slow: latency bounded by about two frames' transfer time...
        bound = 2 * frame / RATE + 0.2
        self.assertLessEqual(slow["latency_p50"], bound, (frame, slow))
        # ... and not growing over the run.
        self.assertLessEqual(slow["latency_p50_second_half"],
                             slow["latency_p50_first_half"] * 1.2 + 0.05,
                             slow)
        # Their frame rate is what their bandwidth carries.
        expect = RATE / frame
        self.assertGreaterEqual(slow["fps_min"], 0.6 * expect, slow)
        self.assertLessEqual(slow["fps_median"], 1.1 * expect, slow)
        # Fast clients keep the source rate and their latency.
        self.assertGreater(source_fps, 0.8 * FPS, "capture starved")
        self.assertGreaterEqual(fast["fps_min"], 0.95 * source_fps,
                                (source_fps, fast))
        st = get_json(srv.port)
        self.assertEqual(st["server"]["send_bound"], True)

    @unittest.skipIf(SANITIZED, "instrumented binaries: correctness (the "
                     "test above), not timing")
    def test_fast_clients_keep_their_latency(self):
        name = self.new_name()
        self.start_capture(name, "--size", "1280x720", "--fps", str(FPS))
        srv = self.start_server(name)
        self.wait_attached(srv)
        # The fast clients' p99 latency with and without slow clients,
        # in alternating short rounds so that both see the same load
        # from the rest of this (shared, 2-core) machine; medians of the
        # rounds.
        p99 = {0: [], 5: []}
        for _ in range(ROUNDS):
            for nslow in (0, 5):
                r, source_fps = load_with_source_fps(
                    srv.port, "-n", 20 + nslow, "--slow", nslow,
                    "--slow-rate", RATE, "--slow-rcvbuf", 16384, "-d", 4,
                    "--warmup", 1)
                self.assertGreaterEqual(r["fast"]["fps_min"],
                                        0.95 * source_fps)
                p99[nslow].append(r["fast"]["latency_p99"])
        # The fast clients' p99 may grow by 10 % at most.  Each round with slow clients is paired
        # with the round just before it without them, so that the
        # machine's drift (other work on these 2 cores) cancels, and the
        # median of the paired differences is compared; a few
        # milliseconds' p99 moves by more than 10 % between identical
        # rounds here (5.6 to 11.6 ms seen), so 1 ms is the floor of what
        # it can tell.
        base = statistics.median(p99[0])
        diffs = [w - wo for w, wo in zip(p99[5], p99[0])]
        self.assertLessEqual(statistics.median(diffs),
                             max(0.1 * base, 0.001), p99)
