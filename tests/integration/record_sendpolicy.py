"""Records what the send policy (server/sendpolicy.h) sees on simulated
links, as the table of tests/check_sendpolicy.c: the inputs of real
decisions, each with the answer the link's known properties call for.

    SHMCAM_BUILD=build python3 tests/integration/record_sendpolicy.py \\
        > tests/sendpolicy_recorded.h

Needs root (wan.py).  Not a test: the unittest runner leaves this file
alone (its name does not start with test_), and the table it writes is
committed, so that the unit tests run on the figures of real links
without any link.

Each scenario streams the simulated camera (1280x720, 30 fps MJPEG) to
its viewers across one link, with the server logging every decision's
inputs (-v).  A row's expected answer comes from the link, not from the
policy:

    the time before a frame queued now would start to leave the
    bottleneck is (our bytes + the kernel's unsent bytes) at the rate
    they can leave (the link's rate, or the congestion window per
    round trip if that is lower) + the bytes in flight beyond what the
    path holds moving (the link's rate x its round-trip time: the
    bottleneck's queue) at the link's rate;

    SEND_NOW when that is under 0.8 of the frame interval, SEND_WAIT
    over 1.25 of it, and in between the row is left out: a policy may
    go either way there.  In the first STARTUP_MS the band is wider,
    from 2/3 to 1.5: TCP has not measured the path yet (in slow start
    its rate samples and round trips describe the window of a round
    trip ago), so no rule can tell a queue that is just forming from
    one that is not there as closely as later on.

Rows with our own buffer non-empty are left out (they wait whatever the
path: the table's unit tests have their own rows for that).  Up to
PER_SCENARIO rows of each answer per scenario, spread over the run, and
as many again from its first STARTUP_MS, the round trips where TCP has
no estimates yet or only those of its slow start.
"""

import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from shmcam import LOADCLIENT  # noqa: E402
from test_http_wan import WanTest  # noqa: E402

PER_SCENARIO = 8
STARTUP_MS = 1500
DURATION = 5
PAYLOAD = 1448 / 1500   # payload share of a full packet on the link

# name, RTT ms, rate bytes/s (0: none), bottleneck queue bytes (None:
# wanlink's default), loss, viewers
SCENARIOS = [
    ("rtt 100 ms, no bottleneck", 100, 0, None, 0, 1),
    ("rtt 100 ms, no bottleneck, 5 viewers", 100, 0, None, 0, 5),
    ("rtt 200 ms, no bottleneck", 200, 0, None, 0, 1),
    ("rtt 100 ms, 250 KB/s", 100, 250000, None, 0, 1),
    ("rtt 100 ms, 250 KB/s, 1 s of buffer", 100, 250000, 250000, 0, 1),
    ("rtt 20 ms, 100 KB/s", 20, 100000, None, 0, 1),
    ("rtt 50 ms, 1 MB/s", 50, 1000000, None, 0, 1),
    ("rtt 50 ms, 1 % loss", 50, 0, None, 0.01, 1),
]

LINE = re.compile(
    r"send policy: client ([0-9.]+):\d+: (\w+) \((\w+)\) t=(\d+) path=0 "
    r"ours=(\d+) unsent=(\d+) inflight=(\d+) rate=(\d+) rate_max=(\d+) "
    r"app_limited=(\d) min_rtt=(\d+) srtt=(\d+) rttvar=(\d+) "
    r"window=(\d+) interval=(\d+) last_len=(\d+) since_push=(\d+)")
FIELDS = ("ours", "unsent", "inflight", "rate", "rate_max", "app_limited",
          "min_rtt", "srtt", "rttvar", "window", "interval", "last_len",
          "since_push")


def expected(row, rtt_ms, rate):
    """SEND_NOW, SEND_WAIT, or None (too close to call), from the
    link's properties."""
    lo, hi = (2 / 3, 1.5) if row["t"] < STARTUP_MS else (0.8, 1.25)
    rtt = rtt_ms / 1e3
    window_rate = row["window"] / rtt
    if rate:
        link = rate * PAYLOAD
        out_rate = min(link, window_rate)
        queue = max(0.0, row["inflight"] - link * rtt) / link
    else:
        out_rate, queue = window_rate, 0.0
    t = (row["ours"] + row["unsent"]) / out_rate + queue
    interval = row["interval"] / 1e9
    if t < lo * interval:
        return "SEND_NOW"
    if t > hi * interval:
        return "SEND_WAIT"
    return None


def spread(rows, n):
    if len(rows) <= n:
        return rows
    return [rows[i * len(rows) // n] for i in range(n)]


class Recorder(WanTest):

    def record(self):
        name = self.new_name()
        self.start_sim_capture(name, "--format", "MJPEG", "--size",
                               "1280x720", sim={"V4L2SIM_FORMATS":
                                                "MJPG:1280x720@30"})
        from wan import Wan
        self.net = Wan(self)
        srv = self.start_server(name, "--listen", "0.0.0.0:0", "-v",
                                netns=self.net.server)
        self.wait_attached(srv)
        links = []
        for sc in SCENARIOS:
            _, rtt, rate, queue, loss, n = sc
            ln = self.net.link(rtt_ms=rtt, rate=rate, queue=queue,
                               loss=loss)
            r = ln.run([LOADCLIENT, "-u", ln.url(srv.port, "/stream"),
                        "-n", n, "-d", DURATION, "--warmup", 0],
                       timeout=DURATION + 60)
            self.assertEqual(r.returncode, 0, r.stderr)
            links.append((sc, ln))
            # Its connections close before the next scenario starts.
            time.sleep(0.5)
        rows = {ln.client_addr: [] for _, ln in links}
        for line in srv.log().splitlines():
            m = LINE.search(line)
            if m and m.group(1) in rows:
                row = dict(zip(FIELDS, map(int, m.groups()[4:])))
                row["t"] = int(m.group(4))
                rows[m.group(1)].append(row)
        out = []
        for (sc, ln) in links:
            label, rtt, rate = sc[0], sc[1], sc[2]
            picked = {(e, early): [] for e in ("SEND_NOW", "SEND_WAIT")
                      for early in (True, False)}
            for row in rows[ln.client_addr]:
                if row["ours"] != 0:
                    continue
                e = expected(row, rtt, rate)
                if e is not None:
                    picked[e, row["t"] < STARTUP_MS].append(row)
            out.append((label, [(e, r) for (e, _), rs in picked.items()
                                for r in spread(rs, PER_SCENARIO)]))
        self.table = out


def emit(table):
    w = sys.stdout.write
    w("/*\n * sendpolicy_recorded.h - inputs of the send policy recorded on "
      "simulated\n * links, with the answer each link calls for "
      "(tests/integration/\n * record_sendpolicy.py says how; it wrote "
      "this file on %s).\n * Included by tests/check_sendpolicy.c.\n */\n"
      % time.strftime("%Y-%m-%d"))
    w("/* label, t ms, expected, ours, unsent, inflight, rate, rate_max,\n"
      "   app_limited, min_rtt, srtt, rttvar, window, interval, last_len,\n"
      "   since_push */\n")
    for label, rows in table:
        w("\n/* %s */\n" % label)
        for e, r in sorted(rows, key=lambda er: er[1]["t"]):
            w("{ \"%s\", %d, %s,\n  %s },\n" % (
                label, r["t"], e,
                ", ".join(str(r[f]) for f in FIELDS)))


def main():
    rec = Recorder("record")
    res = unittest.TextTestRunner(stream=sys.stderr).run(rec)
    if not res.wasSuccessful():
        return 1
    emit(rec.table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
