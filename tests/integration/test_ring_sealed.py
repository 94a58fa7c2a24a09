"""Nobody but the capture can write, shrink or grow its ring.

Hostile processes get hold of the ring every way there is and try every
way of changing it (tests/tools/ringprobe: pwrite, fallocate, a writable
shared mapping, mprotect of a read-only one to writable, ftruncate to grow
and to shrink, and all of that again through a read-write reopen of
/proc/self/fd/N):

  - a process of the capture's user, with the capture's own descriptor
    (opened through /proc/PID/fd by root, which may) and by path;
  - a process of the servers' group, with a server's descriptor and by
    path;
  - the server's own descriptor, as the server's user (root in CI: the
    seals hold against root too).

Every attempt must fail, and capture and server keep streaming."""

import fcntl
import grp
import os
import re
import subprocess

from shmcam import (BUILD, IS_ROOT, MjpegReader, ShmcamTestCase,
                    ctl_attach, fds_linked_to, figure)

RINGPROBE = os.path.join(BUILD, "tests", "ringprobe")
# A uid in no passwd entry, for a process that is only in the servers'
# group.
STRANGER_UID = 65533


def ids(pid):
    """(uid, gid) of a running process."""
    with open("/proc/%d/status" % pid) as f:
        st = f.read()
    uid = int(re.search(r"^Uid:\s+(\d+)", st, re.M).group(1))
    gid = int(re.search(r"^Gid:\s+(\d+)", st, re.M).group(1))
    return uid, gid


def ring_mappings(pid, name):
    """The address ranges ("start-end") where process pid maps the ring
    of capture name."""
    out = []
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            if re.search(r"shmcam-%s( \(deleted\))?$" % re.escape(name),
                         line.rstrip()):
                out.append(line.split()[0])
    return out


class SealedRingTest(ShmcamTestCase):

    def probe(self, what, args, fds=(), uid=None, gid=None):
        """Runs ringprobe as uid/gid (when root) on args; fails the test
        if any change was allowed."""
        kw = {}
        if uid is not None and IS_ROOT:
            kw = {"user": uid, "group": gid, "extra_groups": [gid]}
        r = subprocess.run([RINGPROBE] + [str(a) for a in args],
                           pass_fds=fds, capture_output=True, text=True,
                           timeout=30, **kw)
        self.assertEqual(r.returncode, 0, "%s:\n%s%s"
                         % (what, r.stdout, r.stderr))
        self.assertEqual(r.stdout.count("== "), len(args), r.stdout)
        self.attempts += r.stdout.count(": denied")
        return r.stdout

    def test_nobody_else_can_change_the_ring(self):
        name = self.new_name()
        args = ["--size", "320x240", "--fps", "30"]
        if IS_ROOT:
            args += ["--user", "nobody", "--group", "nogroup",
                     "--server-group", "users"]
        cap = self.start_capture(name, *args)
        srv = self.start_server(name)
        self.wait_attached(srv)
        r = MjpegReader(srv.port, keep=2)
        r.start()
        self.addCleanup(r.stop)
        r.wait_frames(5)
        n0 = r.count()
        self.attempts = 0

        ring = r"shmcam-%s( \(deleted\))?$" % re.escape(name)
        cap_fds = fds_linked_to(cap.pid, ring)
        self.assertTrue(cap_fds, "the capture's ring descriptors")
        # What every server gets: the descriptor in the welcome.
        _, got, link = ctl_attach(self.ctl_path(name))
        self.addCleanup(link.close)
        for fd in got:
            self.addCleanup(os.close, fd)
        self.assertEqual(len(got), 2)
        own = got[1]
        self.assertEqual(fcntl.fcntl(own, fcntl.F_GETFL) & os.O_ACCMODE,
                         os.O_RDONLY)
        # Paths a process might reach it by: the capture's descriptors
        # in /proc, the server's mapping (map_files, root only), a name
        # if there is one.
        paths = ["/proc/%d/fd/%d" % (cap.pid, fd) for fd in cap_fds]
        if IS_ROOT:
            paths += ["/proc/%d/map_files/%s" % (srv.pid, m)
                      for m in ring_mappings(srv.pid, name)]
        if os.path.exists("/dev/shm/shmcam-" + name):
            paths.append("/dev/shm/shmcam-" + name)

        # The capture's user, with each of the capture's own descriptors
        # (root may open them read-write through /proc; a process of the
        # user that could would have them just so).
        cap_uid, cap_gid = ids(cap.pid)
        held = []
        for fd in cap_fds:
            p = "/proc/%d/fd/%d" % (cap.pid, fd)
            try:
                held.append(os.open(p, os.O_RDWR))
            except OSError:
                held.append(os.open(p, os.O_RDONLY))
        for fd in held:
            self.addCleanup(os.close, fd)
        self.probe("the capture's user", held + paths, fds=held,
                   uid=cap_uid, gid=cap_gid)

        # A server's own descriptor, as the server's user (root in CI).
        srv_uid, srv_gid = ids(srv.pid)
        self.probe("a server's descriptor", [own], fds=[own],
                   uid=srv_uid, gid=srv_gid)

        if IS_ROOT:
            # Another user in the servers' group, with a server's
            # descriptor and by path.
            self.probe("the servers' group", [own] + paths, fds=[own],
                       uid=STRANGER_UID, gid=grp.getgrnam("users").gr_gid)

        # Nothing changed for anyone: the capture is alive and publishing,
        # the client gets live frames.
        n = r.count()
        r.wait_frames(n + 15)
        self.assertTrue(cap.alive(), cap.log())
        self.assertTrue(srv.alive(), srv.log())
        self.assertNotIn("x-shmcam-placeholder", r.frames[-1].headers)
        self.assertNotIn("frame rejected", srv.log())
        self.assertNotIn("ring header was changed", cap.log())
        figure("sealed ring: %d attempts to write, resize or map it "
               "writable (as the capture's user, a server's user with its "
               "descriptor%s), all refused; the client got %d frames "
               "meanwhile", self.attempts, ", another user of the servers' "
               "group" if IS_ROOT else "", r.count() - n0)
