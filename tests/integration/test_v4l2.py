"""The real shmcam-capture on the simulated V4L2 camera (tests/v4l2sim,
LD_PRELOAD): MJPEG passthrough byte for byte, tables inserted where the
camera left them out, broken frames dropped and counted, raw formats
encoded to the camera's picture through the single- and the
multi-planar API (one buffer or one per plane, padded rows, data
offsets), the media-controller hint, --list and --control, unplug and
replug under a connected client, the privilege drop, idle skipping,
software rate decimation, encoder threads and the driver's
timestamps."""

import glob
import grp
import os
import re
import signal
import subprocess
import time
import unittest

from capturetools import FRAME_PASSTHROUGH, FRAME_PLACEHOLDER, read_file
from shmcam import (BUILD, CAPTURE, IS_ROOT, MjpegReader, Proc,
                    ShmcamTestCase, cpu_seconds, drop_args, figure, http_get,
                    observe, wait_until)

SIM_SO = os.path.join(BUILD, "tests", "libv4l2sim.so")
SIMFRAME = os.path.join(BUILD, "tests", "simframe")
SIMCMP = os.path.join(BUILD, "tests", "simcmp")
QUALITY = 80
DHT_LEN = 420          # capture/mjpeg.h MJPEG_DHT_LEN
COM_RE = re.compile(rb"V4L2SIM (\d+) (\d+)")


def com_stamp(jpeg):
    """(seq, real_ns) from the simulator's COM segment, or None."""
    m = COM_RE.search(jpeg[:200])
    return (int(m.group(1)), int(m.group(2))) if m else None


def sos_offset(jpeg):
    """Offset of the first SOS marker, walking the segments."""
    i = 2
    while jpeg[i] == 0xFF and jpeg[i + 1] != 0xDA:
        i += 2 + (jpeg[i + 2] << 8 | jpeg[i + 3])
    return i


class V4l2TestCase(ShmcamTestCase):

    def setUp(self):
        super().setUp()
        # A directory the capture may delete the node from after its
        # privilege drop (V4L2SIM_UNPLUG_AFTER unlinks it in-process).
        devdir = os.path.join(self.tmp, "dev")
        os.mkdir(devdir)
        os.chmod(devdir, 0o777)
        self.dev = os.path.join(devdir, "video0")
        self.plug()

    def plug(self, mode=0o666, gid=None):
        """(Re)creates the device file.  The simulator applies its
        permissions as a device node's (O_RDWR at open); by default
        anyone may open it, as the capture may have dropped to another
        user."""
        open(self.dev, "w").close()
        os.chmod(self.dev, mode)
        if gid is not None:
            os.chown(self.dev, 0, gid)

    def sim_env(self, **extra):
        env = dict(os.environ)
        env["LD_PRELOAD"] = SIM_SO
        env["V4L2SIM_DEVICE"] = self.dev
        env["V4L2SIM_QUALITY"] = str(QUALITY)
        # The simulator is not instrumented; ASan must not insist on
        # coming first in the library list.
        asan = env.get("ASAN_OPTIONS", "")
        if "verify_asan_link_order" not in asan:
            env["ASAN_OPTIONS"] = ((asan + ":") if asan else "") + \
                "verify_asan_link_order=0"
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def start_sim_capture(self, name, *args, sim=None, wait=True):
        argv = [CAPTURE, "--name", name, "--ctl", self.ctl_path(name),
                "--source", "v4l2:" + self.dev] + drop_args(args)
        argv += list(args)
        p = Proc(argv, os.path.join(self.tmp, "capture-%s.log" % name),
                 env=self.sim_env(**(sim or {})))
        self.procs.append(p)
        if wait:
            p.wait_log(r"capturing", what="capture to start")
        return p

    def run_sim_capture(self, *args, sim=None):
        return subprocess.run([CAPTURE, "--name", self.new_name(), "--ctl",
                               os.path.join(self.tmp, "x.sock"), "--source",
                               "v4l2:" + self.dev] + drop_args(args) +
                              list(args),
                              env=self.sim_env(**(sim or {})),
                              capture_output=True, text=True, timeout=30)

    def device_frame(self, fourcc, size, seq, real_ns, no_dht=False):
        out = os.path.join(self.tmp, "dev-%d.jpg" % seq)
        subprocess.run([SIMFRAME, fourcc, size, str(QUALITY), str(seq),
                        str(real_ns), out] + (["no-dht"] if no_dht else []),
                       check=True, timeout=30)
        return read_file(out)

    def simcmp(self, jpeg, rgb=False):
        """Checks decoded pixels against the camera's picture; returns
        the frame's sequence number."""
        path = os.path.join(self.tmp, "cmp-%d.jpg" % time.monotonic_ns())
        with open(path, "wb") as f:
            f.write(jpeg)
        r = subprocess.run([SIMCMP] + (["--rgb"] if rgb else []) + [path],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, "pixels differ from the "
                         "camera's picture: %s %s" % (r.stdout, r.stderr))
        return int(re.search(r"seq=(\d+)", r.stdout).group(1))

    def snapshot(self, srv):
        status, h, body = http_get(srv.port, "/snapshot")
        self.assertEqual(status, 200)
        return h, body

    def ring_frame(self, name, after=0):
        """The newest camera frame in the ring (no server needed), once
        more than `after` frames were published."""
        jpg = os.path.join(self.tmp, "ring-%s.jpg" % name)

        def fresh():
            info = self.ring_info(name, jpg)
            return info if info and info["latest"] > after and not \
                info["frame_flags"] & FRAME_PLACEHOLDER else None
        wait_until(fresh, 10, "a frame in the ring")
        return read_file(jpg)

    def check_formats(self, cases, sim):
        """Each (format, size) of cases, captured and encoded: the
        picture decodes to the camera's at that size."""
        for fmt, size in cases:
            with self.subTest(fmt=fmt):
                name = self.new_name()
                cap = self.start_sim_capture(name, "--format", fmt,
                                             "--size", size,
                                             "--always-encode", sim=sim)
                body = self.ring_frame(name)
                w, h = map(int, size.split("x"))
                self.assertEqual(self.jpeg_size(body), (w, h))
                self.assertIsNone(com_stamp(body))   # encoded by us
                self.simcmp(body, rgb=fmt in ("RGB24", "BGR24", "XR24"))
                cap.stop()
                self.procs.remove(cap)


class PassthroughTest(V4l2TestCase):

    def test_mjpeg_bytes_published_unchanged(self):
        name = self.new_name()
        self.start_sim_capture(name, "--format", "MJPEG", "--size",
                               "640x480")
        srv = self.start_server(name)
        self.wait_attached(srv)
        seqs = set()

        def new_frame():
            body = self.snapshot(srv)[1]
            stamp = com_stamp(body)
            self.assertIsNotNone(stamp, "no COM stamp: not the device's")
            return (body, stamp) if stamp[0] not in seqs else None
        # Three different frames, each exactly the device's bytes.
        for _ in range(3):
            body, stamp = wait_until(new_frame, 5, "a newer frame")
            seqs.add(stamp[0])
            self.assertEqual(body, self.device_frame("MJPG", "640x480",
                                                     *stamp))
        self.assertEqual(len(seqs), 3)
        info = self.ring_info(name)
        self.assertEqual(info["frame_flags"] & FRAME_PASSTHROUGH,
                         FRAME_PASSTHROUGH)
        self.assertEqual(info["format"], "MJPG")

    def test_missing_tables_are_inserted(self):
        name = self.new_name()
        self.start_sim_capture(name, "--format", "MJPEG", "--size",
                               "640x480", sim={"V4L2SIM_NO_DHT": 1})
        srv = self.start_server(name)
        self.wait_attached(srv)
        _, body = self.snapshot(srv)
        stamp = com_stamp(body)
        dev = self.device_frame("MJPG", "640x480", *stamp, no_dht=True)
        sos = sos_offset(dev)
        self.assertNotIn(b"\xff\xc4", dev[:sos])
        # Ours: the device's bytes with one DHT segment before the SOS.
        self.assertEqual(len(body), len(dev) + DHT_LEN)
        self.assertEqual(body[:sos], dev[:sos])
        self.assertEqual(body[sos:sos + 2], b"\xff\xc4")
        self.assertEqual(body[sos + DHT_LEN:], dev[sos:])
        self.assertEqual(self.jpeg_size(body), (640, 480))
        # ffmpeg, which needs the tables, decodes it too.
        path = os.path.join(self.tmp, "nodht.jpg")
        with open(path, "wb") as f:
            f.write(body)
        r = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error",
                            "-xerror", "-i", path, "-f", "null", "-"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(
            self.ring_info(name)["frame_flags"] & FRAME_PASSTHROUGH, 0)

    def test_broken_frames_dropped_and_counted(self):
        name = self.new_name()
        cap = self.start_sim_capture(name, "--format", "MJPEG", "--size",
                                     "640x480",
                                     sim={"V4L2SIM_GARBAGE_EVERY": 3})
        srv = self.start_server(name)
        self.wait_attached(srv)
        r = MjpegReader(srv.port, keep=None)
        r.start()
        self.addCleanup(r.stop)
        r.wait_frames(30)
        r.stop()
        for f in r.frames[1:]:
            self.assertIsNotNone(com_stamp(f.data))
            self.assertEqual(self.jpeg_size(f.data), (640, 480))
        info = wait_until(lambda: (lambda i: i if i["dropped"] >= 8
                                   else None)(self.ring_info(name)), 10,
                          "broken frames to be counted")
        # About one in three is broken; none of them was published.
        self.assertLess(info["latest"], info["captured"])
        self.assertGreaterEqual(info["captured"] - info["latest"],
                                info["dropped"] - 2)
        self.assertRegex(cap.log(), r"dropping a broken")

    def test_buffers_ready_together_are_all_published_at_once(self):
        """A camera that hands over four buffers at a time (V4L2SIM_BURST:
        one wake-up finds them all): the capture takes one per wake-up
        and the level-triggered descriptor wakes it for the rest at once,
        as a uvcvideo node and libcamera's layer both are.  Each frame is
        published right after its burst, none waits for the next one."""
        # libcamera's layer has no MJPEG: its frames are encoded, four
        # at a burst (a few ms each at this size).
        for profile, fmt in (("uvc", ["MJPEG"]),
                             ("libcamera", ["YU12", "--always-encode"])):
            with self.subTest(profile=profile):
                sim = {"V4L2SIM_BURST": 4, "V4L2SIM_PROFILE": profile}
                name = self.new_name()
                cap = self.start_sim_capture(name, "--format", *fmt,
                                             "--size", "640x480",
                                             "--buffers", "8", sim=sim)
                wait_until(lambda: self.ring_get(name, "latest", -1) >= 8,
                           10, "frames")
                lags, seqs = [], set()
                while len(lags) < 12:
                    info = wait_until(
                        lambda: (lambda i: i if i and i["latest"] not in
                                 seqs else None)(self.ring_info(name)),
                        10, "a newer frame")
                    seqs.add(info["latest"])
                    lags.append((info["frame_publish_mono_ns"] -
                                 info["frame_capture_mono_ns"]) / 1e6)
                figure("%s, bursts of 4 buffers at 30 fps: capture to "
                       "publish of the newest frame %s ms" %
                       (profile, " ".join("%.1f" % x for x in lags)))
                # A buffer left until the next burst would be published
                # 4 intervals (133 ms) after its capture, or never on an
                # edge that does not come again.  A third of that allows
                # a loaded machine's scheduling for the median; on an
                # idle one it is about a millisecond.
                self.assertLess(sorted(lags)[len(lags) // 2], 45, lags)
                cap.stop()
                self.procs.remove(cap)

    def test_driver_timestamps(self):
        name = self.new_name()
        self.start_sim_capture(name, "--format", "MJPEG", "--size",
                               "640x480")
        wait_until(lambda: self.ring_get(name, "latest", -1) > 5, 10, "frames")
        jpg = os.path.join(self.tmp, "ts.jpg")
        info = self.ring_info(name, jpg)
        seq, real_ns = com_stamp(read_file(jpg))
        # The simulator's capture time, to within the clock conversion.
        self.assertLess(abs(info["frame_capture_real_ns"] - real_ns),
                        5000000)
        self.assertGreaterEqual(info["frame_publish_real_ns"],
                                info["frame_capture_real_ns"])
        self.assertGreaterEqual(info["frame_publish_mono_ns"],
                                info["frame_capture_mono_ns"])
        self.assertLess(info["frame_publish_mono_ns"] -
                        info["frame_capture_mono_ns"], 2000000000)


class RawFormatTest(V4l2TestCase):

    FORMATS = ("MJPG:640x480@30;YUYV:640x480@30;UYVY:640x480@30;"
               "NV12:1280x720@30;YU12:640x480@30;GREY:640x480@30;"
               "RGB3:640x480@30;BGR3:640x480@30;NV21:640x480@30;"
               "NV16:640x480@30;NV61:640x480@30;YV12:640x480@30;"
               "XR24:640x480@30")

    def test_raw_formats_encode_the_cameras_picture(self):
        self.check_formats([("YUYV", "640x480"), ("NV12", "1280x720"),
                            ("UYVY", "640x480"), ("YUV420", "640x480"),
                            ("GREY", "640x480"), ("RGB24", "640x480"),
                            ("BGR24", "640x480"), ("NV21", "640x480"),
                            ("NV16", "640x480"), ("NV61", "640x480"),
                            ("YVU420", "640x480"), ("XR24", "640x480")],
                           {"V4L2SIM_FORMATS": self.FORMATS})

    def test_padded_rows(self):
        # Rows aligned to 96 bytes: every plane of these sizes padded.
        self.check_formats([("NV12", "1280x720"), ("YVU420", "640x480"),
                            ("YUYV", "640x480")],
                           {"V4L2SIM_FORMATS": self.FORMATS,
                            "V4L2SIM_STRIDE_ALIGN": 96})

    def test_workers_publish_in_capture_order(self):
        name = self.new_name()
        cap = self.start_sim_capture(name, "--format", "YUYV", "--size",
                                     "640x480", "--workers", "3",
                                     "--always-encode")
        srv = self.start_server(name)
        self.wait_attached(srv)
        r = MjpegReader(srv.port, keep=None)
        r.start()
        self.addCleanup(r.stop)
        r.wait_frames(25)
        r.stop()
        seqs = [self.simcmp(f.data) for f in r.frames[1:25]]
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len(set(seqs)), len(seqs))
        threads = os.listdir("/proc/%d/task" % cap.pid)
        self.assertGreaterEqual(len(threads), 4)


class ListAndControlTest(V4l2TestCase):

    def test_list(self):
        r = self.run_sim_capture("--list")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertIn("'MJPG' (Motion-JPEG, compressed)", out)
        self.assertIn("Size: Discrete 1920x1080", out)
        self.assertIn("Interval: Discrete 0.033s (30.000 fps)", out)
        self.assertIn("Interval: Discrete 0.100s (10.000 fps)", out)
        self.assertRegex(out, r"brightness 0x00980900 \(int\) +: min=-64 "
                         r"max=64 step=1 default=0 value=0")
        self.assertRegex(out, r"exposure_auto 0x009a0901 \(menu\) +: "
                         r"min=0 max=3 default=3 value=3")
        self.assertRegex(out, r"\t1: Manual Mode")
        self.assertRegex(out, r"power_line_frequency .*\n\t+0: Disabled")

    def test_controls_are_set_in_order(self):
        log = os.path.join(self.tmp, "sim.log")
        name = self.new_name()
        self.start_sim_capture(name, "--control", "brightness=-10",
                               "--control", "exposure_auto=1",
                               "--control", "exposure_absolute=100",
                               "--control", "power_line_frequency=2",
                               sim={"V4L2SIM_LOG": log})
        wait_until(lambda: self.ring_get(name, "latest", -1) > 2, 10, "frames")
        with open(log) as f:
            sets = re.findall(r"VIDIOC_S_CTRL id=(0x[0-9a-f]{8}) "
                              r"value=(-?\d+) -> (\S+)", f.read())
        # brightness, exposure_auto, exposure_absolute,
        # power_line_frequency: in the order given, each accepted.
        self.assertEqual(sets, [("0x00980900", "-10", "0"),
                                ("0x009a0901", "1", "0"),
                                ("0x009a0902", "100", "0"),
                                ("0x00980918", "2", "0")])

    def test_bad_controls_and_formats_exit_2(self):
        cases = [
            (["--control", "no_such_control=1"], "no such control"),
            (["--control", "brightness=65"], "out of range"),
            (["--control", "contrast=-1"], "out of range"),
            (["--control", "exposure_auto=2"], "not a menu index"),
            (["--control", "power_line_frequency=3"], "not a menu index"),
            (["--format", "UYVY"], "no UYVY format"),
        ]
        for args, message in cases:
            r = self.run_sim_capture(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(message, r.stderr, args)

    def test_list_without_device_fails(self):
        os.unlink(self.dev)
        r = self.run_sim_capture("--list")
        self.assertEqual(r.returncode, 1)
        self.assertIn("No such file", r.stderr)


class MultiPlanarTest(V4l2TestCase):
    """A device with only the multi-planar API, as rkisp1, the i.MX8 ISI
    and many CSI bridges are: one buffer holding every plane, or a
    buffer per plane, with rows padded to 256 bytes and the data 128
    bytes into each buffer (data_offset)."""

    FORMATS = ";".join(f + ":640x480@30" for f in (
        "NV12", "NV16", "YUYV", "UYVY", "YU12", "NV21", "NV61", "YV12",
        "NM12", "NM21", "NM16", "NM61", "YM12", "YM21", "MJPG"))
    SIM = {"V4L2SIM_MPLANE": 1, "V4L2SIM_FORMATS": FORMATS,
           "V4L2SIM_STRIDE_ALIGN": 256, "V4L2SIM_DATA_OFFSET": 128}

    def test_every_layout_decodes_to_the_cameras_picture(self):
        self.check_formats([(f, "640x480") for f in (
            "NV12", "NV16", "YUYV", "UYVY", "YUV420", "NV21", "NV61",
            "YVU420", "NV12M", "NV21M", "NV16M", "NV61M", "YUV420M",
            "YVU420M")], self.SIM)

    def test_mjpeg_and_auto(self):
        # MJPEG through planes[0] past its data_offset, unchanged.
        name = self.new_name()
        self.start_sim_capture(name, "--size", "640x480", sim=self.SIM)
        body = self.ring_frame(name)
        self.assertEqual(body, self.device_frame("MJPG", "640x480",
                                                 *com_stamp(body)))
        self.assertEqual(self.ring_info(name)["format"], "MJPG")

    def test_list_and_unplug(self):
        r = self.run_sim_capture("--list", sim=self.SIM)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Video Capture Multiplanar", r.stdout)
        self.assertIn("'NM12'", r.stdout)
        name = self.new_name()
        self.start_sim_capture(name, "--format", "NV12M", "--size",
                               "640x480", "--always-encode",
                               "--retry-interval", "0.2", sim=self.SIM)
        self.ring_frame(name)
        os.unlink(self.dev)
        wait_until(lambda: self.ring_get(name, "state", "") == "offline", 10,
                   "offline")
        latest = self.ring_info(name)["latest"]
        self.plug()
        wait_until(lambda: self.ring_get(name, "state", "") == "online", 10,
                   "online again")
        self.simcmp(self.ring_frame(name, after=latest + 1))

    def test_media_pipeline_that_is_not_set_up_is_named(self):
        # A node of a media controller pipeline refuses STREAMON until
        # media-ctl set it up: EPIPE (link validation), or EINVAL.
        for extra, hint in (({"V4L2SIM_IO_MC": 1,
                              "V4L2SIM_FAIL": "STREAMON:EPIPE"}, True),
                            ({"V4L2SIM_FAIL": "STREAMON:EINVAL"}, True),
                            ({"V4L2SIM_FAIL": "STREAMON:ENOMEM"}, False)):
            r = self.run_sim_capture("--format", "NV12", sim=dict(
                self.SIM, **extra))
            self.assertNotEqual(r.returncode, 0, (extra, r.stderr))
            self.assertIn("VIDIOC_STREAMON", r.stderr)
            for word in ("media-ctl", "libcamerify"):
                self.assertEqual(word in r.stderr, hint, (extra, r.stderr))
        r = self.run_sim_capture("--list", sim=dict(self.SIM,
                                                     V4L2SIM_IO_MC=1))
        self.assertIn("media controller pipeline", r.stdout)


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(l.split(":", 1) for l in f.read().splitlines())


def thread_names(pid):
    names = set()
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            names.add(read_file("/proc/%d/task/%s/comm" % (pid, tid))
                      .decode().strip())
        except OSError:
            pass            # the thread ended meanwhile
    return names


class LibcameraTest(V4l2TestCase):
    """A Raspberry Pi camera module through libcamerify, as the
    simulator's libcamera profile imitates libcamera's v4l2-compat.so:
    driver "libcamera", an eventfd as the device (always writable), no
    controls, rates or frame intervals (ENOTTY), XR24 800x600 by
    default, threads of its own from the first open and pipes, eventfds
    and threads at every open.  With the sandbox on."""

    SIM = {"V4L2SIM_PROFILE": "libcamera"}

    def test_format_stream_unplug_replug_under_the_sandbox(self):
        log = os.path.join(self.tmp, "sim.log")
        name = self.new_name()
        cap = self.start_sim_capture(name, "--size", "1280x720",
                                     "--retry-interval", "0.2",
                                     sim=dict(self.SIM, V4L2SIM_LOG=log))
        self.assertRegex(cap.log(), r"sandbox: system call filter on, "
                         r"with the calls of a V4L2 layer in this process "
                         r"\(the driver is libcamera\)")
        self.assertEqual(proc_status(cap.pid)["Seccomp"].strip(), "2")
        # A format the Pi's ISP gives cheaply, at the size asked for:
        # not the layer's default, XRGB8888 at 800x600.
        body = self.ring_frame(name)
        self.assertEqual(self.jpeg_size(body), (1280, 720))
        self.simcmp(body)
        self.assertEqual(self.ring_info(name)["format"], "YU12")
        self.assertTrue({"lc-manager", "lc-ipa", "lc-request"} <=
                        thread_names(cap.pid))
        # The descriptor is always writable: the loop must wake for
        # frames, not spin.  A spinning loop would take a whole core and
        # make thousands of DQBUFs that find nothing; a loaded machine
        # can only lower our share, so the bounds hold there too.
        cpu0, lines0 = cpu_seconds(cap.pid), len(read_file(log).splitlines())
        observe(2)
        cpu = cpu_seconds(cap.pid) - cpu0
        text = b"\n".join(read_file(log).splitlines()[lines0:]).decode()
        frames = len(re.findall(r"VIDIOC_DQBUF index=\d+ .* -> 0", text))
        empty = text.count("VIDIOC_DQBUF -> Resource temporarily")
        # 60 frames in 2 s; a third of them is plenty of evidence, and
        # what a starved producer thread still makes on a loaded machine.
        self.assertGreater(frames, 20, "frames in 2 s at 30 fps")
        self.assertLessEqual(empty, frames + 10, "DQBUFs that found "
                             "nothing: %d for %d frames" % (empty, frames))
        self.assertLess(cpu, 0.6, "the capture took %.2f s of CPU in 2 s"
                        % cpu)
        figure("libcamera profile, 1280x720 YUV420 at 30 fps, nobody "
               "watching: %d frames dequeued and %d empty DQBUFs in 2 s, "
               "%.2f s of CPU (every thread of the capture, the "
               "simulated camera's included)", frames, empty, cpu)
        # Unplugged: an eventfd cannot say POLLERR; ENODEV from the next
        # DQBUF, or no frame for 2 s, tells.  Then back, through the
        # layer's calls at the reopen (an eventfd, a pipe, a thread)
        # under the filter.
        os.unlink(self.dev)
        info = wait_until(lambda: (lambda i: i if i["state"] == "offline"
                                   else None)(self.ring_info(name)), 10,
                          "the ring to say offline")
        latest = info["latest"]
        self.plug()
        wait_until(lambda: self.ring_get(name, "state", "") == "online", 10,
                   "the camera to come back")
        self.simcmp(self.ring_frame(name, after=latest + 1))
        self.assertTrue(cap.alive())
        self.assertNotIn("forbidden system call", cap.log())
        self.assertGreaterEqual(self.ring_info(name)["restarts"], 1)
        self.assertEqual(proc_status(cap.pid)["Seccomp"].strip(), "2")

    def test_camera_missing_at_start(self):
        # The layer's threads then start under the filter, at the first
        # open: LD_PRELOAD alone says a layer may be there.
        os.unlink(self.dev)
        name = self.new_name()
        cap = self.start_sim_capture(name, "--size", "640x480",
                                     "--retry-interval", "0.2",
                                     sim=self.SIM)
        self.assertRegex(cap.log(), r"with the calls of a V4L2 layer in "
                         r"this process \(LD_PRELOAD=")
        self.plug()
        wait_until(lambda: self.ring_get(name, "state", "") == "online", 10,
                   "the camera to appear")
        self.simcmp(self.ring_frame(name))
        self.assertTrue(cap.alive())
        self.assertIn("lc-manager", thread_names(cap.pid))

    def test_asked_for_formats_and_enottys(self):
        # XR24 at 800x600 when asked for, converted from RGB.
        self.check_formats([("XR24", "800x600")], self.SIM)
        r = self.run_sim_capture("--list", sim=self.SIM)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("driver libcamera", r.stdout)
        self.assertIn("none (VIDIOC_QUERYCTRL: Inappropriate ioctl", r.stdout)
        r = self.run_sim_capture("--control", "brightness=10", sim=self.SIM)
        self.assertEqual(r.returncode, 2)
        self.assertIn("the device has no controls", r.stderr)


class M2mTest(V4l2TestCase):
    """The hardware JPEG encoder (V4L2 memory-to-memory), as the
    simulator's encoder (TurboJPEG behind the bcm2835-codec's API) plays
    it: it encodes, --quality reaches it, and each fault falls back to
    libjpeg-turbo once, with the stream going on."""

    def setUp(self):
        super().setUp()
        self.enc = os.path.join(os.path.dirname(self.dev), "video31")
        open(self.enc, "w").close()

    def m2m_sim(self, **extra):
        return dict({"V4L2SIM_M2M_DEVICE": self.enc,
                     "V4L2SIM_FORMATS": "NV12:640x480@30;YUYV:640x480@30"},
                    **extra)

    def start_m2m(self, *args, **extra):
        name = self.new_name()
        cap = self.start_sim_capture(name, "--size", "640x480",
                                     "--always-encode", "--encoder",
                                     "m2m:" + self.enc, *args,
                                     sim=self.m2m_sim(**extra))
        return name, cap

    def test_raw_frames_are_encoded_by_the_device(self):
        log = os.path.join(self.tmp, "sim.log")
        name, cap = self.start_m2m("--quality", "60", V4L2SIM_LOG=log)
        self.assertRegex(cap.log(), r"raw frames are encoded by .*video31 "
                         r"\(Sim JPEG encoder\)")
        for _ in range(3):
            latest = self.ring_info(name)["latest"]
            self.simcmp(self.ring_frame(name, after=latest))
        self.assertIn("VIDIOC_S_CTRL id=0x009d0903 value=60 -> 0",
                      read_file(log).decode())
        cap.stop()
        self.procs.remove(cap)
        encoded = re.search(r"v4l2sim-m2m\[\d+\]: closed: (\d+) frames "
                            r"encoded", read_file(log).decode())
        self.assertIsNotNone(encoded)
        self.assertGreaterEqual(int(encoded.group(1)), 3)
        self.assertNotIn("on the CPU", cap.log())

    def test_a_fault_falls_back_without_losing_the_stream(self):
        for fault in ({"V4L2SIM_M2M_FAIL": "STREAMON:ESRCH"},
                      {"V4L2SIM_M2M_FAIL": "S_CTRL:ENOTTY"},
                      {"V4L2SIM_M2M_STALL_AFTER": 15}):
            with self.subTest(fault=fault):
                name, cap = self.start_m2m(**fault)
                cap.wait_log(r"encoding on the CPU \(libjpeg-turbo\) from "
                             r"now on", what="the fallback")
                latest = self.ring_info(name)["latest"]
                # Frames go on, from the CPU, decoding to the picture;
                # the camera was never lost, the fallback said once.
                wait_until(lambda: self.ring_get(name, "latest", -1) >=
                           latest + 20, 10, "frames after the fallback")
                self.simcmp(self.ring_frame(name))
                self.assertEqual(self.ring_info(name)["restarts"], 0)
                self.assertEqual(self.ring_info(name)["state"], "online")
                self.assertEqual(cap.log().count("from now on"), 1)
                self.assertTrue(cap.alive())
                cap.stop()
                self.procs.remove(cap)

    def test_choices_and_refusals(self):
        # Not an encoder (the camera), or --workers with m2m: refused.
        r = self.run_sim_capture("--encoder", "m2m:" + self.dev,
                                 sim=self.m2m_sim())
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("is not a memory-to-memory JPEG encoder", r.stderr)
        r = self.run_sim_capture("--encoder", "m2m:" + self.enc,
                                 "--format", "RGB24", sim=self.m2m_sim(
                                     V4L2SIM_FORMATS="RGB3:640x480@30"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("does not take RGB24 frames", r.stderr)
        r = self.run_sim_capture("--encoder", "m2m", "--workers", "2",
                                 sim=self.m2m_sim())
        self.assertEqual(r.returncode, 2, r.stderr)
        r = self.run_sim_capture("--encoder", "gpu", sim=self.m2m_sim())
        self.assertEqual(r.returncode, 2, r.stderr)
        # cpu: the device is not used.
        name = self.new_name()
        cap = self.start_sim_capture(name, "--encoder", "cpu",
                                     "--always-encode", "--size", "640x480",
                                     sim=self.m2m_sim())
        self.simcmp(self.ring_frame(name))
        self.assertNotIn("memory-to-memory", cap.log())

    @unittest.skipIf(glob.glob("/dev/video*"), "this machine has V4L2 "
                     "devices: the search would find them")
    def test_none_found(self):
        r = self.run_sim_capture("--encoder", "m2m", sim=self.m2m_sim())
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("no V4L2 memory-to-memory JPEG encoder among "
                      "/dev/video*", r.stderr)
        name = self.new_name()
        cap = self.start_sim_capture(name, "--always-encode", "--size",
                                     "640x480", "--format", "NV12",
                                     sim=self.m2m_sim())
        self.simcmp(self.ring_frame(name))
        self.assertNotIn("memory-to-memory", cap.log())


class UnplugTest(V4l2TestCase):

    def live(self, frames):
        return [f for f in frames if f.data and com_stamp(f.data)]

    def test_unplug_placeholder_replug_live(self):
        name = self.new_name()
        cap = self.start_sim_capture(name, "--format", "MJPEG", "--size",
                                     "640x480", "--retry-interval", "0.2")
        srv = self.start_server(name)
        self.wait_attached(srv)
        r = MjpegReader(srv.port, keep=None)
        r.start()
        self.addCleanup(r.stop)
        r.wait_frames(10)
        os.unlink(self.dev)                        # unplug
        unplugged = time.time()
        info = wait_until(lambda: (lambda i: i if i["state"] == "offline"
                                   else None)(self.ring_info(name)), 10,
                          "the ring to say offline")
        self.assertIn("No such device", info["reason"])
        # Placeholders: not the camera's frames, at its last size, about
        # once a second, with the ring's placeholder flag.
        wait_until(lambda: self.ring_get(name, "frame_flags", 0) &
                   FRAME_PLACEHOLDER, 5, "a placeholder in the ring")

        def placeholders():
            with r.lock:
                return [f for f in r.frames if f.timestamp and
                        f.timestamp > unplugged and not com_stamp(f.data)]
        wait_until(lambda: len(placeholders()) >= 2, 10,
                   "two placeholders on the client")
        ph = placeholders()
        self.assertEqual(self.jpeg_size(ph[0].data), (640, 480))
        # The server says what they are.
        for f in ph:
            self.assertEqual(f.headers.get("x-shmcam-placeholder"),
                             "no-signal")
        self.assertGreater(ph[-1].timestamp, ph[0].timestamp + 0.5)
        self.plug()                                # replug
        replugged = time.time()
        wait_until(lambda: self.ring_get(name, "state", "") == "online", 10,
                   "the device to come back")

        def back():
            with r.lock:
                return [f for f in r.frames if f.timestamp and
                        f.timestamp > replugged and com_stamp(f.data)]
        wait_until(lambda: len(back()) >= 10, 10, "live frames again")
        for f in back():
            self.assertNotIn("x-shmcam-placeholder", f.headers)
        # A fresh device: its sequence starts again, and goes up.
        seqs = [com_stamp(f.data)[0] for f in back()]
        self.assertEqual(seqs, sorted(seqs))
        self.assertFalse(r.closed)
        self.assertIsNone(r.error)
        self.assertGreaterEqual(self.ring_info(name)["restarts"], 1)
        self.assertTrue(cap.alive())
        self.assertRegex(cap.log(), r"is back")

    def test_unplug_by_itself_and_timeout(self):
        # V4L2SIM_UNPLUG_AFTER unplugs without timing on our side.
        name = self.new_name()
        self.start_sim_capture(name, "--format", "YUYV", "--size", "640x480",
                               "--retry-interval", "0.2",
                               sim={"V4L2SIM_UNPLUG_AFTER": 20})
        wait_until(lambda: self.ring_get(name, "state", "") == "offline", 10,
                   "the device to go")
        self.assertFalse(os.path.exists(self.dev))
        self.plug()
        wait_until(lambda: self.ring_get(name, "restarts", -1) >= 1, 10,
                   "the device to come back")


@unittest.skipUnless(IS_ROOT, "needs root to drop privileges")
class PrivilegeV4l2Test(V4l2TestCase):

    def test_root_capture_keeps_the_device_group(self):
        """Started as root with --user and --group, the capture keeps the
        group of the video device (root:video 0660, as udev makes it)
        among its groups, and so reopens the device after an unplug."""
        video = grp.getgrnam("video").gr_gid
        self.plug(0o660, video)
        name = self.new_name()
        cap = self.start_sim_capture(name, "--format", "MJPEG", "--size",
                                     "640x480", "--user", "nobody",
                                     "--group", "nogroup",
                                     "--retry-interval", "0.2")
        with open("/proc/%d/status" % cap.pid) as f:
            st = dict(l.split(":", 1) for l in f.read().splitlines())
        self.assertEqual(st["Uid"].split(), ["65534"] * 4)
        self.assertEqual(st["Gid"].split(), ["65534"] * 4)
        self.assertEqual(sorted(int(g) for g in st["Groups"].split()),
                         sorted([65534, video]))
        self.assertEqual(st["NoNewPrivs"].strip(), "1")
        first = self.ring_info(name)["latest"]
        wait_until(lambda: self.ring_get(name, "latest", -1) > first + 10, 10,
                   "frames as nobody")
        # Reopened as nobody, through the group, after an unplug.
        os.unlink(self.dev)
        wait_until(lambda: self.ring_get(name, "state", "") == "offline", 10,
                   "offline")
        self.plug(0o660, video)
        wait_until(lambda: self.ring_get(name, "state", "") == "online", 10,
                   "online again as nobody")
        self.assertNotRegex(cap.log(), r"Permission denied")


class IdleAndRateTest(V4l2TestCase):

    def test_idle_skips_raw_frames_until_a_viewer_comes(self):
        name = self.new_name()
        self.start_sim_capture(name, "--format", "YUYV", "--size", "640x480")
        srv = self.start_server(name)
        self.wait_attached(srv)
        a = self.ring_info(name)
        wait_until(lambda: self.ring_get(name, "idle", -1) >=
                   a["idle"] + 40, 10, "idle frames to be counted")
        b = self.ring_info(name)
        # About one frame a second is still encoded: snapshots stay fresh.
        published = b["latest"] - a["latest"]
        self.assertLessEqual(published, 4)
        _, body = self.snapshot(srv)
        self.simcmp(body)
        # A viewer: every frame is encoded again, at once.
        r = MjpegReader(srv.port, keep=0)
        connected = time.time()
        r.start()
        self.addCleanup(r.stop)
        r.wait_frames(1)
        wait_until(lambda: any(f.timestamp and f.timestamp > connected
                               for f in list(r.frames)), 1.0,
                   "a frame captured after the viewer came")
        # 15 frames: half a second at 30 fps, 15 s at the idle rate of
        # one a second; 2.5 s leaves room for a loaded machine.
        n0 = r.count()
        t0 = time.monotonic()
        r.wait_frames(n0 + 15, timeout=5)
        self.assertLess(time.monotonic() - t0, 2.5,
                        "frames came at the idle rate")
        c = self.ring_info(name)
        r.stop()
        # Gone again: idle counting resumes.
        wait_until(lambda: self.ring_get(name, "idle", -1) >
                   c["idle"] + 20, 10, "idle again without the viewer")

    def test_mjpeg_is_published_without_viewers(self):
        name = self.new_name()
        self.start_sim_capture(name, "--format", "MJPEG", "--size",
                               "640x480")
        a = self.ring_info(name)
        wait_until(lambda: self.ring_get(name, "latest", -1) >=
                   a["latest"] + 20, 10, "MJPEG frames with nobody watching")
        self.assertEqual(self.ring_info(name)["idle"], 0)

    def decimation(self, sim):
        """--fps 10 on a camera that sends 30: every third frame."""
        name = self.new_name()
        sim = dict(sim, V4L2SIM_FORMATS="MJPG:640x480@30@10")
        cap = self.start_sim_capture(name, "--format", "MJPEG", "--size",
                                     "640x480", "--fps", "10", sim=sim)
        srv = self.start_server(name)
        self.wait_attached(srv)
        r = MjpegReader(srv.port, keep=None)
        r.start()
        self.addCleanup(r.stop)
        r.wait_frames(12)
        a = self.ring_info(name)
        r.wait_frames(r.count() + 20)
        b = self.ring_info(name)
        r.stop()
        # What the capture published against what the camera sent, by
        # the ring's counters over the same frames: a third, however
        # loaded the machine.  0.28 to 0.40 allows the decimator's
        # catching up after a late frame (it keeps the average), and a
        # camera that did not slow down would give 1.
        share = (b["latest"] - a["latest"]) / (b["captured"] - a["captured"])
        self.assertGreater(share, 0.28, (a, b))
        self.assertLess(share, 0.40, (a, b))
        # And by the camera's own sequence numbers on the client: mostly
        # every third one (a client on a loaded machine may miss one,
        # which shows as a step of 6).
        seqs = [com_stamp(f.data)[0] for f in r.frames[1:]]
        steps = [y - x for x, y in zip(seqs, seqs[1:])]
        self.assertEqual(sorted(steps)[len(steps) // 2], 3, steps)
        return cap
    def test_software_decimation(self):
        """A camera that says it cannot change its rate."""
        cap = self.decimation({"V4L2SIM_FIXED_FPS": 1})
        self.assertRegex(cap.log(), r"30\.000 fps: dropping frames evenly "
                         r"to 10\.000")

    def test_fps_paced_when_the_camera_ignores_it(self):
        """A camera that accepts S_PARM, reports the rate asked for and
        keeps sending 30 fps, as many UVC cameras do: --fps still holds."""
        self.decimation({"V4L2SIM_IGNORE_PARM": 1})

if __name__ == "__main__":
    unittest.main()
