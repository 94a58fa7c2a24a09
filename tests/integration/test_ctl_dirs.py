"""Control sockets where other local users can reach first.

Without /run/shmcam or $XDG_RUNTIME_DIR, a capture and its servers meet
in /tmp/shmcam-UID, in a directory anyone can create in.  Another local
user who plants that directory, a symbolic link in its place, or a socket
where the capture's will be, is refused with a message that says why,
nothing of anyone's is chmod-ed or chown-ed, and a server never talks to
a capture that is not the one it expects (SO_PEERCRED against the
socket's owner, or --capture-user).

Needs root: the victim and the attacker are two users made up for the
test (uids in no passwd entry, run with setpriv)."""

import os
import pwd
import shutil
import stat
import subprocess
import sys
import unittest

from rtsptools import start_rtsp
from shmcam import CAPTURE, IS_ROOT, MjpegReader, Proc, ShmcamTestCase, figure


def free_uid(start):
    """A uid with no passwd entry and no /tmp/shmcam-UID, from start."""
    u = start
    while True:
        try:
            pwd.getpwuid(u)
        except KeyError:
            if not os.path.lexists("/tmp/shmcam-%d" % u):
                return u
        u += 1


def as_user(uid):
    return ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid,
            "--clear-groups"]


@unittest.skipUnless(IS_ROOT, "needs root to be two other users")
class CtlDirTest(ShmcamTestCase):

    def setUp(self):
        super().setUp()
        self.victim = free_uid(62000 + os.getpid() % 1000 * 2)
        self.attacker = free_uid(self.victim + 1)
        self.vdir = "/tmp/shmcam-%d" % self.victim
        self.adir = "/tmp/shmcam-%d" % self.attacker
        for d in (self.vdir, self.adir):
            self.addCleanup(remove, d)
        self.env = {k: v for k, v in os.environ.items()
                    if k != "XDG_RUNTIME_DIR"}

    def capture_as(self, uid, name, *args):
        argv = as_user(uid) + [CAPTURE, "--name", name, "--size", "320x240"]
        p = Proc(argv + list(args), os.path.join(
            self.tmp, "capture-%s-%d.log" % (name, uid)), env=self.env)
        self.procs.append(p)
        return p

    def server_as(self, uid, name, *args):
        return self.start_server(name, *args, args_replace_name=True,
                                 wrapper=as_user(uid) + ["env", "-u",
                                                         "XDG_RUNTIME_DIR"])

    def plant_dir(self, path, uid, mode=0o777):
        os.mkdir(path)
        os.chown(path, uid, uid)
        os.chmod(path, mode)

    def test_planted_directory(self):
        self.plant_dir(self.vdir, self.attacker)
        name = self.new_name()
        cap = self.capture_as(self.victim, name)
        self.assertNotEqual(cap.wait_exit(10), 0)
        self.assertRegex(cap.log(), r"%s: belongs to uid %d" % (
            self.vdir, self.attacker))
        st = os.lstat(self.vdir)
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)),
                         (self.attacker, 0o777))
        self.assertEqual(os.listdir(self.vdir), [])
        figure("planted directory: refused (%s)", refusal(cap.log()))

    def test_planted_symlink(self):
        target = os.path.join(self.tmp, "attacker")
        self.plant_dir(target, self.attacker)
        os.symlink(target, self.vdir)
        os.lchown(self.vdir, self.attacker, self.attacker)
        name = self.new_name()
        cap = self.capture_as(self.victim, name)
        self.assertNotEqual(cap.wait_exit(10), 0)
        self.assertRegex(cap.log(), r"%s: a symbolic link" % self.vdir)
        st = os.stat(target)
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)),
                         (self.attacker, 0o777))
        self.assertEqual(os.listdir(target), [])
        figure("planted symbolic link: refused (%s)", refusal(cap.log()))

    def test_planted_socket_in_a_shared_directory(self):
        shared = os.path.join(self.tmp, "shared")
        self.plant_dir(shared, 0)       # root's, but anyone may write
        name = self.new_name()
        sock = os.path.join(shared, name + ".sock")
        # The attacker's socket, left behind (nobody listens on it).
        subprocess.run(as_user(self.attacker) + [
            sys.executable, "-c", "import socket; socket.socket("
            "socket.AF_UNIX, socket.SOCK_SEQPACKET).bind(%r)" % sock],
            check=True, timeout=30)
        before = os.lstat(sock)
        self.assertEqual(before.st_uid, self.attacker)
        cap = self.capture_as(self.victim, name, "--ctl", sock)
        self.assertNotEqual(cap.wait_exit(10), 0)
        self.assertRegex(cap.log(), r"%s: writable by others" % shared)
        after = os.lstat(sock)
        self.assertEqual((after.st_ino, after.st_uid, after.st_mode),
                         (before.st_ino, before.st_uid, before.st_mode))
        figure("planted socket in a shared directory: refused (%s)",
               refusal(cap.log()))

    def test_server_refuses_a_planted_capture(self):
        # The attacker's capture, listening where the victim's server
        # will look for its capture.
        self.plant_dir(self.vdir, self.attacker, 0o755)
        name = self.new_name()
        fake = self.capture_as(self.attacker, name, "--ctl",
                               os.path.join(self.vdir, name + ".sock"))
        fake.wait_log(r"capturing")
        srv = self.server_as(self.victim, name, "--name", name)
        srv.wait_log(r"%s: belongs to uid %d" % (self.vdir, self.attacker))
        r = MjpegReader(srv.port, keep=1)
        r.start()
        self.addCleanup(r.stop)
        r.wait_frames(1)
        self.assertEqual(r.frames[-1].headers.get("x-shmcam-placeholder"),
                         "offline")
        self.assertNotIn("attached to capture", srv.log())
        self.assertNotIn("attached", fake.log())
        figure("planted capture: the server refused it (%s); its client "
               "kept the offline picture", refusal(srv.log()))

    def test_own_directory_and_capture_user(self):
        name = self.new_name()
        cap = self.capture_as(self.victim, name)
        cap.wait_log(r"capturing")
        st = os.lstat(self.vdir)
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)),
                         (self.victim, 0o700))
        sock = os.path.join(self.vdir, name + ".sock")
        self.assertEqual(stat.S_IMODE(os.lstat(sock).st_mode), 0o660)
        # The victim's own server finds it and attaches.
        srv = self.server_as(self.victim, name, "--name", name)
        self.wait_attached(srv)
        # Root's server, told to expect another user, refuses it.
        other = self.start_server(name, "--camera", "%s:%s" % (name, sock),
                                  "--capture-user", str(self.attacker),
                                  args_replace_name=True)
        other.wait_log(r"belongs to uid %d.*: refusing it" % self.victim)
        self.assertNotIn("attached to capture", other.log())
        # Told to expect the victim, it attaches.
        ok = self.start_server(name, "--camera", "%s:%s" % (name, sock),
                               "--capture-user", str(self.victim),
                               args_replace_name=True)
        self.wait_attached(ok)
        self.assertTrue(cap.alive())

    def test_rtsp_checks_who_listens(self):
        # The victim's capture, its socket and directory then given to
        # root, whose socket any reader takes: only who listens on it
        # (SO_PEERCRED) tells it is not root's capture.
        name = self.new_name()
        d = os.path.join(self.tmp, "ctl")
        self.plant_dir(d, self.victim, 0o755)
        sock = os.path.join(d, name + ".sock")
        cap = self.capture_as(self.victim, name, "--ctl", sock)
        cap.wait_log(r"capturing")
        os.chown(d, 0, 0)
        os.lchown(sock, 0, 0)
        cams = ["--name", name, "--ctl", sock]
        wrong = start_rtsp(self, name, "--capture-user", str(self.attacker),
                           camera_args=cams)
        wrong.wait_log(r"capture runs as uid %d, not %d \(--capture-user\)"
                       r": refusing it" % (self.victim, self.attacker))
        unsaid = start_rtsp(self, name, camera_args=cams)
        unsaid.wait_log(r"capture runs as uid %d, but %s belongs to uid 0: "
                        r"refusing it" % (self.victim, sock))
        right = start_rtsp(self, name, "--capture-user", str(self.victim),
                           camera_args=cams)
        right.wait_log(r"attached to capture")
        for p in (wrong, unsaid):
            self.assertNotIn("attached to capture", p.log())


def refusal(log):
    """The refusal's reason, for the figure."""
    lines = [line for line in log.splitlines() if "refusing it" in line]
    return lines[0].split(": ", 1)[1] if lines else "?"


def remove(path):
    if os.path.islink(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
