#!/usr/bin/python3
"""
Run a command (roscore) so that it cannot outlive the test that started it:
the command runs in its own process group, and when this wrapper's parent
dies (a test runner killed before its teardown) or this wrapper gets
SIGTERM/SIGINT, the group gets SIGINT (roscore's clean stop), then SIGKILL.

Usage: with_parent.py COMMAND [ARGS...]
"""
import os
import signal
import subprocess
import sys
import time

parent = os.getppid()
child = subprocess.Popen(sys.argv[1:], start_new_session=True)
stopping = False


def stop(*_):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
while child.poll() is None and not stopping and os.getppid() == parent:
    time.sleep(0.2)
if child.poll() is None:
    try:
        os.killpg(child.pid, signal.SIGINT)
        child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    except ProcessLookupError:
        pass
sys.exit(child.returncode if child.returncode is not None and child.returncode >= 0 else 0)
