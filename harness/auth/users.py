"""Test users in a Cognito user pool: create them (idempotently) and delete exactly them.

    ctx = AwsContext(region="eu-west-1")
    report = create_users(cognito=ctx.client("cognito-idp"), secrets=ctx.client("secretsmanager"),
                          user_pool_id="eu-west-1_AbC", count=100)
    print(report.summary())     # created 100, reused 0, failed 0 test users in pool ... in 12.3 s

Users are ``<prefix>0`` .. ``<prefix><count-1>``, confirmed, with one shared password that lives
in Secrets Manager (see ``harness.auth.secret``). An existing user is reused, not re-created:
fewer calls, and Cognito bills by monthly active users. Admin calls run on a few threads but
never faster than ``rate`` per second in total; throttled calls are retried with full jitter.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from harness.auth.backoff import Backoff, error_code, is_throttling, is_transient
from harness.auth.explain import explain
from harness.auth.ratelimit import RateLimiter
from harness.auth.secret import delete_password, ensure_password, secret_name
from harness.auth.workers import run_each
from harness.errors import AuthError

__all__ = ["DEFAULT_PREFIX", "UsersReport", "create_users", "delete_users", "ensure_test_users", "make_usernames", "username_pattern"]

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "loadtestuser"
_PREFIX_RE = re.compile(r"^[A-Za-z0-9._+@-]{1,100}$")
_ADMIN_BACKOFF = Backoff(base=0.25, cap=10.0, attempts=8)
_MAX_RECORDED_FAILURES = 20


def make_usernames(count: int, prefix: str = DEFAULT_PREFIX) -> list[str]:
    """``["loadtestuser0", "loadtestuser1", ...]``: the names ``create_users`` gives ``count`` users."""
    return [f"{prefix}{i}" for i in range(count)]


def username_pattern(prefix: str = DEFAULT_PREFIX) -> re.Pattern[str]:
    """The usernames harness owns: ``^<prefix>\\d+$``. ``delete_users`` touches nothing else."""
    return re.compile(rf"^{re.escape(prefix)}\d+$")


@dataclass
class UsersReport:
    """What ``create_users``/``delete_users`` did. Never holds the password."""

    action: Literal["create", "delete"]
    user_pool_id: str
    prefix: str
    created: int = 0
    reused: int = 0
    deleted: int = 0
    failed: int = 0
    elapsed: float = 0.0
    throttle_retries: int = 0
    secret_name: str = ""
    secret_created: bool = False
    secret_deleted: bool = False
    #: username -> AWS error code, for the first few failures
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no user failed."""
        return self.failed == 0

    def summary(self) -> str:
        """One line, e.g. ``created 2, reused 5, failed 0 test users in pool us-east-1_X in 1.2 s``."""
        if self.action == "create":
            text = f"created {self.created}, reused {self.reused}, failed {self.failed} test users"
        else:
            text = f"deleted {self.deleted}, failed {self.failed} test users"
        text += f" in pool {self.user_pool_id} in {self.elapsed:.1f} s"
        if self.throttle_retries:
            text += f" ({self.throttle_retries} throttled calls retried)"
        if self.action == "create" and self.secret_created:
            text += f"; new password stored in {self.secret_name}"
        if self.action == "delete" and self.secret_deleted:
            text += f"; secret {self.secret_name} deleted"
        elif self.action == "delete" and self.failed:
            text += f"; secret {self.secret_name} kept for the next attempt"
        if self.failures:
            first = next(iter(self.failures.items()))
            text += f"; first failure: {first[0]} ({first[1]})"
        return text


class _Admin:
    """Rate-capped, retried admin calls plus the counters of one run (shared by the workers)."""

    def __init__(self, *, rate: float | None, report: UsersReport) -> None:
        self.limiter = RateLimiter(rate)
        self.report = report
        self._lock = threading.Lock()

    def call(self, fn: Any, /, **kwargs: Any) -> Any:
        def attempt() -> Any:
            self.limiter.acquire()
            return fn(**kwargs)

        return _ADMIN_BACKOFF.retry(attempt, retry_if=is_transient, on_retry=self._on_retry)

    def _on_retry(self, attempt: int, delay: float, err: BaseException) -> None:
        if is_throttling(err):
            with self._lock:
                self.report.throttle_retries += 1
        log.debug("retrying after %s in %.2f s (attempt %d)", error_code(err), delay, attempt + 1)

    def count(self, what: str, username: str | None = None, code: str | None = None) -> None:
        with self._lock:
            setattr(self.report, what, getattr(self.report, what) + 1)
            if username and code and len(self.report.failures) < _MAX_RECORDED_FAILURES:
                self.report.failures[username] = code


@contextmanager
def _progress_bar(enabled: bool, description: str, total: int) -> Iterator[Any]:
    """A rich progress bar on stderr; a no-op when disabled or stderr is not a terminal. rich is
    imported here only: a Lambda (the fan-out controller) creates users without it."""
    if not enabled:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    show = enabled and console.is_terminal
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not show,
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total)
        yield lambda: progress.advance(task)


def _check_args(*, prefix: str, rate: float, concurrency: int, count: int | None = None) -> None:
    if not _PREFIX_RE.match(prefix):
        raise AuthError(f"user prefix {prefix!r} is not allowed; use 1-100 letters, digits or ._+@-")
    if count is not None and count < 0:
        raise AuthError(f"user count must be 0 or more, not {count}")
    if rate is not None and rate < 0:
        raise AuthError(f"rate must be positive, not {rate}")
    if concurrency < 1:
        raise AuthError(f"concurrency must be at least 1, not {concurrency}")


def _not_found(cognito: Any, user_pool_id: str) -> str:
    region = getattr(getattr(cognito, "meta", None), "region_name", None) or "this region"
    return f"user pool {user_pool_id} not found in {region}; check the pool id and AWS_REGION"


def _describe_pool(cognito: Any, admin: _Admin, user_pool_id: str, doing: str) -> dict[str, Any]:
    try:
        return admin.call(cognito.describe_user_pool, UserPoolId=user_pool_id)["UserPool"]
    except (ClientError, BotoCoreError) as err:
        raise explain(err, doing=doing, not_found=_not_found(cognito, user_pool_id)) from None


def create_users(
    *,
    cognito: Any,
    secrets: Any,
    user_pool_id: str,
    count: int,
    prefix: str = DEFAULT_PREFIX,
    rate: float = 10.0,
    concurrency: int = 8,
    progress: bool = True,
    email_domain: str | None = None,
) -> UsersReport:
    """Create (or reuse) ``<prefix>0 .. <prefix><count-1>`` with the pool's shared password.

    Each user gets ``MessageAction="SUPPRESS"`` (no invitation), the permanent password
    (status ``CONFIRMED``) and, with ``email_domain``, a verified ``<username>@<email_domain>``.
    Existing users are reused and their password is set again, which also repairs users left
    half-created by an interrupted run. ``rate`` caps admin calls per second across all threads.

    Raises ``AuthError`` for problems every user would hit (access denied, unknown pool, password
    policy); a user that still fails after retries is counted in ``report.failed``.
    """
    _check_args(prefix=prefix, rate=rate, concurrency=concurrency, count=count)
    started = time.monotonic()
    report = UsersReport(action="create", user_pool_id=user_pool_id, prefix=prefix, secret_name=secret_name(user_pool_id))
    admin = _Admin(rate=rate, report=report)
    doing = f"creating test users in pool {user_pool_id}"

    pool = _describe_pool(cognito, admin, user_pool_id, doing)
    policy = pool.get("Policies", {}).get("PasswordPolicy", {})
    password, report.secret_created = ensure_password(
        secrets=secrets, user_pool_id=user_pool_id, prefix=prefix, min_length=int(policy.get("MinimumLength") or 12)
    )
    advice = {
        "InvalidPasswordException": "the pool's password policy rejects harness's generated password; delete the secret and run again, or relax the policy",
        "InvalidParameterException": "the pool rejects these usernames or attributes (does it use email addresses as usernames? then pass an email domain)",
        "UserLambdaValidationException": "a pre sign-up Lambda trigger rejected the user",
    }

    def create_one(username: str) -> None:
        kwargs: dict[str, Any] = {
            "UserPoolId": user_pool_id,
            "Username": username,
            "MessageAction": "SUPPRESS",
        }
        if email_domain:
            kwargs["UserAttributes"] = [
                {"Name": "email", "Value": f"{username}@{email_domain}"},
                {"Name": "email_verified", "Value": "true"},
            ]
        try:
            try:
                admin.call(cognito.admin_create_user, **kwargs)
                outcome = "created"
            except ClientError as err:
                if error_code(err) != "UsernameExistsException":
                    raise
                outcome = "reused"
            admin.call(
                cognito.admin_set_user_password,
                UserPoolId=user_pool_id,
                Username=username,
                Password=password,
                Permanent=True,
            )
        except (ClientError, BotoCoreError) as err:
            if is_transient(err):  # still throttled / failing after all retries: count it, go on
                admin.count("failed", username, error_code(err))
                return
            raise explain(err, doing=doing, not_found=_not_found(cognito, user_pool_id), advice=advice) from None
        finally:
            advance()
        admin.count(outcome)

    with _progress_bar(progress, "creating test users", count) as advance:
        run_each(make_usernames(count, prefix), create_one, concurrency=concurrency, name="harness-users")

    report.elapsed = time.monotonic() - started
    log.info("%s", report.summary())
    return report


def ensure_test_users(
    *,
    count: int,
    prefix: str = DEFAULT_PREFIX,
    pool: str,
    region: str | None = None,
    rate: float = 25.0,
    progress: bool = False,
    on_report: Any = None,
    where: str = "",
) -> UsersReport:
    """Create (or reuse) a run's test users, or fail: what ``harness run --local``, ``harness
    users create``, ``locust --local`` and the fan-out's PrepareUsers step do first.

    ``pool`` is a user pool id or ``local`` (the running local stack's); ``region`` defaults to
    the pool's. ``rate`` caps admin calls per second: two per user, under Cognito's default
    quota of 50 user creations per second. ``on_report(report)`` sees the report before a
    failure is raised. AuthError when any user could not be created (``where`` names the place).

        ensure_test_users(count=6, prefix="loadtestuser", pool="local")
    """
    from harness.aws import AwsContext
    from harness.target import resolve_pool

    pool_id, region = resolve_pool(pool, region)
    aws = AwsContext(region=region)
    report = create_users(cognito=aws.client("cognito-idp"), secrets=aws.client("secretsmanager"), user_pool_id=pool_id, count=count,
                          prefix=prefix, rate=rate, progress=progress)  # fmt: skip
    if on_report is not None:
        on_report(report)
    if not report.ok:
        raise AuthError(f"{len(report.failures)} of {count} test users could not be created{where}: {report.summary()}")
    return report


def _list_harness_users(cognito: Any, admin: _Admin, user_pool_id: str, prefix: str, doing: str) -> list[str]:
    pattern = username_pattern(prefix)
    names: list[str] = []
    kwargs: dict[str, Any] = {"UserPoolId": user_pool_id, "Filter": f'username ^= "{prefix}"', "Limit": 60}
    try:
        while True:
            page = admin.call(cognito.list_users, **kwargs)
            names += [u["Username"] for u in page.get("Users", []) if pattern.match(u.get("Username", ""))]
            token = page.get("PaginationToken")
            if not token:
                return names
            kwargs["PaginationToken"] = token
    except (ClientError, BotoCoreError) as err:
        raise explain(err, doing=doing, not_found=_not_found(cognito, user_pool_id)) from None


def delete_users(
    *,
    cognito: Any,
    secrets: Any,
    user_pool_id: str,
    prefix: str = DEFAULT_PREFIX,
    rate: float = 10.0,
    concurrency: int = 8,
    progress: bool = True,
    delete_secret: bool = True,
) -> UsersReport:
    """Delete the users whose name matches ``^<prefix>\\d+$``, then the pool's password secret.

    Other users (``alice``, ``loadtestuserX``) are never touched. The secret is kept when some
    user could not be deleted, so a second run can finish the job.
    """
    _check_args(prefix=prefix, rate=rate, concurrency=concurrency)
    started = time.monotonic()
    report = UsersReport(action="delete", user_pool_id=user_pool_id, prefix=prefix, secret_name=secret_name(user_pool_id))
    admin = _Admin(rate=rate, report=report)
    doing = f"deleting test users in pool {user_pool_id}"

    usernames = _list_harness_users(cognito, admin, user_pool_id, prefix, doing)

    def delete_one(username: str) -> None:
        try:
            admin.call(cognito.admin_delete_user, UserPoolId=user_pool_id, Username=username)
        except (ClientError, BotoCoreError) as err:
            if error_code(err) == "UserNotFoundException":  # gone meanwhile: fine
                advance()
                admin.count("deleted")
                return
            advance()
            if is_transient(err):
                admin.count("failed", username, error_code(err))
                return
            raise explain(err, doing=doing, not_found=_not_found(cognito, user_pool_id)) from None
        advance()
        admin.count("deleted")

    with _progress_bar(progress, "deleting test users", len(usernames)) as advance:
        run_each(usernames, delete_one, concurrency=concurrency, name="harness-users")

    if delete_secret and report.failed == 0:
        report.secret_deleted = delete_password(secrets=secrets, user_pool_id=user_pool_id)
    report.elapsed = time.monotonic() - started
    log.info("%s", report.summary())
    return report
