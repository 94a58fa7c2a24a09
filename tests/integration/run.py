#!/usr/bin/env python3
"""Runs the integration test modules, several at a time.

    python3 tests/integration/run.py [-j JOBS] [--skip MODULE ...] [MODULE ...]

Each module (test_*.py beside this file, or those named) runs in its own
`python3 -m unittest -v MODULE` process.  Most of the suite's time is spent
waiting: on simulated wide-area links, on players decoding a few seconds
of video, on deadlines that prove something does not happen.  So JOBS
modules at a time finish in a fraction of the time one at a time takes,
on a machine with few cores too.  The tests are written for that: each
listens on port 0, names its network namespaces, shared memory and
temporary directories after its own process, and bounds its timing for a
loaded 2-core machine.

A module whose measurements the others' load would distort (the
simulated wide-area links: a user-space forwarder carries every byte, and
a starved forwarder is a slower link than the test asked for) says
`RUN_ALONE = True` at its top level; those run first, one by one, with
nothing beside them.

The modules that took longest in the last run on this build start first
(their times are kept in $SHMCAM_BUILD/integration-times.json), so that a
long module does not start last and run alone.  A module's output is
printed whole when it ends, so the log reads as if they ran one by one.
A module that runs longer than --timeout seconds is killed and failed.
The exit status is 0 if every module passed.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def discover():
    return sorted(f[:-3] for f in os.listdir(HERE)
                  if f.startswith("test_") and f.endswith(".py"))


def runs_alone(module):
    """Whether module says RUN_ALONE = True (read, not imported: the
    runner does not import what it runs)."""
    with open(os.path.join(HERE, module + ".py")) as f:
        return any(re.match(r"RUN_ALONE\s*=\s*True\b", line) for line in f)


def times_path():
    build = os.environ.get("SHMCAM_BUILD", "build")
    if not os.path.isabs(build):
        build = os.path.join(HERE, "..", "..", build)
    return os.path.join(build, "integration-times.json")


def load_times():
    try:
        with open(times_path()) as f:
            return {k: float(v) for k, v in json.load(f).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def save_times(times):
    try:
        with open(times_path() + ".tmp", "w") as f:
            json.dump(times, f, indent=1, sort_keys=True)
        os.replace(times_path() + ".tmp", times_path())
    except OSError:
        pass    # a read-only build: the order is only an optimisation


def summary_line(out):
    """unittest's last lines: 'Ran N tests' and OK/FAILED (...)."""
    ran = verdict = ""
    for line in out.splitlines():
        if line.startswith("Ran "):
            ran = line.split(" in ")[0]
        elif line.startswith("OK") or line.startswith("FAILED"):
            verdict = line
    return "%s, %s" % (ran or "no result", verdict or "no verdict")


running = []     # the Jobs under way, killed if this runner is stopped


class Job:
    def __init__(self, module, alone):
        self.module = module
        self.alone = alone
        self.out = tempfile.TemporaryFile()
        self.start = time.monotonic()
        # A process group of its own, so that a module killed for its
        # time takes its captures, servers and players with it.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "unittest", "-v", module], cwd=HERE,
            stdin=subprocess.DEVNULL, stdout=self.out,
            stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def output(self):
        self.out.seek(0)
        return self.out.read().decode(errors="replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-j", "--jobs", type=int, default=1)
    ap.add_argument("--skip", nargs="*", default=[], metavar="MODULE")
    ap.add_argument("--timeout", type=float, default=1200,
                    help="seconds a module may take (default 1200)")
    ap.add_argument("modules", nargs="*")
    args = ap.parse_args()
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")
    known = discover()
    for m in args.modules + args.skip:
        if m not in known:
            ap.error("no module %s in %s" % (m, HERE))
    todo = [m for m in (args.modules or known) if m not in args.skip]
    times = load_times()
    alone = {m: runs_alone(m) for m in todo}
    # Those that run alone first, then the longest first.
    todo.sort(key=lambda m: (not alone[m], -times.get(m, 0.0)))

    t0 = time.monotonic()
    results = {}
    print("== %d modules, %d at a time" % (len(todo), args.jobs), flush=True)
    while todo or running:
        while todo and (not running or (
                len(running) < args.jobs and not running[0].alone and
                not alone[todo[0]])):
            m = todo.pop(0)
            running.append(Job(m, alone[m]))
        time.sleep(0.2)     # polling a handful of children: cheap enough
        for job in list(running):
            took = time.monotonic() - job.start
            rc = job.proc.poll()
            if rc is None and took > args.timeout:
                job.kill()
                rc = "killed after %.0f s" % took
            if rc is None:
                continue
            running.remove(job)
            out = job.output()
            job.out.close()
            ok = rc == 0
            results[job.module] = (ok, took)
            times[job.module] = took
            print("== %s" % job.module)
            sys.stdout.write(out)
            print("== %s: %s in %.1f s%s" % (
                job.module, "passed" if ok else "FAILED", took,
                "" if ok else " (%s; %s)" % (
                    rc if isinstance(rc, str) else "exit %d" % rc,
                    summary_line(out))), flush=True)
    save_times(times)

    failed = sorted(m for m, (ok, _) in results.items() if not ok)
    print("== integration: %d modules in %.0f s, %d at a time; longest: %s"
          % (len(results), time.monotonic() - t0, args.jobs, ", ".join(
              "%s %.0f s" % (m, t) for m, (_, t) in sorted(
                  results.items(), key=lambda kv: -kv[1][1])[:5])))
    if failed:
        print("== integration FAILED: %s" % " ".join(failed))
        return 1
    return 0


def stopped(signum, frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stopped)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        for job in running:
            job.kill()
