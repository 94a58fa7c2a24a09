#!/usr/bin/env python3
"""make check-arch: shmcam built for the ARM boards and run on their
kernels, under emulation.

For each architecture named on the command line (arm64, armhf):

  1. Debian packages of that architecture, fetched with apt-get download
     through an apt of its own (WORK/apt: the host's sources, lists and
     cache of its own, no installed packages, the foreign architectures
     known to it alone; the host's dpkg and apt are left as they are):
     the libraries' -dev packages and their
     dependency closure, busybox-static, and the kernel that Debian's
     linux-image-arm64 or linux-image-armmp depends on.  The .deb files
     are kept in WORK/debs, the system root extracted from them in
     WORK/ARCH, keyed by the list of files (apt's answer is kept until its
     lists change).  Nothing is installed on the host.
  2. A cross build through the Makefile into build-ARCH/ (TRIPLET-gcc
     --sysroot=the root, pkg-config reading the root): the programs, the
     unit suites that need no camera, and the tools the checks run.  With
     armhf, also the ring as Raspberry Pi OS's compiler builds it for the
     Pi 1 and Zero (plain ARMv6), checked to be ARMv6KZ code with LDREXD.
  3. An initramfs: busybox, the builds, the shared libraries they load
     (their DT_NEEDED closure, read with readelf from the root), a passwd
     file and tests/arch/init.sh as /init.  The arm64 guest also gets the
     armhf build: 32-bit programs on a 64-bit kernel, as Raspberry Pi OS's
     32-bit system runs on a Pi 3, 4 or 5, whose system calls the kernel
     filters as 32-bit ARM's.
  4. qemu-system-aarch64 and qemu-system-arm side by side, software
     emulation only (no KVM; nothing runs through binfmt_misc).  /init
     runs the checks and prints one "@@check-arch" line for each on the
     serial console; this driver reads the consoles, judges the stream,
     and fails naming every check that failed or never reported.  A guest
     still running at its deadline is killed, and so is any qemu left when
     the driver dies.

--trace runs the programs and the sandbox suite under strace in the
guests (Debian's strace for the guest's architecture) and prints the
system calls each made under its filter: how the 32-bit ARM names in
common/sandbox.c were found.

Runs as any user (apt's lists are its own); stdlib only.
"""

import argparse
import ctypes
import glob
import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

ARCHES = {
    # Cortex-A53: the Raspberry Pi 3 and Zero 2 W, and most arm64 boards.
    "arm64": {
        "triplet": "aarch64-linux-gnu",
        "kernel": "linux-image-arm64",
        "qemu": ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a53"],
        "also": ["armhf"],
    },
    # Cortex-A7: the Raspberry Pi 2, and Debian's armhf baseline (ARMv7).
    # The armmp kernel has no LPAE: no RAM or devices above 4 GiB.
    "armhf": {
        "triplet": "arm-linux-gnueabihf",
        "kernel": "linux-image-armmp",
        "qemu": ["qemu-system-arm", "-M", "virt,highmem=off",
                 "-cpu", "cortex-a7"],
    },
}

# What the guest runs besides the programs: busybox for /init, the
# shared libraries come with the -dev closure.  strace only for --trace.
GUEST_PACKAGES = ("busybox-static", "libc6", "libgcc-s1")
TRACE_PACKAGES = ("strace",)
# Packages of the -dev closure that the cross toolchain provides itself or
# that hold only programs for the build machine: left out with everything
# only they pull in.
NOT_IN_ROOT = re.compile(r"^(libc6-dev|libc-dev-bin|linux-libc-dev|"
                         r"rpcsvc-proto|mawk|gcc-\d+-base)$")

# What the cross build makes (Makefile targets under build-ARCH/).
PROGRAMS = ("shmcam-capture", "shmcam-server", "shmcam-rtsp")
SUITES = ("check_ring", "check_ctl", "check_sandbox")
TOOLS = ("jpeginfo", "loadclient")

# Every check the guest reports; any missing one fails the run.
CHECKS = (["unit:" + s for s in SUITES] +
          ["start", "rtsp", "seccomp:capture", "seccomp:server",
           "seccomp:rtsp", "snapshot", "stream", "sigterm:rtsp",
           "sigterm:server", "sigterm:capture"])

# The guest's camera: the test pattern, small, a modest rate.
SIZE = "320x240"
FPS = 10
STREAM_SECONDS = 5
# Frames the stream must bring in STREAM_SECONDS, and the longest pause
# between two: one a second (a tenth of the rate), and 25 frame periods.
# Under software emulation a guest runs tens of times slower than the
# host and the capture skips frames when its timer is late: measured 13
# to 50 frames and pauses up to 0.73 s on a shared 2-core host with a
# load average of 13.  The bounds still fail a stream that stops, stalls
# or never starts.
MIN_FRAMES = STREAM_SECONDS
MAX_GAP_S = 25.0 / FPS
# One guest, boot to power-off: 47 to 94 s measured for each of the two
# side by side on a shared, loaded 2-core host (155 s with --trace).
# Past this it is killed.
GUEST_DEADLINE_S = 420
# Deadlines of the unit suites (SHMCAM_SLOW, and Check's per-test
# timeouts), stretched for the emulated CPU: tens of times slower than the
# host, as above.
SLOW = 10

T0 = time.monotonic()
say_lock = threading.Lock()


def say(msg, arch=None):
    with say_lock:
        print("[%6.1f s]%s %s" % (time.monotonic() - T0,
                                  " %s:" % arch if arch else "", msg),
              flush=True)


def run(argv, timeout=600, check=True, **kw):
    """Runs argv, returns the CompletedProcess (text output captured)."""
    r = subprocess.run(argv, capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (
            " ".join(argv), r.returncode,
            (r.stderr or r.stdout).strip()[-3000:]))
    return r


# ------------------------------------------------------------ packages

# The private apt (see the docstring): its configuration file, set up by
# private_apt().  Its lists are refreshed when older than this.
APT_CONF = None
APT_LISTS_MAX_AGE_S = 24 * 3600


def private_apt(work, arches):
    """Sets up WORK/apt, an apt that knows the host's sources and the
    foreign architectures, with its own state, lists and cache and an
    empty dpkg status, and refreshes its lists when missing or old.
    Everything apt runs here goes through it (apt_run)."""
    global APT_CONF
    top = os.path.join(work, "apt")
    for d in ("lists/partial", "cache/archives/partial", "conf.d"):
        os.makedirs(os.path.join(top, d), exist_ok=True)
    status = os.path.join(top, "status")
    if not os.path.exists(status):
        open(status, "w").close()
    host = subprocess.run(["dpkg", "--print-architecture"],
                          capture_output=True, text=True).stdout.strip()
    conf = os.path.join(top, "apt.conf")
    lines = [
        'Dir::State "%s";' % top,
        'Dir::State::lists "%s/lists";' % top,
        'Dir::State::status "%s";' % status,
        'Dir::Cache "%s/cache";' % top,
        # The host's sources and keys, none of its other settings.
        'Dir::Etc::SourceList "/etc/apt/sources.list";',
        'Dir::Etc::SourceParts "/etc/apt/sources.list.d";',
        'Dir::Etc::Parts "%s/conf.d";' % top,
        'APT::Architecture "%s";' % (host or "amd64"),
        'APT::Architectures { %s };' % " ".join(
            '"%s";' % a for a in [host or "amd64"] + list(arches)),
        # Downloads as whoever runs this, into directories it owns.
        'APT::Sandbox::User "%s";' % (
            "root" if os.geteuid() == 0 else os.environ.get("USER", "")),
        'Acquire::Languages "none";',
    ]
    with open(conf + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.rename(conf + ".tmp", conf)
    APT_CONF = conf
    lists = glob.glob(os.path.join(top, "lists", "*_Packages*"))
    newest = max((os.stat(f).st_mtime for f in lists), default=0)
    have = all(glob.glob(os.path.join(top, "lists", "*_binary-%s_Packages*"
                                      % a)) for a in arches)
    if not have or time.time() - newest > APT_LISTS_MAX_AGE_S:
        say("refreshing the package lists of %s" % " ".join(arches))
        # A mirror caught mid-sync fails one index ("File has unexpected
        # size", seen for bookworm-security's armhf list) and apt exits
        # 100 keeping the rest: enough when every architecture has lists.
        r = apt_run(["apt-get", "update", "-q"], timeout=900, check=False)
        for a in arches:
            if not glob.glob(os.path.join(top, "lists",
                                          "*_binary-%s_Packages*" % a)):
                raise AssertionError("apt-get update brought no package "
                                     "list for %s: %s" % (
                                         a, (r.stderr or r.stdout)[-2000:]))
        if r.returncode != 0:
            say("apt-get update: %s" % r.stderr.strip().splitlines()[0])


def apt_run(argv, **kw):
    """run() of an apt command, through the private apt."""
    env = dict(os.environ, APT_CONFIG=APT_CONF)
    return run(argv, env=env, **kw)


def closure(packages, arch, prune=None):
    """The dependency closure of packages (names without architecture) for
    arch: Depends and Pre-Depends, no Recommends, packages matching prune
    left out with what only they pull in.  Of alternatives, and of the
    providers of a virtual package, the first, as apt would pick."""
    seen, todo = set(), list(packages)

    def take(name):
        name, _, qual = name.partition(":")
        if qual in ("", arch, "any") and not (prune and prune.match(name)) \
                and name not in seen:
            todo.append(name)

    while todo:
        batch = sorted(set(todo) - seen)
        todo = []
        if not batch:
            break
        seen.update(batch)
        out = apt_run(["apt-cache", "depends", "--no-recommends",
                   "--no-suggests", "--no-conflicts", "--no-breaks",
                   "--no-replaces", "--no-enhances"] +
                  ["%s:%s" % (p, arch) for p in batch]).stdout
        after_bar = want_provider = False
        for line in out.splitlines():
            m = re.match(r"^  (\|)?(?:Pre)?Depends: (\S+)$", line)
            if m is not None:
                # "|Depends:" has the line after it as its alternative.
                alternative, after_bar = after_bar, m.group(1) is not None
                want_provider = False
                if alternative:
                    continue
                if m.group(2).startswith("<"):
                    want_provider = True    # its providers follow
                else:
                    take(m.group(2))
                continue
            m = re.match(r"^    (\S+)$", line)
            if m is not None and want_provider:
                want_provider = False
                take(m.group(1))
            elif not line.startswith(" "):
                after_bar = want_provider = False
    return sorted(seen)


def deb_files(packages, arch):
    """{package: .deb file name} of packages:arch, as apt would fetch."""
    qual = ["%s:%s" % (p, arch) for p in packages]
    out = apt_run(["apt-get", "download", "--print-uris"] + qual).stdout
    files = re.findall(r"^'\S+' (\S+) \d+ ", out, re.M)
    if len(files) != len(qual):
        raise AssertionError("apt-get knows %d of the %d packages for %s"
                             % (len(files), len(qual), arch))
    # A .deb is named PACKAGE_VERSION_ARCH.deb.
    return {f.split("_")[0]: f for f in files}


def kernel_package(arch):
    """The versioned kernel package the board's metapackage names."""
    meta = ARCHES[arch]["kernel"]
    out = apt_run(["apt-cache", "depends", "%s:%s" % (meta, arch)]).stdout
    m = re.search(r"Depends: (linux-image-\S+?)(:\S+)?$", out, re.M)
    if m is None:
        raise AssertionError("%s:%s depends on no kernel" % (meta, arch))
    return m.group(1)


def resolve(request, arch, adir):
    """({package: file} of the closure of request, (kernel package, file))
    for arch.  Asking apt takes a while: the answer is kept in adir until
    apt's lists for arch change."""
    lists = sorted(glob.glob(os.path.join(os.path.dirname(APT_CONF),
                                          "lists", "*_binary-%s_Packages*"
                                          % arch)))
    if not lists:
        raise AssertionError("apt has no package lists for %s" % arch)
    state = [" ".join(request), ARCHES[arch]["kernel"]] + [
        "%s %d %d" % (f, os.stat(f).st_mtime, os.stat(f).st_size)
        for f in lists]
    path = os.path.join(adir, "resolved-%s.json" % key_of(state))
    if os.path.exists(path):
        with open(path) as f:
            r = json.load(f)
        return r["files"], tuple(r["kernel"])
    for old in glob.glob(os.path.join(adir, "resolved-*.json")):
        os.unlink(old)
    files = deb_files(closure(request, arch, NOT_IN_ROOT), arch)
    kpkg = kernel_package(arch)
    kernel = (kpkg, deb_files([kpkg], arch)[kpkg])
    with open(path + ".tmp", "w") as f:
        json.dump({"files": files, "kernel": kernel}, f, indent=1)
    os.rename(path + ".tmp", path)
    return files, kernel


def download(files, arch, debdir):
    """The .deb files ({package: file}) into debdir, those missing."""
    missing = [p for p, f in files.items()
               if not os.path.exists(os.path.join(debdir, f))]
    if missing:
        say("downloading %d packages" % len(missing), arch)
        apt_run(["apt-get", "download", "-q"] +
            ["%s:%s" % (p, arch) for p in missing], cwd=debdir, timeout=900)
    for f in files.values():
        if not os.path.exists(os.path.join(debdir, f)):
            raise AssertionError("apt-get download did not fetch " + f)


def relink_absolute(root):
    """Absolute symbolic links inside root point into root, as they would
    on the target (libfoo.so -> /lib/...); the linker follows them here."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                continue
            target = os.readlink(path)
            if target.startswith("/"):
                os.unlink(path)
                os.symlink(os.path.relpath(root + target, dirpath), path)


def extract(debdir, files, dest, stamp_key):
    """dest extracted from files (cached: stamp_key names its content)."""
    stamp = os.path.join(dest, ".check-arch-" + stamp_key)
    if os.path.exists(stamp):
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    tmp = dest + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for f in files:
        run(["dpkg-deb", "-x", os.path.join(debdir, f), tmp])
    relink_absolute(tmp)
    # A -dev package's libfoo.so whose library is missing would have the
    # linker take libfoo.a instead, in silence.
    for path in glob.glob(os.path.join(tmp, "usr/lib/*/*.so")):
        if not os.path.exists(path):
            raise AssertionError("%s: %s points to no library: a package "
                                 "is missing from the root" % (
                                     dest, os.path.relpath(path, tmp)))
    open(os.path.join(tmp, ".check-arch-" + stamp_key), "w").close()
    os.rename(tmp, dest)
    return dest


def key_of(items):
    return hashlib.sha256(" ".join(items).encode()).hexdigest()[:12]


def prepare_root(arch, dev, work, trace):
    """The system root of arch (sysroot for the build, libraries for the
    guest) and the kernel image; both cached."""
    debdir = os.path.join(work, "debs")
    adir = os.path.join(work, arch)
    os.makedirs(debdir, exist_ok=True)
    os.makedirs(adir, exist_ok=True)
    files, (kpkg, kfile) = resolve(
        list(dev) + list(GUEST_PACKAGES) +
        (list(TRACE_PACKAGES) if trace else []), arch, adir)
    download(dict(files, **{kpkg: kfile}), arch, debdir)

    key = key_of(sorted(files.values()))
    for old in os.listdir(adir):
        if old.startswith("root-") and old != "root-" + key:
            say("removing stale root %s" % old, arch)
            shutil.rmtree(os.path.join(adir, old), ignore_errors=True)
    root = os.path.join(adir, "root-" + key)
    if not os.path.exists(root):
        say("system root from %d packages" % len(files), arch)
    extract(debdir, sorted(files.values()), root, key)

    image = os.path.join(adir, "vmlinuz-" + key_of([kfile]))
    if not os.path.exists(image):
        # Only the image: the modules are not needed (the guest has no
        # devices besides its serial console).
        tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile",
                                os.path.join(debdir, kfile)],
                               stdout=subprocess.PIPE)
        with tarfile.open(fileobj=tar.stdout, mode="r|") as tf:
            for member in tf:
                if re.match(r"^\./boot/vmlinuz-", member.name):
                    with open(image + ".tmp", "wb") as f:
                        shutil.copyfileobj(tf.extractfile(member), f)
                    break
        # The rest unread, for dpkg-deb to finish writing.
        shutil.copyfileobj(tar.stdout, open(os.devnull, "wb"))
        tar.wait()
        if not os.path.exists(image + ".tmp"):
            raise AssertionError("no kernel image in " + kfile)
        os.rename(image + ".tmp", image)
    return root, image, kfile


# ------------------------------------------------------------ cross build

def cross_build(arch, root, build, flags="", targets=None):
    """Both programs, the suites and tools (or targets) built for arch
    into build, the compiler given flags.  A build made against another
    root is thrown away first: make knows nothing of the compiler's
    command line or the libraries."""
    t = ARCHES[arch]["triplet"]
    stamp = os.path.join(build, ".check-arch-root")
    old = open(stamp).read() if os.path.exists(stamp) else None
    if old != root + " " + flags:
        shutil.rmtree(build, ignore_errors=True)
    os.makedirs(build, exist_ok=True)
    with open(stamp, "w") as f:
        f.write(root + " " + flags)
    # Not the flags of a make that runs this (a jobserver, SANITIZE=).
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.update(PKG_CONFIG_LIBDIR=os.path.join(root, "usr/lib", t,
                                              "pkgconfig") + ":" +
               os.path.join(root, "usr/share/pkgconfig"),
               PKG_CONFIG_SYSROOT_DIR=root)
    if targets is None:
        targets = ["all"] + ["%s/tests/%s" % (build, n)
                             for n in SUITES + TOOLS]
    say("make BUILD=%s (%s-gcc%s)" % (build, t, " " + flags if flags
                                      else ""), arch)
    start = time.monotonic()
    run(["make", "--no-print-directory", "-C", ROOT, "-j%d" % os.cpu_count(),
         "BUILD=" + build, "SANITIZE=",
         "CC=%s-gcc --sysroot=%s %s" % (t, root, flags),
         "PKG_CONFIG=pkg-config"] + targets, env=env, timeout=900)
    say("built in %.0f s" % (time.monotonic() - start), arch)


# Raspberry Pi OS's compiler targets plain ARMv6 (armv6, VFP, ARM mode).
ARMV6_FLAGS = "-march=armv6+fp -marm"


def check_armv6(root, build):
    """(PASS|FAIL, detail): the ring built as by Raspberry Pi OS's compiler
    is ARMv6KZ code that loads its 64-bit words with LDREXD, not through
    libatomic (the Makefile adds -march=armv6kz+fp; common/ring.h)."""
    obj = os.path.join(build, "common/ring.o")
    if os.path.exists(obj):
        os.unlink(obj)      # one file: always built afresh
    try:
        cross_build("armhf", root, build, ARMV6_FLAGS, [obj])
    except AssertionError as e:
        return "FAIL", "%s: %s" % (ARMV6_FLAGS, str(e)[-400:])
    attrs = run(["readelf", "-A", obj]).stdout
    code = run(["arm-linux-gnueabihf-objdump", "-d", obj]).stdout
    arch = re.search(r"Tag_CPU_arch: (\S+)", attrs)
    arch = arch.group(1) if arch else "unknown"
    ldrexd = len(re.findall(r"\bldrexd\b", code))
    calls = sorted(set(re.findall(r"<(__atomic_\w+|__sync_\w+)", code)))
    detail = "%s: CPU arch %s, %d LDREXD, library calls: %s" % (
        ARMV6_FLAGS, arch, ldrexd, ", ".join(calls) or "none")
    ok = arch == "v6KZ" and ldrexd > 0 and not calls
    return ("PASS" if ok else "FAIL"), detail


# ------------------------------------------------------------ initramfs

def elf_info(path):
    """(interpreter or None, [DT_NEEDED names]) of an ELF file."""
    out = run(["readelf", "-W", "-l", "-d", path]).stdout
    interp = re.search(r"Requesting program interpreter: (\S+)\]", out)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(\S+)\]", out)
    return interp.group(1) if interp else None, needed


def library_closure(arch, root, elves):
    """{path in the guest: path in root} of the dynamic loader and every
    library the ELF files need, transitively."""
    t = ARCHES[arch]["triplet"]
    dirs = [os.path.join(root, d, t) for d in ("lib", "usr/lib")]
    found, todo = {}, list(elves)
    while todo:
        interp, needed = elf_info(todo.pop())
        if interp and interp not in found:
            found[interp] = os.path.realpath(root + interp)
        for lib in needed:
            guest = "/lib/%s/%s" % (t, lib)
            if guest in found:
                continue
            for d in dirs:
                if os.path.exists(os.path.join(d, lib)):
                    found[guest] = os.path.realpath(os.path.join(d, lib))
                    todo.append(found[guest])
                    break
            else:
                raise AssertionError("%s: no %s in the root" % (arch, lib))
    return found


def make_initramfs(arch, builds, out, trace):
    """A gzip'ed cpio with /init, busybox, and each build of builds
    ({arch: (root, build directory)}) with the libraries it loads."""
    tree = out + ".d"
    shutil.rmtree(tree, ignore_errors=True)
    files = {}
    for barch, (root, build) in builds.items():
        t = ARCHES[barch]["triplet"]
        elves = {}
        for name in PROGRAMS:
            elves[name] = os.path.join(build, name)
        for name in SUITES + TOOLS:
            elves[name] = os.path.join(build, "tests", name)
        # glibc loads libgcc_s itself, to unwind a thread that is
        # cancelled: not a DT_NEEDED of anything.
        gcc_s = "/lib/%s/libgcc_s.so.1" % t
        files[gcc_s] = os.path.realpath(root + gcc_s)
        if trace and barch == arch:
            files["/usr/bin/strace"] = os.path.join(root, "usr/bin/strace")
        files.update(library_closure(barch, root, list(elves.values()) + [
            files[gcc_s]] + ([files["/usr/bin/strace"]]
                             if trace and barch == arch else [])))
        for name, path in elves.items():
            files["/opt/shmcam/%s/%s" % (barch, name)] = path
    files["/bin/busybox"] = os.path.join(builds[arch][0], "bin/busybox")
    files["/init"] = os.path.join(HERE, "init.sh")
    for guest, host in files.items():
        dst = tree + guest
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(host, dst)
        os.chmod(dst, 0o755)

    def put(path, text):
        full = tree + path
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)

    # The capture drops root to shmcam; the server runs as viewer, a
    # member of the capture's server group (shmcam).  nobody: the
    # capture's default user, as check_ctl starts it.
    put("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
        "shmcam:x:1000:1000:capture:/nonexistent:/bin/false\n"
        "viewer:x:1001:1000:server:/nonexistent:/bin/false\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    put("/etc/group", "root:x:0:\nshmcam:x:1000:viewer\n"
        "nogroup:x:65534:\n")
    put("/etc/nsswitch.conf", "passwd: files\ngroup: files\n")
    put("/etc/check-arch.conf",
        "BUILDS='%s'\nSIZE=%s\nFPS=%d\nSTREAM_SECONDS=%d\nTRACE=%d\n"
        "SLOW=%d\n" % (" ".join(builds), SIZE, FPS, STREAM_SECONDS,
                       int(trace), SLOW))
    listing = run(["find", ".", "-mindepth", "1"], cwd=tree).stdout
    r = subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"],
                       cwd=tree, input=listing.encode(),
                       capture_output=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError("cpio: " + r.stderr.decode(errors="replace"))
    with gzip.open(out, "wb", compresslevel=1) as f:
        f.write(r.stdout)
    shutil.rmtree(tree)
    say("initramfs with the %s build%s: %.1f MB"
        % (" and ".join(builds), "s" if len(builds) > 1 else "",
           os.path.getsize(out) / 1e6), arch)


# ------------------------------------------------------------ the guest

PR_SET_PDEATHSIG = 1
libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent():
    """qemu gets SIGKILL if this driver dies first."""
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Guest:
    """One emulated machine: boots, runs /init, powers off."""

    def __init__(self, arch, image, initrd, log_path, smp):
        self.arch = arch
        self.log_path = log_path
        self.argv = ARCHES[arch]["qemu"] + [
            "-accel", "tcg", "-smp", str(smp), "-m", "512",
            "-display", "none", "-monitor", "none", "-serial", "stdio",
            "-nic", "none", "-no-reboot",
            "-kernel", image, "-initrd", initrd,
            "-append", "console=ttyAMA0 panic=-1 quiet rdinit=/init"]
        self.lines = []
        self.timed_out = False
        self.seconds = 0.0
        self.returncode = None

    def run(self):
        start = time.monotonic()
        with open(self.log_path, "w") as log:
            log.write("# " + " ".join(self.argv) + "\n")
            p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT,
                                 preexec_fn=die_with_parent)
            timer = threading.Timer(GUEST_DEADLINE_S, self._kill, (p,))
            timer.start()
            try:
                for raw in p.stdout:
                    line = raw.decode(errors="replace").rstrip("\r\n")
                    log.write(line + "\n")
                    log.flush()
                    self.lines.append(line)
                    if re.match(r"^@@check-arch (PASS|FAIL) ", line):
                        say(line[len("@@check-arch "):], self.arch)
                self.returncode = p.wait()
            finally:
                timer.cancel()
                if p.poll() is None:
                    p.kill()
                    p.wait()
        self.seconds = time.monotonic() - start

    def _kill(self, p):
        self.timed_out = True
        p.kill()

    def reports(self):
        """{(build, check): (PASS|FAIL, detail)}, {(build, name): data},
        [(build, program, calls)]."""
        results, data, trace = {}, {}, []
        for line in self.lines:
            m = re.match(r"^@@check-arch (PASS|FAIL|DATA|TRACE) (\S+) (\S+) ?"
                         r"(.*)$", line)
            if m is None:
                continue
            kind, build, name, rest = m.groups()
            if kind == "DATA":
                data[build, name] = rest
            elif kind == "TRACE":
                trace.append((build, name, rest))
            else:
                results[build, name] = (kind, rest)
        return results, data, trace


def judge_stream(raw):
    """(PASS|FAIL, detail) of the loadclient report of the stream."""
    try:
        r = json.loads(raw)
    except ValueError:
        return "FAIL", "no loadclient report: %r" % raw[:200]
    fast = r.get("fast", {})
    detail = ("%d frames in %.0f s, all decoded: %s, longest gap %.2f s" %
              (fast.get("frames", 0), r.get("duration", 0),
               fast.get("decode_failures", -1) == 0,
               fast.get("gap_max", -1)))
    if r.get("errors"):
        return "FAIL", "%s; errors: %s" % (detail, r["errors"])
    if fast.get("frames", 0) < MIN_FRAMES:
        return "FAIL", "%s; fewer than %d frames" % (detail, MIN_FRAMES)
    if fast.get("decode_failures", -1) != 0:
        return "FAIL", detail
    if not 0 <= fast.get("gap_max", -1) <= MAX_GAP_S:
        return "FAIL", "%s; above %.1f s" % (detail, MAX_GAP_S)
    return "PASS", detail


# ------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default="build-arch",
                    help="packages, roots, logs (default build-arch)")
    ap.add_argument("--dev", required=True,
                    help="the libraries' -dev packages, space-separated")
    ap.add_argument("--build-prefix", default="build-",
                    help="cross builds go to PREFIX + ARCH")
    ap.add_argument("--smp", type=int, default=1,
                    help="CPUs of each guest (default 1)")
    ap.add_argument("--trace", action="store_true",
                    help="report each program's system calls (strace)")
    ap.add_argument("arches", nargs="+", choices=sorted(ARCHES))
    args = ap.parse_args()
    os.chdir(ROOT)
    args.work = os.path.abspath(args.work)
    os.makedirs(args.work, exist_ok=True)
    tools = ["apt-get", "apt-cache", "dpkg-deb", "readelf", "cpio", "make"]
    for arch in args.arches:
        tools += [ARCHES[arch]["triplet"] + "-gcc", ARCHES[arch]["triplet"] +
                  "-objdump", ARCHES[arch]["qemu"][0]]
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        print("check-arch needs %s: make deps installs them on an x86-64 "
              "host" % ", ".join(missing))
        return 1

    private_apt(args.work, sorted(set(a for arch in args.arches for a in
                                      [arch] + ARCHES[arch].get("also", []))))
    builds, kernels = {}, {}
    failed = []
    for arch in args.arches:
        root, image, kfile = prepare_root(arch, args.dev.split(), args.work,
                                          args.trace)
        build = args.build_prefix + arch
        cross_build(arch, root, build)
        builds[arch] = (root, build)
        kernels[arch] = (image, kfile)
    if "armhf" in builds:
        armv6 = check_armv6(builds["armhf"][0], args.build_prefix + "armv6")
        print("%s armv6 (Raspberry Pi OS) build of the ring: %s" % armv6)
        if armv6[0] != "PASS":
            failed.append("the armv6 build of the ring")
    guests = []
    for arch in args.arches:
        # A 64-bit ARM kernel also runs the 32-bit build, as Raspberry Pi
        # OS's 32-bit system does on a Pi 3, 4 or 5.
        runs = {a: builds[a] for a in [arch] + ARCHES[arch].get("also", [])
                if a in builds}
        initrd = os.path.join(args.work, arch, "initramfs.gz")
        make_initramfs(arch, runs, initrd, args.trace)
        g = Guest(arch, kernels[arch][0], initrd,
                  os.path.join(args.work, arch, "console.log"), args.smp)
        g.builds = list(runs)
        guests.append((g, threading.Thread(target=g.run)))
    # Side by side: each guest has one CPU, the host has two.
    for g, th in guests:
        say("booting %s under %s" % (kernels[g.arch][1],
                                     ARCHES[g.arch]["qemu"][0]), g.arch)
        th.start()
    for g, th in guests:
        th.join()
        results, data, trace = g.reports()
        say("guest ran %.0f s%s: %s" % (
            g.seconds, ", killed at the deadline" if g.timed_out else "",
            data.get(("-", "machine"), "no report")), g.arch)
        for build, prog, calls in trace:
            print("%s kernel, %s build: %s made under its filter: %s"
                  % (g.arch, build, prog, calls))
        for build in g.builds:
            where = "%s kernel, %s build" % (g.arch, build)
            if (build, "stream") in data:
                results[build, "stream"] = judge_stream(data[build, "stream"])
            for name in CHECKS:
                kind, detail = results.get((build, name),
                                           ("FAIL", "never reported"))
                print("%s %s: %s: %s" % (kind, where, name, detail))
                if kind != "PASS":
                    failed.append("%s: %s" % (where, name))
        if not any(line.startswith("@@check-arch END") for line in g.lines):
            print("%s: the console's last lines:\n    %s" % (
                g.arch, "\n    ".join(g.lines[-30:])))
            failed.append("%s kernel: /init did not finish%s" % (
                g.arch, " (killed at %d s)" % GUEST_DEADLINE_S
                if g.timed_out else ""))
    if failed:
        print("check-arch FAILED: %s (consoles: %s/*/console.log)" % (
            "; ".join(failed), args.work))
        return 1
    print("check-arch passed: %s (%.0f s)" % (" ".join(args.arches),
                                              time.monotonic() - T0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
