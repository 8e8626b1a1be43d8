#!/usr/bin/env python3
"""Runs a command (the test suite) as a child subreaper and fails if anything it started is
still alive when it ends.

    scripts/run-reaped.py [--grace SECONDS] -- COMMAND [ARGS...]

With PR_SET_CHILD_SUBREAPER every process the command's descendants leave behind (a server a
test started and never stopped, a child of a test binary that ended with _exit) is re-parented
to this process instead of init. When the command exits, such orphans get `--grace` seconds
(default 3) to finish on their own; whatever is left is listed (pid and command line), killed
and reaped, and the exit status is 1 if the command itself succeeded (its own status
otherwise)."""
import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError):
            continue
        if ppid == pid:
            out.append(int(d))
    return out


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main(argv):
    grace = 3.0
    if argv[:1] == ["--grace"]:
        grace, argv = float(argv[1]), argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("run-reaped: prctl(PR_SET_CHILD_SUBREAPER): %s" % os.strerror(ctypes.get_errno()), file=sys.stderr)
        return 2
    rc = subprocess.call(argv)
    me = os.getpid()
    deadline = time.monotonic() + grace
    left = []
    while True:
        reap()
        left = children(me)
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if not left:
        return rc
    print("\nrun-reaped: %d process(es) started by the tests were still running when they ended:" % len(left),
          file=sys.stderr)
    for pid in left:
        print("  pid %d: %s" % (pid, cmdline(pid)), file=sys.stderr)
    for _ in range(5):   # a killed orphan's own children become ours next
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
        reap()
        left = children(me)
        if not left:
            break
    return rc if rc != 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
