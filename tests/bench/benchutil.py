"""What the benchmarks in tests/bench share (not a benchmark itself:
make bench runs only bench_*.py): where the binaries are, the CPU time of
a process's threads, the machine's description and the commit measured,
stopping processes and waiting for a condition with a deadline."""

import json
import os
import platform
import signal
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from shmcam import RingWatch  # noqa: E402,F401 - for the benchmarks
BUILD = os.path.join(ROOT, os.environ.get("SHMCAM_BUILD", "build"))
CAPTURE = os.path.join(BUILD, "shmcam-capture")
# What a capture started as root is told to become: it has no default
# user outside an install (shmcam-capture(8), --user).
CAPTURE_USER = ["--user", "nobody"] if os.geteuid() == 0 else []
SERVER = os.path.join(BUILD, "shmcam-server")
LOADCLIENT = os.path.join(BUILD, "tests", "loadclient")
ENCBENCH = os.path.join(BUILD, "tests", "encbench")
COPYBENCH = os.path.join(BUILD, "tests", "copybench")
SIM_SO = os.path.join(BUILD, "tests", "libv4l2sim.so")
# Attaches to a capture as a server does and writes what the H.264 ring
# publishes (tests/tools/h264dump.c).
H264DUMP = os.path.join(BUILD, "tests", "h264dump")
RESULTS = os.path.join(HERE, "results")

# The simulated camera's producer thread (tests/v4l2sim/sim.h
# SIM_THREAD_NAME): it lives in the process of the program it serves and
# is the camera's cost, not the program's.
SIM_THREAD = "v4l2sim"


def task_cpu_ns(pid, tid):
    """On-CPU time of one thread, ns (/proc/PID/task/TID/schedstat)."""
    with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
        return int(f.read().split()[0])


def thread_times(pids):
    """{(program, thread name, tid): on-CPU ns} of every thread of pids."""
    out = {}
    for pid in pids:
        try:
            prog = os.path.basename(os.readlink("/proc/%d/exe" % pid))
        except OSError:
            prog = "?"
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                    comm = f.read().strip()
                out[(prog, comm, tid)] = task_cpu_ns(pid, tid)
            except OSError:
                pass    # the thread just ended
    return out


def threads_cpu_ns(pids, exclude=SIM_THREAD):
    """On-CPU time of every thread of pids except those named exclude."""
    return sum(ns for (_, comm, _), ns in thread_times(pids).items()
               if exclude is None or comm != exclude)


def cpu_seconds(pid):
    """User + system CPU time of a process (/proc/PID/stat), seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def frames_sent(port, timeout=10, kind=None):
    """Frames a shmcam-server has queued to its MJPEG stream clients
    (/state), or with kind to its clients of that kind of stream
    ("mjpeg", "mp4": /state's streams)."""
    with urllib.request.urlopen("http://127.0.0.1:%d/state" % port,
                                timeout=timeout) as r:
        cams = json.load(r)["cameras"]
    if kind:
        return sum(c["streams"][kind]["frames_sent"] for c in cams)
    return sum(c["frames_sent"] for c in cams)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return "%s, %d CPUs, Linux %s, Python %s" % (
        model, os.cpu_count(), platform.release(),
        platform.python_version())


def commit():
    """The commit of the tree being measured, "-dirty" when it has
    uncommitted changes, "?" outside a git checkout: every figure in
    tests/bench/results names the code it measured (docs/performance.md)."""
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short",
                              "HEAD"], capture_output=True, text=True,
                             timeout=10)
        if rev.returncode != 0:
            return "?"
        dirty = subprocess.run(["git", "-C", ROOT, "diff", "--quiet",
                                "HEAD", "--"], timeout=10).returncode != 0
    except (OSError, subprocess.SubprocessError):
        return "?"
    return rev.stdout.strip() + ("-dirty" if dirty else "")


def pct(values, p):
    """The p-quantile (0..1) of values, 0 if there are none."""
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))] if s else 0.0


def publication_delays(index):
    """Seconds from capture to publication of each H.264 access unit of
    an h264dump -i index file (its last line may be cut: h264dump is
    stopped by a signal)."""
    out = []
    with open(index) as f:
        for line in f:
            w = line.split()
            if len(w) >= 10 and w[0] == "au":
                out.append((int(w[6]) - int(w[5])) / 1e9)
    return out


def encode_times(index):
    """Seconds each H.264 access unit of an h264dump -i index file took
    the capture to encode (wall clock): the difference of the ring's
    encoding counters between two units one sequence apart, where the
    capture counted exactly one encode between them (h264dump reads the
    counters just after each unit; a unit read late, after the next was
    counted, is left out)."""
    out, prev = [], None
    with open(index) as f:
        for line in f:
            w = line.split()
            if len(w) < 12 or w[0] != "au":
                continue
            seq, ns, n = int(w[1]), int(w[10]), int(w[11])
            if prev is not None and seq == prev[0] + 1 and n == prev[2] + 1:
                out.append((ns - prev[1]) / 1e9)
            prev = (seq, ns, n)
    return out


def write_results(path, what, script, how, lines, command=None):
    """A results file: what was measured, when, on which commit and
    machine, how (runs, sizes, settings), the command (make bench's unless
    given), then the lines."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("# %s (tests/bench/%s), %s\n" % (
            what, script, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())))
        f.write("# commit: %s; machine: %s\n" % (commit(), machine()))
        f.write("# %s\n" % how)
        f.write("# command: %s\n" % (
            command or "make bench (or SHMCAM_BUILD=build python3 "
            "tests/bench/%s)" % script))
        for line in lines:
            f.write(line + "\n")
    print("wrote", path)


def render_mandelbrot(path, width, height, fps, pictures):
    """Content with motion across the whole picture for the simulated
    camera (V4L2SIM_FILE): ffmpeg's mandelbrot source (a continuous zoom,
    every pixel changes every frame), raw 4:2:0 pictures."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi",
                    "-i", "mandelbrot=size=%dx%d:rate=%d" % (width, height,
                                                             fps),
                    "-frames:v", str(pictures), "-pix_fmt", "yuv420p",
                    "-f", "rawvideo", "-y", path], check=True, timeout=600)


def render_pan(path, width, height, fps, pictures, tmp):
    """Content with motion across the whole picture as a camera that pans
    makes it (a robot's, a pan-tilt head's): a window of width x height
    moving 8 pixels right and 3 down a frame over a still of ffmpeg's
    mandelbrot at twice the size (fine detail along the set's edge,
    smooth colour elsewhere), then back the same way, so that the loop
    has no cut; raw 4:2:0 pictures, 2 * pictures - 2 of them."""
    still = os.path.join(tmp, "pan-still.png")
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi",
                    "-i", "mandelbrot=size=%dx%d:rate=%d:start_scale=1.5"
                    % (2 * width, 2 * height, fps), "-vf",
                    "select=eq(n\\,40)", "-frames:v", "1", "-y", still],
                   check=True, timeout=600)
    fwd = path + ".fwd"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-loop", "1",
                    "-i", still, "-vf", "crop=%d:%d:x=%d+n*8:y=%d+n*3,"
                    "format=yuv420p" % (width, height, width // 3,
                                        height * 5 // 12),
                    "-r", str(fps), "-frames:v", str(pictures), "-f",
                    "rawvideo", "-y", fwd], check=True, timeout=600)
    size = width * height * 3 // 2
    with open(fwd, "rb") as f:
        pics = [f.read(size) for _ in range(pictures)]
    os.unlink(fwd)
    os.unlink(still)
    with open(path, "wb") as f:
        f.write(b"".join(pics + pics[-2:0:-1]))


def wait_for(cond, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for " + what)
        time.sleep(interval)


def stop_all(procs, timeout=20):
    """SIGTERM to each process still running, newest first; SIGKILL to
    one that does not exit within timeout."""
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def save_results(stem, out, text):
    """tests/bench/results/STEM.json (out) and STEM.txt (text)."""
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, stem + ".json"), "w") as f:
        json.dump(out, f, indent=1)
    with open(os.path.join(RESULTS, stem + ".txt"), "w") as f:
        f.write(text)
