"""Shared by the test-side ROS processes: exit with the test that started them."""
import os
import threading
import time


def watch_parent(stop):
    """Call stop() when the process that started this one dies (a test runner killed before its teardown)."""
    parent = os.getppid()

    def loop():
        while os.getppid() == parent:
            time.sleep(0.5)
        stop()

    threading.Thread(target=loop, daemon=True).start()
