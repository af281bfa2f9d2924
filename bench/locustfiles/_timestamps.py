"""Shared by the bench locustfiles: every request's start time, dumped to a JSON file at quit.

``install()`` adds an ``events.request`` listener appending ``start_time`` (epoch seconds) to a
list, notes when spawning completed, and writes ``{"starts": [...], "spawned": t, ...}`` to
``$BENCH_TIMES_FILE`` when Locust quits. ``marks`` takes extra instants (a shape's t0).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from locust import events

starts: list[float] = []
marks: dict[str, float] = {}


def install() -> None:
    path = os.environ["BENCH_TIMES_FILE"]
    append = starts.append

    def on_request(start_time: float, **_: Any) -> None:
        append(start_time)

    def on_spawned(**_: Any) -> None:
        marks.setdefault("spawned", time.time())

    def on_quitting(**_: Any) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump({"starts": starts, **marks}, fh)

    events.request.add_listener(on_request)
    events.spawning_complete.add_listener(on_spawned)
    events.quitting.add_listener(on_quitting)
