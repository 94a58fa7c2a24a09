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
     during the restart is served live frames once a is back, and
     snapshots requested then get 200 with a live frame (never 503);
  3. restarting the capture keeps both servers' clients connected, and
     they resume live frames;
  4. kill -9 of a server: systemd restarts it, snapshots requested
     meanwhile get 200 with a live frame, the capture is untouched;
  5. the server runs as a non-root user, cannot open /dev/video*, and maps
     the ring read-only;
  6. a capture stopped with SIGSTOP is killed by systemd's watchdog and
     restarted;
  7. shmcam-capture-net@relay relays server c (which wants credentials,
     from /etc/shmcam/capture-relay.credentials through LoadCredential=)
     to server d, as shmcam-capture from the start, the password nowhere
     in its arguments or the journal; shmcam-capture-net@relay2, with no
     credentials file, relays server a;
  8. a capture started as root without --user runs as shmcam-capture,
     in group video, and recovers from an unplug and replug of the
     simulated camera (tests/v4l2sim).
  9. an RTSP server (shmcam-rtsp@n, its socket 127.0.0.1:8554 held by
     systemd) reaches READY, serves H.264 over RTSP, runs unprivileged,
     and restarting it disturbs neither the capture nor the HTTP
     servers' clients.

The Debian root, the namespaces that isolate the run and the container
are tests/systemd/nspawn.py's (shared with make check-deb); the root here
is the base with the libraries the built programs link.  The servers
listen on 127.0.0.1:8081 and 8082 of the run's own network namespace.
Runs as root; stdlib only.
"""

import os
import re
import shutil
import signal
import socket
import sys
import threading
import time

import nspawn
from nspawn import (FAILURES, frames_after, http_unix_get, live_run,
                    max_gap, reader, run, say, wait_live)
from rtsptools import RtspClient
from shmcam import RingWatch, read_response, split_response, wait_until

CAMERA = "cam"
RTSP_PORT = 8554     # shmcam-rtsp@.socket's default
SIZE = (320, 240)
FPS = 15
PORTS = {"a": 8081, "b": 8082}
# The network capture's check (7): server c serves CAMERA with
# credentials, the capture "relay" reads it, server d serves "relay".
NET_PORTS = {"c": 8083, "d": 8084}
RELAY_SECRET = "relay-s3cret"
# The whole run, debootstrap included, must end well within 10 minutes.
DEADLINE_S = 540
# A client that takes no frame for this long has been interrupted: at
# FPS frames per second that is many frames, far beyond scheduling noise.
MAX_GAP_S = 1.0
# Server a starts 1 s late (ExecStartPre=), so that a client connecting
# "during the restart" certainly does (see check_restart_server).
START_DELAY_S = 1
# Where check 7 finds the simulated camera inside the container, and the
# file that is its device node.
SIM_DIR = "/usr/local/lib/shmcam-test"
SIM_DEV = "/run/shmcam-test/video0"


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
    for prog in ("shmcam-capture", "shmcam-server", "shmcam-rtsp"):
        out = run(["ldd", os.path.join(build, prog)]).stdout
        libs.update(re.findall(r"=> (/\S+)", out))
    # dpkg knows a library by the path its package installed, which with
    # the merged /usr may be the path ldd printed or its real path.
    paths = sorted(libs | {os.path.realpath(p) for p in libs})
    out = run(["dpkg", "-S"] + paths, check=False).stdout
    return sorted({line.split(":")[0] for line in out.splitlines()
                   if ": /" in line})


def prepare_root(merged, build):
    """shmcam installed into the overlay, and the test configuration."""
    say("make install DESTDIR=%s" % merged)
    run(["make", "--no-print-directory", "-C", nspawn.ROOT, "install",
         "BUILD=" + os.path.relpath(build, nspawn.ROOT), "DESTDIR=" + merged],
        timeout=300)
    # The simulated camera, for check 7 (not part of an install).
    os.makedirs(os.path.join(merged, SIM_DIR.lstrip("/")))
    shutil.copy(os.path.join(build, "tests", "libv4l2sim.so"),
                os.path.join(merged, SIM_DIR.lstrip("/")))
    nspawn.put(merged, "/etc/shmcam/capture-%s.conf" % CAMERA,
               'SHMCAM_CAPTURE_ARGS="--source pattern --size %dx%d --fps %d '
               '--quality 70"\n' % (SIZE[0], SIZE[1], FPS))
    for name, port in PORTS.items():
        nspawn.put(merged, "/etc/shmcam/server-%s.conf" % name,
                   'SHMCAM_SERVER_ARGS="--name %s"\n' % CAMERA)
        nspawn.put(merged, "/etc/systemd/system/shmcam-server@%s.socket.d/"
                   "test.conf" % name,
                   "[Socket]\nListenStream=127.0.0.1:%d\n" % port)
    nspawn.put(merged, "/etc/shmcam/rtsp-n.conf",
               'SHMCAM_RTSP_ARGS="--name %s"\n' % CAMERA)
    nspawn.put(merged, "/etc/systemd/system/shmcam-server@a.service.d/"
               "test.conf",
               "# check_systemd.py: a restart lasts at least %d s, so a "
               "client\n# can connect while no server process exists.\n"
               "[Service]\nExecStartPre=/bin/sleep %d\n"
               % (START_DELAY_S, START_DELAY_S))
    nspawn.put(merged, "/etc/shmcam/server-c.conf",
               'SHMCAM_SERVER_ARGS="--name %s --auth-file '
               '/etc/shmcam/c.users"\n' % CAMERA)
    nspawn.put(merged, "/etc/shmcam/c.users", "relay:%s\n" % RELAY_SECRET)
    nspawn.put(merged, "/etc/shmcam/server-d.conf",
               'SHMCAM_SERVER_ARGS="--name relay"\n')
    for name, port in NET_PORTS.items():
        nspawn.put(merged, "/etc/systemd/system/shmcam-server@%s.socket.d/"
                   "test.conf" % name,
                   "[Socket]\nListenStream=127.0.0.1:%d\n" % port)
    nspawn.put(merged, "/etc/shmcam/capture-relay.conf",
               'SHMCAM_CAPTURE_ARGS="--source http://127.0.0.1:%d/stream"\n'
               % NET_PORTS["c"])
    nspawn.put(merged, "/etc/shmcam/capture-relay.credentials",
               "relay:%s\n" % RELAY_SECRET)
    os.chmod(os.path.join(merged, "etc/shmcam/capture-relay.credentials"),
             0o600)
    nspawn.put(merged, "/etc/shmcam/capture-relay2.conf",
               'SHMCAM_CAPTURE_ARGS="--source http://127.0.0.1:%d/stream"\n'
               % PORTS["a"])


# ------------------------------------------------------------ observers

class RingProbe(threading.Thread):
    """Samples the ring header of the capture every 20 ms: generation,
    writer pid and the newest sequence, to show whether the capture kept
    publishing.  The ring has no name (common/ring.h): the probe attaches
    through the capture's control socket, as a server does, and maps it
    read-only."""

    def __init__(self, ctl):
        super().__init__(daemon=True)
        self.ctl = ctl
        self.samples = []       # (monotonic, generation, pid, latest)
        self.halt = threading.Event()
        self.error = None

    @staticmethod
    def read(ctl):
        """(generation, writer pid, newest sequence) of the ring the
        capture at control socket ctl hands out now."""
        w = RingWatch(ctl)
        try:
            return w.generation(), w.writer_pid(), w.latest()
        finally:
            w.close()

    def run(self):
        try:
            w = RingWatch(self.ctl)
            try:
                while not self.halt.is_set():
                    self.samples.append((time.monotonic(), w.generation(),
                                         w.writer_pid(), w.latest()))
                    time.sleep(0.02)
            finally:
                w.close()
        except Exception as e:  # noqa: BLE001 - reported by the check
            self.error = e

    def stop(self):
        self.halt.set()
        self.join(5)


def snapshot_request(port):
    """Sends GET /snapshot now and returns the socket, to read the answer
    with snapshot_answer() later: the request waits in the backlog while
    no server process exists."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(b"GET /snapshot HTTP/1.1\r\nHost: t\r\n"
              b"Connection: close\r\n\r\n")
    return s


def snapshot_answer(s):
    """(status, headers with lower-case names, body) of the answer."""
    try:
        return split_response(read_response(s))
    finally:
        s.close()


def live_snapshots(socks, jpeg_size, what):
    """Checks that each pending snapshot is answered with a live frame:
    200, no X-Shmcam-Placeholder, a JPEG of the camera's size.  A
    restarted server must not answer 503 before it has attached."""
    for i, s in enumerate(socks):
        status, h, body = snapshot_answer(s)
        if status != 200 or "x-shmcam-placeholder" in h:
            raise AssertionError("%s, snapshot %d: %d %s %r" % (
                what, i, status, h.get("x-shmcam-placeholder", ""),
                body[:60]))
        if jpeg_size(body) != SIZE:
            raise AssertionError("%s, snapshot %d: not a %dx%d JPEG"
                                 % ((what, i) + SIZE))
    return len(socks)


# ------------------------------------------------------------ the checks

class Checks:
    CAP = "shmcam-capture@%s.service" % CAMERA
    SRV = {n: "shmcam-server@%s.service" % n for n in PORTS}
    NET = "shmcam-capture-net@relay.service"
    NET2 = "shmcam-capture-net@relay2.service"
    RTSP = "shmcam-rtsp@n.service"

    def __init__(self, ct, build):
        self.ct = ct
        self.build = build
        self.readers = {}
        self.results = []
        self.ring = ct.path("/run/shmcam/%s.sock" % CAMERA)

    def jpeg_size(self, data):
        return nspawn.jpeg_size(self.build, data)

    # 0
    def verify(self):
        """The installed units, drop-ins included, as this systemd sees
        them: systemd-analyze verify and security."""
        units = [self.CAP, self.SRV["a"], "shmcam-server@a.socket",
                 self.NET]
        # --man=no: the minimal root has no man(1) to look up the units'
        # Documentation= pages with.
        r = self.ct.sh("systemd-analyze", "verify", "--man=no", *units,
                       check=False)
        if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
            raise AssertionError("systemd-analyze verify: %s"
                                 % (r.stderr or r.stdout).strip())
        scores = []
        for u in (self.CAP, self.SRV["a"], self.NET):
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
        snaps = [snapshot_request(PORTS["a"]) for _ in range(3)]
        new_pid = ct.wait_running(self.SRV["a"], a_pid, 30)
        started = int(ct.show(self.SRV["a"], "ExecMainStartTimestampMonotonic")
                      ["ExecMainStartTimestampMonotonic"]) / 1e6
        wait_live(late, 5, t_restart, 20, "the client that connected to a "
                  "during its restart")
        nsnaps = live_snapshots(snaps, self.jpeg_size,
                                "requested during the restart")
        t_end = time.monotonic()
        wait_until(lambda: len(frames_after(b, t_end)) >= FPS // 2, 10,
                   "frames on b after the restart")
        probe.stop()
        self.readers["a"].stop()
        self.readers["a"] = late
        problems = []
        with late.lock:
            first = late.frames[0] if late.frames else None
        if first is None or "x-shmcam-placeholder" in first.headers:
            problems.append("the late client's first frame was not live: "
                            "%r" % (first and first.headers))
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
                "before the new server started got live frames from the "
                "first, and %d snapshots requested then got 200 with a live "
                "frame"
                % (cap_pid, seqs[0], seqs[-1], probe.samples[-1][0] -
                   probe.samples[0][0], stall * 1000, len(bf),
                   max_gap(bf) * 1000, a_pid, new_pid,
                   started - late.connected_at, nsnaps))

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
        hpid = ct.host_pid(b_pid)
        os.kill(hpid, signal.SIGKILL)
        # Snapshots requested from the moment b is gone until systemd has
        # started it again (RestartSec=, 100 ms by default).
        snaps = []
        while True:
            snaps.append(snapshot_request(PORTS["b"]))
            p = ct.show(b, "MainPID", "SubState")
            if int(p["MainPID"]) not in (0, b_pid) or len(snaps) >= 20:
                break
            time.sleep(0.02)
        new_pid = ct.wait_running(b, b_pid, 30)
        nsnaps = live_snapshots(snaps, self.jpeg_size,
                                "requested after the SIGKILL")
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
                "again; %d snapshots requested meanwhile got 200 with a live "
                "frame; capture pid %s and ring generation untouched"
                % (b_pid, new_pid, n, nsnaps, cap["MainPID"]))

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
                    if "memfd:shmcam-%s" % CAMERA in line]
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
        # The capture pings every WatchdogSec/2 (common/service.c), so its
        # last ping came up to that long before SIGSTOP, and systemd's
        # timeout fires between WatchdogSec/2 and WatchdogSec after it
        # (8.5 s and 10.2 s seen).  Sooner, and something else restarted
        # it; 0.5 s for the clocks of two processes.
        if took < wd / 2 - 0.5:
            raise AssertionError("restarted after %.1f s, before half of "
                                 "WatchdogSec=%.0f s" % (took, wd))
        t2 = time.monotonic()
        for n in PORTS:
            wait_live(self.readers[n], 5, t2, 20, "server %s's client" % n)
        return ("pid %d stopped, systemd's watchdog fired and restarted it "
                "as %d after %.1f s (WatchdogSec=%.0f s); both servers' "
                "clients live again" % (cap_pid, new_pid, took, wd))

    # 7
    def network_capture(self):
        ct = self.ct
        srv = ["shmcam-server@%s" % n for n in NET_PORTS]
        ct.sh("systemctl", "start", *["%s.socket" % u for u in srv])
        ct.sh("systemctl", "start", *srv, timeout=60)
        # READY=1 once the first frame (or the offline picture) is in.
        ct.sh("systemctl", "start", self.NET, self.NET2, timeout=60)
        t = time.monotonic()
        self.readers["d"] = reader(NET_PORTS["d"])
        wait_live(self.readers["d"], 5, t, 20, "server d (the relay)")
        size = self.jpeg_size(self.readers["d"].frames[-1].data)
        if size != SIZE:
            raise AssertionError("relayed frames are %dx%d" % size)
        wait_until(lambda: "online" in ct.show(self.NET2, "StatusText")
                   ["StatusText"], 20, "relay2 online")
        problems = []
        pid = ct.main_pid(self.NET)
        hpid = ct.host_pid(pid)
        with open("/proc/%d/status" % hpid) as f:
            st = dict(line.split(":", 1) for line in f if ":" in line)
        uids = [int(x) for x in st["Uid"].split()]
        with open("/proc/%d/cmdline" % hpid, "rb") as f:
            cmdline = f.read()
        journal = ct.sh("journalctl", "-u", "shmcam-capture-net@*", "-o",
                        "cat", "--no-pager").stdout
        with open(ct.path("/etc/passwd")) as f:
            cap_uid = [int(line.split(":")[2]) for line in f
                       if line.startswith("shmcam-capture:")][0]
        if set(uids) != {cap_uid}:
            problems.append("uids %s, not shmcam-capture's %d" % (uids,
                                                                  cap_uid))
        # The privilege drop says so when it happens: it must not have.
        if "running as user" in journal:
            problems.append("it was started as root")
        if RELAY_SECRET.encode() in cmdline or RELAY_SECRET in journal:
            problems.append("the password shows")
        if "with TCP" not in journal:
            problems.append("no network sandbox in the journal")
        if problems:
            raise AssertionError("; ".join(problems))
        return ("relay (pid %d, uid %d from the start) got server c's "
                "frames with credentials from LoadCredential=, server d "
                "serves them at %dx%d; relay2 without a credentials file "
                "online; no password in the arguments or the journal"
                % (pid, cap_uid, SIZE[0], SIZE[1]))

    # 8
    def default_user(self):
        """A capture started as root without --user on a system with the
        units installed (sysusers applied) becomes shmcam-capture, keeps
        its group video, and reopens the camera after an unplug."""
        ct = self.ct
        unit = "shmcam-t7.service"
        ctl = ct.path("/run/shmcam/t7.sock")

        def plug():
            ct.sh("sh", "-c", ": > %s && chown root:video %s && "
                  "chmod 0660 %s" % (SIM_DEV, SIM_DEV, SIM_DEV))

        def ring(key):
            r = run([os.path.join(self.build, "tests", "ringinfo"), ctl],
                    check=False)
            info = dict(line.split("=", 1) for line in r.stdout.splitlines()
                        if "=" in line)
            return info.get(key)

        ct.sh("mkdir", "-p", os.path.dirname(SIM_DEV))
        plug()
        # Root, and nothing else set: systemd-run's defaults.
        ct.sh("systemd-run", "--unit", unit, "--collect",
              "--setenv=LD_PRELOAD=%s/libv4l2sim.so" % SIM_DIR,
              "--setenv=V4L2SIM_DEVICE=" + SIM_DEV,
              "--setenv=V4L2SIM_FORMATS=MJPG:320x240@15",
              "/usr/local/bin/shmcam-capture", "--name", "t7", "--source",
              "v4l2:" + SIM_DEV, "--retry-interval", "0.2")
        try:
            hpid = ct.host_pid(ct.wait_running(unit, 0, 30))
            wait_until(lambda: (ring("state") == "online" and
                                int(ring("latest") or 0) > 5), 20,
                       "frames from the simulated camera")
            with open("/proc/%d/status" % hpid) as f:
                st = dict(line.split(":", 1) for line in f if ":" in line)
            with open(ct.path("/etc/passwd")) as f:
                users = {line.split(":")[0]: int(line.split(":")[2])
                         for line in f}
            with open(ct.path("/etc/group")) as f:
                video = [int(line.split(":")[2]) for line in f
                         if line.startswith("video:")][0]
            uids = [int(x) for x in st["Uid"].split()]
            groups = [int(x) for x in st["Groups"].split()]
            if uids != [users["shmcam-capture"]] * 4:
                raise AssertionError("runs as uid %s, not shmcam-capture "
                                     "(%d)" % (uids,
                                               users["shmcam-capture"]))
            if video not in groups:
                raise AssertionError("not in group video: %s" % groups)
            ct.sh("rm", SIM_DEV)                    # unplug
            wait_until(lambda: ring("state") == "offline", 20, "offline")
            plug()                                  # replug
            wait_until(lambda: ring("state") == "online", 20,
                       "online again after the replug")
            n = int(ring("latest"))
            wait_until(lambda: int(ring("latest")) > n + 5, 20,
                       "frames after the replug")
            restarts = ring("restarts")
        finally:
            log = ct.sh("journalctl", "-u", unit, "-o", "cat", "--no-pager",
                        check=False).stdout
            ct.sh("systemctl", "stop", unit, check=False)
        if "Permission denied" in log:
            raise AssertionError("the capture was refused the device:\n"
                                 + log[-2000:])
        return ("started as root without --user: uid %d (shmcam-capture), "
                "groups %s (video = %d); offline after the unplug, live "
                "again after the replug (%s restarts)"
                % (uids[0], groups, video, restarts))

    # 9
    def rtsp(self):
        ct = self.ct
        unit = self.RTSP
        ct.sh("systemctl", "start", "shmcam-rtsp@n.socket")
        ct.sh("systemctl", "start", unit, timeout=60)
        p = ct.show(unit, "ActiveState", "SubState", "MainPID")
        if (p["ActiveState"], p["SubState"]) != ("active", "running"):
            raise AssertionError("%s is %s/%s" % (unit, p["ActiveState"],
                                                  p["SubState"]))
        url = "rtsp://127.0.0.1:%d/%s" % (RTSP_PORT, CAMERA)

        def watch():
            c = RtspClient(RTSP_PORT)
            try:
                r = c.start(url)
                if r.status != 200:
                    raise AssertionError("PLAY: %d" % r.status)
                units = c.read_units(30, timeout=20)
                if not units[0].key:
                    raise AssertionError("not starting at a keyframe")
                return len(units)
            finally:
                c.close()
        n = watch()
        with open("/proc/%d/status" % ct.host_pid(int(p["MainPID"]))) as f:
            st = dict(line.split(":", 1) for line in f if ":" in line)
        uids = [int(x) for x in st["Uid"].split()]
        if 0 in uids:
            raise AssertionError("shmcam-rtsp runs with uid %s" % uids)
        # A restart: the capture and the HTTP servers' clients carry on.
        cap_pid = ct.main_pid(self.CAP)
        gen = RingProbe.read(self.ring)[0]
        t = time.monotonic()
        ct.sh("systemctl", "restart", unit, timeout=60)
        watch()
        for name in PORTS:
            wait_live(self.readers[name], 5, t, 20, "server %s's client"
                      % name)
            gap = max_gap(frames_after(self.readers[name], t))
            if gap > MAX_GAP_S:
                raise AssertionError("server %s's client waited %.1f s"
                                     % (name, gap))
        if (ct.main_pid(self.CAP) != cap_pid or
                RingProbe.read(self.ring)[0] != gen):
            raise AssertionError("the capture was disturbed")
        return ("%s READY, %d access units over RTSP from a keyframe on "
                "(socket 127.0.0.1:%d), uid %d; restarted without the "
                "capture (pid %d) or the HTTP clients noticing"
                % (unit, n, RTSP_PORT, uids[0], cap_pid))

    def stop_all(self):
        for r in self.readers.values():
            r.stop()
        ct = self.ct
        net_srv = ["shmcam-server@%s" % n for n in NET_PORTS]
        ct.sh("systemctl", "stop", self.NET, self.NET2, *net_srv,
              *["%s.socket" % u for u in net_srv], timeout=60)
        ct.sh("systemctl", "stop", self.CAP, self.SRV["a"], self.SRV["b"],
              "shmcam-server@a.socket", "shmcam-server@b.socket", self.RTSP,
              "shmcam-rtsp@n.socket", timeout=60)
        bad = []
        for u in [self.CAP, self.NET, self.NET2, self.RTSP] + list(
                self.SRV.values()):
            p = ct.show(u, "Result", "ExecMainStatus")
            if p["Result"] != "success" or p["ExecMainStatus"] != "0":
                bad.append("%s: %s" % (u, p))
        return bad


def main():
    args = nspawn.arguments(__doc__).parse_args()
    build = os.path.abspath(args.build)
    session = nspawn.session("check-systemd", "check", args.work, DEADLINE_S,
                             ())
    if session is None:
        return 1
    failed = True
    try:
        session.start()
        try:    # the network is needed here, before the private namespace
            lower = session.root("systemd", runtime_packages(build))
        except FAILURES as e:
            print("FAIL check-systemd: Debian root: %s" % e, flush=True)
            return 1
        nspawn.enter_mount_namespace()
        nspawn.enter_network_namespace()
        prepare_root(session.overlay(lower), build)
        ct = session.boot()
        ct.sh("mknod", "-m", "0666", "/dev/video0", "c", "81", "0")
        checks = Checks(ct, build)
        passed = nspawn.run_plan(checks.results, [
            (0, "the installed units", checks.verify),
            (1, "capture and servers a, b reach READY and serve /stream",
             checks.start_all),
            (2, "restart of server a", checks.restart_server),
            (3, "restart of the capture", checks.restart_capture),
            (4, "kill -9 of server b", checks.kill_server),
            (5, "the server is confined", checks.server_confined),
            (6, "the capture's watchdog", checks.watchdog),
            (7, "network captures relay servers c and a",
             checks.network_capture),
            (8, "a capture started as root without --user",
             checks.default_user),
            (9, "an RTSP server", checks.rtsp)])
        bad = checks.stop_all()
        if bad:
            print("FAIL clean stop: " + "; ".join(bad), flush=True)
        failed = bad or not passed
    except FAILURES as e:
        print("FAIL check-systemd: %s: %s" % (type(e).__name__, e),
              flush=True)
        session.journal_tail()
    finally:
        session.close()
    return nspawn.finish("check-systemd", session, failed)


if __name__ == "__main__":
    sys.exit(main())
