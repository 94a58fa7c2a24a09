"""End to end: the real capture on the test pattern,
real servers, real clients (a strict multipart parser, ffmpeg, TurboJPEG)."""

import os
import re
import signal
import stat
import subprocess
import time
import unittest

from shmcam import (IS_ROOT, CAPTURE, SERVER, MjpegReader, ShmcamTestCase,
                    ffmpeg_frames, http_get, wait_until)


class EndToEndTest(ShmcamTestCase):

    def test_snapshot_decodes_at_configured_size(self):
        name = self.new_name()
        self.start_capture(name, "--size", "640x360", "--fps", "30")
        srv = self.start_server(name)
        self.wait_attached(srv)
        for path in ("/snapshot", "/snapshot.jpg", "/?action=snapshot",
                     "/?action=snapshot&n=1"):
            status, h, body = http_get(srv.port, path)
            self.assertEqual(status, 200, path)
            self.assertEqual(h["Content-Type"], "image/jpeg")
            self.assertEqual(int(h["Content-Length"]), len(body))
            self.assertRegex(h["X-Timestamp"], r"^\d+\.\d{6}$")
            self.assertLess(abs(float(h["X-Timestamp"]) - time.time()), 10)
            self.assertIn("no-store", h["Cache-Control"])
            self.assertEqual(self.jpeg_size(body), (640, 360))

    def test_stream_parts_are_well_formed(self):
        name = self.new_name()
        self.start_capture(name, "--size", "320x240", "--fps", "30")
        srv = self.start_server(name)
        self.wait_attached(srv)
        r = MjpegReader(srv.port, "/stream", keep=None)
        r.start()
        self.addCleanup(r.stop)
        r.wait_frames(30)
        r.stop()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.head["content-type"],
                         "multipart/x-mixed-replace;boundary=boundarydonotcross")
        self.assertIn("no-store", r.head["cache-control"])
        stamps = [f.timestamp for f in r.frames]
        self.assertTrue(all(f.headers["content-type"] == "image/jpeg"
                            for f in r.frames))
        # Capture times only move forward, about 1/30 s apart.
        self.assertEqual(stamps, sorted(stamps))
        self.assertEqual(len(set(stamps)), len(stamps))
        # 30 frames of a 30 fps capture span about a second; up to 5 s
        # when a loaded machine makes the client skip frames.
        span = stamps[-1] - stamps[0]
        self.assertGreater(span, 0.5)
        self.assertLess(span, 5)
        for f in (r.frames[1], r.frames[-1]):
            self.assertEqual(self.jpeg_size(f.data), (320, 240))

    def test_ffmpeg_reads_60_frames(self):
        name = self.new_name()
        self.start_capture(name, "--size", "640x360", "--fps", "30")
        srv = self.start_server(name)
        self.wait_attached(srv)
        for path in ("/stream", "/?action=stream"):
            self.assertEqual(ffmpeg_frames(srv.url(path), 60), 60, path)

    def test_two_servers_and_one_killed(self):
        name = self.new_name()
        cap = self.start_capture(name, "--size", "320x240", "--fps", "30")
        a = self.start_server(name)
        b = self.start_server(name)
        self.wait_attached(a)
        self.wait_attached(b)
        ra = MjpegReader(a.port)
        rb = MjpegReader(b.port, "/?action=stream", keep=0)
        for r in (ra, rb):
            r.start()
            self.addCleanup(r.stop)
        ra.wait_frames(15)
        rb.wait_frames(15)

        a.kill(signal.SIGKILL)
        a.wait_exit()
        killed_at = time.monotonic()
        cap.wait_log(r"detached", what="capture to drop the killed server")
        n = rb.count()
        rb.wait_frames(n + 60, timeout=15)
        with rb.lock:
            after = [f.arrival for f in rb.frames if f.arrival >= killed_at]
        gaps = [b2 - b1 for b1, b2 in zip(after, after[1:])]
        # 30 fps: a few frame intervals at most.  Had the capture or the
        # other server been held up by the dead one, the gap would be
        # seconds; 1 s leaves room for a loaded 2-core machine.
        self.assertLess(max(gaps), 1.0, "largest gap %.3f s" % max(gaps))
        self.assertTrue(cap.alive())
        self.assertIsNone(rb.error)

    def test_capture_restart_keeps_clients(self):
        name = self.new_name()
        cap = self.start_capture(name, "--size", "320x240")
        srv = self.start_server(name)
        self.wait_attached(srv)
        r = MjpegReader(srv.port, keep=0)
        r.start()
        self.addCleanup(r.stop)
        r.wait_frames(10)
        self.assertEqual(cap.stop(), 0)
        stopped = time.time()
        srv.wait_log(r"capture closed the control socket")
        # The placeholder keeps the client's picture alive meanwhile.
        n = r.count()
        r.wait_frames(n + 1, timeout=5)
        self.start_capture(name, "--size", "320x240")
        wait_until(lambda: len(re.findall(r"attached to capture",
                                          srv.log())) == 2,
                   10, "the server to attach to the new capture")
        gens = re.findall(r"attached to capture .* generation ([0-9a-f]+)",
                          srv.log())
        self.assertEqual(len(gens), 2)
        self.assertNotEqual(gens[0], gens[1])
        wait_until(lambda: r.frames[-1].timestamp > stopped + 0.1 and
                   "x-shmcam-placeholder" not in r.frames[-1].headers,
                   10, "live frames from the new capture")
        n = r.count()
        r.wait_frames(n + 20)
        self.assertFalse(r.closed)
        self.assertIsNone(r.error)

    def test_index_and_errors(self):
        name = self.new_name()
        self.start_capture(name, "--size", "320x240")
        srv = self.start_server(name)
        status, h, body = http_get(srv.port, "/")
        self.assertEqual(status, 200)
        self.assertTrue(h["Content-Type"].startswith("text/html"))
        self.assertIn(b'src="stream"', body)
        self.assertEqual(http_get(srv.port, "/nope")[0], 404)
        self.assertEqual(http_get(srv.port, "/snapshot", "POST")[0], 405)

    @unittest.skipUnless(IS_ROOT, "needs root to switch to user nobody")
    def test_unprivileged_server_maps_the_ring_read_only(self):
        """A server as nobody reaches the control socket through its
        group and maps the ring it is handed read-only; the ring has no
        name anyone could open it by."""
        name = self.new_name()
        self.start_capture(name, "--size", "320x240",
                           "--server-group", "nogroup")
        self.assertFalse(os.path.exists("/dev/shm/shmcam-" + name))
        sock = os.stat(self.ctl_path(name))
        self.assertEqual(stat.S_IMODE(sock.st_mode), 0o660)
        self.assertEqual(sock.st_gid, 65534)

        srv = self.start_server(name, wrapper=[
            "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        self.wait_attached(srv)
        status, _, body = http_get(srv.port, "/snapshot")
        self.assertEqual(status, 200)
        self.assertEqual(self.jpeg_size(body), (320, 240))
        with open("/proc/%d/status" % srv.pid) as f:
            uids = re.search(r"^Uid:\s+(.*)$", f.read(), re.M).group(1)
        self.assertEqual(uids.split(), ["65534"] * 4)
        with open("/proc/%d/maps" % srv.pid) as f:
            maps = [l for l in f if "shmcam-" + name in l]
        self.assertTrue(maps, "ring not mapped")
        for line in maps:
            self.assertEqual(line.split()[1], "r--s", line)

    @unittest.skipUnless(IS_ROOT, "only root can be refused")
    def test_server_refuses_root(self):
        r = subprocess.run([SERVER, "--listen", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn("refusing to run as root", r.stderr)

    def test_bad_options(self):
        cases = [
            ([CAPTURE, "--size", "13x7"], "invalid --size"),
            ([CAPTURE, "--size", "640"], "invalid --size"),
            ([CAPTURE, "--fps", "0"], "invalid --fps"),
            ([CAPTURE, "--quality", "101"], "invalid --quality"),
            ([CAPTURE, "--name", "a/b"], "invalid --name"),
            ([CAPTURE, "--source", "nope"], "--source"),
            ([CAPTURE, "extra"], "unexpected argument"),
            ([SERVER, "--listen", "nonsense"], "invalid --listen"),
            ([SERVER, "--listen", "1.2.3.4:99999"], "invalid --listen"),
            ([SERVER, "--client-timeout", "0"], "invalid --client-timeout"),
        ]
        for argv, message in cases:
            r = subprocess.run(argv, capture_output=True, text=True,
                               timeout=10)
            self.assertEqual(r.returncode, 2, argv)
            self.assertIn(message, r.stderr, argv)
        for prog in (CAPTURE, SERVER):
            r = subprocess.run([prog, "--help"], capture_output=True,
                               text=True, timeout=10)
            self.assertEqual(r.returncode, 0)
            self.assertIn("usage:", r.stdout)


if __name__ == "__main__":
    unittest.main()
