"""``harness fanout``'s heartbeat: the workers of a run with faults stop when it goes silent.

    with Heartbeat(store):                      # harness fanout, while it owns the run's faults
        ...
    reason = silent_owner(store, timeout=60, since=worker_started)   # a worker, every few seconds

The run's ``[[faults]]`` are applied, ended and measured by the ``harness fanout`` process (the
workers only load). If that process dies (SIGKILL, a lost laptop or network), nobody ends the
faults on time or records their windows, and the workers would go on loading the target for
the rest of their segment. So while it owns faults it writes ``runs/<run-id>/heartbeat.json``
every ``HEARTBEAT_EVERY`` seconds, and a worker of such a run stops (it writes ``stop.json``,
so all stop) once the heartbeat is older than ``fanout.heartbeat_timeout``. The age is S3's
``LastModified`` against the worker's clock (both kept by AWS), never the laptop's clock.
"""

from __future__ import annotations

import logging
import time
from typing import Self

from harness.fanout.background import BackgroundLoop
from harness.fanout.store import RunStore

__all__ = ["Heartbeat", "HEARTBEAT_EVERY", "silent_owner"]

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 5.0
"""Seconds between two heartbeats of ``harness fanout``."""


class Heartbeat(BackgroundLoop):
    """Writes ``heartbeat.json`` now and every ``every`` seconds until the ``with`` ends."""

    thread_name = "heartbeat"

    def __init__(self, store: RunStore, *, every: float = HEARTBEAT_EVERY) -> None:
        super().__init__()
        self.store = store
        self.every = every

    def beat(self) -> None:
        self.store.put_json(self.store.heartbeat_key, {"at": time.time(), "every": self.every})

    def loop(self) -> None:
        while not self.done.wait(timeout=self.every):
            try:
                self.beat()
            except Exception as exc:  # a missed beat is retried; the workers allow for several
                log.warning("harness: could not write the heartbeat: %s", exc)

    def __enter__(self) -> Self:
        self.beat()  # before the execution starts: a worker never sees a run with faults and no heartbeat
        return super().__enter__()


def silent_owner(store: RunStore, *, timeout: float, since: float, now: float | None = None) -> str | None:
    """Why the workers should stop when ``harness fanout`` has been silent for more than
    ``timeout`` seconds (no heartbeat newer than that; none at all for that long since
    ``since``, the worker's start), else None."""
    now = time.time() if now is None else now
    last = store.modified(store.heartbeat_key)
    if last is None:
        silent = now - since
        if silent <= timeout:
            return None
        return f"harness fanout, which applies the run's faults, never wrote its heartbeat in {silent:.0f} s (fanout.heartbeat_timeout {timeout:g} s)"
    if now - last <= timeout:
        return None
    return (
        f"harness fanout, which applies the run's faults, has been silent for {now - last:.0f} s "
        f"(fanout.heartbeat_timeout {timeout:g} s): its faults are no longer ended or measured"
    )
