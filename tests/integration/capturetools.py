"""Helpers for the capture's integration tests: reading the ring's
header and newest frame (tests/tools/ringinfo), making JPEG files."""

import os
import subprocess

from shmcam import BUILD

RINGINFO = os.path.join(BUILD, "tests", "ringinfo")

# ring.h rs_flags
FRAME_PLACEHOLDER = 0x1
FRAME_PASSTHROUGH = 0x2
FRAME_KEYFRAME = 0x4


def ring_info(name, out=None, h264=False):
    """The ring's status, counters and newest frame as a dict (numbers
    as int), or None if it cannot be read right now.  h264: the camera's
    H.264 ring instead of its JPEG ring."""
    prefix = "shmavc-" if h264 else "shmcam-"
    argv = [RINGINFO, prefix + name] + ([out] if out else [])
    r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        return None
    info = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition("=")
        info[k] = int(v) if v.isdigit() else v
    return info


def make_jpegs(directory, count, size="320x240", start=0, pattern="f%03d.jpg",
               quality=5):
    """count JPEG files of ffmpeg's test picture, named pattern % i."""
    os.makedirs(directory, exist_ok=True)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "testsrc=size=%s:rate=5" % size,
                    "-frames:v", str(count), "-q:v", str(quality),
                    "-start_number", str(start),
                    os.path.join(directory, pattern)],
                   check=True, timeout=60)
    return sorted(f for f in os.listdir(directory) if f.endswith(".jpg"))


def read_file(path):
    with open(path, "rb") as f:
        return f.read()
