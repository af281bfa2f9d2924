"""Applies a run's faults on time, against the run's clock, and always ends them.

    scheduler = FaultScheduler(build_actions(scenario, target=target, aws=aws))
    scheduler.check()            # before any load: one-line FaultError naming what is missing
    scheduler.start(t0)          # t0: the run's first planned request (epoch seconds)
    ...
    scheduler.end_all("interrupted")   # Ctrl-C, SIGTERM, abort, failure: idempotent
    scheduler.records()          # each fault's planned and actual window, for results.json

Each fault starts at ``t0 + at`` and ends at ``t0 + at + duration``; ``end_all`` ends those
still active at once and puts back what they changed. A fault that cannot be started fails
the run (``on_error``): a run without the fault it was asked for measures something else.
The process's exit (a crash) ends them too (``atexit``); faults the local stack holds also end by
themselves at their scheduled end, and AWS faults get an EventBridge Scheduler schedule that puts
them back should the process die (``harness.faults.expiry``), deleted once harness has.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from harness.errors import FaultError, HarnessError
from harness.faults.expiry import Expiry
from harness.faults.kinds import Action

__all__ = ["FaultScheduler", "check_faults"]

log = logging.getLogger("harness.faults")


class _Slot:
    __slots__ = ("action", "started_at", "ended_at", "ended_by", "error", "details", "active", "schedule", "put_back")

    def __init__(self, action: Action) -> None:
        self.action = action
        self.schedule: str | None = None  # the expiry schedule that puts it back if harness cannot
        self.put_back: bool | None = None  # AWS faults: whether harness put back what it changed
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.ended_by: str | None = None
        self.error: str | None = None
        self.details: dict[str, Any] = {}
        self.active = False


class FaultScheduler:
    """Runs ``actions`` on a background thread (a greenlet under Locust's gevent)."""

    def __init__(
        self, actions: list[Action], *, on_error: Callable[[str], None] | None = None, clock: Callable[[], float] = time.time, expiry: Expiry | None = None
    ) -> None:
        self._slots = [_Slot(a) for a in actions]
        self._expiry = expiry
        self._on_error = on_error
        self._clock = clock
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._over = False
        self._thread: threading.Thread | None = None
        self.t0: float | None = None

    def __bool__(self) -> bool:
        return bool(self._slots)

    def check(self) -> None:
        """Check every fault can be applied (before any load); raises ``FaultError``."""
        for slot in self._slots:
            slot.action.check()
        if self._expiry is not None:
            self._expiry.check(next(s.action.where for s in self._slots if s.action.through_aws))

    # ---- running ---------------------------------------------------------------------------

    def start(self, t0: float) -> None:
        """Schedule every fault against ``t0`` (returns at once)."""
        if not self._slots or self._thread is not None:
            return
        self.t0 = t0
        atexit.register(self._at_exit)
        self._thread = threading.Thread(target=self._run, name="harness-faults", daemon=True)
        self._thread.start()

    def _events(self) -> list[tuple[float, int, _Slot]]:
        assert self.t0 is not None
        events = []
        for slot in self._slots:
            spec = slot.action.spec
            events.append((self.t0 + spec.at, 1, slot))  # starts after ends at the same instant
            events.append((self.t0 + spec.end, 0, slot))
        return sorted(events, key=lambda e: (e[0], e[1]))

    def _run(self) -> None:
        try:
            for when, is_start, slot in self._events():
                while not self._over:
                    left = when - self._clock()
                    if left <= 0:
                        break
                    self._wake.wait(min(left, 1.0))
                if self._over:
                    return
                if is_start:
                    self._start(slot)
                else:
                    self._stop(slot, "schedule")
        except Exception as exc:  # never leave a fault behind, say why
            log.exception("harness: the fault scheduler failed; ending every fault")
            self.end_all("failed")
            if self._on_error is not None:
                self._on_error(f"the fault scheduler failed: {type(exc).__name__}: {exc}")

    def _start(self, slot: _Slot) -> None:
        spec = slot.action.spec
        assert self.t0 is not None
        with self._lock:
            if self._over or slot.ended_by is not None:
                return
            started = self._clock()
            try:
                slot.details = slot.action.start(until=self.t0 + spec.end)
            except HarnessError as exc:
                slot.error, slot.ended_by = str(exc), "failed"
                message: str | None = str(exc)
            else:
                actual = slot.action.window()[0]
                slot.started_at, slot.active = (actual if actual is not None else started), True
                if actual is not None:
                    slot.details["called_at"] = started  # the API call; started_at is the service's own record
                message = self._arm(slot)
                if message is None:
                    log.warning("harness: fault %r started: %s", spec.label, slot.action.describe())
                    return
        log.error("harness: %s", message)
        if self._on_error is not None:
            self._on_error(f"fault {spec.label!r} could not start: {message}")

    def _arm(self, slot: _Slot) -> str | None:
        """Give a started AWS fault the schedule that puts it back should harness die; a fault
        that cannot have one is put back at once (None, or why it failed)."""
        restore = slot.action.restore
        if self._expiry is None or restore is None:
            return None
        assert self.t0 is not None
        try:
            slot.schedule = self._expiry.arm(where=f"{slot.action.where} ({slot.action.spec.label!r})", when=self.t0 + slot.action.spec.end, restore=restore)
        except HarnessError as exc:
            self._stop(slot, "failed")
            slot.error = f"{exc} (so it was put back at once)"
            return slot.error
        slot.details["expiry_schedule"] = slot.schedule
        return None

    def _stop(self, slot: _Slot, reason: str) -> None:
        with self._lock:
            if not slot.active:
                if slot.ended_by is None:
                    slot.ended_by = reason if reason != "schedule" else "not started"
                return
            had_restore = slot.action.restore is not None
            if had_restore:
                slot.put_back = False
            try:
                slot.action.stop()
            except HarnessError as exc:
                slot.error = f"not put back: {exc}"
                log.error("harness: fault %r was not put back: %s", slot.action.spec.label, exc)
            except Exception as exc:  # keep ending the others
                slot.error = f"not put back: {type(exc).__name__}: {exc}"
                log.exception("harness: fault %r was not put back", slot.action.spec.label)
            else:
                if had_restore:
                    slot.put_back = True
                self._disarm(slot)  # put back: its schedule has nothing left to do (kept otherwise: it still will)
            slot.active = False
            start, end = slot.action.window()
            if start is not None:
                slot.started_at = start
            slot.ended_at = end if end is not None else self._clock()
            slot.ended_by = reason
            if reason == "schedule":
                log.warning("harness: fault %r ended", slot.action.spec.label)
            else:
                log.warning("harness: fault %r ended early (%s)", slot.action.spec.label, reason)

    def _disarm(self, slot: _Slot) -> None:
        if self._expiry is None or slot.schedule is None:
            return
        try:
            self._expiry.disarm(slot.schedule, f"{slot.action.where} ({slot.action.spec.label!r})")
        except HarnessError as exc:  # the fault is back; the schedule would only put back the same values
            log.warning("harness: %s", exc)
            return
        slot.details["expiry_schedule_deleted"] = True
        slot.schedule = None

    def end_all(self, reason: str) -> list[str]:
        """End every fault now (``reason``: interrupted, aborted, failed, completed...);
        faults not started yet never will. Idempotent. Returns the put-back problems."""
        with self._lock:
            self._over = True
            self._wake.set()
            for slot in self._slots:
                self._stop(slot, reason)
        try:
            atexit.unregister(self._at_exit)
        except Exception:  # interpreter shutting down
            pass
        return [f"{s.action.spec.label}: {s.error}" for s in self._slots if s.error and s.error.startswith("not put back")]

    def _at_exit(self) -> None:
        if any(s.active for s in self._slots):
            self.end_all("crashed")

    # ---- results -----------------------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        """Each fault's plan and what happened, for ``results.meta["faults"]`` (epoch seconds)."""
        out = []
        for slot in self._slots:
            spec = slot.action.spec
            out.append(
                {
                    "name": spec.label,
                    "kind": spec.kind,
                    "at": spec.at,
                    "duration": spec.duration,
                    "planned_start": None if self.t0 is None else self.t0 + spec.at,
                    "planned_end": None if self.t0 is None else self.t0 + spec.end,
                    "started_at": slot.started_at,
                    "ended_at": slot.ended_at,
                    "ended_by": slot.ended_by or ("active" if slot.active else "not started"),
                    "error": slot.error,
                    "description": slot.action.describe(),
                    "params": spec.params(),
                    "details": dict(slot.details),
                    "put_back": slot.put_back,
                }
            )
        return out


def check_faults(scenario: Any, *, target: Any, aws: Any, run_id: str = "", on_error: Callable[[str], None] | None = None) -> FaultScheduler:
    """Build and check a scenario's faults (before any load); raises ``FaultError``.
    ``on_error``: what a fault that cannot start does to the run (see ``FaultScheduler``)."""
    from harness.faults.kinds import build_actions

    actions = build_actions(scenario, target=target, aws=aws, run_id=run_id)
    scheduler = FaultScheduler(actions, on_error=on_error, expiry=expiry_for(actions, target=target, aws=aws, run_id=run_id))
    scheduler.check()
    return scheduler


def expiry_for(actions: list[Action], *, target: Any, aws: Any, run_id: str) -> Expiry | None:
    """The ``Expiry`` for a run's AWS faults (None without any); refuses (``FaultError``) a run
    with AWS faults and no ``target.fault_expiry_role``: nothing could put them back if harness died."""
    aws_actions = [a for a in actions if a.through_aws]
    if not aws_actions:
        return None
    role = getattr(target, "fault_expiry_role", None)
    if not role:
        first = aws_actions[0]
        raise FaultError(
            f"{first.where}.kind: {first.spec.kind!r} changes an AWS setting that must be put back even if harness dies; set target.fault_expiry_role "
            'to a role EventBridge Scheduler may assume (the fan-out stack\'s FaultExpiryRoleArn output; see README "Faults that expire by themselves")'
        )
    return Expiry(client=aws.client("scheduler"), role_arn=str(role), run_id=run_id or "run")
