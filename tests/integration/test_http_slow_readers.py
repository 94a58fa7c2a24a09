"""Viewers on slow links get fresh frames, not a growing backlog (the
send policy, server/sendpolicy.h; tests/integration/test_http_wan.py has
slow and long paths).

20 clients read at full speed and 5 at 100 KB/s (paced recv() with a small
receive buffer: here the reader, not the path, is slow, and TCP's
window and delivery rate say so), 1280x720 at 30 fps for 20 s.  The slow
clients' latency (capture time to the arrival of a frame's last byte) stays bounded and
does not grow over the run, and their frame rate is about bandwidth /
frame size; the fast clients keep the source rate, and their p99 latency
is that of a run without slow clients."""

import os
import re
import socket
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


def paced_unix_reader(path, rate, seconds):
    """Reads /stream from the unix socket at path at most rate bytes/s
    (a reverse proxy whose own client is slow) for seconds; returns the
    (arrival, latency) of each part, latency from its X-Timestamp
    (the capture time) to the arrival of its last byte, and the rate it
    really read at (Python's sleeps on a busy machine make it slower
    than asked)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.settimeout(10)
    s.connect(path)
    s.sendall(b"GET /stream HTTP/1.1\r\nHost: proxy\r\n\r\n")
    buf, parts, total = b"", [], 0
    t0 = last = time.monotonic()
    budget = 0.0
    while time.monotonic() - t0 < seconds:
        # A token bucket refilled every 5 ms, read in small steps.
        time.sleep(0.005)
        now = time.monotonic()
        budget = min(budget + rate * (now - last), rate * 0.05)
        last = now
        if budget < 1:
            continue
        chunk = s.recv(int(budget))
        if not chunk:
            break
        budget -= len(chunk)
        total += len(chunk)
        buf += chunk
        # Heads end with an empty line: the response's (no length), then
        # each part's (the boundary, then its headers).
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head, body = buf[:end], end + 4
            n = re.search(rb"Content-Length: (\d+)", head)
            if n is None:
                buf = buf[body:]
                continue
            if len(buf) < body + int(n.group(1)):
                break
            ts = float(re.search(rb"X-Timestamp: ([0-9.]+)", head).group(1))
            parts.append((now, time.time() - ts))
            buf = buf[body + int(n.group(1)):]
    s.close()
    return parts, total / (time.monotonic() - t0)


class SlowReadersTest(ShmcamTestCase):

    def test_slow_reader_behind_a_proxy_socket(self):
        """A unix-socket client (a reverse proxy on this host) says
        nothing about the path beyond it: the server bounds what is
        unread in the socket to half a frame, so a slow reader gets
        fresh frames there too."""
        name = self.new_name()
        self.start_capture(name, "--size", "1280x720", "--fps", str(FPS))
        path = os.path.join(self.tmp, "proxy.sock")
        srv = self.start_server(name, "--unix", path)
        self.wait_attached(srv)
        parts, rate = paced_unix_reader(path, RATE, 10)
        frame = get_json(srv.port)["cameras"][0]["frame"]["bytes"]
        transfer = frame / rate
        late = [lat for t, lat in parts[2:]]
        self.assertGreater(len(late), 5, (rate, parts))
        # Half a frame unread at most, then the next frame: about 1.5
        # frames' transfer, and 0.3 s for a loaded machine (1.2 x
        # measured: the socket's accounting frees a buffer only once all
        # of it is read).  Without the bound the socket holds 200 KB,
        # four frames and more.
        self.assertLessEqual(statistics.median(late), 1.5 * transfer + 0.3,
                             (transfer, late))
        half = len(late) // 2
        self.assertLessEqual(statistics.median(late[half:]),
                             statistics.median(late[:half]) + transfer / 2,
                             (transfer, late))

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
