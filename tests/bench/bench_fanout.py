"""Fan-out benchmark.

One capture (test pattern, 1280x720, 30 fps) and one server; the C load
client (build/tests/loadclient) connects N = 1, 10, 100, 500 clients on
loopback.  For each N, the median of RUNS runs of: per-client fps (min,
median), server CPU per delivered frame (CPU time of the server process
over frames it queued, both read around the run), server RSS mid-run and
per extra client, capture-to-receive latency p50/p99 (X-Timestamp to the
arrival of the frame's last byte).

Slow viewers, in the same run: the server with its send policy (the
default, server/sendpolicy.h: a client takes a frame when what is ahead
of it leaves within a frame interval; one TCP_INFO per client and frame)
against the same binary with --no-send-bound (the kernel queues what its
buffers take): 20 fast clients + 5 reading 100 KB/s for 20 s, and 100
fast clients for the policy's CPU cost.  And what slow viewers cost
the fast ones: the fast clients' latency p99 with and without 5 slow
ones, in alternating 4 s rounds paired so that the machine's drift
cancels (the median of the paired differences).

Writes tests/bench/results/fanout.txt (and fanout.json).
"""

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from benchutil import (CAPTURE, CAPTURE_USER, LOADCLIENT, RESULTS, SERVER,
                       commit, cpu_seconds, frames_sent, machine, rss_kb)

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
DURATION = float(os.environ.get("BENCH_DURATION", "8"))
FANOUT = [1, 10, 100, 500]
SIZE, FPS = "1280x720", 30


class Rig:
    def __init__(self, tmp, name, extra=()):
        self.tmp = tmp
        self.ctl = os.path.join(tmp, name + ".sock")
        self.log = open(os.path.join(tmp, "server-%s.log" % name), "w")
        argv = [SERVER, "--name", name, "--ctl", self.ctl,
                "--listen", "127.0.0.1:0", "--max-clients", "2000"]
        argv += list(extra)
        if os.geteuid() == 0:
            argv.append("--allow-root")
        self.p = subprocess.Popen(argv, stdout=self.log,
                                  stderr=subprocess.STDOUT)
        self.port = None
        deadline = time.monotonic() + 10
        while self.port is None and time.monotonic() < deadline:
            with open(self.log.name) as f:
                for line in f:
                    if "listening on http://127.0.0.1:" in line:
                        self.port = int(line.rsplit(":", 1)[1].strip("/\n"))
            time.sleep(0.05)
        if self.port is None:
            raise RuntimeError("server did not start")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if frames_sent(self.port) >= 0 and "attached" in \
                        open(self.log.name).read():
                    break
            except OSError:
                pass
            time.sleep(0.1)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(20)
        self.log.close()


def run_load(rig, n, *args, duration=DURATION):
    """One loadclient run; adds server CPU per frame and RSS."""
    rss = []
    cpu0, f0 = cpu_seconds(rig.p.pid), frames_sent(rig.port)

    def sample():
        time.sleep(1 + duration / 2)
        rss.append(rss_kb(rig.p.pid))
    t = threading.Thread(target=sample)
    t.start()
    r = subprocess.run([LOADCLIENT, "-u", "http://127.0.0.1:%d/stream"
                        % rig.port, "-n", str(n), "-d", str(duration),
                        "--warmup", "1"] + [str(a) for a in args],
                       capture_output=True, text=True,
                       timeout=duration + 120)
    t.join()
    if r.returncode != 0:
        raise RuntimeError("loadclient: " + r.stderr)
    res = json.loads(r.stdout)
    cpu1, f1 = cpu_seconds(rig.p.pid), frames_sent(rig.port)
    res["server_cpu_s"] = cpu1 - cpu0
    res["server_frames"] = f1 - f0
    res["cpu_us_per_frame"] = (cpu1 - cpu0) / max(1, f1 - f0) * 1e6
    res["rss_kb"] = rss[0] if rss else 0
    # Let the server see every client leave before the next run.
    time.sleep(0.5)
    return res


def med(runs, key, group=None):
    vals = [(r[group][key] if group else r[key]) for r in runs]
    return statistics.median(vals)


def main():
    for b in (CAPTURE, SERVER, LOADCLIENT):
        if not os.path.exists(b):
            sys.exit("missing %s: run make first" % b)
    os.makedirs(RESULTS, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="shmcam-bench-")
    name = "bench%d" % os.getpid()
    cap_log = open(os.path.join(tmp, "capture.log"), "w")
    cap = subprocess.Popen([CAPTURE, "--name", name, "--ctl",
                            os.path.join(tmp, name + ".sock"), "--size", SIZE,
                            "--fps", str(FPS)] + CAPTURE_USER, stdout=cap_log,
                           stderr=subprocess.STDOUT)
    time.sleep(1)
    out = {"size": SIZE, "fps": FPS, "runs": RUNS, "duration": DURATION,
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "commit": commit(), "machine": machine(),
           "fanout": {}, "send_bound": {}}
    try:
        rig = Rig(tmp, name)
        old = Rig(tmp, name, ["--no-send-bound"])
        time.sleep(1)
        idle_rss = rss_kb(rig.p.pid)
        for n in FANOUT:
            runs = [run_load(rig, n) for _ in range(RUNS)]
            out["fanout"][n] = {
                "fps_min": med(runs, "fps_min", "fast"),
                "fps_median": med(runs, "fps_median", "fast"),
                "cpu_us_per_frame": med(runs, "cpu_us_per_frame"),
                "server_cpu_pct": med(runs, "server_cpu_s") /
                (DURATION + 1) * 100,
                "rss_kb": med(runs, "rss_kb"),
                "latency_p50_ms": med(runs, "latency_p50", "fast") * 1e3,
                "latency_p99_ms": med(runs, "latency_p99", "fast") * 1e3,
                "mbytes_per_s": med(runs, "mbytes_per_s", "fast"),
            }
            print("N=%d %s" % (n, out["fanout"][n]), flush=True)
        base = out["fanout"][1]["rss_kb"]
        for n in FANOUT[1:]:
            out["fanout"][n]["rss_kb_per_client"] = \
                (out["fanout"][n]["rss_kb"] - base) / (n - 1)
        out["idle_rss_kb"] = idle_rss

        # Slow viewers: the same scenarios with and without the policy,
        # alternating so that both see the same machine.
        for label, n, extra, dur in (
                ("slow_readers", 25, ["--slow", 5, "--slow-rate", 100000,
                                      "--slow-rcvbuf", 16384], 20),
                ("fast_100", 100, [], DURATION)):
            res = {"bound": [], "unbounded": []}
            for _ in range(RUNS):
                res["bound"].append(run_load(rig, n, *extra, duration=dur))
                res["unbounded"].append(run_load(old, n, *extra,
                                                 duration=dur))
            summary = {}
            for policy, runs in res.items():
                s = {"fast_fps_min": med(runs, "fps_min", "fast"),
                     "fast_latency_p99_ms":
                     med(runs, "latency_p99", "fast") * 1e3,
                     "fast_mbytes_per_s": med(runs, "mbytes_per_s", "fast"),
                     "cpu_us_per_frame": med(runs, "cpu_us_per_frame")}
                if isinstance(runs[0].get("slow"), dict):
                    s.update({
                        "slow_fps_median": med(runs, "fps_median", "slow"),
                        "slow_latency_p50_s": med(runs, "latency_p50",
                                                  "slow"),
                        "slow_latency_p99_s": med(runs, "latency_p99",
                                                  "slow"),
                        "slow_latency_p50_first_half_s":
                        med(runs, "latency_p50_first_half", "slow"),
                        "slow_latency_p50_second_half_s":
                        med(runs, "latency_p50_second_half", "slow"),
                        "frame_bytes": med(runs, "bytes", "fast") /
                        max(1, med(runs, "frames", "fast"))})
                summary[policy] = s
            out["send_bound"][label] = summary
            print(label, json.dumps(summary), flush=True)
        # The fast clients' p99 with and without slow viewers.
        pairs = []
        for _ in range(max(RUNS, 5)):
            without = run_load(rig, 20, duration=4)
            with_slow = run_load(rig, 25, "--slow", 5, "--slow-rate",
                                 100000, "--slow-rcvbuf", 16384, duration=4)
            pairs.append((without["fast"]["latency_p99"],
                          with_slow["fast"]["latency_p99"]))
        out["slow_cost"] = {
            "p99_without_ms": statistics.median(p[0] for p in pairs) * 1e3,
            "p99_with_ms": statistics.median(p[1] for p in pairs) * 1e3,
            "p99_paired_diff_ms": statistics.median(p[1] - p[0]
                                                    for p in pairs) * 1e3,
            "rounds": len(pairs)}
        print("slow_cost", json.dumps(out["slow_cost"]), flush=True)
        rig.stop()
        old.stop()
    finally:
        cap.send_signal(signal.SIGTERM)
        cap.wait(20)
        cap_log.close()
        shutil.rmtree(tmp, ignore_errors=True)

    with open(os.path.join(RESULTS, "fanout.json"), "w") as f:
        json.dump(out, f, indent=1)
    lines = [
        "# fan-out (tests/bench/bench_fanout.py), %s" % out["date"],
        "# commit: %s; machine: %s" % (out["commit"], out["machine"]),
        "# command: make bench (or SHMCAM_BUILD=build python3 "
        "tests/bench/bench_fanout.py); BENCH_RUNS, BENCH_DURATION",
        "shmcam fan-out: %s at %d fps, test pattern, loopback, medians of "
        "%d runs of %.0f s" % (SIZE, FPS, RUNS, DURATION),
        "",
        "clients  fps min  fps med  CPU/frame  server CPU  RSS MiB  "
        "RSS/client  lat p50  lat p99  MB/s",
    ]
    for n in FANOUT:
        r = out["fanout"][n]
        lines.append("%7d  %7.1f  %7.1f  %6.1f us  %8.0f %%  %7.1f  %7s  "
                     "%5.1f ms  %5.1f ms  %5.0f" % (
                         n, r["fps_min"], r["fps_median"],
                         r["cpu_us_per_frame"], r["server_cpu_pct"],
                         r["rss_kb"] / 1024,
                         "-" if n == 1 else "%.1f KiB" %
                         r["rss_kb_per_client"], r["latency_p50_ms"],
                         r["latency_p99_ms"], r["mbytes_per_s"]))
    s8 = out["send_bound"]["slow_readers"]
    lines += [
        "",
        "Slow viewers: 20 fast clients + 5 reading 100 KB/s, 20 s "
        "(frame %.0f KB)" % (s8["bound"]["frame_bytes"] / 1000),
        "",
        "policy           slow fps  slow lat p50  slow p99  p50 1st/2nd "
        "half   fast fps min  fast p99",
    ]
    for policy, label in (("unbounded", "--no-send-bound"),
                          ("bound", "send bound")):
        r = s8[policy]
        lines.append("%-15s  %8.2f  %10.2f s  %6.2f s  %5.2f / %5.2f s  "
                     "%12.1f  %5.1f ms" % (
                         label, r["slow_fps_median"],
                         r["slow_latency_p50_s"], r["slow_latency_p99_s"],
                         r["slow_latency_p50_first_half_s"],
                         r["slow_latency_p50_second_half_s"],
                         r["fast_fps_min"], r["fast_latency_p99_ms"]))
    f100 = out["send_bound"]["fast_100"]
    lines += [
        "",
        "The send policy's cost: 100 fast clients",
        "",
        "policy           fps min  MB/s   CPU/frame  lat p99",
    ]
    for policy, label in (("unbounded", "--no-send-bound"),
                          ("bound", "send bound")):
        r = f100[policy]
        lines.append("%-15s  %7.1f  %5.0f  %6.1f us  %5.1f ms" % (
            label, r["fast_fps_min"], r["fast_mbytes_per_s"],
            r["cpu_us_per_frame"], r["fast_latency_p99_ms"]))
    ratio = (f100["bound"]["cpu_us_per_frame"] /
             f100["unbounded"]["cpu_us_per_frame"])
    lines.append("CPU per frame, bound / unbounded: %.2f" % ratio)
    sc = out["slow_cost"]
    lines += [
        "",
        "What 5 slow viewers cost 20 fast ones: latency p99 %.1f ms without,"
        " %.1f ms with; median of %d paired differences %+.1f ms" % (
            sc["p99_without_ms"], sc["p99_with_ms"], sc["rounds"],
            sc["p99_paired_diff_ms"]),
    ]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(RESULTS, "fanout.txt"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
