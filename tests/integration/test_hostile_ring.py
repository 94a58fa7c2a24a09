"""A hostile process with write access to the ring scribbles random bytes
over its header and slots while two servers stream from it.  The servers
and the capture must survive, every frame the clients receive must pass
the servers' validation (well-formed part, SOI ... EOI), and once the
scribbling stops everyone recovers: live frames that decode."""

import mmap
import os
import random
import struct
import time

from shmcam import MjpegReader, ShmcamTestCase, figure, wait_until

SCRIBBLE_SECONDS = 3


class HostileRingTest(ShmcamTestCase):

    def test_scribbler_on_the_ring(self):
        name = self.new_name()
        cap = self.start_capture(name, "--size", "320x240", "--fps", "30")
        servers = [self.start_server(name), self.start_server(name)]
        readers = []
        for srv in servers:
            self.wait_attached(srv)
            r = MjpegReader(srv.port, keep=None)
            r.start()
            self.addCleanup(r.stop)
            readers.append(r)
        for r in readers:
            r.wait_frames(10)

        fd = os.open("/dev/shm/shmcam-" + name, os.O_RDWR)
        size = os.fstat(fd).st_size
        ring = mmap.mmap(fd, size)
        os.close(fd)
        rnd = random.Random(1234)
        header, slots, slot_size = struct.unpack_from("<III", ring, 12)

        def scribble(seconds, lo):
            deadline = time.monotonic() + seconds
            writes = 0
            while time.monotonic() < deadline:
                r = rnd.random()
                if r < 0.5:
                    # a slot's metadata: sequence, lengths, counters
                    at = header + rnd.randrange(slots) * slot_size + \
                        rnd.randrange(64 - 8)
                elif lo < header and r < 0.75:
                    # the header itself: a uniform pick over a mapping of
                    # megabytes would hit its first 72 bytes (identity,
                    # newest sequence) about once in 1.5 s, or not at all
                    at = rnd.randrange(lo, header - 8)
                else:
                    at = rnd.randrange(lo, size - 8)
                n = rnd.choice((1, 4, 8))
                ring[at:at + n] = rnd.randbytes(n)
                writes += 1
                if writes % 100 == 0:
                    time.sleep(0.001)   # let the others run on 2 cores
            return writes

        # Phase 1: slots only.  Corrupt frames are rejected one by one
        # while the servers stay attached and keep streaming.
        counts = [r.count() for r in readers]
        writes = scribble(SCRIBBLE_SECONDS, header)
        for r, n in zip(readers, counts):
            self.assertGreater(r.count(), n + 10, "stream stalled")
        for srv in servers:
            self.assertRegex(srv.log(), r"frame rejected")
            self.assertNotIn("ring replaced", srv.log())

        # Phase 2: the header too.  Servers detach, are refused while the
        # identity is broken, and come back after the capture repairs it.
        writes += scribble(SCRIBBLE_SECONDS / 2, 0)
        ring.close()
        stopped = time.time()

        self.assertTrue(cap.alive(), "capture died")
        for srv in servers:
            self.assertTrue(srv.alive(), "server died:\n" + srv.log())
        cap.wait_log(r"ring header was changed by another process",
                     what="the capture to repair its header")

        # Recovery: live frames from after the scribbling, that decode.
        for r in readers:
            wait_until(lambda r=r: r.frames and r.frames[-1].timestamp and
                       r.frames[-1].timestamp > stopped + 0.2 and
                       "x-shmcam-placeholder" not in r.frames[-1].headers,
                       15, "live frames after the scribbling stopped")
            n = r.count()
            r.wait_frames(n + 10)
            self.assertIsNone(r.error)
            self.assertFalse(r.closed)
        for r in readers:
            with r.lock:
                frames = list(r.frames)
            for f in frames:
                self.assertEqual(f.data[:2], b"\xff\xd8")
                self.assertEqual(f.data[-2:], b"\xff\xd9")
            self.assertEqual(self.jpeg_size(frames[-1].data), (320, 240))
        figure("hostile ring: %d random writes over %.1f s; the two servers' "
               "clients got %s frames, every one SOI..EOI, none broken; "
               "live again after the capture repaired its header",
               writes, SCRIBBLE_SECONDS * 1.5,
               " and ".join(str(r.count()) for r in readers))
