"""The virtual user: a ``FastHttpUser`` that waits for the pacer, picks an endpoint by weight,
sends it with the user's Cognito access token, classifies and records the outcome, and fires
Locust's request event (so Locust's statistics, web UI, CSV and HTML see every request).

Scenario requests go through ``ApiClient`` (geventhttpclient's ``HTTPClient``, one keep-alive
connection per user) rather than ``self.client``'s ``FastHttpSession``: same library, without
the cookie jar, redirects and per-request URL parsing, at twice the requests per CPU-second.
``self.client`` stays available to subclasses that add their own tasks.

A 401 triggers one token refresh and one retry (both requests are recorded: the server saw
both). The token goes only into the ``Authorization`` header, never into names or logs.
"""

from __future__ import annotations

import time

import gevent
from locust import task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import CatchResponseError
from locust.user.users import LOCUST_STATE_STOPPING

import harness
from harness.errors import HarnessError
from harness.load.http import ApiClient
from harness.load.request import RequestTemplate

__all__ = ["HarnessUser"]

class HarnessUser(FastHttpUser):
    """One virtual user of the open model. Its pacing comes from the process's pacer."""

    host = "http://127.0.0.1"  # replaced by the scenario's target when the run initialises
    network_timeout = 30.0
    connection_timeout = 10.0
    insecure = False  # check TLS certificates (FastHttpUser's default skips the check)
    # Pacing is the pacer's job: the task waits on it, so no wait time here.
    wait_time = staticmethod(lambda: 0)

    def on_start(self) -> None:
        session = self.environment.harness_session
        self.session = session
        self.vu = session.vus_started
        session.vus_started += 1
        self.identity = session.identity_for(self.vu)
        self.username = session.scenario.auth.username(self.identity) if session.scenario.auth else f"vu{self.vu}"
        self.auth_header: str | None = None
        self._token: str | None = None
        self._header_cache: dict[RequestTemplate, tuple[str | None, dict[str, str]]] = {}
        self.api = ApiClient(
            self.host,
            connection_timeout=self.connection_timeout,
            network_timeout=self.network_timeout,
            insecure=self.insecure,
            user_agent=f"harness/{harness.__version__}",
        )
        self._fire = self.environment.events.request.fire
        if session.tokens is not None:
            try:
                self._use_token(session.tokens.token(self.identity))
            except HarnessError as exc:
                session.fail(str(exc))
        session.vus_ready += 1

    def on_stop(self) -> None:
        api = getattr(self, "api", None)
        if api is not None:
            api.close()

    def _use_token(self, token: str) -> None:
        if token is not self._token:
            self._token = token
            self.auth_header = "Bearer " + token

    @task
    def iterate(self) -> None:
        """Run iterations as the pacer releases them, until the plan is over or Locust stops
        this user. One task call loops over many iterations: Locust's per-task bookkeeping and
        its wait (a ``gevent.sleep(0)`` each time) would be pure overhead, as ``acquire()``
        already waits. A graceful stop (``stopping``) ends the loop after the current request."""
        session = self.session
        while self._state != LOCUST_STATE_STOPPING:
            pacer = session.pacer
            if pacer is None or session.done.is_set():
                gevent.sleep(0.1)
                return
            ticket = pacer.acquire()
            if ticket is None:
                gevent.sleep(0.1)  # the plan is over; the shape stops the run
                return
            self.call(session.pick())

    def _headers(self, template: RequestTemplate) -> dict[str, str]:
        """The template's headers plus this user's token; built once per template and token
        (the HTTP client copies it into the request, so it is safe to reuse)."""
        cached = self._header_cache.get(template)
        if cached is not None and cached[0] is self.auth_header:
            return cached[1]
        headers = dict(template.headers) if template.headers else {}
        if self.auth_header is not None:
            headers["Authorization"] = self.auth_header
        self._header_cache[template] = (self.auth_header, headers)
        return headers

    def call(self, template: RequestTemplate) -> None:
        session = self.session
        tokens = session.tokens
        path, body = template.render(user=self.username, vu=self.vu, rng=session.rng)
        session.in_flight += 1
        try:
            if tokens is not None:
                # the pool's current token: its refresher renews tokens before they expire
                try:
                    self._use_token(tokens.token(self.identity))
                except HarnessError:
                    pass  # keep the old one; a 401 below refreshes once more
            status = self._send(template, path, body)
            if status == 401 and tokens is not None:
                try:
                    # one refresh per refused token, however many users share the identity
                    self._use_token(tokens.refresh(self.identity, stale=self._token))
                except HarnessError:
                    return  # the 401 is already recorded as an auth outcome
                self._send(template, path, body)
        finally:
            session.in_flight -= 1

    def _send(self, template: RequestTemplate, path: str, body: str | None) -> int:
        """Send one request, record its outcome and fire Locust's request event; its status
        (0 when there was no answer)."""
        response = exception = None
        status = length = 0
        start_time = time.time()
        began = time.perf_counter()
        try:
            response, length = self.api.send(template.method, path, self._headers(template), body)
            status = response.status_code
        except Exception as exc:  # refused, reset, timed out, a broken answer: no response
            exception = exc
        response_time = (time.perf_counter() - began) * 1000
        self.session.record(template, status, exception, start_time, response_time)
        if exception is None and status not in template.expect:
            exception = CatchResponseError(f"HTTP {status}")  # a failure in Locust's statistics
        self._fire(
            request_type=template.method,
            name=template.name,
            response_time=response_time,
            response_length=length,
            response=response,
            context=self.context(),
            exception=exception,
            start_time=start_time,
            url=path,
        )
        return status
