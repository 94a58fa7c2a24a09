"""Integration test harness: starts the real shmcam-capture and
shmcam-server binaries, talks to them with real clients, and waits on
conditions with deadlines (never on bare sleeps).

Every process a test starts is stopped by the test's cleanup, and dies
with the test runner if that dies first (PR_SET_PDEATHSIG).  Network
traffic goes to 127.0.0.1 only.
"""

import ctypes
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("SHMCAM_BUILD", "build"))
CAPTURE = os.path.join(BUILD, "shmcam-capture")
SERVER = os.path.join(BUILD, "shmcam-server")
JPEGINFO = os.path.join(BUILD, "tests", "jpeginfo")
RINGINFO = os.path.join(BUILD, "tests", "ringinfo")
IS_ROOT = os.geteuid() == 0
# A command to run the programs under, e.g. valgrind (make check-valgrind).
WRAPPER = os.environ.get("SHMCAM_WRAPPER", "").split()
# Deadlines stretch by this factor under a slow wrapper.
SLOW = float(os.environ.get("SHMCAM_SLOW", "1"))
# Under valgrind the programs run without their sandbox (common/sandbox.h):
# valgrind runs them on its own CPU inside the same process and makes
# system calls of its own, and it does not support seccomp filters (the
# filter would apply to those calls, and valgrind stops with an internal
# error).  Memcheck looks for memory errors, which the sandbox does not
# change; the rest of the suite runs sandboxed.
NO_SANDBOX = ["--no-sandbox"] if WRAPPER and "valgrind" in WRAPPER[0] else []
BOUNDARY = b"boundarydonotcross"


def drop_args(args):
    """What a capture started as root by the tests is told to become
    (it has no default without the shmcam-capture user of an install):
    nobody, unless args name a user."""
    return ["--user", "nobody"] if IS_ROOT and "--user" not in args else []

SANITIZER_SIGNATURES = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                        "runtime error:", "WARNING: ThreadSanitizer",
                        "ERROR: ThreadSanitizer")

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1
_counter = [0]


def _die_with_parent():
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def wait_until(pred, timeout, what, interval=0.02):
    """Polls pred() until it returns something true; fails after timeout
    (stretched by SHMCAM_SLOW)."""
    timeout *= SLOW
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1f s waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


def figure(fmt, *args):
    """A measured figure for docs/security.md's tables, on stderr, prefixed so
    that `grep '^figure:'` over a test run collects them."""
    import sys
    sys.stderr.write("\nfigure: " + (fmt % args) + "\n")


def observe(seconds):
    """A measurement window: lets everything run for `seconds` while the
    caller's readers and counters record what happens, to compute a rate
    or count events over a known time.  Not a way to wait for something
    to be ready: that is wait_until()."""
    time.sleep(seconds)


class Proc:
    """A child process whose output goes to a log file we can search."""

    def __init__(self, argv, log_path, env=None, wrapper=None, pass_fds=(),
                 netns=None):
        self.argv = list(argv)
        self.netns = netns
        self.log_path = log_path
        self._log = open(log_path, "ab")
        full = list(wrapper or []) + self.argv
        self.p = subprocess.Popen(full, stdin=subprocess.DEVNULL,
                                  stdout=self._log, stderr=subprocess.STDOUT,
                                  env=env, pass_fds=pass_fds,
                                  preexec_fn=netns.preexec if netns
                                  else _die_with_parent)
        self.pid = self.p.pid

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_log(self, regex, timeout=10, what=None):
        pat = re.compile(regex)

        def find():
            if self.p.poll() is not None:
                m = pat.search(self.log())
                if m:
                    return m
                raise AssertionError("%s exited (%s) before logging %r:\n%s"
                                     % (self.argv[0], self.p.returncode,
                                        regex, self.log()))
            return pat.search(self.log())
        return wait_until(find, timeout, what or "log line %r" % regex)

    def alive(self):
        return self.p.poll() is None

    def kill(self, sig):
        if self.alive():
            self.p.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Stops the process; returns its exit status."""
        if self.alive():
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self._log.close()
        return self.p.returncode

    def wait_exit(self, timeout=10):
        return self.p.wait(timeout)


class Server(Proc):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        m = self.wait_log(r"listening on http://([0-9.]+|\[[0-9a-f:]+\]):(\d+)/",
                          what="the server to listen")
        self.host = m.group(1).strip("[]")
        self.port = int(m.group(2))

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)


class ShmcamTestCase(unittest.TestCase):
    """A test case with a private directory and camera names of its own."""

    maxDiff = None
    # A process the sandbox killed fails the test, wherever it happened,
    # unless the test provokes that on purpose (test_sandbox.py).
    expect_sandbox_kills = False

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="shmcam-it-")
        os.chmod(self.tmp, 0o755)
        self.procs = []
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        problems = []
        for p in reversed(self.procs):
            was_alive = p.alive()
            rc = p.stop()
            # A process still running at the end must stop cleanly on
            # SIGTERM: exit 0, everything freed (sanitizer builds report
            # leaks and errors in the log and through the exit status).
            if was_alive and rc != 0:
                problems.append("%s exited %s on SIGTERM:\n%s"
                                % (p.argv[0], rc, p.log()[-3000:]))
            log = p.log()
            if ("sandbox: forbidden system call" in log and
                    not self.expect_sandbox_kills):
                problems.append("%s: killed by its sandbox:\n%s"
                                % (p.argv[0], log[-3000:]))
            for sig in SANITIZER_SIGNATURES:
                if sig in log:
                    problems.append("%s: sanitizer report:\n%s"
                                    % (p.argv[0], log[-6000:]))
                    break
        shutil.rmtree(self.tmp, ignore_errors=True)
        if problems:
            raise AssertionError("\n".join(problems))

    def new_name(self):
        _counter[0] += 1
        return "it%d-%d" % (os.getpid(), _counter[0])

    def ctl_path(self, name):
        return os.path.join(self.tmp, name + ".sock")

    def ring_info(self, name, out=None, h264=False):
        """The ring of capture name (started with ctl_path(name)): see
        ring_info()."""
        return ring_info(self.ctl_path(name), out, h264)

    def ring_get(self, name, key, default):
        """One field of ring_info(name), or default while the ring cannot
        be read (a capture between rings, or busy opening its camera), so
        that a condition waited on is simply not true yet."""
        info = self.ring_info(name)
        return info[key] if info else default

    def start_capture(self, name, *args):
        argv = [CAPTURE, "--name", name, "--ctl", self.ctl_path(name)]
        argv += NO_SANDBOX + drop_args(args) + list(args)
        p = Proc(argv, os.path.join(self.tmp, "capture-%s.log" % name),
                 wrapper=WRAPPER)
        self.procs.append(p)
        p.wait_log(r"capturing", what="capture to start")
        return p

    def start_server(self, name, *args, wrapper=None, root_ok=True,
                     args_replace_name=False, netns=None):
        """A server for camera name (or, with args_replace_name, for the
        cameras args give with --camera), on an ephemeral port; inside
        network namespace netns (a wan.Namespace) if given, where args
        say where it listens."""
        argv = [SERVER] + ([] if netns else ["--listen", "127.0.0.1:0"])
        if not args_replace_name:
            argv += ["--name", name, "--ctl", self.ctl_path(name)]
        return self.start_reader(Server, "server", name, argv, args,
                                 wrapper=wrapper, root_ok=root_ok,
                                 netns=netns)

    def start_reader(self, cls, kind, name, argv, args, wrapper=None,
                     root_ok=True, netns=None):
        """A reader of the rings (shmcam-server, shmcam-rtsp), a cls
        (a Proc) run as argv (the program, where it listens and its
        cameras) and then args, with --allow-root as root (unless
        root_ok is false, or a wrapper changes the user) and this run's
        sandbox and wrapper options; its log is KIND-NAME-N.log."""
        argv = list(argv)
        if IS_ROOT and root_ok and not wrapper:
            argv.append("--allow-root")
        argv += NO_SANDBOX + list(args)
        _counter[0] += 1
        p = cls(argv, os.path.join(self.tmp, "%s-%s-%d.log"
                                   % (kind, name, _counter[0])),
                wrapper=list(wrapper or []) + WRAPPER, netns=netns)
        self.procs.append(p)
        return p

    def wait_attached(self, server, timeout=10):
        get = server.netns.http_get if server.netns else http_get

        def live():
            status, headers, _ = get(server.port, "/snapshot")
            return status == 200 and "X-Shmcam-Placeholder" not in headers
        server.wait_log(r"attached to capture", timeout=timeout,
                        what="server to attach")
        wait_until(live, timeout, "a live snapshot")

    def jpeg_size(self, data):
        """(width, height) of a JPEG that decodes completely, else fails."""
        path = os.path.join(self.tmp, "frame-%d.jpg" % time.monotonic_ns())
        with open(path, "wb") as f:
            f.write(data)
        r = subprocess.run([JPEGINFO, path], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, "JPEG does not decode: "
                         + r.stderr)
        w, h = r.stdout.split()[:2]
        os.unlink(path)
        return int(w), int(h)


def read_response(sock, until=None):
    """The bytes a server sends on sock until `until` is among them, or
    until it closes the connection."""
    data = b""
    while until is None or until not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def split_response(data):
    """(status, headers with lower-case names, body) of a raw response;
    status 0 if it is not one."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    status = int(lines[0].split()[1]) if lines[0].startswith("HTTP/") else 0
    return status, headers, body


def ring_info(ctl, out=None, h264=False):
    """The ring's status, counters and newest frame as a dict (numbers
    as int), or None if it cannot be read right now: ringinfo attaches to
    the capture at control socket ctl for a moment (the capture counts it
    among its servers meanwhile).  With out, the newest frame is written
    there.  h264: the capture's H.264 ring instead of its JPEG ring (None
    if it has none)."""
    argv = ([RINGINFO] + (["-k", "h264"] if h264 else []) + [ctl] +
            ([out] if out else []))
    r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        return None
    info = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition("=")
        info[k] = int(v) if v.isdigit() else v
    return info


def http_get(port, path, method="GET", headers=None, timeout=10,
             source=None):
    """(status, headers dict, body bytes); headers keys as sent.  source:
    the client's address (any of 127.0.0.0/8), by default 127.0.0.1."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                   source_address=(source, 0) if source
                                   else None)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        return r.status, dict(r.getheaders()), body
    finally:
        c.close()


class Frame:
    __slots__ = ("arrival", "timestamp", "headers", "data")

    def __init__(self, arrival, timestamp, headers, data):
        self.arrival = arrival
        self.timestamp = timestamp
        self.headers = headers
        self.data = data


class StreamReader(threading.Thread):
    """What the stream readers below share: the thread around their
    _read() (a failure kept for the test, the socket closed at the end),
    stopping (the socket shut down under the reading thread), and waiting
    for a number of frames with the stream's failure or end reported as
    such."""

    def run(self):
        try:
            self._read()
        except Exception as e:  # noqa: BLE001 - reported to the test
            if not self._halt.is_set():
                self.error = e
        finally:
            self.closed = True
            if self._sock:
                self._sock.close()
            self._finish()

    def _finish(self):
        """What else to release once the reading ends."""

    def stop(self):
        self._halt.set()
        if self._sock:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.join(10)

    def wait_count(self, n, timeout, what):
        def enough():
            if self.error:
                raise AssertionError("stream failed: %r" % self.error)
            if self.closed and self.count() < n:
                raise AssertionError("stream closed after %d %s"
                                     % (self.count(), what))
            return self.count() >= n
        wait_until(enough, timeout, "%d %s from %s" % (n, what, self.path))


class MjpegReader(StreamReader):
    """Reads a multipart MJPEG stream strictly: every part must carry a
    Content-Length that matches its body exactly (checked by requiring
    the boundary right after that many bytes)."""

    def __init__(self, port, path="/stream", keep=4, host="127.0.0.1",
                 rcvbuf=None):
        super().__init__(daemon=True)
        self.port = port
        self.path = path
        self.keep = keep          # keep the bytes of the last N frames
        self.host = host
        self.rcvbuf = rcvbuf
        self.frames = []
        self.status = None
        self.head = {}
        self.error = None
        self.closed = False
        self.connected_at = None  # time.monotonic() once connected
        self._halt = threading.Event()
        self._sock = None
        self._buf = b""
        self.lock = threading.Lock()

    def count(self):
        with self.lock:
            return len(self.frames)

    def _fill(self, n):
        while len(self._buf) < n:
            chunk = self._sock.recv(262144)
            if not chunk:
                raise EOFError("connection closed")
            self._buf += chunk

    def _line(self):
        while True:
            i = self._buf.find(b"\r\n")
            if i >= 0:
                line, self._buf = self._buf[:i], self._buf[i + 2:]
                return line
            chunk = self._sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self._buf += chunk

    def _headers(self):
        h = {}
        while True:
            line = self._line()
            if not line:
                return h
            k, _, v = line.decode("latin-1").partition(":")
            h[k.strip().lower()] = v.strip()

    def _read(self):
        self._sock = socket.create_connection((self.host, self.port),
                                              timeout=30)
        self.connected_at = time.monotonic()
        if self.rcvbuf:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                  self.rcvbuf)
        self._sock.sendall(("GET %s HTTP/1.1\r\nHost: test\r\n\r\n"
                            % self.path).encode())
        status = self._line().split()
        self.status = int(status[1])
        self.head = self._headers()
        if self.status != 200:
            return
        ctype = self.head.get("content-type", "")
        m = re.search(r"boundary=([^;\s]+)", ctype)
        if not m:
            raise ValueError("no boundary in %r" % ctype)
        boundary = b"--" + m.group(1).encode()
        if self._line() != boundary:
            raise ValueError("body does not start with the boundary")
        while not self._halt.is_set():
            h = self._headers()
            n = int(h["content-length"])
            self._fill(n + 2 + len(boundary) + 2)
            data = self._buf[:n]
            tail = self._buf[n:n + 4 + len(boundary)]
            if tail != b"\r\n" + boundary + b"\r\n":
                raise ValueError("part of Content-Length %d is not "
                                 "followed by the boundary: %r"
                                 % (n, tail[:40]))
            self._buf = self._buf[n + 4 + len(boundary):]
            ts = float(h["x-timestamp"]) if "x-timestamp" in h else None
            with self.lock:
                self.frames.append(Frame(time.monotonic(), ts, h, data))
                if self.keep is not None and len(self.frames) > self.keep:
                    self.frames[-self.keep - 1].data = None


    def wait_frames(self, n, timeout=10):
        self.wait_count(n, timeout, "frames")


def ffmpeg_frames(url, count, timeout=60):
    """Decodes count frames of url with ffmpeg; returns how many decoded."""
    r = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error",
                        "-i", url, "-frames:v", str(count),
                        "-f", "framecrc", "-"],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("ffmpeg failed: %s" % r.stderr)
    return sum(1 for line in r.stdout.splitlines()
               if line and not line.startswith("#"))


LOADCLIENT = os.path.join(BUILD, "tests", "loadclient")


def loadclient(port, path="/stream", *args, timeout=120):
    """Runs the C load client against 127.0.0.1:port; returns its JSON."""
    import json
    r = subprocess.run([LOADCLIENT, "-u", "http://127.0.0.1:%d%s"
                        % (port, path)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("loadclient failed (%d): %s"
                             % (r.returncode, r.stderr))
    return json.loads(r.stdout)


def fds_linked_to(pid, pattern):
    """The descriptors of process pid whose /proc link matches the regular
    expression pattern (e.g. "^socket:\\[123\\]$")."""
    pat = re.compile(pattern)
    out = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if pat.search(os.readlink("/proc/%d/fd/%s" % (pid, fd))):
                out.append(int(fd))
        except OSError:
            pass
    return sorted(out)


def pidfd_getfd(pid, fd):
    """A duplicate of descriptor fd of process pid (pidfd_getfd(2)): the
    same open file, with its access mode, not a reopen."""
    SYS_pidfd_getfd = 438   # the same number on every architecture
    pidfd = os.pidfd_open(pid)
    try:
        n = _libc.syscall(SYS_pidfd_getfd, pidfd, fd, 0)
        if n < 0:
            raise OSError(ctypes.get_errno(), "pidfd_getfd")
    finally:
        os.close(pidfd)
    return n


CTL_MAGIC = 0x4c54434d
HELLO_LEN = 64          # sizeof(struct ctl_hello)
RING_CODEC_JPEG = 1     # ring.h enum ring_codec


def _define(header, name):
    with open(os.path.join(ROOT, "common", header)) as f:
        return int(re.search(r"#define %s\s+(\d+)" % name,
                             f.read()).group(1))


# The ABIs this tree speaks, as common/ring.h and common/ctl.h say.
RING_ABI = _define("ring.h", "RING_ABI_VERSION")
RING_HEADER = _define("ring.h", "RING_HEADER_SIZE")
CTL_ABI = _define("ctl.h", "CTL_ABI_VERSION")


def ctl_attach(path, label=b"test", timeout=5):
    """Attaches to the capture at control socket path as a server does
    (common/ctl.h): sends a hello, returns (the welcome's bytes, [eventfd,
    ring descriptor]) and the socket, which keeps the attachment."""
    import struct
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(timeout)
    s.connect(path)
    hello = struct.pack("<IHHII", CTL_MAGIC, 1, CTL_ABI, HELLO_LEN, 0)
    # kinds: JPEG (bit 0) only.
    hello += struct.pack("<IIII32s", os.getpid(), RING_ABI, 1, 0, label)
    s.send(hello)
    msg, anc, _, _ = s.recvmsg(512, socket.CMSG_SPACE(8 * 4))
    fds = []
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += list(struct.unpack("%di" % (len(data) // 4),
                                      data[:len(data) - len(data) % 4]))
    return msg, fds, s


class RingWatch:
    """A read-only view of a capture's ring, attached through its control
    socket as a server is (the capture counts it among its servers and
    wakes it after each frame: one eventfd write, which nobody reads).
    For polling the newest sequence at no cost to the capture."""

    def __init__(self, ctl_path):
        import mmap
        _, fds, self.sock = ctl_attach(ctl_path, b"ringwatch")
        if len(fds) != 2:
            raise AssertionError("no ring from the capture at %s"
                                 % ctl_path)
        try:
            size = os.fstat(fds[1]).st_size
            self.map = mmap.mmap(fds[1], size, mmap.MAP_SHARED,
                                 mmap.PROT_READ)
        finally:
            for fd in fds:
                os.close(fd)

    def latest(self):
        """The newest published sequence (common/ring.h rh_latest)."""
        import struct
        return struct.unpack_from("<Q", self.map, 64)[0]

    def generation(self):
        import struct
        return struct.unpack_from("<Q", self.map, 24)[0]

    def writer_pid(self):
        import struct
        return struct.unpack_from("<I", self.map, 32)[0]

    def close(self):
        self.map.close()
        self.sock.close()


class PublishMeter(threading.Thread):
    """Watches a capture's ring (RingWatch) from start() to stop(): how
    many frames it published and its longest pause between two.  A
    capture that something holds up pauses for seconds; one that only
    shares a loaded machine, for a few frame intervals."""

    def __init__(self, ctl_path):
        super().__init__(daemon=True)
        self.watch = RingWatch(ctl_path)
        self.halt = threading.Event()
        self.published = 0
        self.longest_pause = 0.0
        self.elapsed = 0.0

    def run(self):
        seq0 = last_seq = self.watch.latest()
        t0 = last_t = time.monotonic()
        while not self.halt.is_set():
            time.sleep(0.01)
            seq, now = self.watch.latest(), time.monotonic()
            if seq != last_seq:
                self.longest_pause = max(self.longest_pause, now - last_t)
                last_seq, last_t = seq, now
        now = time.monotonic()
        self.longest_pause = max(self.longest_pause, now - last_t)
        self.published = last_seq - seq0
        self.elapsed = now - t0

    def stop(self):
        self.halt.set()
        self.join(10)
        self.watch.close()


def sequence_share(reader, since):
    """The share of the ring's frames (by X-Shmcam-Sequence, from an
    extra_headers=1 stream) that reader got after monotonic time since."""
    with reader.lock:
        seqs = [int(f.headers["x-shmcam-sequence"]) for f in reader.frames
                if f.arrival >= since and "x-shmcam-sequence" in f.headers]
    if len(seqs) < 2:
        return 0.0
    return len(set(seqs)) / (max(seqs) - min(seqs) + 1)


def load_with_source_fps(port, *args, fps=30):
    """Runs the load client on /stream; also returns the rate the capture
    really published at meanwhile (the ring's sequence over the same
    window, from /state), at most fps, so that "the clients keep the
    source rate" compares with the source and not with a nominal rate a
    loaded machine kept the capture from."""
    seq0, t0 = get_json(port)["cameras"][0]["ring"]["latest"], time.monotonic()
    res = loadclient(port, "/stream", *args)
    seq1, t1 = get_json(port)["cameras"][0]["ring"]["latest"], time.monotonic()
    return res, min(fps, (seq1 - seq0) / (t1 - t0))


def count_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def settled_fds(pid, timeout=10):
    """The process's descriptor count once it has stopped changing (the
    same in five reads 50 ms apart): connections a client closed a moment
    ago may still be open on the server's side."""
    reads = []

    def settled():
        reads.append(count_fds(pid))
        return len(reads) >= 5 and len(set(reads[-5:])) == 1
    wait_until(settled, timeout, "the descriptor count to settle",
               interval=0.05)
    return reads[-1]

# Sanitizer builds: ASan keeps freed memory in quarantine, so RSS says
# nothing about leaks there (LeakSanitizer checks those at exit).
SANITIZED = os.environ.get("SHMCAM_BUILD", "build") != "build"


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^VmRSS:\s+(\d+)", f.read(), re.M).group(1))


def cpu_seconds(pid):
    """User + system CPU time of a process, seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_ns(pid):
    """CPU time of every thread a process has now, nanoseconds: the
    scheduler's own sum (/proc/PID/task/TID/schedstat, first field),
    exact where /proc/PID/stat counts clock ticks."""
    total = 0
    task = "/proc/%d/task" % pid
    for tid in os.listdir(task):
        try:
            with open("%s/%s/schedstat" % (task, tid)) as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:   # a thread that just ended
            pass
    return total


def get_json(port, path="/state", headers=None):
    import json
    status, _, body = http_get(port, path, headers=headers)
    if status != 200:
        raise AssertionError("%s: status %d" % (path, status))
    return json.loads(body)


def raw_request(port, data, timeout=10, host="127.0.0.1"):
    """Sends raw bytes, returns everything the server sends until it
    closes (or timeout)."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


class Mp4Fragment:
    __slots__ = ("arrival", "arrival_real", "sequence", "decode_time",
                 "capture_real", "sync", "size")

    def __init__(self, arrival, arrival_real, sequence, decode_time,
                 capture_real, sync, size):
        self.arrival = arrival            # time.monotonic()
        self.arrival_real = arrival_real  # time.time()
        self.sequence = sequence
        self.decode_time = decode_time    # tfdt, 90 kHz
        self.capture_real = capture_real  # prft, seconds since the epoch
        self.sync = sync
        self.size = size


class Mp4Reader(StreamReader):
    """Reads /stream.mp4 strictly: the HTTP head, a chunked (HTTP/1.1) or
    plain (HTTP/1.0) body, and in it MP4 boxes that must follow each
    other exactly: ftyp and moov first, then [prft] moof + mdat.  Records
    each fragment (mfhd sequence, tfdt, the capture time of its prft,
    sync flag of its first sample, arrival) and, with save, the body's bytes to that file, for ffmpeg to
    decode afterwards.  `ended` is set when the body ended cleanly (the
    last chunk), `error` when it was malformed or cut."""

    def __init__(self, port, path="/stream.mp4", http10=False, save=None,
                 rcvbuf=None, read_delay=0.0, host="127.0.0.1", ns=None):
        super().__init__(daemon=True)
        self.ns = ns              # a wan.Namespace to connect from
        self.port = port
        self.path = path
        self.http10 = http10
        self.save = save
        self.rcvbuf = rcvbuf
        self.read_delay = read_delay   # seconds to sleep between reads
        self.host = host
        self.status = None
        self.head = {}
        self.inits = 0
        self.fragments = []
        self.error = None
        self.ended = False
        self.closed = False
        self.started = None       # time.monotonic() of the request
        self.first_sync = None    # ... of the first fragment's arrival
        self.lock = threading.Lock()
        self._halt = threading.Event()
        self._sock = None
        self._raw = b""
        self._body = b""
        self._file = None

    def count(self):
        with self.lock:
            return len(self.fragments)

    def _recv(self):
        if self.read_delay:
            time.sleep(self.read_delay)
        chunk = self._sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self._raw += chunk

    def _line(self):
        while b"\r\n" not in self._raw:
            self._recv()
        line, self._raw = self._raw.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self._raw) < n:
            self._recv()
        data, self._raw = self._raw[:n], self._raw[n:]
        return data

    def _body_bytes(self):
        """More of the body, de-chunked; None at its clean end."""
        if not self.chunked:
            if not self._raw:
                try:
                    self._recv()
                except EOFError:
                    return None
            data, self._raw = self._raw, b""
            return data
        size = int(self._line().split(b";")[0], 16)
        if size == 0:
            if self._line() != b"":
                raise ValueError("trailer after the last chunk")
            return None
        data = self._take(size)
        if self._take(2) != b"\r\n":
            raise ValueError("chunk not followed by CRLF")
        return data

    def _box(self, data):
        import struct
        kind = data[4:8]
        if self._file:
            self._file.write(data)
        if kind in (b"ftyp", b"moov"):
            if self.fragments and kind == b"ftyp":
                raise ValueError("init segment in the middle of a stream")
            self.inits += kind == b"moov"
            return
        if kind == b"prft":
            ntp = struct.unpack(">Q", data[16:24])[0]
            self._prft = (ntp >> 32) - 2208988800 + (ntp & 0xffffffff) / 2**32
            return
        if kind == b"moof":
            self._moof = data
            return
        if kind != b"mdat" or self._moof is None:
            raise ValueError("unexpected box %r" % kind)
        moof, self._moof = self._moof, None
        seq = struct.unpack(">I", moof[20:24])[0]
        i = moof.find(b"tfdt")
        tfdt = struct.unpack(">Q", moof[i + 8:i + 16])[0]
        i = moof.find(b"trun")
        flags = struct.unpack(">I", moof[i + 24:i + 28])[0]
        sync = not (flags >> 16) & 1
        now = time.monotonic()
        prft, self._prft = self._prft, None
        with self.lock:
            if self.first_sync is None:
                self.first_sync = now
            self.fragments.append(Mp4Fragment(now, time.time(), seq, tfdt,
                                              prft, sync,
                                              len(moof) + len(data)))

    def _read(self):
        import struct
        self._moof = None
        self._prft = None
        if self.save:
            self._file = open(self.save, "wb")
        if self.ns is not None:
            self._sock = self.ns.connect(self.host, self.port, 30)
        else:
            self._sock = socket.create_connection((self.host, self.port),
                                                  timeout=30)
        if self.rcvbuf:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                  self.rcvbuf)
        self.started = time.monotonic()
        self._sock.sendall(("GET %s HTTP/1.%d\r\nHost: test\r\n\r\n"
                            % (self.path, 0 if self.http10 else 1))
                           .encode())
        self.status = int(self._line().split()[1])
        while True:
            line = self._line()
            if not line:
                break
            k, _, v = line.decode("latin-1").partition(":")
            self.head[k.strip().lower()] = v.strip()
        if self.status != 200:
            return
        self.chunked = self.head.get("transfer-encoding") == "chunked"
        buf = b""
        while not self._halt.is_set():
            data = self._body_bytes()
            if data is None:
                if buf:
                    raise ValueError("body ended inside a box")
                self.ended = True
                return
            buf += data
            while len(buf) >= 8:
                n = struct.unpack(">I", buf[:4])[0]
                if n < 8:
                    raise ValueError("box of size %d" % n)
                if len(buf) < n:
                    break
                self._box(buf[:n])
                buf = buf[n:]

    def _finish(self):
        if self._file:
            self._file.close()

    def wait_fragments(self, n, timeout=10):
        self.wait_count(n, timeout, "fragments")


def ffmpeg_decode(src, timeout=120, frames=None):
    """Decodes src (a file or URL) with ffmpeg; returns (frames decoded,
    ffmpeg's complaints): every frame, none dropped for its timing."""
    argv = ["ffmpeg", "-nostdin", "-v", "error", "-i", src,
            "-fps_mode", "passthrough"]
    if frames:
        argv += ["-frames:v", str(frames)]
    r = subprocess.run(argv + ["-f", "framecrc", "-"], capture_output=True,
                       text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("ffmpeg failed on %s: %s" % (src, r.stderr))
    return (sum(1 for line in r.stdout.splitlines()
                if line and not line.startswith("#")), r.stderr)
