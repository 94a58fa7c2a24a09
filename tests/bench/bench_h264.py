"""H.264 encoding cost in the capture, against x264 alone in the same run.

Content with motion across the whole picture: ffmpeg's mandelbrot source
(a continuous zoom: every pixel changes every frame), 60 pictures at
1280x720 rendered once and played by the simulated camera from the file
(V4L2SIM_FILE) at 30 fps, as NV12 (what x264 takes as it is) and as YUYV
(converted by libyuv in the capture).

The capture runs with one H.264 viewer (tests/tools/h264dump attached like
a server) and, alternating, with none (it then encodes no H.264 and JPEG
once a second).  Its cost of H.264 per frame is the encoder thread's CPU
time per access unit published, plus what the loop thread spends more per
frame with the viewer than without (copying the frame for the encoder,
publishing, waking).  The baseline is tests/tools/x264bench: x264 alone,
with the capture's own settings (h264enc_param()), on the same pictures,
paced at 30 fps like the capture (target: capture <= 1.1 x x264 alone).
Only the capture's own threads are counted (/proc/PID/task/*/schedstat):
the simulator's producer thread is the camera's.  Also the delay from
capture to publication (encoding included), p50 and p99, and the
bitrate.  Medians of RUNS runs of SECONDS each.
"""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from benchutil import (BUILD, CAPTURE, CAPTURE_USER, H264DUMP, RESULTS,
                       SIM_SO, pct, publication_delays, render_mandelbrot,
                       thread_times, wait_for, write_results)
from shmcam import ring_info

RESULTS = os.path.join(RESULTS, "h264.txt")
X264BENCH = os.path.join(BUILD, "tests", "x264bench")

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SECONDS = float(os.environ.get("BENCH_DURATION", "8"))
W, H, FPS = 1280, 720, 30
PICTURES = 60


def ring(cap, h264=False):
    """The JPEG or H.264 ring of Capture cap (ringinfo), {} if unread."""
    return ring_info(cap.ctl, h264=h264) or {}


class Capture:
    counter = 0

    def __init__(self, tmp, content, fmt):
        Capture.counter += 1
        self.tmp = tmp
        self.name = "bh264-%d-%d" % (os.getpid(), Capture.counter)
        self.ctl = os.path.join(tmp, self.name + ".sock")
        dev = os.path.join(tmp, "video%d" % Capture.counter)
        open(dev, "w").close()
        env = dict(os.environ, LD_PRELOAD=SIM_SO, V4L2SIM_DEVICE=dev,
                   V4L2SIM_FILE=content,
                   V4L2SIM_FORMATS="%s:%dx%d@%d" % (
                       {"NV12": "NV12", "YUYV": "YUYV"}[fmt], W, H, FPS))
        self.log = open(os.path.join(tmp, self.name + ".log"), "w")
        self.p = subprocess.Popen([CAPTURE, "--name", self.name, "--ctl",
                                   self.ctl, "--source", "v4l2:" + dev,
                                   "--format", fmt, "--size",
                                   "%dx%d" % (W, H), "--fps", str(FPS)] +
                                  CAPTURE_USER, env=env, stdout=self.log,
                                  stderr=subprocess.STDOUT)
        wait_for(lambda: ring(self).get("captured", 0) >= 15, 60,
                 "capture %s to run" % self.name)

    def threads(self):
        """(loop thread ns, encoder thread ns, source frames)."""
        t = thread_times([self.p.pid])
        loop = sum(ns for (_, _, tid), ns in t.items()
                   if int(tid) == self.p.pid)
        enc = sum(ns for (_, comm, _), ns in t.items() if comm == "h264")
        return loop, enc, ring(self)["captured"]

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(20)
        self.log.close()


def run_capture(tmp, content, fmt, viewer):
    """ms per frame: (loop thread per source frame, encoder thread per
    access unit), kbit/s, and the publication delays (s) of the units."""
    cap = Capture(tmp, content, fmt)
    dump = None
    idx = os.path.join(tmp, "idx")
    try:
        if viewer:
            dump = subprocess.Popen([H264DUMP, "-c", cap.ctl, "-n",
                                     "1000000", "-t", str(SECONDS + 60),
                                     "-i", idx], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            wait_for(lambda: ring(cap, True).get("latest", 0) >= 30,
                     60, "H.264 frames")
        l0, e0, f0 = cap.threads()
        a0 = ring(cap, True)
        t0 = time.monotonic()
        time.sleep(SECONDS)
        l1, e1, f1 = cap.threads()
        a1 = ring(cap, True)
        t1 = time.monotonic()
        units = a1.get("latest", 0) - a0.get("latest", 0)
        kbps = (a1.get("bytes", 0) - a0.get("bytes", 0)) * 8 / (t1 - t0) / 1e3
    finally:
        if dump is not None:
            dump.send_signal(signal.SIGTERM)
            dump.wait(20)
        cap.stop()
    delays = []
    if viewer:
        delays = publication_delays(idx)
        os.unlink(idx)
    return ((l1 - l0) / 1e6 / max(f1 - f0, 1),
            (e1 - e0) / 1e6 / units if units else 0.0, kbps, delays)


def run_x264(content, csp):
    r = subprocess.run([X264BENCH, "%dx%d" % (W, H), content,
                        str(int(SECONDS * FPS)), str(FPS), csp],
                       capture_output=True, text=True, timeout=300,
                       check=True)
    return float(dict(kv.split("=") for kv in r.stdout.split())["x264_ms"])


def main():
    if subprocess.run([X264BENCH], capture_output=True).returncode == 77:
        print("bench_h264: built with X264=no: nothing to measure")
        return 0
    tmp = tempfile.mkdtemp(prefix="shmcam-bench-h264-")
    os.chmod(tmp, 0o755)
    content = os.path.join(tmp, "mandelbrot.yuv")
    lines = []
    try:
        render_mandelbrot(content, W, H, FPS, PICTURES)
        for fmt in ("NV12", "YUYV"):
            with_l, with_e, without_l, x_nv12, x_i420 = [], [], [], [], []
            rates, delays = [], []
            for _ in range(RUNS):
                l, e, kbps, d = run_capture(tmp, content, fmt, True)
                with_l.append(l)
                with_e.append(e)
                rates.append(kbps)
                delays += d
                l, _, _, _ = run_capture(tmp, content, fmt, False)
                without_l.append(l)
                x_nv12.append(run_x264(content, "nv12"))
                x_i420.append(run_x264(content, "i420"))
            enc = statistics.median(with_e)
            loop = statistics.median(with_l) - statistics.median(without_l)
            total = enc + max(loop, 0.0)
            xn = statistics.median(x_nv12)
            xi = statistics.median(x_i420)
            base = xn if fmt == "NV12" else xi
            lines.append("%s %dx%d at %d fps, mandelbrot: H.264 in the "
                         "capture %.3f ms/frame (encoder thread %.3f, loop "
                         "thread +%.3f); x264 alone %.3f ms (%s): ratio "
                         "%.3f (target <= 1.1)"
                         % (fmt, W, H, FPS, total, enc, loop, base,
                            "NV12" if fmt == "NV12" else "I420",
                            total / base))
            lines.append("    x264 alone on NV12 %.3f ms, on I420 %.3f ms; "
                         "%.0f kbit/s; capture to publication p50 %.1f ms, "
                         "p99 %.1f ms (%d units)"
                         % (xn, xi, statistics.median(rates),
                            pct(delays, 0.5) * 1e3, pct(delays, 0.99) * 1e3,
                            len(delays)))
            lines.append("    runs: encoder %s; loop with %s, without %s; "
                         "x264 NV12 %s, I420 %s" % (
                             " ".join("%.3f" % v for v in with_e),
                             " ".join("%.3f" % v for v in with_l),
                             " ".join("%.3f" % v for v in without_l),
                             " ".join("%.3f" % v for v in x_nv12),
                             " ".join("%.3f" % v for v in x_i420)))
            print("\n".join(lines[-3:]), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_results(RESULTS, "H.264 encoding in the capture",
                  "bench_h264.py", "medians of %d runs of %.0f s; default "
                  "settings (ultrafast with deblocking, adaptive quantization "
                  "and CABAC, Main, CRF 23, VBV 1935 kbit/s, GOP 30); the "
                  "machine is shared with other builds"
                  % (RUNS, SECONDS), lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
