"""Helpers for the capture's integration tests: the ring's frame flags,
making JPEG files."""

import os
import subprocess


# ring.h rs_flags
FRAME_PLACEHOLDER = 0x1
FRAME_PASSTHROUGH = 0x2
FRAME_KEYFRAME = 0x4


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
