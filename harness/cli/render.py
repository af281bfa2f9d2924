"""What the commands print: the run's tables, verdict and probe, warnings; ``out`` (stdout) and
``err`` (stderr) are the two consoles every command prints to. Nothing here decides anything.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["out", "err", "warn", "print_run", "print_stack", "stack_event", "note_bytecode"]

# Not a terminal (CI logs, pipes): rich would assume 80 columns and squeeze the tables, and
# wrap long lines mid-name (a secret's name, a path); give tables room and never wrap text.
out = Console(width=None if sys.stdout.isatty() else 200, soft_wrap=not sys.stdout.isatty())
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200, soft_wrap=not sys.stderr.isatty())


def warn(warnings: Sequence[str]) -> None:
    """What is allowed but probably not meant, before any load: one line each, on stderr."""
    for warning in warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


def print_stack(info: Any) -> None:
    table = Table(title="local stack", show_header=False)
    for key in ("endpoint_url", "api_url", "region", "user_pool_id", "client_id", "api_id", "stage", "log_dir"):
        table.add_row(key, str(getattr(info, key)))
    out.print(table)


def stack_event(event: dict[str, Any]) -> str:
    reason = f": {event['ResourceStatusReason']}" if event.get("ResourceStatusReason") else ""
    return escape(f"deploying: {event.get('LogicalResourceId')} {event.get('ResourceStatus')}{reason}")[:200]


def note_bytecode(info: Any, python: str) -> None:
    if info.bytecode is None:
        err.print(f"[yellow]note:[/] no Python {python} here to compile the bytecode (set HARNESS_LAMBDA_PYTHON): the zip holds source only, "
                  "and every cold start compiles it", highlight=False)  # fmt: skip


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_run(artifacts: Any) -> None:
    from harness.report.tables import late_starts

    results = artifacts.results
    meta = results.meta
    table = Table(title=f"{meta.get('scenario', '')} ({meta.get('profile', '')}, {results.duration():.0f} s, {meta.get('status', '')})")
    for col in ("endpoint", "requests", "rps", "p50 ms", "p95 ms", "p99 ms", "max ms", "ok", "throttled", "auth", "server", "client", "transport"):
        table.add_column(col, justify="left" if col == "endpoint" else "right", no_wrap=True)
    for row in results.summary():
        table.add_row(
            row["endpoint"], f"{row['requests']:,}", _fmt(row["rps"]), _fmt(row["p50_ms"]), _fmt(row["p95_ms"]), _fmt(row["p99_ms"]), _fmt(row["max_ms"]),
            *(f"{row[o]:,}" for o in ("ok", "throttled", "auth", "server", "client", "transport")),
        )  # fmt: skip
    out.print(table)
    pacer = results.pacer_totals()
    if pacer.target:
        line = f"planned {pacer.target:,.0f} requests, released {pacer.released:,} ({100 * pacer.released / pacer.target:.1f}%), dropped {pacer.dropped:,}"
        late = late_starts(meta)
        if late:  # drops a late start caused: the start lead's, not the virtual users'
            line += f" ({late[1]})"
        generator = meta.get("generator") or {}
        if generator.get("stalls"):
            line += f"; load generator stalled {generator['stalls']:,} times (longest {generator['longest_stall_ms']:g} ms)"
        out.print(line)
    retries = results.retry_summary()
    if retries:
        total = retries[-1]
        out.print(
            f"retries (counted apart from the first attempts above): {total['retried']:,} requests retried with {total['retry_attempts']:,} "
            f"more attempts ({total['attempts']:,} in all); {total['ok_after_retry']:,} ok after a retry, {total['gave_up']:,} gave up, "
            f"{total['failed_after_retry']:,} failed on a status not retried, {total['stopped']:,} stopped by the end of the run"
        )
    for note in artifacts.notes:
        err.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    _print_comparison(artifacts.comparison)
    _print_verdict(artifacts)
    _print_probe(artifacts)
    if artifacts.report is not None:
        out.print(f"report: {artifacts.report.html}", highlight=False)
    out.print(f"run folder: {artifacts.run_dir}", highlight=False)


def _print_comparison(comparison: Any) -> None:
    if comparison is None:
        return
    for warning in comparison.warnings:
        out.print(f"[yellow]not like for like:[/] {escape(warning)}", highlight=False)
    style = "red" if comparison.regressions else "green"
    out.print(f"[{style}]{comparison.headline()}[/]", highlight=False)
    for regression in comparison.regressions[:10]:
        out.print(f"  {regression.text()}", highlight=False, markup=False)
    if len(comparison.regressions) > 10:
        out.print(f"  and {len(comparison.regressions) - 10} more: see the report", highlight=False)


def _print_verdict(artifacts: Any) -> None:
    """The verdict, only for a run that was judged; otherwise what happened instead
    (``artifacts.outcome``, the one decision)."""
    from harness.gates import Outcome

    outcome = artifacts.outcome
    if outcome is Outcome.RUN_FAILED:
        reason = artifacts.results.meta.get("error") or "see locust.log in the run folder"
        err.print(f"[red]run failed:[/] {escape(str(reason))}", highlight=False)
        return
    lines = artifacts.verdict.summary_lines()
    if outcome is Outcome.ABORTED:
        reason = artifacts.results.meta.get("error") or "an abort_on rule held"
        err.print(f"[red]run aborted:[/] {escape(str(reason))}; the results above cover what was measured until then", highlight=False)
        for line in lines:
            out.print(f"  (not judged) {line}", highlight=False, markup=False)
        return
    if outcome is Outcome.NOT_JUDGED:
        err.print(f"[yellow]{artifacts.status}[/]: the results above cover what was measured until then; the run was not judged", highlight=False)
        for line in lines:
            out.print(f"  (not judged) {line}", highlight=False, markup=False)
        return
    if not lines:
        out.print("no gates: measured, not judged (add gates to the scenario or pass --gate)", highlight=False)
        return
    if artifacts.results.meta.get("probe"):
        out.print("gates, judged on the steps that held (the knee step is not part of the verdict):", highlight=False)
    for line in lines:
        style = "green" if line.startswith("PASS") else "red"
        out.print(f"[{style}]{escape(line)}[/]", highlight=False)
    verdict = "[green]PASSED[/]" if outcome is Outcome.PASSED else "[red]FAILED[/]"
    out.print(f"verdict: {verdict}")


def _print_probe(artifacts: Any) -> None:
    """A probe's answer: the sustainable rate and the knee (``harness.probe``)."""
    from harness.gates import Outcome, format_amount

    probe = artifacts.results.meta.get("probe")
    if not probe or artifacts.outcome is Outcome.RUN_FAILED:
        return

    for step in probe["steps"]:
        p95 = "-" if step["p95_ms"] is None else format_amount(step["p95_ms"], "ms")
        errors = "-" if step["error_rate"] is None else format_amount(step["error_rate"], "%")
        throttled = "-" if step["throttled_rate"] is None else format_amount(step["throttled_rate"], "%")
        mark = "held" if step["held"] else "BREACHED " + "; ".join(step["breached"])
        out.print(
            f"  step {step['step']}: {format_amount(step['rate'], 'rps')} planned, {format_amount(step['achieved_rate'], 'rps')} sent, "
            f"p95 {p95}, errors {errors}, throttled {throttled}: {mark}",
            highlight=False, markup=False,
        )  # fmt: skip
    top = probe["planned_steps"][-1] if probe["planned_steps"] else None
    if probe["sustainable_rate"] is not None:
        out.print(f"[green]sustainable rate: {format_amount(probe['sustainable_rate'], 'rps')}[/]", highlight=False)
    else:
        out.print("[red]sustainable rate: none[/] (even the first step breached the gates)", highlight=False)
    knee = next((s for s in probe["steps"] if not s["held"]), None)
    if knee is not None:
        breached = "; ".join(b.replace(": ", " breached: ", 1) for b in knee["breached"])
        out.print(f"knee: {format_amount(knee['rate'], 'rps')} ({escape(breached)})", highlight=False)
    elif probe["top_held"] and top is not None:  # the top of a ramp that had steps
        out.print(f"knee: not reached: the ramp's top ({format_amount(top, 'rps')}) held; raise load.to_rate to probe further", highlight=False)
    elif artifacts.outcome is Outcome.NOT_JUDGED:
        out.print("knee: not reached before the run was interrupted", highlight=False)
