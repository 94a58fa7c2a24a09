"""The simulated V4L2 camera (tests/v4l2sim) serving a real third-party
streamer: Debian's ustreamer 4.9, which drives a camera with plain
open/ioctl/mmap/select on the device descriptor.  The benchmark against
ustreamer (tests/bench/bench_ustreamer.py) runs it exactly like this.

ustreamer has no objection to running as root (4.9 has no root check), and
its --port must be 1..65535, so a free port is picked by binding port 0
first (and the start retried should someone take it meanwhile).
"""

import json
import os
import re
import socket
import subprocess
import time
import unittest

from shmcam import (BUILD, MjpegReader, Proc, ShmcamTestCase, http_get,
                    wait_until)

USTREAMER = "/usr/bin/ustreamer"
SIMLIB = os.path.join(BUILD, "tests", "libv4l2sim.so")
SIMSTAMP = os.path.join(BUILD, "tests", "simstamp")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@unittest.skipUnless(os.path.exists(USTREAMER),
                     "Debian's ustreamer is not installed "
                     "(apt-get install ustreamer, or make deps)")
class UstreamerOnSimulatedCamera(ShmcamTestCase):

    def start_ustreamer(self, formats, *args):
        """ustreamer on the simulated camera; returns (proc, port)."""
        self.device = os.path.join(self.tmp, "video0")
        open(self.device, "w").close()
        env = dict(os.environ)
        env.update(LD_PRELOAD=os.path.abspath(SIMLIB),
                   V4L2SIM_DEVICE=self.device, V4L2SIM_FORMATS=formats,
                   V4L2SIM_LOG=os.path.join(self.tmp, "v4l2sim.log"))
        for attempt in range(3):
            port = free_port()
            argv = [USTREAMER, "--device", self.device,
                    "--host", "127.0.0.1", "--port", str(port),
                    "--device-error-delay", "1"] + list(args)
            p = Proc(argv, os.path.join(self.tmp, "ustreamer-%d.log"
                                        % attempt), env=env)
            self.procs.append(p)
            try:
                p.wait_log(r"Listening HTTP on", what="ustreamer to listen")
            except AssertionError:
                # Someone took the port since free_port(): it exited.
                p.stop()
                self.procs.remove(p)
                continue
            # Its HTTP server starts before the camera.
            wait_until(lambda: self.online(port), 15,
                       "ustreamer to capture from the camera")
            return p, port
        raise AssertionError("no free port for ustreamer")

    def sim_log(self):
        with open(os.path.join(self.tmp, "v4l2sim.log")) as f:
            return f.read()

    def online(self, port):
        try:
            status, _, body = http_get(port, "/state", timeout=2)
        except OSError:
            return False
        return status == 200 and json.loads(body)["result"]["source"][
            "online"]

    def stamps(self, frames, barcode=False):
        """(seq, realtime_ns, source) of each frame's bytes."""
        paths = []
        for i, f in enumerate(frames):
            path = os.path.join(self.tmp, "frame-%03d.jpg" % i)
            with open(path, "wb") as out:
                out.write(f.data)
            paths.append(path)
        r = subprocess.run([SIMSTAMP] + (["--barcode"] if barcode else [])
                           + paths, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = []
        for line in r.stdout.splitlines():
            _, seq, ns, how = line.split()
            out.append((int(seq), int(ns), how))
        for path in paths:
            os.unlink(path)
        return out

    def read_stream(self, port, n):
        r = MjpegReader(port, "/stream", keep=None)
        r.start()
        self.addCleanup(r.stop)
        r.wait_frames(n, timeout=20)
        r.stop()
        self.assertEqual(r.status, 200)
        return r.frames[:n]

    def check_live(self, frames, source, size, after_ns=0):
        """Checks frames from the camera; after_ns: each captured after
        that (CLOCK_REALTIME).  Returns their sequence numbers."""
        for f in (frames[0], frames[-1]):
            self.assertEqual(self.jpeg_size(f.data), size)
        stamps = self.stamps(frames)
        self.assertEqual({how for _, _, how in stamps}, {source})
        seqs = [seq for seq, _, _ in stamps]
        # Frames from the camera, in order (ustreamer may skip some).
        self.assertEqual(seqs, sorted(seqs), seqs)
        self.assertEqual(len(set(seqs)), len(seqs), seqs)
        now = time.time_ns()
        for _, ns, _ in stamps:
            self.assertLess(abs(now - ns), 30 * 10**9)
            self.assertGreater(ns, after_ns)
        return seqs

    def test_mjpeg_passthrough(self):
        p, port = self.start_ustreamer("MJPG:640x480@30,1280x720@30",
                                       "--format", "MJPEG", "--encoder",
                                       "HW", "--resolution", "640x480")
        frames = self.read_stream(port, 30)
        seqs = self.check_live(frames, "com", (640, 480))
        # The camera's bytes, passed through: the barcode agrees too.
        self.assertEqual([s for s, _, _ in self.stamps(frames[:5],
                                                       barcode=True)],
                         seqs[:5])
        log = self.sim_log()
        self.assertIn("streaming MJPG 640x480 at 1/30 s", log)

    def test_yuyv_cpu_encoder(self):
        p, port = self.start_ustreamer("YUYV:640x480@30", "--format",
                                       "YUYV", "--encoder", "CPU",
                                       "--resolution", "640x480",
                                       "--quality", "50")
        frames = self.read_stream(port, 30)
        # Re-encoded by ustreamer: no COM, the barcode survives.
        self.check_live(frames, "barcode", (640, 480))

    def test_unplug_and_replug(self):
        p, port = self.start_ustreamer("MJPG:320x240@30", "--format",
                                       "MJPEG", "--encoder", "HW",
                                       "--resolution", "320x240")
        self.check_live(self.read_stream(port, 10), "com", (320, 240))
        os.unlink(self.device)
        p.wait_log(r"No such device", what="ustreamer to see the unplug")
        wait_until(lambda: not self.online(port), 10, "ustreamer offline")
        replugged = time.time_ns()
        open(self.device, "w").close()
        wait_until(lambda: self.online(port), 15, "ustreamer online again")
        # Live frames again, every one captured after the replug: none
        # is a frame ustreamer kept from before.
        self.check_live(self.read_stream(port, 10), "com", (320, 240),
                        after_ns=replugged)
        log = self.sim_log()
        self.assertIn("unplugged: device file removed", log)
        self.assertEqual(log.count("streaming MJPG 320x240"), 2, log)

    def test_shmcam_relays_ustreamer(self):
        """shmcam-capture reading ustreamer's /stream (network source):
        the camera's own JPEGs, byte for byte as ustreamer sends them."""
        p, port = self.start_ustreamer("MJPG:640x480@30", "--format",
                                       "MJPEG", "--encoder", "HW",
                                       "--resolution", "640x480")
        direct = MjpegReader(port, "/stream", keep=None)
        direct.start()
        self.addCleanup(direct.stop)
        direct.wait_frames(1)
        name = self.new_name()
        cap = self.start_capture(name, "--source",
                                 "http://127.0.0.1:%d/stream" % port)
        srv = self.start_server(name)
        self.wait_attached(srv)
        relayed = self.read_stream(srv.port, 20)
        direct.stop()
        seqs = self.check_live(relayed[1:], "com", (640, 480))
        # Each relayed frame is a frame ustreamer sent, unchanged (the
        # simulated camera's COM stamp names it).
        sent = {s: f.data for (s, _, _), f in
                zip(self.stamps(direct.frames), direct.frames)}
        for seq, f in zip(seqs, relayed[1:]):
            self.assertIn(seq, sent)
            self.assertEqual(f.data, sent[seq])
        self.assertEqual(self.ring_info(name)["state"], "online")
        cap.wait_log(r"an MJPEG stream")


if __name__ == "__main__":
    unittest.main()
