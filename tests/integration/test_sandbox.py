"""The in-process sandbox (common/sandbox.h) in the real binaries.

Both programs run with PR_SET_NO_NEW_PRIVS and a seccomp filter once set
up (and the rest of the test suite runs that way too, so every feature is
exercised under it); --no-sandbox turns it off.  A forbidden call, made
by a test-only library preloaded into the real binary
(tests/sandbox/probe.c, on SIGUSR2), kills the process with SIGSYS after
a log line naming the call, and its effect never happens; the same call
with --no-sandbox succeeds.  Beneath a filter like the one systemd's
SystemCallFilter=@system-service puts on our units (made from
systemd-analyze's own lists), both programs still sandbox themselves and
stream."""

import os
import shutil
import signal
import subprocess
import unittest

from shmcam import (BUILD, CAPTURE, IS_ROOT, SANITIZED, SERVER, WRAPPER,
                    MjpegReader, Proc, Server, ShmcamTestCase, drop_args,
                    http_get, wait_until)

PROBE = os.path.join(BUILD, "tests", "libsandboxprobe.so")
SYSFILTER = os.path.join(BUILD, "tests", "sysfilter")
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def proc_status(pid):
    """The seccomp lines of /proc/PID/status as a dict of ints."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("NoNewPrivs", "Seccomp", "Seccomp_filters"):
                out[k] = int(v)
    return out


def systemd_group(group, seen=None):
    """The system call names in one of systemd's groups, nested groups
    expanded, as systemd-analyze lists them."""
    seen = seen if seen is not None else set()
    out = subprocess.run(["systemd-analyze", "syscall-filter", group],
                         capture_output=True, text=True, check=True).stdout
    names = set()
    for line in out.splitlines():
        word = line.strip()
        if not word or word.startswith("#") or word == group:
            continue
        if word.startswith("@"):
            if word not in seen:
                seen.add(word)
                names |= systemd_group(word, seen)
        else:
            names.add(word)
    return names


@unittest.skipIf(WRAPPER, "the programs run under a wrapper (valgrind) "
                 "without their sandbox")
class SandboxTest(ShmcamTestCase):

    expect_sandbox_kills = True

    def shared_dir(self):
        """A directory the capture may create its socket in as nobody."""
        d = os.path.join(self.tmp, "run")
        os.mkdir(d)
        os.chmod(d, 0o1777)
        return d

    def test_filter_on_and_off(self):
        name = self.new_name()
        cap = self.start_capture(name, "--size", "320x240")
        srv = self.start_server(name)
        self.wait_attached(srv)
        for p in (cap, srv):
            self.assertIn("sandbox: system call filter on", p.log())
            st = proc_status(p.pid)
            self.assertEqual(st["NoNewPrivs"], 1, p.argv[0])
            self.assertEqual(st["Seccomp"], 2, p.argv[0])    # filter mode
            self.assertGreaterEqual(st["Seccomp_filters"], 1, p.argv[0])
        r = MjpegReader(srv.port)
        r.start()
        self.addCleanup(r.stop)
        r.wait_frames(10)

        name2 = self.new_name()
        cap2 = self.start_capture(name2, "--size", "320x240", "--no-sandbox")
        srv2 = self.start_server(name2, "--no-sandbox")
        self.wait_attached(srv2)
        self.assertEqual(proc_status(srv2.pid)["Seccomp"], 0)
        self.assertEqual(proc_status(cap2.pid)["Seccomp"], 0)
        self.assertNotIn("sandbox:", srv2.log() + cap2.log())

    def probe(self, program, what, *args):
        """Starts program (with its capture, for the server) with the probe
        preloaded; returns the process to send SIGUSR2 to."""
        env = dict(os.environ, LD_PRELOAD=PROBE, SANDBOX_PROBE=what)
        name = self.new_name()
        ctl = os.path.join(self.shared, name + ".sock")
        if program == "server":
            self.capture = self.start_capture(name, "--size", "320x240")
            argv = [SERVER, "--listen", "127.0.0.1:0", "--name", name,
                    "--ctl", self.ctl_path(name)]
            if IS_ROOT:
                argv.append("--allow-root")
            p = Server(argv + list(args), os.path.join(
                self.tmp, "server-%s.log" % name), env=env, wrapper=WRAPPER)
        else:
            p = Proc([CAPTURE, "--name", name, "--ctl", ctl, "--size",
                      "320x240"] + drop_args(args) + list(args),
                     os.path.join(self.tmp, "capture-%s.log" % name),
                     env=env, wrapper=WRAPPER)
            p.wait_log(r"capturing")
        self.procs.append(p)
        if "--no-sandbox" not in args:
            p.wait_log(r"sandbox: system call filter on")
        return p

    def assert_killed(self, p, call):
        p.kill(signal.SIGUSR2)
        rc = p.wait_exit(10)
        self.assertEqual(rc, -signal.SIGSYS, p.log())
        self.assertRegex(p.log(), r"sandbox: forbidden system call %s "
                         r"\(\d+\), killed" % call)

    @unittest.skipUnless(os.path.exists("/bin/touch"), "needs /bin/touch")
    def test_forbidden_calls_kill_the_real_binaries(self):
        self.shared = self.shared_dir()
        marker = os.path.join(self.shared, "marker")
        cases = [("server", "exec:" + marker, "execve"),
                 ("server", "write:" + marker, "openat"),
                 ("server", "inet", "socket"),
                 ("capture", "exec:" + marker, "execve"),
                 ("capture", "inet", "socket")]
        for program, what, call in cases:
            with self.subTest(program=program, probe=what):
                p = self.probe(program, what)
                self.assert_killed(p, call)
                self.assertFalse(os.path.exists(marker))
        # The probe is real: unsandboxed, the same call succeeds (the
        # server becomes touch, which makes the file and exits 0).
        p = self.probe("server", "exec:" + marker, "--no-sandbox")
        p.kill(signal.SIGUSR2)
        self.assertEqual(p.wait_exit(10), 0, p.log())
        self.assertTrue(os.path.exists(marker))
        os.unlink(marker)
        # The capture may create files (a replacement ring, its device
        # reopened read-write): that call is allowed and it runs on.
        p = self.probe("capture", "write:" + marker)
        p.kill(signal.SIGUSR2)
        wait_until(lambda: os.path.exists(marker), 10, "the probe's file")
        self.assertTrue(p.alive())

    @unittest.skipUnless(shutil.which("systemd-analyze"),
                         "needs systemd-analyze for systemd's lists")
    @unittest.skipUnless(IS_ROOT, "runs the programs as nobody")
    @unittest.skipIf(SANITIZED, "LeakSanitizer needs ptrace at exit, "
                     "which systemd's @system-service does not allow")
    def test_beneath_systemds_filter(self):
        # What the units in systemd/ ask for:
        # SystemCallFilter=@system-service, then ~@privileged @resources,
        # the capture also @chown; SystemCallErrorNumber=EPERM.
        base = (systemd_group("@system-service") -
                systemd_group("@privileged") - systemd_group("@resources"))
        self.assertNotIn("seccomp", base)
        lists = {}
        for prog, names in (("server", base),
                            ("capture", base | systemd_group("@chown"))):
            lists[prog] = os.path.join(self.tmp, prog + ".calls")
            with open(lists[prog], "w") as f:
                f.write("\n".join(sorted(names)) + "\n")
        shared = self.shared_dir()
        name = self.new_name()
        ctl = os.path.join(shared, name + ".sock")
        cap = Proc(AS_NOBODY + [SYSFILTER, lists["capture"], CAPTURE,
                                "--name", name, "--ctl", ctl,
                                "--size", "320x240"],
                   os.path.join(self.tmp, "capture-%s.log" % name))
        self.procs.append(cap)
        cap.wait_log(r"capturing")
        srv = self.start_server(
            name, "--camera", "%s:%s" % (name, ctl), args_replace_name=True,
            wrapper=AS_NOBODY + [SYSFILTER, lists["server"]])
        self.wait_attached(srv)
        for p in (cap, srv):
            self.assertIn("sandbox: system call filter on", p.log())
            # systemd's (here: sysfilter's) and our own.
            self.assertEqual(proc_status(p.pid)["Seccomp_filters"], 2)
        r = MjpegReader(srv.port)
        r.start()
        self.addCleanup(r.stop)
        r.wait_frames(30)
        status, _, body = http_get(srv.port, "/snapshot")
        self.assertEqual(status, 200)
        self.assertEqual(self.jpeg_size(body), (320, 240))
