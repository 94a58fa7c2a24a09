"""x264's settings compared for shmcam-capture's defaults: the CPU time
x264 needs per frame against the bandwidth it saves over MJPEG at equal
picture quality (not part of make bench: it answers which preset the
capture should default to, and takes minutes).

  SHMCAM_BUILD=build python3 tests/bench/x264settings.py [SETTING...]

A SETTING is a preset, optionally with x264 options on top,
"ultrafast+aq-mode=1+subme=1" (x264_param_parse() names); without any,
the list below, into results/x264settings.txt; with some, into
results/x264settings-SETTING_SETTING....txt.

Content as in bench_mp4.py: PICTURES pictures of ffmpeg's mandelbrot at
1280x720, 30 fps, looped (a scene cut every PICTURES frames, in the middle
of a GOP).

  H.264      tests/tools/x264bench: x264 alone with the capture's settings
             (h264enc_param(): zerolatency, Main, CRF 23 within the VBV
             rate limit, GOP 30, one thread, deblocking, CABAC and
             adaptive quantization on) but
             the preset and options named, on NV12 pictures, paced at 30
             fps; its thread CPU time per frame, the bitrate, and the SSIM
             (luma) of its decoded stream against the source pictures
             (frame for frame: no matching needed).  Medians of RUNS runs
             for the CPU time, the runs of all settings taking turns.
  MJPEG      the capture (YUYV from the simulated camera, TurboJPEG at each
             --quality) and a server, /stream recorded and judged as in
             bench_mp4.py, twice: decoded as a viewer's browser shows it
             (JPEG is full range by JFIF, and the capture puts the
             camera's limited-range samples in as they are, so the
             picture's contrast shrinks by 219/255), and decoded as coded
             (the samples compared as they are, the codec's loss alone).
  ratio      H.264's bitrate against MJPEG's at the same SSIM, the MJPEG
             bitrate interpolated between the two --quality values whose
             SSIM bracket H.264's ("-" where none do).
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from benchutil import BUILD, RESULTS, render_mandelbrot, write_results
import bench_mp4
from bench_mp4 import Camera, W, H, FPS, PICTURES

X264BENCH = os.path.join(BUILD, "tests", "x264bench")
RESULTS_TXT = os.path.join(RESULTS, "x264settings.txt")
# Settings named on the command line: a results file of their own, so
# that the one behind the capture's defaults stays.
RESULTS_GIVEN_TXT = os.path.join(RESULTS, "x264settings-%s.txt")
FRAMES = int(os.environ.get("BENCH_FRAMES", "180"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
QUALITIES = (20, 30, 40, 50, 60, 75, 85, 95)
# h264enc_param() turns deblocking, (Main) CABAC and adaptive
# quantization on whatever the preset: "ultrafast" is the capture's
# default, "ultrafast+no-deblock=1+cabac=0+aq-mode=0" x264's own
# ultrafast ("deblock=0" would set the filter's strength, and turn it
# on), "ultrafast+cabac=0" what --h264-profile baseline gives.
SETTINGS = (
    "superfast",
    "ultrafast+no-deblock=1+cabac=0+aq-mode=0",
    "ultrafast+cabac=0+aq-mode=0",
    "ultrafast+aq-mode=0",
    "ultrafast+cabac=0",
    "ultrafast",
    "ultrafast+subme=1",
    "superfast+subme=0",
)
# The pictures start this far into the zoom, so that its jump back to the
# start (a scene cut, which the capture does not make a keyframe of)
# falls in the middle of a GOP, as it does at any phase in the capture,
# and not on a keyframe, as it would with PICTURES a multiple of the GOP.
ROTATE = 15


def ssim_y(decoded, source):
    """Mean luma SSIM of an H.264 stream's frames against the source
    pictures (frame k shows picture k modulo PICTURES), the first
    PICTURES frames left out: x264's rate control starts with a full
    buffer, so they are better than the stream that follows."""
    pace = "setpts=N/%d/TB,trim=start_frame=%d" % (FPS, PICTURES)
    r = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "info", "-f", "h264", "-i", decoded,
         "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", "%dx%d" % (W, H),
         "-i", source, "-lavfi",
         "[0:v]%s[d];[1:v]loop=loop=-1:size=%d:start=0,%s[r];"
         "[d][r]ssim=shortest=1" % (pace, PICTURES, pace),
         "-f", "null", "-"], capture_output=True, text=True, timeout=600)
    line = [ln for ln in r.stderr.splitlines() if "SSIM Y:" in ln][-1]
    return float(line.split("Y:")[1].split()[0])


def x264_once(setting, source, out):
    """x264_ms, bytes of one x264bench run of setting."""
    preset, *opts = setting.split("+")
    r = subprocess.run([X264BENCH, "%dx%d" % (W, H), source, str(FRAMES),
                        str(FPS), "nv12", out, preset] + opts,
                       capture_output=True, text=True, check=True,
                       timeout=600)
    kv = dict(f.split("=") for f in r.stdout.split())
    return float(kv["x264_ms"]), int(kv["bytes"])


def x264_runs(settings, source, tmp):
    """A row per setting; the runs of all settings take turns, so that
    the machine's load, which changes by the minute here, falls on each
    alike."""
    rows = {s: {"setting": s, "runs_ms": []} for s in settings}
    for k in range(RUNS):
        for s in settings:
            out = os.path.join(tmp, "x.h264")
            ms, n = x264_once(s, source, out)
            r = rows[s]
            r["runs_ms"].append(ms)
            if k == 0:
                # Deterministic (one thread): one run tells the bytes
                # and the picture.
                r["kbps"] = n * 8 / (FRAMES / FPS) / 1e3
                r["ssim"] = ssim_y(out, source)
    for r in rows.values():
        r["x264_ms"] = statistics.median(r["runs_ms"])
        print("%-45s %.3f ms/frame %s, %.0f kbit/s, SSIM %.4f" % (
            r["setting"], r["x264_ms"], r["runs_ms"], r["kbps"], r["ssim"]),
            flush=True)
    return [rows[s] for s in settings]


def mjpeg_curve(source, tmp):
    """{quality: (kbit/s, SSIM as shown, SSIM as coded)} through the
    capture and the server."""
    src_thumbs = bench_mp4.thumbs(source)
    curve = {}
    for q in QUALITIES:
        cam = Camera(tmp, source, quality=q)
        try:
            mj = os.path.join(tmp, "rec.mjpeg")
            bps = bench_mp4.record(cam.port, "/stream", 4, mj)
        finally:
            cam.stop()
        shown = os.path.join(tmp, "shown.yuv")
        n = bench_mp4.decode_raw(mj, shown, fmt="mjpeg")
        coded = os.path.join(tmp, "coded.yuv")
        # yuvj420p: the samples as they are, no range conversion.
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "mjpeg",
                        "-i", mj, "-pix_fmt", "yuvj420p", "-f", "rawvideo",
                        "-y", coded], check=True, timeout=300)
        curve[q] = (bps * 8 / 1e3,
                    bench_mp4.ssim_against_source(shown, n, source,
                                                  src_thumbs, tmp)[0],
                    bench_mp4.ssim_against_source(coded, n, source,
                                                  src_thumbs, tmp)[0])
        print("MJPEG --quality %d: %.0f kbit/s, SSIM shown %.4f, coded "
              "%.4f" % ((q,) + curve[q]), flush=True)
    return curve


def mjpeg_kbps_at(curve, ssim, which):
    """MJPEG's kbit/s at this SSIM (which: 1 shown, 2 coded), linear
    between the qualities that bracket it, None outside."""
    pts = sorted((v[which], v[0]) for v in curve.values())
    for (s0, k0), (s1, k1) in zip(pts, pts[1:]):
        if s0 <= ssim <= s1 and s1 > s0:
            return k0 + (k1 - k0) * (ssim - s0) / (s1 - s0)
    return None


def main():
    settings = sys.argv[1:] or SETTINGS
    tmp = tempfile.mkdtemp(prefix="shmcam-x264settings-")
    os.chmod(tmp, 0o755)
    lines = []
    try:
        source = os.path.join(tmp, "mandelbrot.yuv")
        render_mandelbrot(source, W, H, FPS, PICTURES)
        rotated = os.path.join(tmp, "rotated.yuv")
        with open(source, "rb") as f:
            pics = f.read()
        cut = ROTATE * W * H * 3 // 2
        with open(rotated, "wb") as f:
            f.write(pics[cut:] + pics[:cut])
        rows = x264_runs(settings, rotated, tmp)
        curve = mjpeg_curve(source, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def ratio(r, which):
        k = mjpeg_kbps_at(curve, r["ssim"], which)
        return "-" if k is None else "1/%.1f" % (k / r["kbps"])
    base = rows[0]["x264_ms"]
    lines.append("x264 alone, %dx%d at %d fps, mandelbrot (%d pictures "
                 "looped, the cut mid-GOP), NV12, %d frames, the "
                 "capture's settings but preset and options; CPU median "
                 "of %d runs; ratio: bitrate against MJPEG's at the same "
                 "SSIM, as shown / as coded"
                 % (W, H, FPS, PICTURES, FRAMES, RUNS))
    for r in rows:
        lines.append("    %-45s %6.3f ms/frame (%.2f x %s), %5.0f kbit/s, "
                     "SSIM %.4f, ratio %s / %s"
                     % (r["setting"], r["x264_ms"], r["x264_ms"] / base,
                        rows[0]["setting"], r["kbps"], r["ssim"],
                        ratio(r, 1), ratio(r, 2)))
    lines.append("MJPEG through the capture (YUYV) and the server: "
                 "--quality: kbit/s, SSIM as shown, as coded")
    for q, (k, s1, s2) in sorted(curve.items()):
        lines.append("    %3d: %6.0f kbit/s, SSIM %.4f, %.4f" % (q, k, s1,
                                                                 s2))
    print("\n".join(lines))
    write_results(RESULTS_GIVEN_TXT % "_".join(sys.argv[1:])
                  if sys.argv[1:] else RESULTS_TXT,
                  "x264's settings against MJPEG",
                  "x264settings.py", "the machine is shared with other "
                  "builds (2 vCPUs)", lines,
                  command=" ".join(
                      (["BENCH_RUNS=%d" % RUNS] if RUNS != 5 else []) +
                      ["SHMCAM_BUILD=build python3",
                       "tests/bench/x264settings.py"] + sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
