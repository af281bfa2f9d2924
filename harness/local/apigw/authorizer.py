"""A Cognito JWT authorizer that checks tokens the way an HTTP API's JWT authorizer does.

For a request it takes the ``Authorization`` header (the token alone or ``Bearer <token>``) and
checks, in order: the header's ``alg`` (RS256) and ``kid``; the signature against the pool's JWKS
(fetched from ``jwks_url``, keys cached by ``kid``, fetched again for an unknown ``kid`` at most
every few seconds); ``iss``; ``token_use`` (``access`` or ``id``, when present); the audience
(``aud``, or ``client_id`` when there is no ``aud``) against ``audience`` when that is not empty;
``exp``, ``nbf`` and ``iat``. Route scopes (``scope`` or ``scp``) are checked per request.

A verified token is cached (token -> grant) until its ``exp`` or ``cache_seconds``, whichever
comes first, so a token seen before costs one dict lookup. A rejected token is remembered for a
second, so a flood of bad tokens costs no RSA work either.

    auth = JwtAuthorizer(config.authorizer)
    await auth.start()                              # fetches the JWKS (best effort)
    grant = auth.lookup(header, time.time()) or await auth.verify(header, time.time())
    if isinstance(grant, Denial): ...               # 401
    elif not grant.allows(auth.route_scopes.get(route)):  # 403
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
from jwt.algorithms import RSAAlgorithm

from .config import AuthorizerConfig, is_number

__all__ = ["JwtAuthorizer", "Grant", "Denial"]

log = logging.getLogger(__name__)

_ALGORITHMS = ("RS256",)
_TOKEN_USES = frozenset({"access", "id"})
_SKEW = 5.0  # seconds of clock skew tolerated for nbf and iat (never for exp)
_REFETCH_INTERVAL = 5.0  # at most one JWKS fetch per this many seconds for unknown kids
_RETRY_INTERVAL = 1.0  # ... or per this many after a failed fetch
_FETCH_TIMEOUT = 5.0
_MAX_CACHED = 100_000
_DENIAL_TTL = 1.0


class Grant:
    """A verified token: its claims, its scopes and until when the grant may be reused."""

    __slots__ = ("claims", "scopes", "until")

    def __init__(self, claims: dict[str, Any], scopes: frozenset[str], until: float) -> None:
        self.claims = claims
        self.scopes = scopes
        self.until = until

    def allows(self, required: frozenset[str] | None) -> bool:
        """Whether the token holds one of ``required`` (None or empty: no scopes required)."""
        return not required or not self.scopes.isdisjoint(required)


@dataclass(frozen=True, slots=True)
class Denial:
    """A rejected token; ``reason`` goes into the ``www-authenticate`` header."""

    reason: str
    until: float = 0.0

    @property
    def www_authenticate(self) -> str:
        return f'Bearer scope="" error="invalid_token" error_description="{self.reason}"'


_MISSING = Denial("the token is missing")


class JwtAuthorizer:
    """Verifies Cognito JWTs against one user pool; see the module docstring."""

    def __init__(self, config: AuthorizerConfig, *, session: aiohttp.ClientSession | None = None) -> None:
        self.config = config
        self.issuer = config.resolved_issuer()
        self.audience = frozenset(config.audience)
        self.route_scopes: dict[str, frozenset[str]] = {route: frozenset(scopes) for route, scopes in config.route_scopes.items() if scopes}
        self.cache_seconds = config.cache_seconds
        self._session = session
        self._own_session = session is None
        self._keys: dict[str, Any] = {}
        self._cache: dict[str, Grant | Denial] = {}
        self._fetching: asyncio.Future[None] | None = None
        self._last_fetch = float("-inf")
        self._last_fetch_ok = False
        self._jws = jwt.PyJWS()
        self.stats = {"verified": 0, "denied": 0, "jwks_fetches": 0, "jwks_errors": 0}

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Fetch the signing keys once; a failure is logged and retried on the first request."""
        await self._refresh()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    # -- the hot path --------------------------------------------------------------------------

    def lookup(self, header: str | None, now: float) -> Grant | Denial | None:
        """The cached verdict for an ``Authorization`` header, or None when it must be verified."""
        if not header:
            return _MISSING
        entry = self._cache.get(header)
        if entry is not None and now < entry.until:
            return entry
        return None

    async def verify(self, header: str | None, now: float) -> Grant | Denial:
        """Verify a token (fetching keys if needed) and cache the verdict."""
        if not header:
            return _MISSING
        result = await self._verify(header, now)
        if isinstance(result, Denial):
            self.stats["denied"] += 1
        else:
            self.stats["verified"] += 1
        if len(self._cache) >= _MAX_CACHED:
            self._evict(now)
        self._cache[header] = result
        return result

    # -- verification --------------------------------------------------------------------------

    async def _verify(self, header: str, now: float) -> Grant | Denial:
        token = header.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        deny_until = now + _DENIAL_TTL
        if not token:
            return Denial("the token is missing", deny_until)
        try:
            unverified = self._jws.get_unverified_header(token)
        except jwt.PyJWTError:
            return Denial("the token is not a valid JWT", deny_until)
        if unverified.get("alg") not in _ALGORITHMS:
            return Denial("the token's algorithm is not supported", deny_until)
        kid = unverified.get("kid")
        if not isinstance(kid, str) or not kid:
            return Denial("the token has no kid", deny_until)
        key = self._keys.get(kid)
        if key is None:
            await self._refresh(kid)
            key = self._keys.get(kid)
            if key is None:
                return Denial(f"no signing key with kid {kid}", deny_until)
        try:
            decoded = self._jws.decode_complete(token, key, algorithms=list(_ALGORITHMS))
            claims = json.loads(decoded["payload"])
        except (jwt.PyJWTError, ValueError):
            return Denial("the token's signature is invalid", deny_until)
        if not isinstance(claims, dict):
            return Denial("the token's payload is not a JSON object", deny_until)
        return self._check_claims(claims, now, deny_until)

    def _check_claims(self, claims: dict[str, Any], now: float, deny_until: float) -> Grant | Denial:
        if claims.get("iss") != self.issuer:
            return Denial("the token does not have a valid issuer", deny_until)
        token_use = claims.get("token_use")
        if token_use is not None and token_use not in _TOKEN_USES:
            return Denial("the token_use is neither access nor id", deny_until)
        if self.audience:
            # Like API Gateway: ``aud`` when present, else ``client_id``.
            aud = claims["aud"] if "aud" in claims else claims.get("client_id")
            auds = aud if isinstance(aud, list) else [aud]
            if not any(isinstance(a, str) and a in self.audience for a in auds):
                return Denial("the token does not have a valid audience", deny_until)
        exp = claims.get("exp")
        if not is_number(exp):
            return Denial("the token has no valid exp", deny_until)
        if now >= exp:
            return Denial("the token has expired", deny_until)
        nbf = claims.get("nbf")
        if nbf is not None and (not is_number(nbf) or nbf > now + _SKEW):
            return Denial("the token is not valid yet (nbf)", deny_until)
        iat = claims.get("iat")
        if iat is not None and (not is_number(iat) or iat > now + _SKEW):
            return Denial("the token was issued in the future (iat)", deny_until)
        return Grant(claims, _scopes(claims), min(float(exp), now + self.cache_seconds))

    # -- keys ----------------------------------------------------------------------------------

    async def _refresh(self, kid: str | None = None) -> None:
        """Fetch the JWKS unless one fetch is running (then wait for it) or one ran lately."""
        if self._fetching is not None:
            await asyncio.shield(self._fetching)
            return
        interval = _REFETCH_INTERVAL if self._last_fetch_ok else _RETRY_INTERVAL
        if kid is not None and time.monotonic() - self._last_fetch < interval:
            return
        loop = asyncio.get_running_loop()
        self._fetching = loop.create_future()
        try:
            await self._fetch()
        finally:
            self._fetching.set_result(None)
            self._fetching = None

    async def _fetch(self) -> None:
        self._last_fetch = time.monotonic()
        self._last_fetch_ok = False
        self.stats["jwks_fetches"] += 1
        url = self.config.jwks_url
        try:
            if self._session is None:
                self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=_FETCH_TIMEOUT))
            async with self._session.get(url) as response:
                response.raise_for_status()
                body = await response.json(content_type=None)
            keys = {}
            for jwk in body.get("keys", []):
                if jwk.get("kty") == "RSA" and jwk.get("kid"):
                    keys[jwk["kid"]] = RSAAlgorithm.from_jwk(jwk)
        except (TimeoutError, aiohttp.ClientError, ValueError, AttributeError, jwt.PyJWTError) as exc:
            self.stats["jwks_errors"] += 1
            log.warning("could not fetch the JWKS from %s (%s); tokens fail until it can be fetched", url, exc)
            return
        self._keys.update(keys)
        self._last_fetch_ok = True

    def _evict(self, now: float) -> None:
        for token in [t for t, e in self._cache.items() if e.until <= now]:
            del self._cache[token]
        while len(self._cache) >= _MAX_CACHED:
            del self._cache[next(iter(self._cache))]


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    scope = claims.get("scope", claims.get("scp"))
    if isinstance(scope, str):
        return frozenset(scope.split())
    if isinstance(scope, list):
        return frozenset(s for s in scope if isinstance(s, str))
    return frozenset()
