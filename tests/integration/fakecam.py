"""A camera on the network, for the capture's network source
(capture/net.c): an HTTP server on 127.0.0.1 (or an address given) that
sends what real cameras and streamers send, each quirk on its own, and
what broken or hostile ones do.  Threads and the standard library only.

    cam = FakeCamera(frames, "mjpeg", fps=10, no_length=True)
    ... --source cam.url("/stream") ...
    cam.set("garbage")      # connections from now on
    cam.drop()              # and the ones open now are closed
    cam.close()

Behaviours (the opts each takes):

  mjpeg      multipart/x-mixed-replace over HTTP/1.0, as shmcam, mjpg-
             streamer and IP cameras send it.  Quirks: declared=STR (the
             Content-Type's boundary parameter as written, None for
             none), body_boundary=STR (the boundary line in the body),
             no_length, lf (LF-only lines), dup_boundary (each boundary
             line twice), extra_headers=N, headerless (no part headers),
             timestamp="real"|"boot"|None, placeholder (parts marked
             X-Shmcam-Placeholder).
  esp32      what the ESP32-CAM's CameraWebServer sends: HTTP/1.1,
             chunked, its boundary and part headers, X-Timestamp in
             seconds since boot; one client at a time (its web server
             serves one request, the stream, until it ends: a second
             connection waits); slow=BYTES_PER_S trickles each frame.
  snapshot   one JPEG per GET with Content-Length, HTTP/1.1 keep-alive;
             delay=S before each answer.  Records how many requests were
             in flight at once.
  garbage    a multipart head, then random bytes.
  truncated  like mjpeg, but every 3rd frame cut in half (its length
             says so: the framing is right, the JPEG is not).
  huge       a part of Content-Length 104857600, bytes trickling.
  stall      a multipart head, then nothing.
  reset      three frames, then a TCP reset.
  redirect   302 to redirect_to=PATH (a loop when it points back).
  notfound   404.

Any behaviour may require credentials: auth=("digest"|"basic", USER,
PASSWORD) answers 401 until they come (Digest MD5 with qop=auth, as
cameras do; algorithm="SHA-256" for that).

FakeCamera(..., tls=(CERT, KEY)) speaks https instead (Python's ssl
module, the PEM files given); make_cert() makes a self-signed pair with
the openssl command.
"""

import hashlib
import os
import random
import re
import socket
import struct
import threading
import time

ESP32_BOUNDARY = "123456789000000000000987654321"


class _Stop(Exception):
    pass


def make_cert(directory, names=("localhost",), ips=("127.0.0.1",)):
    """A self-signed certificate and its key (PEM files) for names and
    addresses; returns (cert, key)."""
    import subprocess
    cert = os.path.join(directory, "cert-%s.pem" % names[0])
    key = os.path.join(directory, "key-%s.pem" % names[0])
    san = ",".join(["DNS:" + n for n in names] + ["IP:" + i for i in ips])
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=" + names[0],
                    "-addext", "subjectAltName=" + san],
                   check=True, capture_output=True, timeout=30)
    return cert, key


class FakeCamera:

    def __init__(self, frames, behaviour="mjpeg", fps=10, host="127.0.0.1",
                 tls=None, **opts):
        self.frames = list(frames)
        self.tls = None
        if tls is not None:
            import ssl
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(*tls)
        self.fps = fps
        self.lock = threading.Lock()
        self.behaviour = behaviour
        self.opts = opts
        self.requests = []          # (path, {header: value}) in order
        self.connections = 0
        self.in_flight = 0          # requests being answered now
        self.max_in_flight = 0
        self.sent = []              # (x_timestamp or None, frame index)
        self.auth_ok = 0
        self._conns = set()
        self._stream_busy = threading.Lock()    # esp32: one client
        self._halt = threading.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def url(self, path="/stream", userinfo="", host=None):
        host = host or ("[%s]" % self.host if ":" in self.host
                        else self.host)
        return "%s://%s%s:%d%s" % ("https" if self.tls else "http",
                                   userinfo + "@" if userinfo else "",
                                   host, self.port, path)

    def set(self, behaviour, **opts):
        with self.lock:
            self.behaviour = behaviour
            self.opts = opts

    def drop(self):
        """Closes every connection open now."""
        with self.lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self._halt.set()
        self.sock.close()
        self.drop()
        self._thread.join(5)

    # ------------------------------------------------------------ serving

    def _accept(self):
        while not self._halt.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self._conns.add(conn)
            threading.Thread(target=self._serve, args=(conn,),
                             daemon=True).start()

    def _serve(self, conn):
        try:
            conn.settimeout(30)
            if self.tls is not None:
                raw = conn
                conn = self.tls.wrap_socket(raw, server_side=True)
                with self.lock:
                    self._conns.discard(raw)
                    self._conns.add(conn)
            buf = b""
            while not self._halt.is_set():
                req, buf = self._read_request(conn, buf)
                if req is None:
                    return
                with self.lock:
                    behaviour, opts = self.behaviour, dict(self.opts)
                    self.requests.append(req)
                    self.in_flight += 1
                    self.max_in_flight = max(self.max_in_flight,
                                             self.in_flight)
                try:
                    keep = self._answer(conn, req, behaviour, opts)
                finally:
                    with self.lock:
                        self.in_flight -= 1
                if not keep:
                    return
        except (OSError, _Stop):
            pass    # ssl.SSLError is an OSError
        finally:
            with self.lock:
                self._conns.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def _read_request(self, conn, buf):
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(4096)
            if not chunk:
                return None, b""
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        return (path, headers), rest

    def _send(self, conn, data):
        if self._halt.is_set():
            raise _Stop()
        conn.sendall(data)

    def _answer(self, conn, req, behaviour, opts):
        """Answers one request; True to read another on the connection."""
        if "auth" in opts and not self._authorized(conn, req, opts["auth"]):
            return False
        return getattr(self, "_b_" + behaviour)(conn, req, opts)

    # ------------------------------------------------------------- auth

    def _authorized(self, conn, req, auth):
        kind, user, password = auth[:3]
        alg = auth[3] if len(auth) > 3 else "MD5"
        got = req[1].get("authorization", "")
        if kind == "basic":
            import base64
            want = "Basic " + base64.b64encode(
                ("%s:%s" % (user, password)).encode()).decode()
            if got == want:
                with self.lock:
                    self.auth_ok += 1
                return True
            self._send(conn, b"HTTP/1.1 401 Unauthorized\r\n"
                       b"WWW-Authenticate: Basic realm=\"cam\"\r\n"
                       b"Content-Length: 0\r\n\r\n")
            return False
        nonce = getattr(self, "_nonce", None) or os.urandom(8).hex()
        self._nonce = nonce
        h = hashlib.sha256 if alg == "SHA-256" else hashlib.md5

        def hx(s):
            return h(s.encode()).hexdigest()
        if got.startswith("Digest "):
            p = dict(re.findall(r'(\w+)="?([^",]*)"?', got[7:]))
            ha1 = hx("%s:%s:%s" % (p.get("username"), "cam", password))
            ha2 = hx("GET:%s" % p.get("uri", ""))
            want = hx("%s:%s:%s:%s:auth:%s" % (ha1, nonce, p.get("nc"),
                                               p.get("cnonce"), ha2))
            if (p.get("username") == user and p.get("nonce") == nonce
                    and p.get("uri") == req[0] and p.get("qop") == "auth"
                    and p.get("response") == want):
                with self.lock:
                    self.auth_ok += 1
                return True
        self._send(conn, ("HTTP/1.1 401 Unauthorized\r\n"
                          "WWW-Authenticate: Digest realm=\"cam\", "
                          "qop=\"auth\", algorithm=%s, nonce=\"%s\", "
                          "opaque=\"xyz\"\r\n"
                          "Content-Length: 12\r\n\r\nUnauthorized"
                          % (alg, nonce)).encode())
        return True    # cameras keep the connection; we may not

    # ------------------------------------------------------- behaviours

    def _frame(self, i):
        return self.frames[i % len(self.frames)]

    def _pace(self, i, t0):
        delay = t0 + i / self.fps - time.monotonic()
        if delay > 0:
            if self._halt.wait(delay):
                raise _Stop()

    def _b_mjpeg(self, conn, req, o):
        nl = "\n" if o.get("lf") else "\r\n"
        declared = o.get("declared", "myboundary")
        body_b = o.get("body_boundary", "--myboundary")
        ctype = "multipart/x-mixed-replace"
        if declared is not None:
            ctype += ";boundary=" + declared
        self._send(conn, ("HTTP/1.0 200 OK%sContent-Type: %s%s"
                          "Cache-Control: no-cache%s%s"
                          % (nl, ctype, nl, nl, nl)).encode())
        t0 = time.monotonic()
        i = 0
        while True:
            self._pace(i, t0)
            jpeg = self._frame(i)
            if o.get("cut_every") and i % o["cut_every"] == 2:
                jpeg = jpeg[:len(jpeg) // 2]
            ts = None
            if o.get("timestamp", "real") == "real":
                ts = "%.6f" % time.time()
            elif o.get("timestamp") == "boot":
                ts = "%.6f" % time.monotonic()
            part = body_b + nl
            if o.get("dup_boundary"):
                part += body_b + nl
            if not o.get("headerless"):
                part += "Content-Type: image/jpeg" + nl
                if not o.get("no_length"):
                    part += "Content-Length: %d%s" % (len(jpeg), nl)
                if ts is not None:
                    part += "X-Timestamp: %s%s" % (ts, nl)
                if o.get("placeholder"):
                    part += "X-Shmcam-Placeholder: offline" + nl
                for k in range(o.get("extra_headers", 0)):
                    part += "X-Extra-%d: %s%s" % (k, "v" * 20, nl)
                part += nl
            with self.lock:
                self.sent.append((ts, i % len(self.frames)))
            self._send(conn, part.encode() + jpeg + nl.encode())
            i += 1

    def _b_truncated(self, conn, req, o):
        return self._b_mjpeg(conn, req, {"cut_every": 3})

    def _b_esp32(self, conn, req, o):
        # The ESP32's web server answers one request at a time: the
        # stream handler holds it until its client goes.
        with self._stream_busy:
            self._send(conn, ("HTTP/1.1 200 OK\r\n"
                              "Content-Type: multipart/x-mixed-replace;"
                              "boundary=" + ESP32_BOUNDARY + "\r\n"
                              "Transfer-Encoding: chunked\r\n"
                              "Access-Control-Allow-Origin: *\r\n"
                              "X-Framerate: 60\r\n\r\n").encode())
            boot = time.monotonic() - 42.5

            def chunk(b):
                return b"%x\r\n%s\r\n" % (len(b), b)
            t0 = time.monotonic()
            i = 0
            while True:
                self._pace(i, t0)
                jpeg = self._frame(i)
                t = time.monotonic() - boot
                head = ("Content-Type: image/jpeg\r\nContent-Length: %u\r\n"
                        "X-Timestamp: %d.%06d\r\n\r\n"
                        % (len(jpeg), int(t), int(t * 1e6) % 1000000))
                data = (chunk(("\r\n--" + ESP32_BOUNDARY + "\r\n").encode())
                        + chunk(head.encode()) + chunk(jpeg))
                with self.lock:
                    self.sent.append((None, i % len(self.frames)))
                slow = o.get("slow")
                if slow:
                    step = max(1, int(slow / 50))
                    for k in range(0, len(data), step):
                        self._send(conn, data[k:k + step])
                        if self._halt.wait(step / slow):
                            raise _Stop()
                else:
                    self._send(conn, data)
                i += 1

    def _b_snapshot(self, conn, req, o):
        if o.get("delay"):
            if self._halt.wait(o["delay"]):
                raise _Stop()
        with self.lock:
            i = len(self.sent)
            self.sent.append((None, i % len(self.frames)))
        jpeg = self._frame(i)
        self._send(conn, ("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
                          "Content-Length: %d\r\n\r\n" % len(jpeg)).encode()
                   + jpeg)
        return True

    def _b_garbage(self, conn, req, o):
        self._send(conn, b"HTTP/1.0 200 OK\r\nContent-Type: multipart/"
                   b"x-mixed-replace;boundary=b\r\n\r\n")
        rnd = random.Random(1)
        while True:
            self._send(conn, bytes(rnd.getrandbits(8) for _ in range(4096)))
            if self._halt.wait(0.01):
                raise _Stop()

    def _b_huge(self, conn, req, o):
        self._send(conn, b"HTTP/1.0 200 OK\r\nContent-Type: multipart/"
                   b"x-mixed-replace;boundary=b\r\n\r\n--b\r\n"
                   b"Content-Type: image/jpeg\r\n"
                   b"Content-Length: 104857600\r\n\r\n\xff\xd8")
        while True:
            self._send(conn, b"\0" * 65536)
            if self._halt.wait(0.01):
                raise _Stop()

    def _b_stall(self, conn, req, o):
        self._send(conn, b"HTTP/1.0 200 OK\r\nContent-Type: multipart/"
                   b"x-mixed-replace;boundary=b\r\n\r\n")
        self._halt.wait(60)
        raise _Stop()

    def _b_reset(self, conn, req, o):
        self._send(conn, b"HTTP/1.0 200 OK\r\nContent-Type: multipart/"
                   b"x-mixed-replace;boundary=b\r\n\r\n")
        for i in range(3):
            jpeg = self._frame(i)
            self._send(conn, b"--b\r\nContent-Length: %d\r\n\r\n%s\r\n"
                       % (len(jpeg), jpeg))
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
        return False

    def _b_redirect(self, conn, req, o):
        to = o.get("redirect_to", req[0])
        self._send(conn, ("HTTP/1.1 302 Found\r\nLocation: %s\r\n"
                          "Content-Length: 0\r\n\r\n" % to).encode())
        return True

    def _b_notfound(self, conn, req, o):
        self._send(conn, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0"
                   b"\r\n\r\n")
        return True
