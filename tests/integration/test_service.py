"""The real programs talking to a service manager (sd_notify(3)): a
notification socket of the test's own stands in for systemd, as
NOTIFY_SOCKET and WATCHDOG_USEC do under a Type=notify unit.

Under a real systemd the same is checked by make check-systemd
(tests/systemd/check_systemd.py).
"""

import os
import signal
import socket
import struct
import time
import unittest

from shmcam import RingWatch, ShmcamTestCase, http_get, observe, wait_until

WATCHDOG_USEC = 400000      # pings every 200 ms


def proc_state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


class Notifications:
    """A datagram socket that collects what the process under test says."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        # Like systemd's /run/systemd/notify: a capture started as root
        # has dropped to an unprivileged user before it is ready.
        os.chmod(path, 0o777)
        self.sock.setblocking(False)
        self.msgs = []          # (time.monotonic(), {field: value})

    def drain(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return
            fields = dict(line.split("=", 1) for line in
                          data.decode().split("\n") if "=" in line)
            self.msgs.append((time.monotonic(), fields))

    def wait(self, key, value=None, timeout=10, after=0.0):
        """The first message after `after` with key (= value); fails after
        timeout."""
        def find():
            self.drain()
            for t, m in self.msgs:
                if t > after and key in m and (value is None or
                                               value in m[key]):
                    return t, m
            return None
        return wait_until(find, timeout, "%s=%s" % (key, value or "*"))

    def status(self):
        """The last STATUS= so far (it is sent only when it changes)."""
        self.drain()
        return ([m["STATUS"] for _, m in self.msgs if "STATUS" in m]
                or [""])[-1]

    def count(self, key):
        self.drain()
        return sum(1 for _, m in self.msgs if key in m)

    def close(self):
        self.sock.close()


class ServiceNotifyTest(ShmcamTestCase):
    def setUp(self):
        super().setUp()
        self.notify = Notifications(os.path.join(self.tmp, "notify"))
        self.addCleanup(self.notify.close)
        saved = {k: os.environ.get(k) for k in ("NOTIFY_SOCKET",
                                                 "WATCHDOG_USEC",
                                                 "WATCHDOG_PID")}

        def restore():
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.addCleanup(restore)
        # Inherited by the programs started next.  No WATCHDOG_PID: then
        # sd_watchdog_enabled() accepts any process.
        os.environ["NOTIFY_SOCKET"] = os.path.join(self.tmp, "notify")
        os.environ["WATCHDOG_USEC"] = str(WATCHDOG_USEC)
        os.environ.pop("WATCHDOG_PID", None)

    def quiet_from_now_on(self):
        """Programs started from now on report to no one."""
        os.environ.pop("NOTIFY_SOCKET", None)

    def ring_latest(self, name):
        watch = RingWatch(self.ctl_path(name))
        try:
            return watch.latest()
        finally:
            watch.close()

    def test_capture_ready_after_first_frame(self):
        name = self.new_name()
        # One frame every 2 s, the first one 2 s after the start: READY=1
        # sent at setup would find the ring still empty.
        cap = self.start_capture(name, "--fps", "0.5", "--size", "160x120")
        self.notify.wait("READY", "1", timeout=10)
        self.assertGreaterEqual(self.ring_latest(name), 1,
                                "READY=1 before the first frame")
        self.assertIn("0 servers, 0 viewers", self.notify.status())
        self.assertIn("fps, online", self.notify.status())
        self.assertEqual(self.notify.count("READY"), 1)

        # A server attaching shows in the status at the next tick.
        self.quiet_from_now_on()
        srv = self.start_server(name)
        self.wait_attached(srv)
        self.notify.wait("STATUS", "1 servers", timeout=10)

        # Pings keep coming, from the loop, at half WATCHDOG_USEC.
        n = self.notify.count("WATCHDOG")
        self.notify.wait("WATCHDOG", "1", after=time.monotonic())
        self.assertGreater(self.notify.count("WATCHDOG"), n)

        # A stopped loop pings no more.  Once the process is stopped,
        # whatever it sent is already queued (datagrams are delivered by
        # the send itself).
        cap.kill(signal.SIGSTOP)
        wait_until(lambda: proc_state(cap.pid) == "T", 5, "capture stopped")
        n = self.notify.count("WATCHDOG")
        try:
            # An observation window for something that must not happen.
            observe(3 * WATCHDOG_USEC / 1e6)
            self.assertEqual(self.notify.count("WATCHDOG"), n,
                             "pinged while stopped")
        finally:
            cap.kill(signal.SIGCONT)
        self.notify.wait("WATCHDOG", "1", after=time.monotonic())

        cap.stop()
        self.notify.wait("STOPPING", "1", timeout=5)

    def test_server_ready_when_listening(self):
        name = self.new_name()
        srv = self.start_server(name)
        self.notify.wait("READY", "1", timeout=10)
        # READY=1 means it accepts connections.
        self.assertEqual(http_get(srv.port, "/")[0], 200)
        self.assertIn("waiting for its capture", self.notify.status())
        self.quiet_from_now_on()
        self.start_capture(name, "--fps", "10", "--size", "160x120")
        self.wait_attached(srv)
        self.notify.wait("STATUS", "attached to capture", timeout=10)
        self.assertEqual(self.notify.count("READY"), 1)
        self.notify.wait("WATCHDOG", "1", after=time.monotonic())
        srv.stop()
        self.notify.wait("STOPPING", "1", timeout=5)


if __name__ == "__main__":
    unittest.main()
