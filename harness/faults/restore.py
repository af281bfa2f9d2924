"""``harness faults restore RUN_DIR``: put back what a run's AWS faults changed, from its results.

Each AWS fault's record (``results.meta["faults"]``) holds the call that puts it back
(``details.restore``: service, operation, parameters: the previous reserved concurrency, the
stage's previous limits, the experiment to stop), whether harness put it back (``put_back``)
and its expiry schedule (``details.expiry_schedule``)::

    outcomes = restore_run(results.meta["faults"], aws=AwsContext(region=region))
    for line in outcomes: print(line)

Faults harness did not put back are put back, and their schedules deleted; ``everything=True``
puts back every fault of the run again (the same previous values: harmless unless someone has
changed the setting since).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from harness.errors import FaultError
from harness.faults.expiry import Expiry, Restore

__all__ = ["restore_run"]


def restore_run(records: list[dict[str, Any]], *, aws: Any, everything: bool = False) -> list[str]:
    """Put back the run's AWS faults (see the module); one line per fault. Raises ``FaultError``
    naming every fault that could not be put back, after trying them all."""
    lines: list[str] = []
    problems: list[str] = []
    for index, record in enumerate(records):
        name = record.get("name") or f"faults[{index}]"
        details = record.get("details") or {}
        if not details.get("restore"):
            continue  # a local fault (ends by itself), or one that never changed anything
        if record.get("put_back") and not everything:
            lines.append(f"{name}: put back by harness at the end of its window; nothing to do (--all does it again)")
            continue
        restore = Restore.from_dict(details["restore"])
        try:
            restore.call(aws.client(restore.service))
        except (ClientError, BotoCoreError) as err:
            code = (err.response.get("Error") or {}).get("Code") if isinstance(err, ClientError) else type(err).__name__
            problems.append(
                f"{name}: {restore.service} {restore.operation} failed ({code}); allow {restore.service}:{_action(restore.operation)} or do it by hand"
            )
            continue
        schedule = details.get("expiry_schedule")
        if schedule and not details.get("expiry_schedule_deleted"):
            try:
                Expiry.delete_schedule(aws.client("scheduler"), schedule)
            except (ClientError, BotoCoreError):
                lines.append(f"{name}: put back; its schedule {schedule} could not be deleted (it would only put back the same values)")
                continue
        lines.append(f"{name}: put back ({restore.service} {restore.operation} {_brief(restore.params)})")
    if problems:
        raise FaultError("; ".join(problems))
    return lines or ["the run changed nothing on AWS: no fault to put back"]


def _action(operation: str) -> str:
    return "".join(part.capitalize() for part in operation.split("_"))


def _brief(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())
