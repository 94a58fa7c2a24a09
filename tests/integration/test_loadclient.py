"""The load client's capture-time sources (tests/bench/loadclient.c,
--ts), which the benchmarks trust for every latency they report.

--ts simstamp reads the stamp the simulated camera puts into each frame:
the COM segment of a frame passed through, the barcode of one a streamer
encoded itself.  Every frame must get a time, a barcode must be decoded
once per distinct frame however many clients receive it (the load client
shares the machine with the streamer it measures), and frames without a
stamp must be counted, not given a made-up time.
"""

import unittest

from shmcam import loadclient
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
        # Capture precedes arrival, by well under a second on loopback.
        self.assertGreater(f["latency_p50"], 0)
        self.assertLess(f["latency_max"], 1.0)
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
        # see the same latencies (separate runs: a loose bound).
        xts = self.run_client(srv.port, "x-timestamp")["fast"]
        self.assertLess(abs(xts["latency_p50"] - f["latency_p50"]), 0.02)
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


if __name__ == "__main__":
    unittest.main()
