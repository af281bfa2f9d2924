"""Every error harness raises on purpose, rooted at ``HarnessError``.

::

    HarnessError                  one line, says what to do next; the CLI prints it (exit 2 or 3)
    ├── UsageError                bad command-line use                                   (exit 2)
    ├── ScenarioError             a scenario file is unreadable or invalid               (exit 2)
    │   └── LimitExceeded         the scenario asks for more than the safety limits      (exit 2)
    ├── LocalStackError           the local stack could not start or is not running      (exit 3)
    ├── AuthError                 Cognito users, passwords or tokens                     (exit 3)
    │   └── LoginFailed           a test user could not sign in
    ├── RunError                  the load run itself failed                             (exit 3)
    │   ├── ShardFailed           a fan-out worker's shard did not complete (its data is kept)
    │   ├── RequestNotSent        the HTTP client refused to build a request: nothing was sent
    │   └── FaultError            a scheduled fault cannot be applied or put back
    └── MetricsUnavailable        CloudWatch data could not be read                      (exit 3)

Only ``harness.cli`` catches broadly; everything else lets these travel.
"""

from __future__ import annotations

__all__ = [
    "HarnessError",
    "UsageError",
    "ScenarioError",
    "LimitExceeded",
    "LocalStackError",
    "AuthError",
    "LoginFailed",
    "RunError",
    "ShardFailed",
    "RequestNotSent",
    "FaultError",
    "MetricsUnavailable",
]


class HarnessError(Exception):
    """Base of all harness errors. ``str(err)`` is one line that says what to do next."""

    exit_code: int = 3


class UsageError(HarnessError):
    exit_code = 2


class ScenarioError(HarnessError):
    """A scenario file is unreadable or invalid: names the file, the field and the fix."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None, details: tuple[str, ...] = ()) -> None:
        parts = [p for p in (path, field) if p]
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.reason = message  # what is wrong and the fix, without the file and field
        self.path = path
        self.field = field
        self.details = details  # every problem found, one line each (``harness -v`` prints them)


class LimitExceeded(ScenarioError):
    pass


class LocalStackError(HarnessError):
    pass


class AuthError(HarnessError):
    pass


class LoginFailed(AuthError):
    pass


class RunError(HarnessError):
    pass


class ShardFailed(RunError):
    """Raised by a worker Lambda after it saved what it measured, so that Step Functions
    counts the shard as failed (ToleratedFailurePercentage) and records why."""


class RequestNotSent(RunError):
    """The HTTP client refused a request before sending anything (an invalid URI or header):
    a mistake on our side, never the API's transport error; the run stops and says which."""


class FaultError(RunError):
    """A scenario's fault cannot be applied (checked before any load) or put back: names the
    fault, what is missing (a template id, an IAM action) and the fix."""


class MetricsUnavailable(HarnessError):
    pass
