"""shmcam against Debian's ustreamer 4.9, side by side.

Both streamers run on the same simulated V4L2 camera (tests/v4l2sim,
LD_PRELOAD): same frames, size, rate and format, each on a camera of its
own (one device file each).  The same load client (build/tests/loadclient)
measures both, with --ts simstamp: the capture time is the stamp the
camera puts into each frame (its COM segment when the JPEG is passed
through, its barcode when the streamer encoded the frame), so latency is
capture to arrival of the frame's last byte, measured the same way for
both.  Rounds alternate A/B (shmcam first in even rounds, ustreamer first
in odd ones) so that drift on this shared machine cancels; every figure
is the median of the rounds.

Scenarios:
  1. MJPEG passthrough 1280x720 at 30 fps, N clients (BENCH_CLIENTS,
     default 1,2,10,100,300): CPU per delivered frame (shmcam's also
     split into its capture's and its server's), per-client fps (min,
     median), latency p50/p99, RSS; the ratios to ustreamer at 1, 2 and
     100 clients side by side: one or two viewers is the common case.
  2. YUYV 1280x720 and 1920x1080 at 30 fps, 10 clients: CPU per frame
     of the whole streamer (encode included), latency p50/p99.
  3. The largest N (from the ladder BENCH_MAXN) at which every client
     still receives >= 95 % of the camera's frames, for each streamer.
  4. Limits, in the same run: TurboJPEG alone on the same frames
     (build/tests/encbench, the codec's cost per frame) and a plain
     loopback TCP copy of the same number of bytes per frame
     (build/tests/copybench, the kernel's cost per delivered byte).

CPU is the on-CPU time of every thread of the streamer's processes
(/proc/PID/task/TID/schedstat): shmcam-capture and shmcam-server,
against the one ustreamer process.  The simulator's producer thread
(named v4l2sim) lives in each streamer's process and is the camera's
cost, so it is left out of both the same way.  The load client runs on
the same 2 cores as the streamer it measures, for both streamers alike;
its own CPU is reported.

The streamers:
  shmcam-capture --source v4l2:DEV --format MJPEG|YUYV --size WxH
  shmcam-server --listen 127.0.0.1:0 --max-clients 4000
      (defaults otherwise; --max-clients only so that the ladder of
      scenario 3 is not cut at the default 1000)
  ustreamer --device DEV --host 127.0.0.1 --port P --resolution WxH
      --format MJPEG --encoder HW   (passthrough)
      --format YUYV --encoder CPU   (raw, its software encoder)
      (defaults otherwise: quality 80 like shmcam's, 2 workers and 3
      buffers on this 2-core machine, no --tcp-nodelay: see
      USTREAMER_EXTRA; --resolution because its default is 640x480)
Both streamers of a configuration run for all its rounds; the one not
being measured idles (no clients) meanwhile.

Environment: BENCH_ROUNDS (3), BENCH_DURATION (5 s per run, after a
BENCH_WARMUP of 1 s), BENCH_CLIENTS, BENCH_MAXN, BENCH_MAXN_DURATION (4),
BENCH_SCENARIOS (default 1,2,3,4), USTREAMER (/usr/bin/ustreamer),
USTREAMER_EXTRA (more ustreamer options, e.g. --tcp-nodelay).

Writes tests/bench/results/ustreamer.txt and ustreamer.json.
"""

import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from benchutil import (CAPTURE, CAPTURE_USER, COPYBENCH, ENCBENCH,
                       LOADCLIENT, SERVER, SIM_SO, commit, machine, rss_kb,
                       save_results, stop_all, threads_cpu_ns, wait_for)

USTREAMER = os.environ.get("USTREAMER", "/usr/bin/ustreamer")

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
DURATION = float(os.environ.get("BENCH_DURATION", "5"))
WARMUP = float(os.environ.get("BENCH_WARMUP", "1"))
CLIENTS = [int(x) for x in
           os.environ.get("BENCH_CLIENTS", "1,2,10,100,300").split(",")]
MAXN = [int(x) for x in
        os.environ.get("BENCH_MAXN",
                       "25,50,100,150,200,300,500,700,1000,1200,1400,1700,2000")
        .split(",")]
MAXN_DURATION = float(os.environ.get("BENCH_MAXN_DURATION", "4"))
SCENARIOS = os.environ.get("BENCH_SCENARIOS", "1,2,3,4").split(",")
USTREAMER_EXTRA = os.environ.get("USTREAMER_EXTRA", "").split()
FPS = 30
MJPEG_SIZE = "1280x720"
RAW_SIZES = ["1280x720", "1920x1080"]
RAW_CLIENTS = 10
QUALITY = 80            # both streamers' default
ENC_FRAMES = 30
COPY_FRAMES = 100


def log(*a):
    print(*a, flush=True)


def http_ok(port, path, check):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                    timeout=2) as r:
            return r.status == 200 and check(r)
    except OSError:
        return False


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Rig:
    """A streamer on a simulated camera of its own."""
    counter = 0

    def __init__(self, tmp, fmt, size):
        Rig.counter += 1
        self.id = "bench%d-%d" % (os.getpid(), Rig.counter)
        self.dir = os.path.join(tmp, self.id)
        os.mkdir(self.dir)
        os.chmod(self.dir, 0o777)   # the capture drops root
        self.dev = os.path.join(self.dir, "video0")
        open(self.dev, "w").close()
        self.fmt, self.size = fmt, size
        self.procs = []
        self.logs = []

    def sim_env(self):
        sim = "MJPG" if self.fmt == "MJPEG" else self.fmt
        return dict(os.environ, LD_PRELOAD=SIM_SO, V4L2SIM_DEVICE=self.dev,
                    V4L2SIM_FORMATS="%s:%s@%d" % (sim, self.size, FPS),
                    V4L2SIM_QUALITY=str(QUALITY))

    def spawn(self, argv, env=None):
        log_path = os.path.join(self.dir, "%d.log" % len(self.procs))
        f = open(log_path, "w")
        p = subprocess.Popen(argv, env=env, stdout=f,
                             stderr=subprocess.STDOUT)
        self.procs.append(p)
        self.logs.append(f)
        return p, log_path

    def cpu_ns(self):
        return threads_cpu_ns([p.pid for p in self.procs])

    def cpu_parts_ns(self):
        """{part: CPU ns} of the streamer's processes, for a split."""
        return {}

    def stop(self):
        stop_all(self.procs)
        for f in self.logs:
            f.close()


class Shmcam(Rig):
    name = "shmcam"

    def __init__(self, tmp, fmt, size):
        super().__init__(tmp, fmt, size)
        # Not in self.dir, which anyone may write to: the capture refuses
        # a control socket there (ctl_dir_check()).
        run = os.path.join(self.dir, "run")
        os.mkdir(run, 0o755)
        ctl = os.path.join(run, "ctl.sock")
        self.argv_capture = [CAPTURE, "--name", self.id, "--ctl", ctl,
                             "--source", "v4l2:" + self.dev, "--format", fmt,
                             "--size", size] + CAPTURE_USER
        self.capture, _ = self.spawn(self.argv_capture, self.sim_env())
        self.argv_server = [SERVER, "--name", self.id, "--ctl", ctl,
                            "--listen", "127.0.0.1:0", "--max-clients",
                            "4000"]
        if os.geteuid() == 0:
            self.argv_server.append("--allow-root")
        self.server, slog = self.spawn(self.argv_server)
        self.port = None

        def listening():
            with open(slog) as f:
                for line in f:
                    if "listening on http://127.0.0.1:" in line:
                        self.port = int(line.rsplit(":", 1)[1].strip("/\n"))
            return self.port is not None
        try:
            wait_for(listening, 15, "shmcam-server to listen")
            wait_for(lambda: http_ok(self.port, "/snapshot", lambda r:
                                     "X-Shmcam-Placeholder" not in
                                     r.headers),
                     20, "shmcam to stream the camera")
        except Exception:
            self.stop()     # nobody else has this rig to stop
            raise

    def rss(self):
        return {"rss_kb": rss_kb(self.server.pid),
                "capture_rss_kb": rss_kb(self.capture.pid)}

    def cpu_parts_ns(self):
        return {"capture": threads_cpu_ns([self.capture.pid]),
                "server": threads_cpu_ns([self.server.pid])}

    def options(self):
        return [" ".join(self.argv_capture[5:]), " ".join(
            a for a in self.argv_server[5:] if a != "--allow-root")]


class Ustreamer(Rig):
    name = "ustreamer"

    def __init__(self, tmp, fmt, size, extra=(), name=None):
        super().__init__(tmp, fmt, size)
        if name is not None:
            self.name = name
        encoder = "HW" if fmt == "MJPEG" else "CPU"
        for attempt in range(3):
            self.port = free_port()
            self.argv = [USTREAMER, "--device", self.dev, "--host",
                         "127.0.0.1", "--port", str(self.port),
                         "--resolution", size, "--format", fmt,
                         "--encoder", encoder] + list(extra) + \
                USTREAMER_EXTRA
            self.p, ulog = self.spawn(self.argv, self.sim_env())
            try:
                wait_for(lambda: self.p.poll() is not None or
                         "Listening HTTP" in open(ulog).read(), 15,
                         "ustreamer to listen")
            except RuntimeError:
                pass
            if self.p.poll() is None:
                break
            self.procs.pop()    # someone took the port meanwhile
        else:
            raise RuntimeError("ustreamer did not start")
        wait_for(lambda: http_ok(self.port, "/state", lambda r: json.load(
                 r)["result"]["source"]["online"]), 20,
                 "ustreamer to stream the camera")

    def rss(self):
        return {"rss_kb": rss_kb(self.p.pid)}

    def options(self):
        return [" ".join(a for a in self.argv[1:]
                         if a not in (self.dev, str(self.port)))]


def run_load(rig, n, duration=DURATION):
    """One load client run against rig; the figures of that run."""
    rss = {}

    def sample():
        time.sleep(WARMUP + duration / 2)
        try:
            rss.update(rig.rss())
        except OSError:
            pass
    th = threading.Thread(target=sample)
    th.start()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p0, c0, t0 = rig.cpu_parts_ns(), rig.cpu_ns(), time.monotonic()
    r = subprocess.run([LOADCLIENT, "-u", "http://127.0.0.1:%d/stream"
                        % rig.port, "-n", str(n), "-d", str(duration),
                        "--warmup", str(WARMUP), "--ts", "simstamp"],
                       capture_output=True, text=True,
                       timeout=duration + WARMUP + 120)
    c1, t1, p1 = rig.cpu_ns(), time.monotonic(), rig.cpu_parts_ns()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    th.join()
    if r.returncode != 0:
        raise RuntimeError("loadclient: " + r.stderr)
    res = json.loads(r.stdout)
    f = res["fast"]
    wall = t1 - t0
    out = {
        "cpu_s": (c1 - c0) / 1e9,
        "cpu_pct": (c1 - c0) / 1e9 / wall * 100,
        "frames_all": f["frames_all"],
        "cpu_us_per_frame": (c1 - c0) / 1e3 / max(1, f["frames_all"]),
        # Per frame of the camera: what one client's frame cost.
        "cpu_ms_per_source_frame": (c1 - c0) / 1e6 /
        max(1, f["frames_all"] / n),
        "fps_min": f["fps_min"], "fps_median": f["fps_median"],
        "latency_p50_ms": f["latency_p50"] * 1e3,
        "latency_p99_ms": f["latency_p99"] * 1e3,
        "bytes_per_frame": f["bytes"] / max(1, f["frames"]),
        "mbytes_per_s": f["mbytes_per_s"],
        "errors": len(res["errors"]),
        "unstamped": f["unstamped"],
        "connected_at_end": res["connected_at_end"],
        "client_cpu_pct": (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime -
                           ru0.ru_stime) / wall * 100,
    }
    for part in p0:
        out["cpu_us_per_frame_" + part] = (p1[part] - p0[part]) / 1e3 / \
            max(1, f["frames_all"])
    out.update(rss)
    # Let the streamer see every client leave before the next run.
    time.sleep(0.5)
    return out


def median_of(runs):
    keys = runs[0].keys()
    return {k: statistics.median(r[k] for r in runs if k in r)
            for k in keys}


def ab_rounds(rigs, fn, rounds=ROUNDS):
    """fn(rig) for each rig, rounds times, alternating which goes first;
    the runs of each rig by name."""
    runs = {rig.name: [] for rig in rigs}
    for i in range(rounds):
        order = rigs if i % 2 == 0 else list(reversed(rigs))
        for rig in order:
            runs[rig.name].append(fn(rig))
    return runs


def start_pair(tmp, fmt, size, nodelay=False):
    """shmcam and ustreamer on cameras of their own; with nodelay, also
    ustreamer with --tcp-nodelay (shmcam's sockets have TCP_NODELAY,
    ustreamer's only with that option: without it, a frame's last
    segment waits for the acknowledgement of the ones before)."""
    rigs = []
    try:
        rigs.append(Shmcam(tmp, fmt, size))
        rigs.append(Ustreamer(tmp, fmt, size))
        if nodelay:
            rigs.append(Ustreamer(tmp, fmt, size, ["--tcp-nodelay"],
                                  "ustreamer-nodelay"))
    except Exception:
        for r in rigs:
            r.stop()
        raise
    return rigs


def scenario_mjpeg(tmp, out):
    rigs = start_pair(tmp, "MJPEG", MJPEG_SIZE, nodelay=True)
    out["options"] = {r.name: r.options() for r in rigs}
    try:
        for n in CLIENTS:
            runs = ab_rounds(rigs, lambda rig: run_load(rig, n))
            out["mjpeg"][n] = {name: {"median": median_of(rs), "runs": rs}
                               for name, rs in runs.items()}
            log("MJPEG N=%d" % n, {name: {k: round(v, 2) for k, v in
                                          out["mjpeg"][n][name]["median"]
                                          .items()}
                                   for name in runs})
    finally:
        for r in rigs:
            r.stop()


def encbench(size):
    r = subprocess.run([ENCBENCH, size, str(ENC_FRAMES), str(QUALITY),
                        str(FPS)], capture_output=True, text=True,
                       timeout=300, check=True)
    vals = dict(kv.split("=") for kv in r.stdout.split())
    return {"codec_ms": float(vals["codec_ms"]),
            "encode_ms": float(vals["encode_ms"]),
            "encode_planes_ms": float(vals["encode_planes_ms"])}


def scenario_raw(tmp, out):
    for size in RAW_SIZES:
        rigs = start_pair(tmp, "YUYV", size)
        out["options_raw"] = {r.name: r.options() for r in rigs}
        try:
            runs = {"shmcam": [], "ustreamer": [], "codec": []}
            for i in range(ROUNDS):
                order = rigs if i % 2 == 0 else list(reversed(rigs))
                for rig in order:
                    runs[rig.name].append(run_load(rig, RAW_CLIENTS))
                # The codec alone, paced at the camera's rate like the
                # streamers' encoders (caches as cold as theirs).
                runs["codec"].append(encbench(size))
            out["raw"][size] = {name: {"median": median_of(rs), "runs": rs}
                                for name, rs in runs.items()}
            log("YUYV %s" % size, {name: {k: round(v, 3) for k, v in
                                          out["raw"][size][name]["median"]
                                          .items()} for name in runs})
        finally:
            for r in rigs:
                r.stop()


def passes(res):
    """Every client kept >= 95 % of the camera's frames, none failed."""
    return (res["fps_min"] >= 0.95 * FPS and res["errors"] == 0 and
            res["unstamped"] == 0)


def scenario_maxn(tmp, out):
    """The ladder, both streamers at each step (alternating who goes
    first); a streamer stops climbing at its first failure.  A failed
    step is run once more before it counts: one noise spike from the
    other users of this machine should not decide the result."""
    rigs = start_pair(tmp, "MJPEG", MJPEG_SIZE)
    best = {r.name: 0 for r in rigs}
    steps = {r.name: [] for r in rigs}
    climbing = set(best)
    try:
        for i, n in enumerate(MAXN):
            order = rigs if i % 2 == 0 else list(reversed(rigs))
            for rig in order:
                if rig.name not in climbing:
                    continue
                res = run_load(rig, n, MAXN_DURATION)
                if not passes(res):
                    res = run_load(rig, n, MAXN_DURATION)
                steps[rig.name].append({"clients": n, "fps_min":
                                        res["fps_min"], "cpu_pct":
                                        res["cpu_pct"], "client_cpu_pct":
                                        res["client_cpu_pct"],
                                        "pass": passes(res)})
                log("max N: %s N=%d fps_min %.1f cpu %.0f %% client %.0f %%"
                    % (rig.name, n, res["fps_min"], res["cpu_pct"],
                       res["client_cpu_pct"]))
                if passes(res):
                    best[rig.name] = n
                else:
                    climbing.discard(rig.name)
            if not climbing:
                break
    finally:
        for r in rigs:
            r.stop()
    out["maxn"] = {"best": best, "steps": steps,
                   "ladder_top": best == {k: MAXN[-1] for k in best}}


def copybench(nbytes, conns):
    r = subprocess.run([COPYBENCH, str(int(nbytes)), str(conns),
                        str(COPY_FRAMES)], capture_output=True, text=True,
                       timeout=300, check=True)
    vals = dict(kv.split("=") for kv in r.stdout.split())
    return {"send_ns_per_byte": float(vals["send_ns_per_byte"]),
            "recv_ns_per_byte": float(vals["recv_ns_per_byte"])}


def scenario_limits(out):
    """The kernel's cost per byte, at the frame size scenario 1 saw."""
    m = out["mjpeg"]
    n = 100 if 100 in m else max(m) if m else 100
    nbytes = m[n]["shmcam"]["median"]["bytes_per_frame"] if m else 47000
    runs = [copybench(nbytes, n) for _ in range(ROUNDS)]
    out["copy"] = {"bytes": nbytes, "conns": n, "median": median_of(runs),
                   "runs": runs}
    log("copy", out["copy"]["median"])


def ratio(a, b):
    return a / b if b else float("nan")


PEERS = ("ustreamer", "ustreamer-nodelay")


def report(out):
    L = []
    add = L.append
    add("# shmcam vs ustreamer %s (tests/bench/bench_ustreamer.py), %s" % (
        out["ustreamer_version"], out["date"]))
    add("# commit: %s; machine: %s; load average (1 min) %s at the start, "
        "%s at the end" % (out.get("commit", "?"), out["machine"], out["load_start"],
                           out["load_end"]))
    add("# medians of %d alternating rounds, %.0f s per run after %.0f s "
        "warm-up; the load client shares the 2 cores with the streamer"
        % (ROUNDS, DURATION, WARMUP))
    add("# command: make bench (or SHMCAM_BUILD=build python3 "
        "tests/bench/bench_ustreamer.py); BENCH_ROUNDS, BENCH_DURATION, "
        "BENCH_CLIENTS, BENCH_MAXN, BENCH_SCENARIOS")
    for name, opts in out.get("options", {}).items():
        add("# %s: %s" % (name, " | ".join(opts)))
    for name, opts in out.get("options_raw", {}).items():
        add("# %s (raw): %s" % (name, " | ".join(opts)))
    add("")
    m = out["mjpeg"]
    if m:
        any_n = next(iter(m.values()))
        add("1. MJPEG passthrough %s at %d fps, %.0f KB per part: CPU per "
            "delivered frame (all shmcam processes, the ustreamer process), "
            "per-client fps, capture-to-receive latency, RSS (shmcam-server; "
            "ustreamer)" % (MJPEG_SIZE, FPS,
                            any_n["shmcam"]["median"]["bytes_per_frame"] /
                            1e3))
        add("")
        add("clients  streamer           CPU/frame  CPU %  fps min  fps med  "
            "lat p50   lat p99  RSS MiB  client CPU %")
        for n, per in sorted(m.items()):
            for name in ("shmcam",) + PEERS:
                if name not in per:
                    continue
                r = per[name]["median"]
                add("%7d  %-17s  %6.1f us  %5.1f  %7.1f  %7.1f  %5.1f ms  "
                    "%5.1f ms  %7.1f  %12.0f" % (
                        n, name, r["cpu_us_per_frame"], r["cpu_pct"],
                        r["fps_min"], r["fps_median"], r["latency_p50_ms"],
                        r["latency_p99_ms"], r["rss_kb"] / 1024,
                        r["client_cpu_pct"]))
            s = per["shmcam"]["median"]
            for peer in PEERS:
                if peer not in per:
                    continue
                u = per[peer]["median"]
                add("%7s  %-17s  %9.2f         %7.2f  %7.2f  %8.2f  %8.2f  "
                    "%7.2f" % (
                        "", "shmcam/" + peer.replace("ustreamer", "ust"),
                        ratio(s["cpu_us_per_frame"], u["cpu_us_per_frame"]),
                        ratio(s["fps_min"], u["fps_min"]),
                        ratio(s["fps_median"], u["fps_median"]),
                        ratio(s["latency_p50_ms"], u["latency_p50_ms"]),
                        ratio(s["latency_p99_ms"], u["latency_p99_ms"]),
                        ratio(s["rss_kb"], u["rss_kb"])))
        add("CPU/frame of shmcam split: %s" % "; ".join(
            "%d clients: capture %.1f us, server %.1f us" % (
                n, per["shmcam"]["median"].get("cpu_us_per_frame_capture",
                                               float("nan")),
                per["shmcam"]["median"].get("cpu_us_per_frame_server",
                                            float("nan")))
            for n, per in sorted(m.items())))
        few = [n for n in (1, 2, 100) if n in m]
        for peer in PEERS:
            if all(peer in m[n] for n in few) and few:
                add("CPU per delivered frame, shmcam/%s: %s" % (
                    peer, ", ".join("%.2f at %d client%s" % (
                        ratio(m[n]["shmcam"]["median"]["cpu_us_per_frame"],
                              m[n][peer]["median"]["cpu_us_per_frame"]),
                        n, "" if n == 1 else "s") for n in few)))
        ns = sorted(m)
        if len(ns) > 1:
            lo, hi = ns[0], ns[-1]
            per = {}
            for name in ("shmcam",) + PEERS:
                if name in m[lo] and name in m[hi]:
                    per[name] = (m[hi][name]["median"]["rss_kb"] -
                                 m[lo][name]["median"]["rss_kb"]) / (hi - lo)
            add("RSS per extra client (%d to %d clients): %s; shmcam-capture "
                "%.1f MiB whatever the clients" % (
                    lo, hi, ", ".join("%s %.1f KiB" % kv
                                      for kv in per.items()),
                    m[hi]["shmcam"]["median"]["capture_rss_kb"] / 1024))
            out["rss_per_client_kib"] = per
        add("")
    if out["raw"]:
        add("2. YUYV at %d fps, %d clients, encoded by the streamer "
            "(shmcam: 4:2:2, libjpeg-turbo; ustreamer: --encoder CPU), "
            "quality %d" % (FPS, RAW_CLIENTS, QUALITY))
        add("")
        add("size       streamer   CPU/frame  CPU %  fps min  lat p50  "
            "lat p99  x codec")
        for size, per in out["raw"].items():
            codec = per["codec"]["median"]["codec_ms"]
            for name in ("shmcam", "ustreamer"):
                r = per[name]["median"]
                add("%-9s  %-9s  %6.2f ms  %5.1f  %7.1f  %5.1f ms  "
                    "%5.1f ms  %7.2f" % (
                        size, name, r["cpu_ms_per_source_frame"],
                        r["cpu_pct"], r["fps_min"], r["latency_p50_ms"],
                        r["latency_p99_ms"],
                        r["cpu_ms_per_source_frame"] / codec))
            s, u = per["shmcam"]["median"], per["ustreamer"]["median"]
            add("%-9s  ratio      %9.2f         %7.2f  %7.2f  %7.2f" % (
                "", ratio(s["cpu_ms_per_source_frame"],
                          u["cpu_ms_per_source_frame"]),
                ratio(s["fps_min"], u["fps_min"]),
                ratio(s["latency_p50_ms"], u["latency_p50_ms"]),
                ratio(s["latency_p99_ms"], u["latency_p99_ms"])))
        add("CPU/frame: all of the streamer's CPU per camera frame (capture, "
            "encode, sending to %d clients); x codec: that over TurboJPEG "
            "alone on the same frames (4.)" % RAW_CLIENTS)
        add("")
    if "maxn" in out:
        mx = out["maxn"]
        add("3. Largest N with every client >= 95 %% of %d fps (MJPEG %s; "
            "ladder %s; %.0f s per step, a failed step run once more)" % (
                FPS, MJPEG_SIZE, ",".join(map(str, MAXN)), MAXN_DURATION))
        add("")
        for name in ("shmcam", "ustreamer"):
            add("%-9s  N = %s" % (name, mx["best"][name] or "< %d" % MAXN[0]))
            for st in mx["steps"][name]:
                add("             %5d clients: fps min %4.1f, streamer CPU "
                    "%3.0f %%, load client CPU %3.0f %%%s" % (
                        st["clients"], st["fps_min"], st["cpu_pct"],
                        st["client_cpu_pct"], "" if st["pass"] else
                        "  (below 95 %)"))
        if mx["best"]["ustreamer"]:
            add("ratio shmcam/ustreamer: %.2f%s" % (
                ratio(mx["best"]["shmcam"], mx["best"]["ustreamer"]),
                " (the top of the ladder: a lower bound)" if
                mx["best"]["shmcam"] == MAXN[-1] else ""))
        else:
            add("ratio shmcam/ustreamer: more than %.0f (ustreamer fails "
                "the ladder's first step)" % (mx["best"]["shmcam"] / MAXN[0]))
        add("")
    if "copy" in out or out["raw"]:
        add("4. Limits, measured in this run")
        add("")
    if "copy" in out:
        c = out["copy"]
        per_byte = c["median"]["send_ns_per_byte"]
        add("kernel: loopback TCP, plain write() of %d-byte frames to %d "
            "connections (build/tests/copybench): %.3f ns of the writer's "
            "CPU per byte (%.1f us per frame); the reader %.3f ns per byte"
            % (c["bytes"], c["conns"], per_byte, per_byte * c["bytes"] / 1e3,
               c["median"]["recv_ns_per_byte"]))
        for n, per in sorted(m.items()):
            if n < 10:
                continue
            add("  %4d clients: CPU per delivered byte %s" % (n, ", ".join(
                "%s %.2f x the kernel's" % (
                    name, per[name]["median"]["cpu_us_per_frame"] /
                    (per_byte * per[name]["median"]["bytes_per_frame"] /
                     1e3)) for name in ("shmcam",) + PEERS if name in per)))
    for size, per in out["raw"].items():
        codec = per["codec"]["median"]
        add("codec %s: TurboJPEG alone (build/tests/encbench, paced at %d "
            "fps) %.2f ms per frame; shmcam's encoder_encode() %.2f ms "
            "(%.2f x); whole streamer per frame: shmcam %.2f x, ustreamer "
            "%.2f x" % (
                size, FPS, codec["codec_ms"], codec["encode_ms"],
                codec["encode_ms"] / codec["codec_ms"],
                per["shmcam"]["median"]["cpu_ms_per_source_frame"] /
                codec["codec_ms"],
                per["ustreamer"]["median"]["cpu_ms_per_source_frame"] /
                codec["codec_ms"]))
    if "copy" in out or out["raw"]:
        add("")
    if 100 in m:
        s = m[100]["shmcam"]["median"]
        peers = [m[100][p]["median"] for p in PEERS if p in m[100]]
        best_cpu = min(u["cpu_us_per_frame"] for u in peers)
        best_p99 = min(u["latency_p99_ms"] for u in peers)
        add("Targets at 100 clients, MJPEG passthrough, against the "
            "better of the ustreamer configurations:")
        cpu_r = s["cpu_us_per_frame"] / best_cpu
        add("  CPU per delivered frame <= 0.5 x ustreamer's: %.2f x (%.1f "
            "against %.1f us): %s" % (cpu_r, s["cpu_us_per_frame"], best_cpu,
                                      "met" if cpu_r <= 0.5 else "MISSED"))
        ok = s["latency_p99_ms"] <= min(best_p99, 5.0)
        add("  latency p99 <= ustreamer's and <= 5 ms: %.1f ms (ustreamer "
            "%.1f ms): %s" % (s["latency_p99_ms"], best_p99,
                              "met" if ok else "MISSED"))
        if "rss_per_client_kib" in out:
            r = out["rss_per_client_kib"]["shmcam"]
            add("  server RSS <= 64 KiB per extra client: %.1f KiB: %s" % (
                r, "met" if r <= 64 else "MISSED"))
        add("  raw encode <= 1.15 x the codec alone: the capture's own "
            "thread against TurboJPEG, tests/bench/results/capture.txt")
    return "\n".join(L) + "\n"


def main():
    for b in (CAPTURE, SERVER, LOADCLIENT, ENCBENCH, COPYBENCH, SIM_SO):
        if not os.path.exists(b):
            sys.exit("missing %s: run make and make the test binaries"
                     % b)
    if not os.path.exists(USTREAMER):
        log("bench_ustreamer: %s is not installed (make deps): skipped"
            % USTREAMER)
        return 0
    ver = subprocess.run([USTREAMER, "--version"], capture_output=True,
                         text=True).stdout.strip()
    tmp = tempfile.mkdtemp(prefix="shmcam-bench-")
    os.chmod(tmp, 0o755)
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "commit": commit(), "machine": machine(),
           "ustreamer_version": ver,
           "load_start": "%.2f" % os.getloadavg()[0], "rounds": ROUNDS,
           "duration": DURATION, "warmup": WARMUP, "mjpeg": {}, "raw": {}}
    try:
        if "1" in SCENARIOS or "4" in SCENARIOS:
            scenario_mjpeg(tmp, out)
        if "2" in SCENARIOS or "4" in SCENARIOS:
            scenario_raw(tmp, out)
        if "3" in SCENARIOS:
            scenario_maxn(tmp, out)
        if "4" in SCENARIOS:
            scenario_limits(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["load_end"] = "%.2f" % os.getloadavg()[0]
    text = report(out)
    save_results("ustreamer", out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
