"""junit.xml: the run's gates as JUnit test cases, for CI (a writer beside report.html and summary.md).

(run_dir / "junit.xml").write_text(junit_xml(verdict, "harness.steady", outcome=outcome, reason=reason, time=120.0))
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from harness.gates.verdict import Outcome

if TYPE_CHECKING:
    from harness.gates.verdict import Verdict

__all__ = ["junit_xml"]


def junit_xml(verdict: Verdict, suite_name: str, *, outcome: Outcome | None = None, reason: str = "", time: float = 0.0) -> str:
    """JUnit XML: one ``<testcase classname="harness.gates" name=expression>`` per gate, each
    taking the run's ``time`` (seconds: the gates judge the whole run). Judged (``outcome``
    passed or failed, the default): failing and unevaluable gates carry a ``<failure>``. Not
    judged (interrupted, aborted, the run failed): every gate is ``<skipped>`` with ``reason``,
    and an aborted run adds a failing ``abort_on`` case, a failed run an ``<error>`` case, as
    their exit codes (1 and 3) say."""
    outcome = outcome or (Outcome.PASSED if verdict.passed else Outcome.FAILED)
    seconds = f"{max(time, 0.0):.3f}"
    judged = outcome.judged
    cases: list[tuple[str, str, dict[str, str], str]] = []  # (name, element, attributes, text)
    for result in verdict.results:
        if not judged:
            cases.append((result.expression, "skipped", {"message": f"{reason}: {result.line()}" if reason else result.line()}, ""))
        elif result.passed:
            cases.append((result.expression, "system-out", {}, result.line()))
        else:
            kind = "GateFailed" if result.evaluated else "GateNotEvaluated"
            cases.append((result.expression, "failure", {"message": result.line(), "type": kind}, result.reason or result.line()))
    if outcome is Outcome.ABORTED:
        cases.append(("abort_on", "failure", {"message": reason, "type": "RunAborted"}, reason))
    elif outcome is Outcome.RUN_FAILED:
        cases.append(("run", "error", {"message": reason, "type": "RunFailed"}, reason))
    counts = {kind: str(sum(1 for c in cases if c[1] == kind)) for kind in ("failure", "error", "skipped")}
    tests = str(len(cases))
    root = ET.Element("testsuites", {"name": suite_name, "tests": tests, "failures": counts["failure"], "errors": counts["error"], "time": seconds})
    suite = ET.SubElement(
        root,
        "testsuite",
        {"name": suite_name, "tests": tests, "failures": counts["failure"], "errors": counts["error"], "skipped": counts["skipped"], "time": seconds},
    )
    for name, element, attributes, text in cases:
        case = ET.SubElement(
            suite, "testcase", {"classname": "harness.gates" if name not in ("abort_on", "run") else "harness.run", "name": name, "time": seconds}
        )
        ET.SubElement(case, element, attributes).text = text or None
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
