"""A hostile process with write access to the ring scribbles random bytes
over its header and slots while two servers stream from it.  The servers
and the capture must survive, every frame the clients receive must pass
the servers' validation (well-formed part, SOI ... EOI), and once the
scribbling stops everyone recovers: live frames that decode.

The ring is sealed (common/ring.h): the only writable mapping is the
capture's own, so the scribbler writes through that, with the ptrace
rights over the capture that /proc/PID/mem needs (the test started it).
That is the one writer left besides the capture: a process that could do
as much to the capture itself."""

import os
import random
import re
import struct
import time

from shmcam import MjpegReader, ShmcamTestCase, figure, wait_until

SCRIBBLE_SECONDS = 3


class CaptureMemory:
    """The capture's read-write mapping of its ring, through
    /proc/PID/mem: ring[a:b] reads, ring[a:b] = data writes."""

    def __init__(self, pid, name):
        with open("/proc/%d/maps" % pid) as f:
            for line in f:
                if (re.search(r"memfd:shmcam-%s( \(deleted\))?$"
                              % re.escape(name), line.rstrip()) and
                        line.split()[1] == "rw-s"):
                    lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                    break
            else:
                raise AssertionError("the capture's ring mapping not found")
        self.base, self.size = lo, hi - lo
        self.mem = open("/proc/%d/mem" % pid, "r+b", buffering=0)

    def __getitem__(self, s):
        self.mem.seek(self.base + s.start)
        return self.mem.read(s.stop - s.start)

    def __setitem__(self, s, data):
        self.mem.seek(self.base + s.start)
        self.mem.write(data)

    def close(self):
        self.mem.close()


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

        ring = CaptureMemory(cap.pid, name)
        rnd = random.Random(1234)
        header, slots, slot_size = struct.unpack_from("<III", ring[12:24])
        size = header + slots * slot_size   # the mapping is page-rounded

        def scribble(seconds, lo):
            deadline = time.monotonic() + seconds
            writes = 0
            while time.monotonic() < deadline:
                x = rnd.random()
                if x < 0.5:
                    # a slot's metadata: sequence, lengths, counters
                    at = header + rnd.randrange(slots) * slot_size + \
                        rnd.randrange(64 - 8)
                elif x < 0.6 and lo == 0:
                    # the header's identity and publication words
                    at = rnd.randrange(0, 128 - 8)
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
