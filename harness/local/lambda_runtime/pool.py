"""Warm execution environments, as Lambda keeps them: an invocation takes an idle environment made
for the same function, code, configuration and credentials (the most recently used first), or
starts a new one; after its answer the environment waits, frozen, for the next invocation, and is
ended after ``keep_warm`` seconds without one. So a handler's module-level state (clients, caches,
what Locust patched) lives on between invocations here as on AWS, and code that breaks on a second
invocation in the same process breaks here too.

``keep_warm``: argument > ``HARNESS_LOCAL_LAMBDA_KEEP_WARM`` (seconds) > 120; 0 starts every
invocation in a new environment (a cold start every time).
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from pathlib import Path
from typing import Any

from harness.errors import LocalStackError
from harness.local.iam import RoleCredentials
from harness.local.lambda_runtime.function import Function
from harness.local.lambda_runtime.process import Environment, Outcome, environment_key

__all__ = ["KEEP_WARM_ENV", "Environments", "keep_warm_default"]

KEEP_WARM_ENV = "HARNESS_LOCAL_LAMBDA_KEEP_WARM"
DEFAULT_KEEP_WARM_S = 120.0
MAX_IDLE = 64  # idle environments kept in all; past it the least recently used is ended


def keep_warm_default() -> float:
    raw = os.environ.get(KEEP_WARM_ENV, "").strip()
    if not raw:
        return DEFAULT_KEEP_WARM_S
    try:
        value = float(raw)
    except ValueError:
        raise LocalStackError(f"{KEEP_WARM_ENV}={raw!r} is not a number of seconds; set it to 0 (a cold start every time) or more") from None
    if value < 0:
        raise LocalStackError(f"{KEEP_WARM_ENV}={raw!r} is negative; set it to 0 (a cold start every time) or more")
    return value


class Environments:
    """The idle environments of every function, and the invocations through them.

    ::

        pool = Environments(keep_warm=120)
        outcome = pool.invoke(func, code_dir, creds, event, request_id)
        pool.expire()  # end those idle for longer than keep_warm (call it now and then)
        pool.close()  # end them all (also at exit)
    """

    def __init__(self, keep_warm: float | None = None) -> None:
        self.keep_warm = keep_warm_default() if keep_warm is None else float(keep_warm)
        self._idle: dict[tuple[Any, ...], list[Environment]] = {}
        self._lock = threading.Lock()
        self._closed = False
        atexit.register(self.close)

    def invoke(self, func: Function, code_dir: Path, creds: RoleCredentials, event: bytes, request_id: str) -> Outcome:
        env = self._take(environment_key(func, code_dir, creds)) or Environment(func, code_dir, creds)
        try:
            return env.invoke(event, request_id)
        finally:
            self._give_back(env)

    def idle(self) -> int:
        with self._lock:
            return sum(len(envs) for envs in self._idle.values())

    def expire(self) -> None:
        """End the environments idle for longer than ``keep_warm``, and the least recently used
        past ``MAX_IDLE``."""
        now = time.monotonic()
        with self._lock:
            ordered = sorted((env for envs in self._idle.values() for env in envs), key=lambda e: e.idle_since)
            surplus = max(0, len(ordered) - MAX_IDLE)
            ended = [env for i, env in enumerate(ordered) if i < surplus or now - env.idle_since > self.keep_warm]
            for env in ended:
                self._idle[env.key].remove(env)
                if not self._idle[env.key]:
                    del self._idle[env.key]
        for env in ended:
            env.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            ended = [env for envs in self._idle.values() for env in envs]
            self._idle.clear()
        for env in ended:
            env.close()

    def _take(self, key: tuple[Any, ...]) -> Environment | None:
        with self._lock:
            envs = self._idle.get(key, [])
            while envs:
                env = envs.pop()  # the most recently used: its caches are the warmest
                if env.alive:
                    return env
                env.close()
        return None

    def _give_back(self, env: Environment) -> None:
        if env.alive and self.keep_warm > 0:
            with self._lock:
                if not self._closed:
                    self._idle.setdefault(env.key, []).append(env)
                    return
        env.close()
