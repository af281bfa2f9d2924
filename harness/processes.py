"""Two helpers for the processes harness starts, with nothing but the standard library, so the
Lambda package (which leaves out ``harness/local``) has them too::

    port = free_port()                  # for a server (moto, the emulator, a Locust master)
    exit_with_parent(os.getppid())      # in a child: exit once the parent is gone
"""

from __future__ import annotations

import _thread
import os
import socket
import sys
import time

__all__ = ["exit_with_parent", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago (the caller retries on a clash)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def exit_with_parent(parent: int, *, code: int = 0) -> None:
    """Exit (with ``code``) once ``parent`` is gone, so a killed test run leaves no server behind.
    The watch is a thread of the OS even where gevent has patched ``threading`` (a Locust
    worker): a greenlet would only look while the process waits on gevent's hub."""
    start_thread, sleep = _thread.start_new_thread, time.sleep
    if "gevent.monkey" in sys.modules:
        from gevent import monkey

        start_thread, sleep = monkey.get_original("_thread", "start_new_thread"), monkey.get_original("time", "sleep")

    def watch() -> None:
        while True:
            sleep(1.0)
            if os.getppid() != parent:  # reparented: the parent is gone
                os._exit(code)

    start_thread(watch, ())
