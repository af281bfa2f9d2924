"""The Markdown summary, sized for ``$GITHUB_STEP_SUMMARY``: verdict, endpoints, who throttled,
and the regressions against a baseline. The charts stay in ``report.html``.

    (run_dir / "summary.md").write_text(render_markdown(content))
"""

from __future__ import annotations

from harness.gates.verdict import Outcome

from .analysis import COMPARED, when
from .content import ReportContent
from .formatting import count, ms, pct, rate, signed, signed_pct, value

__all__ = ["render_markdown"]

_ICONS = {"passed": "✅", "failed": "❌", "no gates": "⚪", "not judged": "⚠️"}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]], align: str) -> list[str]:
    """``align``: one letter per column, ``l`` or ``r``."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def render_markdown(content: ReportContent) -> str:
    c = content
    lines: list[str] = []
    gates = c.verdict["gates"] if c.verdict else []
    failing = [g for g in gates if not g.get("passed")]
    plural = "s" if len(gates) != 1 else ""
    state = c.verdict_state  # from the run's one outcome (harness.gates.Outcome)
    if state == "not judged":
        head = f"run {c.status}, not judged"
    elif state == Outcome.FAILED:
        head = f"{len(failing)} of {len(gates)} gate{plural} failed"
    elif state == Outcome.PASSED:
        head = f"all {len(gates)} gate{plural} passed"
    else:
        head = "no gates: measured, not judged"
    lines.append(f"## {_ICONS[c.verdict_state]} {c.title}: {head}")
    lines.append("")
    lines.append(
        f"`{c.target}` · {c.fact('Load profile')} · {c.fact('Duration')} · status **{c.status}** · "
        f"started {c.started} · {c.fact('Workers')} worker(s), {c.fact('Virtual users')} virtual users"
    )
    if not c.outcome.judged:
        lines += ["", f"> ⚠️ The run was **{c.status}**; its numbers cover only part of the plan." + (f" Reason: `{c.error}`" if c.error else "")]
    if c.probe:
        lines += ["", f"**Sustainable rate: {c.probe_line}**", ""]
        rows = [
            [str(r["step"]), rate(r["rate"]), rate(r["achieved_rate"]), ms(r["p95_ms"]), pct(r["error_rate"]), pct(r["throttled_rate"]),
             "✅ held" if r["held"] else ("❌ knee: " if r["knee"] else "❌ ") + r["breached"]]
            for r in c.probe_rows
        ]  # fmt: skip
        lines += _table(["Step", "Planned rps", "Sent rps", "p95", "not ok", "throttled", "Result"], rows, "rrrrrrl")
        lines += ["", "<sub>The probe's gates are judged on each step's whole seconds but the first; the verdict, on the steps that held.</sub>"]
    if c.fact("Shards") != "–":
        lines += ["", f"Shards: {c.fact('Shards')}"]
    if gates:
        lines.append("")
        rows = [
            [
                f"`{g.get('expression', '')}`" + (f" ({g['endpoint']})" if g.get("endpoint") else ""),
                "✅ passed" if g.get("passed") else "❌ failed",
                value(g.get("actual"), g.get("unit") or ""),
                value(g.get("threshold"), g.get("unit") or ""),
                g.get("reason") or "",
            ]
            for g in gates
        ]
        lines += _table(["Gate", "Result", "Actual", "Threshold", "Why"], rows, "llrrl")

    lines += ["", "### Endpoints", ""]
    rows = []
    for r in c.endpoints:
        name = f"**{r['endpoint']}**" if r["endpoint"] == "Total" else r["endpoint"]
        rows.append(
            [
                name,
                count(r["requests"]),
                rate(r["rps"]),
                ms(r["p50_ms"]),
                ms(r["p95_ms"]),
                ms(r["p99_ms"]),
                ms(r["max_ms"]),
                count(r["ok"]),
                count(r["throttled"]),
                count(r["auth"]),
                count(r["server"]),
                count(r["client"]),
                count(r["transport"]),
                pct(r["error_rate"]),
            ]
        )
    lines += _table(
        ["Endpoint", "Requests", "rps", "p50", "p95", "p99", "max", "ok", "429", "401/403", "5xx", "other", "no answer", "not ok"],
        rows,
        "l" + "r" * 13,
    )
    lines.append("")
    lines.append("<sub>Client-side latency of ok requests (merged histograms, nearest rank).</sub>")

    if c.retries:
        lines += ["", "### Retries", ""]
        rows = [
            [
                f"**{r['endpoint']}**" if r["endpoint"] == "Total" else r["endpoint"],
                r["policy"],
                count(r["retried"]),
                count(r["retry_attempts"]),
                count(r["attempts"]),
                count(r["ok_after_retry"]),
                count(r["gave_up"]),
                count(r["failed_after_retry"]),
                count(r["stopped"]),
                ms(r["ok_after_retry_p95_ms"]),
            ]
            for r in c.retries
        ]
        lines += _table(
            ["Endpoint", "Policy", "Retried", "Retry attempts", "Attempts", "ok after retry", "gave up", "failed after retry", "stopped", "p95 end to end"],
            rows,
            "ll" + "r" * 8,
        )
        lines.append("")
        lines.append("<sub>Endpoints above count first attempts only; attempts = first + retry attempts, what the server saw.</sub>")

    lines += ["", "### Who throttled", ""]
    lines += [c.throttle_story, ""]
    for i, f in enumerate([f for f in c.throttling if f.state == "throttled"], 1):
        where = "exact second" if f.exact else f"{f.resolution} s CloudWatch period"
        lines.append(f"{i}. **{f.layer}** {when(f)} ({when(f, clock=True)} UTC, {where}): {count(f.count)} · {f.signal}")
    for f in c.throttling:
        if f.state != "throttled":
            lines.append(f"- {f.layer}: {'not throttled' if f.state == 'clear' else 'no data'}" + (f" ({f.note})" if f.note and f.state != "clear" else ""))

    if c.recovery:
        lines += ["", "### Recovery", "", c.recovery_summary, ""]
        lines += _table(
            ["Event", "Kind", "Window", "Baseline p95 / errors", "Peak p95 / errors", "Throttled for", "Recovery time"],
            [[r["event"], r["kind"], r["window"], r["baseline"], r["peak"], r["throttled"], r["recovery"]] for r in c.recovery],
            "lllrrrr",
        )

    if c.comparison is not None:
        lines += ["", "### Compared with the baseline", ""]
        bc = c.baseline_comparison
        if bc is not None and bc.warnings:
            lines += [f"> ⚠️ Not like for like: {'; '.join(bc.warnings)}. Compare with care.", ""]
        metrics = [m for m in COMPARED if m not in ("requests", "max_ms")]
        header = ["Endpoint", "rps", "p50", "p95", "p99", "not ok"]
        rows = []
        for row in c.comparison:
            cells = [row.endpoint + (f" (only in {row.only_in})" if row.only_in else "")]
            for m in metrics:
                d = row.cells[m]
                if m == "error_rate":
                    text = f"{pct(d.current)} ({signed(d.absolute, 'pp')})"
                elif m == "rps":
                    text = f"{rate(d.current)} ({signed_pct(d.percent)})"
                else:
                    text = f"{ms(d.current)} ({signed_pct(d.percent)})"
                cells.append(text + (" 🔺" if d.flag == "regression" else " 🟢" if d.flag == "improvement" else ""))
            rows.append(cells)
        lines += _table(header, rows, "lrrrrr")
        if bc is not None and bc.regressions:
            lines += ["", f"**{bc.headline()}**", ""]
            lines += [f"- {r.text()}" for r in bc.regressions]
        else:
            lines += ["", "No regressions against the baseline."]

    lines += ["", "<sub>Charts, CloudWatch numbers and status codes: see `report.html` in the run directory.</sub>", ""]
    return "\n".join(lines)
