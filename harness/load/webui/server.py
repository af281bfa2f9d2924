"""The Server tab: CloudWatch's numbers for the run so far, one GetMetricData call per refresh
(``metrics.snapshot``) however many browsers poll; whole-run values read by the gates' own reader
(``metrics.RunValues``), so the tab and the gates never disagree."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from harness import metrics
from harness.errors import HarnessError
from harness.load.webui.text import clock_text, number, utc

__all__ = ["NO_DATA", "REFRESH", "RETRY", "SERVER_COLUMNS", "SHOWN", "ServerView"]

REFRESH = 5.0
"""Seconds between two CloudWatch calls of the Server tab, however many browsers poll."""
RETRY = 30.0
"""Seconds before the Server tab asks again after CloudWatch failed (each try may wait for a timeout)."""
NO_DATA = "no data yet"

SERVER_COLUMNS = [
    {"key": "metric", "title": "Metric"},
    {"key": "run", "title": "Run so far"},
    {"key": "newest", "title": "Newest period"},
    {"key": "at", "title": "Newest period at"},
]
# (key, stat) of what the Server tab shows; the snapshot asks for all of build_queries' metrics
# (the gates may name any of them) but lays out periods only for these.
SHOWN = {
    ("count", "Sum"), ("4xx", "Sum"), ("5xx", "Sum"), ("latency", "p95"), ("integration_latency", "p95"),
    ("throttles", "Sum"), ("errors", "Sum"), ("sign_in_throttles", "Sum"), ("token_refresh_throttles", "Sum"),
}  # fmt: skip
_LAYERS = {"apigw": "API Gateway", "lambda": "Lambda", "cognito": "Cognito", "states": "Step Functions"}
_MS = {"latency", "integration_latency"}


class ServerView:
    """The Server tab: CloudWatch's numbers for the run so far, one GetMetricData call per refresh.

    ``cloudwatch``: a boto3 CloudWatch client; by default one is made in the target's region,
    with short timeouts and no retries: a slow CloudWatch must not hold up the UI's polls.
    """

    def __init__(self, session: Any, *, cloudwatch: Any = None, refresh: float = REFRESH, clock: Callable[[], float] = time.time) -> None:
        self.session = session
        target, cfg = session.target, session.scenario.target
        self.queries = metrics.build_queries(
            api_kind=cfg.api_kind,
            api_id=target.api_id,
            api_name=cfg.api_name,
            stage=target.stage,
            lambda_functions=list(dict.fromkeys([*cfg.lambda_functions, *getattr(target, "lambda_functions", [])])),
            user_pool_id=target.user_pool_id,
            client_id=target.client_id,
        )
        self.shown = [q for q in self.queries if (q.key, q.stat) in SHOWN]
        self.refresh = refresh
        self.clock = clock
        self.refreshes = 0  # CloudWatch calls made
        self.frame: Any = None  # the last snapshot (metrics' long frame), for the live gates
        self._cloudwatch = cloudwatch
        self._lock = threading.Lock()
        self._answer: dict[str, Any] | None = None
        self._asked = -math.inf

    @property
    def cloudwatch(self) -> Any:
        if self._cloudwatch is None:
            from botocore.config import Config

            from harness.aws import AwsContext

            config = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1, "mode": "standard"})
            self._cloudwatch = AwsContext(region=self.session.target.region, config=config).client("cloudwatch")
        return self._cloudwatch

    def window(self, now: float) -> tuple[float, float] | None:
        """[start, end) of the run so far (epoch seconds), or None before it starts."""
        start = self.session.started_at
        if start is None:
            return None
        end = min(now, self.session.ended_at or now)
        return start, max(end, start + 1.0)

    def latest(self) -> dict[str, Any]:
        """The tab's answer, asked of CloudWatch at most every ``refresh`` seconds (``RETRY`` after
        a failure)."""
        with self._lock:  # a poll that comes while a call is out waits for it and shares it
            now = self.clock()
            wait = RETRY if self._answer is not None and self._answer["status"] == "unavailable" else self.refresh
            if self._answer is not None and now - self._asked < wait:
                return self._answer
            window = self.window(now)
            if window is None or not self.queries:  # nothing to ask yet, or nothing named to ask for
                return self._answer_for(now, None, None, None)
            try:
                frame = metrics.snapshot(self.cloudwatch, self.queries, start=utc(window[0]), end=utc(window[1]), series=[q.id for q in self.shown])
                problem = None
            except (HarnessError, ValueError) as exc:
                frame, problem = None, f"CloudWatch unavailable: {exc}"
            self.refreshes += 1
            self._asked = now
            if frame is not None:
                self.frame = frame
            self._answer = self._answer_for(now, window, frame, problem)
            return self._answer

    def _answer_for(self, now: float, window: tuple[float, float] | None, frame: Any, problem: str | None) -> dict[str, Any]:
        values = _index(frame)
        whole_run = metrics.RunValues(frame) if frame is not None and not frame.empty else None  # the gates' reader: the same numbers
        found = []
        for q in self.shown:
            newest = [(ts, v, p) for ts, v, p in values.get(("series", q.layer, q.resource, q.key, q.stat), []) if not math.isnan(v)]
            run_value = whole_run.get(q.layer, q.key, q.stat, resource=q.resource).value if whole_run is not None else None
            at, value, _ = newest[-1] if newest else (None, None, None)
            found.append({
                "id": q.id, "label": _label(q), "layer": q.layer, "resource": q.resource, "metric": q.metric, "stat": q.stat,
                "unit": "ms" if q.key in _MS else "count", "run": run_value, "newest": value,
                "newest_at": at.isoformat() if at is not None else None,
            })  # fmt: skip
        answer: dict[str, Any] = {
            "status": "waiting" if window is None else ("unavailable" if problem else "ok"),
            "message": problem or "",
            "asked_at": utc(now).isoformat(),
            "refresh": self.refresh,
            "calls": self.refreshes,
            "window": None,
            "metrics": found,
        }
        if window is not None and frame is not None:
            run_rows = frame[frame["scope"] == "run"]
            series_rows = frame[frame["scope"] == "series"]
            answer["window"] = {
                "start": run_rows["timestamp"].iloc[0].isoformat() if len(run_rows) else utc(window[0]).isoformat(),
                "end": utc(window[1]).isoformat(),
                "period": int(run_rows["period"].iloc[0]) if len(run_rows) else None,
                "series_period": int(series_rows["period"].iloc[0]) if len(series_rows) else None,
                "run_start": utc(window[0]).isoformat(),
            }
        answer["rows"] = self._rows(answer, window)
        return answer

    def _rows(self, answer: dict[str, Any], window: tuple[float, float] | None) -> list[dict[str, str]]:
        head = {"metric": "CloudWatch", "run": "", "newest": "", "at": f"asked {clock_text(datetime.fromisoformat(answer['asked_at']))}"}
        if not self.queries:
            head["run"] = "nothing to ask for: the scenario names no API, function or user pool"
        elif window is None:
            head["run"] = "waiting: the run has not started"
        elif answer["message"]:
            head["run"] = answer["message"]
        else:
            w = answer["window"]
            head["run"] = f"{clock_text(utc(window[0]))} to {clock_text(utc(window[1]))}"
            head["newest"] = f"{w['series_period']}-s periods; one call every {self.refresh:g} s"
        rows = [head]
        for m in answer["metrics"]:
            unit = " ms" if m["unit"] == "ms" else ""
            rows.append({
                "metric": m["label"],
                "run": NO_DATA if m["run"] is None else number(m["run"]) + unit,
                "newest": NO_DATA if m["newest"] is None else number(m["newest"]) + unit,
                "at": "" if m["newest_at"] is None else clock_text(datetime.fromisoformat(m["newest_at"])),
            })  # fmt: skip
        layers = {q.layer for q in self.queries}
        cfg = self.session.scenario
        if "apigw" not in layers:
            rows.append(
                {"metric": "API Gateway", "run": "not measured: name the API in [target] (api_id, or api_name for REST, and stage)", "newest": "", "at": ""}
            )
        if "lambda" not in layers:
            rows.append({"metric": "Lambda Throttles, Errors", "run": "not measured: list the functions in [target] lambda_functions", "newest": "", "at": ""})
        if "cognito" not in layers:
            why = "the scenario has no [auth]" if cfg.auth is None else "the user pool or app client is unknown"
            rows.append({"metric": "Cognito throttles", "run": f"not measured: {why}", "newest": "", "at": ""})
        return rows


def _label(q: metrics.MetricQuery) -> str:
    text = f"{_LAYERS.get(q.layer, q.layer)} {q.metric}"
    if q.stat != "Sum":
        text += f" {q.stat}"
    if q.layer == "lambda":
        text += f" ({q.resource})"
    return text


def _index(frame: Any) -> dict[tuple[str, str, str, str, str], list[tuple[datetime, float, int]]]:
    """The snapshot frame as {(scope, layer, resource, key, stat): [(timestamp, value, period), ...]}."""
    out: dict[tuple[str, str, str, str, str], list[tuple[datetime, float, int]]] = {}
    if frame is None or frame.empty:
        return out
    ordered = frame.sort_values("timestamp")
    for row in ordered.itertuples(index=False):
        key = (row.scope, row.layer, row.resource, row.key, row.stat)
        out.setdefault(key, []).append((row.timestamp.to_pydatetime(), float(row.value), int(row.period)))
    return out
