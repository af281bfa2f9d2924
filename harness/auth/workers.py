"""Run one function over many items on a few threads; the first error stops the rest.

    run_each(usernames, create_one, concurrency=8)

Plain ``threading`` only: under gevent's monkey-patching (Locust patches the process) the
threads become greenlets and the same code still works. ``concurrent.futures`` is avoided
on purpose, its interpreter-exit hooks do not mix well with monkey-patching.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

__all__ = ["run_each"]

T = TypeVar("T")


def run_each(items: Iterable[T], fn: Callable[[T], object], *, concurrency: int = 8, name: str = "harness-auth") -> None:
    """Call ``fn(item)`` for every item on up to ``concurrency`` threads.

    ``fn`` handles the errors it can live with; anything it raises stops the other workers
    (they finish their current item) and is re-raised here. Ctrl-C stops them the same way.
    """
    todo = list(items)
    if not todo:
        return
    it = iter(todo)
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def worker() -> None:
        while not stop.is_set():
            with lock:
                try:
                    item = next(it)
                except StopIteration:
                    return
            try:
                fn(item)
            except BaseException as err:  # handed to the caller below
                with lock:
                    errors.append(err)
                stop.set()
                return

    count = max(1, min(int(concurrency), len(todo)))
    threads = [threading.Thread(target=worker, name=f"{name}-{k}", daemon=True) for k in range(count)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
    except BaseException:
        stop.set()
        raise
    if errors:
        raise errors[0]
