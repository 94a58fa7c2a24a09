"""A minimal Debian 12 booted with systemd-nspawn, for the checks that
need a real systemd: make check-systemd (check_systemd.py) and make
check-deb (check_deb.py).  Not a test itself.

Roots: debootstrap --variant=minbase with systemd and dbus, cached in the
work directory and keyed by suite, mirror and package list
(root-base-KEY).  A root with more packages (root-KIND-KEY) is a copy of
that base with them installed by apt, so the one debootstrap serves
every check.

Isolation: a run moves into private mount and network namespaces
(unshare(2)).  Every mount it makes (a tmpfs on /run, which nspawn needs
for /run/systemd/nspawn where /run is not a tmpfs; the overlay root over
the cached one) exists only there and goes with it, and nothing is
created on the host outside the work directory.  The container shares
that network namespace, so its ports collide with nothing on the host or
in another run, and the driver reaches them directly.  The container is
shut down on every exit path, and killed if it does not stop in time.
Runs as root; stdlib only.
"""

import argparse
import ctypes
import fcntl
import hashlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from shmcam import MjpegReader, wait_until  # noqa: E402

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus")

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
libc = ctypes.CDLL(None, use_errno=True)
T0 = time.monotonic()


def say(msg):
    print("[%6.1f s] %s" % (time.monotonic() - T0, msg), flush=True)


class Deadline(Exception):
    pass


# What a run catches to report a failure rather than a traceback.
FAILURES = (Deadline, AssertionError, OSError, subprocess.SubprocessError)


def run(argv, timeout=60, check=True, **kw):
    """Runs argv, returns the CompletedProcess (text output captured)."""
    r = subprocess.run(argv, capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (
            " ".join(argv), r.returncode, (r.stderr or r.stdout).strip()))
    return r


def mount(*args):
    run(["mount"] + list(args))


# ------------------------------------------------------------ roots

def chroot_apt(root, *args, timeout=300):
    """apt-get in a root, as root, with the host's network: at the root's
    creation, or in a run before it enters its network namespace."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive",
               PATH="/usr/sbin:/usr/bin:/sbin:/bin")
    return run(["chroot", root, "apt-get", "-q", "-y",
                "-o", "APT::Install-Recommends=false"] + list(args),
               timeout=timeout, env=env)


def _root_key(kind, packages):
    return hashlib.sha256(("%s %s minbase %s %s" % (
        SUITE, MIRROR, kind, " ".join(packages))).encode()).hexdigest()[:12]


def _remove_stale_roots(work, kind, name):
    for old in os.listdir(work):
        stale = (old.startswith("root-%s-" % kind) and old != name or
                 re.fullmatch(r"root-[0-9a-f]{12}(\.tmp)?", old))
        if stale:
            say("removing stale root %s" % old)
            shutil.rmtree(os.path.join(work, old), ignore_errors=True)


def _cached(work, kind, packages, make, deadline_s):
    name = "root-%s-%s" % (kind, _root_key(kind, packages))
    root = os.path.join(work, name)
    _remove_stale_roots(work, kind, name)
    if os.path.exists(os.path.join(root, ".shmcam-root-complete")):
        say("Debian root %s: cached %s" % (kind, root))
        return root
    tmp = root + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    t = time.monotonic()
    make(tmp, deadline_s)
    open(os.path.join(tmp, ".shmcam-root-complete"), "w").close()
    os.rename(tmp, root)
    say("Debian root %s: built in %.0f s" % (kind, time.monotonic() - t))
    return root


def base_root(work, deadline_s):
    """The cached minimal Debian with systemd, built if missing."""
    pkgs = sorted(BASE_PACKAGES)

    def make(tmp, deadline_s):
        say("Debian root base: debootstrap %s with %s (cold cache)"
            % (SUITE, ", ".join(pkgs)))
        r = subprocess.run(["debootstrap", "--variant=minbase",
                            "--include=" + ",".join(pkgs), SUITE, tmp,
                            MIRROR],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True,
                           timeout=deadline_s)
        if r.returncode != 0:
            raise AssertionError("debootstrap failed:\n" + r.stdout[-3000:])
        # Its packages are installed; the archives are of no more use.
        shutil.rmtree(os.path.join(tmp, "var/cache/apt/archives"),
                      ignore_errors=True)
    return _cached(work, "base", pkgs, make, deadline_s)


def root_with(work, kind, packages, deadline_s):
    """The cached base root with packages installed as well (from the
    archive, by apt), built if missing."""
    base = base_root(work, deadline_s)
    pkgs = sorted(set(packages) - set(BASE_PACKAGES))
    if not pkgs:
        return base

    def make(tmp, deadline_s):
        say("Debian root %s: the base with %s" % (kind, ", ".join(pkgs)))
        run(["cp", "-a", "--reflink=auto", base, tmp], timeout=120)
        os.unlink(os.path.join(tmp, ".shmcam-root-complete"))
        chroot_apt(tmp, "update", timeout=deadline_s)
        chroot_apt(tmp, "install", *pkgs, timeout=deadline_s)
        chroot_apt(tmp, "clean")
    return _cached(work, kind, pkgs, make, deadline_s)


# ------------------------------------------------------------ namespaces

def enter_mount_namespace():
    """Private mounts, and a tmpfs on /run in them (see the module's
    docstring): nothing is mounted on the host."""
    if libc.unshare(CLONE_NEWNS) != 0:
        raise AssertionError("unshare(CLONE_NEWNS): %s"
                             % os.strerror(ctypes.get_errno()))
    run(["mount", "--make-rprivate", "/"])
    mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run")
    os.makedirs("/run/systemd/nspawn")


def enter_network_namespace():
    """A network of our own with only a loopback: from here on nothing
    reaches beyond this run."""
    if libc.unshare(CLONE_NEWNET) != 0:
        raise AssertionError("unshare(CLONE_NEWNET): %s"
                             % os.strerror(ctypes.get_errno()))
    run(["ip", "link", "set", "lo", "up"])


def overlay(run_dir, lower):
    """A writable root over a cached one; the upper layer in run_dir."""
    upper, workd, merged = (os.path.join(run_dir, d)
                            for d in ("upper", "work", "merged"))
    for d in (upper, workd, merged):
        os.makedirs(d)
    mount("-t", "overlay", "overlay", "-o", "lowerdir=%s,upperdir=%s,"
          "workdir=%s" % (lower, upper, workd), merged)
    # Nothing to log in on, nothing to update: a faster, quieter boot.
    for unit in ("console-getty.service", "apt-daily.timer",
                 "apt-daily-upgrade.timer", "e2scrub_all.timer",
                 "dpkg-db-backup.timer", "systemd-tmpfiles-clean.timer"):
        link = os.path.join(merged, "etc/systemd/system", unit)
        if not os.path.lexists(link):
            os.symlink("/dev/null", link)
    return merged


def put(root, path, text):
    """Writes a file into a root."""
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)


# ------------------------------------------------------------ the container

def pdeathsig_term():
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class Container:
    def __init__(self, root, log_path, name):
        self.root = root
        self.log_path = log_path
        self.name = name
        self.nspawn = None
        self.init = None        # host pid of the container's PID 1
        self.pidns = None

    def boot(self):
        log = open(self.log_path, "wb")
        self.nspawn = subprocess.Popen(
            ["systemd-nspawn", "-D", self.root, "--boot",
             "--machine=%s-%d" % (self.name, os.getpid()),
             # No machined, no scope: systemd is not PID 1 out here.
             "--register=no", "--keep-unit",
             "--console=pipe", "--resolv-conf=off", "--timezone=off",
             "--link-journal=no"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=pdeathsig_term)
        log.close()
        self.init = wait_until(self._find_init, 30, "the container's init")
        self.pidns = os.readlink("/proc/%d/ns/pid" % self.init)
        # "offline" until the container's systemd has its private socket
        # (PID 1 may still be nspawn's own child, about to exec systemd).
        wait_until(lambda: self.sh("systemctl", "is-system-running",
                                   check=False).stdout.strip()
                   not in ("", "offline"), 60, "systemd in the container",
                   interval=0.2)
        r = self.sh("systemctl", "is-system-running", "--wait", timeout=120,
                    check=False)
        state = r.stdout.strip()
        if state not in ("running", "degraded"):
            raise AssertionError("container did not boot: %r" % state)
        if state == "degraded":
            say("container degraded: " + self.sh(
                "systemctl", "--failed", "--no-legend").stdout.strip())
        say("container booted (init: host pid %d)" % self.init)

    def _find_init(self):
        if self.nspawn.poll() is not None:
            raise AssertionError("systemd-nspawn exited with %d; see %s"
                                 % (self.nspawn.returncode, self.log_path))
        try:
            with open("/proc/%d/task/%d/children"
                      % (self.nspawn.pid, self.nspawn.pid)) as f:
                children = [int(p) for p in f.read().split()]
        except OSError:
            return None
        for pid in children:
            ns = self._nspid(pid)
            if ns and len(ns) > 1 and ns[-1] == 1:
                return pid
        return None

    @staticmethod
    def _nspid(pid):
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("NSpid:"):
                        return [int(x) for x in line.split()[1:]]
        except OSError:
            pass
        return None

    def sh(self, *argv, timeout=30, check=True, env=()):
        """Runs argv inside the container (all its namespaces)."""
        return run(["nsenter", "--target", str(self.init), "--all", "--",
                    "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                    "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"] + list(env) +
                   list(argv), timeout=timeout, check=check)

    def path(self, p):
        """A path of the container's file system, as the host sees it."""
        return "/proc/%d/root%s" % (self.init, p)

    def show(self, unit, *props):
        out = self.sh("systemctl", "show", unit,
                      "-p", ",".join(props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines()
                    if "=" in line)

    def main_pid(self, unit):
        return int(self.show(unit, "MainPID")["MainPID"])

    def wait_running(self, unit, not_pid=0, timeout=30):
        """Waits for unit to run a main process other than not_pid."""
        def up():
            p = self.show(unit, "ActiveState", "SubState", "MainPID")
            pid = int(p["MainPID"])
            return (p["ActiveState"] == "active" and
                    p["SubState"] == "running" and pid not in (0, not_pid)
                    and pid)
        return wait_until(up, timeout, "%s running (not pid %d)"
                          % (unit, not_pid), interval=0.05)

    def host_pid(self, cpid):
        """The host's pid of the container's process cpid."""
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            ns = self._nspid(int(d))
            if ns and ns[-1] == cpid and len(ns) > 1:
                try:
                    if os.readlink("/proc/%s/ns/pid" % d) == self.pidns:
                        return int(d)
                except OSError:
                    pass
        raise AssertionError("no host pid for container pid %d" % cpid)

    def processes(self, comm_prefix):
        """Host pids of the container's processes whose name starts so."""
        found = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                if os.readlink("/proc/%s/ns/pid" % d) != self.pidns:
                    continue
                with open("/proc/%s/comm" % d) as f:
                    if f.read().startswith(comm_prefix):
                        found.append(int(d))
            except OSError:
                pass
        return found

    def shutdown(self):
        """Stops the container: orderly, then by force."""
        if self.nspawn is None or self.nspawn.poll() is not None:
            return
        self.nspawn.send_signal(signal.SIGTERM)   # nspawn: halt the guest
        try:
            self.nspawn.wait(30)
            return
        except subprocess.TimeoutExpired:
            say("container did not halt in 30 s: killing it")
        if self.init:
            try:    # PID 1 of a pid namespace takes everything with it
                os.kill(self.init, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.nspawn.kill()
        self.nspawn.wait(30)


# ------------------------------------------------------------ a run

class Session:
    """One run of a check: its deadline (SIGALRM raises Deadline, as do
    SIGTERM and SIGINT), its directory work/run-PID, and on close the
    container's journal and console saved to work/, the container shut
    down and the run's directory removed, on every path."""

    def __init__(self, name, work, deadline_s):
        self.name = name
        self.work = work
        self.deadline_s = deadline_s
        self.run_dir = os.path.join(work, "run-%d" % os.getpid())
        self.ct = None
        self.merged = None

    def start(self):
        def on_signal(sig, frame):
            raise Deadline("signal %d" % sig)

        def on_alarm(sig, frame):
            raise Deadline("the whole run took over %d s" % self.deadline_s)
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(self.deadline_s)
        os.makedirs(self.work, exist_ok=True)
        self._remove_stale_runs()

    def root(self, kind, packages=()):
        """The cached root for kind, built under a lock (one debootstrap
        at a time); needs the host's network, so before
        enter_network_namespace()."""
        with open(os.path.join(self.work, "root.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return root_with(self.work, kind, packages,
                             self.deadline_s - 60)

    def overlay(self, lower):
        self.merged = overlay(self.run_dir, lower)
        return self.merged

    def boot(self):
        self.ct = Container(self.merged, os.path.join(self.run_dir,
                                                      "console.log"),
                            "shmcam-" + self.name)
        self.ct.boot()
        return self.ct

    def journal_tail(self, units="shmcam-*", lines=60):
        if self.ct and self.ct.init:
            r = self.ct.sh("journalctl", "--no-pager", "-n", str(lines),
                           "-u", units, check=False, timeout=20)
            print(r.stdout, flush=True)

    def close(self):
        signal.alarm(0)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self._save_logs()
        if self.ct:
            self.ct.shutdown()
        if self.merged:
            subprocess.run(["umount", "-l", self.merged],
                           stderr=subprocess.DEVNULL)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def _save_logs(self):
        """The container's journal and console, for the next reader."""
        ct = self.ct
        try:
            if ct and ct.init and ct.nspawn.poll() is None:
                with open(os.path.join(self.work, "journal.txt"), "w") as f:
                    f.write(ct.sh("journalctl", "--no-pager", "-o",
                                  "short-monotonic", timeout=60,
                                  check=False).stdout)
            console = os.path.join(self.run_dir, "console.log")
            if os.path.exists(console):
                shutil.copy(console, os.path.join(self.work, "console.log"))
        except (OSError, subprocess.SubprocessError) as e:
            say("logs not saved: %s" % e)

    def _remove_stale_runs(self):
        """Run directories of runs that died without cleaning up
        (SIGKILL): their mounts went with their namespace, the files
        stayed."""
        for d in os.listdir(self.work):
            m = re.fullmatch(r"run-(\d+)", d)
            if not m:
                continue
            try:
                os.kill(int(m.group(1)), 0)
                continue        # a run in progress
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
            shutil.rmtree(os.path.join(self.work, d), ignore_errors=True)


def arguments(doc):
    """The command line every check takes: the build and work
    directories; add to it, then parse_args()."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--work", default="build-nspawn")
    return ap


def session(what, name, work, deadline_s, tools):
    """A Session for the check `what`, or None, the reason printed, when
    it cannot run here (not root, a tool missing)."""
    why = None
    if os.geteuid() != 0:
        why = "needs root (debootstrap, mounts, systemd-nspawn)"
    for tool in ("debootstrap", "systemd-nspawn", "nsenter", "ip") + tools:
        if why is None and shutil.which(tool) is None:
            why = "%s is missing (sudo make deps)" % tool
    if why:
        print("%s: %s" % (what, why), file=sys.stderr)
        return None
    return Session(name, os.path.abspath(work), deadline_s)


def run_plan(results, plan, stop_on_failure=False):
    """Runs [(number, title, fn)] with point(); stops at the first
    failure if the checks depend on each other.  True if all passed."""
    for number, title, fn in plan:
        if not point(results, number, title, fn) and stop_on_failure:
            return False
    return all(ok for ok, _ in results)


def finish(what, s, failed):
    say("%s %s (logs: %s)" % (what, "FAILED" if failed else "passed",
                              s.work))
    return 1 if failed else 0


def point(results, number, title, fn):
    """Runs one numbered check, prints PASS or FAIL with its detail (what
    fn returns, or the exception) and its time, and records it; True if
    it passed.  A Deadline ends the whole run."""
    t = time.monotonic()
    try:
        detail = fn()
        ok = True
    except Deadline:
        raise
    except Exception as e:  # noqa: BLE001 - this is the report
        detail = "%s: %s" % (type(e).__name__, e)
        ok = False
    line = "%s %d. %s (%.1f s): %s" % ("PASS" if ok else "FAIL", number,
                                       title, time.monotonic() - t, detail)
    results.append((ok, line))
    print(line, flush=True)
    return ok


# ------------------------------------------------------------ streams

def reader(port):
    r = MjpegReader(port, keep=None)
    r.start()
    return r


def frames_after(reader, t):
    with reader.lock:
        return [f for f in reader.frames if f.arrival > t]


def live_run(frames):
    """Length of the newest run of live frames: each one different from the
    one before (the "camera offline" picture is one repeated JPEG) with a
    later capture time."""
    n = 1 if frames else 0
    for prev, cur in zip(reversed(frames[:-1]), reversed(frames)):
        if (cur.data == prev.data or cur.timestamp is None or
                prev.timestamp is None or cur.timestamp <= prev.timestamp):
            break
        n += 1
    return n


def wait_live(reader, n, after, timeout, what):
    """Waits for n consecutive live frames that arrived after `after`."""
    def ok():
        if reader.error:
            raise AssertionError("%s: stream failed: %r"
                                 % (what, reader.error))
        if reader.closed:
            raise AssertionError("%s: stream closed" % what)
        return live_run(frames_after(reader, after)) >= n
    wait_until(ok, timeout, "%d live frames on %s" % (n, what))


def max_gap(frames):
    return max((b.arrival - a.arrival for a, b in zip(frames, frames[1:])),
               default=0.0)


def jpeg_size(build, data):
    """(width, height) of a JPEG that decodes completely."""
    with tempfile.NamedTemporaryFile(suffix=".jpg") as f:
        f.write(data)
        f.flush()
        r = run([os.path.join(build, "tests", "jpeginfo"), f.name])
    return tuple(int(x) for x in r.stdout.split()[:2])


def http_unix_get(path, url):
    class UnixConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(10)
            self.sock.connect(path)
    c = UnixConnection("localhost", timeout=10)
    try:
        c.request("GET", url)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()
