"""A loop on a daemon thread for the length of a ``with``: the fan-out's heartbeat and execution watch.

    class Heartbeat(BackgroundLoop):
        thread_name = "heartbeat"
        def loop(self) -> None:
            while not self.done.wait(timeout=5):
                ...

Under Locust's gevent patching the thread is a greenlet, as everywhere else in the engine.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Self

__all__ = ["BackgroundLoop"]


class BackgroundLoop:
    """Runs ``loop()`` on a daemon thread from ``__enter__``; ``__exit__`` sets ``done`` and
    waits up to ``JOIN_TIMEOUT`` seconds for the loop to return."""

    thread_name = "background"
    JOIN_TIMEOUT = 5.0

    def __init__(self) -> None:
        self.done = threading.Event()
        self._thread: threading.Thread | None = None

    def loop(self) -> None:
        """The work; it must return soon after ``done`` is set."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self.loop, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.done.set()
        if self._thread is not None:
            self._thread.join(timeout=self.JOIN_TIMEOUT)
