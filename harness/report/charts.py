"""Charts: matplotlib figures (Agg, no pyplot, no global state) rendered to PNG bytes.

Every chart has an ``id``, a title, axis labels and alt text. A data source that is missing is
named in ``notes`` (``<metric>: no data (<why>)``, and written on the chart) instead of being
drawn as zeros. A chart with nothing in it (no errors, no drops) is one ``sentence`` and no
picture::

    charts = build_charts(timeline, server, results.plan)
    charts[0].id, charts[0].png[:8]        # ("chart-rate", b"\\x89PNG\\r\\n\\x1a\\n")
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, MultipleLocator

from .formatting import elapsed as fmt_elapsed
from .quantiles import FlatHistograms
from .server import THROTTLE_SIGNALS, Series, ServerMetrics, no_data
from .timeline import Timeline

__all__ = ["Chart", "build_charts", "probe_chart", "COLORS"]

COLORS = {
    "ok": "#2e7d32",
    "throttled": "#ef6c00",
    "auth": "#6a1b9a",
    "server": "#c62828",
    "client": "#8d6e63",
    "transport": "#455a64",
    "p50": "#1565c0",
    "p95": "#ef6c00",
    "p99": "#c62828",
    "planned": "#212121",
    "sent": "#1565c0",
    "apigw": "#6a1b9a",
    "integration": "#00897b",
    "lambda": "#c62828",
    "cognito": "#5d4037",
    "dropped": "#c62828",
}
ERROR_CLASSES = ("throttled", "auth", "server", "client", "transport")
ERROR_LABELS = {
    "throttled": "throttled (429)",
    "auth": "auth (401/403)",
    "server": "server (5xx)",
    "client": "client (other 4xx)",
    "transport": "transport (no response)",
}
NO_CLOUDWATCH = "no CloudWatch data for this run"
WIDTH, HEIGHT, DPI = 11.0, 3.4, 150  # inches, inches, pixels per inch: 1650 x 510 px, sharp on high-density screens


@dataclass
class Chart:
    """One rendered chart; ``notes`` say what could not be drawn and why."""

    id: str
    title: str
    alt: str
    caption: str
    png: bytes
    notes: list[str] = field(default_factory=list)  # a data source is missing
    info: list[str] = field(default_factory=list)  # worth knowing, nothing missing
    series: list[str] = field(default_factory=list)  # the legend: what is drawn
    sentence: str = ""  # a chart with nothing in it is this one sentence instead (and no picture)
    edges: dict[str, list[float]] = field(default_factory=dict, repr=False)  # each step line's left edges (s), by label
    marks: list[str] = field(default_factory=list)  # shaded in the legend: "burst", "fault", "run aborted"

    @property
    def empty(self) -> bool:
        return not self.png

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, read from the PNG header; (0, 0) for a sentence."""
        if not self.png:
            return 0, 0
        return int.from_bytes(self.png[16:20], "big"), int.from_bytes(self.png[20:24], "big")


def build_charts(
    timeline: Timeline, server: ServerMetrics, plan: Sequence[dict[str, Any]], *, flat_ok: FlatHistograms | None = None, late: tuple[int, str] | None = None
) -> list[Chart]:
    """The six charts of the report, in reading order (``late``: ``tables.late_starts``)."""
    return [
        rate_chart(timeline, plan),
        latency_chart(timeline),
        server_latency_chart(timeline, server, flat_ok),
        throttle_chart(timeline, server),
        error_chart(timeline),
        dropped_chart(timeline, late=late),
    ]


# ---- the charts ----------------------------------------------------------------------------------


def rate_chart(timeline: Timeline, plan: Sequence[dict[str, Any]]) -> Chart:
    p = _Plot(timeline, counts=True)
    f = timeline.frame
    # The plan as planned requests per whole second (the pacer's count), on the same second
    # boundaries as the measured series, so that a step in the plan and in the measurements
    # line up; drawn wide and light underneath, so the measured lines stay visible on top.
    planned: dict[str, Any] = dict(color=COLORS["planned"], lw=3.2, alpha=0.28, solid_capstyle="butt", label="planned requests / s", zorder=2)
    if timeline.has_pacer and f["target"].sum() > 0:
        p.step(f["elapsed"], f["target"], **planned)
    elif plan:
        xs = [float(x) for seg in plan for x in (seg["start"], seg["end"])]
        ys = [float(y) for seg in plan for y in (seg["rate_from"], seg["rate_to"])]
        p.ax.plot(xs, ys, **planned)
        p.info.append("The plan is drawn as planned (no per-second pacer counts in this run)")
    else:
        p.notes.append("no plan recorded for this run: only the achieved rate is shown")
    if f.empty:
        p.notes.append("no requests were recorded")
    else:
        p.step(f["elapsed"], f["requests"], color=COLORS["sent"], lw=1.4, label="achieved: requests sent / s", zorder=4)
        p.step(f["elapsed"], f["ok"], color=COLORS["ok"], lw=1.1, ls=(0, (4, 2)), label="ok responses / s", zorder=5)
    return p.finish(
        "chart-rate",
        "Target vs achieved rate",
        "requests per second",
        alt="Planned requests per second (wide, light) against the requests actually sent and answered ok, per second.",
        caption="All three lines count requests by the whole second they were planned or started in, so they share the same second "
        "boundaries; a planned step inside a second shows as that second's partial count.",
    )


def latency_chart(timeline: Timeline) -> Chart:
    p = _Plot(timeline)
    f = timeline.frame
    if f.empty or f["p50_ms"].isna().all():
        p.notes.append("no ok responses, so no latency to show")
    else:
        for q in ("p50", "p95", "p99"):
            p.step(f["elapsed"], f[f"{q}_ms"], color=COLORS[q], lw=1.0, label=f"client {q}")
        p.log_if_skewed(f["p99_ms"], f["p50_ms"])
    return p.finish(
        "chart-latency",
        "Client latency percentiles per second",
        "latency (ms)",
        alt="Client-side p50, p95 and p99 latency of ok responses per second, across all endpoints.",
        caption="Each second's percentiles come from that second's histograms merged across endpoints (never averaged).",
    )


def server_latency_chart(timeline: Timeline, server: ServerMetrics, flat_ok: FlatHistograms | None) -> Chart:
    p = _Plot(timeline)
    f = timeline.frame
    latency = server.series_by_resource("apigw", "latency", "p95")
    integration = server.series_by_resource("apigw", "integration_latency", "p95")
    found = latency or integration
    first = found[0] if found else None
    has_client = not f.empty and not f["p95_ms"].isna().all()
    if first is not None and first.period > 1 and has_client and flat_ok is not None:
        # the client's p95 over CloudWatch's own periods (merged histograms): like against like
        period, grid0 = first.period, int(first.values.index[0])
        bins = np.floor_divide(flat_ok.seconds - grid0, period)
        lo = int(bins.min())
        n = int(bins.max()) - lo + 1
        p95 = flat_ok.percentiles(bins - lo, n, (0.95,))[:, 0] / 1000.0
        p.step(f["elapsed"], f["p95_ms"], color=COLORS["p95"], lw=0.7, alpha=0.35, label="client p95 per second", zorder=5)
        p.step(
            grid0 + (np.arange(n) + lo) * period - timeline.origin, p95, width=period, color=COLORS["p95"], lw=2.2, label=f"client p95 per {period} s", zorder=6
        )
    elif has_client:
        p.step(f["elapsed"], f["p95_ms"], color=COLORS["p95"], lw=1.6, label="client p95 per second", zorder=6)
    several = len(latency) > 1 or len(integration) > 1
    # CloudWatch underneath and thinner, IntegrationLatency dashed: the client's line stays visible
    for series, name, color, ls in [(s, "API Gateway Latency p95", COLORS["apigw"], "-") for s in latency] + [
        (s, "API Gateway IntegrationLatency p95", COLORS["integration"], "--") for s in integration
    ]:
        p.cloudwatch(series, color=color, lw=1.3, ls=ls, zorder=3, label=f"{name} ({series.resource})" if several else name)
    if not server.available:
        p.notes.append(NO_CLOUDWATCH + ": only the client's p95 is shown")
    else:
        if not latency:
            p.notes.append(no_data("API Gateway Latency p95", server.why_no_data("apigw")))
        if not integration:
            p.notes.append(no_data("API Gateway IntegrationLatency p95", server.why_no_data("apigw")))
        below = _periods_below(latency, integration)
        if below:
            p.info.append(
                f"API Gateway Latency p95 is below IntegrationLatency p95 in {below} period{'s' if below != 1 else ''}: requests API Gateway "
                "answers itself (429 throttles, 401/403 from the authorizer) count in Latency with tiny values but never reach the integration"
            )
    if has_client:
        p.log_if_skewed(f["p95_ms"], f["p50_ms"])
    return p.finish(
        "chart-server-latency",
        "Client p95 vs API Gateway p95",
        "p95 latency (ms)",
        alt="Client p95 latency against CloudWatch API Gateway Latency p95 and IntegrationLatency p95 over time.",
        caption="Client minus API Gateway Latency is the network plus the client. Latency minus IntegrationLatency is API Gateway's "
        "own overhead (authorizer, mapping) only while every request reaches the integration: requests it rejects itself (throttled, "
        "unauthorized) count in Latency with a millisecond or two and not in IntegrationLatency, which pulls Latency's p95 down, even "
        "below IntegrationLatency's. CloudWatch counts every request, the client line only ok ones.",
    )


def throttle_chart(timeline: Timeline, server: ServerMetrics) -> Chart:
    p = _Plot(timeline, counts=True)
    f = timeline.frame
    anything = False
    if not f.empty:  # the client's 429s as a filled area; CloudWatch's layers as dashed lines on top
        p.ax.fill_between(*_steps(f["elapsed"], f["throttled"]), color=COLORS["throttled"], alpha=0.22, lw=0, zorder=2)
        p.step(f["elapsed"], f["throttled"], color=COLORS["throttled"], lw=1.0, label="client: HTTP 429 / s", zorder=3)
        anything = bool(f["throttled"].sum() > 0)
    periods: set[int] = set()
    for _, key, keys, _, label, _, _ in THROTTLE_SIGNALS:
        if key not in COLORS:  # drawn: the layers with a colour (not Step Functions)
            continue
        parts = [s for s in (server.series(key, k, "Sum") for k in keys) if s is not None]
        if not parts:
            if server.available:
                p.notes.append(no_data(label, server.why_no_data(key)))
            continue
        values = pd.concat([s.values for s in parts], axis=1).sum(axis=1, min_count=1).sort_index()
        period = parts[0].period
        if period > 1 and values.notna().any():
            periods.add(period)
        anything = anything or bool((values.fillna(0) > 0).any())
        line = Series(values=values / period, period=period, resource="", metric=parts[0].metric)
        p.cloudwatch(line, color=COLORS[key], lw=1.6, ls=_DASHES[key], zorder=4, label=f"{label} / s")
    if not server.available:
        p.notes.append(NO_CLOUDWATCH + ": only the client's 429s are shown")
    if periods:
        p.info.append(f"CloudWatch lines are each period's sum divided by its length ({'/'.join(str(x) for x in sorted(periods))} s)")
    if not anything and not f.empty:
        measured = "the client" + (" and every layer CloudWatch reported on" if server.available else "")
        p.sentence = f"No throttling: {measured} saw no rejected requests."
    return p.finish(
        "chart-throttles",
        "Throttling by layer",
        "rejections per second",
        alt="Throttled requests per second as seen by the client (HTTP 429) and by API Gateway, Lambda and Cognito in CloudWatch.",
        caption="API Gateway 4xx (4XXError on REST APIs) also counts 401/403/404, not only 429 throttles.",
    )


def error_chart(timeline: Timeline) -> Chart:
    p = _Plot(timeline, counts=True)
    f = timeline.frame
    drawn = [c for c in ERROR_CLASSES if not f.empty and f[c].sum() > 0]
    for c in drawn:
        p.step(f["elapsed"], f[c], color=COLORS[c], lw=1.0, label=ERROR_LABELS[c])
    if f.empty:
        p.notes.append("no requests were recorded")
    elif not drawn:
        p.sentence = "No errors: every request got an expected status."
    elif len(drawn) < len(ERROR_CLASSES):
        p.info.append("No requests in: " + ", ".join(ERROR_LABELS[c] for c in ERROR_CLASSES if c not in drawn))
    return p.finish(
        "chart-errors",
        "Errors by class",
        "requests per second",
        alt="Requests per second that did not get an expected status, by class: throttled, auth, server, client, transport.",
        caption="Classes: throttled = 429; auth = 401/403; server = 5xx; client = any other unexpected status; transport = no response.",
    )


def dropped_chart(timeline: Timeline, *, late: tuple[int, str] | None = None) -> Chart:
    """``late``: (skipped, sentence) when fan-out workers started late; those drops are the
    start lead's, not a lack of virtual users, and the caption says so."""
    p = _Plot(timeline, counts=True)
    f = timeline.frame
    dropped = int(f["dropped"].sum()) if timeline.has_pacer else 0
    skipped = min(late[0], dropped) if late else 0
    if skipped and skipped >= dropped:
        cause = f"Here every drop is a late start: {late[1]}."  # type: ignore[index]
    elif skipped:
        cause = f"Here {late[1]}; the other {dropped - skipped:,} mean the load generator, not the target, fell short: add virtual users."  # type: ignore[index]
    else:
        cause = "Dropped iterations mean the load generator, not the target, fell short: add virtual users."
    if timeline.has_pacer and f["dropped"].sum() == 0:
        p.sentence = "No iterations were dropped: a virtual user was free for every planned request."
    elif timeline.has_pacer:
        p.ax.fill_between(*_steps(f["elapsed"], f["dropped"]), color=COLORS["dropped"], alpha=0.25, lw=0)
        p.step(f["elapsed"], f["dropped"], color=COLORS["dropped"], lw=1.0, label="dropped iterations / s")
    else:
        p.notes.append("no pacer data for this run (planned, released and dropped iterations were not recorded)")
    return p.finish(
        "chart-dropped",
        "Dropped iterations",
        "iterations per second",
        alt="Planned iterations per second that were not sent because no virtual user was free.",
        caption="The open model releases requests at the planned rate; when every virtual user is busy the iteration is dropped and counted here "
        "(as are those a fan-out worker that started late skipped). " + cause,
    )


def probe_chart(probe: dict[str, Any]) -> Chart:
    """A probe's steps (``results.meta["probe"]``): planned vs sent rate above; p95 and the error
    and throttled shares below, per step, on the planned rate's axis; the knee marked in red and
    the sustainable rate in green."""
    steps = probe.get("steps") or []
    title = "Probe: rate vs latency and errors, per step"
    caption = (
        "Each step judged on its whole seconds but the first. Above: requests sent per second against the planned rate "
        "(the grey diagonal: all sent). Below: client p95 of ok requests (left axis) and the shares of requests not ok "
        "and throttled (429, right axis)."
    )
    if not steps:
        return Chart(id="chart-probe", title=title, alt="", caption=caption, png=b"", sentence="No step of the probe ran to its end, so none was judged.")
    x = np.array([float(s["rate"]) for s in steps])
    fig = Figure(figsize=(WIDTH, HEIGHT * 1.8), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.2))
    for ax in (top, bottom):
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.tick_params(colors="#424242", labelsize=9)
        ax.grid(True, color="#eeeeee", lw=0.8)
        ax.set_axisbelow(True)
    top.plot(x, x, color=COLORS["planned"], alpha=0.28, lw=3.2, label="planned rps")
    top.plot(x, [s["achieved_rate"] for s in steps], color=COLORS["sent"], marker="o", ms=4, lw=1.6, label="sent rps")
    top.set_ylabel("requests / s", color="#424242", fontsize=9)
    top.set_ylim(bottom=0)
    p95 = [np.nan if s["p95_ms"] is None else s["p95_ms"] for s in steps]
    bottom.plot(x, p95, color=COLORS["p95"], marker="o", ms=4, lw=1.6, label="p95 (ms, left)")
    bottom.set_ylabel("p95 (ms)", color="#424242", fontsize=9)
    bottom.set_ylim(bottom=0)
    right = bottom.twinx()
    right.spines["top"].set_visible(False)
    right.tick_params(colors="#424242", labelsize=9)
    errors = [np.nan if s["error_rate"] is None else s["error_rate"] for s in steps]
    throttled = [np.nan if s["throttled_rate"] is None else s["throttled_rate"] for s in steps]
    right.plot(x, errors, color=COLORS["server"], marker="s", ms=4, lw=1.4, ls=(0, (5, 2)), label="not ok (%, right)")
    right.plot(x, throttled, color=COLORS["throttled"], marker="^", ms=4, lw=1.4, ls=(0, (2, 2)), label="throttled (%, right)")
    right.set_ylabel("share of requests (%)", color="#424242", fontsize=9)
    right.set_ylim(bottom=0, top=max(1.0, float(np.nanmax(errors + throttled + [0.0])) * 1.15))
    for ax in (top, bottom):
        if probe.get("sustainable_rate") is not None:
            ax.axvline(float(probe["sustainable_rate"]), color=COLORS["ok"], lw=1.2, ls=(0, (4, 2)), label="sustainable" if ax is top else None)
        if probe.get("knee_rate") is not None:
            ax.axvline(float(probe["knee_rate"]), color=COLORS["dropped"], lw=1.6, label="knee" if ax is top else None)
    bottom.set_xlabel("planned rate of the step (requests / s)", color="#424242", fontsize=9)
    bottom.set_xticks(x)
    bottom.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    handles, labels = top.get_legend_handles_labels()
    more_h, more_l = bottom.get_legend_handles_labels()
    right_h, right_l = right.get_legend_handles_labels()
    handles, labels = handles + more_h + right_h, labels + more_l + right_l
    top.legend(handles, labels, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=-(-len(handles) // 2), frameon=False, fontsize=9, borderaxespad=0.2)
    top.set_title(title, loc="left", fontsize=12, fontweight="bold", color="#212121", pad=38)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    knee = probe.get("knee_rate")
    alt = (
        f"{len(steps)} steps judged from {x[0]:g} to {x[-1]:g} rps; "
        + (f"the knee at {knee:g} rps, sustainable rate {probe['sustainable_rate']:g} rps." if knee is not None and probe.get("sustainable_rate") is not None
           else f"even the first step ({knee:g} rps) breached." if knee is not None else "every step held.")
    )  # fmt: skip
    return Chart(id="chart-probe", title=title, alt=alt, caption=caption, png=buf.getvalue(), series=list(labels))


# ---- helpers -------------------------------------------------------------------------------------


class _Plot:
    """One figure on the run's time axis (seconds since the start, shown as m:ss)."""

    def __init__(self, timeline: Timeline, *, counts: bool = False) -> None:
        self.timeline = timeline
        self.counts = counts  # the y axis counts things: whole-number ticks
        self.notes: list[str] = []
        self.info: list[str] = []
        self.gaps = False
        self.sentence = ""  # set: the chart has nothing to show and becomes this sentence
        self.edges: dict[str, list[float]] = {}
        self.fig = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI, layout="constrained")
        FigureCanvasAgg(self.fig)
        ax = self.ax = self.fig.add_subplot()
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        for side in ("left", "bottom"):
            ax.spines[side].set_color("#9e9e9e")
        ax.tick_params(colors="#424242", labelsize=9)
        ax.grid(True, color="#eeeeee", lw=0.8)
        ax.set_axisbelow(True)

    def step(self, x: Any, y: Any, *, width: float = 1.0, **style: Any) -> None:
        if style.get("label"):
            self.edges[style["label"]] = [float(v) for v in np.asarray(x, dtype=float)]
        self.ax.plot(*_steps(x, y, width), **style)

    def cloudwatch(self, series: Series, *, label: str, **style: Any) -> None:
        """A CloudWatch series as steps one period wide; missing periods stay gaps, and a series
        without any datapoint is named in a note instead of being drawn."""
        values = series.values
        if values.isna().all():
            self.notes.append(no_data(label, "CloudWatch returned no datapoints"))
            return
        self.gaps = self.gaps or bool(values.isna().any())
        self.step(values.index.to_numpy(dtype=float) - self.timeline.origin, values.to_numpy(dtype=float), width=series.period, label=label, **style)

    def log_if_skewed(self, high: pd.Series, low: pd.Series) -> None:
        """A log scale when the tail is far above the median (a few slow seconds flatten the rest)."""
        top, middle = np.nanmax(high.to_numpy(dtype=float)), np.nanmedian(low.to_numpy(dtype=float))
        if middle > 0 and top / middle > 30:
            self.ax.set_yscale("log")

    def finish(self, chart_id: str, title: str, ylabel: str, *, alt: str, caption: str) -> Chart:
        if self.sentence:  # nothing to draw: one sentence instead of a full-size empty chart
            return Chart(id=chart_id, title=title, alt=alt, caption=caption, png=b"", notes=self.notes, info=self.info, sentence=self.sentence)
        ax, f = self.ax, self.timeline.frame
        if self.gaps:
            self.info.append("Gaps are CloudWatch periods without datapoints (not zeros)")
        ax.set_xlabel("time since start (m:ss)", color="#424242", fontsize=9)
        log = ax.get_yscale() == "log"
        ax.set_ylabel(ylabel + (" (log scale)" if log else ""), color="#424242", fontsize=9)
        if not log:
            ax.set_ylim(bottom=0)
            if self.counts and ax.get_ylim()[1] < 1:
                ax.set_ylim(top=1)  # all zero: a flat line at the bottom, not an axis of 0.01s
            ax.yaxis.set_major_locator(MaxNLocator(nbins=6, min_n_ticks=2, integer=self.counts))
        if not f.empty:  # every chart shows the run's span; CloudWatch periods are clipped to it
            ax.set_xlim(min(float(f["elapsed"].iloc[0]), 0.0), float(f["elapsed"].iloc[-1]) + 1.0)
        xmin, xmax = ax.get_xlim()
        ax.xaxis.set_major_locator(MultipleLocator(_tick_step(xmax - xmin)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_elapsed(v)))
        handles, labels = ax.get_legend_handles_labels()
        series = list(labels)
        marks = self.shade() if handles else []
        handles, labels = handles + [h for h, _ in marks], labels + [t for _, t in marks]
        if handles:
            # one row when it fits the width, else two (a wide legend would squeeze the plot)
            ncol = len(handles) if sum(len(t) + 8 for t in labels) <= 140 else -(-len(handles) // 2)
            ax.legend(handles, labels, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=ncol, frameon=False, fontsize=9, handlelength=1.8, borderaxespad=0.2)
        else:
            message = (self.notes or self.info or ["no data"])[0]
            ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", fontsize=11, color="#616161")
            ax.set_yticks([])
        ax.set_title(title, loc="left", fontsize=12, fontweight="bold", color="#212121", pad=(24 if ncol == len(handles) else 38) if handles else 8)
        buf = io.BytesIO()
        self.fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
        return Chart(
            id=chart_id, title=title, alt=alt, caption=caption, png=buf.getvalue(), notes=self.notes, info=self.info,
            series=series, edges=self.edges, marks=[t for _, t in marks],
        )  # fmt: skip

    def shade(self) -> list[tuple[Any, str]]:
        """Bursts (blue) and faults (red, hatched) as shaded spans named at the top, the abort as a
        dotted line; returns their legend entries (one per kind of mark)."""
        from matplotlib.transforms import blended_transform_factory

        ax = self.ax
        legend: dict[str, Any] = {}
        top = blended_transform_factory(ax.transData, ax.transAxes)
        for mark in self.timeline.marks:
            what = "burst" if mark.source == "plan" else "fault"
            style = _MARKS[what]
            span = ax.axvspan(mark.start, max(mark.end, mark.start + 0.2), lw=0, zorder=1, **style)
            legend.setdefault(what, span)
            ax.text((mark.start + mark.end) / 2, 0.98, mark.name, transform=top, ha="center", va="top", fontsize=7,
                    color=style["edgecolor"], clip_on=True, zorder=7)  # fmt: skip
        if self.timeline.abort is not None:
            legend["run aborted"] = ax.axvline(self.timeline.abort, color="#212121", lw=1.4, ls=(0, (1, 1.5)), zorder=8)
        return [(handle, label) for label, handle in legend.items()]


#: how bursts and faults are shaded: bursts a light blue band, faults a hatched light red one
_MARKS: dict[str, dict[str, Any]] = {
    "burst": {"facecolor": "#1565c0", "alpha": 0.09, "edgecolor": "#1565c0"},
    "fault": {"facecolor": "#c62828", "alpha": 0.12, "edgecolor": "#c62828", "hatch": "//"},
}

#: line styles of the CloudWatch layers on the throttling chart (the client's 429s are an area)
_DASHES: dict[str, Any] = {"apigw": (0, (5, 2)), "lambda": (0, (2, 2)), "cognito": (0, (6, 2, 1, 2))}


def _periods_below(latency: list[Series], integration: list[Series]) -> int:
    """Periods in which API Gateway Latency p95 is below IntegrationLatency p95 (one resource each)."""
    if len(latency) != 1 or len(integration) != 1:
        return 0
    both = pd.concat([latency[0].values, integration[0].values], axis=1, join="inner").dropna()
    return int((both.iloc[:, 0] < both.iloc[:, 1]).sum()) if not both.empty else 0


def _steps(x: Any, y: Any, width: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Points for a step line where value ``y[i]`` holds over ``[x[i], x[i] + width)``; NaN gaps stay gaps."""
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    return np.repeat(xs, 2) + np.tile([0.0, width], len(xs)), np.repeat(ys, 2)


def _tick_step(span: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if span / step <= 12:
            return float(step)
    return float(max(3600, round(span / 12 / 3600) * 3600))
