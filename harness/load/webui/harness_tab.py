"""The harness tab: the plan and where the run is in it, planned vs released vs dropped per
second, the token pool, the gates evaluated live on the results so far, and the report."""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from harness.errors import HarnessError
from harness.load.webui.report import ReportWriter
from harness.load.webui.server import ServerView
from harness.load.webui.text import clock_text, number, percent
from harness.results import ResultSet

__all__ = ["HARNESS_COLUMNS", "PACER_SECONDS", "SHAPE_NOTE", "STATE_TTL", "HarnessView"]

STATE_TTL = 1.0
"""Seconds the harness tab's rows are reused (gates merge every histogram of the run)."""
PACER_SECONDS = 10
"""Per-second rows of the open model shown, newest first."""
HARNESS_COLUMNS = [
    {"key": "section", "title": "Section"},
    {"key": "item", "title": "What"},
    {"key": "value", "title": "Value"},
    {"key": "detail", "title": "Detail"},
]

SHAPE_NOTE = (
    "The scenario drives this run: harness's shape (OpenModelShape) starts the scenario's {vus} "
    "virtual users at once, and its pacer releases requests at the planned rate ({profile}), so "
    "the number of users and how fast they start do not set the load. Change [load] in {path} instead."
)


class HarnessView:
    """The harness tab: the plan and where the run is in it, planned vs released vs dropped per
    second, the token pool, the gates on the results so far, and the report."""

    def __init__(self, session: Any, *, server: ServerView, report: ReportWriter, base: str = "", scenario_path: str = "",
                 ttl: float = STATE_TTL, clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        from harness.gates import parse_gates

        self.session = session
        self.scenario_path = scenario_path or "the scenario file"
        self.server = server
        self.report = report
        self.base = base
        self.ttl = ttl
        self.clock = clock
        self.gate_error = ""
        try:
            self.gates = parse_gates(session.scenario.gates)
        except HarnessError as exc:
            self.gates, self.gate_error = [], str(exc)
        self._lock = threading.Lock()
        self._answer: dict[str, Any] | None = None
        self._at = -math.inf

    def latest(self) -> dict[str, Any]:
        with self._lock:
            now = self.clock()
            if self._answer is None or now - self._at >= self.ttl:
                self._answer, self._at = self.build(now), now
            return self._answer

    # ---- pieces ----------------------------------------------------------------------------

    def t0(self) -> float | None:
        """The instant the plan started (the pacer's; a master's: the workers' go), or None."""
        pacer = self.session.pacer
        if pacer is not None and getattr(pacer, "t0", None) is not None:
            return float(pacer.t0)
        return self.session.started_at

    def status(self, now: float) -> tuple[str, str]:
        s = self.session
        planned = s.planned_duration if hasattr(s, "planned_duration") else s.full_plan.duration
        if s.started_at is None:
            return "waiting for Start", f"{s.scenario.vus} virtual users; results go to {s.results_dir}"
        if s.done.is_set():
            return s.status + (f": {s.error}" if s.error else ""), f"run {s.run_id}; results in {s.results_dir}"
        pacer = s.pacer
        if pacer is not None and getattr(pacer, "t0", None) is None:
            return f"signing in: {s.vus_ready} of {s.scenario.vus} virtual users ready", f"run {s.run_id}"
        elapsed = max(now - (self.t0() or now), 0.0)
        return f"running: {elapsed:.0f} s of {planned:.0f} s", f"run {s.run_id}; results in {s.results_dir}"

    def profile(self, now: float) -> dict[str, Any]:
        plan = self.session.full_plan
        name = self.session.scenario.load_profile.profile
        out: dict[str, Any] = {"profile": name, "segments": plan.describe(), "duration": plan.duration, "t": None, "segment": None, "rate": None}
        if plan.segments:
            rates = [r for s in plan.segments for r in (s.rate_from, s.rate_to)]
            out["text"] = (
                f"{name}: {len(plan.segments)} segment{'s' if len(plan.segments) > 1 else ''}, {min(rates):g} to {max(rates):g} rps, {plan.duration:g} s"
            )
        else:
            out["text"] = f"{name}: a closed model, no planned rate; at most {self.session.planned_duration:g} s"
        t0 = self.t0()
        pacing = self.session.pacer is None or getattr(self.session.pacer, "t0", None) is not None
        if t0 is not None and pacing:  # (a master has no pacer: its start is the workers' go)
            t = now - t0
            out["t"] = t
            if plan.segments and 0 <= t < plan.duration:
                i = max(0, bisect.bisect_right([s.start for s in plan.segments], t) - 1)
                out["segment"] = {"index": i, "label": plan.segments[i].label}
                out["rate"] = plan.rate_at(t)
        return out

    def pacer(self, now: float) -> dict[str, Any]:
        """Whole seconds that are over: planned, released and dropped, per second and in all."""
        current = int(now)
        windows = sorted((s, w) for s, w in list(self.session.results.pacer.items()) if s < current)
        totals = {"planned": sum(w.target for _, w in windows), "released": sum(w.released for _, w in windows), "dropped": sum(w.dropped for _, w in windows)}
        seconds = [{"t": s, "planned": w.target, "released": w.released, "dropped": w.dropped} for s, w in windows[-PACER_SECONDS:]]
        return {"totals": totals, "seconds": seconds[::-1]}

    def verdict(self, now: float) -> Any:
        """The gates on the results so far (seconds not yet over planned nothing yet)."""
        from harness.gates import evaluate

        s = self.session
        results = s.results
        if not s.done.is_set():
            current = int(now)
            start = s.started_at or now
            results = ResultSet(
                run_id=s.run_id, endpoints=results.endpoints, windows=results.windows, statuses=results.statuses,
                pacer={sec: w for sec, w in list(results.pacer.items()) if sec < current}, errors=results.errors,
                meta={"duration": max(now - start, 0.0)},
            )  # fmt: skip
        elif not results.meta.get("duration"):
            end = s.ended_at or now
            results = ResultSet(
                run_id=s.run_id, endpoints=results.endpoints, windows=results.windows, statuses=results.statuses,
                pacer=results.pacer, errors=results.errors, meta={"duration": max(end - (s.started_at or end), 0.0)},
            )  # fmt: skip
        return evaluate(self.gates, results=results, metrics=self.server.frame)

    def build(self, now: float) -> dict[str, Any]:
        s = self.session
        status, status_detail = self.status(now)
        profile = self.profile(now)
        pacer = self.pacer(now)
        tokens = s.token_stats()
        verdict = self.verdict(now) if self.gates and s.started_at is not None else None
        report = {
            "state": self.report.state,
            "message": self.report.message,
            "report": f"{self.base}/harness/report.html",
            "results": f"{self.base}/harness/results.json",
        }
        rows: list[dict[str, str]] = []

        def row(section: str, item: str, value: Any, detail: str = "") -> None:
            rows.append({"section": section, "item": item, "value": str(value), "detail": detail})

        row("run", "status", status, status_detail)
        row("run", "profile", profile["text"], f"scenario {s.scenario.name}")
        if profile["t"] is not None and profile["segment"] is not None:
            seg = profile["segment"]
            n = len(profile["segments"])
            done = min(max(profile["t"] / profile["duration"], 0.0), 1.0) if profile["duration"] else 1.0
            bar = "#" * round(done * 20) + "." * (20 - round(done * 20))
            row("run", "now", f"{seg['label'] or 'segment'} ({seg['index'] + 1} of {n}): {profile['rate']:g} rps planned",
                f"[{bar}] {profile['t']:.1f} s of {profile['duration']:g} s")  # fmt: skip
        elif profile["t"] is not None:
            row("run", "now", "past the plan's end" if profile["t"] >= profile["duration"] else "before the plan's start", f"{profile['t']:.1f} s")
        row("Locust", "user count, spawn rate", "ignored", self.shape_note())

        totals = pacer["totals"]
        row("open model", "run so far", f"{number(totals['planned'])} planned · {totals['released']:,} released · {totals['dropped']:,} dropped",
            f"achieved {percent(totals['released'], totals['planned'])} · dropped {percent(totals['dropped'], totals['planned'])}")  # fmt: skip
        for sec in pacer["seconds"]:
            row("open model", clock_text(sec["t"]), f"{number(round(sec['planned'], 1))} planned · {sec['released']:,} released · {sec['dropped']:,} dropped")

        if s.scenario.auth is None:
            row("tokens", "pool", "none", "the scenario has no [auth]: requests carry no token")
        elif not tokens:
            row("tokens", "pool", "in the worker processes" if s.expected_workers else "not open yet",
                "sign-ins, refreshes and failures are in results.json after the run")  # fmt: skip
        else:
            health = "healthy" if not tokens.get("login_failures") else f"{tokens['login_failures']} sign-ins failed"
            row("tokens", "health", health, f"{s.vus_ready} of {s.scenario.vus} virtual users signed in")
            for key, label in (
                ("logins", "sign-ins"),
                ("refreshes", "refreshes"),
                ("login_failures", "sign-in failures"),
                ("throttle_retries", "throttled, retried"),
            ):
                row("tokens", label, f"{tokens.get(key, 0):,}")

        if self.gate_error:
            row("gate", "gates", "invalid", self.gate_error)
        elif not self.gates:
            row("gate", "gates", "none", "the scenario has no gates")
        elif verdict is None:
            for gate in self.gates:
                row("gate", gate.expression, "waiting for Start", "evaluated live on the results so far")
        else:
            for r in verdict.results:
                line = r.line()
                detail = line.split(": ", 1)[1] if ": " in line else line
                row("gate", r.expression, ("PASS" if r.passed else "FAIL") + ("" if r.evaluated else " (no value yet)"), detail)

        report_detail = {"waiting": "written when the run stops", "writing": self.report.message}.get(self.report.state, self.report.message)
        row("report", "report.html", report["report"], report_detail)
        row("report", "results.json", report["results"], "written when the run stops" if self.report.file("results.json") is None else "written")
        return {
            "status": status,
            "profile": profile,
            "pacer": pacer,
            "tokens": tokens,
            "gates": verdict.to_dict() if verdict is not None else None,
            "report": report,
            "rows": rows,
        }

    def shape_note(self) -> str:
        s = self.session
        return SHAPE_NOTE.format(vus=s.scenario.vus, profile=self.profile(self.clock())["text"], path=self.scenario_path)
