"""The capture's network source (capture/net.c): a relay of another
shmcam, a camera fixture with every quirk (fakecam.py: an ESP32-CAM, IP
cameras, snapshot cameras), credentials, and hostile or broken upstreams,
each survived, counted and logged with its reason while viewers stay
connected; H.264 from a network camera.

Bounds: --source-timeout 1 and --retry-interval 0.2 --retry-max 0.5 make
every failure and recovery take about a second; the deadlines below allow
ten times that for a loaded 2-core machine.
"""

import os
import re
import subprocess
import tempfile
import threading
import time
import unittest

from capturetools import FRAME_PLACEHOLDER, make_jpegs, read_file
from fakecam import FakeCamera, make_cert
from h264tools import H264DUMP, decode, h264dump, need_x264
from shmcam import (CAPTURE, LOADCLIENT, WRAPPER, MjpegReader,
                    ShmcamTestCase, drop_args, figure, get_json, http_get,
                    wait_until)

# Recovery is quick on purpose; these are what a test may wait.
FAST = ["--retry-interval", "0.2", "--retry-max", "0.5"]
DEADLINE = 15


def live(frames):
    return [f for f in frames if "x-shmcam-placeholder" not in f.headers]


class NetSourceCase(ShmcamTestCase):

    @classmethod
    def setUpClass(cls):
        cls._jpegdir = tempfile.mkdtemp(prefix="shmcam-netsrc-")
        names = make_jpegs(cls._jpegdir, 4, size="320x240", quality=5)
        cls.jpegs = [read_file(os.path.join(cls._jpegdir, n))
                     for n in names]

    @classmethod
    def tearDownClass(cls):
        import shutil
        shutil.rmtree(cls._jpegdir, ignore_errors=True)

    def camera(self, behaviour="mjpeg", fps=15, **opts):
        cam = FakeCamera(self.jpegs, behaviour, fps=fps, **opts)
        self.addCleanup(cam.close)
        return cam

    def net_capture(self, url, *args):
        name = self.new_name()
        cap = self.start_capture(name, "--source", url, *(FAST +
                                                            list(args)))
        srv = self.start_server(name)
        return name, cap, srv

    def run_capture(self, *args):
        """A capture run to its end (for what makes it exit)."""
        return subprocess.run([CAPTURE, "--name", self.new_name(), "--ctl",
                               os.path.join(self.tmp, "x.sock")] +
                              drop_args(args) + list(args),
                              capture_output=True, text=True, timeout=30)

    def reader(self, srv, path="/stream"):
        r = MjpegReader(srv.port, path, keep=None)
        r.start()
        self.addCleanup(r.stop)
        return r

    def wait_live(self, r, n, after=0, want=None):
        """Waits for n live frames among r's frames[after:]; with want,
        each must be one of those bytes."""
        def enough():
            if r.error or r.closed:
                raise AssertionError("viewer lost: %r" % r.error)
            with r.lock:
                got = live(r.frames[after:])
            if want is not None:
                for f in got:
                    self.assertIn(f.data, want)
            return len(got) >= n
        wait_until(enough, DEADLINE, "%d live frames" % n)


class RelayTest(NetSourceCase):
    """Another shmcam as the upstream."""

    def origin(self):
        name = self.new_name()
        self.start_capture(name, "--source", "pattern", "--size",
                           "320x240", "--fps", "15")
        srv = self.start_server(name)
        self.wait_attached(srv)
        return srv

    def test_frames_byte_for_byte_with_the_origins_timestamps(self):
        osrv = self.origin()
        o = self.reader(osrv)
        o.wait_frames(2)
        rname, cap, rsrv = self.net_capture(osrv.url("/stream"))
        r = self.reader(rsrv)
        self.wait_live(r, 30)
        r.stop()
        o.stop()
        by_ts = {f.headers["x-timestamp"]: f.data for f in o.frames}
        relayed = live(r.frames)
        # The relay's first frame may be its newest from before the
        # reader came; every one after must be the origin's frame with
        # the origin's timestamp, byte for byte.
        for f in relayed[1:]:
            ts = f.headers["x-timestamp"]
            self.assertIn(ts, by_ts, "a relayed frame the origin never "
                          "sent (X-Timestamp %s)" % ts)
            self.assertEqual(f.data, by_ts[ts])
        self.assertEqual(len({f.headers["x-timestamp"]
                              for f in relayed[1:]}), len(relayed) - 1)
        info = self.ring_info(rname)
        self.assertEqual(info["state"], "online")
        self.assertEqual(info["source"], "http://127.0.0.1:%d/stream"
                         % osrv.port)
        self.assertEqual((info["width"], info["height"]), (320, 240))
        cap.wait_log(r"is live: 320x240 JPEG")

    def test_one_upstream_connection_serves_50_viewers(self):
        osrv = self.origin()
        rname, cap, rsrv = self.net_capture(osrv.url("/stream"))
        self.wait_attached(rsrv)
        lc = subprocess.Popen([LOADCLIENT, "-u", rsrv.url("/stream"),
                               "-n", "50", "-d", "3"],
                              stdout=subprocess.PIPE, text=True)
        self.addCleanup(lc.kill)
        wait_until(lambda: get_json(rsrv.port)["server"]["clients"] == 50,
                   DEADLINE, "50 viewers at the relay")
        state = get_json(osrv.port)
        self.assertEqual(state["server"]["clients"], 1)
        self.assertEqual(state["cameras"][0]["clients_total"], 1)
        out, _ = lc.communicate(timeout=60)
        import json
        res = json.loads(out)
        self.assertEqual(res["errors"], [])
        self.assertEqual(res["connected_at_end"], 50)
        # Every viewer at the origin's 15 fps, within what a loaded
        # 2-core machine loses (the relay republishes every frame).
        self.assertGreater(res["fast"]["fps_min"], 10)
        self.assertEqual(get_json(osrv.port)["cameras"][0]["clients_total"],
                         1)

    def test_origin_offline_is_passed_on(self):
        oname = self.new_name()
        ocap = self.start_capture(oname, "--source", "pattern", "--size",
                                  "320x240", "--fps", "15")
        osrv = self.start_server(oname)
        self.wait_attached(osrv)
        rname, cap, rsrv = self.net_capture(osrv.url("/stream"))
        r = self.reader(rsrv)
        self.wait_live(r, 3)
        ocap.stop()
        # The origin's server sends its "camera offline" picture; the
        # relay publishes it as a placeholder and says offline.
        wait_until(lambda: self.ring_get(rname, "reason", "") ==
                   "upstream offline", DEADLINE,
                   "the relay to say its upstream is offline")
        info = self.ring_info(rname)
        self.assertEqual(info["state"], "offline")
        self.assertTrue(info["frame_flags"] & FRAME_PLACEHOLDER)
        self.assertFalse(r.closed)


class CameraQuirksTest(NetSourceCase):

    def test_esp32_cam(self):
        cam = self.camera("esp32", fps=10)
        name, cap, srv = self.net_capture(cam.url("/stream"))
        viewers = [self.reader(srv) for _ in range(3)]
        for v in viewers:
            self.wait_live(v, 10, want=self.jpegs)
        # One client for the camera, whatever the number of viewers.
        self.assertEqual(cam.connections, 1)
        # Its X-Timestamp is its time since boot: frames are stamped on
        # arrival instead, on our wall clock.
        cap.wait_log(r"X-Timestamp is -?\d+ s away from our clock")
        info = self.ring_info(name)
        self.assertLess(abs(info["frame_capture_real_ns"] - time.time_ns()),
                        5 * 10**9)

    def test_esp32_cam_slow_frames(self):
        # A weak Wi-Fi link: each frame trickles in over ~100 ms.
        cam = self.camera("esp32", fps=4,
                          slow=max(len(j) for j in self.jpegs) * 10)
        name, cap, srv = self.net_capture(cam.url("/stream"))
        self.wait_live(self.reader(srv), 6, want=self.jpegs)
        self.assertEqual(cam.connections, 1)
        self.assertNotIn("lost", cap.log())

    def test_each_quirk(self):
        quirks = [
            {},
            {"declared": "--myboundary"},
            {"declared": '"myboundary"'},
            {"declared": "myboundary", "body_boundary": "myboundary"},
            {"declared": None},
            {"no_length": True},
            {"lf": True},
            {"lf": True, "no_length": True},
            {"dup_boundary": True},
            {"extra_headers": 40},
            {"headerless": True},
            {"timestamp": None},
        ]
        cam = self.camera("mjpeg", fps=20)
        name, cap, srv = self.net_capture(cam.url("/stream"))
        r = self.reader(srv)
        for q in quirks:
            with self.subTest(quirk=q):
                cam.set("mjpeg", **q)
                cam.drop()
                start = cam.connections
                wait_until(lambda: cam.connections > start, DEADLINE,
                           "the capture to reconnect")
                after = len(r.frames)
                self.wait_live(r, 4, after=after, want=self.jpegs)
        self.assertFalse(r.closed)

    def test_snapshot_camera(self):
        cam = self.camera("snapshot", delay=0.05)
        name, cap, srv = self.net_capture(cam.url("/snapshot.jpg"),
                                          "--fps", "8")
        r = self.reader(srv)
        self.wait_live(r, 8, want=self.jpegs)
        cap.wait_log(r"JPEG snapshots, fetched every 0\.125 s")
        self.assertEqual(cam.max_in_flight, 1)
        # Kept alive: far fewer connections than requests.
        self.assertGreaterEqual(len(cam.requests), 8)
        self.assertLessEqual(cam.connections, 2)

    def test_snapshot_camera_slower_than_asked(self):
        # Answers take longer than the interval: one request at a time
        # all the same, the next right after the last.
        cam = self.camera("snapshot", delay=0.3)
        name, cap, srv = self.net_capture(cam.url("/snap"), "--fps", "10")
        r = self.reader(srv)
        self.wait_live(r, 4, want=self.jpegs)
        self.assertEqual(cam.max_in_flight, 1)


class CredentialsTest(NetSourceCase):

    SECRET = "s3cr3t-Pa55"

    def cmdline(self, cap):
        """The capture's arguments as ps(1) shows them.  Under a wrapper
        (valgrind) they are the wrapper's own, which the program cannot
        change: None then."""
        if WRAPPER:
            return None
        with open("/proc/%d/cmdline" % cap.pid, "rb") as f:
            return f.read()

    def assert_secret_kept(self, cap, srv, name):
        if self.cmdline(cap) is not None:
            self.assertNotIn(self.SECRET.encode(), self.cmdline(cap))
        self.assertNotIn(self.SECRET, cap.log())
        self.assertNotIn(self.SECRET, srv.log())
        _, _, body = http_get(srv.port, "/state")
        self.assertNotIn(self.SECRET.encode(), body)
        self.assertNotIn("admin", self.ring_info(name)["source"])

    def test_digest_from_the_url(self):
        cam = self.camera("mjpeg", auth=("digest", "admin", self.SECRET))
        name, cap, srv = self.net_capture(
            cam.url("/stream", "admin:" + self.SECRET))
        self.wait_live(self.reader(srv), 5, want=self.jpegs)
        self.assertGreaterEqual(cam.auth_ok, 1)
        self.assert_secret_kept(cap, srv, name)
        if self.cmdline(cap) is not None:
            self.assertIn(b"admin:" + b"*" * len(self.SECRET) + b"@",
                          self.cmdline(cap))

    def test_digest_sha256_snapshots_reuse_the_nonce(self):
        cam = self.camera("snapshot", auth=("digest", "admin", self.SECRET,
                                            "SHA-256"))
        path = os.path.join(self.tmp, "cam.credentials")
        with open(path, "w") as f:
            f.write("admin:%s\n" % self.SECRET)
        os.chmod(path, 0o600)
        name, cap, srv = self.net_capture(cam.url("/snap.jpg"),
                                          "--credentials", path, "--fps",
                                          "10")
        self.wait_live(self.reader(srv), 8, want=self.jpegs)
        # One 401, then every request answered with the same nonce.
        self.assertGreaterEqual(cam.auth_ok, 8)
        self.assertLessEqual(len(cam.requests) - cam.auth_ok, 2)
        self.assert_secret_kept(cap, srv, name)

    def test_basic(self):
        cam = self.camera("mjpeg", auth=("basic", "viewer", self.SECRET))
        name, cap, srv = self.net_capture(
            cam.url("/stream", "viewer:" + self.SECRET))
        self.wait_live(self.reader(srv), 5, want=self.jpegs)
        self.assert_secret_kept(cap, srv, name)

    def test_wrong_password(self):
        cam = self.camera("mjpeg", auth=("digest", "admin", self.SECRET))
        name, cap, srv = self.net_capture(cam.url("/stream",
                                                  "admin:wrong"))
        r = self.reader(srv)
        cap.wait_log(r"HTTP 401: the credentials were refused "
                     r"\(Digest MD5\)", timeout=DEADLINE)
        wait_until(lambda: self.ring_get(name, "state", "") == "offline",
                   DEADLINE, "offline")
        self.assertIn("credentials were refused",
                      self.ring_info(name)["reason"])
        wait_until(lambda: len(r.frames) > 0, DEADLINE, "a placeholder")
        self.assertIn("x-shmcam-placeholder", r.frames[0].headers)

    def test_bad_credentials_file(self):
        path = os.path.join(self.tmp, "creds")
        with open(path, "w") as f:
            f.write("no colon here\n")
        r = self.run_capture("--source", "http://127.0.0.1:1/",
                             "--credentials", path)
        self.assertEqual(r.returncode, 2)
        self.assertIn("expected one line USER:PASSWORD", r.stderr)


class HostileUpstreamTest(NetSourceCase):
    """Each broken or hostile upstream in turn, with one viewer connected
    throughout: logged with its reason, the ring offline meanwhile,
    placeholders, live frames again once the camera behaves."""

    # behaviour, its options, the log's reason, the ring's (None: the
    # source stays up, the frame is dropped and counted)
    CASES = [
        ("garbage", {}, r"no boundary in the first 65536 bytes",
         r"^no boundary in the first 65536 bytes$"),
        ("truncated", {}, r"dropping a broken \d+-byte JPEG frame "
         r"\(truncated, no EOI\)", None),
        ("huge", {}, r"a part of 104857600 bytes, above the limit of "
         r"16777216 bytes", r"^a part of 104857600 bytes"),
        ("stall", {}, r"no frame for 1\.0 s", r"^no frame for 1\.0 s$"),
        ("reset", {}, r"Connection reset by peer",
         r"^Connection reset by peer while reading$"),
        ("redirect", {"redirect_to": "/stream"},
         r"more than 5 redirects \(a loop\?\), the last to "
         r"http://127\.0\.0\.1:\d+/stream", r"^more than 5 redirects"),
        ("mjpeg", {"auth": ("digest", "u", "p")},
         r"HTTP 401, credentials needed \(Digest MD5, realm \"cam\"\): "
         r"give them with --credentials or in the URL",
         r"^HTTP 401, credentials needed"),
        ("notfound", {}, r"HTTP 404", r"^HTTP 404$"),
    ]

    def test_survived_counted_logged(self):
        cam = self.camera("mjpeg", fps=15)
        name, cap, srv = self.net_capture(cam.url("/stream"),
                                          "--source-timeout", "1")
        r = self.reader(srv)
        self.wait_live(r, 3, want=self.jpegs)
        lost = 0
        for behaviour, opts, reason, ring_reason in self.CASES:
            with self.subTest(behaviour=behaviour):
                restarts = self.ring_info(name)["restarts"]
                dropped = self.ring_info(name)["dropped"]
                log_at = len(cap.log())
                cam.set(behaviour, **opts)
                cam.drop()
                t0 = time.monotonic()
                wait_until(lambda: re.search(reason, cap.log()[log_at:]),
                           DEADLINE, "the reason %r in the log" % reason)
                t_logged = time.monotonic() - t0
                if ring_reason is not None:
                    lost += 1
                    wait_until(lambda: self.ring_get(name, "state", "") ==
                               "offline" and re.search(ring_reason,
                                                       self.ring_info(name)
                                                       ["reason"]),
                               DEADLINE, "offline: %r" % ring_reason)
                    after = len(r.frames)
                    wait_until(lambda: len(r.frames) > after and
                               "x-shmcam-placeholder" in
                               r.frames[-1].headers, DEADLINE,
                               "a placeholder")
                else:
                    self.assertGreater(self.ring_info(name)["dropped"],
                                       dropped)
                cam.set("mjpeg")
                cam.drop()
                t1 = time.monotonic()
                self.wait_live(r, 1, after=len(r.frames), want=self.jpegs)
                t_live = time.monotonic() - t1
                self.wait_live(r, 3, after=len(r.frames) - 1,
                               want=self.jpegs)
                figure("hostile upstream %s: logged %.2f s after it came "
                       "(%s), live frames %.2f s after it behaved",
                       behaviour if behaviour != "mjpeg" else "401",
                       t_logged, "the ring offline, placeholders" if
                       ring_reason else "the frame dropped and counted",
                       t_live)
                self.assertEqual(self.ring_info(name)["state"], "online")
                if ring_reason is not None:
                    self.assertGreater(self.ring_info(name)["restarts"],
                                       restarts)
        self.assertFalse(r.closed)
        self.assertIsNone(r.error)
        # Counted: each recovery in the ring (above), every loss in the
        # capture's statistics line (every 5 s: the run is longer).
        counts = [int(n) for n in re.findall(r"source lost (\d+) times",
                                             cap.log())]
        self.assertTrue(counts and counts[-1] >= 2, counts)
        self.assertEqual(counts, sorted(counts))


class H264Test(NetSourceCase):
    """H.264 of a network camera's JPEG frames: a stream that says no rate
    is encoded as 30 fps (the GOP the H.264 ring's header says), and an
    upstream shmcam's "offline" picture goes into the JPEG ring only."""

    @need_x264
    def test_stream_without_a_rate(self):
        cam = self.camera("mjpeg", fps=15)
        name = self.new_name()
        self.start_capture(name, "--source", cam.url(), *FAST)
        out = os.path.join(self.tmp, "net.h264")
        index = h264dump(self.ctl_path(name), out,
                         os.path.join(self.tmp, "net.idx"), frames=20)
        self.assertEqual(decode(out), 20)
        self.assertTrue(index.units[0].keyframe)
        self.assertEqual((index.units[0].width, index.units[0].height),
                         (320, 240))
        self.assertEqual(self.ring_info(name, h264=True)["gop"], 30)

    @need_x264
    def test_upstream_placeholder_not_encoded(self):
        cam = self.camera("mjpeg", fps=15, placeholder=True)
        name = self.new_name()
        self.start_capture(name, "--source", cam.url(), *FAST)
        wait_until(lambda: (self.ring_info(name) or {}).get("reason") ==
                   "upstream offline", DEADLINE, "the upstream's placeholder")
        first = self.ring_info(name)["latest"]
        # An H.264 viewer for 3 s (at 15 fps: some 45 JPEG frames) gets
        # no unit: h264dump gives up, exit 1.
        idx = os.path.join(self.tmp, "offline.idx")
        r = subprocess.run([H264DUMP, "-c", self.ctl_path(name), "-n", "1",
                            "-t", "3", "-a", "-i", idx],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        with open(idx) as f:
            events = [line.split()[0] for line in f]
        self.assertIn("viewers", events, r.stderr)
        self.assertNotIn("au", events)
        self.assertGreater(self.ring_info(name)["latest"], first + 10)
        info = self.ring_info(name, h264=True)
        self.assertEqual((info["state"], info["reason"]),
                         ("offline", "upstream offline"))
        self.assertEqual(info["latest"], 0)


@unittest.skipIf("without TLS" in subprocess.run(
    [CAPTURE, "--version"], capture_output=True, text=True).stdout,
    "built without TLS (make TLS=0)")
class HttpsTest(NetSourceCase):
    """https: the certificate verified, and its name."""

    def test_trusted_certificate(self):
        cert, key = make_cert(self.tmp)
        cam = self.camera("mjpeg", tls=(cert, key))
        for host in ("127.0.0.1", "localhost"):
            with self.subTest(host=host):
                name, cap, srv = self.net_capture(cam.url("/stream",
                                                          host=host),
                                                  "--tls-ca", cert)
                self.wait_live(self.reader(srv), 5, want=self.jpegs)

    def test_untrusted_and_misnamed(self):
        cert, key = make_cert(self.tmp)
        other, okey = make_cert(self.tmp, names=("other.example",), ips=())
        cam = self.camera("mjpeg", tls=(cert, key))
        # Neither the system's authorities nor another certificate's
        # vouch for it.
        for ca, why in ((None, r"TLS: self.signed certificate"),
                        (other, r"TLS: self.signed certificate")):
            with self.subTest(ca=ca):
                args = ["--tls-ca", ca] if ca else []
                name, cap, srv = self.net_capture(cam.url("/stream"),
                                                  *args)
                cap.wait_log(r"lost: connect: " + why, timeout=DEADLINE)
                self.assertEqual(self.ring_info(name)["state"], "offline")
        # The right authority, the wrong name.
        misnamed = self.camera("mjpeg", tls=(other, okey))
        name, cap, srv = self.net_capture(misnamed.url("/stream"),
                                          "--tls-ca", other)
        cap.wait_log(r"lost: connect: TLS: (IP address|hostname) mismatch",
                     timeout=DEADLINE)

    def test_bad_ca_file(self):
        path = os.path.join(self.tmp, "junk.pem")
        with open(path, "w") as f:
            f.write("not a certificate\n")
        r = self.run_capture("--source", "https://127.0.0.1:1/", "--tls-ca",
                             path)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("cannot load the certificates of " + path, r.stderr)


class NetSourceOptionsTest(NetSourceCase):

    def test_bad_options(self):
        for args, msg in [
                (["--source", "http://cam:99999/"], "bad port"),
                (["--source", "http://u:p@cam x/"], "invalid --source URL"),
                (["--source", "gopher://cam/"], "unknown --source"),
                (["--source", "http://cam/", "--format", "YUYV"],
                 "--format needs a V4L2 source"),
                (["--source", "pattern", "--credentials", "/x"],
                 "--credentials needs an http"),
                (["--source", "http://cam/", "--tls-ca", "/x"],
                 "--tls-ca needs an https"),
                (["--source", "http://cam/", "--source-timeout", "0"],
                 "--source-timeout"),
                (["--retry-interval", "2", "--retry-max", "1"],
                 "--retry-max is below"),
        ]:
            with self.subTest(args=args):
                r = self.run_capture(*args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(msg, r.stderr)
                # The password is never echoed.
                self.assertNotIn("u:p@", r.stderr)

    def test_unreachable_at_start(self):
        # Nothing listens there: offline with the reason from the start,
        # placeholders, and the retries back off.  (The port is bound,
        # not listening, for the test's length: nobody else takes it.)
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.addCleanup(s.close)
        port = s.getsockname()[1]
        name, cap, srv = self.net_capture("http://127.0.0.1:%d/" % port)
        cap.wait_log(r"lost: connect: Connection refused; publishing",
                     timeout=DEADLINE)
        wait_until(lambda: (self.ring_info(name) or {}).get("state") ==
                   "offline", DEADLINE, "offline")
        self.assertEqual(self.ring_info(name)["reason"],
                         "connect: Connection refused")
        r = self.reader(srv)
        wait_until(lambda: r.count() > 0, DEADLINE, "a placeholder")

    def test_host_name_resolved(self):
        # "localhost" from /etc/hosts, through evdns, in the sandbox (its
        # UDP allowance unused here); ::1 may come first and refuse.
        cam = self.camera()
        name, cap, srv = self.net_capture("http://localhost:%d/stream"
                                          % cam.port)
        self.wait_live(self.reader(srv), 3, want=self.jpegs)
        cap.wait_log(r"sandbox: system call filter on \(with TCP and DNS\)")


if __name__ == "__main__":
    unittest.main()
