#!/usr/bin/env python3
"""make check-systemd: shmcam's units under a real systemd.

Boots a minimal Debian 12 (debootstrap --variant=minbase, cached in the
build tree, keyed by its package list) with systemd-nspawn, installs shmcam
into it with "make install DESTDIR=", and checks, printing PASS or FAIL for
each:

  1. a capture and two servers (a, b) start, reach READY, and serve /stream
     on their sockets (the servers are started first and wait for it);
  2. restarting server a keeps the capture's PID and its frame sequence,
     b's client sees no interruption, and a client that connects to a
     during the restart is served once a is back;
  3. restarting the capture keeps both servers' clients connected, and
     they resume live frames;
  4. kill -9 of a server: systemd restarts it, the capture is untouched;
  5. the server runs as a non-root user, cannot open /dev/video*, and maps
     the ring read-only;
  6. a capture stopped with SIGSTOP is restarted after WatchdogSec.

Isolation: the driver first moves into private mount and network
namespaces (unshare(2)).  Every mount it makes (a tmpfs on /run, which
nspawn needs for /run/systemd/nspawn where /run is not a tmpfs; the overlay
root) exists only there and goes with it, and nothing is created on the
host outside the work directory.  The container shares that network
namespace, so the servers' ports (127.0.0.1:8081 and 8082) collide with
nothing on the host or in another run, and the driver reaches them
directly.  The container is shut down on every exit path, and killed if it
does not stop in time.  Runs as root; stdlib only.
"""

import argparse
import ctypes
import fcntl
import hashlib
import http.client
import mmap
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from shmcam import MjpegReader, wait_until  # noqa: E402

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus")
CAMERA = "cam"
SIZE = (320, 240)
FPS = 15
PORTS = {"a": 8081, "b": 8082}
# The whole run, debootstrap included, must end well within 10 minutes.
DEADLINE_S = 540
# A client that takes no frame for this long has been interrupted: at
# FPS frames per second that is many frames, far beyond scheduling noise.
MAX_GAP_S = 1.0
# Server a starts 1 s late (ExecStartPre=), so that a client connecting
# "during the restart" certainly does (see check_restart_server).
START_DELAY_S = 1

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
libc = ctypes.CDLL(None, use_errno=True)
T0 = time.monotonic()


def say(msg):
    print("[%6.1f s] %s" % (time.monotonic() - T0, msg), flush=True)


class Deadline(Exception):
    pass


def run(argv, timeout=60, check=True, **kw):
    """Runs argv, returns the CompletedProcess (text output captured)."""
    r = subprocess.run(argv, capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (
            " ".join(argv), r.returncode, (r.stderr or r.stdout).strip()))
    return r


def parse_timespan(s):
    """Seconds in a systemd timespan as "systemctl show" prints it."""
    units = {"us": 1e-6, "ms": 1e-3, "s": 1, "min": 60, "h": 3600}
    total = 0.0
    for num, unit in re.findall(r"([\d.]+)\s*(us|ms|min|s|h)", s):
        total += float(num) * units[unit]
    return total


# ------------------------------------------------------------ the root

def runtime_packages(build):
    """Debian packages of the libraries the built programs link."""
    libs = set()
    for prog in ("shmcam-capture", "shmcam-server"):
        out = run(["ldd", os.path.join(build, prog)]).stdout
        libs.update(re.findall(r"=> (/\S+)", out))
    # dpkg knows a library by the path its package installed, which with
    # the merged /usr may be the path ldd printed or its real path.
    paths = sorted(libs | {os.path.realpath(p) for p in libs})
    out = run(["dpkg", "-S"] + paths, check=False).stdout
    return sorted({line.split(":")[0] for line in out.splitlines()
                   if ": /" in line})


def root_cache(work, build):
    """The cached Debian root for this package list, built if missing."""
    pkgs = sorted(set(BASE_PACKAGES) | set(runtime_packages(build)))
    key = hashlib.sha256(("%s %s minbase %s" % (
        SUITE, MIRROR, " ".join(pkgs))).encode()).hexdigest()[:12]
    root = os.path.join(work, "root-" + key)
    stamp = os.path.join(root, ".shmcam-root-complete")
    for old in os.listdir(work):
        if old.startswith("root-") and old != "root-" + key:
            say("removing stale root %s" % old)
            shutil.rmtree(os.path.join(work, old), ignore_errors=True)
    if os.path.exists(stamp):
        say("Debian root: cached %s (%s)" % (root, ", ".join(pkgs)))
        return root
    tmp = root + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    say("Debian root: debootstrap %s with %s (cold cache)"
        % (SUITE, ", ".join(pkgs)))
    t = time.monotonic()
    r = subprocess.run(["debootstrap", "--variant=minbase",
                        "--include=" + ",".join(pkgs), SUITE, tmp, MIRROR],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True,
                       timeout=DEADLINE_S - 60)
    if r.returncode != 0:
        raise AssertionError("debootstrap failed:\n" + r.stdout[-3000:])
    # apt caches are of no use in a root that never runs apt.
    shutil.rmtree(os.path.join(tmp, "var/cache/apt/archives"),
                  ignore_errors=True)
    open(os.path.join(tmp, ".shmcam-root-complete"), "w").close()
    os.rename(tmp, root)
    say("Debian root: built in %.0f s" % (time.monotonic() - t))
    return root


# ------------------------------------------------------------ namespaces

def enter_private_namespaces():
    if libc.unshare(CLONE_NEWNS | CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise AssertionError("unshare: %s" % os.strerror(e))
    run(["mount", "--make-rprivate", "/"])
    run(["ip", "link", "set", "lo", "up"])


def mount(*args):
    run(["mount"] + list(args))


def prepare_run_dir(run_dir, lower, build):
    """Overlay over the cached root, shmcam installed, test configuration."""
    upper, workd, merged = (os.path.join(run_dir, d)
                            for d in ("upper", "work", "merged"))
    for d in (upper, workd, merged):
        os.makedirs(d)
    mount("-t", "overlay", "overlay", "-o", "lowerdir=%s,upperdir=%s,"
          "workdir=%s" % (lower, upper, workd), merged)
    say("make install DESTDIR=%s" % merged)
    run(["make", "--no-print-directory", "-C", ROOT, "install",
         "BUILD=" + os.path.relpath(build, ROOT), "DESTDIR=" + merged],
        timeout=300)

    def put(path, text):
        full = os.path.join(merged, path.lstrip("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)

    put("/etc/shmcam/capture-%s.conf" % CAMERA,
        'SHMCAM_CAPTURE_ARGS="--source pattern --size %dx%d --fps %d '
        '--quality 70"\n' % (SIZE[0], SIZE[1], FPS))
    for name, port in PORTS.items():
        put("/etc/shmcam/server-%s.conf" % name,
            'SHMCAM_SERVER_ARGS="--name %s"\n' % CAMERA)
        put("/etc/systemd/system/shmcam-server@%s.socket.d/test.conf"
            % name, "[Socket]\nListenStream=127.0.0.1:%d\n" % port)
    put("/etc/systemd/system/shmcam-server@a.service.d/test.conf",
        "# check_systemd.py: a restart lasts at least %d s, so a client\n"
        "# can connect while no server process exists.\n"
        "[Service]\nExecStartPre=/bin/sleep %d\n"
        % (START_DELAY_S, START_DELAY_S))
    # Nothing to log in on, nothing to update: a faster, quieter boot.
    for unit in ("console-getty.service", "apt-daily.timer",
                 "apt-daily-upgrade.timer", "e2scrub_all.timer",
                 "dpkg-db-backup.timer", "systemd-tmpfiles-clean.timer"):
        link = os.path.join(merged, "etc/systemd/system", unit)
        if not os.path.lexists(link):
            os.symlink("/dev/null", link)
    return merged


# ------------------------------------------------------------ the container

def pdeathsig_term():
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class Container:
    def __init__(self, root, log_path):
        self.root = root
        self.log_path = log_path
        self.nspawn = None
        self.init = None        # host pid of the container's PID 1
        self.pidns = None

    def boot(self):
        log = open(self.log_path, "wb")
        self.nspawn = subprocess.Popen(
            ["systemd-nspawn", "-D", self.root, "--boot",
             "--machine=shmcam-check-%d" % os.getpid(),
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

    def sh(self, *argv, timeout=30, check=True):
        """Runs argv inside the container (all its namespaces)."""
        return run(["nsenter", "--target", str(self.init), "--all", "--",
                    "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                    "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"] + list(argv),
                   timeout=timeout, check=check)

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


# ------------------------------------------------------------ observers

class RingProbe(threading.Thread):
    """Samples the ring header of the capture every 20 ms (read-only):
    generation, writer pid and the newest sequence, to show whether the
    capture kept publishing."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.samples = []       # (monotonic, generation, pid, latest)
        self.halt = threading.Event()
        self.error = None

    @staticmethod
    def read(path):
        with open(path, "rb") as f:
            with mmap.mmap(f.fileno(), 128, prot=mmap.PROT_READ) as m:
                # Native formats load each aligned word in one access.
                gen, = struct.unpack_from("Q", m, 24)
                pid, = struct.unpack_from("I", m, 32)
                latest, = struct.unpack_from("Q", m, 64)
        return gen, pid, latest

    def run(self):
        try:
            while not self.halt.is_set():
                self.samples.append((time.monotonic(),) + self.read(self.path))
                time.sleep(0.02)
        except Exception as e:  # noqa: BLE001 - reported by the check
            self.error = e

    def stop(self):
        self.halt.set()
        self.join(5)


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


def reader(port):
    r = MjpegReader(port, keep=None)
    r.start()
    return r


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


# ------------------------------------------------------------ the checks

class Checks:
    CAP = "shmcam-capture@%s.service" % CAMERA
    SRV = {n: "shmcam-server@%s.service" % n for n in PORTS}

    def __init__(self, ct, build):
        self.ct = ct
        self.build = build
        self.readers = {}
        self.results = []
        self.ring = ct.path("/dev/shm/shmcam-%s" % CAMERA)

    def point(self, number, title, fn):
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
                                           title, time.monotonic() - t,
                                           detail)
        self.results.append((ok, line))
        print(line, flush=True)

    def jpeg_size(self, data):
        """(width, height) of a JPEG that decodes completely."""
        with tempfile.NamedTemporaryFile(suffix=".jpg") as f:
            f.write(data)
            f.flush()
            r = run([os.path.join(self.build, "tests", "jpeginfo"), f.name])
        return tuple(int(x) for x in r.stdout.split()[:2])

    # 0
    def verify(self):
        """The installed units, drop-ins included, as this systemd sees
        them: systemd-analyze verify and security."""
        units = [self.CAP, self.SRV["a"], "shmcam-server@a.socket"]
        # --man=no: the minimal root has no man(1) to look up the units'
        # Documentation= pages with.
        r = self.ct.sh("systemd-analyze", "verify", "--man=no", *units,
                       check=False)
        if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
            raise AssertionError("systemd-analyze verify: %s"
                                 % (r.stderr or r.stdout).strip())
        scores = []
        for u in (self.CAP, self.SRV["a"]):
            out = self.ct.sh("systemd-analyze", "security", "--no-pager",
                             u).stdout
            m = re.search(r"Overall exposure level for \S+: ([\d.]+)", out)
            scores.append("%s %s" % (u, m.group(1) if m else "?"))
        return ("systemd-analyze verify clean; security: %s"
                % ", ".join(scores))

    # 1
    def start_all(self):
        ct = self.ct
        ct.sh("systemctl", "start", "shmcam-server@a.socket",
              "shmcam-server@b.socket")
        # Type=notify: "systemctl start" returns once READY=1 has come.
        ct.sh("systemctl", "start", self.SRV["a"], self.SRV["b"], timeout=60)
        for n, unit in self.SRV.items():
            p = ct.show(unit, "ActiveState", "SubState", "StatusText")
            if (p["ActiveState"], p["SubState"]) != ("active", "running"):
                raise AssertionError("%s is %s/%s" % (unit, p["ActiveState"],
                                                      p["SubState"]))
            if "waiting for its capture" not in p["StatusText"]:
                raise AssertionError("%s before the capture: status %r"
                                     % (unit, p["StatusText"]))
        ct.sh("systemctl", "start", self.CAP, timeout=60)
        p = ct.show(self.CAP, "ActiveState", "SubState", "StatusText",
                    "MainPID")
        if p["ActiveState"] != "active" or "fps" not in p["StatusText"]:
            raise AssertionError("%s: %r" % (self.CAP, p))
        t = time.monotonic()
        for n, port in PORTS.items():
            self.readers[n] = reader(port)
        for n in PORTS:
            wait_live(self.readers[n], 5, t, 20, "server " + n)
        size = self.jpeg_size(self.readers["a"].frames[-1].data)
        if size != SIZE:
            raise AssertionError("frames are %dx%d, not %dx%d"
                                 % (size + SIZE))
        for n in PORTS:
            sock = ct.path("/run/shmcam/http/%s.sock" % n)
            status, body = http_unix_get(sock, "/snapshot")
            if status != 200 or body[:2] != b"\xff\xd8":
                raise AssertionError("snapshot on %s: status %d"
                                     % (sock, status))
        status = {n: ct.show(u, "StatusText")["StatusText"]
                  for n, u in self.SRV.items()}
        return ("servers READY before the capture (%r), capture READY "
                "(%r); /stream live on a (127.0.0.1:%d) and b "
                "(127.0.0.1:%d), %dx%d JPEGs that decode; /snapshot on "
                "/run/shmcam/http/{a,b}.sock"
                % (status["a"], p["StatusText"], PORTS["a"], PORTS["b"],
                   SIZE[0], SIZE[1]))

    # 2
    def restart_server(self):
        ct = self.ct
        cap_pid = ct.main_pid(self.CAP)
        a_pid = ct.main_pid(self.SRV["a"])
        probe = RingProbe(self.ring)
        probe.start()
        b = self.readers["b"]
        t_restart = time.monotonic()
        ct.sh("systemctl", "restart", "--no-block", self.SRV["a"])
        # The old process is gone and the new one sleeps in ExecStartPre:
        # no server process exists, only the socket systemd holds.
        wait_until(lambda: ct.show(self.SRV["a"], "SubState")["SubState"]
                   == "start-pre", 10, "a restarting (start-pre)")
        late = reader(PORTS["a"])
        wait_until(lambda: late.connected_at or late.error, 10,
                   "a connection to a")
        new_pid = ct.wait_running(self.SRV["a"], a_pid, 30)
        started = int(ct.show(self.SRV["a"], "ExecMainStartTimestampMonotonic")
                      ["ExecMainStartTimestampMonotonic"]) / 1e6
        wait_live(late, 5, t_restart, 20, "the client that connected to a "
                  "during its restart")
        t_end = time.monotonic()
        wait_until(lambda: len(frames_after(b, t_end)) >= FPS // 2, 10,
                   "frames on b after the restart")
        probe.stop()
        self.readers["a"].stop()
        self.readers["a"] = late
        problems = []
        if late.connected_at >= started:
            problems.append("the late client connected %.3f s after the new "
                            "server started" % (late.connected_at - started))
        if ct.main_pid(self.CAP) != cap_pid:
            problems.append("the capture's PID changed")
        if probe.error or not probe.samples:
            problems.append("ring probe: %r" % probe.error)
        else:
            gens = {s[1] for s in probe.samples}
            pids = {s[2] for s in probe.samples}
            seqs = [s[3] for s in probe.samples]
            if len(gens) != 1 or pids != {cap_pid}:
                problems.append("ring generation/pid changed: %s %s"
                                % (gens, pids))
            if any(y < x for x, y in zip(seqs, seqs[1:])):
                problems.append("ring sequence went backwards")
            stall, last_t, last_seq = 0.0, probe.samples[0][0], seqs[0]
            for s in probe.samples:
                if s[3] != last_seq:
                    stall = max(stall, s[0] - last_t)
                    last_t, last_seq = s[0], s[3]
            stall = max(stall, probe.samples[-1][0] - last_t)
            if stall > MAX_GAP_S:
                problems.append("ring sequence stalled %.2f s" % stall)
        bf = frames_after(b, t_restart)
        if b.error or b.closed:
            problems.append("b's client: %r closed=%s" % (b.error, b.closed))
        if max_gap(bf) > MAX_GAP_S or live_run(bf) != len(bf):
            problems.append("b's client: gap %.2f s, %d of %d frames live"
                            % (max_gap(bf), live_run(bf), len(bf)))
        if problems:
            raise AssertionError("; ".join(problems))
        return ("capture pid %d kept, ring sequence %d -> %d in %.1f s, "
                "longest pause %.0f ms; b's client: %d frames, longest gap "
                "%.0f ms; a (pid %d -> %d): a client that connected %.2f s "
                "before the new server started got live frames"
                % (cap_pid, seqs[0], seqs[-1], probe.samples[-1][0] -
                   probe.samples[0][0], stall * 1000, len(bf),
                   max_gap(bf) * 1000, a_pid, new_pid,
                   started - late.connected_at))

    # 3
    def restart_capture(self):
        ct = self.ct
        cap_pid = ct.main_pid(self.CAP)
        gen = RingProbe.read(self.ring)[0]
        srv_pids = {n: ct.main_pid(u) for n, u in self.SRV.items()}
        t_wall, t = time.time(), time.monotonic()
        ct.sh("systemctl", "restart", self.CAP, timeout=60)
        new_pid = ct.main_pid(self.CAP)
        new_gen = RingProbe.read(self.ring)[0]
        if new_pid == cap_pid or new_gen == gen:
            raise AssertionError("capture not restarted: pid %d -> %d"
                                 % (cap_pid, new_pid))
        for n in PORTS:
            wait_live(self.readers[n], 5, t, 20, "server %s's client" % n)
            fresh = [f for f in frames_after(self.readers[n], t)
                     if f.timestamp > t_wall]
            if not fresh:
                raise AssertionError("no frame captured after the restart "
                                     "on " + n)
        now = {n: ct.main_pid(u) for n, u in self.SRV.items()}
        if now != srv_pids:
            raise AssertionError("servers restarted: %s -> %s"
                                 % (srv_pids, now))
        return ("capture pid %d -> %d, new ring generation; both clients "
                "stayed connected and got live frames again; server pids "
                "unchanged %s" % (cap_pid, new_pid, now))

    # 4
    def kill_server(self):
        ct = self.ct
        b = self.SRV["b"]
        cap = ct.show(self.CAP, "MainPID", "NRestarts")
        gen = RingProbe.read(self.ring)[0]
        b_pid = ct.main_pid(b)
        restarts = int(ct.show(b, "NRestarts")["NRestarts"])
        os.kill(ct.host_pid(b_pid), signal.SIGKILL)
        new_pid = ct.wait_running(b, b_pid, 30)
        t = time.monotonic()
        self.readers["b"].stop()
        self.readers["b"] = reader(PORTS["b"])
        wait_live(self.readers["b"], 5, t, 20, "server b after SIGKILL")
        wait_live(self.readers["a"], 5, t, 20, "server a")
        n = int(ct.show(b, "NRestarts")["NRestarts"])
        if n != restarts + 1:
            raise AssertionError("NRestarts %d -> %d" % (restarts, n))
        if (ct.show(self.CAP, "MainPID", "NRestarts") != cap or
                RingProbe.read(self.ring)[0] != gen):
            raise AssertionError("the capture was disturbed")
        return ("b pid %d killed, restarted as %d (NRestarts %d), serves "
                "again; capture pid %s and ring generation untouched"
                % (b_pid, new_pid, n, cap["MainPID"]))

    # 5
    def server_confined(self):
        ct = self.ct
        cpid = ct.main_pid(self.SRV["b"])
        hpid = ct.host_pid(cpid)
        with open("/proc/%d/status" % hpid) as f:
            st = dict(line.split(":", 1) for line in f if ":" in line)
        uids = [int(x) for x in st["Uid"].split()]
        gids = [int(x) for x in st["Gid"].split()]
        groups = [int(x) for x in st["Groups"].split()]
        with open(ct.path("/etc/group")) as f:
            shmcam_gid = [int(line.split(":")[2]) for line in f
                          if line.startswith("shmcam:")][0]
        problems = []
        if 0 in uids or 0 in gids:
            problems.append("runs with uid %s gid %s" % (uids, gids))
        if shmcam_gid not in groups:
            problems.append("not in group shmcam (%s)" % groups)
        with open("/proc/%d/maps" % hpid) as f:
            maps = [line.split() for line in f
                    if "/shmcam-%s" % CAMERA in line]
        perms = sorted({m[1] for m in maps})
        if not maps or perms != ["r--s"]:
            problems.append("ring mappings %s" % perms)
        # /dev/video0 exists in the container (made at setup, mode 0666,
        # no driver behind it); opening it as the server's user in the
        # container fails at the driver (ENXIO), in the server's own
        # namespace it is not even there (PrivateDevices=).
        opener = ["/bin/sh", "-c", "exec 3</dev/video0"]
        ids = ["--setuid", str(uids[0]), "--setgid", str(gids[0])]
        in_ct = run(["nsenter", "-t", str(ct.init), "-a"] + ids + opener,
                    check=False)
        in_srv = run(["nsenter", "-t", str(hpid), "-m", "-r"] + ids + opener,
                     check=False)
        # The reasons matter: a failing nsenter would "fail to open" too.
        if "No such device or address" not in in_ct.stderr:
            problems.append("the control case, /dev/video0 in the "
                            "container: %r" % in_ct.stderr.strip())
        if in_srv.returncode == 0 or "No such file" not in in_srv.stderr:
            problems.append("/dev/video0 in the server's namespace: rc %d "
                            "%r" % (in_srv.returncode, in_srv.stderr.strip()))
        if problems:
            raise AssertionError("; ".join(problems))
        why = (in_srv.stderr.strip().splitlines() or ["?"])[-1]
        why_ct = (in_ct.stderr.strip().splitlines() or ["opened"])[-1]
        return ("pid %d: uid %d gid %d, groups %s (shmcam = %d); ring mapped "
                "%s only; /dev/video0 in its namespace: %s (in the "
                "container, same uid: %s)"
                % (cpid, uids[0], gids[0], groups, shmcam_gid, perms[0],
                   why.split(":")[-1].strip(), why_ct.split(":")[-1].strip()))

    # 6
    def watchdog(self):
        ct = self.ct
        p = ct.show(self.CAP, "MainPID", "WatchdogUSec", "NRestarts")
        wd = parse_timespan(p["WatchdogUSec"])
        cap_pid = int(p["MainPID"])
        if wd <= 0:
            raise AssertionError("no WatchdogSec on %s" % self.CAP)
        hpid = ct.host_pid(cap_pid)
        t = time.monotonic()
        os.kill(hpid, signal.SIGSTOP)
        new_pid = ct.wait_running(self.CAP, cap_pid, wd + 30)
        took = time.monotonic() - t
        log = ct.sh("journalctl", "-u", self.CAP, "-o", "cat",
                    "--no-pager").stdout
        if "Watchdog timeout" not in log:
            raise AssertionError("no watchdog timeout in the journal")
        if took < wd * 0.9:
            raise AssertionError("restarted after %.1f s, before "
                                 "WatchdogSec=%.0f s" % (took, wd))
        t2 = time.monotonic()
        for n in PORTS:
            wait_live(self.readers[n], 5, t2, 20, "server %s's client" % n)
        return ("pid %d stopped, systemd's watchdog fired and restarted it "
                "as %d after %.1f s (WatchdogSec=%.0f s); both servers' "
                "clients live again" % (cap_pid, new_pid, took, wd))

    def stop_all(self):
        for r in self.readers.values():
            r.stop()
        ct = self.ct
        ct.sh("systemctl", "stop", self.CAP, self.SRV["a"], self.SRV["b"],
              "shmcam-server@a.socket", "shmcam-server@b.socket", timeout=60)
        bad = []
        for u in [self.CAP] + list(self.SRV.values()):
            p = ct.show(u, "Result", "ExecMainStatus")
            if p["Result"] != "success" or p["ExecMainStatus"] != "0":
                bad.append("%s: %s" % (u, p))
        return bad


def save_logs(ct, run_dir, work):
    """The container's journal and console, for the next reader."""
    try:
        if ct and ct.init and ct.nspawn.poll() is None:
            with open(os.path.join(work, "journal.txt"), "w") as f:
                f.write(ct.sh("journalctl", "--no-pager", "-o",
                              "short-monotonic", timeout=60,
                              check=False).stdout)
        console = os.path.join(run_dir, "console.log")
        if os.path.exists(console):
            shutil.copy(console, os.path.join(work, "console.log"))
    except (OSError, subprocess.SubprocessError) as e:
        say("logs not saved: %s" % e)


def remove_stale_runs(work):
    """Run directories of runs that died without cleaning up (SIGKILL):
    their mounts went with their namespace, the files stayed."""
    for d in os.listdir(work):
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
        shutil.rmtree(os.path.join(work, d), ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--work", default="build-nspawn")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    work = os.path.abspath(args.work)
    if os.geteuid() != 0:
        print("check-systemd: needs root (debootstrap, mounts, "
              "systemd-nspawn)", file=sys.stderr)
        return 1
    for tool in ("debootstrap", "systemd-nspawn", "nsenter", "ip"):
        if shutil.which(tool) is None:
            print("check-systemd: %s is missing (sudo make deps)" % tool,
                  file=sys.stderr)
            return 1

    def on_signal(sig, frame):
        raise Deadline("signal %d" % sig)

    def on_alarm(sig, frame):
        raise Deadline("the whole run took over %d s" % DEADLINE_S)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(DEADLINE_S)

    os.makedirs(work, exist_ok=True)
    remove_stale_runs(work)
    try:    # the network is needed here, before the private namespace
        with open(os.path.join(work, "root.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)    # one debootstrap at a time
            lower = root_cache(work, build)
    except (Deadline, AssertionError, OSError,
            subprocess.SubprocessError) as e:
        print("FAIL check-systemd: Debian root: %s" % e, flush=True)
        return 1
    enter_private_namespaces()
    ct = None
    run_dir = os.path.join(work, "run-%d" % os.getpid())
    failed = True
    try:
        # systemd-nspawn sets up mount propagation under
        # /run/systemd/nspawn, which must be on a tmpfs, and on these
        # machines /run is not one.  A tmpfs over all of /run, in this
        # namespace only: nothing is made on the host, and runs at the
        # same time do not meet.
        mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run")
        os.makedirs("/run/systemd/nspawn")
        merged = prepare_run_dir(run_dir, lower, build)
        ct = Container(merged, os.path.join(run_dir, "console.log"))
        ct.boot()
        ct.sh("mknod", "-m", "0666", "/dev/video0", "c", "81", "0")
        checks = Checks(ct, build)
        plan = [(0, "the installed units", checks.verify),
                (1, "capture and servers a, b reach READY and serve /stream",
                 checks.start_all),
                (2, "restart of server a", checks.restart_server),
                (3, "restart of the capture", checks.restart_capture),
                (4, "kill -9 of server b", checks.kill_server),
                (5, "the server is confined", checks.server_confined),
                (6, "the capture's watchdog", checks.watchdog)]
        for number, title, fn in plan:
            checks.point(number, title, fn)
        bad = checks.stop_all()
        if bad:
            print("FAIL clean stop: " + "; ".join(bad), flush=True)
        failed = bad or not all(ok for ok, _ in checks.results)
    except (Deadline, AssertionError, OSError,
            subprocess.SubprocessError) as e:
        print("FAIL check-systemd: %s: %s" % (type(e).__name__, e),
              flush=True)
        if ct and ct.init:
            r = ct.sh("journalctl", "--no-pager", "-n", "60", "-u",
                      "shmcam-*", check=False, timeout=20)
            print(r.stdout, flush=True)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        save_logs(ct, run_dir, work)
        if ct:
            ct.shutdown()
        subprocess.run(["umount", "-l", os.path.join(run_dir, "merged")],
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(run_dir, ignore_errors=True)
    say("check-systemd %s (logs: %s)" % ("FAILED" if failed else "passed",
                                         work))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
