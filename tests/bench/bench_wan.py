"""Viewers across simulated wide-area links: shmcam against Debian's
ustreamer 4.9 on the same link (tests/integration/wan.py).

The simulated camera (tests/v4l2sim) at 1280x720, 30 fps, MJPEG passed
through; each streamer on a camera of its own, both in one server
namespace, listening on every address there.  One viewer, the load
client (build/tests/loadclient --ts simstamp: capture time from the
camera's stamp in each frame, the same for both), in a client namespace
at the far end of a link:

  rtt 100     RTT 100 ms, no bottleneck
  rtt 200     RTT 200 ms, no bottleneck
  narrow      RTT 100 ms at 250 KB/s (wanlink's bottleneck buffer: 100 ms)

For each: the viewer's frame rate, the share of the camera's frames it
got (by their sequence numbers), and latency (capture to the arrival of
a frame's last byte) p50/p90, for

  shmcam                  the send policy (server/sendpolicy.h)
  shmcam --no-send-bound  the kernel's queue not looked at
  ustreamer               its defaults (no TCP_NODELAY)
  ustreamer --tcp-nodelay

Rounds alternate the order of the streamers so that drift on this shared
machine cancels; each figure is the median of the rounds; the ratios are
shmcam's over ustreamer's.  The links' forwarders run at a real-time
priority (wan.py), so that the rest of the machine's work does not turn
into delay on the link.

Environment: BENCH_ROUNDS (3), BENCH_DURATION (5 s per run, after a
BENCH_WARMUP of 2 s: slow start on a 200 ms path takes about a second),
BENCH_NARROW_DURATION (12 s: 3 frames a second), USTREAMER.

Needs root (network namespaces).  Writes tests/bench/results/wan.txt and
wan.json.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import shutil
import time

from benchutil import (CAPTURE, CAPTURE_USER, LOADCLIENT, SERVER, SIM_SO,
                       commit, machine, save_results, stop_all, wait_for)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "integration"))
from wan import Wan, missing  # noqa: E402

USTREAMER = os.environ.get("USTREAMER", "/usr/bin/ustreamer")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
DURATION = float(os.environ.get("BENCH_DURATION", "5"))
WARMUP = float(os.environ.get("BENCH_WARMUP", "2"))
NARROW_DURATION = float(os.environ.get("BENCH_NARROW_DURATION", "12"))
SIZE, FPS, QUALITY = "1280x720", 30, 80
# Ports inside the server namespace, which has nothing else in it.
PORTS = {"shmcam": 8080, "shmcam --no-send-bound": 8081, "ustreamer": 8082,
         "ustreamer --tcp-nodelay": 8083}
CASES = [("rtt 100", 100, 0), ("rtt 200", 200, 0), ("narrow", 100, 250000)]


def log(*a):
    print(*a, flush=True)


class Streamers:
    """The four streamers, each on a simulated camera of its own."""

    def __init__(self, tmp, net):
        self.tmp, self.net = tmp, net
        self.procs, self.logs = [], []
        self.argv = {}
        for name in PORTS:
            if name.startswith("shmcam"):
                self.start_shmcam(name)
            else:
                self.start_ustreamer(name)

    def device(self, name):
        d = os.path.join(self.tmp, name.replace(" ", "").replace("-", ""))
        os.mkdir(d)
        os.chmod(d, 0o777)      # the capture drops root
        dev = os.path.join(d, "video0")
        open(dev, "w").close()
        env = dict(os.environ, LD_PRELOAD=SIM_SO, V4L2SIM_DEVICE=dev,
                   V4L2SIM_FORMATS="MJPG:%s@%d" % (SIZE, FPS),
                   V4L2SIM_QUALITY=str(QUALITY))
        return d, dev, env

    def spawn(self, argv, env=None, netns=None):
        f = open(os.path.join(self.tmp, "%d.log" % len(self.procs)), "w")
        p = subprocess.Popen(argv, env=env, stdout=f,
                             stderr=subprocess.STDOUT,
                             preexec_fn=netns.preexec if netns else None)
        self.procs.append(p)
        self.logs.append(f)
        return p

    def start_shmcam(self, name):
        d, dev, env = self.device(name)
        cam = "bwan%d-%d" % (os.getpid(), len(self.procs))
        # Not in d, which anyone may write to: the capture refuses a
        # control socket there (ctl_dir_check()).
        run = os.path.join(d, "run")
        os.mkdir(run, 0o755)
        ctl = os.path.join(run, "ctl.sock")
        self.spawn([CAPTURE, "--name", cam, "--ctl", ctl, "--source",
                    "v4l2:" + dev, "--format", "MJPEG", "--size", SIZE] +
                   CAPTURE_USER, env)
        argv = [SERVER, "--name", cam, "--ctl", ctl, "--listen",
                "0.0.0.0:%d" % PORTS[name]]
        if name.endswith("--no-send-bound"):
            argv.append("--no-send-bound")
        self.argv[name] = argv[5:] + ["(capture: --source v4l2:DEV "
                                      "--format MJPEG --size %s)" % SIZE]
        if os.geteuid() == 0:
            argv.append("--allow-root")
        self.spawn(argv, netns=self.net.server)
        wait_for(lambda: self.live(name, lambda h, b: "X-Shmcam-Placeholder"
                                   not in h, "/snapshot"), 20,
                 name + " to stream the camera")

    def start_ustreamer(self, name):
        d, dev, env = self.device(name)
        argv = [USTREAMER, "--device", dev, "--host", "0.0.0.0", "--port",
                str(PORTS[name]), "--resolution", SIZE, "--format", "MJPEG",
                "--encoder", "HW"]
        if name.endswith("--tcp-nodelay"):
            argv.append("--tcp-nodelay")
        self.argv[name] = [a for a in argv[1:] if a != dev]
        self.spawn(argv, env, netns=self.net.server)
        wait_for(lambda: self.live(name, lambda h, b: json.loads(b)[
            "result"]["source"]["online"], "/state"), 20,
            name + " to stream the camera")

    def live(self, name, check, path):
        try:
            status, h, body = self.net.server.http_get(PORTS[name], path,
                                                       timeout=2)
        except OSError:
            return False
        return status == 200 and check(h, body)

    def stop(self):
        stop_all(self.procs)
        for f in self.logs:
            f.close()


def run_once(link, name, duration):
    r = link.run([LOADCLIENT, "-u", link.url(PORTS[name], "/stream"), "-n",
                  "1", "-d", str(duration), "--warmup", str(WARMUP), "--ts",
                  "simstamp"], timeout=duration + WARMUP + 120)
    if r.returncode != 0:
        raise RuntimeError("loadclient: " + r.stderr)
    f = json.loads(r.stdout)["fast"]
    time.sleep(0.5)     # the streamer sees the client leave
    return {"fps": f["fps_median"], "frames_pct": f["coverage_min"] * 100,
            "latency_p50_ms": f["latency_p50"] * 1e3,
            "latency_p90_ms": f["latency_p90"] * 1e3,
            "bytes_per_frame": f["bytes"] / max(1, f["frames"])}


def median_of(runs):
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def report(out):
    L = [
        "# Viewers across simulated links: shmcam vs ustreamer %s "
        "(tests/bench/bench_wan.py), %s" % (out["ustreamer_version"],
                                             out["date"]),
        "# commit: %s; machine: %s; load average (1 min) %s at the start, "
        "%s at the end; shared with other work" % (
            out.get("commit", "?"), out["machine"], out["load_start"],
            out["load_end"]),
        "# one viewer, 1280x720 30 fps MJPEG (simulated camera); medians "
        "of %d alternating rounds, %.0f s per run (narrow: %.0f s) after "
        "%.0f s warm-up" % (ROUNDS, DURATION, NARROW_DURATION, WARMUP),
        "# command: make bench (or SHMCAM_BUILD=build python3 "
        "tests/bench/bench_wan.py, as root)",
    ]
    for name, argv in out["options"].items():
        L.append("# %s: %s" % (name, " ".join(argv)))
    L += ["# ratio: shmcam's figure over ustreamer's (nodelay: with "
          "--tcp-nodelay)", "",
          "case      streamer                 fps  frames %  lat p50  "
          "lat p90"]
    for case, _, _ in CASES:
        per = out["cases"][case]
        for name in PORTS:
            r = per[name]["median"]
            L.append("%-8s  %-23s %5.1f  %7.1f  %4.0f ms  %4.0f ms" % (
                case, name, r["fps"], r["frames_pct"], r["latency_p50_ms"],
                r["latency_p90_ms"]))
        s = per["shmcam"]["median"]
        for peer, short in (("ustreamer", "ratio / ustreamer"),
                            ("ustreamer --tcp-nodelay", "ratio / nodelay")):
            u = per[peer]["median"]
            L.append("%-8s  %-23s %5.2f  %7.2f  %7.2f  %7.2f" % (
                "", short,
                s["fps"] / u["fps"], s["frames_pct"] / u["frames_pct"],
                s["latency_p50_ms"] / u["latency_p50_ms"],
                s["latency_p90_ms"] / u["latency_p90_ms"]))
        if case == "narrow":
            b = s["bytes_per_frame"]
            L.append("%-8s  physics: a frame's transfer (%.0f KB at 250 KB/s, "
                     "headers counted) + the one-way delay = %.0f ms" % (
                         "", b / 1e3, (b * 1500 / 1448 / 250000 + 0.05) *
                         1e3))
        L.append("")
    return "\n".join(L)


def main():
    why = missing()
    if why:
        log("bench_wan: " + why + ": skipped")
        return 0
    if not os.path.exists(USTREAMER):
        log("bench_wan: %s is not installed (make deps): skipped" % USTREAMER)
        return 0
    for b in (CAPTURE, SERVER, LOADCLIENT, SIM_SO):
        if not os.path.exists(b):
            sys.exit("missing %s: run make and make the test binaries" % b)
    ver = subprocess.run([USTREAMER, "--version"], capture_output=True,
                         text=True).stdout.strip()
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "commit": commit(), "machine": machine(),
           "ustreamer_version": ver,
           "load_start": "%.2f" % os.getloadavg()[0], "rounds": ROUNDS,
           "duration": DURATION, "narrow_duration": NARROW_DURATION,
           "warmup": WARMUP, "cases": {}}
    tmp = tempfile.mkdtemp(prefix="shmcam-bench-wan-")
    os.chmod(tmp, 0o755)
    net = Wan(timeout=3600)
    streamers = None
    try:
        streamers = Streamers(tmp, net)
        out["options"] = streamers.argv
        for case, rtt, rate in CASES:
            link = net.link(rtt_ms=rtt, rate=rate)
            duration = NARROW_DURATION if rate else DURATION
            runs = {name: [] for name in PORTS}
            for i in range(ROUNDS):
                order = list(PORTS) if i % 2 == 0 else list(PORTS)[::-1]
                for name in order:
                    runs[name].append(run_once(link, name, duration))
            out["cases"][case] = {name: {"median": median_of(rs),
                                         "runs": rs}
                                  for name, rs in runs.items()}
            log(case, {name: {k: round(v, 1) for k, v in
                              out["cases"][case][name]["median"].items()}
                       for name in PORTS})
            link.stop()
    finally:
        if streamers is not None:
            streamers.stop()
        net.close()
        shutil.rmtree(tmp, ignore_errors=True)
    out["load_end"] = "%.2f" % os.getloadavg()[0]
    text = report(out)
    save_results("wan", out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
