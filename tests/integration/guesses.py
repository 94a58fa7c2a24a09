"""Wrong passwords from one address, for test_auth_throttle and
test_rtsp_auth_throttle: 80 guesses at alice's password, one every 50 ms,
each on a connection of its own from 127.0.0.1, none waiting for the one
before.  Prints the statuses (or errors) and how long the sending took,
as JSON.  Every guess is waited for, however long a loaded machine takes
to hash the few that are checked.

    guesses.py http PORT PATH     GET PATH with Basic credentials
    guesses.py rtsp PORT URL      DESCRIBE URL with Basic credentials

A program of its own, so that its threads do not hold up a test's stream
readers (Python's global lock), which would make them read late and skip
frames for reasons of their own."""

import base64
import http.client
import json
import socket
import sys
import threading
import time


def http_guess(port, path, auth):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120,
                                   source_address=("127.0.0.1", 0))
    try:
        c.request("GET", path, headers={"Authorization": auth})
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def rtsp_guess(port, url, auth):
    with socket.create_connection(("127.0.0.1", port), timeout=120,
                                  source_address=("127.0.0.1", 0)) as s:
        s.sendall(("DESCRIBE %s RTSP/1.0\r\nCSeq: 1\r\nAuthorization: "
                   "%s\r\n\r\n" % (url, auth)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                raise OSError("closed after %r" % head)
            head += chunk
        return int(head.split()[1])


def main():
    guess = {"http": http_guess, "rtsp": rtsp_guess}[sys.argv[1]]
    port, target = int(sys.argv[2]), sys.argv[3]
    answers = []

    def one(i):
        auth = "Basic " + base64.b64encode(
            ("alice:guess%d" % i).encode()).decode()
        try:
            answers.append(guess(port, target, auth))
        except OSError as e:
            answers.append(str(e))

    threads = []
    start = time.monotonic()
    for i in range(80):
        t = threading.Thread(target=one, args=(i,))
        t.start()
        threads.append(t)
        time.sleep(max(0, start + (i + 1) * 0.05 - time.monotonic()))
    elapsed = time.monotonic() - start
    for t in threads:
        t.join()
    print(json.dumps([answers, elapsed]))


if __name__ == "__main__":
    main()
