#!/usr/bin/env python3
"""scripts/run-reaped.py: a command that leaves a process behind fails and names it; one that
does not keeps its own exit status."""
import os
import subprocess
import sys
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "run-reaped.py")


def run(*cmd):
    return subprocess.run([sys.executable, SCRIPT, "--grace", "0.5", "--", *cmd], capture_output=True, text=True, timeout=60)


class RunReapedTest(unittest.TestCase):
    def test_clean_command_keeps_its_status(self):
        self.assertEqual(run("true").returncode, 0)
        self.assertEqual(run("sh", "-c", "exit 3").returncode, 3)

    def test_orphan_fails_the_run_and_is_killed(self):
        # the grandchild outlives its parent (as a server a test forgot to stop does)
        r = run("sh", "-c", "sleep 300 & echo $! > /dev/null")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("still running when they ended", r.stderr)
        self.assertIn("sleep 300", r.stderr)
        pid = int(r.stderr.split("pid ")[1].split(":")[0])
        self.assertFalse(os.path.exists("/proc/%d" % pid) and "sleep" in open("/proc/%d/cmdline" % pid).read(),
                         "the orphan was not killed")

    def test_orphan_of_a_failing_command_keeps_the_failure_status(self):
        r = run("sh", "-c", "sleep 300 & exit 4")
        self.assertEqual(r.returncode, 4)
        self.assertIn("sleep 300", r.stderr)

    def test_process_that_ends_within_the_grace_is_fine(self):
        self.assertEqual(run("sh", "-c", "sleep 0.2 &").returncode, 0)


if __name__ == "__main__":
    unittest.main()
