"""Per-client stream options and what the server reports: fps=N caps a
client's rate, key=ID labels it in /state; /state and /metrics carry the
ring's status and counters, per-client queue and frame age, and the
latency histograms; several cameras in one server; listening on IPv6, a
unix socket and sockets passed by systemd; X-Forwarded-For behind a
trusted proxy."""

import os
import re
import signal
import socket
import subprocess
import time

from shmcam import (IS_ROOT, SERVER, MjpegReader, RingWatch, Server,
                    ShmcamTestCase,
                    ffmpeg_frames, get_json, http_get, observe, wait_until)


class StreamTest(ShmcamTestCase):

    def test_fps_cap_and_key(self):
        name = self.new_name()
        self.start_capture(name, "--size", "320x240", "--fps", "30")
        srv = self.start_server(name)
        self.wait_attached(srv)
        capped = MjpegReader(srv.port, "/stream?fps=5&key=kitchen%20tv"
                             "&extra_headers=1", keep=0)
        full = MjpegReader(srv.port, "/?action=stream&key=<b>\"x\"</b>"
                           "&extra_headers=1", keep=0)
        for r in (capped, full):
            r.start()
            self.addCleanup(r.stop)
        capped.wait_frames(3)
        full.wait_frames(3)
        st = get_json(srv.port)
        keys = sorted(c["key"] for c in st["cameras"][0]["clients"])
        self.assertEqual(keys, ['<b>"x"</b>', "kitchen tv"])
        c = [c for c in st["cameras"][0]["clients"]
             if c["key"] == "kitchen tv"][0]
        self.assertEqual(c["fps"], 5)
        self.assertRegex(c["address"], r"^127\.0\.0\.1:\d+$")
        t0 = time.monotonic()
        observe(4)

        def window(r):
            """(sequence, capture time) of the frames r got in the
            window: what the server chose to send, whatever delays the
            client's own thread added on arrival."""
            with r.lock:
                return [(int(f.headers["x-shmcam-sequence"]),
                         f.timestamp) for f in r.frames if f.arrival > t0]
        capped_frames, full_frames = window(capped), window(full)
        # The cap by the frames' capture times: 5 a second (the server
        # keeps the cadence, catching up after a delay, so the average
        # holds on a loaded machine; 4 to 6 leaves room for the ends of
        # the window), evenly spaced: the median gap a fifth of a second
        # (a burst after a delay is allowed, a capped client that got
        # frames back to back most of the time is not).
        span = capped_frames[-1][1] - capped_frames[0][1]
        rate = (len(capped_frames) - 1) / span
        self.assertGreaterEqual(rate, 4, capped_frames)
        self.assertLessEqual(rate, 6, capped_frames)
        gaps = sorted(b[1] - a[1] for a, b in
                      zip(capped_frames, capped_frames[1:]))
        self.assertGreater(gaps[len(gaps) // 2], 0.15, gaps)
        self.assertLess(gaps[len(gaps) // 2], 0.25, gaps)
        # The uncapped client, by the ring's sequence numbers: far more
        # than a capped one's sixth of the frames.  Half leaves room for
        # frames a loaded machine makes it skip (latest frame wins).
        seqs = [q for q, _ in full_frames]
        share = len(seqs) / (seqs[-1] - seqs[0] + 1)
        self.assertGreater(share, 0.5, seqs)

    def test_idle_server_first_client_gets_newest(self):
        """A server with no stream client is not woken for the capture's
        frames: it takes none while the camera publishes (/state takes
        the newest when asked, one frame, and reports the camera's rate
        all the same).  Its first client's first frame is the ring's
        newest, at once: it arrives while the capture is stopped, so it
        cannot be a later publish that woke the server.  Then the client
        gets the frames that follow as they are published."""
        name = self.new_name()
        cap = self.start_capture(name, "--size", "320x240", "--fps", "10")
        srv = self.start_server(name)
        self.wait_attached(srv)
        watch = RingWatch(self.ctl_path(name))
        self.addCleanup(watch.close)
        taken = get_json(srv.port)["cameras"][0]["frames_in"]
        start = watch.latest()
        # 2 s of frames at 10 fps; 30 s for a loaded machine (or valgrind).
        wait_until(lambda: watch.latest() >= start + 20, 30,
                   "20 frames published")
        cam = get_json(srv.port)["cameras"][0]
        self.assertLessEqual(cam["frames_in"], taken + 1, cam)
        self.assertGreater(cam["fps"], 0, cam)
        self.assertTrue(cam["online"], cam)
        # Frames the server has not taken since that /state.
        mid = watch.latest()
        wait_until(lambda: watch.latest() >= mid + 5, 30,
                   "5 frames published")
        os.kill(cap.pid, signal.SIGSTOP)
        try:
            newest = watch.latest()
            r = MjpegReader(srv.port, "/stream?extra_headers=1", keep=0)
            r.start()
            self.addCleanup(r.stop)
            # Bounded for a loaded machine; no publish can come meanwhile.
            r.wait_frames(1, timeout=30)
            self.assertEqual(watch.latest(), newest)
        finally:
            os.kill(cap.pid, signal.SIGCONT)
        r.wait_frames(4, timeout=30)
        seqs = [int(f.headers["x-shmcam-sequence"]) for f in r.frames[:4]]
        self.assertEqual(seqs[0], newest, seqs)
        self.assertEqual(seqs, sorted(set(seqs)), seqs)

    def test_state_and_metrics(self):
        name = self.new_name()
        self.start_capture(name, "--size", "320x240", "--fps", "30")
        srv = self.start_server(name)
        self.wait_attached(srv)
        r = MjpegReader(srv.port, keep=0)
        r.start()
        self.addCleanup(r.stop)
        r.wait_frames(30)
        st = get_json(srv.port)
        self.assertEqual(st["server"]["software"], "shmcam/0.1")
        self.assertEqual(st["server"]["clients"], 1)
        cam = st["cameras"][0]
        self.assertEqual(cam["name"], name)
        self.assertEqual(cam["link"], "attached")
        self.assertTrue(cam["online"])
        self.assertEqual((cam["width"], cam["height"]), (320, 240))
        self.assertGreater(cam["frames_in"], 20)
        self.assertGreater(cam["frames_sent"], 20)
        ring = cam["ring"]
        self.assertRegex(ring["generation"], r"^[0-9a-f]{16}$")
        self.assertEqual(ring["state"], "online")
        self.assertEqual(ring["fps"], 30)
        self.assertEqual((ring["width"], ring["height"]), (320, 240))
        self.assertGreater(ring["frames_captured"], 20)
        self.assertEqual(ring["servers"], 1)
        client = cam["clients"][0]
        for k in ("queued_bytes", "kernel_queued_bytes", "frames", "bytes",
                  "skipped", "connected_since", "frame_age"):
            self.assertIn(k, client)
        self.assertLess(abs(client["connected_since"] - time.time()), 60)
        # The send policy's last verdict and what it weighed: a TCP
        # client on loopback, taking every frame.
        send = client["send"]
        self.assertEqual(send["path"], "tcp")
        self.assertIn((send["decision"], send["reason"]),
                      {("send", "clear"), ("send", "drains")})
        for k in ("rtt_ms", "min_rtt_ms", "delivery_rate", "in_flight",
                  "unsent", "ours", "ahead", "drain_ms", "budget_ms"):
            self.assertIn(k, send)
        # /NAME/state is the same camera alone.
        self.assertEqual(get_json(srv.port, "/%s/state" % name)
                         ["cameras"][0]["name"], name)

        status, h, body = http_get(srv.port, "/metrics")
        text = body.decode()
        for metric in ("shmcam_frames_sent_total", "shmcam_clients",
                       "shmcam_frames_dropped_total",
                       "shmcam_capture_attaches_total",
                       "shmcam_bytes_sent_total"):
            self.assertRegex(text, r"(?m)^%s\{camera=\"%s\"\} \d+$"
                             % (metric, name))
        self.assertRegex(text, r'(?m)^shmcam_send_decisions_total\{camera="%s",'
                         r'decision="send",reason="clear"\} [1-9]\d*$' % name)
        for hist in ("shmcam_send_latency_seconds", "shmcam_frame_age_seconds"):
            self.assertIn("# TYPE %s histogram" % hist, text)
            buckets = [int(v) for v in re.findall(
                r'(?m)^%s_bucket\{camera="%s",le="[^"]+"\} (\d+)$'
                % (hist, name), text)]
            self.assertEqual(buckets, sorted(buckets))
            count = int(re.search(r'(?m)^%s_count\{camera="%s"\} (\d+)$'
                                  % (hist, name), text).group(1))
            self.assertEqual(buckets[-1], count)
            self.assertGreater(count, 20)
        # Every line is a comment or "name{labels} value" (a Prometheus
        # metric name: letters, digits after the first, underscores).
        for line in text.splitlines():
            self.assertRegex(line, r'^(# (HELP|TYPE) .*|'
                             r'[a-z_][a-z0-9_]*(\{[^}]*\})? [0-9.e+-]+)$')

    def test_several_cameras(self):
        a, b = self.new_name(), self.new_name()
        self.start_capture(a, "--size", "320x240")
        self.start_capture(b, "--size", "640x360")
        srv = self.start_server(a, "--camera", "%s:%s" % (a, self.ctl_path(a)),
                                "--camera", "%s:%s" % (b, self.ctl_path(b)),
                                args_replace_name=True)
        wait_until(lambda: srv.log().count("attached to capture") == 2, 10,
                   "both cameras")
        for cam, size in ((a, (320, 240)), (b, (640, 360))):
            wait_until(lambda: http_get(srv.port, "/%s/snapshot" % cam)[0]
                       == 200, 10, "a snapshot")
            st, h, body = http_get(srv.port, "/%s/snapshot" % cam)
            self.assertEqual(self.jpeg_size(body), size)
            st, h, body = http_get(srv.port, "/%s/?action=snapshot" % cam)
            self.assertEqual(self.jpeg_size(body), size)
            st, h, _ = http_get(srv.port, "/%s" % cam)
            self.assertEqual((st, h["Location"]), (301, "/%s/" % cam))
            st, _, body = http_get(srv.port, "/%s/" % cam)
            self.assertIn(b'src="stream"', body)
        self.assertEqual(ffmpeg_frames(srv.url("/%s/stream" % b), 20), 20)
        # No single camera, so no top-level stream; the page lists both.
        self.assertEqual(http_get(srv.port, "/stream")[0], 404)
        st, _, body = http_get(srv.port, "/")
        self.assertIn(('src="%s/stream"' % a).encode(), body)
        self.assertIn(('src="%s/stream"' % b).encode(), body)
        self.assertEqual([c["name"] for c in get_json(srv.port)["cameras"]],
                         [a, b])
        self.assertEqual(http_get(srv.port, "/nosuchcam/stream")[0], 404)

    def test_listen_ipv6_unix_and_trust_proxy(self):
        name = self.new_name()
        self.start_capture(name, "--size", "320x240")
        sock_path = os.path.join(self.tmp, "http.sock")
        srv = self.start_server(name, "--listen", "[::1]:0", "--unix",
                                sock_path, "--unix-mode", "0600",
                                "--trust-proxy")
        self.wait_attached(srv)
        self.assertEqual(os.stat(sock_path).st_mode & 0o777, 0o600)
        port6 = int(re.search(r"listening on http://\[::1\]:(\d+)/",
                              srv.log()).group(1))
        r6 = MjpegReader(port6, host="::1", keep=0)
        r6.start()
        self.addCleanup(r6.stop)
        r6.wait_frames(5)
        out = subprocess.run(["curl", "-sf", "--unix-socket", sock_path,
                              "-o", os.path.join(self.tmp, "u.jpg"),
                              "http://localhost/snapshot"], timeout=20)
        self.assertEqual(out.returncode, 0)
        with open(os.path.join(self.tmp, "u.jpg"), "rb") as f:
            self.assertEqual(self.jpeg_size(f.read()), (320, 240))
        # Behind a proxy: the last X-Forwarded-For entry is the client.
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"GET /stream HTTP/1.1\r\nX-Forwarded-For: 10.9.9.9, "
                  b"192.0.2.7\r\n\r\n")
        s.recv(1000)
        wait_until(lambda: any(c["address"] == "192.0.2.7" for c in
                               get_json(srv.port)["cameras"][0]["clients"]),
                   10, "the forwarded address in /state")
        self.assertIn("stream client 192.0.2.7 /stream connected", srv.log())
        self.assertTrue(any(c["address"].startswith("[::1]:") for c in
                            get_json(srv.port)["cameras"][0]["clients"]))

    def test_socket_activation(self):
        name = self.new_name()
        self.start_capture(name, "--size", "320x240")
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(16)
        port = lsock.getsockname()[1]
        self.addCleanup(lsock.close)
        fd = lsock.fileno()
        argv = [SERVER, "--name", name, "--ctl", self.ctl_path(name)]
        if IS_ROOT:
            argv.append("--allow-root")
        # sd_listen_fds(): fd 3, LISTEN_FDS=1, LISTEN_PID = the server.
        wrapper = ["sh", "-c", 'exec 3<&%d; LISTEN_PID=$$ LISTEN_FDS=1 '
                   'exec "$@"' % fd, "sh"]
        p = Server(argv, os.path.join(self.tmp, "server-sa.log"),
                   wrapper=wrapper, pass_fds=[fd])
        self.procs.append(p)
        self.assertEqual(p.port, port)
        self.assertIn("(socket activation)", p.log())
        wait_until(lambda: http_get(port, "/snapshot")[0] == 200, 10,
                   "a snapshot through the passed socket")
        # Only the passed socket: no default 127.0.0.1:8080.
        self.assertEqual(p.log().count("listening on"), 1)
