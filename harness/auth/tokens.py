"""The token pool: one signed-in Cognito identity per test user, refreshed before it expires.

    pool = TokenPool(cognito=ctx.client("cognito-idp"), user_pool_id=pool_id, client_id=client_id,
                     usernames=make_usernames(100), password=get_password(secrets=..., user_pool_id=pool_id))
    pool.login_all()                 # sign everyone in up front, at most login_rate per second
    pool.start_refresher()           # refresh in the background so requests rarely wait
    headers = {"Authorization": pool.token(i)}   # virtual user i uses identity i % len(pool)
    ...on a 401: token = pool.refresh(i, stale=token); retry once
    pool.close()

Tokens are minted once per identity and refreshed with the refresh token (``REFRESH_TOKEN_AUTH``),
never per request, which keeps Cognito's UserAuthentication quota out of the measurement.
Thread-safe (a lock per identity, a lock-free fast path) and gevent-friendly: only ``threading``
and ``time``. Tokens, refresh tokens and the password never appear in logs, errors or reprs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

import jwt
from botocore.exceptions import BotoCoreError, ClientError
from pycognito.aws_srp import AWSSRP
from pycognito.exceptions import ForceChangePasswordException, MFAChallengeException

from harness.auth.backoff import Backoff, error_code, is_throttling, is_transient
from harness.auth.explain import ACCESS_DENIED_CODES, CREDENTIAL_ERROR_CODES, explain, iam_action
from harness.auth.ratelimit import RateLimiter
from harness.auth.workers import run_each
from harness.errors import AuthError, LoginFailed

__all__ = ["Flow", "Identity", "TokenPool"]

log = logging.getLogger(__name__)

Flow = Literal["admin", "srp"]
_FLOWS = ("admin", "srp")
_LOGIN_BACKOFF = Backoff(base=0.25, cap=10.0, attempts=8)
# Errors every identity would hit: stop login_all at the first one.
_GLOBAL_CODES = ACCESS_DENIED_CODES | CREDENTIAL_ERROR_CODES | {"ResourceNotFoundException"}
_STILL_GOOD = 10.0  # seconds: a token with more left than this is used while a refresh is under way


class _Tokens:
    """One sign-in's tokens plus when to refresh them. Immutable; replaced as a whole."""

    __slots__ = ("access", "id", "refresh", "subject", "expires_at", "refresh_at")

    def __init__(self, *, access: str, id: str, refresh: str | None, subject: str, expires_at: float, refresh_at: float) -> None:
        self.access = access
        self.id = id
        self.refresh = refresh
        self.subject = subject  # the token's username claim, for SECRET_HASH on refresh
        self.expires_at = expires_at
        self.refresh_at = refresh_at

    def __repr__(self) -> str:
        return f"<tokens expiring at {self.expires_at:.0f}>"

    def retry_later(self, refresh_at: float) -> _Tokens:
        """The same tokens, due for refresh at ``refresh_at`` instead."""
        return _Tokens(
            access=self.access,
            id=self.id,
            refresh=self.refresh,
            subject=self.subject,
            expires_at=self.expires_at,
            refresh_at=refresh_at,
        )


class Identity:
    """One test user's sign-in state. ``repr`` shows the username and expiry, never a token."""

    __slots__ = ("index", "username", "lock", "tokens")

    def __init__(self, index: int, username: str) -> None:
        self.index = index
        self.username = username
        self.lock = threading.Lock()
        self.tokens: _Tokens | None = None

    @property
    def signed_in(self) -> bool:
        return self.tokens is not None

    def __repr__(self) -> str:
        tokens = self.tokens
        if tokens is None:
            return f"<Identity {self.index} {self.username}: signed out>"
        left = tokens.expires_at - time.time()
        return f"<Identity {self.index} {self.username}: signed in, expires in {left:.0f} s>"


class TokenPool:
    """Signed-in identities for ``usernames``; ``token(i)`` is identity ``i % n``'s access token.

    ``flow``: ``"admin"`` (``AdminInitiateAuth`` with ``ADMIN_USER_PASSWORD_AUTH``; needs IAM
    credentials allowed ``cognito-idp:AdminInitiateAuth``) or ``"srp"`` (the SRP exchange
    browsers and mobile apps use, via pycognito; needs no IAM permission).
    ``refresh_margin``: refresh when a token has fewer seconds than this left (if a token lives
    shorter than the margin, half its lifetime is used instead).
    ``login_rate``: sign-ins and refreshes per second, across all threads.
    ``client_secret``: only for app clients that have one (sends ``SECRET_HASH``).
    ``clock``: wall-clock seconds (``time.time``); tests inject one to make expiry near.
    """

    def __init__(
        self,
        *,
        cognito: Any,
        user_pool_id: str,
        client_id: str,
        usernames: Sequence[str],
        password: str,
        flow: Flow = "admin",
        refresh_margin: float = 300.0,
        login_rate: float | None = 20.0,
        region: str | None = None,
        client_secret: str | None = None,
        backoff: Backoff | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if flow not in _FLOWS:
            raise AuthError(f"unknown sign-in flow {flow!r}; use one of {', '.join(_FLOWS)}")
        if not usernames:
            raise AuthError("the token pool needs at least one username; run `harness users create` first")
        if refresh_margin < 0:
            raise AuthError(f"refresh_margin must be 0 or more seconds, not {refresh_margin}")
        self._cognito = cognito
        self.user_pool_id = user_pool_id
        self.client_id = client_id
        self.flow: Flow = flow
        self.refresh_margin = float(refresh_margin)
        self.region = region or getattr(getattr(cognito, "meta", None), "region_name", None) or user_pool_id.split("_")[0]
        self._password = password
        self._client_secret = client_secret
        self._identities = [Identity(i, name) for i, name in enumerate(usernames)]
        self._limiter = RateLimiter(login_rate)
        self._backoff = backoff or _LOGIN_BACKOFF
        self._clock = clock
        self._counts = {"logins": 0, "refreshes": 0, "login_failures": 0, "refresh_failures": 0, "throttle_retries": 0}
        self._counts_lock = threading.Lock()
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

    # ----------------------------------------------------------------- introspection

    def __repr__(self) -> str:
        signed_in = sum(1 for ident in self._identities if ident.signed_in)
        return f"<TokenPool {self.user_pool_id} flow={self.flow} identities={len(self)} signed_in={signed_in} logins={self.logins} refreshes={self.refreshes}>"

    def __len__(self) -> int:
        return len(self._identities)

    def __enter__(self) -> TokenPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def usernames(self) -> list[str]:
        return [ident.username for ident in self._identities]

    def identity(self, i: int) -> Identity:
        """Identity ``i % len(pool)`` (its repr is safe to log)."""
        return self._identities[i % len(self._identities)]

    def username(self, i: int) -> str:
        return self.identity(i).username

    @property
    def logins(self) -> int:
        """Successful sign-ins (first logins and re-logins after a failed refresh)."""
        return self._counts["logins"]

    @property
    def refreshes(self) -> int:
        """Successful ``REFRESH_TOKEN_AUTH`` calls."""
        return self._counts["refreshes"]

    @property
    def login_failures(self) -> int:
        """Sign-ins that raised ``LoginFailed``."""
        return self._counts["login_failures"]

    @property
    def refresh_failures(self) -> int:
        """Refreshes Cognito refused (the identity then signs in again)."""
        return self._counts["refresh_failures"]

    @property
    def throttle_retries(self) -> int:
        """Sign-in or refresh calls retried because Cognito throttled them."""
        return self._counts["throttle_retries"]

    def stats(self) -> dict[str, int]:
        """All counters at once: logins, refreshes, login_failures, refresh_failures, throttle_retries."""
        with self._counts_lock:
            return dict(self._counts)

    def _count(self, name: str) -> None:
        with self._counts_lock:
            self._counts[name] += 1

    def _now(self) -> float:
        return (self._clock or time.time)()

    # ----------------------------------------------------------------- public API

    def login_all(self, *, concurrency: int = 8) -> int:
        """Sign in every identity not signed in yet; returns how many were signed in now.

        Raises ``LoginFailed`` (the first failure) and stops the other workers.
        """
        todo = [ident for ident in self._identities if not ident.signed_in]
        before = self.logins

        def login_one(ident: Identity) -> None:
            with ident.lock:
                if ident.tokens is None:
                    self._login_locked(ident)

        run_each(todo, login_one, concurrency=concurrency, name="harness-login")
        signed = self.logins - before
        log.info("signed in %d identities to pool %s (%s flow)", signed, self.user_pool_id, self.flow)
        return signed

    def token(self, i: int) -> str:
        """Identity ``i % n``'s access token: signs in lazily, refreshes when close to expiry."""
        return self._current(self.identity(i)).access

    def id_token(self, i: int) -> str:
        """Identity ``i % n``'s ID token (what an API Gateway Cognito authorizer without scopes expects)."""
        return self._current(self.identity(i)).id

    def refresh(self, i: int, *, stale: str | None = None) -> str:
        """Refresh identity ``i % n`` now and return its new access token (after a 401).

        With ``stale`` (the token the server refused), nothing is done if another caller already
        replaced that token: many virtual users sharing an identity cause one refresh, not many.
        """
        ident = self.identity(i)
        with ident.lock:
            tokens = ident.tokens
            if stale is not None and tokens is not None and stale not in (tokens.access, tokens.id):
                return tokens.access
            if tokens is None:
                return self._login_locked(ident).access
            return self._refresh_locked(ident, forced=True).access

    def start_refresher(self, *, interval: float = 5.0) -> None:
        """Refresh signed-in identities in a background thread, ahead of ``token()``.

        Every ``interval`` seconds, identities within ``refresh_margin + 2 * interval`` of expiry
        are refreshed. Errors are logged (username and error code) and retried next round.
        """
        if self._refresher is not None and self._refresher.is_alive():
            return
        self._stop.clear()
        interval = max(0.01, float(interval))
        self._refresher = threading.Thread(target=self._refresh_loop, args=(interval,), name="harness-token-refresher", daemon=True)
        self._refresher.start()

    def close(self) -> None:
        """Stop the background refresher (tokens stay usable)."""
        self._stop.set()
        thread, self._refresher = self._refresher, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10.0)

    # ----------------------------------------------------------------- internals

    def _current(self, ident: Identity) -> _Tokens:
        tokens = ident.tokens
        now = self._now()
        if tokens is not None and now < tokens.refresh_at:
            return tokens  # fast path: no lock
        still_good = tokens is not None and now < tokens.expires_at - _STILL_GOOD
        if still_good and self._refresher is not None and self._refresher.is_alive():
            return tokens  # type: ignore[return-value]  # the refresher renews it; never wait on Cognito here
        if not ident.lock.acquire(blocking=not still_good):
            # someone is refreshing it (backing off while Cognito throttles): the current
            # token is still good, so never wait for the new one
            return tokens  # type: ignore[return-value]
        try:
            tokens = ident.tokens
            if tokens is None:
                return self._login_locked(ident)
            if self._now() < tokens.refresh_at:
                return tokens  # someone refreshed while we waited
            return self._refresh_locked(ident)
        finally:
            ident.lock.release()

    def _refresh_loop(self, interval: float) -> None:
        lead = 2.0 * interval
        while not self._stop.wait(interval):
            for ident in self._identities:
                if self._stop.is_set():
                    return
                tokens = ident.tokens
                if tokens is None or self._now() < tokens.refresh_at - lead:
                    continue
                try:
                    with ident.lock:
                        current = ident.tokens
                        if current is tokens:  # nobody refreshed it meanwhile
                            self._refresh_locked(ident)
                except AuthError as err:
                    log.warning("background refresh: %s", err)
                except Exception as err:  # keep the refresher alive, never log secrets
                    log.warning("background refresh of %s failed: %s", ident.username, type(err).__name__)

    def _call(self, fn: Callable[[], Any]) -> Any:
        """One Cognito auth call: rate-capped and retried with backoff on throttling/5xx."""

        def attempt() -> Any:
            self._limiter.acquire()
            return fn()

        def on_retry(attempt_no: int, delay: float, err: BaseException) -> None:
            if is_throttling(err):
                self._count("throttle_retries")
            log.debug("Cognito %s; retry %d in %.2f s", error_code(err), attempt_no + 1, delay)

        return self._backoff.retry(attempt, retry_if=is_transient, on_retry=on_retry)

    def _secret_hash(self, username: str) -> dict[str, str]:
        if not self._client_secret:
            return {}
        return {"SECRET_HASH": AWSSRP.get_secret_hash(username, self.client_id, self._client_secret)}

    def _login_locked(self, ident: Identity) -> _Tokens:
        """Sign ``ident`` in (its lock held). Raises ``LoginFailed`` without any secret in it."""
        try:
            if self.flow == "admin":
                response = self._call(
                    lambda: self._cognito.admin_initiate_auth(
                        UserPoolId=self.user_pool_id,
                        ClientId=self.client_id,
                        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                        AuthParameters={
                            "USERNAME": ident.username,
                            "PASSWORD": self._password,
                            **self._secret_hash(ident.username),
                        },
                    )
                )
            else:
                response = self._call(
                    lambda: AWSSRP(
                        username=ident.username,
                        password=self._password,
                        pool_id=self.user_pool_id,
                        client_id=self.client_id,
                        client=self._cognito,
                        client_secret=self._client_secret,
                    ).authenticate_user()
                )
        except (ClientError, BotoCoreError) as err:
            self._count("login_failures")
            raise self._login_failed(ident, err) from None
        except ForceChangePasswordException:
            self._count("login_failures")
            raise self._failed(ident, "NEW_PASSWORD_REQUIRED", "run `harness users create` again to set it") from None
        except MFAChallengeException:
            self._count("login_failures")
            raise self._failed(ident, "MFA challenge", "test users must not need MFA; turn it off or make it optional") from None
        except NotImplementedError:
            self._count("login_failures")
            raise self._failed(ident, "unsupported challenge", "test users need plain password sign-in") from None

        challenge = response.get("ChallengeName")
        if challenge or "AuthenticationResult" not in response:
            self._count("login_failures")
            hint = {
                "NEW_PASSWORD_REQUIRED": "run `harness users create` again to set a permanent password",
                "SMS_MFA": "test users must not need MFA",
                "SOFTWARE_TOKEN_MFA": "test users must not need MFA",
                "MFA_SETUP": "test users must not need MFA",
            }.get(str(challenge), "test users need plain password sign-in")
            raise self._failed(ident, f"challenge {challenge}", hint)

        tokens = self._store(ident, response["AuthenticationResult"], previous=None)
        self._count("logins")
        log.debug("signed in %s", ident.username)
        return tokens

    def _refresh_locked(self, ident: Identity, *, forced: bool = False) -> _Tokens:
        """Refresh ``ident``'s tokens (its lock held); sign in again if Cognito refuses the refresh token.

        When Cognito is throttling or failing and the old token has not expired yet (and the
        refresh was not ``forced`` by a 401), the old token is kept and the refresh tried later.
        """
        previous = ident.tokens
        if previous is None or not previous.refresh:
            return self._login_locked(ident)
        try:
            response = self._call(
                lambda: self._cognito.initiate_auth(
                    ClientId=self.client_id,
                    AuthFlow="REFRESH_TOKEN_AUTH",
                    AuthParameters={"REFRESH_TOKEN": previous.refresh, **self._secret_hash(previous.subject)},
                )
            )
        except (ClientError, BotoCoreError) as err:
            code = error_code(err)
            if code in _GLOBAL_CODES or is_transient(err) or not isinstance(err, ClientError):
                self._count("refresh_failures")
                if not forced and code not in _GLOBAL_CODES and previous.expires_at > self._now() + 5.0:
                    log.warning("refresh of %s failed (%s); keeping its current token", ident.username, code)
                    now = self._now()
                    ident.tokens = previous.retry_later(min(now + 30.0, (now + previous.expires_at) / 2.0))
                    return ident.tokens
                raise self._login_failed(ident, err, refreshing=True) from None
            # NotAuthorized (expired/revoked refresh token), rotation-only client, ...: sign in again
            self._count("refresh_failures")
            log.info("refresh of %s refused (%s); signing in again", ident.username, code)
            return self._login_locked(ident)
        result = response.get("AuthenticationResult")
        if not result:
            self._count("refresh_failures")
            return self._login_locked(ident)
        tokens = self._store(ident, result, previous=previous)
        self._count("refreshes")
        log.debug("refreshed %s", ident.username)
        return tokens

    def _store(self, ident: Identity, result: dict[str, Any], *, previous: _Tokens | None) -> _Tokens:
        access = result["AccessToken"]
        id_token = result.get("IdToken") or (previous.id if previous else "")
        claims = _claims(access)
        now = self._now()
        expires_at = float(claims.get("exp") or now + float(result.get("ExpiresIn") or 3600))
        issued_at = float(claims.get("iat") or now)
        lifetime = max(0.0, expires_at - issued_at)
        margin = self.refresh_margin if self.refresh_margin < lifetime else lifetime / 2.0
        tokens = _Tokens(
            access=access,
            id=id_token,
            # Cognito returns a new refresh token only with refresh-token rotation.
            refresh=result.get("RefreshToken") or (previous.refresh if previous else None),
            subject=str(claims.get("username") or ident.username),
            expires_at=expires_at,
            refresh_at=expires_at - margin,
        )
        ident.tokens = tokens
        return tokens

    def _failed(self, ident: Identity, what: str, hint: str) -> LoginFailed:
        return LoginFailed(f"{ident.username} could not sign in to pool {self.user_pool_id}: {what} ({hint})")

    def _login_failed(self, ident: Identity, err: BaseException, *, refreshing: bool = False) -> LoginFailed:
        """A one-line ``LoginFailed`` built from the error code only (messages may echo secrets)."""
        code = error_code(err)
        verb = "refresh its tokens in" if refreshing else "sign in to"
        prefix = f"{ident.username} could not {verb} pool {self.user_pool_id}"
        if code is None:  # botocore-side: no credentials, endpoint unreachable, ...
            return LoginFailed(str(explain(err, doing=prefix)))
        message = err.response.get("Error", {}).get("Message", "") if isinstance(err, ClientError) else ""
        lowered = str(message).lower()
        flow_name = {"admin": "ALLOW_ADMIN_USER_PASSWORD_AUTH", "srp": "ALLOW_USER_SRP_AUTH"}[self.flow]
        if refreshing:
            flow_name = "ALLOW_REFRESH_TOKEN_AUTH"
        if code in ("NotAuthorizedException", "InvalidParameterException") and "flow" in lowered and "not" in lowered:
            hint = f"enable {flow_name} on app client {self.client_id}"
        elif code in ("NotAuthorizedException", "InvalidParameterException") and "secret" in lowered:
            hint = f"app client {self.client_id} has a client secret; pass it as client_secret"
        elif code == "NotAuthorizedException" and "disabled" in lowered:
            hint = "the user is disabled; enable it or run `harness users delete` and `harness users create`"
        elif code == "NotAuthorizedException":
            hint = "password wrong? run `harness users create` again"
        elif code == "UserNotFoundException":
            hint = "no such user; run `harness users create` with a large enough count"
        elif code in ("UserNotConfirmedException", "PasswordResetRequiredException"):
            hint = "run `harness users create` again to confirm the user and set its password"
        elif code == "ResourceNotFoundException":
            hint = f"user pool or app client {self.client_id} not found in {self.region}; check both ids and AWS_REGION"
        elif code in ACCESS_DENIED_CODES:
            action = iam_action(err, "cognito-idp") if isinstance(err, ClientError) else "cognito-idp access"
            hint = f"grant {action} to the identity running harness, or use the srp flow"
        elif code in CREDENTIAL_ERROR_CODES:
            hint = "AWS rejected the credentials; refresh or fix them"
        elif is_throttling(err):
            hint = f"still throttled after {self._backoff.attempts} attempts; lower login_rate or ask AWS for a higher UserAuthentication quota"
        elif code == "InvalidParameterException":
            hint = f"check app client {self.client_id}'s auth flows ({flow_name}) and client secret"
        else:
            hint = "see the pool's settings"
        return LoginFailed(f"{prefix}: {code} ({hint})")


def _claims(token: str) -> dict[str, Any]:
    """A JWT's claims, unverified: only to read ``exp``/``iat``/``username`` (the API verifies)."""
    try:
        return dict(jwt.decode(token, options={"verify_signature": False}))
    except jwt.PyJWTError:
        return {}
