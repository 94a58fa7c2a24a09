"""/stream.mp4 with real consumers: ffprobe and ffmpeg (also joining in the
middle of a GOP, over HTTP/1.0 and 1.1), GStreamer, VLC and headless
Chromium (a <video> element, and the viewer page choosing it); how soon a
new viewer gets its first frame with and without keyframe requests;
clients that keep their connection through a capture restart, and get a
clean end of the response when the H.264 parameters change; a slow
reader that skips to keyframes and still decodes; /state and /metrics per
kind of stream."""

import json
import os
import re
import shutil
import statistics
import subprocess
import time
import unittest

from shmcam import (CAPTURE, ROOT, Mp4Reader, ShmcamTestCase, ffmpeg_decode,
                    figure, get_json, http_get, observe, wait_until)
from test_v4l2 import V4l2TestCase

BROWSER_DIR = os.path.join(ROOT, "tests", "browser")
VIDEO_JS = os.path.join(BROWSER_DIR, "video.js")
HAVE_BROWSER = (shutil.which("chromium") and shutil.which("node") and
                os.path.isdir(os.path.join(BROWSER_DIR, "node_modules",
                                           "playwright-core")))


def capture_has_h264():
    """1 if this build's capture can encode H.264 (a build without x264,
    make X264=no, cannot: then only the tests that need no H.264 run)."""
    r = subprocess.run([CAPTURE, "--help"], capture_output=True, text=True,
                       timeout=10)
    if "--h264" not in r.stdout:
        return False
    # An option error either way, after --h264 on is judged.
    r = subprocess.run([CAPTURE, "--h264", "on", "--source", "pattern",
                        "--list"], capture_output=True, text=True,
                       timeout=10)
    return "built without x264" not in r.stderr


H264 = capture_has_h264()
NO_H264 = "this build's capture has no H.264 (x264)"


def browser(url, seconds, page=False, as_safari=False):
    """video.js's samples: [first line: what chromium can play, then one
    dict every 250 ms]."""
    r = subprocess.run(["node", VIDEO_JS, url, str(seconds)] +
                       (["--page"] if page else []) +
                       (["--as-safari"] if as_safari else []),
                       capture_output=True,
                       text=True, timeout=seconds + 90, cwd=BROWSER_DIR)
    if r.returncode != 0:
        raise AssertionError("video.js failed: %s" % r.stderr[-3000:])
    return [json.loads(line) for line in r.stdout.splitlines()]


class H264Server:
    """What the H.264 delivery tests share: a capture with H.264 and a
    server attached to both its rings, and the check that a client's
    fragments decode."""

    def start_h264(self, name=None, size="640x360", fps=30, gop=30,
                   server_args=(), capture_args=()):
        name = name or self.new_name()
        cap = self.start_capture(name, "--size", size, "--fps", str(fps),
                                 "--h264", "on", "--h264-gop", str(gop),
                                 *capture_args)
        srv = self.start_server(name, *server_args)
        self.wait_attached(srv)
        wait_until(lambda: get_json(srv.port)["cameras"][0]["h264"], 10,
                   "the H.264 ring")
        return name, cap, srv

    def reader(self, srv, path="/stream.mp4", **kw):
        r = Mp4Reader(srv.port, path, **kw)
        r.start()
        self.addCleanup(r.stop)
        return r

    def joins(self, srv, n):
        """Seconds from request to first fragment of n viewers joining
        one after the other while another one keeps the encoder going
        (so that they join in the middle of a GOP)."""
        self.reader(srv).wait_fragments(2)
        waits = []
        for i in range(n):
            # Apart by more than the capture's 250 ms request limit.
            observe(0.4)
            r = self.reader(srv)
            r.wait_fragments(1, timeout=10)
            waits.append(r.first_sync - r.started)
            self.assertTrue(r.fragments[0].sync)
            r.stop()
        return waits

    def assert_runs_decodable(self, r):
        """Every run of fragments a client got starts at a keyframe, and
        decode times only increase."""
        with r.lock:
            frags = list(r.fragments)
        self.assertTrue(frags and frags[0].sync, "first fragment not sync")
        for a, b in zip(frags, frags[1:]):
            self.assertGreater(b.decode_time, a.decode_time)
            self.assertGreater(b.capture_real, a.capture_real)


@unittest.skipUnless(H264, NO_H264)
class Mp4StreamTest(H264Server, ShmcamTestCase):

    def test_ffprobe_and_ffmpeg(self):
        name, _, srv = self.start_h264(size="640x360", fps=30)
        url = srv.url("/stream.mp4")
        r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v",
                            "-show_entries",
                            "stream=codec_name,width,height,r_frame_rate",
                            "-of", "json", url],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        st = json.loads(r.stdout)["streams"][0]
        self.assertEqual(st["codec_name"], "h264")
        self.assertEqual((st["width"], st["height"]), (640, 360))
        self.assertEqual(st["r_frame_rate"], "30/1")

        # A reader keeps the mux busy; ffmpeg joins it in the middle of
        # a GOP (a keyframe every 30 frames; it joins 10 to 20 frames
        # after one) and must still decode every frame it gets.
        first = self.reader(srv)
        first.wait_fragments(2)

        def mid_gop():
            with first.lock:
                f = first.fragments
                last_key = max(i for i, x in enumerate(f) if x.sync)
                return 10 <= len(f) - 1 - last_key <= 20
        wait_until(mid_gop, 10, "the middle of a GOP")
        n, err = ffmpeg_decode(url, frames=150)
        self.assertEqual(n, 150)
        self.assertEqual(err, "")
        for path in ("/stream.mp4?key=x", "/%s/stream.mp4" % name):
            n, err = ffmpeg_decode(srv.url(path), frames=30)
            self.assertEqual((n, err), (30, ""), path)

    def test_http10_and_head(self):
        _, _, srv = self.start_h264()
        status, h, body = http_get(srv.port, "/stream.mp4", method="HEAD")
        self.assertEqual(status, 200)
        self.assertEqual(h["Content-Type"], "video/mp4")
        self.assertEqual(body, b"")
        saved = os.path.join(self.tmp, "http10.mp4")
        r = self.reader(srv, http10=True, save=saved)
        r.wait_fragments(60, timeout=20)
        self.assertEqual(r.status, 200)
        self.assertNotIn("transfer-encoding", r.head)
        self.assertNotIn("content-length", r.head)
        self.assertEqual(r.inits, 1)
        self.assert_runs_decodable(r)
        r.stop()
        n, err = ffmpeg_decode(saved)
        self.assertEqual(err, "")
        self.assertGreaterEqual(n, 60)

    def test_gstreamer_and_vlc(self):
        _, _, srv = self.start_h264()
        url = srv.url("/stream.mp4")
        # 90 frames through the whole pipeline, decoded by libav.
        r = subprocess.run(["gst-launch-1.0", "-q", "souphttpsrc",
                            "location=" + url, "num-buffers=400", "!",
                            "qtdemux", "!", "h264parse", "!", "avdec_h264",
                            "!", "identity", "eos-after=90", "silent=false",
                            "!", "fakesink", "sync=false"],
                           capture_output=True, text=True, timeout=90)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        self.assertNotRegex(r.stderr, r"(?i)error")
        # VLC reads it for 4 s and writes what it read to an MPEG-TS file.
        # With its libavformat demuxer: VLC 3.0's own MP4 demuxer stops
        # at the first fragment of any live fragmented MP4 over HTTP
        # (ffmpeg's own -movflags frag_every_frame output too), while it
        # plays the same bytes from a file.  VLC refuses to run as root:
        # as nobody then, into a directory nobody may write.
        vdir = os.path.join(self.tmp, "vlc")
        os.mkdir(vdir)
        os.chmod(vdir, 0o777)
        out = os.path.join(vdir, "vlc.ts")
        argv = ["cvlc", "-q", "--no-audio", "--run-time=4",
                "--play-and-exit", "--demux=avformat", url,
                "--sout=#std{access=file,mux=ts,dst=%s}" % out]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "nobody", "--"] + argv
        r = subprocess.run(argv, capture_output=True, text=True, timeout=90,
                           env=dict(os.environ, HOME=vdir))
        self.assertTrue(os.path.exists(out), r.stderr[-2000:])
        # Decodable as VLC passed it on: the keyframes carry their
        # parameter sets into the TS.  On a busy machine VLC's TS mux was
        # seen to begin behind the first keyframe it got (25 frames
        # referring to a PPS not yet seen): those, up to the next
        # keyframe (a GOP, 30 frames), cannot be decoded; every frame
        # after must be, and nothing else may be wrong.
        n, err = ffmpeg_decode(out)
        r = subprocess.run(["ffprobe", "-v", "error", "-select_streams",
                            "v:0", "-count_packets", "-show_entries",
                            "stream=nb_read_packets", "-of", "csv=p=0",
                            out], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        # (once per program of the TS and once for the stream itself)
        packets = int(r.stdout.split()[0])
        self.assertGreater(packets, 30, "VLC passed on %d packets" % packets)
        before_key = ("non-existing PPS", "decode_slice_header error",
                      "no frame!", "Last message repeated")
        self.assertEqual([line for line in err.splitlines()
                          if not any(e in line for e in before_key)], [])
        self.assertGreaterEqual(n, packets - 30, err[-2000:])
        self.assertGreater(n, 30, "VLC passed on %d frames" % n)

    @unittest.skipUnless(HAVE_BROWSER, "chromium, node or playwright-core "
                         "(make deps) missing")
    def test_chromium_plays_it(self):
        _, _, srv = self.start_h264()
        # Chromium holds about two seconds of a progressive stream before
        # it plays on steadily, and reads it in blocks: at the test
        # pattern's low bitrate that takes a few seconds after the first
        # frame shows.  12 s leaves room for that on a loaded machine.
        samples = browser(srv.url("/stream.mp4"), 12)
        caps = samples[0]
        # Debian's chromium decodes H.264 (through the system's ffmpeg).
        self.assertEqual(caps["canplay_h264"], "probably", caps)
        play = [s for s in samples[1:] if s["frames"] > 0]
        self.assertTrue(play, samples[-1])
        self.assertIsNone(samples[-1]["error"])
        # Both keep advancing over the last 3 s: 30 frames a second.
        late = [s for s in play if s["now"] >= play[-1]["now"] - 3]
        self.assertGreater(late[-1]["frames"] - late[0]["frames"], 45,
                           late)
        self.assertGreater(late[-1]["t"] - late[0]["t"], 1.5, late)

    @unittest.skipUnless(HAVE_BROWSER, "chromium, node or playwright-core "
                         "(make deps) missing")
    def test_viewer_page_picks_h264(self):
        _, _, srv = self.start_h264()
        samples = browser(srv.url("/"), 8, page=True)
        last = samples[-1]
        self.assertEqual(last["playing"], "playing: H.264 (MP4)", last)
        self.assertFalse(last["hidden"])
        self.assertGreater(last["frames"], 30)
        kinds = [c["kind"] for c in
                 get_json(srv.port)["cameras"][0]["clients"]]
        # The video is closed with the browser; MJPEG was closed when
        # the video began to play.
        self.assertNotIn("mjpeg", kinds)

    def test_joining_with_keyframe_requests(self):
        # A keyframe every 10 s if nobody asks: a viewer that had to wait
        # for one would wait seconds.  One viewer keeps the encoder going,
        # so that the others join in the middle of a GOP.
        _, _, srv = self.start_h264(gop=300)
        waits = self.joins(srv, 6)
        figure("time to first frame with keyframe requests (GOP 10 s): "
               "median %.0f ms, max %.0f ms", statistics.median(waits) * 1e3,
               max(waits) * 1e3)
        # About 300 ms (the capture's 250 ms limit, a frame interval and
        # the encode); 1 s leaves room for a loaded 2-core machine.
        self.assertLess(statistics.median(waits), 1.0, waits)
        mp4 = get_json(srv.port)["cameras"][0]["streams"]["mp4"]
        self.assertGreaterEqual(mp4["keyframes_requested"], 6)
        self.assertEqual(mp4["keyframes_served"], 7)

    def test_joining_without_keyframe_requests(self):
        _, _, srv = self.start_h264(gop=30,
                                    server_args=("--no-keyframe-requests",))
        waits = self.joins(srv, 4)
        figure("time to first frame without keyframe requests (GOP 1 s): "
               "median %.0f ms, max %.0f ms", statistics.median(waits) * 1e3,
               max(waits) * 1e3)
        # Within one GOP (1 s), plus 0.5 s for a loaded machine.
        self.assertLess(max(waits), 1.5, waits)
        mp4 = get_json(srv.port)["cameras"][0]["streams"]["mp4"]
        self.assertEqual(mp4["keyframes_requested"], 0)

    def test_capture_restart_keeps_clients(self):
        name, cap, srv = self.start_h264(gop=30)
        saved = [os.path.join(self.tmp, "r%d.mp4" % i) for i in range(2)]
        readers = [self.reader(srv, save=saved[0]),
                   self.reader(srv, save=saved[1], http10=True),
                   self.reader(srv)]
        for r in readers:
            r.wait_fragments(20)
        self.assertEqual(cap.stop(), 0)
        srv.wait_log(r"capture closed the control socket")
        observe(1)
        self.start_capture(name, "--size", "640x360", "--fps", "30",
                           "--h264", "on", "--h264-gop", "30")
        back = time.monotonic()

        def after(r):
            with r.lock:
                return [f for f in r.fragments if f.arrival > back]
        wait_until(lambda: all(len(after(r)) >= 30 for r in readers), 15,
                   "fragments of the new capture for every client")
        for r in readers:
            self.assertIsNone(r.error)
            self.assertFalse(r.closed)
            self.assertTrue(after(r)[0].sync)
            self.assertEqual(r.inits, 1)
            self.assert_runs_decodable(r)
        for r in readers:
            r.stop()
        for path in saved:
            n, err = ffmpeg_decode(path)
            self.assertEqual(err, "", path)
            self.assertGreaterEqual(n, 50)

        # Other parameter sets (another size): a clean end, then the new
        # stream on reconnecting.
        r = self.reader(srv)
        r10 = self.reader(srv, http10=True)
        r.wait_fragments(5)
        r10.wait_fragments(5)
        self.assertEqual(self.procs[-1].stop(), 0)
        self.start_capture(name, "--size", "320x240", "--fps", "30",
                           "--h264", "on")
        wait_until(lambda: r.closed and r10.closed, 15,
                   "the responses to end")
        self.assertTrue(r.ended, r.error)
        self.assertIsNone(r.error)
        self.assertIsNone(r10.error)      # HTTP/1.0: the body just ends
        n, err = ffmpeg_decode(srv.url("/stream.mp4"), frames=10)
        self.assertEqual((n, err), (10, ""))
        r = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                            "stream=width,height", "-of", "csv=p=0",
                            srv.url("/stream.mp4")], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.stdout.strip(), "320,240")
        self.assertGreaterEqual(get_json(srv.port)["cameras"][0]["streams"]
                                ["mp4"]["responses_ended"], 2)

    def test_server_restart(self):
        # Two servers on one capture: a client of one streams on while
        # the other restarts; the restarted one's client got a clean end
        # (the last chunk: between fragments nothing of it is queued),
        # and the new server serves again.
        name, _, a = self.start_h264()
        b = self.start_server(name)
        self.wait_attached(b)
        saved = os.path.join(self.tmp, "b.mp4")
        rb = self.reader(b, save=saved)
        ra = self.reader(a)
        rb.wait_fragments(10)
        ra.wait_fragments(10)
        self.assertEqual(a.stop(), 0)
        wait_until(lambda: ra.closed, 10, "the stopped server's client")
        self.assertTrue(ra.ended, ra.error)
        n0 = rb.count()
        a2 = self.start_server(name)
        self.wait_attached(a2)
        self.reader(a2).wait_fragments(30)
        self.assertGreater(rb.count() - n0, 30)
        self.assertIsNone(rb.error)
        self.assertFalse(rb.closed)
        rb.stop()
        self.assert_runs_decodable(rb)
        n, err = ffmpeg_decode(saved)
        self.assertEqual(err, "")
        self.assertGreaterEqual(n, 40)

    def test_slow_reader_skips_to_keyframes(self):
        _, _, srv = self.start_h264(size="1280x720", gop=15)
        saved = os.path.join(self.tmp, "slow.mp4")
        fast = self.reader(srv)
        # A small receive buffer read every 300 ms: a few KB/s, below
        # the test pattern's 30 KB/s or so at this size.
        slow = self.reader(srv, save=saved, rcvbuf=4096, read_delay=0.3)
        fast.wait_fragments(5)
        slow.wait_fragments(5, timeout=20)
        n0 = fast.count()
        observe(6)
        self.assertGreater(fast.count() - n0, 5 * 30 * 0.8)
        st = get_json(srv.port)["cameras"][0]
        skips = [c["skips_to_keyframe"] for c in st["clients"]
                 if c.get("kind") == "mp4"]
        self.assertGreater(max(skips), 0, st["clients"])
        # No backlog: what the slow client gets is as old as one
        # keyframe takes to cross its link (prft: the capture's wall
        # clock time), and does not grow; queueing would make it grow by
        # the observation time.
        with slow.lock:
            ages = [f.arrival_real - f.capture_real
                    for f in slow.fragments]
        self.assertLess(max(ages[len(ages) // 2:]), 4, ages)
        self.assertLess(st["clients"][0]["queued_bytes"] +
                        st["clients"][1]["queued_bytes"], 4 << 20)
        slow.stop()
        self.assert_runs_decodable(slow)
        n, err = ffmpeg_decode(saved)
        self.assertEqual(err, "")
        self.assertGreater(n, 5)

    def test_state_and_metrics(self):
        name, _, srv = self.start_h264()
        r = self.reader(srv, "/stream.mp4?key=tv")
        r.wait_fragments(40)
        # Rates come from two readings of the capture's counters, a
        # second apart.
        wait_until(lambda: get_json(srv.port)["cameras"][0]["h264"]
                   ["bitrate"] > 0, 5, "a bitrate")
        cam = get_json(srv.port)["cameras"][0]
        h = cam["h264"]
        self.assertEqual((h["width"], h["height"]), (640, 360))
        self.assertGreater(h["bitrate"], 0)
        self.assertGreater(h["encode_seconds"], 0)
        self.assertEqual(h["parameter_sets"], 1)
        mp4 = cam["streams"]["mp4"]
        self.assertEqual(mp4["clients"], 1)
        self.assertGreater(mp4["bytes_sent"], 0)
        self.assertEqual(cam["streams"]["mjpeg"]["clients"], 0)
        c = [c for c in cam["clients"] if c["kind"] == "mp4"][0]
        self.assertEqual(c["key"], "tv")
        self.assertTrue(c["chunked"])
        self.assertIsNotNone(c["first_frame_after"])
        text = http_get(srv.port, "/metrics")[2].decode()
        for metric, value in (
                ('shmcam_stream_clients{camera="%s",kind="mp4"}', "1"),
                ('shmcam_stream_clients{camera="%s",kind="mjpeg"}', "0")):
            self.assertIn((metric % name) + " " + value, text)
        for metric in ("shmcam_h264_keyframes_served_total",
                       "shmcam_h264_bitrate_bits_per_second",
                       "shmcam_h264_encode_seconds"):
            self.assertRegex(text, r'(?m)^%s\{camera="%s"\} [0-9.]+$'
                             % (metric, name))


class Mp4WithoutH264Test(ShmcamTestCase):

    def test_camera_without_h264(self):
        name = self.new_name()
        self.start_capture(name, "--size", "320x240",
                           *(("--h264", "off") if H264 else ()))
        srv = self.start_server(name)
        self.wait_attached(srv)
        for method in ("GET", "HEAD"):
            status, _, _ = http_get(srv.port, "/stream.mp4", method=method)
            self.assertEqual(status, 404)
        self.assertFalse(get_json(srv.port)["cameras"][0]["streams"]["mp4"]
                         ["available"])
        self.assertRegex(http_get(srv.port, "/")[2].decode(), r"stream\.mp4")


@unittest.skipUnless(H264, NO_H264)
class Mp4UnplugTest(V4l2TestCase):

    def test_unplug_and_replug_keep_clients(self):
        # A raw camera (YUYV, encoded by the capture) unplugged and
        # plugged in again at the same size: MP4 clients stay connected,
        # get nothing while it is away, and carry on at a keyframe.
        name = self.new_name()
        self.start_sim_capture(name, "--format", "YUYV", "--size",
                               "640x480", "--retry-interval", "0.2",
                               "--h264", "on")
        srv = self.start_server(name)
        self.wait_attached(srv)
        saved = os.path.join(self.tmp, "unplug.mp4")
        r = Mp4Reader(srv.port, save=saved)
        r.start()
        self.addCleanup(r.stop)
        r.wait_fragments(20)
        os.unlink(self.dev)                        # unplug
        wait_until(lambda: self.ring_get(name, "state", "") == "offline",
                   10, "the ring to say offline")
        observe(1)
        self.plug()                                # replug
        back = time.monotonic()
        wait_until(lambda: self.ring_get(name, "state", "") == "online",
                   10, "the device to come back")

        def after():
            with r.lock:
                return [f for f in r.fragments if f.arrival > back]
        wait_until(lambda: len(after()) >= 20, 15, "fragments after replug")
        self.assertTrue(after()[0].sync)
        self.assertFalse(r.closed)
        self.assertIsNone(r.error)
        r.stop()
        n, err = ffmpeg_decode(saved)
        self.assertEqual(err, "")
        self.assertGreaterEqual(n, 40)


if __name__ == "__main__":
    unittest.main()
