#!/usr/bin/env python3
"""make check-deb: the Debian package, built and used as a user would.

Builds shmcam_VERSION_ARCH.deb with "dpkg-buildpackage -us -uc -b" from a
copy of the tree (so the tree and its build directories stay as they
are), checks it with lintian (no error, no warning), then boots the
minimal Debian 12 of make check-systemd (tests/systemd/nspawn.py: the
cached root, private mount and network namespaces, an overlay) without
the libraries shmcam links, and prints PASS or FAIL for each of:

  1. "apt-get install ./shmcam_VERSION_ARCH.deb" installs it, with the
     dependencies its shlibs name fetched from the archive;
  2. it installed what it should (every program of the Makefile's
     PROGRAMS, the units, the manual pages, the user, group and
     /run/shmcam) and enabled and started nothing;
  3. a capture on the test pattern and a server, enabled as
     debian/README.Debian says, stream to a client on the host;
  4. reinstalling the package, as an upgrade does, restarts them on the
     new programs, and a client is served again;
  5. "apt-get remove" stops them: no process, no listening socket;
  6. "apt-get purge" leaves nothing of the package but the system user
     and its groups, which Debian leaves (debian/shmcam.postrm says why).

The archive is reached before the run enters its network namespace:
"apt-get update" and "apt-get install --download-only" in the overlay,
with the host's network.  The booted system, which has no way out of
that namespace, then installs from those archives.  Runs as root; stdlib
only.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time

import nspawn
from nspawn import FAILURES, reader, run, say, wait_live
from shmcam import wait_until

CAMERA = "cam"
SERVER = "web"
SIZE = (320, 240)
FPS = 15
PORT = 8081
# About 3 minutes with the Debian root cached (check-systemd, which CI
# runs first, makes it): building the package takes 1 to 2 minutes on 2
# loaded cores, the checks about a minute.  A cold debootstrap adds 2 to
# 7 minutes, depending on the mirror and the load (387 s seen with a load
# average of 13 on 2 cores).
DEADLINE_S = 720
# The units the package installs.
UNITS = ("shmcam-capture@.service", "shmcam-capture-net@.service",
         "shmcam-server@.service", "shmcam-server@.socket",
         "shmcam-rtsp@.service", "shmcam-rtsp@.socket")


def shmcam_version():
    with open(os.path.join(nspawn.ROOT, "common", "opt.h")) as f:
        m = re.search(r'#define\s+SHMCAM_VERSION\s+"([^"]+)"', f.read())
    if not m:
        raise AssertionError("no SHMCAM_VERSION in common/opt.h")
    return m.group(1)


# ------------------------------------------------------------ the package

def tree_files():
    """The tree's files as a clone would have them, with any local
    changes: what git tracks or would track."""
    r = run(["git", "-C", nspawn.ROOT, "ls-files", "-z", "--cached",
             "--others", "--exclude-standard"])
    return [f for f in r.stdout.split("\0")
            if f and os.path.lexists(os.path.join(nspawn.ROOT, f))]


def build_depends():
    with open(os.path.join(nspawn.ROOT, "debian", "control")) as f:
        text = f.read()
    m = re.search(r"^Build-Depends:(.*(?:\n[ \t].*)*)", text, re.M)
    return {re.split(r"[\s(]", d.strip())[0]
            for d in m.group(1).split(",") if d.strip()}


def build_package(pkg_dir, deb_build):
    """Builds and lints the package; returns the .deb's path."""
    version = shmcam_version()
    # The package's version is the programs'; the libraries the Makefile
    # builds with are the package's build dependencies.
    r = run(["dpkg-parsechangelog", "-l",
             os.path.join(nspawn.ROOT, "debian", "changelog"),
             "-S", "Version"])
    if r.stdout.strip() != version:
        raise AssertionError("debian/changelog is at %s, SHMCAM_VERSION "
                             "at %s" % (r.stdout.strip(), version))
    missing = sorted({p for p in deb_build if p.startswith("lib") and
                      p.endswith("-dev")} - build_depends())
    if missing:
        raise AssertionError("the Makefile builds with %s, which "
                             "debian/control's Build-Depends lacks"
                             % ", ".join(missing))

    shutil.rmtree(pkg_dir, ignore_errors=True)
    src = os.path.join(pkg_dir, "shmcam-" + version)
    os.makedirs(src)
    run(["cp", "-a", "--parents", "-t", src] + tree_files(),
        cwd=nspawn.ROOT)
    say("dpkg-buildpackage -us -uc -b in %s" % src)
    with open(os.path.join(pkg_dir, "build.log"), "w") as log:
        r = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"],
                           cwd=src, stdin=subprocess.DEVNULL, stdout=log,
                           stderr=subprocess.STDOUT, timeout=400)
    if r.returncode != 0:
        with open(os.path.join(pkg_dir, "build.log")) as f:
            tail = f.read()[-3000:]
        raise AssertionError("dpkg-buildpackage failed:\n" + tail)
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    deb = os.path.join(pkg_dir, "shmcam_%s_%s.deb" % (version, arch))
    changes = os.path.join(pkg_dir, "shmcam_%s_%s.changes" % (version, arch))

    # lintian says it should not run as root; it has nothing else to
    # complain about when it prints only that.
    r = run(["lintian", "--pedantic", "--info", changes], timeout=300,
            check=False)
    out = [line for line in (r.stdout + r.stderr).splitlines()
           if line and "running with root privileges" not in line]
    for line in out:
        print("lintian: " + line, flush=True)
    bad = [line for line in out if re.match(r"^[EW]: ", line)]
    if bad or r.returncode != 0:
        raise AssertionError("lintian: %d errors and warnings (exit %d)"
                             % (len(bad), r.returncode))
    say("lintian --pedantic --info: %s" % ("%d notes" % len(out) if out
                                           else "nothing to report"))
    return deb


# ------------------------------------------------------------ the checks

class Checks:
    CAP = "shmcam-capture@%s.service" % CAMERA
    SRV = "shmcam-server@%s.service" % SERVER
    SOCK = "shmcam-server@%s.socket" % SERVER

    def __init__(self, ct, build, deb, programs, before):
        self.ct = ct
        self.build = build
        self.deb_in_ct = "/root/" + os.path.basename(deb)
        self.depends = deb_depends(deb)
        self.programs = programs
        self.before = before        # packages of the root, by name
        self.results = []
        self.listing = []           # what dpkg -L said
        self.reader = None

    def apt(self, *args, timeout=180):
        return self.ct.sh("apt-get", "-q", "-y", *args, timeout=timeout,
                          env=["DEBIAN_FRONTEND=noninteractive"])

    def apt_local(self, *args):
        """apt-get ... ./shmcam_VERSION_ARCH.deb, in its directory."""
        return self.ct.sh("sh", "-c", "cd /root && exec apt-get -q -y %s "
                          "./%s" % (" ".join(args),
                                    os.path.basename(self.deb_in_ct)),
                          timeout=180, env=["DEBIAN_FRONTEND=noninteractive"])

    def installed(self):
        out = self.ct.sh("dpkg-query", "-W", "-f",
                         "${Package} ${db:Status-Abbrev}\\n").stdout
        return {line.split()[0] for line in out.splitlines()
                if len(line.split()) > 1 and line.split()[1] == "ii"}

    def exists(self, path):
        return os.path.lexists(self.ct.path(path))

    # 1
    def install(self):
        if "shmcam" in self.installed():
            raise AssertionError("shmcam is installed before the test")
        fetched = sorted(set(self.depends) - self.before)
        if not fetched:
            raise AssertionError("the root already has every dependency "
                                 "(%s): the test would prove nothing"
                                 % ", ".join(self.depends))
        # As a user would, from the directory of the package.  The run's
        # network namespace has no way out: anything apt had to fetch now
        # would fail.  (apt-get's --no-download would say the same, but
        # it refuses a .deb named on the command line.)
        self.apt_local("install")
        now = self.installed()
        lacking = sorted(set(self.depends) - now)
        if "shmcam" not in now or lacking:
            raise AssertionError("after apt-get install: shmcam %s, "
                                 "dependencies missing: %s" % (
                                     "installed" if "shmcam" in now
                                     else "not installed", lacking))
        return ("installed with %s from the archive (Depends: %s)"
                % (", ".join(fetched), ", ".join(self.depends)))

    # 2
    def as_installed(self):
        ct = self.ct
        self.listing = ct.sh("dpkg", "-L", "shmcam").stdout.split()
        version = shmcam_version()
        problems = []
        for prog in self.programs:
            name = os.path.basename(prog)
            r = ct.sh("/usr/bin/" + name, "--version", check=False)
            # The first line; the capture's next ones name its features.
            first = (r.stdout.splitlines() or [""])[0].strip()
            if first != "%s %s" % (name, version):
                problems.append("/usr/bin/%s --version: %r"
                                % (name, r.stdout.strip() or r.stderr))
            if not self.exists("/usr/share/man/man8/%s.8.gz" % name):
                problems.append("no manual page for " + name)
        for unit in UNITS:
            if not self.exists("/lib/systemd/system/" + unit):
                problems.append("no " + unit)
        for f in ("/usr/share/man/man5/shmcam.conf.5.gz",
                  "/usr/share/man/man7/shmcam.7.gz",
                  "/usr/share/doc/shmcam/README.Debian",
                  "/usr/share/doc/shmcam/examples/capture.conf.example",
                  "/usr/share/doc/shmcam/examples/server.conf.example"):
            if not self.exists(f):
                problems.append("no " + f)
        groups = ct.sh("id", "-nG", "shmcam-capture", check=False).stdout
        if set(groups.split()) != {"shmcam-capture", "shmcam", "video"}:
            problems.append("user shmcam-capture in groups %r" % groups)
        st = ct.sh("stat", "-c", "%U:%G %a %F", "/run/shmcam",
                   check=False).stdout.strip()
        if st != "shmcam-capture:shmcam 755 directory":
            problems.append("/run/shmcam: %r" % st)
        # Nothing enabled, nothing started.
        links = [p for p in ct.sh("find", "/etc/systemd/system").stdout
                 .split() if "shmcam" in p]
        if links:
            problems.append("enabled: %s" % links)
        units = ct.sh("systemctl", "list-units", "--all", "--no-legend",
                      "--plain", "shmcam*").stdout.strip()
        if units:
            problems.append("units loaded: %r" % units)
        if ct.processes("shmcam-"):
            problems.append("shmcam processes run")
        if problems:
            raise AssertionError("; ".join(problems))
        return ("%d paths; %s run and have their pages; units, user "
                "shmcam-capture (in shmcam, video), /run/shmcam; nothing "
                "enabled or running" % (len(self.listing), ", ".join(
                    os.path.basename(p) for p in self.programs)))

    # 3
    def enable_and_stream(self):
        ct = self.ct
        nspawn.put(ct.path("/"), "/etc/shmcam/capture-%s.conf" % CAMERA,
                   'SHMCAM_CAPTURE_ARGS="--source pattern --size %dx%d '
                   '--fps %d"\n' % (SIZE[0], SIZE[1], FPS))
        nspawn.put(ct.path("/"), "/etc/shmcam/server-%s.conf" % SERVER,
                   'SHMCAM_SERVER_ARGS="--name %s"\n' % CAMERA)
        # What "systemctl edit shmcam-server@web.socket" makes.
        nspawn.put(ct.path("/"), "/etc/systemd/system/%s.d/override.conf"
                   % self.SOCK, "[Socket]\nListenStream=127.0.0.1:%d\n"
                   % PORT)
        ct.sh("systemctl", "daemon-reload")
        ct.sh("systemctl", "enable", "--now", self.CAP, self.SRV,
              timeout=60)
        for unit in (self.CAP, self.SRV, self.SOCK):
            p = ct.show(unit, "ActiveState", "UnitFileState")
            if p != {"ActiveState": "active", "UnitFileState": "enabled"}:
                raise AssertionError("%s: %s" % (unit, p))
        t = time.monotonic()
        self.reader = reader(PORT)
        wait_live(self.reader, 5, t, 20, "the server's client on the host")
        size = nspawn.jpeg_size(self.build, self.reader.frames[-1].data)
        if size != SIZE:
            raise AssertionError("frames are %dx%d, not %dx%d"
                                 % (size + SIZE))
        status, body = nspawn.http_unix_get(
            ct.path("/run/shmcam/http/%s.sock" % SERVER), "/snapshot")
        if status != 200 or body[:2] != b"\xff\xd8":
            raise AssertionError("/snapshot on the unix socket: %d" % status)
        user = ct.show(self.CAP, "User")["User"]
        return ("%s (as %s) and %s enabled and active; the host's client "
                "got %d live %dx%d frames from 127.0.0.1:%d; /snapshot on "
                "/run/shmcam/http/%s.sock" % (
                    self.CAP, user, self.SRV, self.reader.count(), SIZE[0],
                    SIZE[1], PORT, SERVER))

    # 4
    def upgrade(self):
        """What an upgrade does (the same version, reinstalled: the
        maintainer scripts see an upgrade from it)."""
        ct = self.ct
        pids = {u: ct.main_pid(u) for u in (self.CAP, self.SRV)}
        self.apt_local("install", "--reinstall")
        new = {u: ct.wait_running(u, pids[u], 30) for u in pids}
        if ct.show(self.SOCK, "ActiveState")["ActiveState"] != "active":
            raise AssertionError("%s is not active" % self.SOCK)
        self.reader.stop()
        t = time.monotonic()
        self.reader = reader(PORT)
        wait_live(self.reader, 5, t, 20, "a client after the upgrade")
        return ("both restarted (%s), the socket stayed; a client gets "
                "live frames" % ", ".join("%s %d -> %d" % (
                    u.split("@")[0], pids[u], new[u]) for u in pids))

    # 5
    def remove(self):
        ct = self.ct
        self.apt("remove", "shmcam")
        wait_until(lambda: self.reader.closed or self.reader.error, 10,
                   "the client's stream to end")
        problems = []
        pids = ct.processes("shmcam-")
        if pids:
            problems.append("shmcam processes still run: %s" % pids)
        for unit in (self.CAP, self.SRV, self.SOCK):
            state = ct.show(unit, "ActiveState")["ActiveState"]
            if state not in ("inactive", "failed"):
                problems.append("%s is %s" % (unit, state))
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", PORT)) == 0:
                problems.append("127.0.0.1:%d still accepts" % PORT)
        if self.exists("/usr/bin/shmcam-server"):
            problems.append("/usr/bin/shmcam-server is still there")
        # Removing keeps the configuration; purging removes it.
        if not self.exists("/etc/shmcam/capture-%s.conf" % CAMERA):
            problems.append("remove took the configuration")
        if problems:
            raise AssertionError("; ".join(problems))
        return ("the client's stream ended, no shmcam process, the units "
                "inactive, 127.0.0.1:%d refused; the configuration kept"
                % PORT)

    # 6
    def purge(self):
        ct = self.ct
        self.apt("purge", "shmcam")
        problems = []
        if ct.sh("dpkg-query", "-W", "shmcam", check=False).returncode == 0:
            problems.append("dpkg still knows shmcam")
        for path in self.listing:
            path = os.path.normpath(path)
            if path == "/" or not self.exists(path):
                continue
            # Directories of the system, which other packages share, and
            # the merged /usr's links (/lib -> usr/lib), which no package
            # owns.
            if os.path.isdir(self.ct.path(path)) and (
                    os.path.islink(self.ct.path(path)) or
                    ct.sh("dpkg-query", "-S", path,
                          check=False).returncode == 0):
                continue
            problems.append(path + " is left")
        for d in ("/etc", "/run", "/var/lib/systemd", "/var/lib/dpkg/info",
                  "/dev/shm"):
            left = [p for p in ct.sh("find", d, check=False).stdout.split()
                    if "shmcam" in os.path.basename(p)]
            if left:
                problems.append("left: %s" % ", ".join(left))
        # (It exits 1 when nothing matches.)
        known = ct.sh("systemctl", "list-unit-files", "--no-legend",
                      "--plain", "shmcam*", check=False).stdout.strip()
        if known:
            problems.append("systemd still has %r" % known)
        # Left on purpose, as Debian leaves system users (postrm).
        kept = [n for n in ("passwd shmcam-capture", "group shmcam-capture",
                            "group shmcam")
                if ct.sh("getent", *n.split(), check=False).returncode == 0]
        if problems:
            raise AssertionError("; ".join(problems))
        return ("dpkg forgot it; none of its %d paths left (shared "
                "directories aside), nothing of it in /etc, /run, "
                "/var/lib/systemd, /dev/shm; kept as Debian keeps system "
                "users: %s" % (len(self.listing), ", ".join(kept) or "none"))


def deb_depends(deb):
    """The packages the .deb depends on (first of each alternative)."""
    r = run(["dpkg-deb", "-f", deb, "Depends"])
    return sorted({re.split(r"[\s(|]", d.strip())[0]
                   for d in r.stdout.split(",") if d.strip()})


def main():
    ap = nspawn.arguments(__doc__)
    ap.add_argument("--pkg", default="build-deb",
                    help="where the package is built")
    ap.add_argument("--program", action="append", default=[],
                    help="a program of the Makefile's PROGRAMS")
    ap.add_argument("--deb-build", default="",
                    help="the Makefile's DEB_BUILD list")
    ap.add_argument("--deb", help="test this package instead of building "
                    "one (when working on the checks)")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    session = nspawn.session("check-deb", "deb", args.work, DEADLINE_S,
                             ("dpkg-buildpackage", "lintian", "git"))
    if session is None:
        return 1
    failed = True
    checks = None
    try:
        session.start()
        try:
            deb = (os.path.abspath(args.deb) if args.deb else
                   build_package(os.path.abspath(args.pkg),
                                 args.deb_build.split()))
            # The base root: systemd, and none of the libraries shmcam
            # links beyond what systemd itself needs.
            lower = session.root("base")
        except FAILURES as e:
            print("FAIL check-deb: %s" % e, flush=True)
            return 1
        nspawn.enter_mount_namespace()
        merged = session.overlay(lower)
        shutil.copy(deb, os.path.join(merged, "root"))
        out = run(["chroot", merged, "dpkg-query", "-W", "-f",
                   "${Package}\\n"]).stdout
        before = set(out.split())
        say("apt-get update; apt-get install --download-only %s"
            % os.path.basename(deb))
        nspawn.chroot_apt(merged, "update")
        nspawn.chroot_apt(merged, "install", "--download-only",
                          "/root/" + os.path.basename(deb))
        nspawn.enter_network_namespace()
        checks = Checks(session.boot(), build, deb, args.program, before)
        # Each step needs the one before.
        failed = not nspawn.run_plan(checks.results, [
            (1, "apt-get install ./%s" % os.path.basename(deb),
             checks.install),
            (2, "what it installed, and nothing enabled",
             checks.as_installed),
            (3, "a capture and a server enabled, streaming to the host",
             checks.enable_and_stream),
            (4, "an upgrade restarts them", checks.upgrade),
            (5, "apt-get remove stops them", checks.remove),
            (6, "apt-get purge leaves nothing", checks.purge)],
            stop_on_failure=True)
    except FAILURES as e:
        print("FAIL check-deb: %s: %s" % (type(e).__name__, e), flush=True)
        session.journal_tail()
    finally:
        if checks and checks.reader:
            checks.reader.stop()
        session.close()
    return nspawn.finish("check-deb", session, failed)


if __name__ == "__main__":
    sys.exit(main())
