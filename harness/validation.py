"""The rules that cross modules, checked in one place before any load: ``validate()``.

``Scenario.load`` checks what the scenario's own data can tell (types, ranges, faults that fit
in the load, safety limits). What needs another module's grammar or knowledge is checked here,
so that the data model imports no behaviour: ``abort_on`` rules (``abort.py``), the gates and
``--gate`` ones (``gates.py``), the region (``target.py``) and, for ``harness probe``, the probe's
needs (``probe.py``). ``run``, ``check``, ``probe`` and the fan-out controller all call it::

    scenario = Scenario.load("scenarios/ci.toml")
    validate(scenario, source="scenarios/ci.toml", command="run", gates=["p95 < 300ms"])

``command`` says what follows: ``"load"`` (only the rules every loaded scenario meets: a
Lambda's execution input, the Locust web UI), ``"check"`` (either kind of run may follow),
``"run"``, ``"probe"`` or ``"fanout"``. Each rule raises its one-line, exit-2 error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from harness.abort import AbortRule, parse_abort_rules
from harness.errors import ScenarioError
from harness.gates import check_gates, check_measurable, parse_gates
from harness.probe import check_probe
from harness.target import scenario_region, unmeasured_layers

if TYPE_CHECKING:
    from harness.scenario import Scenario

__all__ = ["validate", "Command", "has_events"]

Command = Literal["load", "check", "run", "probe", "fanout"]

_CLOUDWATCH_LAYERS = ("apigw", "lambda", "cognito", "states")


def validate(
    scenario: Scenario,
    *,
    source: str,
    command: Command = "check",
    gates: Sequence[str] = (),
    baseline: bool = False,
    metrics: bool = True,
) -> None:
    """Check ``scenario`` (read from ``source``) for ``command`` with the extra ``gates``:
    a gate for an endpoint the scenario does not have, a regression gate without a
    ``baseline``, a server-side gate the run has no CloudWatch data for (``metrics`` False is
    ``--no-metrics``), regions that disagree, and for a probe a ramp going up with gates that
    judge a step. Raises the first problem as a one-line ``HarnessError`` (exit 2)."""
    _check_abort_rules(scenario, source=source)
    if command == "load":
        return
    names = [ep.name for ep in scenario.endpoints]
    unmeasured = unmeasured_layers(scenario, fanout=command not in ("run", "probe"))
    if not metrics:
        unmeasured = dict.fromkeys(_CLOUDWATCH_LAYERS, "--no-metrics reads no CloudWatch metrics")
    events = has_events(scenario)
    for where, texts in ((source, scenario.gates), ("--gate", gates)):
        parsed = parse_gates(texts, path=where)
        check_gates(parsed, endpoints=names, baseline=baseline, path=where, events=events)
        check_measurable(parsed, unmeasured=unmeasured, path=where)
    check_gates([rule.gate for rule in parse_abort_rules(scenario.abort_on)], endpoints=names, baseline=False, path=f"{source}: abort_on")
    scenario_region(scenario, source=source)  # conflicting regions: one line now, not a run in the wrong one
    if command == "probe":
        check_probe(scenario, gates=gates, path=source)


def _check_abort_rules(scenario: Scenario, *, source: str) -> None:
    """Every ``abort_on`` entry parses (``field`` ``abort_on``, the message ``entry N: ...``)."""
    for i, text in enumerate(scenario.abort_on):
        try:
            AbortRule.parse(text)
        except ScenarioError as exc:
            message = f"entry {i}: {exc}"
            if ";" not in message and not message.rstrip(")").endswith(("fix", "it")):
                message += "; fix this value"
            raise ScenarioError(message, path=source, field="abort_on") from None


def has_events(scenario: Any) -> bool:
    """Whether the scenario has something to recover from: a burst or spike profile, or faults."""
    return scenario.load_profile.profile in ("burst", "spike") or bool(getattr(scenario, "faults", None) or [])
