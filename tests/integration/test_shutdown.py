"""A server stopped while clients still hold frames exits cleanly.

Stream clients that do not read leave a frame partly sent (the kernel has
some, our output buffer references the rest), and snapshot clients that
do not read leave the whole JPEG referenced by an unflushed response.
SIGTERM must free all of it in an order that never touches a freed frame
or camera: exit status 0, and under valgrind (make check-valgrind) and
AddressSanitizer (make SANITIZE=address,undefined check) no error and
no leak."""

import socket

from shmcam import SANITIZER_SIGNATURES, ShmcamTestCase, get_json, wait_until

# The smallest receive buffer the kernel allows: a client that does not
# read then holds back almost all of a 1280x720 frame (about 46 KB).
RCVBUF = 1024


def idle_client(port, path):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    s.connect(("127.0.0.1", port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path).encode())
    return s


class ShutdownTest(ShmcamTestCase):

    def test_sigterm_with_frames_in_flight(self):
        name = self.new_name()
        self.start_capture(name, "--size", "1280x720", "--fps", "30")
        srv = self.start_server(name)
        self.wait_attached(srv)
        socks = [idle_client(srv.port, "/stream") for _ in range(3)]
        socks += [idle_client(srv.port, "/snapshot") for _ in range(3)]
        for s in socks:
            self.addCleanup(s.close)

        def held_back():
            st = get_json(srv.port)["cameras"][0]
            queued = [c["queued_bytes"] - c["kernel_queued_bytes"]
                      for c in st["clients"]]
            return len(queued) == 3 and all(q > 0 for q in queued)
        # Each stream client has part of a frame in our output buffer.
        wait_until(held_back, 10, "stream frames held in the server")

        self.assertEqual(srv.stop(), 0, srv.log()[-3000:])
        log = srv.log()
        for sig in SANITIZER_SIGNATURES + ("Invalid read", "Invalid write"):
            self.assertNotIn(sig, log)
