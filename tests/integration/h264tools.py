"""Helpers for the H.264 tests: tests/tools/h264dump (a server's view of
the capture's H.264 ring, written as Annex B with an index of what
happened), ffprobe and ffmpeg on what it wrote, and SSIM against
reference frames with ffmpeg's ssim filter."""

import os
import re
import subprocess
import unittest

from shmcam import BUILD, CAPTURE

H264DUMP = os.path.join(BUILD, "tests", "h264dump")
KEYFRAME = 0x4           # ring.h RING_FRAME_KEYFRAME
PASSTHROUGH = 0x2        # ring.h RING_FRAME_PASSTHROUGH


def have_x264():
    """True if the capture was built with x264 (--version's features
    line names it)."""
    r = subprocess.run([CAPTURE, "--version"], capture_output=True,
                       text=True, timeout=10)
    for line in r.stdout.splitlines():
        if line.startswith("features:"):
            return "x264" in line.split()[1:]
    return False


X264 = have_x264()
need_x264 = unittest.skipUnless(
    X264, "built with X264=no: the capture encodes no H.264")


class Unit:
    __slots__ = ("seq", "flags", "length", "capture_real_ns",
                 "capture_mono_ns", "publish_mono_ns", "width", "height",
                 "slices", "encode_ns", "encoded")

    def __init__(self, fields):
        (self.seq, self.flags, self.length, self.capture_real_ns,
         self.capture_mono_ns, self.publish_mono_ns, self.width,
         self.height, self.slices, self.encode_ns,
         self.encoded) = (int(x) for x in fields)

    @property
    def keyframe(self):
        return bool(self.flags & KEYFRAME)


class Index:
    """What h264dump's -i file says: units, requests, viewer changes and
    attaches, in order."""

    def __init__(self, path):
        self.units, self.requests, self.viewers, self.attaches = [], [], [], []
        self.events = []
        with open(path) as f:
            for line in f:
                w = line.split()
                if w[0] == "au":
                    u = Unit(w[1:])
                    self.units.append(u)
                    self.events.append(("au", u))
                elif w[0] == "request":
                    self.requests.append((int(w[1]), int(w[2])))
                    self.events.append(("request", int(w[1])))
                elif w[0] == "viewers":
                    self.viewers.append((int(w[1]), int(w[2])))
                    self.events.append(("viewers", int(w[1]), int(w[2])))
                elif w[0] == "attach":
                    self.attaches.append({"generation": w[1],
                                          "params_len": int(w[2]),
                                          "params_from": int(w[3]),
                                          "bitrate_kbps": int(w[4]),
                                          "gop": int(w[5])})
                    self.events.append(("attach", w[1]))

    def written(self):
        """The units h264dump wrote to its Annex-B file: from the first
        keyframe of each attach on (the order ffmpeg decodes them in)."""
        out, started = [], False
        for e in self.events:
            if e[0] == "attach":
                started = False
            elif e[0] == "au":
                started = started or e[1].keyframe
                if started:
                    out.append(e[1])
        return out


def h264dump(ctl, out=None, index=None, frames=60, seconds=30, args=(),
             timeout=60):
    argv = [H264DUMP, "-c", ctl, "-n", str(frames), "-t", str(seconds)]
    if out:
        argv += ["-o", out]
    if index:
        argv += ["-i", index]
    r = subprocess.run(argv + list(args), capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("h264dump failed (%d): %s"
                             % (r.returncode, r.stderr))
    return Index(index) if index else None


def ffprobe(path):
    """The first video stream's fields as a dict of strings."""
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0",
                        "-show_streams", path], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("ffprobe failed: " + r.stderr)
    return dict(line.split("=", 1) for line in r.stdout.splitlines()
                if "=" in line)


def decode(path, raw=None, fmt="h264"):
    """Decodes path with ffmpeg, stopping at the first error; the number
    of frames, and the frames as raw planes in the decoder's own pixel
    format (no range or colour conversion) into raw if given.  fmt: the
    input's format, None to let ffmpeg tell."""
    out = ["-f", "rawvideo", raw] if raw else ["-f", "framecrc", "-"]
    inp = (["-f", fmt] if fmt else []) + ["-i", path]
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-xerror"] +
                       inp + out + ["-y"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or r.stderr.strip():
        raise AssertionError("ffmpeg decoding %s: %s" % (path, r.stderr))
    if raw:
        return None
    return sum(1 for line in r.stdout.splitlines()
               if line and not line.startswith("#"))


def ssim(a, b, width, height, pix_fmt="yuv420p", tmp=None):
    """Per-frame SSIM of two raw files of the same frames (Y, U, V and
    All, as ffmpeg's ssim filter computes them), as a list of dicts."""
    stats = os.path.join(tmp or os.path.dirname(a), "ssim-%d.log" %
                         os.getpid())
    size = "%dx%d" % (width, height)
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error",
                        "-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", size,
                        "-i", a,
                        "-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", size,
                        "-i", b,
                        "-lavfi", "ssim=stats_file=" + stats, "-f", "null",
                        "-"], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError("ffmpeg ssim: " + r.stderr)
    frames = []
    with open(stats) as f:
        for line in f:
            d = dict(re.findall(r"(\w+):([0-9.]+)", line))
            frames.append({k: float(d[k]) for k in ("Y", "U", "V", "All")})
    os.unlink(stats)
    return frames


def frame_bytes(width, height):
    return width * height * 3 // 2
