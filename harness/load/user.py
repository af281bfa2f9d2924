"""The virtual user: a ``FastHttpUser`` that waits for the pacer, picks an endpoint by weight,
sends it with the user's Cognito access token and lets the request event classify the outcome.

A 401 triggers one token refresh and one retry (both requests are recorded: the server saw
both). The token goes only into the ``Authorization`` header, never into names or logs.
"""

from __future__ import annotations

import gevent
from locust import task
from locust.contrib.fasthttp import FastHttpUser

from harness.errors import HarnessError
from harness.load.request import RequestTemplate

__all__ = ["HarnessUser"]

class HarnessUser(FastHttpUser):
    """One virtual user of the open model. Its pacing comes from the process's pacer."""

    host = "http://127.0.0.1"  # replaced by the scenario's target when the run initialises
    network_timeout = 30.0
    connection_timeout = 10.0
    # Pacing is the pacer's job: the task waits on it, so no wait time here.
    wait_time = staticmethod(lambda: 0)

    def on_start(self) -> None:
        session = self.environment.harness_session
        self.session = session
        self.vu = session.vus_started
        session.vus_started += 1
        self.identity = session.identity_for(self.vu)
        self.username = session.scenario.auth.usernames[self.identity] if session.scenario.auth else f"vu{self.vu}"
        self.templates = session.templates
        self.auth_header: str | None = None
        if session.tokens is not None:
            try:
                self.auth_header = "Bearer " + session.tokens.token(self.identity)
            except HarnessError as exc:
                session.fail(str(exc))
        session.vus_ready += 1

    @task
    def iterate(self) -> None:
        pacer = self.session.pacer
        if pacer is None or self.session.done.is_set():
            gevent.sleep(0.1)
            return
        ticket = pacer.acquire()
        if ticket is None:
            gevent.sleep(0.1)  # the plan is over; the shape stops the run
            return
        self.call(self.templates[self.session.pick().name])

    def _headers(self, template: RequestTemplate) -> dict[str, str]:
        headers = dict(template.headers) if template.headers else {}
        if self.auth_header is not None:
            headers["Authorization"] = self.auth_header
        return headers

    def call(self, template: RequestTemplate) -> None:
        session = self.session
        path, body = template.render(user=self.username, vu=self.vu, rng=session.rng)
        session.in_flight += 1
        try:
            status = self._send(template, path, body)
            if status == 401 and session.tokens is not None:
                try:
                    self.auth_header = "Bearer " + session.tokens.refresh(self.identity)
                except HarnessError:
                    return  # the 401 is already recorded as an auth outcome
                self._send(template, path, body)
        finally:
            session.in_flight -= 1

    def _send(self, template: RequestTemplate, path: str, body: str | None) -> int:
        context = {"harness_expect": template.expect}
        if template.catch:
            with self.client.request(
                template.method, path, name=template.name, headers=self._headers(template), data=body, context=context, catch_response=True
            ) as response:
                if response.status_code in template.expect:
                    response.success()
                else:
                    response.failure(f"HTTP {response.status_code}")
                return response.status_code or 0
        response = self.client.request(template.method, path, name=template.name, headers=self._headers(template), data=body, context=context)
        return response.status_code or 0
