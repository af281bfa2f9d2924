"""harness in Locust's web UI: what the server saw and what the open model did, live, beside
Locust's own client-side view; and the run's report once it stops.

    locust -f locustfiles/api.py --scenario scenarios/steady.toml [--local]

Built on Locust's own extension points (as Locust's ``examples/extend_web_ui.py``):

- a Flask blueprint on ``environment.web_ui.app`` with the routes below;
- ``template_args["extended_tabs"]`` and ``["extended_tables"]``: a **Server** tab and a
  **harness** tab, one table each;
- ``extended_stats`` added to ``/stats/requests``, which the UI polls every 2 s while a run
  is on: the tables' rows, the same rows the routes below answer;
- ``template_args["extended_csv_files"]``: the report and ``results.json`` under "Download Data".

=========================  =====================================================================
``/harness/server``        the Server tab: CloudWatch for the run so far (JSON)
``/harness/state``         the harness tab: profile, pacer, token pool, gates, report (JSON)
``/harness/report.html``   the run's report, written when the run stops (until then a page that
                           says what it waits for and reloads itself)
``/harness/results.json``  the run's results file, once written
``/harness/webui.js``      what the extension points cannot do (below)
=========================  =====================================================================

The Server tab asks CloudWatch for everything in ONE GetMetricData call per refresh
(``metrics.snapshot``), at most every ``REFRESH`` seconds: every browser polling in between
shares that answer. Whole-run values are CloudWatch's own over one period covering the run so
far (what the gates will see); a metric without a datapoint says "no data yet", never 0.

The harness tab evaluates the scenario's gates on the results so far (seconds not yet over
are left out of the planned count) and the Server tab's last CloudWatch answer.

Locust's table cells are plain text and its start form has no place for a note, so the index
page also loads ``webui.js``: it turns the harness tab's ``/harness/...`` cells into links, and
says beside the user count and spawn rate fields why the scenario's shape ignores them.
"""

from __future__ import annotations

import bisect
import html
import json
import logging
import math
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from harness import metrics
from harness.errors import HarnessError
from harness.results import ResultSet

__all__ = ["HarnessView", "HarnessWebUi", "ReportWriter", "ServerView", "attach_web_ui"]

log = logging.getLogger("harness.load")

REFRESH = 5.0
"""Seconds between two CloudWatch calls of the Server tab, however many browsers poll."""
RETRY = 30.0
"""Seconds before the Server tab asks again after CloudWatch failed (each try may wait for a timeout)."""
STATE_TTL = 1.0
"""Seconds the harness tab's rows are reused (gates merge every histogram of the run)."""
PACER_SECONDS = 10
"""Per-second rows of the open model shown, newest first."""
NO_DATA = "no data yet"

SERVER_COLUMNS = [
    {"key": "metric", "title": "Metric"},
    {"key": "run", "title": "Run so far"},
    {"key": "newest", "title": "Newest period"},
    {"key": "at", "title": "Newest period at"},
]
HARNESS_COLUMNS = [
    {"key": "section", "title": "Section"},
    {"key": "item", "title": "What"},
    {"key": "value", "title": "Value"},
    {"key": "detail", "title": "Detail"},
]
# (key, stat) of what the Server tab shows; the snapshot asks for all of build_queries' metrics
# (the gates may name any of them) but lays out periods only for these.
SHOWN = {
    ("count", "Sum"), ("4xx", "Sum"), ("5xx", "Sum"), ("latency", "p95"), ("integration_latency", "p95"),
    ("throttles", "Sum"), ("errors", "Sum"), ("sign_in_throttles", "Sum"), ("token_refresh_throttles", "Sum"),
}  # fmt: skip
_LAYERS = {"apigw": "API Gateway", "lambda": "Lambda", "cognito": "Cognito", "states": "Step Functions"}
_MS = {"latency", "integration_latency"}

SHAPE_NOTE = (
    "The scenario drives this run: harness's shape (OpenModelShape) starts the scenario's {vus} "
    "virtual users at once, and its pacer releases requests at the planned rate ({profile}), so "
    "the number of users and how fast they start do not set the load. Change [load] in {path} instead."
)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def _clock_text(ts: datetime | float) -> str:
    if not isinstance(ts, datetime):
        ts = _utc(ts)
    return ts.astimezone(timezone.utc).strftime("%H:%M:%S UTC")


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _percent(part: float, whole: float) -> str:
    return f"{part / whole * 100:.1f} %" if whole > 0 else "-"


# --------------------------------------------------------------------------- the Server tab


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
                frame = metrics.snapshot(self.cloudwatch, self.queries, start=_utc(window[0]), end=_utc(window[1]), series=[q.id for q in self.shown])
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
            "asked_at": _utc(now).isoformat(),
            "refresh": self.refresh,
            "calls": self.refreshes,
            "window": None,
            "metrics": found,
        }
        if window is not None and frame is not None:
            run_rows = frame[frame["scope"] == "run"]
            series_rows = frame[frame["scope"] == "series"]
            answer["window"] = {
                "start": run_rows["timestamp"].iloc[0].isoformat() if len(run_rows) else _utc(window[0]).isoformat(),
                "end": _utc(window[1]).isoformat(),
                "period": int(run_rows["period"].iloc[0]) if len(run_rows) else None,
                "series_period": int(series_rows["period"].iloc[0]) if len(series_rows) else None,
                "run_start": _utc(window[0]).isoformat(),
            }
        answer["rows"] = self._rows(answer, window)
        return answer

    def _rows(self, answer: dict[str, Any], window: tuple[float, float] | None) -> list[dict[str, str]]:
        head = {"metric": "CloudWatch", "run": "", "newest": "", "at": f"asked {_clock_text(datetime.fromisoformat(answer['asked_at']))}"}
        if not self.queries:
            head["run"] = "nothing to ask for: the scenario names no API, function or user pool"
        elif window is None:
            head["run"] = "waiting: the run has not started"
        elif answer["message"]:
            head["run"] = answer["message"]
        else:
            w = answer["window"]
            head["run"] = f"{_clock_text(_utc(window[0]))} to {_clock_text(_utc(window[1]))}"
            head["newest"] = f"{w['series_period']}-s periods; one call every {self.refresh:g} s"
        rows = [head]
        for m in answer["metrics"]:
            unit = " ms" if m["unit"] == "ms" else ""
            rows.append({
                "metric": m["label"],
                "run": NO_DATA if m["run"] is None else _number(m["run"]) + unit,
                "newest": NO_DATA if m["newest"] is None else _number(m["newest"]) + unit,
                "at": "" if m["newest_at"] is None else _clock_text(datetime.fromisoformat(m["newest_at"])),
            })  # fmt: skip
        layers = {q.layer for q in self.queries}
        cfg = self.session.scenario
        if "apigw" not in layers:
            rows.append({"metric": "API Gateway", "run": "not measured: name the API in [target] (api_id, or api_name for REST, and stage)", "newest": "", "at": ""})
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


# --------------------------------------------------------------------------- the report


class ReportWriter:
    """Writes the run's report once the run stops (``harness.runs.analyse_run`` on the run
    folder, CloudWatch included) and says how far it got: ``waiting`` (the run is on),
    ``writing``, ``ready`` or ``failed``."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.state = "waiting"
        self.message = ""
        self.verdict: Any = None
        self._thread: threading.Thread | None = None

    @property
    def run_dir(self) -> Path | None:
        return Path(self.session.results_dir).resolve() if self.session.results_dir else None

    def file(self, name: str) -> Path | None:
        """``report.html`` once ready; ``results.json`` once written."""
        run_dir = self.run_dir
        if run_dir is None or (name == "report.html" and self.state != "ready"):
            return None
        path = run_dir / name
        return path if path.is_file() else None

    def start(self) -> None:
        """Begin writing (the run has stopped; ``results.json`` is written by then)."""
        if self._thread is not None:
            return
        self.state = "writing"
        self.message = "waiting for CloudWatch's last datapoints, then building the report"
        self._thread = threading.Thread(target=self._write, name="harness-report", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.state in ("ready", "failed")

    def _write(self) -> None:
        from harness.aws import AwsContext
        from harness.runs import analyse_run

        run_dir = self.run_dir
        if run_dir is None or not (run_dir / "results.json").is_file():
            self.state, self.message = "failed", f"no results.json in {run_dir}; see the Locust log"
            return
        try:
            artifacts = analyse_run(run_dir, aws=AwsContext(region=self.session.target.region))
        except Exception as exc:  # shown in the UI and logged: the web UI carries on
            log.exception("harness: could not write the report")
            self.state, self.message = "failed", f"{type(exc).__name__}: {exc}"
            return
        self.verdict = verdict = artifacts.verdict
        head = artifacts.outcome.headline(failed=len(verdict.failures), total=len(verdict.results), status=artifacts.status)
        self.message = "; ".join([head, f"written to {run_dir / 'report.html'}", *artifacts.notes])
        self.state = "ready"
        log.info("harness: report written to %s", run_dir / "report.html")


# --------------------------------------------------------------------------- the harness tab


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
            out["text"] = f"{name}: {len(plan.segments)} segment{'s' if len(plan.segments) > 1 else ''}, {min(rates):g} to {max(rates):g} rps, {plan.duration:g} s"
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
        row("open model", "run so far", f"{_number(totals['planned'])} planned · {totals['released']:,} released · {totals['dropped']:,} dropped",
            f"achieved {_percent(totals['released'], totals['planned'])} · dropped {_percent(totals['dropped'], totals['planned'])}")  # fmt: skip
        for sec in pacer["seconds"]:
            row("open model", _clock_text(sec["t"]), f"{_number(round(sec['planned'], 1))} planned · {sec['released']:,} released · {sec['dropped']:,} dropped")

        if s.scenario.auth is None:
            row("tokens", "pool", "none", "the scenario has no [auth]: requests carry no token")
        elif not tokens:
            row("tokens", "pool", "in the worker processes" if s.expected_workers else "not open yet",
                "sign-ins, refreshes and failures are in results.json after the run")  # fmt: skip
        else:
            health = "healthy" if not tokens.get("login_failures") else f"{tokens['login_failures']} sign-ins failed"
            row("tokens", "health", health, f"{s.vus_ready} of {s.scenario.vus} virtual users signed in")
            for key, label in (("logins", "sign-ins"), ("refreshes", "refreshes"), ("login_failures", "sign-in failures"), ("throttle_retries", "throttled, retried")):
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


# --------------------------------------------------------------------------- wiring


_SCRIPT = r"""(function () {
  var config = __CONFIG__;
  var link = new RegExp("^" + config.base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "/harness/[A-Za-z0-9._-]+$");
  var style = document.createElement("style");
  style.textContent = ".harness-link-cell{font-size:0!important}.harness-link-cell a.harness-link{font-size:0.875rem}" +
    ".harness-note{margin:-20px 0 0;font-size:0.8rem;opacity:0.8;line-height:1.4}";
  document.head.appendChild(style);
  function ownText(el) {
    var text = "";
    el.childNodes.forEach(function (n) { if (n.nodeType === 3) { text += n.nodeValue; } });
    return text.trim();
  }
  function links() {  // React owns the cell's text node: leave it, add a link beside it
    document.querySelectorAll("td").forEach(function (td) {
      var text = ownText(td), a = td.querySelector("a.harness-link");
      if (link.test(text)) {
        if (!a) {
          a = document.createElement("a");
          a.className = "harness-link";
          td.appendChild(a);
          td.classList.add("harness-link-cell");
        }
        if (a.getAttribute("href") !== text) { a.setAttribute("href", text); a.textContent = text; }
      } else if (a) {
        a.remove();
        td.classList.remove("harness-link-cell");
      }
    });
  }
  function note() {
    var input = document.querySelector('input[name="spawnRate"]');
    if (!input) { return; }
    var field = input.closest(".MuiFormControl-root") || input.parentElement;
    var next = field.nextElementSibling;
    if (next && next.classList.contains("harness-note")) { return; }
    var p = document.createElement("p");
    p.className = "harness-note";
    p.id = "harness-shape-note";
    p.textContent = "Ignored. " + config.note;
    field.parentElement.insertBefore(p, field.nextSibling);
  }
  var pending = false;
  function update() {
    pending = false;
    links();
    note();
  }
  new MutationObserver(function () {
    if (!pending) { pending = true; window.requestAnimationFrame(update); }
  }).observe(document.body, {childList: true, subtree: true, characterData: true});
  update();
  // Locust's page polls the run's state only while it is spawning or running: a poll that lands
  // in the moment a stop is cleaning up leaves the header at "cleanup" for good. After 3 s of
  // that, ask the server; once it has moved on, reload (the URL keeps the open tab).
  var stuck = 0;
  window.setInterval(function () {
    var header = document.querySelector("header");
    var text = header ? header.textContent.toUpperCase() : "";
    if (text.indexOf("CLEANUP") < 0 && text.indexOf("STOPPING") < 0) { stuck = 0; return; }
    if (!stuck) { stuck = Date.now(); return; }
    if (Date.now() - stuck < 3000) { return; }
    stuck = Date.now();
    fetch(config.base + "/stats/requests").then(function (r) { return r.json(); }).then(function (data) {
      if (data && data.state && data.state !== "cleanup" && data.state !== "stopping") { window.location.reload(); }
    }).catch(function () {});
  }, 1000);
})();
"""

_WAITING = """<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="{refresh}">
<title>harness report: {state}</title></head>
<body style="font-family: sans-serif; margin: 2em"><h1 id="report-state">The report is {state}</h1><p>{message}</p>
<p>This page reloads every {refresh} s. <a href="{base}/">Back to the Locust web UI</a></p></body></html>"""


class HarnessWebUi:
    """The tabs, routes and report of one session, ready to go on a Flask app (Locust's, or any).

    ``base``: Locust's ``--web-base-path``; ``cloudwatch``: passed to ``ServerView``::

        ui = HarnessWebUi(session)
        web_ui.template_args.update(ui.template_args())
        ui.register(web_ui.app, guard=web_ui.auth_required_if_enabled)
        ...
        ui.report.start()        # the run has stopped
    """

    def __init__(self, session: Any, *, base: str = "", scenario_path: str = "", cloudwatch: Any = None) -> None:
        self.session = session
        self.base = base.rstrip("/")
        self.server = ServerView(session, cloudwatch=cloudwatch)
        self.report = ReportWriter(session)
        self.harness = HarnessView(session, server=self.server, report=self.report, base=self.base, scenario_path=scenario_path)

    def template_args(self) -> dict[str, Any]:
        """Locust's ``extended_tabs``, ``extended_tables`` and ``extended_csv_files``."""
        base = self.base
        return {
            "extended_tabs": [{"title": "Server", "key": "server"}, {"title": "harness", "key": "harness"}],
            "extended_tables": [{"key": "server", "structure": SERVER_COLUMNS}, {"key": "harness", "structure": HARNESS_COLUMNS}],
            "extended_csv_files": [
                {"href": f"{base}/harness/report.html", "title": "harness report (written when the run stops)"},
                {"href": f"{base}/harness/results.json", "title": "harness results.json (written when the run stops)"},
            ],
        }

    def extended_stats(self) -> list[dict[str, Any]]:
        """What ``/stats/requests`` carries for the two tabs: their rows."""
        return [{"key": "server", "data": self.server.latest()["rows"]}, {"key": "harness", "data": self.harness.latest()["rows"]}]

    def register(self, app: Any, *, guard: Callable[[Any], Any] | None = None) -> None:
        """Add the ``/harness/...`` routes to ``app``, ``extended_stats`` to its ``/stats/requests``
        answers and ``webui.js`` to its index page. ``guard`` wraps each data route (Locust's
        ``auth_required_if_enabled``)."""
        from flask import Blueprint, Response, jsonify, request, send_file

        base, server, harness, report = self.base, self.server, self.harness, self.report
        guard = guard or (lambda view: view)
        blueprint = Blueprint("harness", __name__, url_prefix=f"{base}/harness")

        @blueprint.route("/server")
        @guard
        def server_data() -> Any:
            return jsonify(server.latest())

        @blueprint.route("/state")
        @guard
        def harness_data() -> Any:
            return jsonify(harness.latest())

        @blueprint.route("/report.html")
        @guard
        def report_page() -> Any:
            path = report.file("report.html")
            if path is not None:
                return send_file(path, mimetype="text/html", max_age=0)
            if report.state == "failed":
                page = _WAITING.format(refresh=10, state="not written", message=html.escape(report.message), base=base)
                return Response(page, status=500, mimetype="text/html")
            if report.state == "writing":
                state, message = "being written", report.message
            else:
                state, message = "written when the run stops", "The run is on, or has not started yet."
            page = _WAITING.format(refresh=2, state=state, message=html.escape(message), base=base)
            return Response(page, status=503, mimetype="text/html", headers={"Retry-After": "2"})

        @blueprint.route("/results.json")
        @guard
        def results_file() -> Any:
            path = report.file("results.json")
            if path is None:
                return jsonify({"message": "results.json is written when the run stops"}), 404
            return send_file(path, mimetype="application/json", max_age=0)

        @blueprint.route("/webui.js")
        def script() -> Any:
            config = {"base": base, "note": harness.shape_note()}
            return Response(_SCRIPT.replace("__CONFIG__", json.dumps(config)), mimetype="application/javascript")

        app.register_blueprint(blueprint)
        stats_path, index_path = f"{base}/stats/requests", f"{base}/"
        tag = f'<script src="{base}/harness/webui.js"></script>'

        @app.after_request
        def extend(response: Any) -> Any:
            if response.status_code != 200:
                return response
            if request.path == stats_path:
                data = response.get_json(silent=True)
                if isinstance(data, dict):
                    data["extended_stats"] = self.extended_stats()
                    response.set_data(json.dumps(data))
            elif request.path == index_path and response.mimetype == "text/html":
                page = response.get_data(as_text=True)
                if "</body>" in page and tag not in page:
                    response.set_data(page.replace("</body>", tag + "</body>", 1))
            return response


def attach_web_ui(environment: Any, session: Any) -> HarnessWebUi:
    """Add the Server and harness tabs, the routes and the report to ``environment.web_ui``.

    Called while Locust initialises (the web UI starts right after); writes the report when
    the run stops (``test_stop``, after harness has saved ``results.json``)."""
    web_ui = environment.web_ui
    options = environment.parsed_options
    ui = HarnessWebUi(session, base=getattr(options, "web_base_path", "") or "", scenario_path=getattr(options, "scenario", "") or "")
    web_ui.template_args.update(ui.template_args())
    ui.register(web_ui.app, guard=web_ui.auth_required_if_enabled)
    environment.events.test_stop.add_listener(lambda **_: ui.report.start())
    return ui
