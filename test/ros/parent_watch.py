"""Shared by the test-side ROS processes: exit with the test that started them."""
import os
import signal
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


def stop_requests(stopping):
    """
    Route the ways a test stops this process (SIGTERM, SIGINT, the parent's death) to the main loop; returns
    a predicate that is true once one came or `stopping` (a threading.Event) was set. The signal handlers only
    record the signal: a handler runs in the main thread, possibly inside stopping.wait() while that holds the
    Event's own non-reentrant lock, where stopping.set() would deadlock. The parent watch is another thread,
    where set() is safe.
    """
    signalled = []
    signal.signal(signal.SIGTERM, lambda *_: signalled.append(True))
    signal.signal(signal.SIGINT, lambda *_: signalled.append(True))
    watch_parent(stopping.set)
    return lambda: bool(signalled) or stopping.is_set()
