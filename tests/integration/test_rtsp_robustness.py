"""shmcam-rtsp against clients that misbehave, while a good one watches:
500 connections sending garbage or dribbling a request (slowloris) are
cut off; a request over the limits or malformed is answered and the
connection closed; RTCP from an address that is not the client's is
ignored (no keyframe requested, no session kept alive) while the
client's own is acted on; an interleaved client that stops reading is
dropped after --client-timeout; a UDP session without keepalives ends
after --session-timeout; connections beyond --max-clients get 503.
The good client gets its frames throughout."""

import os
import random
import re
import socket
import statistics
import struct
import threading
import time

from h264tools import need_x264
from rtsptools import RtspClient, RtspReader, start_rtsp
from shmcam import ShmcamTestCase, figure, observe, wait_until

FPS = 30


def recv_all(s, timeout):
    """What s receives until the peer closes it (or timeout): the bytes,
    and whether it was closed."""
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        return data, True
    except socket.timeout:
        return data, False


class RtspRobustnessTest(ShmcamTestCase):

    def start(self, *args):
        self.name = self.new_name()
        self.start_capture(self.name, "--source", "pattern", "--size",
                           "320x240", "--fps", str(FPS))
        self.rtsp = start_rtsp(self, self.name, *args)
        self.url = self.rtsp.url(self.name)

    def watcher(self, transport="tcp"):
        r = RtspReader(self.rtsp.port, self.name, transport)
        r.start()
        self.addCleanup(r.stop)
        # The first keyframe within 5 s: the capture starts its encoder
        # for this viewer (a keyframe 1-2 frame intervals later) on a
        # machine that may be busy.
        r.wait_units(1, timeout=5)
        return r

    @need_x264
    def test_garbage_and_slowloris(self):
        """250 connections send junk, 250 dribble a request one byte at a
        time; --request-timeout 2 cuts the dribblers, the junk is
        answered 400 (or 431) and closed at once.  The watcher meanwhile
        gets frames at the camera's rate."""
        self.start("--request-timeout", "2", "--max-clients", "1000")
        good = self.watcher()
        rng = random.Random(1)
        junk, dribblers = [], []
        for i in range(250):
            s = socket.create_connection(("127.0.0.1", self.rtsp.port),
                                         timeout=10)
            if i % 2:
                # Not '$' first: that would be an interleaved frame,
                # waited for until the request deadline.
                s.sendall(b"\x01" + bytes(rng.randrange(256)
                                          for _ in range(200)) +
                          b"\r\n\r\n")
            else:
                s.sendall(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX: " +
                          b"y" * 9000)
            junk.append(s)
        for _ in range(250):
            s = socket.create_connection(("127.0.0.1", self.rtsp.port),
                                         timeout=10)
            s.sendall(b"OPTIONS * RTSP/1.0\r\n")
            dribblers.append(s)
        t0, n0 = time.monotonic(), good.count()
        stop = threading.Event()

        def dribble():
            while not stop.is_set():
                for s in dribblers:
                    try:
                        s.send(b"X")
                    except OSError:
                        pass
                stop.wait(0.5)
        t = threading.Thread(target=dribble, daemon=True)
        t.start()
        try:
            for s in junk:
                data, closed = recv_all(s, 5)
                self.assertTrue(closed, "junk connection left open")
                self.assertRegex(data, rb"^RTSP/1\.0 4(00|31) ")
                s.close()
            # Each dribbler is cut 2 s after it connected; the last ones
            # connected a moment ago.  5 s more for a loaded machine.
            for s in dribblers:
                data, closed = recv_all(s, 7)
                self.assertTrue(closed, "slowloris connection left open")
                self.assertEqual(data, b"")
                s.close()
        finally:
            stop.set()
            t.join(5)
        elapsed = time.monotonic() - t0
        got = good.count() - n0
        figure("rtsp slowloris: the watcher got %d units in %.1f s while "
               "500 bad connections were cut", got, elapsed)
        # Everything the camera sent meanwhile, less a third for a busy
        # 2-core machine (the test's own 500 sockets and threads run on
        # it); a blocked loop would give nothing.
        self.assertGreater(got, FPS * elapsed * 2 / 3)
        m = self.rtsp.metrics()
        self.assertGreaterEqual(m["shmcam_rtsp_bad_requests_total"], 250)
        self.assertGreaterEqual(m["shmcam_rtsp_request_timeouts_total"], 250)
        self.assertEqual(m["shmcam_rtsp_connections"], 1)

    @need_x264
    def test_limits_and_malformed(self):
        self.start()
        cases = [
            (b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX-Big: " + b"a" * 9000 +
             b"\r\n\r\n", b"431"),
            (b"OPTIONS rtsp://h/" + b"s" * 3000 + b" RTSP/1.0\r\n\r\n",
             b"431"),
            (b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n" +
             b"".join(b"X%d: y\r\n" % i for i in range(40)) + b"\r\n", b"431"),
            (b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 99999\r\n"
             b"\r\n", b"431"),
            (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"400"),
            (b"OPTIONS * RTSP/2.0\r\nCSeq: 1\r\n\r\n", b"505"),
            (b"\x00\x01\x02\xff\r\n\r\n", b"400"),
        ]
        for data, status in cases:
            s = socket.create_connection(("127.0.0.1", self.rtsp.port),
                                         timeout=10)
            s.sendall(data)
            reply, closed = recv_all(s, 5)
            s.close()
            self.assertTrue(closed, data[:40])
            self.assertTrue(reply.startswith(b"RTSP/1.0 " + status),
                            (data[:40], reply[:60]))
        # Well-formed requests the server cannot serve keep the
        # connection.
        c = RtspClient(self.rtsp.port)
        self.addCleanup(c.close)
        for method, uri, hdrs, want in (
                ("RECORD", self.url, {}, 501),
                ("DESCRIBE", self.rtsp.url("nope"), {}, 404),
                ("DESCRIBE", self.url + "/trackID=1", {}, 404),
                ("PLAY", self.url, {}, 454),
                ("PLAY", self.url, {"Session": "0123"}, 454),
                ("SETUP", self.url + "/trackID=0",
                 {"Transport": "RTP/AVP;multicast"}, 461),
                ("SETUP", self.url + "/trackID=0", {}, 461),
                ("SET_PARAMETER", self.url, {}, 200),
                ("OPTIONS", "*", {}, 200)):
            self.assertEqual(c.request(method, uri, hdrs).status, want,
                             (method, uri, hdrs))
        r = c.request("SET_PARAMETER", self.url, body=b"x: 1\r\n")
        self.assertEqual(r.status, 451)
        r = c.request("OPTIONS", self.url)
        self.assertIn("GET_PARAMETER", r.header("public"))
        # No CSeq: 400, and the connection stays.
        c.sock.sendall(b"OPTIONS * RTSP/1.0\r\n\r\n")
        self.assertEqual(c._response().status, 400)
        self.assertEqual(c.request("OPTIONS", "*").status, 200)

    @need_x264
    def test_rtcp_from_elsewhere_is_ignored(self):
        self.start()
        c = RtspClient(self.rtsp.port)
        self.addCleanup(c.close)
        self.assertEqual(c.start(self.url, "udp").status, 200)
        c.read_units(3)
        ssrc = c.depay.ssrc
        server_rtcp = ("127.0.0.1", c.server_ports[1])
        pli = struct.pack("!BBHII", 0x81, 206, 2, 0xabcd, ssrc)
        session = self.rtsp.camera(self.name)["sessions"][0]
        requests = self.rtsp.camera(self.name)["keyframe_requests"]
        # From another port of the same host, and well-formed: ignored.
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(other.close)
        for _ in range(5):
            other.sendto(pli, server_rtcp)
        wait_until(lambda: self.rtsp.camera(self.name)["sessions"][0]
                   ["rtcp_ignored"] >= 5, 5, "RTCP from elsewhere counted")
        cam = self.rtsp.camera(self.name)
        self.assertEqual(cam["sessions"][0]["rtcp_received"], 0)
        self.assertEqual(self.rtsp.metrics()[
            'shmcam_rtsp_pli_total{camera="%s"}' % self.name], 0)
        # From the client's own RTCP port: a keyframe is asked for.
        c.udp[1].sendto(pli, server_rtcp)
        wait_until(lambda: self.rtsp.metrics()[
            'shmcam_rtsp_pli_total{camera="%s"}' % self.name] == 1, 5,
            "the client's PLI acted on")
        wait_until(lambda: self.rtsp.camera(self.name)[
            "keyframe_requests"] > requests, 5, "a keyframe request")
        self.assertEqual(self.rtsp.camera(self.name)["sessions"][0]["id"],
                         session["id"])
        # Junk from the client's port is counted, not acted on.
        c.udp[1].sendto(b"\x00" * 12, server_rtcp)
        wait_until(lambda: self.rtsp.camera(self.name)["sessions"][0]
                   ["rtcp_ignored"] >= 6, 5, "junk RTCP counted")

    @need_x264
    def test_reader_that_stops_is_dropped(self):
        """An interleaved client that stops reading: its socket fills,
        it skips to keyframes, and after --client-timeout (2 s) with
        nothing taken it is closed.  A watcher is unaffected."""
        self.start("--client-timeout", "2")
        good = self.watcher()
        bad = RtspReader(self.rtsp.port, self.name, "tcp", rcvbuf=4096)
        bad.start()
        self.addCleanup(bad.stop)
        bad.wait_units(3, timeout=5)
        bad.reading.clear()
        t0, n0 = time.monotonic(), good.count()
        # Its buffers fill within a few frames, then 2 s pass; 8 s more
        # for a loaded machine.
        self.rtsp.wait_log(r"closed after [0-9.]+ s, 4 requests: "
                           r"(took nothing for 2 s|stalled)", timeout=10,
                           what="the stopped reader closed")
        elapsed = time.monotonic() - t0
        got = good.count() - n0
        self.assertGreater(got, FPS * elapsed * 2 / 3)
        self.assertEqual(len(self.rtsp.camera(self.name)["sessions"]), 1)
        self.assertGreaterEqual(self.rtsp.metrics()[
            "shmcam_rtsp_stalled_total"], 1)

    @need_x264
    def test_slow_reader_skips_to_keyframes(self):
        """An interleaved reader on loopback slower than the stream skips
        to keyframes and gets fresh ones: on loopback the path's figures
        say it is fast, so only the age of its queue (the send policy's
        backlog) tells the send policy it is not.  A watcher keeps its
        rate."""
        self.name = self.new_name()
        # The pattern at 720p with a keyframe every half second: 30 KB/s
        # or so, above what the slow reader takes.
        self.start_capture(self.name, "--source", "pattern", "--size",
                           "1280x720", "--fps", str(FPS), "--h264-gop", "15")
        self.rtsp = start_rtsp(self, self.name)
        good = self.watcher()
        # A 4 KB receive buffer emptied every 300 ms: about 13 KB/s.
        slow = RtspReader(self.rtsp.port, self.name, "tcp", rcvbuf=4096,
                          read_delay=0.3)
        slow.start()
        self.addCleanup(slow.stop)
        slow.wait_units(2, timeout=20)
        n0, g0, t0 = slow.count(), good.count(), time.monotonic()
        observe(8)
        units = slow.client.depay.units[n0:slow.count()]
        got = good.count() - g0
        session = [s for s in self.rtsp.camera(self.name)["sessions"]
                   if s["skips"] > 0]
        ages = [u.age for u in units]
        figure("rtsp slow reader on loopback: %d units in %.1f s (the "
               "watcher %d), ages median %.2f s, max %.2f s",
               len(units), time.monotonic() - t0, got,
               statistics.median(ages) if ages else -1,
               max(ages) if ages else -1)
        self.assertGreater(got, FPS * 8 * 2 / 3)
        self.assertTrue(session, self.rtsp.camera(self.name)["sessions"])
        self.assertGreaterEqual(len(units), 3, "nothing got through")
        # No backlog: what it gets is as old as a keyframe takes to
        # cross at its pace (20-30 KB at 13 KB/s) and the half-second
        # budget, and does not grow; a queue would grow it by the 8 s
        # observed.
        half = len(ages) // 2
        self.assertLess(max(ages[half:]), 4, ages)
        self.assertLess(statistics.median(ages[half:]),
                        statistics.median(ages[:half]) + 1, ages)

    @need_x264
    def test_udp_session_times_out(self):
        """A UDP client that sends no RTCP and no keepalive: its session
        ends after --session-timeout (5 s), its connection too."""
        self.start("--session-timeout", "5")
        c = RtspClient(self.rtsp.port)
        self.addCleanup(c.close)
        self.assertEqual(c.start(self.url, "udp").status, 200)
        c.read_units(3)
        t0 = time.monotonic()
        # 5 s, checked by a 1 s tick; 5 s more for a loaded machine.
        self.rtsp.wait_log(r"session \w+ timed out", timeout=11)
        self.assertGreater(time.monotonic() - t0, 3)
        data, closed = recv_all(c.sock, 5)
        self.assertTrue(closed)
        # A client that keeps it alive stays.
        k = RtspClient(self.rtsp.port)
        self.addCleanup(k.close)
        self.assertEqual(k.start(self.url, "udp").status, 200)
        for _ in range(4):
            observe(2)
            self.assertEqual(k.request("GET_PARAMETER", self.url).status,
                             200)
        self.assertEqual(len(self.rtsp.camera(self.name)["sessions"]), 1)

    @need_x264
    def test_max_clients(self):
        self.start("--max-clients", "2")
        a = RtspClient(self.rtsp.port)
        b = RtspClient(self.rtsp.port)
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        self.assertEqual(a.request("OPTIONS", self.url).status, 200)
        self.assertEqual(b.request("OPTIONS", self.url).status, 200)
        s = socket.create_connection(("127.0.0.1", self.rtsp.port),
                                     timeout=10)
        s.sendall(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n")
        data, closed = recv_all(s, 5)
        s.close()
        self.assertTrue(closed)
        self.assertTrue(data.startswith(b"RTSP/1.0 503 "), data)
        self.assertIn(b"Retry-After: ", data)
        a.close()
        wait_until(lambda: self.rtsp.state()["connections"] == 1, 5,
                   "a connection closed")
        c = RtspClient(self.rtsp.port)
        self.addCleanup(c.close)
        self.assertEqual(c.request("OPTIONS", self.url).status, 200)
