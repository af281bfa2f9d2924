"""The virtual user: a ``FastHttpUser`` that waits for the pacer, picks an endpoint by weight,
sends it with the user's Cognito access token, classifies and records the outcome, and fires
Locust's request event (so Locust's statistics, web UI, CSV and HTML see every request).

Scenario requests go through ``ApiClient`` (geventhttpclient's ``HTTPClient``, one keep-alive
connection per user) rather than ``self.client``'s ``FastHttpSession``: same library, without
the cookie jar, redirects and per-request URL parsing, at twice the requests per CPU-second.
``self.client`` stays available to subclasses that add their own tasks.

A 401 triggers one token refresh and one retry (both requests are recorded: the server saw
both). The token goes only into the ``Authorization`` header, never into names or logs.

An endpoint with a ``retry`` policy retries an answer whose status is in ``retry.on`` (0: no
answer) after a full-jitter backoff, up to ``max_attempts`` attempts in all. The backoff sleeps
in this virtual user, which stays busy (in the open model a user retrying is not free; what the
pacer cannot release meanwhile is counted as dropped). Retries stop when the run ends or Locust
stops the user. Retry attempts are recorded apart from first attempts and reach Locust's
statistics as ``<name> (retry)``; each retried request's end is recorded too (see
``harness.results``).
"""

from __future__ import annotations

import time

import gevent
from gevent import GreenletExit
from locust import task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import CatchResponseError
from locust.user.users import LOCUST_STATE_STOPPING

import harness
from harness.errors import HarnessError, RequestNotSent
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
                status = self._send(template, path, body)
            if template.retry is not None and status in template.retry_on:  # the one check when retries are off
                self._retry(template, path, body)
        finally:
            session.in_flight -= 1

    def _retry(self, template: RequestTemplate, path: str, body: str | None) -> None:
        """The last attempt got a retryable answer: back off (full jitter) and send again until
        an answer that is not retryable, ``max_attempts`` in all, or the end of the run; then
        record how the request ended and its latency from that first attempt to the last answer."""
        policy, session, tokens = template.retry, self.session, self.session.tokens
        assert policy is not None
        began = self._began
        start_time = time.time() - (time.perf_counter() - began)
        attempts, result = 1, "gave_up"
        try:
            while attempts < policy.max_attempts:
                if self._state == LOCUST_STATE_STOPPING or session.done.wait(timeout=policy.backoff(attempts, session.rng)):
                    result = "stopped"  # the run ended: the next attempt would hit a target no longer measured
                    break
                if tokens is not None:
                    try:
                        self._use_token(tokens.token(self.identity))  # renewed while this user slept, perhaps
                    except HarnessError:
                        pass
                status = self._send(template, path, body, attempts)
                attempts += 1
                if status in template.expect:
                    result = "ok_after_retry"
                    break
                if status not in template.retry_on:
                    result = "failed_after_retry"
                    break
        except GreenletExit:  # Locust stopped this user at once
            result = "stopped"
            raise
        finally:
            session.record_retried(template, result, start_time=start_time, elapsed_ms=(time.perf_counter() - began) * 1000)

    def _send(self, template: RequestTemplate, path: str, body: str | None, retry: int = 0) -> int:
        """Send one request (``retry`` > 0: that retry of it), record its outcome and fire
        Locust's request event; its status (0 when there was no answer)."""
        response = exception = None
        status = length = 0
        start_time = time.time()
        self._began = began = time.perf_counter()
        try:
            response, length = self.api.send(template.method, path, self._headers(template), body)
            status = response.status_code
        except RequestNotSent as exc:  # our mistake, not the API's: stop the run, count nothing
            self.session.fail(f"endpoint {template.name!r}: {exc}")
            return 0
        except Exception as exc:  # refused, reset, timed out, a broken answer: no response
            exception = exc
        response_time = (time.perf_counter() - began) * 1000
        self.session.record(template, status, exception, start_time, response_time, retry)
        if exception is None and status not in template.expect:
            exception = CatchResponseError(f"HTTP {status}")  # a failure in Locust's statistics
        self._fire(
            request_type=template.method,
            name=template.retry_name if retry else template.name,
            response_time=response_time,
            response_length=length,
            response=response,
            context=self.context(),
            exception=exception,
            start_time=start_time,
            url=path,
        )
        return status
