"""shmcam-rtsp's CPU per delivered frame, against HTTP delivery of the same
camera in the same run.

One capture (test pattern, 1280x720, 30 fps, H.264 by x264 and JPEG),
one shmcam-rtsp and one shmcam-server attached to it.  For N = 1, 10 and
100 clients on loopback, alternating so that all see the same machine:

  RTSP   N sessions over TCP (RTP interleaved, as NVRs and Home Assistant
         use it): OPTIONS, DESCRIBE, SETUP and PLAY each, then one thread
         reads every connection as fast as it comes;
  MP4    N clients of the server's /stream.mp4 (build/tests/loadclient
         --mp4), the baseline: the same H.264 access units from the same
         ring, delivered by the server program whose send policy (a
         frame shared by reference) shmcam-rtsp follows;
  MJPEG  N clients of the server's MJPEG /stream, for comparison.

CPU per delivered frame is the program's CPU time (every thread's
schedstat) over the frames it sent to all its clients in the run
(shmcam-rtsp's shmcam_rtsp_frames_sent_total, the server's /state
frames_sent of that kind of stream), both read around the run.  An H.264
access unit is a few kilobytes (a handful of RTP packets, or one MP4
fragment), a JPEG frame ten times that in one write: RTSP/MP4 compares
two ways of carrying the same frames, RTSP/MJPEG what one delivered frame
costs each program, not which stream is cheaper to carry.  Medians of
RUNS runs of DURATION seconds.

Writes tests/bench/results/rtsp.txt.
"""

import json
import os
import re
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from benchutil import (BUILD, CAPTURE, CAPTURE_USER, LOADCLIENT, RESULTS,
                       SERVER, frames_sent, stop_all, threads_cpu_ns, wait_for,
                       write_results)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "integration"))
from rtsptools import RtspClient  # noqa: E402

RTSP = os.path.join(BUILD, "shmcam-rtsp")
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
DURATION = float(os.environ.get("BENCH_DURATION", "8"))
CLIENTS = [1, 10, 100]
SIZE, FPS = "1280x720", 30


def cpu_s(pid):
    """The program's CPU time, all threads, ns precision (schedstat)."""
    return threads_cpu_ns([pid]) / 1e9


def start(argv, log, reader=True):
    if reader and os.geteuid() == 0:
        argv = argv + ["--allow-root"]
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)


def log_port(path, pattern, timeout=10):
    found = []

    def look():
        with open(path) as f:
            m = re.search(pattern, f.read())
        if m:
            found.append(int(m.group(1)))
        return bool(found)
    wait_for(look, timeout, pattern)
    return found[0]


def rtsp_frames(http_port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % http_port,
                                timeout=10) as r:
        text = r.read().decode()
    return sum(float(line.rpartition(" ")[2]) for line in text.splitlines()
               if line.startswith("shmcam_rtsp_frames_sent_total"))


def drain(socks, stop):
    """Reads every socket until stop is set; bytes read."""
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    buf = bytearray(262144)
    total = 0
    while not stop.is_set():
        for key, _ in sel.select(0.2):
            try:
                total += key.fileobj.recv_into(buf)
            except BlockingIOError:
                pass
    sel.close()
    return total


def run_rtsp(port, http_port, name, n):
    url = "rtsp://127.0.0.1:%d/%s" % (port, name)
    clients = []
    try:
        for _ in range(n):
            c = RtspClient(port)
            r = c.start(url)
            if r.status != 200:
                raise RuntimeError("PLAY: %d" % r.status)
            clients.append(c)
        # Every session past its first keyframe before counting.
        stop = threading.Event()
        got = []
        t = threading.Thread(target=lambda: got.append(
            drain([c.sock for c in clients], stop)))
        t.start()
        time.sleep(1.5)
        cpu0, f0 = cpu_s(RTSP_PID[0]), rtsp_frames(http_port)
        time.sleep(DURATION)
        cpu1, f1 = cpu_s(RTSP_PID[0]), rtsp_frames(http_port)
        stop.set()
        t.join(30)
    finally:
        for c in clients:
            c.close()
    frames = f1 - f0
    return {"cpu_s": cpu1 - cpu0, "frames": frames,
            "fps_per_client": frames / n / DURATION,
            "us_per_frame": (cpu1 - cpu0) / max(1, frames) * 1e6}


def run_http(port, pid, n, mp4):
    kind = "mp4" if mp4 else "mjpeg"
    cpu0, f0 = cpu_s(pid), frames_sent(port, kind=kind)
    r = subprocess.run([LOADCLIENT, "-u", "http://127.0.0.1:%d%s"
                        % (port, "/stream.mp4" if mp4 else "/stream"),
                        "-n", str(n), "-d", str(DURATION),
                        "--warmup", "1.5"] + (["--mp4"] if mp4 else []),
                       capture_output=True, text=True,
                       timeout=DURATION + 120)
    if r.returncode != 0:
        raise RuntimeError("loadclient: " + r.stderr)
    cpu1, f1 = cpu_s(pid), frames_sent(port, kind=kind)
    # The load client's warm-up counts here too, on both sides.
    frames = f1 - f0
    return {"cpu_s": cpu1 - cpu0, "frames": frames,
            "fps_per_client": json.loads(r.stdout)["fast"]["fps_median"],
            "us_per_frame": (cpu1 - cpu0) / max(1, frames) * 1e6}


RTSP_PID = [0]


def main():
    for b in (CAPTURE, SERVER, RTSP, LOADCLIENT):
        if not os.path.exists(b):
            sys.exit("missing %s: run make first" % b)
    tmp = tempfile.mkdtemp(prefix="shmcam-bench-rtsp-")
    name = "brtsp%d" % os.getpid()
    ctl = os.path.join(tmp, name + ".sock")
    procs = []
    res = {n: {"rtsp": [], "mp4": [], "mjpeg": []} for n in CLIENTS}
    try:
        procs.append(start([CAPTURE, "--name", name, "--ctl", ctl,
                            "--size", SIZE, "--fps", str(FPS),
                            "--source", "pattern", "--h264", "on"] +
                           CAPTURE_USER,
                           open(os.path.join(tmp, "capture.log"), "w"),
                           reader=False))
        wait_for(lambda: os.path.exists(ctl), 10, "the capture")
        rlog = os.path.join(tmp, "rtsp.log")
        procs.append(start([RTSP, "--name", name, "--ctl", ctl,
                            "--listen", "127.0.0.1:0", "--http",
                            "127.0.0.1:0", "--max-clients", "500"],
                           open(rlog, "w")))
        RTSP_PID[0] = procs[-1].pid
        rport = log_port(rlog, r"listening on rtsp://127\.0\.0\.1:(\d+)/")
        hport = log_port(rlog, r"/state and /metrics on http://[^:]+:(\d+)/")
        slog = os.path.join(tmp, "server.log")
        procs.append(start([SERVER, "--name", name, "--ctl", ctl,
                            "--listen", "127.0.0.1:0", "--max-clients",
                            "500"], open(slog, "w")))
        sport = log_port(slog, r"listening on http://127\.0\.0\.1:(\d+)/")
        wait_for(lambda: "h264 ring" in open(rlog).read(), 10,
                 "shmcam-rtsp's H.264 ring")
        for n in CLIENTS:
            for _ in range(RUNS):
                res[n]["rtsp"].append(run_rtsp(rport, hport, name, n))
                res[n]["mp4"].append(run_http(sport, procs[-1].pid, n,
                                              True))
                res[n]["mjpeg"].append(run_http(sport, procs[-1].pid, n,
                                                False))
                time.sleep(0.5)
            print("N=%d" % n, json.dumps(res[n]), flush=True)
    finally:
        stop_all(procs)
        shutil.rmtree(tmp, ignore_errors=True)

    lines = ["clients  RTSP fps/client  RTSP CPU/frame  MP4 fps/client  "
             "MP4 CPU/frame  RTSP/MP4  MJPEG CPU/frame  RTSP/MJPEG"]
    for n in CLIENTS:
        m = {k: {f: statistics.median(r[f] for r in runs)
                 for f in ("fps_per_client", "us_per_frame")}
             for k, runs in res[n].items()}
        rtsp = m["rtsp"]["us_per_frame"]
        lines.append("%7d  %15.1f  %11.1f us  %14.1f  %10.1f us  %8.2f  "
                     "%12.1f us  %10.2f" % (
                         n, m["rtsp"]["fps_per_client"], rtsp,
                         m["mp4"]["fps_per_client"],
                         m["mp4"]["us_per_frame"],
                         rtsp / m["mp4"]["us_per_frame"],
                         m["mjpeg"]["us_per_frame"],
                         rtsp / m["mjpeg"]["us_per_frame"]))
    write_results(os.path.join(RESULTS, "rtsp.txt"),
                  "shmcam-rtsp's CPU per delivered frame", "bench_rtsp.py",
                  "%s at %d fps, test pattern; RTSP over TCP interleaved "
                  "against the server's /stream.mp4 (and MJPEG /stream), "
                  "loopback, alternating; medians of "
                  "%d runs of %.0f s; CPU time over frames sent"
                  % (SIZE, FPS, RUNS, DURATION), lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
