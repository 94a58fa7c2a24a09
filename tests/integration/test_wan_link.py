"""The simulated wide-area links themselves (wan.py, tests/tools/wanlink.c):
other tests trust them for every figure they measure across a link, so
each property they rely on is checked here: the round-trip time, the
bottleneck's rate and its tail drop, loss (the same packets for the same
seed), the namespaces' isolation, and that nothing is left behind."""

import errno
import os
import socket
import threading
import time

from shmcam import ShmcamTestCase
from wan import WIRE, Wan

# The simulated links' forwarder must not be starved by other tests
# (run.py runs this module alone).
RUN_ALONE = True

SO_RCVBUFFORCE = 33     # asm-generic/socket.h


def sink(sock, got):
    """Reads a TCP connection to its end, counting bytes and noting when
    the last arrived."""
    conn, _ = sock.accept()
    with conn:
        while True:
            b = conn.recv(65536)
            if not b:
                break
            got["bytes"] += len(b)
            got["t"] = time.monotonic()


class WanLinkTest(ShmcamTestCase):

    def listener(self, ns, addr, kind=socket.SOCK_STREAM):
        s = ns.socket(socket.AF_INET, kind)
        self.addCleanup(s.close)
        s.bind((addr, 0))
        if kind == socket.SOCK_STREAM:
            s.listen(4)
        return s, s.getsockname()[1]

    def test_round_trip_time(self):
        net = Wan(self)
        ln = net.link(rtt_ms=80)
        srv, port = self.listener(net.server, ln.server_addr)
        # A TCP handshake takes one round trip: SYN there, SYN-ACK back.
        times = []
        for _ in range(3):
            t0 = time.monotonic()
            c = ln.ns.connect(ln.server_addr, port)
            times.append(time.monotonic() - t0)
            c.close()
            srv.accept()[0].close()
        # 80 ms, and no more than the timer and scheduling slack of a
        # busy machine (the forwarder runs at a real-time priority).
        self.assertGreaterEqual(min(times), 0.080, times)
        self.assertLess(min(times), 0.080 + 0.030, times)

    def test_bottleneck_rate_and_tail_drop(self):
        net = Wan(self)
        ln = net.link(rtt_ms=20, rate=200000)
        srv, port = self.listener(net.server, ln.server_addr)
        got = {"bytes": 0, "t": None}
        th = threading.Thread(target=sink, args=(srv, got), daemon=True)
        th.start()
        c = ln.ns.connect(ln.server_addr, port)
        t0 = time.monotonic()
        c.sendall(b"x" * 400000)
        c.close()
        th.join(30)
        self.assertEqual(got["bytes"], 400000)
        # 400 KB of payload at 200 KB/s of packets (headers included):
        # a little over 2 s; TCP's start and its losses at the tail of
        # the queue add a few round trips, not seconds.
        took = got["t"] - t0
        self.assertGreaterEqual(took, 400000 * WIRE / 200000, took)
        self.assertLess(took, 3.5, took)
        c = ln.stop()
        # TCP filled the 20 KB buffer (100 ms at the rate) and met its
        # tail: the queue never grew past it.
        self.assertGreater(c["ab"]["tail_dropped"] + c["ba"]["tail_dropped"],
                           0, c)
        self.assertLessEqual(max(c["ab"]["max_queue"], c["ba"]["max_queue"]),
                             20000, c)

    def test_loss_is_random_and_repeatable(self):
        net = Wan(self)
        counts = []
        for _ in range(2):
            ln = net.link(rtt_ms=2, loss=0.2, seed=42)
            srv, port = self.listener(net.server, ln.server_addr,
                                      socket.SOCK_DGRAM)
            # Room for all 500 before the test reads any (as root:
            # SO_RCVBUFFORCE, past net.core.rmem_max).
            srv.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 1 << 22)
            c = ln.ns.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for i in range(500):
                c.sendto(b"%d" % i, (ln.server_addr, port))
            c.close()
            # Everything that made it, until 0.5 s pass without one.
            received = 0
            srv.settimeout(0.5)
            try:
                while True:
                    srv.recv(64)
                    received += 1
            except socket.timeout:
                pass
            counters = ln.stop()
            # Only the test's packets cross a link (no IPv6 chatter),
            # and every one is either delivered or counted lost.
            self.assertEqual(counters["ba"]["packets"], received, counters)
            self.assertEqual(received + counters["ba"]["lost"], 500,
                             counters)
            counts.append(counters["ba"]["lost"])
        # 20 % of 500, give or take what a fair coin does (3 sigma: 27).
        self.assertGreater(counts[0], 100 - 27, counts)
        self.assertLess(counts[0], 100 + 27, counts)
        # The same seed drops the same packets.
        self.assertEqual(counts[0], counts[1])

    def test_isolated_and_removed(self):
        net = Wan(self)
        ln = net.link(rtt_ms=10)
        # The client namespace reaches the server's end of its link, and
        # nothing of this machine's own network.
        srv, port = self.listener(net.server, ln.server_addr)
        ln.ns.connect(ln.server_addr, port).close()
        # No route beyond the link (192.0.2.1: a documentation address).
        with self.assertRaises(OSError) as e:
            ln.ns.connect("192.0.2.1", 80, timeout=2)
        self.assertEqual(e.exception.errno, errno.ENETUNREACH)
        r = ln.run(["cat", "/proc/net/dev"], timeout=10)
        devs = sorted(line.split(":")[0].strip()
                      for line in r.stdout.splitlines()[2:])
        self.assertEqual(devs, ["lo", "wan0"])
        p = ln.popen(["sleep", "60"])
        pids = [p.pid, ln._p.pid, ln.ns.pid, net.server.pid]
        net.close()
        # Every process gone: the namespaces went with the last of them.
        for pid in pids:
            self.assertFalse(os.path.exists("/proc/%d" % pid), pid)
