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
frames for reasons of their own.

Both tests also import it for basic() and compare_cost(), the statistics
of their unknown-user guesses."""

import base64
import http.client
import json
import socket
import statistics
import sys
import threading
import time


def basic(user, password):
    """The Authorization value of Basic credentials."""
    return "Basic " + base64.b64encode(
        ("%s:%s" % (user, password)).encode()).decode()


def compare_cost(test, what, known, unknown):
    """Asserts that a server spends as much on a wrong password for a user
    name it does not know as on one for a name it knows: known and unknown
    are (answer seconds, server CPU ns) of each guess, sent interleaved,
    one at a time, from addresses of their own (no throttling).
    - the work: the server's CPU time for the unknown name's guesses over
      the known name's (every thread, the scheduler's nanoseconds).  It
      does not depend on how loaded the machine is; what else the server
      does meanwhile (a wake-up per frame at 30 fps, with no client) is a
      few per cent of a hash.  Answering an unknown name without hashing
      makes it a few hundredths; the same work makes it 1 within
      [0.8, 1.25].
    - the answer time: no answer for the unknown name comes back sooner
      than half the CPU time a known name's guess takes.  An answer cannot
      take less wall time than the hash it waited for, and a load only
      lengthens it, so this holds on any machine; without the hash the
      fastest took 1 ms against 80 of CPU.  Comparing the answer times
      themselves (medians, fastest) measures the load: a hash at nice 10
      took 0.1 to 2.5 s under ASan at a load of 12, the fastest answers'
      ratio 0.37, the medians' 0.64; they are only printed (`what` names
      the figure)."""
    from shmcam import figure       # the tests' module: not the program's

    cpu_k = [c for _, c in known]
    cpu_u = [c for _, c in unknown]
    work = sum(cpu_u) / sum(cpu_k)
    med_cpu = statistics.median(cpu_k) / 1e9
    fastest_u = min(s for s, _ in unknown)
    figure("%s, %d each, interleaved: server CPU %.0f ms for a user that "
           "exists, %.0f ms for one that does not (ratio %.2f); median CPU "
           "per guess for the one that does %.0f ms; answers: fastest %.0f "
           "and %.0f ms, median %.0f and %.0f ms", what, len(known),
           sum(cpu_k) / 1e6, sum(cpu_u) / 1e6, work, med_cpu * 1000,
           min(s for s, _ in known) * 1000, fastest_u * 1000,
           statistics.median(s for s, _ in known) * 1000,
           statistics.median(s for s, _ in unknown) * 1000)
    test.assertGreater(work, 0.8, (known, unknown))
    test.assertLess(work, 1.25, (known, unknown))
    test.assertGreater(fastest_u, med_cpu / 2, (known, unknown))


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
        auth = basic("alice", "guess%d" % i)
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
