"""Simulated wide-area links for integration tests: a server in a network
namespace of its own, clients in others, and between them links with a
round-trip time, a bottleneck rate and loss, built in user space (this
kernel has no netem) by build/tests/wanlink (tests/tools/wanlink.c).

    from wan import Wan

    class MyTest(ShmcamTestCase):
        def test_far_viewer(self):
            net = Wan(self)                       # skips unless root
            far = net.link(rtt_ms=100, rate=250000)
            srv = self.start_server(name, "--listen", "0.0.0.0:0",
                                    netns=net.server)
            res = far.run([LOADCLIENT, "-u", far.url(srv.port, "/stream"),
                           "-n", "1", "-d", "5"], timeout=30)
            state = net.server.get_json(srv.port, "/state")

Topology: Wan(test) makes the server namespace (net.server).  Each
net.link(...) makes one client namespace and one link to it: a TUN
device "wanN" in each of the two namespaces, the server end
198.18.0.(4N+1)/30, the client end 198.18.0.(4N+2)/30 (RFC 2544's
benchmarking range: addresses that exist nowhere else), and one wanlink
process forwarding between them.  The namespaces have nothing else but
their loopback: a server listening on 0.0.0.0 inside net.server is
reachable from the links' clients and from the server namespace's own
127.0.0.1, and from nowhere outside.

Link parameters (each direction alike):
    rtt_ms   round-trip time: each packet is delayed rtt_ms / 2 one way
    rate     bottleneck in bytes/s (0: none, the link is as fast as the
             forwarder, several hundred MB/s)
    queue    the bottleneck's buffer in bytes (tail drop; default
             100 ms at rate, at least 16 KB)
    loss     probability (0..1) that a packet is dropped
    seed     the loss pattern: the same seed drops the same packets

Namespaces (net.server and link.ns are Namespace objects):
    ns.popen(argv, **popen_kw)   a process inside the namespace (a
                                 subprocess.Popen; stopped at cleanup)
    ns.run(argv, timeout, ...)   runs it to the end (subprocess.run
                                 arguments; timeout is required)
    ns.preexec                   preexec_fn that enters it, for code
                                 that starts processes itself
                                 (ShmcamTestCase.start_server(netns=))
    ns.socket(family, type)      a socket of the namespace, made in this
                                 process (no subprocess)
    ns.connect(host, port)       a TCP socket connected from inside it
    ns.http_get(port, path, host="127.0.0.1")
    ns.get_json(port, path="/state", host="127.0.0.1")

Links:
    link.ns                  the client namespace
    link.server_addr, link.client_addr
    link.url(port, path)     http://SERVER_ADDR:PORT/PATH
    link.run / link.popen    as link.ns.run / link.ns.popen
    link.stop()              stops the forwarder; its counters (dict:
                             "ab" server to client, "ba" back; packets,
                             bytes, lost, tail_dropped, max_queue)

Lifetime: everything is made in the constructor and net.link(), and
removed by net.close(), which Wan(test) registers with test.addCleanup()
so that it runs on every path, a failing test included.  Every process
(namespace holders, forwarders, what popen started) dies with the test
runner too (PR_SET_PDEATHSIG), and the namespaces are anonymous (held by
a process, never mounted under /run/netns): nothing is left behind even
when the runner is killed.  Forwarders stop by themselves after
`timeout` seconds (Wan(test, timeout=...), default 600).

Needs root (network namespaces, TUN devices): Wan(test) skips the test
with a message saying so when not root.  As root, a missing
/dev/net/tun fails the test: CI runs as root and must run these.
"""

import ctypes
import fcntl
import http.client
import json
import os
import select
import signal
import socket
import struct
import subprocess
import threading
import unittest

from shmcam import BUILD, SLOW

WANLINK = os.path.join(BUILD, "tests", "wanlink")
# Bytes on the link per byte of TCP payload: 1448 bytes of payload in
# each 1500-byte packet (TCP/IP headers with timestamps), and the link's
# rate counts whole packets.
WIRE = 1500 / 1448
CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 1
_libc = ctypes.CDLL(None, use_errno=True)
# setns() of this process's threads: one at a time.
_setns_lock = threading.Lock()


def _setns(path):
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns %s: %s" % (path, os.strerror(e)))
    finally:
        os.close(fd)


def _die_with_parent():
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _new_netns():
    # Runs in the child between fork and exec.
    _die_with_parent()
    if _libc.unshare(CLONE_NEWNET) != 0:
        os._exit(127)


def missing():
    """Why simulated links cannot be made here, or None."""
    if os.geteuid() != 0:
        return ("simulated WAN links need root (network namespaces and "
                "TUN devices); run the tests as root, as CI does")
    return None


class Namespace:
    """A network namespace held by a process of its own (sleep)."""

    def __init__(self, owner):
        self._owner = owner
        # Popen returns once the child has exec'd, so after unshare():
        # the holder's namespace is the new one from here on.
        self._holder = subprocess.Popen(["sleep", "infinity"],
                                        preexec_fn=_new_netns,
                                        stdin=subprocess.DEVNULL)
        self.pid = self._holder.pid
        self.path = "/proc/%d/ns/net" % self.pid
        try:
            self._loopback_up()
        except BaseException:
            self.close()
            raise

    def preexec(self):
        """Enters the namespace and dies with the parent; for
        subprocess's preexec_fn."""
        _die_with_parent()
        _setns(self.path)

    def popen(self, argv, **kw):
        p = subprocess.Popen([str(a) for a in argv], preexec_fn=self.preexec,
                             **kw)
        self._owner._procs.append(p)
        return p

    def run(self, argv, timeout, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run([str(a) for a in argv],
                              preexec_fn=self.preexec, timeout=timeout * SLOW,
                              **kw)

    def socket(self, family=socket.AF_INET, type=socket.SOCK_STREAM):
        """A socket of the namespace (made while this thread is in it; a
        socket keeps the namespace it was made in)."""
        with _setns_lock:
            back = os.open("/proc/thread-self/ns/net",
                           os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(self.path)
                try:
                    return socket.socket(family, type)
                finally:
                    if _libc.setns(back, CLONE_NEWNET) != 0:
                        # Never carry on in the wrong namespace.
                        os.abort()
            finally:
                os.close(back)

    def _loopback_up(self):
        with self.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            ifr = struct.pack("16sH14x", b"lo", 0)
            flags = struct.unpack("16sH", fcntl.ioctl(
                s, _SIOCGIFFLAGS, ifr)[:18])[1]
            fcntl.ioctl(s, _SIOCSIFFLAGS,
                        struct.pack("16sH14x", b"lo", flags | _IFF_UP))

    def connect(self, host, port, timeout=10):
        """A TCP socket connected to host:port from inside the
        namespace."""
        s = self.socket()
        try:
            s.settimeout(timeout)
            s.connect((host, port))
        except OSError:
            s.close()
            raise
        return s

    def http_get(self, port, path, host="127.0.0.1", timeout=10):
        """(status, headers dict, body bytes)."""
        ns = self

        class Conn(http.client.HTTPConnection):
            def connect(self):
                self.sock = ns.connect(self.host, self.port, self.timeout)
        c = Conn(host, port, timeout=timeout)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def get_json(self, port, path="/state", host="127.0.0.1"):
        status, _, body = self.http_get(port, path, host)
        if status != 200:
            raise AssertionError("%s: status %d" % (path, status))
        return json.loads(body)

    def close(self):
        if self._holder.poll() is None:
            self._holder.kill()
        self._holder.wait()


class Link:
    """One simulated link from the server namespace to a client one."""

    def __init__(self, net, index, rtt_ms, rate, queue, loss, seed, timeout):
        self.ns = Namespace(net)
        self.server_addr = "198.18.0.%d" % (4 * index + 1)
        self.client_addr = "198.18.0.%d" % (4 * index + 2)
        self.rtt_ms, self.rate, self.loss = rtt_ms, rate, loss
        argv = [WANLINK, "--ns-a", net.server.path, "--ns-b", self.ns.path,
                "--addr-a", self.server_addr, "--addr-b", self.client_addr,
                "--dev", "wan%d" % index, "--delay", "%g" % (rtt_ms / 2),
                "--rate", str(int(rate)), "--loss", "%g" % loss,
                "--seed", str(seed), "--timeout", str(int(timeout)),
                "--realtime"]
        if queue:
            argv += ["--queue", str(int(queue))]
        self.counters = None
        try:
            self._p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True,
                                       preexec_fn=_die_with_parent)
        except BaseException:
            self.ns.close()
            raise
        # "ready" once both ends are up; a failure says why and exits.
        ready, _, _ = select.select([self._p.stdout], [], [], 10 * SLOW)
        line = self._p.stdout.readline() if ready else ""
        if line.strip() != "ready":
            self._p.kill()
            self._p.wait()
            self.ns.close()
            raise AssertionError("wanlink failed (%s): %s"
                                 % (self._p.returncode, self._p.stderr.read()))

    def url(self, port, path="/"):
        return "http://%s:%d%s" % (self.server_addr, port, path)

    def run(self, argv, timeout, **kw):
        return self.ns.run(argv, timeout, **kw)

    def popen(self, argv, **kw):
        return self.ns.popen(argv, **kw)

    def stop(self):
        """Stops the forwarder (once); its counters."""
        if self.counters is None:
            if self._p.poll() is None:
                self._p.send_signal(signal.SIGTERM)
            try:
                out, err = self._p.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self._p.kill()
                out, err = self._p.communicate()
            lines = out.strip().splitlines()
            try:
                self.counters = json.loads(lines[-1])
            except (ValueError, IndexError):
                self.counters = {}
                raise AssertionError("wanlink (exit %s) printed no "
                                     "counters: %s" % (self._p.returncode,
                                                       err[-2000:]))
        return self.counters


class Wan:
    """The server namespace and its links; see the module's docstring."""

    def __init__(self, test=None, timeout=600):
        if test is not None:
            why = missing()
            if why:
                raise unittest.SkipTest(why)
        if not os.path.exists(WANLINK):
            raise AssertionError("missing %s: make the test binaries"
                                 % WANLINK)
        self._procs = []
        self._links = []
        self._timeout = timeout
        self.server = None
        if test is not None:
            test.addCleanup(self.close)
        self.server = Namespace(self)

    def link(self, rtt_ms, rate=0, queue=None, loss=0.0, seed=1):
        if len(self._links) >= 64:
            raise ValueError("at most 64 links (one /30 each in "
                             "198.18.0.0/24)")
        ln = Link(self, len(self._links), rtt_ms, rate, queue, loss, seed,
                  self._timeout)
        self._links.append(ln)
        return ln

    def close(self):
        """Stops every process, then the forwarders, then the holders:
        the namespaces go with the last process in them."""
        for p in reversed(self._procs):
            if p.poll() is None:
                p.kill()
            p.wait()
        problems = []
        for ln in self._links:
            try:
                ln.stop()
            except AssertionError as e:
                problems.append(str(e))
            ln.ns.close()
        if self.server is not None:
            self.server.close()
        self._procs, self._links = [], []
        if problems:
            raise AssertionError("\n".join(problems))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
