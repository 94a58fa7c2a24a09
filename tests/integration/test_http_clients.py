"""Real clients: ffmpeg reads the stream aliases, curl fetches snapshots,
and headless Chromium loads the viewer page: two screenshots a second
apart are not blank and differ (the picture moves)."""

import os
import shutil
import subprocess
import tempfile
import unittest

from shmcam import ShmcamTestCase, ffmpeg_frames, get_json

CHROMIUM = shutil.which("chromium")


def gray_pixels(png, w, h):
    """The picture as 8-bit grey pixels, decoded by ffmpeg."""
    r = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i",
                        png, "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                       capture_output=True, timeout=30)
    if r.returncode != 0 or len(r.stdout) != w * h:
        raise AssertionError("cannot decode %s: %s" % (png, r.stderr))
    return r.stdout


class ClientsTest(ShmcamTestCase):

    def test_ffmpeg_and_curl(self):
        name = self.new_name()
        self.start_capture(name, "--size", "640x360", "--fps", "30")
        srv = self.start_server(name)
        self.wait_attached(srv)
        for path in ("/stream", "/?action=stream", "/stream?fps=15&key=ff",
                     "/?action=stream?nonce=1"):
            self.assertEqual(ffmpeg_frames(srv.url(path), 30), 30, path)
        for path in ("/snapshot", "/snapshot.jpg", "/?action=snapshot"):
            out = os.path.join(self.tmp, "snap.jpg")
            r = subprocess.run(["curl", "-sf", "-D", "-", "-o", out,
                                srv.url(path)], capture_output=True,
                               text=True, timeout=20)
            self.assertEqual(r.returncode, 0, path)
            self.assertIn("content-type: image/jpeg", r.stdout.lower())
            with open(out, "rb") as f:
                self.assertEqual(self.jpeg_size(f.read()), (640, 360))

    @unittest.skipUnless(CHROMIUM, "chromium is not installed")
    def test_chromium_shows_a_moving_picture(self):
        name = self.new_name()
        self.start_capture(name, "--size", "640x360", "--fps", "30")
        srv = self.start_server(name)
        self.wait_attached(srv)
        w, h = 800, 600
        shots = []
        for i in range(2):
            profile = tempfile.mkdtemp(prefix="chromium-", dir=self.tmp)
            png = os.path.join(self.tmp, "shot%d.png" % i)
            # --timeout: the page never finishes loading (the stream goes
            # on), so take the picture after 3 s.
            subprocess.run([CHROMIUM, "--headless", "--no-sandbox",
                            "--disable-gpu", "--disable-quic",
                            "--no-first-run",
                            "--disable-background-networking",
                            "--disable-component-update", "--disable-sync",
                            "--user-data-dir=" + profile,
                            "--screenshot=" + png,
                            "--window-size=%d,%d" % (w, h),
                            "--timeout=3000", srv.url("/")],
                           capture_output=True, timeout=90)
            self.assertTrue(os.path.exists(png), "no screenshot")
            shots.append(gray_pixels(png, w, h))
        for px in shots:
            # Not blank: the test pattern's bars give many grey levels.
            self.assertGreater(len(set(px)), 32)
            mean = sum(px) / len(px)
            var = sum((p - mean) ** 2 for p in px[::7]) / len(px[::7])
            self.assertGreater(var, 200)
        # A second apart at least (each run takes 3 s): the frame
        # counter, the clock and the moving square differ.
        diff = sum(1 for a, b in zip(shots[0], shots[1]) if abs(a - b) > 24)
        self.assertGreater(diff, 500, "the screenshots do not differ")
        # Each page polled /state once a second besides loading itself
        # and its stream.
        self.assertGreaterEqual(get_json(srv.port)["server"]["requests"], 8)
