"""Cognito's own CloudWatch metrics on the local moto server, as a user pool publishes them.

Amazon Cognito publishes user pool activity to the ``AWS/Cognito`` namespace with the
dimensions ``UserPool`` and ``UserPoolClient`` (AWS docs, "User pool metrics in CloudWatch"):

=======================  =================================================================
SignInSuccesses          1 for a sign-in that issued tokens, 0 for one that failed or was
                         throttled (Sum: successes, SampleCount: attempts)
SignInThrottles          1 for a throttled sign-in (``TooManyRequestsException``)
TokenRefreshSuccesses    as SignInSuccesses, for ``REFRESH_TOKEN_AUTH`` / ``REFRESH_TOKEN``
TokenRefreshThrottles    as SignInThrottles, for token refreshes
=======================  =================================================================

moto publishes none of them, so ``cognito.throttles == 0`` had no data locally and "who
throttled" could never name Cognito. ``install()`` (in ``DEFAULT_PATCHES``) wraps moto's
``CognitoIdpResponse.call_action`` outside the ``cognito_throttle`` switch
(``harness.local.cognito_faults``), so a throttled answer from that switch is counted like one
from Cognito. A sign-in step that only answers with a challenge (SRP's first call) is not yet a
sign-in and is not counted; the step that issues the tokens is. As on AWS ("When a user
authentication request is throttled, a count of 1 is published"), a throttles datum exists only
for a throttled request: a run without throttling has no ``SignInThrottles`` data at all, and the
gates read that as 0 only because ``SignInSuccesses`` has data (``gates``' ``cognito_throttle_key``).

Values are tallied per second and written into moto's CloudWatch once a second, with the
pool's account and region, as the local Lambda runtime does for ``AWS/Lambda``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from harness.local.datum import distribution

__all__ = ["NAMESPACE", "OPERATIONS", "install", "record"]

log = logging.getLogger("harness.local.cognito_metrics")

NAMESPACE = "AWS/Cognito"
#: the cognito-idp operations that sign in or refresh tokens
OPERATIONS = ("InitiateAuth", "AdminInitiateAuth", "RespondToAuthChallenge", "AdminRespondToAuthChallenge")
_REFRESH_FLOWS = {"REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"}

# (account, region, pool, client, second, kind, outcome) -> count; kind "SignIn" | "TokenRefresh",
# outcome "ok" | "failed" | "throttled"
_tallies: Counter[tuple[str, str, str, str, int, str, str]] = Counter()
_lock = threading.Lock()
_installed = False
_publisher: threading.Thread | None = None


def record(*, account: str, region: str, pool: str, client: str, kind: str, outcome: str, when: float | None = None) -> None:
    """Count one sign-in (``kind`` ``SignIn``) or token refresh (``TokenRefresh``) that ended
    ``ok``, ``failed`` or ``throttled``; published within a second."""
    second = int(time.time() if when is None else when)
    with _lock:
        _tallies[(account, region, pool, client, second, kind, outcome)] += 1


def flush() -> None:
    """Write what was tallied into moto's CloudWatch, one batch per account and region."""
    from moto.cloudwatch.models import cloudwatch_backends

    global _tallies
    with _lock:
        tallies, _tallies = _tallies, Counter()
    batches: dict[tuple[str, str], list[dict[str, Any]]] = {}
    grouped: dict[tuple[str, str, str, str, int, str], Counter[str]] = {}
    for (account, region, pool, client, second, kind, outcome), n in tallies.items():
        grouped.setdefault((account, region, pool, client, second, kind), Counter())[outcome] += n
    for (account, region, pool, client, second, kind), counts in sorted(grouped.items(), key=lambda kv: kv[0][4]):
        dims = [{"Name": "UserPool", "Value": pool}, {"Name": "UserPoolClient", "Value": client}]
        stamp = datetime.fromtimestamp(second, tz=UTC).replace(tzinfo=None)  # moto: naive UTC
        attempts = counts["ok"] + counts["failed"] + counts["throttled"]
        batch = batches.setdefault((account, region), [])
        batch += distribution(f"{kind}Successes", "Count", dims, stamp, [(1.0, counts["ok"]), (0.0, attempts - counts["ok"])])
        if counts["throttled"]:  # published only for a throttled request, never as 0
            batch += distribution(f"{kind}Throttles", "Count", dims, stamp, [(1.0, counts["throttled"])])
    for (account, region), data in batches.items():
        cloudwatch_backends[account][region].put_metric_data(NAMESPACE, data)


def _publish() -> None:
    while True:
        time.sleep(1.0)
        try:
            flush()
        except Exception:  # never let the publisher die
            log.exception("could not publish Cognito metrics")


def _pool_of(response: Any, client_id: str) -> str | None:
    """The user pool that has app client ``client_id`` (InitiateAuth names only the client)."""
    from moto.cognitoidp.models import cognitoidp_backends

    backends = cognitoidp_backends[response.current_account]
    for region in dict.fromkeys([response.region, *backends.keys()]):
        for pool_id, pool in backends[region].user_pools.items():
            if client_id in pool.clients:
                return str(pool_id)
    return None


def _count(response: Any, action: str, status: int, headers: Any, body: Any) -> None:
    """Record one answer of a sign-in operation (see the module)."""
    client = response._get_param("ClientId")
    if not client:
        return
    pool = response._get_param("UserPoolId") or _pool_of(response, client)
    if not pool:
        return
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    if status >= 400 and "TooManyRequestsException" in f"{(headers or {}).get('x-amzn-ErrorType', '')} {text[:200]}":
        outcome = "throttled"
    elif status >= 400:
        outcome = "failed"
    else:
        try:
            issued = "AuthenticationResult" in json.loads(text or "{}")
        except ValueError:
            issued = False
        if not issued:
            return  # a challenge: the sign-in is not over yet
        outcome = "ok"
    flow = response._get_param("AuthFlow") if action.endswith("InitiateAuth") else None
    kind = "TokenRefresh" if flow in _REFRESH_FLOWS else "SignIn"
    region = pool.split("_", 1)[0] if "_" in pool else response.region  # a pool id starts with its region
    record(account=response.current_account, region=region, pool=pool, client=client, kind=kind, outcome=outcome)


def install() -> None:
    """Publish ``AWS/Cognito`` sign-in metrics from moto's cognito-idp (idempotent)."""
    global _installed, _publisher
    from moto.cognitoidp.responses import CognitoIdpResponse

    from harness.local import cognito_faults

    cognito_faults.install()  # first: its throttled answers must pass through the wrapper below
    with _lock:
        if _installed:
            return
        inner = CognitoIdpResponse.call_action

        def call_action(self: Any) -> Any:
            answer = inner(self)
            action = self._get_action()
            if action in OPERATIONS:
                try:
                    status, headers, body = answer
                    _count(self, action, int(status), headers, body)
                except Exception:  # counting never breaks a sign-in
                    log.exception("could not count a Cognito %s", action)
            return answer

        CognitoIdpResponse.call_action = call_action
        _publisher = threading.Thread(target=_publish, name="cognito-metrics", daemon=True)
        _publisher.start()
        _installed = True
