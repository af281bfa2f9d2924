"""One virtual user's connection to the API: geventhttpclient's ``HTTPClient``, the library under
Locust's ``FastHttpUser``, used without the ``UserAgent`` layer that ``FastHttpSession`` adds.

That layer keeps a cookie jar, follows redirects, parses the URL and builds a compatibility
request object on every call, and wraps the response twice. An API behind API Gateway with a
bearer token needs none of it, and on one core it halves the requests per CPU-second (see
``bench/bench_load.py``). What stays is what a load test must keep: one keep-alive connection
per virtual user (reopened when the server closes it, and a stale keep-alive connection retried
once for idempotent methods), connect and network timeouts, TLS with certificate checks::

    api = ApiClient("https://abc123.execute-api.eu-west-1.amazonaws.com/prod", network_timeout=30)
    response, length = api.send("GET", "/items", {"Authorization": "Bearer ..."}, None)
    response.status_code   # 200; the body was read (its length is ``length``) and discarded

Transport failures raise (``OSError`` for refused, reset and timed-out connections,
``HTTPParseError`` for a broken answer); the caller records them. A request the client refuses
to build (an invalid URI or header value: geventhttpclient's ``ValueError``, raised before any
byte is written) raises ``RequestNotSent``: nothing reached the API, so it is not a transport error.
"""

from __future__ import annotations

from typing import Any

from geventhttpclient import HTTPClient
from geventhttpclient.url import URL

from harness.errors import RequestNotSent

__all__ = ["ApiClient"]


class ApiClient:
    """A keep-alive HTTP/1.1 connection to ``base_url`` (whose path, such as a REST API's
    stage, prefixes every request path)."""

    def __init__(
        self,
        base_url: str,
        *,
        connection_timeout: float = 10.0,
        network_timeout: float = 30.0,
        insecure: bool = False,
        user_agent: str | None = None,
    ) -> None:
        url = URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.prefix = url.path.rstrip("/")
        headers = {"User-Agent": user_agent} if user_agent else None
        self._http = HTTPClient(
            url.host,
            port=url.port,
            ssl=url.scheme == "https",
            insecure=insecure,
            concurrency=1,  # one virtual user sends one request at a time
            connection_timeout=connection_timeout,
            network_timeout=network_timeout,
            headers=headers,
        )

    def send(self, method: str, path: str, headers: dict[str, str] | None, body: str | None) -> tuple[Any, int]:
        """Send one request and read the whole answer: (the response, its body length)."""
        try:
            response = self._http.request(method, self.prefix + path, body=body, headers=headers)
        except ValueError as exc:  # the request line or a header was refused before sending
            raise RequestNotSent(f"{method} {path}: the HTTP client could not send it ({exc}); nothing was sent") from None
        try:
            length = len(response.read())
        finally:
            response.release()  # back to the pool for the next request (a no-op once read)
        return response, length

    def close(self) -> None:
        self._http.close()
