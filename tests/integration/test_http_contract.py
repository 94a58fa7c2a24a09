"""The HTTP contract, table-driven: request -> status, headers, body shape.
Every endpoint and alias, lenient action= matching, HEAD, OPTIONS, 405,
404, 400, 503 (--max-clients), 401 with and without credentials, CORS,
and per-part headers with a correct Content-Length for every part in each
stream mode."""

import base64
import json
import re
import socket
import time

from shmcam import (MjpegReader, ShmcamTestCase, http_get, raw_request,
                    wait_until)

MULTIPART = "multipart/x-mixed-replace;boundary=boundarydonotcross"

# (method, path, status, {header: regex}, body shape)
#   body shapes: "jpeg", "stream", "html", "json", "metrics", "empty",
#   "text"
CASES = [
    ("GET", "/snapshot", 200, {"Content-Type": "^image/jpeg$"}, "jpeg"),
    ("GET", "/snapshot.jpg", 200, {"Content-Type": "^image/jpeg$"}, "jpeg"),
    ("GET", "/?action=snapshot", 200, {}, "jpeg"),
    ("GET", "/?action=snapshot&n=1", 200, {}, "jpeg"),
    ("GET", "/?x=1&action=snapshot", 200, {}, "jpeg"),
    ("GET", "/?action=snapshot?nonce=7", 200, {}, "jpeg"),
    ("GET", "/snapshot?12345", 200, {}, "jpeg"),
    ("HEAD", "/snapshot", 200, {"Content-Type": "^image/jpeg$",
                                "Content-Length": r"^\d+$"}, "empty"),
    ("GET", "/stream", 200, {"Content-Type": "^" + re.escape(MULTIPART)},
     "stream"),
    ("GET", "/?action=stream", 200, {}, "stream"),
    ("GET", "/?action=stream?nonce=1", 200, {}, "stream"),
    ("GET", "/?foo=bar&action=stream&x", 200, {}, "stream"),
    ("GET", "/stream?12345", 200, {}, "stream"),
    ("GET", "/stream.mjpg", 200, {}, "stream"),
    ("GET", "/index.html?action=stream", 200, {}, "stream"),
    ("HEAD", "/stream", 200, {"Content-Type": "^" + re.escape(MULTIPART)},
     "empty"),
    ("HEAD", "/?action=stream", 200, {}, "empty"),
    ("GET", "/", 200, {"Content-Type": "^text/html"}, "html"),
    ("GET", "/?12345", 200, {"Content-Type": "^text/html"}, "html"),
    ("GET", "/?action=nonsense", 200, {"Content-Type": "^text/html"},
     "html"),
    ("GET", "/index.html", 200, {"Content-Type": "^text/html"}, "html"),
    ("HEAD", "/", 200, {"Content-Type": "^text/html"}, "empty"),
    ("GET", "/state", 200, {"Content-Type": "^application/json"}, "json"),
    ("GET", "/metrics", 200, {"Content-Type": "^text/plain; version=0.0.4"},
     "metrics"),
    ("OPTIONS", "/stream", 204, {"Allow": "GET, HEAD, OPTIONS",
                                 "Access-Control-Allow-Methods": "GET"},
     "empty"),
    ("OPTIONS", "/snapshot", 204, {"Allow": "GET"}, "empty"),
    ("POST", "/snapshot", 405, {"Allow": "^GET, HEAD, OPTIONS$"}, "text"),
    ("PUT", "/", 405, {"Allow": "GET"}, "text"),
    ("DELETE", "/stream", 405, {}, "text"),
    ("PATCH", "/state", 405, {}, "text"),
    ("POST", "/nope", 405, {}, "text"),
    ("GET", "/nope", 404, {}, "text"),
    ("GET", "/a/b/c", 404, {}, "text"),
    ("GET", "/../snapshot", 404, {}, "text"),
    ("GET", "/othercam/stream", 404, {}, "text"),
    ("OPTIONS", "/nope", 404, {}, "text"),
    ("GET", "/stream?fps=abc", 400, {}, "text"),
]


class ContractTest(ShmcamTestCase):

    def setUp(self):
        super().setUp()
        self.name = self.new_name()
        self.start_capture(self.name, "--size", "320x240", "--fps", "30")

    def check_common(self, what, status, h):
        self.assertEqual(h.get("Server"), "shmcam/0.1", what)
        self.assertEqual(h.get("Access-Control-Allow-Origin"), "*", what)
        if status == 200:
            self.assertIn("no-store", h.get("Cache-Control", ""), what)

    def check_body(self, what, shape, h, body):
        if shape == "jpeg":
            self.assertEqual(int(h["Content-Length"]), len(body), what)
            self.assertRegex(h["X-Timestamp"], r"^\d+\.\d{6}$", what)
            self.assertLess(abs(float(h["X-Timestamp"]) - time.time()), 10)
            self.assertEqual(self.jpeg_size(body), (320, 240), what)
        elif shape == "empty":
            self.assertEqual(body, b"", what)
        elif shape == "html":
            self.assertIn(b'src="stream"', body, what)
            self.assertIn(b'href="snapshot"', body, what)
            self.assertIn(b"fetch(", body, what)
            # Nothing loaded from anywhere else.
            self.assertNotRegex(body, rb'(src|href)="(https?:)?//', what)
        elif shape == "json":
            st = json.loads(body)
            self.assertEqual(st["cameras"][0]["name"], self.name)
        elif shape == "metrics":
            self.assertIn(b"# TYPE shmcam_frames_sent_total counter", body)
        elif shape == "text":
            self.assertTrue(h["Content-Type"].startswith("text/plain"))

    def test_contract_table(self):
        srv = self.start_server(self.name, "--allow-origin", "*")
        self.wait_attached(srv)
        for method, path, status, headers, shape in CASES:
            what = "%s %s" % (method, path)
            with self.subTest(what):
                if shape == "stream":
                    r = MjpegReader(srv.port, path, keep=None)
                    r.start()
                    r.wait_frames(3)
                    r.stop()
                    self.assertEqual(r.status, status, what)
                    got = {k.title(): v for k, v in r.head.items()}
                    self.check_common(what, status, got)
                    for k, v in headers.items():
                        self.assertRegex(got.get(k, ""), v, what)
                    for f in r.frames[:3]:
                        self.assertEqual(self.jpeg_size(f.data),
                                         (320, 240), what)
                    continue
                st, h, body = http_get(srv.port, path, method)
                self.assertEqual(st, status, what)
                self.check_common(what, status, h)
                for k, v in headers.items():
                    self.assertRegex(h.get(k, ""), v, what)
                self.check_body(what, shape, h, body)

    def test_oversized_and_malformed_requests(self):
        srv = self.start_server(self.name)
        self.wait_attached(srv)
        cases = [
            b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n",
            b"GET /" + b"s" * 9000 + b" HTTP/1.1\r\n\r\n",
            b"NONSENSE\r\n\r\n",
            b"GET / HTTP/9.9\r\n\r\n",
            b"\x00\x01\x02\xff\r\n\r\n",
        ]
        for data in cases:
            reply = raw_request(srv.port, data)
            # Refused with a 4xx, or the connection closed: never a 200.
            self.assertTrue(reply == b"" or re.match(rb"HTTP/1\.\d 4\d\d",
                                                     reply), reply[:80])
        # And the server is fine.
        self.assertEqual(http_get(srv.port, "/snapshot")[0], 200)

    def test_auth(self):
        users = self.tmp + "/users"
        with open(users, "w") as f:
            f.write("# viewers\nalice:wonder land\n")
        srv = self.start_server(self.name, "--auth-file", users,
                                "--auth-exempt", "/metrics")
        self.wait_attached_noauth(srv)

        def cred(u, p):
            return {"Authorization": "Basic " + base64.b64encode(
                ("%s:%s" % (u, p)).encode()).decode()}
        good, bad = cred("alice", "wonder land"), cred("alice", "wonder")
        # Each from an address of its own: five failures from one address
        # are all it gets before 429 (test_auth_throttle.py).
        n = 0
        for path in ("/", "/snapshot", "/?action=snapshot", "/state",
                     "/stream", "/nope"):
            for hdrs, want in (({}, 401), (bad, 401),
                               (cred("bob", "wonder land"), 401),
                               ({"Authorization": "Bearer x"}, 401),
                               ({"Authorization": "Basic !!"}, 401)):
                n += 1
                st, h, _ = http_get(srv.port, path, headers=hdrs,
                                    source="127.2.0.%d" % n)
                self.assertEqual(st, want, (path, hdrs))
                self.assertEqual(h["WWW-Authenticate"],
                                 'Basic realm="shmcam", charset="UTF-8"')
        for path, want in (("/", 200), ("/snapshot", 200), ("/state", 200),
                           ("/nope", 404)):
            self.assertEqual(http_get(srv.port, path, headers=good)[0],
                             want, path)
        # Exempt path, and CORS preflights (which carry no credentials).
        self.assertEqual(http_get(srv.port, "/metrics")[0], 200)
        self.assertEqual(http_get(srv.port, "/stream", "OPTIONS")[0], 204)
        r = MjpegReader(srv.port, "/stream", keep=0)
        r.start()
        r.wait_until_status = None
        wait_until(lambda: r.status is not None, 10, "a response")
        self.assertEqual(r.status, 401)
        r.stop()
        # A stream with credentials.
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(b"GET /stream HTTP/1.1\r\nAuthorization: "
                  + good["Authorization"].encode() + b"\r\n\r\n")
        data = b""
        while data.count(b"--boundarydonotcross") < 3:
            data += s.recv(65536)
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.0 200 OK\r\n"))
        self.assertRegex(srv.log(), r"401, no valid credentials")

    def wait_attached_noauth(self, srv):
        srv.wait_log(r"attached to capture")

    def test_max_clients(self):
        srv = self.start_server(self.name, "--max-clients", "2")
        self.wait_attached(srv)
        readers = [MjpegReader(srv.port, keep=0) for _ in range(2)]
        for r in readers:
            r.start()
            self.addCleanup(r.stop)
            r.wait_frames(2)
        st, h, body = http_get(srv.port, "/stream")
        self.assertEqual(st, 503)
        self.assertRegex(h["Retry-After"], r"^\d+$")
        self.assertIn(b"too many clients", body)
        # Other endpoints still answer; a place frees up when one leaves.
        self.assertEqual(http_get(srv.port, "/snapshot")[0], 200)
        readers[0].stop()
        wait_until(lambda: json.loads(http_get(srv.port, "/state")[2])
                   ["server"]["clients"] == 1, 10, "the client to leave")
        r = MjpegReader(srv.port, keep=0)
        r.start()
        self.addCleanup(r.stop)
        r.wait_frames(2)
        self.assertRegex(srv.log(), r"503, 2 stream clients already")

    def test_stream_part_modes(self):
        """Per-part headers and Content-Length for every part, in the
        default, extra_headers=1 and advance_headers=1 modes."""
        srv = self.start_server(self.name)
        self.wait_attached(srv)
        r = MjpegReader(srv.port, "/stream?extra_headers=1", keep=None)
        r.start()
        self.addCleanup(r.stop)
        r.wait_frames(20)
        r.stop()
        for f in r.frames:
            h = f.headers
            self.assertEqual(h["content-type"], "image/jpeg")
            cap = float(h["x-shmcam-capture-time"])
            pub = float(h["x-shmcam-publish-time"])
            snd = float(h["x-shmcam-send-time"])
            self.assertEqual(float(h["x-timestamp"]), cap)
            self.assertTrue(cap <= pub <= snd, h)
            self.assertAlmostEqual(float(h["x-shmcam-latency"]), snd - cap,
                                   delta=2e-6)
            self.assertLess(snd - cap, 5)
            self.assertRegex(h["x-shmcam-generation"], r"^[0-9a-f]{16}$")
        seqs = [int(f.headers["x-shmcam-sequence"]) for f in r.frames]
        self.assertEqual(seqs, sorted(set(seqs)))
        self.assertEqual(self.jpeg_size(r.frames[5].data), (320, 240))

        # advance_headers=1: each boundary is followed at once by the next
        # part's headers (Chromium paints a frame only when it sees the
        # next part begin); the parts have no Content-Length.
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(b"GET /stream?advance_headers=1 HTTP/1.1\r\n\r\n")
        data = b""
        while data.count(b"\r\n--boundarydonotcross\r\n") < 12:
            chunk = s.recv(65536)
            self.assertTrue(chunk)
            data += chunk
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(MULTIPART.encode(), head)
        parts = body.split(b"--boundarydonotcross\r\n")
        self.assertEqual(parts[0], b"")
        for p in parts[1:-1]:
            self.assertTrue(p.startswith(b"Content-Type: image/jpeg\r\n\r\n"
                                         b"\xff\xd8"), p[:60])
            self.assertTrue(p.endswith(b"\xff\xd9\r\n"), p[-10:])
        # Whatever was read last ends right behind a boundary with the
        # next part's headers, never in the middle of them.
        self.assertTrue(parts[-1] == b"" or
                        parts[-1].startswith(b"Content-Type: image/jpeg"))
