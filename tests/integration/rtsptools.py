"""Helpers for shmcam-rtsp's tests: the program started like the others,
a small RTSP client of our own (requests, Basic and Digest, RTP over TCP
and UDP, an H.264 depacketizer that writes Annex B for ffmpeg), and the
external clients (ffmpeg, GStreamer) decoding to raw frames.

The client is written from RFC 2326, 3550 and 6184, independently of
shmcam-rtsp, so that both must agree for a test to pass; it checks what
a receiver relies on (sequence numbers, the marker bit, one timestamp per
access unit) and keeps what it received for the tests to look at."""

import hashlib
import json
import os
import re
import socket
import struct
import subprocess
import threading
import time
import urllib.request

from shmcam import BUILD, Proc, wait_until, _counter

RTSP = os.path.join(BUILD, "shmcam-rtsp")
START_CODE = b"\x00\x00\x00\x01"


class Rtsp(Proc):
    """A running shmcam-rtsp: its RTSP and HTTP ports from its log."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        m = self.wait_log(r"listening on rtsp://([0-9.]+|\[[0-9a-f:]+\]):"
                          r"(\d+)/", what="shmcam-rtsp to listen")
        self.port = int(m.group(2))
        m = self.wait_log(r"/state and /metrics on http://[^:]+:(\d+)/",
                          what="shmcam-rtsp's HTTP port")
        self.http_port = int(m.group(1))

    def url(self, path=""):
        return "rtsp://127.0.0.1:%d/%s" % (self.port, path)

    def _get(self, path):
        if self.netns is not None:
            status, _, body = self.netns.http_get(self.http_port, path)
            if status != 200:
                raise AssertionError("%s: status %d" % (path, status))
            return body
        with urllib.request.urlopen("http://127.0.0.1:%d%s"
                                    % (self.http_port, path),
                                    timeout=10) as r:
            return r.read()

    def state(self):
        return json.loads(self._get("/state"))

    def metrics(self):
        text = self._get("/metrics").decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
        return out

    def camera(self, name):
        for c in self.state()["cameras"]:
            if c["name"] == name:
                return c
        raise KeyError(name)


def udp_ports():
    """A range of server ports of this test run's own (other test runs
    share the machine): 8 pairs, somewhere in 20000-63999."""
    _counter[0] += 1
    base = 20000 + ((os.getpid() * 7 + _counter[0]) % 2750) * 16
    return "%d-%d" % (base, base + 15)


def start_rtsp(tc, name, *args, camera_args=None, wrapper=None, netns=None,
               listen="127.0.0.1:0"):
    """shmcam-rtsp for camera name of test case tc (a ShmcamTestCase),
    on ephemeral ports; inside network namespace netns (a wan.Namespace)
    if given."""
    argv = [RTSP, "--listen", listen, "--http", "127.0.0.1:0",
            "--udp-ports", udp_ports()]
    argv += camera_args if camera_args is not None else [
        "--name", name, "--ctl", tc.ctl_path(name)]
    return tc.start_reader(Rtsp, "rtsp", name, argv, args, wrapper=wrapper,
                           netns=netns)


# ------------------------------------------------------------- H.264 in RTP

def rtp_now():
    """CLOCK_MONOTONIC now as an RTP timestamp: shmcam-rtsp's are the
    capture times on the same clock (rtsp/rtp.h)."""
    ns = time.monotonic_ns()
    return (ns // 1000000000 * 90000 + ns % 1000000000 * 9 // 100000) \
        % (1 << 32)


class AccessUnit:
    __slots__ = ("ts", "seq", "arrival", "age", "nals", "key")

    def __init__(self, ts, seq, arrival, nals):
        self.ts = ts
        self.seq = seq            # first packet's sequence number
        self.arrival = arrival
        # Seconds from its capture to its arrival here.
        self.age = ((rtp_now() - ts) % (1 << 32)) / 90000
        self.nals = nals
        self.key = any(n[0] & 0x1f == 5 for n in nals)

    def annexb(self):
        return b"".join(START_CODE + n for n in self.nals)


class Depay:
    """RFC 6184 mode 1: single NAL units, STAP-A, FU-A.  Counts what is
    wrong instead of raising: lost packets (sequence gaps), access units
    cut short."""

    def __init__(self):
        self.units = []
        self.next_seq = None
        self.gaps = 0
        self.broken = 0
        self.ssrc = None
        self._nals = []
        self._fu = None
        self._ts = None
        self._seq = None
        self._bad = False

    def push(self, pkt):
        if len(pkt) < 13 or pkt[0] >> 6 != 2:
            self.broken += 1
            return None
        marker = pkt[1] & 0x80
        seq, ts, ssrc = struct.unpack("!HII", pkt[2:12])
        self.ssrc = ssrc
        if self.next_seq is not None and seq != self.next_seq:
            # Lost packets: the unit they were in is broken (a sender
            # that skips whole units leaves gaps between them, which
            # break nothing).
            self.gaps += 1
            if self._ts is not None and ts == self._ts:
                self._bad = True
        self.next_seq = (seq + 1) & 0xffff
        if self._ts is not None and ts != self._ts:
            # A new unit without the last one's marker: cut short.
            self.broken += 1
            self._nals, self._fu, self._bad = [], None, False
        if self._ts is None or ts != self._ts:
            self._seq = seq
        self._ts = ts
        p = pkt[12 + 4 * (pkt[0] & 0xf):]
        t = p[0] & 0x1f
        if t == 24:
            i = 1
            while i + 2 <= len(p):
                n = struct.unpack("!H", p[i:i + 2])[0]
                self._nals.append(p[i + 2:i + 2 + n])
                i += 2 + n
        elif t == 28:
            if p[1] & 0x80:
                self._fu = bytearray([(p[0] & 0xe0) | (p[1] & 0x1f)])
            if self._fu is None:
                self._bad = True
            else:
                self._fu += p[2:]
                if p[1] & 0x40:
                    self._nals.append(bytes(self._fu))
                    self._fu = None
        else:
            self._nals.append(bytes(p))
        if not marker:
            return None
        au = None
        if self._bad or self._fu is not None:
            self.broken += 1
        else:
            au = AccessUnit(ts, self._seq, time.monotonic(), self._nals)
            self.units.append(au)
        self._nals, self._fu, self._ts, self._bad = [], None, None, False
        return au


# ------------------------------------------------------------ the client

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())


def digest_response(user, password, realm, nonce, method, uri):
    md5 = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
    ha1 = md5("%s:%s:%s" % (user, realm, password))
    ha2 = md5("%s:%s" % (method, uri))
    return md5("%s:%s:%s" % (ha1, nonce, ha2))


class RtspClient:
    """One RTSP connection.  request() sends and reads the answer,
    keeping interleaved frames that arrive meanwhile; read_media() reads
    RTP (interleaved, or from the UDP socket) into the depacketizer."""

    def __init__(self, port, host="127.0.0.1", timeout=10, user=None,
                 password=None, auth="any", user_agent="shmcam-test",
                 sock=None):
        self.sock = sock or socket.create_connection((host, port),
                                                     timeout=timeout)
        self.host, self.port = host, port
        self.cseq = 0
        self.buf = b""
        self.session = None
        self.user, self.password, self.auth = user, password, auth
        self.user_agent = user_agent
        self.challenge = None
        self.depay = Depay()
        self.rtcp = []            # RTCP packets received
        self.channels = (0, 1)
        self.udp = None           # (rtp socket, rtcp socket)
        self.server_ports = None
        self.lock = threading.Lock()

    def close(self):
        self.sock.close()
        if self.udp:
            for s in self.udp:
                s.close()

    def _recv(self):
        chunk = self.sock.recv(262144)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def _frame(self):
        """One interleaved frame from buf, if whole there."""
        if len(self.buf) < 4:
            return False
        ch, n = self.buf[1], struct.unpack("!H", self.buf[2:4])[0]
        if len(self.buf) < 4 + n:
            return False
        data, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
        if ch == self.channels[0]:
            self.depay.push(data)
        elif ch == self.channels[1]:
            self.rtcp.append(data)
        return True

    def _response(self):
        while True:
            while self.buf[:1] == b"$":
                if not self._frame():
                    self._recv()
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0 and not self.buf.startswith(b"$"):
                break
            self._recv()
        head, self.buf = self.buf[:end].decode("latin-1"), self.buf[end + 4:]
        lines = head.split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            k = k.strip().lower()
            v = v.strip()
            headers[k] = headers[k] + "\n" + v if k in headers else v
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._recv()
        body, self.buf = self.buf[:n], self.buf[n:]
        return Response(status, headers, body)

    def _authorization(self, method, uri):
        if self.user is None or self.challenge is None:
            return None
        chal = self.challenge
        digest = re.search(r'Digest realm="([^"]*)", nonce="([^"]*)"', chal)
        if digest and self.auth in ("any", "digest"):
            realm, nonce = digest.groups()
            return ('Digest username="%s", realm="%s", nonce="%s", '
                    'uri="%s", response="%s"' % (
                        self.user, realm, nonce, uri,
                        digest_response(self.user, self.password, realm,
                                        nonce, method, uri)))
        import base64
        return "Basic " + base64.b64encode(
            ("%s:%s" % (self.user, self.password)).encode()).decode()

    def send(self, method, uri, headers=None, body=b""):
        """Sends a request without waiting for the answer."""
        self.cseq += 1
        h = {"CSeq": str(self.cseq), "User-Agent": self.user_agent}
        if self.session:
            h["Session"] = self.session
        authz = self._authorization(method, uri)
        if authz:
            h["Authorization"] = authz
        h.update(headers or {})
        if body:
            h["Content-Length"] = str(len(body))
        req = "%s %s RTSP/1.0\r\n" % (method, uri) + "".join(
            "%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
        self.sock.sendall(req.encode() + body)

    def request(self, method, uri, headers=None, body=b"", retry=True):
        self.send(method, uri, headers, body)
        r = self._response()
        if r.status == 401 and retry and self.user is not None:
            self.challenge = r.header("www-authenticate")
            return self.request(method, uri, headers, body, retry=False)
        return r

    def describe(self, url):
        r = self.request("DESCRIBE", url, {"Accept": "application/sdp"})
        self.base = r.header("content-base") or url + "/"
        return r

    def setup_tcp(self, url, channels=(0, 1)):
        self.channels = channels
        r = self.request("SETUP", url, {
            "Transport": "RTP/AVP/TCP;unicast;interleaved=%d-%d" % channels})
        if r.status == 200:
            self.session = r.header("session").split(";")[0]
        return r

    def setup_udp(self, url):
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # An even port and the one after it.
        for _ in range(100):
            rtp.bind(("127.0.0.1", 0))
            port = rtp.getsockname()[1]
            if port % 2 == 0:
                try:
                    rtcp.bind(("127.0.0.1", port + 1))
                    break
                except OSError:
                    pass
            rtp.close()
            rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.udp = (rtp, rtcp)
        r = self.request("SETUP", url, {
            "Transport": "RTP/AVP;unicast;client_port=%d-%d"
            % (port, port + 1)})
        if r.status == 200:
            self.session = r.header("session").split(";")[0]
            m = re.search(r"server_port=(\d+)-(\d+)", r.header("transport"))
            self.server_ports = (int(m.group(1)), int(m.group(2)))
        return r

    def play(self, url):
        return self.request("PLAY", url, {"Range": "npt=0.000-"})

    def start(self, url, transport="tcp"):
        """OPTIONS, DESCRIBE, SETUP, PLAY as a player sends them."""
        for r in (self.request("OPTIONS", url), self.describe(url)):
            if r.status != 200:
                return r
        track = self.base + "trackID=0"
        r = (self.setup_tcp(track) if transport == "tcp"
             else self.setup_udp(track))
        if r.status != 200:
            return r
        return self.play(self.base)

    def read_media(self, until, timeout=10):
        """Reads RTP until until() is true; fails after timeout."""
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                raise AssertionError("timed out reading media (%d units)"
                                     % len(self.depay.units))
            if self.udp:
                self.udp[0].settimeout(1)
                try:
                    self.depay.push(self.udp[0].recv(65536))
                except socket.timeout:
                    pass
            else:
                if not self._frame():
                    self._recv()

    def read_units(self, n, timeout=10):
        self.read_media(lambda: len(self.depay.units) >= n, timeout)
        return self.depay.units


class RtspReader(threading.Thread):
    """A client in a thread of its own: starts a session and reads until
    stopped (or, paused, stops reading with its connection open).  sock:
    a connected socket to use (from a wan.Namespace), host: the server's
    address as it sees it; user and password: credentials to answer a
    401 with."""

    def __init__(self, port, path, transport="tcp", rcvbuf=None, sock=None,
                 host="127.0.0.1", user=None, password=None,
                 read_delay=None):
        super().__init__(daemon=True)
        self.user, self.password = user, password
        self.port, self.path, self.transport = port, path, transport
        self.rcvbuf = rcvbuf
        # A slow reader: reads for 20 ms, then reads nothing for
        # read_delay seconds.
        self.read_delay = read_delay
        self.sock, self.host = sock, host
        self.client = None
        self.error = None
        self.closed = False
        self.status = None
        self._halt = threading.Event()
        self.reading = threading.Event()
        self.reading.set()

    def count(self):
        return len(self.client.depay.units) if self.client else 0

    def run(self):
        try:
            self.client = RtspClient(self.port, timeout=30, sock=self.sock,
                                     user=self.user, password=self.password)
            if self.rcvbuf:
                self.client.sock.setsockopt(socket.SOL_SOCKET,
                                            socket.SO_RCVBUF, self.rcvbuf)
            url = "rtsp://%s:%d/%s" % (self.host, self.port, self.path)
            r = self.client.start(url, self.transport)
            self.status = r.status
            if r.status != 200:
                return
            while not self._halt.is_set():
                self.reading.wait()
                if self._halt.is_set():
                    break
                pause = (time.monotonic() + 0.02 if self.read_delay
                         else float("inf"))
                self.client.read_media(
                    lambda: self._halt.is_set() or
                    not self.reading.is_set() or
                    time.monotonic() >= pause, timeout=3600)
                if self.read_delay:
                    # The reader's pace, not a wait for a condition.
                    self._halt.wait(self.read_delay)
        except Exception as e:  # noqa: BLE001 - reported to the test
            if not self._halt.is_set():
                self.error = e
        finally:
            self.closed = True

    def stop(self):
        self._halt.set()
        self.reading.set()
        if self.client:
            try:
                self.client.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.join(10)
        if self.client:
            self.client.close()

    def wait_units(self, n, timeout=10):
        def enough():
            if self.error:
                raise AssertionError("RTSP client failed: %r" % self.error)
            if self.closed and self.count() < n:
                raise AssertionError("RTSP client ended after %d units "
                                     "(status %s)" % (self.count(),
                                                      self.status))
            return self.count() >= n
        wait_until(enough, timeout, "%d access units" % n)


# ------------------------------------------------------ external clients

def ffmpeg_raw(url, out, frames, transport="tcp", timeout=90):
    """ffmpeg reads url over RTSP and writes frames decoded frames, as
    raw planes in the decoder's format, to out, each once (rawvideo's
    constant frame rate would repeat or drop frames by their RTP
    timestamps).  Its stderr."""
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error",
                        "-rtsp_transport", transport, "-i", url,
                        "-frames:v", str(frames), "-fps_mode", "passthrough",
                        "-f", "rawvideo", "-y",
                        out], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("ffmpeg -rtsp_transport %s %s: %s"
                             % (transport, url, r.stderr))
    return r.stderr


def gst_raw(url, out, frames, protocols="tcp", timeout=90):
    """GStreamer's rtspsrc reads url, decodes with libav's H.264 decoder
    and writes frames raw I420 frames to out."""
    r = subprocess.run(["gst-launch-1.0", "-q", "rtspsrc",
                        "location=" + url, "protocols=" + protocols,
                        "latency=100", "!", "rtph264depay", "!",
                        "h264parse", "!", "avdec_h264", "!",
                        # identity passes eos-after - 1 buffers, then EOS
                        "identity", "eos-after=%d" % (frames + 1), "!",
                        "videoconvert", "!", "video/x-raw,format=I420",
                        "!", "filesink", "location=" + out],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("gst-launch rtspsrc protocols=%s %s: %s%s"
                             % (protocols, url, r.stdout, r.stderr))
    return r.stderr
