"""shmcam-rtsp's authentication, from an auth file of shmcam-server's
format: no credentials, wrong ones and right ones, for Digest (users
with a plain password) and Basic (any user, and the only way for users
with a crypt(3) hash); the 401's challenges; a nonce that is not the
connection's (stale=TRUE); OPTIONS without credentials; and the real
clients, ffmpeg and GStreamer, with credentials in the URL."""

import base64
import os
import re
import socket
import subprocess

from h264tools import need_x264
from rtsptools import RtspClient, digest_response, start_rtsp
from shmcam import ShmcamTestCase

# openssl passwd -6 -salt abcdefgh hunter2
HUNTER2 = ("$6$abcdefgh$M/eYsB4rVXAm3ZNc88J.UD9rCKAT6FB1rahiwJCHtEndQNORC"
           "ub5qhjxn50qbqVVthkM.9HpEwtf0t.iV9uH0/")


class RtspAccessTest(ShmcamTestCase):

    def start(self, lines):
        self.name = self.new_name()
        users = os.path.join(self.tmp, "users")
        with open(users, "w") as f:
            f.write("# viewers\n" + "".join(line + "\n" for line in lines))
        os.chmod(users, 0o600)
        self.start_capture(self.name, "--source", "pattern", "--size",
                           "320x240", "--fps", "30")
        self.rtsp = start_rtsp(self, self.name, "--auth-file", users)
        self.url = self.rtsp.url(self.name)

    def client(self, source=None, **kw):
        if source is not None:
            kw["sock"] = socket.create_connection(
                ("127.0.0.1", self.rtsp.port), timeout=10,
                source_address=(source, 0))
        c = RtspClient(self.rtsp.port, **kw)
        self.addCleanup(c.close)
        return c

    def describe(self, c):
        return c.request("DESCRIBE", self.url, {"Accept": "application/sdp"})

    def challenges(self, r):
        return r.header("www-authenticate").split("\n")

    @need_x264
    def test_digest_and_basic(self):
        self.start(["alice:secret", "bob:" + HUNTER2])
        c = self.client()
        # OPTIONS needs nothing; everything else does.
        self.assertEqual(c.request("OPTIONS", self.url).status, 200)
        r = self.describe(c)
        self.assertEqual(r.status, 401)
        digest, basic = self.challenges(r)
        m = re.fullmatch(r'Digest realm="shmcam", nonce="([0-9a-f]{32})"',
                         digest)
        self.assertTrue(m, digest)
        nonce = m.group(1)
        self.assertEqual(basic, 'Basic realm="shmcam"')
        # The nonce is the connection's, the same for each 401.
        self.assertEqual(self.challenges(self.describe(c))[0], digest)
        other = self.client()
        self.assertNotEqual(self.challenges(self.describe(other))[0], digest)

        def digest_auth(user, password, n=nonce, uri=None, method="DESCRIBE"):
            uri = uri or self.url
            return {"Authorization": 'Digest username="%s", realm="shmcam"'
                    ', nonce="%s", uri="%s", response="%s"' % (
                        user, n, uri, digest_response(user, password,
                                                      "shmcam", n, method,
                                                      uri))}

        def basic_auth(user, password):
            return {"Authorization": "Basic " + base64.b64encode(
                ("%s:%s" % (user, password)).encode()).decode()}

        # Each on a connection of its own from an address of its own
        # (127.0.0.0/8 is all loopback): failed logins are throttled per
        # address (test_rtsp_auth_throttle).
        for i, (hdrs, want) in enumerate((
                (lambda n: digest_auth("alice", "secret", n), 200),
                (lambda n: digest_auth("alice", "Secret", n), 401),
                (lambda n: digest_auth("carol", "secret", n), 401),
                # A hash cannot answer Digest.
                (lambda n: digest_auth("bob", "hunter2", n), 401),
                # Answered for another method: not this request's.
                (lambda n: digest_auth("alice", "secret", n,
                                       method="PLAY"), 401),
                (lambda n: basic_auth("alice", "secret"), 200),
                (lambda n: basic_auth("bob", "hunter2"), 200),
                (lambda n: basic_auth("bob", "hunter3"), 401),
                (lambda n: basic_auth("alice", ""), 401),
                (lambda n: {"Authorization": "Bearer x"}, 401),
                (lambda n: {"Authorization": "Digest junk"}, 401))):
            d = self.client(source="127.2.0.%d" % (i + 1))
            n = re.search(r'nonce="([0-9a-f]{32})"', self.describe(
                d).header("www-authenticate")).group(1)
            hdrs = dict(hdrs(n), Accept="application/sdp")
            r = d.request("DESCRIBE", self.url, hdrs)
            self.assertEqual(r.status, want, hdrs)
            if want == 401:
                self.assertEqual(len(self.challenges(r)), 2)
                self.assertNotIn("stale", r.header("www-authenticate"))
            else:
                self.assertEqual(r.header("content-type"), "application/sdp")
        # The right answer to a nonce that is not this connection's: the
        # client is told to answer the fresh one, without asking anyone
        # for a password (stale=TRUE).
        r = c.request("DESCRIBE", self.url,
                      digest_auth("alice", "secret", n="0" * 32))
        self.assertEqual(r.status, 401)
        self.assertIn('nonce="%s", stale=TRUE' % nonce,
                      r.header("www-authenticate"))
        self.assertGreaterEqual(self.rtsp.metrics()[
            "shmcam_rtsp_rejected_auth_total"], 11)
        self.assertRegex(self.rtsp.log(), r"wrong credentials")

    @need_x264
    def test_clients_with_credentials(self):
        self.start(["alice:secret"])
        url = "rtsp://alice:secret@127.0.0.1:%d/%s" % (self.rtsp.port,
                                                       self.name)
        # ffmpeg and GStreamer answer the Digest challenge.
        for transport in ("tcp", "udp"):
            r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error",
                                "-rtsp_transport", transport, "-i", url,
                                "-frames:v", "30", "-f", "null", "-"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run(["gst-launch-1.0", "-q", "rtspsrc",
                            "location=" + self.url, "user-id=alice",
                            "user-pw=secret", "protocols=tcp", "!",
                            "rtph264depay", "!", "h264parse", "!",
                            "avdec_h264", "!", "identity", "eos-after=31",
                            "!", "fakesink"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # Wrong credentials: refused.
        r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error",
                            "-rtsp_transport", "tcp", "-i",
                            url.replace("secret", "guess"), "-frames:v", "1",
                            "-f", "null", "-"],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("401", r.stderr)

    @need_x264
    def test_hashes_only_get_basic(self):
        self.start(["bob:" + HUNTER2])
        c = self.client()
        r = self.describe(c)
        self.assertEqual(self.challenges(r), ['Basic realm="shmcam"'])
        # ffmpeg answers what it is offered.
        url = "rtsp://bob:hunter2@127.0.0.1:%d/%s" % (self.rtsp.port,
                                                     self.name)
        r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error",
                            "-rtsp_transport", "tcp", "-i", url,
                            "-frames:v", "10", "-f", "null", "-"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
