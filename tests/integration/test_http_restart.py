"""Capture restarts are invisible to viewers: ten clients stay connected
through a restart, see the "camera offline" placeholder about once a
second, then live frames of the new generation within a second.  A fake
capture that speaks nonsense, hands over a foreign shared-memory object
or says nothing is logged and retried, never trusted."""

import os
import socket
import struct
import threading
import time

from shmcam import (SLOW, MjpegReader, ShmcamTestCase, get_json, http_get,
                    observe, wait_until)

CTL_MAGIC = 0x4c54434d
CTL_ABI = 2            # common/ctl.h CTL_ABI_VERSION
RING_ABI = 2           # common/ring.h RING_ABI_VERSION
HELLO_LEN = 64         # sizeof(struct ctl_hello)


def welcome(generation=0x1234, slot_count=8, slot_size=1 << 20):
    hdr = struct.pack("<IHHII", CTL_MAGIC, 2, CTL_ABI, 120, 0)
    # kinds: JPEG (bit 0) only.
    body = struct.pack("<QIIIIIIII64s", generation, RING_ABI, slot_count,
                       slot_size, 320, 240, 30000, os.getpid(), 1,
                       b"shmcam-fake")
    return hdr + body


class FakeCapture(threading.Thread):
    """Listens on a control socket path and answers each hello with the
    next of `answers`: bytes to send, (bytes, [fds]) or None (silence)."""

    def __init__(self, path, answers):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.bind(path)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.path = path
        self.answers = list(answers)
        self.hellos = 0
        self.conns = []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set() and self.answers:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            self.conns.append(c)
            c.settimeout(5)
            try:
                if len(c.recv(256)) == HELLO_LEN:
                    self.hellos += 1
            except OSError:
                continue
            a = self.answers.pop(0)
            if a is None:
                continue
            if isinstance(a, tuple):
                data, fds = a
                c.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                    struct.pack("%di" % len(fds), *fds))])
            else:
                c.send(a)

    def stop(self):
        self.halt.set()
        self.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()
        os.unlink(self.path)


class RestartTest(ShmcamTestCase):

    def test_restart_with_ten_clients(self):
        name = self.new_name()
        cap = self.start_capture(name, "--size", "320x240")
        srv = self.start_server(name)
        self.wait_attached(srv)
        readers = [MjpegReader(srv.port, "/stream?extra_headers=1"
                               if i % 2 else "/stream", keep=0)
                   for i in range(10)]
        for r in readers:
            r.start()
            self.addCleanup(r.stop)
        for r in readers:
            r.wait_frames(10)
        gen1 = readers[1].frames[-1].headers["x-shmcam-generation"]

        self.assertEqual(cap.stop(), 0)
        stopped = time.monotonic()
        srv.wait_log(r"capture closed the control socket")
        # Placeholders, about one a second, for everyone.
        observe(3)

        def placeholders(r):
            with r.lock:
                return [f for f in r.frames if f.arrival > stopped and
                        f.headers.get("x-shmcam-placeholder") == "offline"]
        for r in readers:
            n = len(placeholders(r))
            self.assertGreaterEqual(n, 2, "placeholders in 3 s")
            self.assertLessEqual(n, 5, "placeholders in 3 s")
        _, h, ph = http_get(srv.port, "/snapshot")
        self.assertEqual(h["X-Shmcam-Placeholder"], "offline")
        self.assertEqual(self.jpeg_size(ph), (320, 240))

        self.start_capture(name, "--size", "320x240")
        back = time.monotonic()

        def live(r):
            with r.lock:
                return [f for f in r.frames if f.arrival > back and
                        "x-shmcam-placeholder" not in f.headers]
        wait_until(lambda: all(live(r) for r in readers), 5,
                   "live frames for every client")
        late = max(live(r)[0].arrival - back for r in readers)
        # Within a second (stretched only under a slow wrapper: valgrind).
        self.assertLess(late, 1.0 * SLOW, "live again after %.2f s" % late)
        for r in readers:
            r.wait_frames(r.count() + 10)
            self.assertFalse(r.closed)
            self.assertIsNone(r.error)
        gen2 = live(readers[1])[-1].headers["x-shmcam-generation"]
        self.assertNotEqual(gen1, gen2)
        st = get_json(srv.port)
        self.assertEqual(st["cameras"][0]["ring"]["generation"], gen2)
        self.assertEqual(st["cameras"][0]["attaches"], 2)
        self.assertEqual(st["cameras"][0]["link_losses"], 1)
        self.assertEqual(len(st["cameras"][0]["clients"]), 10)

    def test_junk_and_foreign_rings_are_refused(self):
        name = self.new_name()
        path = self.ctl_path(name)
        junk_fd = os.memfd_create("junk")
        os.write(junk_fd, os.urandom(1 << 16))
        os.ftruncate(junk_fd, 1 << 20)
        efd = os.eventfd(0)
        self.addCleanup(os.close, junk_fd)
        self.addCleanup(os.close, efd)
        fake = FakeCapture(path, [
            b"\x00" * 7,                             # nonsense
            struct.pack("<IHHII", CTL_MAGIC, 4, CTL_ABI, 24, 0) + b"\0" * 8,
            (welcome(), [efd, junk_fd]),             # foreign shm object
            (welcome(), [efd]),                      # too few fds
            None,                                    # silence
        ])
        fake.start()
        srv = self.start_server(name)
        r = MjpegReader(srv.port, keep=0)
        r.start()
        self.addCleanup(r.stop)
        srv.wait_log(r"invalid message from capture")
        srv.wait_log(r"unexpected viewers message from capture")
        srv.wait_log(r"ring from capture refused: ")
        srv.wait_log(r"capture did not answer the hello", timeout=15)
        fake.stop()
        self.assertEqual(fake.hellos, 5)
        # Meanwhile the client had the placeholder, and the server lives.
        r.wait_frames(2)
        self.assertEqual(r.frames[-1].headers.get("x-shmcam-placeholder"),
                         "offline")
        self.start_capture(name, "--size", "320x240")
        self.wait_attached(srv)
        wait_until(lambda: "x-shmcam-placeholder" not in
                   r.frames[-1].headers, 5, "live frames")
        self.assertFalse(r.closed)
