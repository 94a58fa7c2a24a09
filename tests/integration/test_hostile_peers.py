"""Faults from peers: junk on the control socket, a thousand connections
that never read, and a server frozen with SIGSTOP.  The capture keeps
publishing and the real servers' clients never notice.

What shows it, whatever the machine's load: the capture never pauses for
as long as something holding it up would make it (seconds; a loaded
machine makes it a few frame intervals, so 1 s is the bound), and the
other clients get most of the frames it publishes (by the ring's sequence
numbers; a client held up would get none)."""

import os
import resource
import signal
import socket
import time

from shmcam import (MjpegReader, PublishMeter, ShmcamTestCase, figure,
                    http_get, observe, sequence_share, wait_until)

FPS = 30


class HostilePeersTest(ShmcamTestCase):

    def test_junk_and_idle_control_peers(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 2048:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE,
                            (soft, hard))
        name = self.new_name()
        cap = self.start_capture(name, "--size", "320x240", "--fps", str(FPS))
        srv = self.start_server(name)
        self.wait_attached(srv)
        r = MjpegReader(srv.port, "/stream?extra_headers=1", keep=0)
        r.start()
        self.addCleanup(r.stop)
        r.wait_frames(10)
        # Attached before the flood, so that it is not one of the peers
        # the capture sheds.
        meter = PublishMeter(self.ctl_path(name))
        meter.start()

        attack_began = time.monotonic()
        socks = []
        for i in range(1000):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                s.connect(self.ctl_path(name))
            except OSError:
                s.close()       # backlog full: the capture is shedding us
                continue
            if i % 10 == 0:
                try:
                    s.send(os.urandom(1 + i % 200))   # junk
                except OSError:
                    pass
            socks.append(s)
        # The attack happened: the connections were made (a blocking
        # AF_UNIX connect waits for the capture to accept), and the
        # capture read junk and refused it.
        self.assertGreaterEqual(len(socks), 900)
        cap.wait_log(r"control peer pid \d+: .*, closing",
                     what="junk to be refused")
        # Hold the connections open, never reading, for a couple of seconds
        # while measuring the capture and the real server.
        observe(max(0.0, 2.5 - (time.monotonic() - attack_began)))
        meter.stop()
        share = sequence_share(r, attack_began + 0.5)
        for s in socks:
            s.close()

        figure("junk peers: %d control connections held open (every "
               "tenth sent junk) for %.1f s: capture %.1f fps (source %d), "
               "longest pause %.0f ms; the real server's client got %.0f %% "
               "of the frames", len(socks), meter.elapsed,
               meter.published / meter.elapsed, FPS,
               meter.longest_pause * 1000, share * 100)
        self.assertLess(meter.longest_pause, 1.0,
                        "the capture paused under the attack")
        self.assertGreater(share, 0.5, "the real server's client fell "
                           "behind")
        self.assertTrue(cap.alive())
        self.assertTrue(srv.alive())
        # No lock-out: a new server attaches right after.
        srv2 = self.start_server(name)
        self.wait_attached(srv2)
        self.assertEqual(http_get(srv2.port, "/snapshot")[0], 200)

    def test_sigstopped_server_blocks_nobody(self):
        name = self.new_name()
        cap = self.start_capture(name, "--size", "320x240", "--fps", str(FPS))
        a = self.start_server(name)
        b = self.start_server(name)
        self.wait_attached(a)
        self.wait_attached(b)
        ra = MjpegReader(a.port, keep=1)
        rb = MjpegReader(b.port, "/stream?extra_headers=1", keep=0)
        for r in (ra, rb):
            r.start()
            self.addCleanup(r.stop)
        ra.wait_frames(10)
        rb.wait_frames(10)

        meter = PublishMeter(self.ctl_path(name))
        meter.start()
        a.kill(signal.SIGSTOP)
        stopped_at = time.monotonic()
        observe(10)
        meter.stop()
        share_b = sequence_share(rb, stopped_at + 0.5)
        a.kill(signal.SIGCONT)
        continued = time.time()

        figure("SIGSTOPped server, %.0f s: capture %.1f fps (source %d), "
               "longest pause %.0f ms; the other server's client got %.0f %% "
               "of the frames", meter.elapsed,
               meter.published / meter.elapsed, FPS,
               meter.longest_pause * 1000, share_b * 100)
        self.assertLess(meter.longest_pause, 1.0)
        self.assertGreater(share_b, 0.5)
        self.assertTrue(cap.alive())
        # The frozen server catches up to the newest frame, not the backlog.
        n = ra.count()
        ra.wait_frames(n + 5, timeout=10)
        wait_until(lambda: ra.frames[-1].timestamp > continued - 0.5, 10,
                   "server a to send current frames")
        self.assertIsNone(ra.error)
