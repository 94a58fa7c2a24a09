"""The fixed cost of a camera frame: what the capture and one server spend
per frame of the camera, with no server attached, with a server and no
client, and with 1, 2 and N clients.  Not a benchmark (make bench does
not run it): the "before" and "after" of a change to the per-frame path,
in figures that are stable on a shared, noisy machine.

    python3 tests/bench/profile_frame.py [--tool cpu|strace|callgrind]
        [--seconds S] [--clients 1,2,100] [--top K] [-- SERVER-OPTIONS...]

--tool cpu (default) runs natively and gives each thread's CPU time and
wake-ups (times it was put on a CPU, /proc/PID/task/TID/schedstat) per
camera frame; the CPU times move with the machine's load, the wake-ups
hardly do.  --tool strace counts each process's system calls (strace -c
-f) per camera frame.  --tool callgrind runs the capture and the server
under valgrind --tool=callgrind and gives their instructions per camera
frame (user space only: the kernel's work is in the system calls and
wake-ups), with the top K functions of each.

One capture on the simulated camera (MJPEG 1280x720 at 30 fps, passed
through, as in bench_ustreamer.py); the simulator's producer thread
(v4l2sim) is the camera's cost and left out.  The camera frames are
counted from the ring, through a mapping whose control connection is
closed at once, so the counting costs the capture nothing.  Scenarios,
in this order: the capture alone; a server attached with no client; the
load client (build/tests/loadclient) with each --clients count.
"""

import argparse
import json
import re
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from benchutil import (CAPTURE, CAPTURE_USER, LOADCLIENT, SERVER, SIM_SO,
                       RingWatch, SIM_THREAD, frames_sent, stop_all,
                       wait_for)
from profile_server import self_costs

FPS = 30


def schedstat(pid):
    """{tid: (thread name, on-CPU ns, times put on a CPU)} of pid."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                comm = f.read().strip()
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                ns, _, runs = (int(x) for x in f.read().split())
            out[tid] = (comm, ns, runs)
        except OSError:
            pass
    return out


class Rig:
    def __init__(self, tmp, tool):
        self.tmp, self.tool = tmp, tool
        devdir = os.path.join(tmp, "dev")
        os.mkdir(devdir)
        os.chmod(devdir, 0o777)
        dev = os.path.join(devdir, "video0")
        open(dev, "w").close()
        os.chmod(dev, 0o666)    # a capture that runs as nobody opens it
        self.name = "pfr%d" % os.getpid()
        self.procs = {}
        env = dict(os.environ, LD_PRELOAD=SIM_SO, V4L2SIM_DEVICE=dev,
                   V4L2SIM_FORMATS="MJPG:1280x720@30")
        argv = [CAPTURE, "--name", self.name, "--source", "v4l2:" + dev,
                "--format", "MJPEG", "--size", "1280x720"]
        self.as_user = []
        if tool == "callgrind" and os.geteuid() == 0:
            # valgrind's control pipes (vgdb) work only between processes
            # of one user, and those of a process that changed its user
            # not at all: the capture runs as nobody from the start, its
            # control socket in a directory of nobody's.
            self.as_user = ["setpriv", "--reuid", "nobody", "--regid",
                            "nogroup", "--clear-groups"]
            run = os.path.join(tmp, "run")
            os.mkdir(run)
            pw = pwd.getpwnam("nobody")
            os.chown(run, pw.pw_uid, pw.pw_gid)
            self.ctl = os.path.join(run, "ctl.sock")
        else:
            argv += CAPTURE_USER
            self.ctl = os.path.join(tmp, "ctl.sock")
        self.start("capture", self.as_user + argv + ["--ctl", self.ctl],
                   env)
        wait_for(lambda: os.path.exists(self.ctl), 60, "the capture")
        # Attached only long enough to map the ring: the capture then
        # forgets it, and wakes no eventfd of ours per frame.
        self.watch = RingWatch(self.ctl)
        self.watch.sock.close()
        wait_for(lambda: self.watch.latest() > 0, 60, "the first frame")

    def wrapper(self, label):
        if self.tool != "callgrind":
            return []
        # Where the capture, no longer root, can write its dumps.
        cgdir = os.path.join(self.tmp, "cg")
        if not os.path.isdir(cgdir):
            os.mkdir(cgdir)
            os.chmod(cgdir, 0o777)
        return ["valgrind", "--tool=callgrind", "--separate-threads=yes",
                "--dump-instr=no", "--vgdb-prefix=" + self.vgdb(label),
                "--callgrind-out-file=" + os.path.join(cgdir, "cg-" + label)]

    def vgdb(self, label):
        return os.path.join(self.tmp, "cg", "vgdb-" + label)

    def callgrind_control(self, label, action):
        """callgrind_control action on the process label, as its user."""
        user = self.as_user if label == "capture" else []
        subprocess.run(user + ["callgrind_control", "--vgdb-prefix=" +
                               self.vgdb(label), action,
                               str(self.procs[label].pid)],
                       check=True, capture_output=True, timeout=120)

    def start(self, label, argv, env=None):
        if self.tool == "callgrind":
            user = argv[:len(self.as_user)] if label == "capture" else []
            argv = user + self.wrapper(label) + argv[len(user):] + [
                "--no-sandbox"]
        log = open(os.path.join(self.tmp, label + ".log"), "w")
        self.procs[label] = subprocess.Popen(argv, env=env, stdout=log,
                                             stderr=subprocess.STDOUT)
        return self.procs[label]

    def start_server(self, args):
        argv = [SERVER, "--name", self.name, "--ctl", self.ctl, "--listen",
                "127.0.0.1:0", "--max-clients", "4000"] + args
        if os.geteuid() == 0:
            argv.append("--allow-root")
        self.start("server", argv)
        log = os.path.join(self.tmp, "server.log")
        port = []

        def listening():
            for line in open(log):
                if "listening on http://127.0.0.1:" in line:
                    port.append(int(line.rsplit(":", 1)[1].strip("/\n")))
            return bool(port)
        wait_for(listening, 120, "the server", 0.2)
        wait_for(lambda: "attached" in open(log).read(), 120,
                 "the server to attach", 0.2)
        self.port = port[0]

    def stop(self):
        stop_all(list(self.procs.values()), timeout=60)


def measure(rig, seconds, tmp, tag):
    """Runs the tool over seconds of camera frames; {process: figures}."""
    pids = {label: p.pid for label, p in rig.procs.items()}
    f0 = frames_sent(rig.port, 60) if "server" in pids else 0
    tracers = {}
    if rig.tool == "callgrind":
        for label in pids:
            rig.callgrind_control(label, "--zero")
    elif rig.tool == "perf":
        for label, pid in pids.items():
            tracers[label] = subprocess.Popen(
                ["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000",
                 "-o", os.path.join(tmp, "perf-" + label), "-p", str(pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elif rig.tool == "strace":
        for label, pid in pids.items():
            tracers[label] = subprocess.Popen(
                ["strace", "-f", "-qq", "-e", "signal=none", "-o",
                 os.path.join(tmp, "strace-" + label), "-p", str(pid)],
                stderr=subprocess.DEVNULL)
    s0 = {label: schedstat(pid) for label, pid in pids.items()}
    q0 = rig.watch.latest()
    time.sleep(seconds)
    for t in tracers.values():
        t.send_signal(signal.SIGINT)
        t.wait(timeout=60)
    q1 = rig.watch.latest()
    s1 = {label: schedstat(pid) for label, pid in pids.items()}
    frames = max(1, q1 - q0)
    out = {"camera_frames": q1 - q0}
    if "server" in pids:
        out["delivered"] = frames_sent(rig.port, 60) - f0
    for label, pid in pids.items():
        fig = out[label] = {}
        if rig.tool == "cpu":
            for tid, (comm, ns, runs) in s1[label].items():
                if comm == SIM_THREAD or tid not in s0[label]:
                    continue
                _, ns0, runs0 = s0[label][tid]
                fig["%s/%s" % (comm, tid)] = {
                    "cpu_us": (ns - ns0) / 1e3 / frames,
                    "wakeups": (runs - runs0) / frames}
        elif rig.tool == "perf":
            fig.update(perf_figures(os.path.join(tmp, "perf-" + label),
                                    s1[label], frames))
        elif rig.tool == "strace":
            fig.update(strace_figures(os.path.join(tmp, "strace-" + label),
                                      s1[label], frames))
        else:
            rig.callgrind_control(label, "--dump=" + tag)
            fig.update(callgrind_figures(os.path.join(tmp, "cg"), label,
                                         pid, frames))
    return out


def perf_figures(path, threads, frames):
    """Microseconds of CPU per frame by function (kernel and user), from
    perf's cpu-clock samples (4 kHz) of the process's own threads."""
    comms = sorted({c for c, _, _ in threads.values() if c != SIM_THREAD})
    r = subprocess.run(["perf", "report", "-i", path, "--stdio",
                        "--no-children", "--sort", "sym", "--comms",
                        ",".join(comms), "-F", "period,sym",
                        "--percent-limit", "0.5"],
                       capture_output=True, text=True, timeout=300)
    top = []
    for line in r.stdout.splitlines():
        m = re.match(r"^\s+(\d+)\s+\[(.)\]\s+(\S+)", line)
        if m:
            ns, where, sym = m.groups()
            top.append((int(ns) / 1e3 / frames, "%s [%s]" % (sym, where)))
    os.unlink(path)
    return {"top": sorted(top, reverse=True)}


def strace_figures(path, threads, frames):
    """System calls per frame by thread and call, from strace -f's log;
    the simulator's thread is left out."""
    counts = {}
    for line in open(path):
        m = re.match(r"^(\d+)\s+(?:<\.\.\. )?(\w+)", line)
        if not m or "resumed>" in line:
            continue
        tid, call = m.groups()
        comm = threads.get(tid, ("?",))[0]
        if comm == SIM_THREAD:
            continue
        key = "%s %s" % (comm, call)
        counts[key] = counts.get(key, 0) + 1
    os.unlink(path)
    fig = {k: v / frames for k, v in counts.items()}
    fig["all calls"] = sum(counts.values()) / frames
    return fig


def callgrind_figures(cgdir, label, pid, frames):
    """Instructions per frame of each thread's last dump (but the
    simulator's), with the top functions of all of them together."""
    dumps = {}
    for name in os.listdir(cgdir):
        # cg-LABEL.N-TT: dump N of valgrind thread TT (1: the main one).
        if not name.startswith("cg-%s." % label) or "-" not in name[3:]:
            continue
        num, thread = name.split(".", 1)[1].split("-")
        if thread not in dumps or int(num) > dumps[thread][0]:
            dumps[thread] = (int(num), os.path.join(cgdir, name))
    fig, top = {}, {}
    for thread, (_, path) in sorted(dumps.items()):
        total, cost = self_costs(path)
        # The simulator's thread is the second valgrind thread of the
        # capture (the only one it starts); the capture's own workers
        # would come after it.
        if label == "capture" and thread == "02":
            continue
        fig["thread %s Ir" % thread] = total / frames
        for k, v in cost.items():
            top[k] = top.get(k, 0) + v
        os.unlink(path)
    fig["top"] = sorted(((v / frames, "%s (%s)" % (
        k[0], os.path.basename(k[1] or "?"))) for k, v in top.items()),
        reverse=True)
    return fig


def show(scenario, res, top):
    print("== %s: %d camera frames%s" % (
        scenario, res["camera_frames"],
        ", %d delivered" % res["delivered"] if "delivered" in res else ""))
    for label in ("capture", "server"):
        if label not in res:
            continue
        fig = res[label]
        items = [(k, v) for k, v in fig.items() if k != "top"]
        for k, v in sorted(items, key=lambda kv: str(kv[0])):
            if isinstance(v, dict):
                print("  %-8s %-24s %8.1f us  %5.2f wake-ups  per frame" %
                      (label, k, v["cpu_us"], v["wakeups"]))
            else:
                print("  %-8s %-24s %10.2f per frame" % (label, k, v))
        for ir, fn in fig.get("top", [])[:top]:
            print("  %-8s   %10.0f  %s" % (label, ir, fn))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", choices=("cpu", "strace", "callgrind",
                                       "perf"),
                    default="cpu")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", default="1,2,100")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--json", help="write the figures here too")
    ap.add_argument("server_args", nargs="*")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="shmcam-pfr-")
    os.chmod(tmp, 0o755)
    rig = None
    results = {}
    try:
        rig = Rig(tmp, a.tool)
        time.sleep(2)
        results["capture alone"] = measure(rig, a.seconds, tmp, "alone")
        show("capture alone", results["capture alone"], a.top)
        rig.start_server(a.server_args)
        time.sleep(2)
        results["server, no client"] = measure(rig, a.seconds, tmp, "idle")
        show("server, no client", results["server, no client"], a.top)
        for n in (int(x) for x in a.clients.split(",")):
            lc = subprocess.Popen(
                [LOADCLIENT, "-u", "http://127.0.0.1:%d/stream" % rig.port,
                 "-n", str(n), "-d", str(a.seconds * 3 + 30)],
                stdout=subprocess.DEVNULL)
            try:
                wait_for(lambda: frames_sent(rig.port, 60) > 3 * n, 120,
                         "the clients")
                time.sleep(2)
                key = "%d clients" % n
                results[key] = measure(rig, a.seconds, tmp, "c%d" % n)
                show(key, results[key], a.top)
            finally:
                lc.terminate()
                lc.wait(timeout=60)
                time.sleep(1)
    finally:
        if rig is not None:
            rig.stop()
        if a.json:
            with open(a.json, "w") as f:
                json.dump(results, f, indent=1)
        if not os.environ.get("PROFILE_KEEP_TMP"):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
