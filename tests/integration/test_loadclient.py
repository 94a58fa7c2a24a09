"""The load client's capture-time sources (tests/bench/loadclient.c,
--ts), which the benchmarks trust for every latency they report.

--ts simstamp reads the stamp the simulated camera puts into each frame:
the COM segment of a frame passed through, the barcode of one a streamer
encoded itself.  Every frame must get a time, a barcode must be decoded
once per distinct frame however many clients receive it (the load client
shares the machine with the streamer it measures), and frames without a
stamp must be counted, not given a made-up time.
"""

import socket
import threading
import unittest

from shmcam import ShmcamTestCase, http_get, loadclient
from test_v4l2 import V4l2TestCase

SIM_FORMATS = "MJPG:640x480@30;YUYV:640x480@30"
CLIENTS = 4


class LoadclientStampTest(V4l2TestCase):

    def serve(self, fmt):
        name = self.new_name()
        self.start_sim_capture(name, "--format", fmt, "--size", "640x480",
                               sim={"V4L2SIM_FORMATS": SIM_FORMATS})
        srv = self.start_server(name)
        self.wait_attached(srv)
        return srv

    def run_client(self, port, ts):
        return loadclient(port, "/stream", "-n", CLIENTS, "-d", 2,
                          "--warmup", 0.5, "--ts", ts)

    def check_times(self, res, srv):
        f = res["fast"]
        self.assertEqual(res["errors"], [])
        self.assertGreaterEqual(f["frames"], CLIENTS * 20)
        self.assertEqual(f["unstamped"], 0)
        self.assertEqual(res["stamp_failures"], 0)
        # Capture precedes arrival, by a moment on loopback: what is
        # checked is that the stamp was read right (a wrong clock or
        # field would be off by years, or negative), so 5 s leaves room
        # for any load.
        self.assertGreater(f["latency_p50"], 0)
        self.assertLess(f["latency_max"], 5.0)
        # The stamp's sequence numbers: four clients on loopback get
        # every frame from their first to their last (a few may be lost
        # by the capture of a loaded machine, none by the server).
        self.assertGreaterEqual(f["coverage_min"], 0.9)
        self.assertLessEqual(f["coverage_median"], 1.0)

    def test_com_stamp_of_passed_through_frames(self):
        srv = self.serve("MJPEG")
        res = self.run_client(srv.port, "simstamp")
        self.check_times(res, srv)
        # Read from the COM segment: no picture decoded at all.
        self.assertEqual(res["stamp_decodes"], 0)

    def test_barcode_of_encoded_frames_decoded_once_per_frame(self):
        srv = self.serve("YUYV")
        res = self.run_client(srv.port, "simstamp")
        self.check_times(res, srv)
        f = res["fast"]
        distinct = f["frames_all"] / CLIENTS
        self.assertGreaterEqual(res["stamp_decodes"], distinct - 2)
        self.assertLessEqual(res["stamp_decodes"], distinct + 2)
        # shmcam's X-Timestamp is the same capture time: both sources
        # see about the same latencies.  Separate runs on a machine
        # whose load changes: 0.1 s apart at most, where another clock
        # or the publish time would be off by years or not move at all.
        xts = self.run_client(srv.port, "x-timestamp")["fast"]
        self.assertLess(abs(xts["latency_p50"] - f["latency_p50"]), 0.1)
        # X-Timestamp carries no sequence number.
        self.assertEqual(xts["coverage_min"], -1)

    def test_frames_without_a_stamp_are_counted(self):
        # The test pattern has neither COM stamp nor barcode.
        name = self.new_name()
        self.start_capture(name, "--size", "640x480")
        srv = self.start_server(name)
        self.wait_attached(srv)
        res = self.run_client(srv.port, "simstamp")
        f = res["fast"]
        self.assertEqual(res["errors"], [])
        self.assertGreater(f["frames"], 0)
        self.assertEqual(f["unstamped"], f["frames"])
        self.assertEqual(f["latency_p50"], -1)
        self.assertEqual(f["coverage_min"], -1)
        self.assertGreater(res["stamp_failures"], 0)


class LoadclientDecodeTest(ShmcamTestCase):
    """--decode: every frame decoded, and one that does not decode is
    counted, though it starts and ends like a JPEG (the load test's own
    check).  make check-arch judges the streams of its guests by it."""

    PARTS = 6

    def fake_stream(self, parts):
        """A server on 127.0.0.1 that sends parts as one MJPEG stream,
        then holds the connection until the client closes it."""
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        self.addCleanup(ls.close)

        def serve():
            c, _ = ls.accept()
            with c:
                c.recv(4096)
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: multipart/"
                          b"x-mixed-replace;boundary=b\r\n\r\n")
                for body in parts:
                    c.sendall(b"--b\r\nContent-Type: image/jpeg\r\n"
                              b"Content-Length: %d\r\n\r\n%s\r\n"
                              % (len(body), body))
                c.recv(1)
        th = threading.Thread(target=serve, daemon=True)
        th.start()
        self.addCleanup(th.join, 10)
        return ls.getsockname()[1]

    def test_frames_that_do_not_decode_are_counted(self):
        name = self.new_name()
        self.start_capture(name, "--size", "320x240")
        srv = self.start_server(name)
        self.wait_attached(srv)
        status, _, good = http_get(srv.port, "/snapshot")
        self.assertEqual(status, 200)
        # SOI, the headers and half the scan, EOI: only a decoder sees
        # that the picture is cut short.
        bad = good[:len(good) // 2] + b"\xff\xd9"
        port = self.fake_stream([good, bad] * (self.PARTS // 2))
        res = loadclient(port, "/stream", "-d", 1, "--warmup", 0,
                         "--decode")
        f = res["fast"]
        self.assertEqual(res["errors"], [])
        self.assertEqual(f["frames_all"], self.PARTS)
        self.assertEqual(f["decode_failures"], self.PARTS // 2)
        # Without --decode the same frames all pass.
        port = self.fake_stream([good, bad] * (self.PARTS // 2))
        res = loadclient(port, "/stream", "-d", 1, "--warmup", 0)
        self.assertEqual(res["fast"]["frames_all"], self.PARTS)
        self.assertNotIn("decode_failures", res["fast"])

    def test_live_stream_decodes_with_its_longest_gap(self):
        name = self.new_name()
        self.start_capture(name, "--size", "320x240", "--fps", "20")
        srv = self.start_server(name)
        self.wait_attached(srv)
        res = loadclient(srv.port, "/stream", "-d", 2, "--warmup", 0.5,
                         "--decode")
        f = res["fast"]
        self.assertEqual(res["errors"], [])
        self.assertGreater(f["frames"], 10)
        self.assertEqual(f["decode_failures"], 0)
        # 20 fps: 50 ms apart; a loaded 2-core machine may hold one
        # back for a few frame periods, never for a second.
        self.assertGreater(f["gap_max"], 0.01)
        self.assertLess(f["gap_max"], 1.0)


if __name__ == "__main__":
    unittest.main()
