"""Where shmcam-server spends its time per delivered frame: instruction
counts (valgrind --tool=callgrind, stable on a noisy machine where CPU
time is not) and system calls (strace -c), for optimisation decisions;
and an A/B of CPU time and latency against another server binary.
Not a benchmark (make bench does not run it): the figures it prints are
the "before" and "after" of each change to the fan-out path.

    python3 tests/bench/profile_server.py [--clients N] [--seconds S]
        [--tool callgrind|strace] [--top K] [-- SERVER-OPTIONS...]
    python3 tests/bench/profile_server.py --tool threads [--clients N]
        [--seconds S]
    python3 tests/bench/profile_server.py --tool ab --baseline OLD-SERVER
        [--baseline-args OPTIONS] [--rounds R] [--clients N] [--seconds S]
        [-- SERVER-OPTIONS...]

--tool threads gives the CPU time per camera frame of every thread of
the capture and the server (/proc/PID/task/*/schedstat), first with no
client and then with N: the fixed cost of a frame and what clients add.

--tool ab runs the baseline binary (e.g. a copy of build/shmcam-server
from before a change) and build/shmcam-server side by side on the same
capture, natively, and alternates load client runs between them: the
medians of R rounds of CPU time per delivered frame (every thread of the
server, /proc/PID/task/*/schedstat) and capture-to-receive latency.

One capture on the simulated camera (MJPEG 1280x720 at 30 fps, passed
through, as in bench_ustreamer.py) and one server under the tool; the
load client (build/tests/loadclient) connects N clients (default 20: the
server runs 20 to 50 times slower under callgrind and must still keep
up) and reads for S seconds.  The tool's counters are zeroed after the
clients have connected and read out before they leave, so only the
steady state is counted; the server's /state gives the frames it queued
in that window.
"""

import argparse
import collections
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from benchutil import (CAPTURE, CAPTURE_USER, LOADCLIENT, SERVER, SIM_SO,
                       RingWatch, frames_sent, stop_all, thread_times,
                       threads_cpu_ns, wait_for)


def self_costs(path):
    """(total Ir, Counter of self Ir by (function, object)) of a callgrind
    dump.  Parsed here rather than by callgrind_annotate, which charges
    everything to main() in a dump taken after callgrind_control --zero."""
    names, objs = {}, {}
    cost = collections.Counter()
    total, fn, obj, after_call = 0, None, None, False
    for line in open(path):
        line = line.rstrip("\n")
        m = re.match(r"^(c?)(ob|fn|fl|fi|fe)=\((\d+)\)(?: (.*))?$", line)
        if m:
            callee, kind, idx, name = m.groups()
            table = objs if kind == "ob" else names if kind == "fn" else None
            if table is not None and name is not None:
                table[idx] = name
            if not callee and kind == "ob":
                obj = objs.get(idx, idx)
            if not callee and kind == "fn":
                fn = (names.get(idx, idx), obj)
            continue
        if line.startswith("summary:"):
            total = int(line.split()[1])
        elif line.startswith("calls="):
            after_call = True   # the next cost line is the call's
        elif line and (line[0].isdigit() or line[0] in "+-*"):
            if after_call:
                after_call = False
            elif fn is not None and len(line.split()) >= 2:
                cost[fn] += int(line.split()[1])
    return total, cost


class Rig:
    """A capture on the simulated camera; servers attach to it."""

    def __init__(self, tmp):
        self.tmp = tmp
        devdir = os.path.join(tmp, "dev")
        os.mkdir(devdir)
        os.chmod(devdir, 0o777)
        dev = os.path.join(devdir, "video0")
        open(dev, "w").close()
        self.name = "prof%d" % os.getpid()
        self.ctl = os.path.join(tmp, "ctl.sock")
        env = dict(os.environ, LD_PRELOAD=SIM_SO, V4L2SIM_DEVICE=dev,
                   V4L2SIM_FORMATS="MJPG:1280x720@30")
        self.procs = []
        self.procs.append(subprocess.Popen(
            [CAPTURE, "--name", self.name, "--ctl", self.ctl, "--source",
             "v4l2:" + dev, "--format", "MJPEG", "--size", "1280x720"] +
            CAPTURE_USER,
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(lambda: os.path.exists(self.ctl), 10, "the capture")
        self.watch = RingWatch(self.ctl)

    def server(self, binary, args, wrapper=()):
        """Starts a server; returns (Popen, port)."""
        log = os.path.join(self.tmp, "server%d.log" % len(self.procs))
        argv = list(wrapper) + [binary, "--name", self.name, "--ctl",
                                self.ctl, "--listen", "127.0.0.1:0"] + args
        if os.geteuid() == 0:
            argv.append("--allow-root")
        with open(log, "w") as f:
            p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT)
        self.procs.append(p)
        port = []

        def listening():
            m = re.search(r"listening on http://127.0.0.1:(\d+)/",
                          open(log).read())
            if m:
                port.append(int(m.group(1)))
            return bool(port)
        wait_for(listening, 60, "the server", 0.2)
        wait_for(lambda: "attached" in open(log).read(), 60,
                 "the server to attach", 0.2)
        return p, port[0]

    def stop(self):
        self.watch.close()
        stop_all(self.procs, timeout=60)


def run_ab(rig, a):
    servers = [("baseline", rig.server(a.baseline, a.server_args +
                                       a.baseline_args.split())),
               ("build", rig.server(SERVER, a.server_args))]
    runs = {label: [] for label, _ in servers}
    for i in range(a.rounds):
        for label, (p, port) in (servers if i % 2 == 0 else
                                 list(reversed(servers))):
            c0 = threads_cpu_ns([p.pid], exclude=None)
            f0 = frames_sent(port, 30)
            r = subprocess.run([LOADCLIENT, "-u", "http://127.0.0.1:%d/stream"
                                % port, "-n", str(a.clients), "-d",
                                str(a.seconds), "--warmup", "1", "--ts",
                                "simstamp"], capture_output=True, text=True,
                               check=True, timeout=a.seconds + 120)
            c1 = threads_cpu_ns([p.pid], exclude=None)
            f1 = frames_sent(port, 30)
            res = json.loads(r.stdout)["fast"]
            runs[label].append({
                "cpu_us": (c1 - c0) / 1e3 / max(1, f1 - f0),
                "p50": res["latency_p50"] * 1e3,
                "p99": res["latency_p99"] * 1e3,
                "fps_min": res["fps_min"]})
            time.sleep(0.5)
    print("%d clients, %d rounds of %.0f s, load average %.2f" % (
        a.clients, a.rounds, a.seconds, os.getloadavg()[0]))
    med = {}
    for label, rs in runs.items():
        med[label] = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        print("%-8s  CPU %6.1f us per delivered frame  latency p50 %5.1f ms "
              "p99 %5.1f ms  fps min %4.1f   (CPU runs: %s)" % (
                  label, med[label]["cpu_us"], med[label]["p50"],
                  med[label]["p99"], med[label]["fps_min"],
                  " ".join("%.1f" % r["cpu_us"] for r in rs)))
    print("build / baseline: CPU %.2f, p99 %.2f" % (
        med["build"]["cpu_us"] / med["baseline"]["cpu_us"],
        med["build"]["p99"] / med["baseline"]["p99"]))


def run_threads(rig, a):
    """CPU per camera frame of each thread of the capture and the server,
    first with no client, then with --clients: the fixed cost of a frame
    and what the clients add."""
    srv, port = rig.server(SERVER, a.server_args)
    pids = [p.pid for p in rig.procs]
    for clients in (0, a.clients):
        lc = None
        if clients:
            lc = subprocess.Popen([LOADCLIENT, "-u", "http://127.0.0.1:%d/"
                                   "stream" % port, "-n", str(clients), "-d",
                                   str(a.seconds + 2), "--warmup", "1"],
                                  stdout=subprocess.DEVNULL)
            wait_for(lambda: frames_sent(port, 30) > clients, 30,
                     "the clients")
        t0, s0 = thread_times(pids), rig.watch.latest()
        wait_for(lambda: rig.watch.latest() >= s0 + a.seconds * 30,
                 a.seconds * 3 + 30, "%.0f s of frames" % a.seconds)
        t1, s1 = thread_times(pids), rig.watch.latest()
        if lc is not None:
            lc.wait(timeout=a.seconds + 60)
        print("%d clients, %d camera frames:" % (clients, s1 - s0))
        for key in sorted(t0):
            if key in t1:
                print("  %-16s %-16s %8.1f us per frame" % (
                    key[0], key[1], (t1[key] - t0[key]) / 1e3 /
                    max(1, s1 - s0)))


def run_tool(rig, a):
    out_file = os.path.join(rig.tmp, "callgrind.out")
    wrapper = []
    if a.tool == "callgrind":
        wrapper = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" +
                   out_file, "--dump-instr=no"]
    srv, port = rig.server(SERVER, a.server_args, wrapper)
    warm = 4.0
    lc = subprocess.Popen([LOADCLIENT, "-u", "http://127.0.0.1:%d/stream"
                           % port, "-n", str(a.clients), "-d",
                           str(a.seconds + 4), "--warmup", str(warm)],
                          stdout=subprocess.PIPE, text=True)
    time.sleep(warm)
    tracer = None
    if a.tool == "callgrind":
        subprocess.run(["callgrind_control", "--zero", str(srv.pid)],
                       check=True, capture_output=True)
    else:
        tracer = subprocess.Popen(["strace", "-c", "-f", "-p",
                                   str(srv.pid)], stderr=subprocess.PIPE,
                                  text=True)
        time.sleep(0.5)
    f0 = frames_sent(port, 30)
    time.sleep(a.seconds)
    f1 = frames_sent(port, 30)
    if a.tool == "callgrind":
        subprocess.run(["callgrind_control", "--dump", str(srv.pid)],
                       check=True, capture_output=True)
    else:
        tracer.send_signal(signal.SIGINT)
        _, err = tracer.communicate(timeout=30)
    res = json.loads(lc.communicate(timeout=60)[0])
    frames = f1 - f0
    print("clients %d, %.0f s: %d frames queued by the server "
          "(%.1f per client per second), load client fps min %.1f"
          % (a.clients, a.seconds, frames,
             frames / a.clients / a.seconds, res["fast"]["fps_min"]))
    if a.tool == "callgrind":
        dumps = sorted(p for p in os.listdir(rig.tmp)
                       if p.startswith("callgrind.out."))
        dump = os.path.join(rig.tmp, dumps[0])
        if os.environ.get("PROFILE_KEEP"):
            shutil.copy(dump, os.environ["PROFILE_KEEP"])
        total, cost = self_costs(dump)
        print("instructions per delivered frame: %.0f" %
              (total / max(1, frames)))
        for (fn, obj), ir in cost.most_common(a.top):
            print("  %8.0f  %5.1f %%  %s (%s)" % (
                ir / max(1, frames), 100.0 * ir / max(1, total), fn,
                os.path.basename(obj)))
    else:
        print("system calls per delivered frame:")
        for line in err.splitlines():
            f = line.split()
            if len(f) >= 5 and f[3].isdigit():
                print("  %8.2f  %s" % (int(f[3]) / max(1, frames), f[-1]))
            elif len(f) >= 4 and f[-1] == "total":
                print("  %8.2f  total" % (int(f[2]) / max(1, frames)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--tool", choices=("callgrind", "strace", "ab",
                                       "threads"),
                    default="callgrind")
    ap.add_argument("--baseline", help="the other server binary (ab)")
    ap.add_argument("--baseline-args", default="",
                    help="more options for the baseline (ab), e.g. "
                    "--no-send-bound")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("server_args", nargs="*")
    a = ap.parse_args()
    if a.tool == "ab" and not a.baseline:
        ap.error("--tool ab needs --baseline")

    tmp = tempfile.mkdtemp(prefix="shmcam-prof-")
    os.chmod(tmp, 0o755)
    rig = None
    try:
        rig = Rig(tmp)
        if a.tool == "ab":
            run_ab(rig, a)
        elif a.tool == "threads":
            run_threads(rig, a)
        else:
            run_tool(rig, a)
    finally:
        if rig is not None:
            rig.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
