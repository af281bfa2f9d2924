"""Requests compiled once from scenario endpoints: placeholders filled per call, body as JSON text."""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

from harness.scenario import PLACEHOLDERS, Endpoint, Retry

__all__ = ["RequestTemplate", "RETRY_SUFFIX"]

RETRY_SUFFIX = " (retry)"
"""Retry attempts go to Locust's statistics under the endpoint's name with this suffix."""

_SEQ = itertools.count()


class RequestTemplate:
    """An endpoint compiled once: the placeholders it uses, its JSON body text and its retry
    policy (``retry``: None for none, the scenario's or its own; see ``Scenario.retry_for``)."""

    __slots__ = ("endpoint", "name", "method", "path", "body", "headers", "expect", "dynamic_path", "dynamic_body", "retry", "retry_on", "retry_name")

    def __init__(self, endpoint: Endpoint, *, retry: Retry | None = None) -> None:
        self.endpoint = endpoint
        self.name = endpoint.name
        self.method = endpoint.method
        self.path = endpoint.path
        self.body = json.dumps(endpoint.body, separators=(",", ":")) if endpoint.body is not None else None
        self.headers = dict(endpoint.headers)
        if self.body is not None:
            self.headers.setdefault("Content-Type", "application/json")
        self.expect = frozenset(endpoint.expect)
        self.dynamic_path = "{" in self.path
        self.dynamic_body = self.body is not None and any(f"{{{p}}}" in self.body for p in PLACEHOLDERS)
        self.retry = retry
        self.retry_on = frozenset(retry.on) if retry is not None else frozenset()
        self.retry_name = self.name + RETRY_SUFFIX

    @staticmethod
    def _fill(text: str, values: dict[str, str]) -> str:
        for key, value in values.items():
            text = text.replace("{" + key + "}", value)
        return text

    def render(self, *, user: str, vu: int, rng: Any) -> tuple[str, str | None]:
        if not (self.dynamic_path or self.dynamic_body):
            return self.path, self.body
        values = {
            "user": user,
            "vu": str(vu),
            "id": str(rng.randint(1, self.endpoint.id_max)),
            "seq": str(next(_SEQ)),
            "uuid": str(uuid.uuid4()),
        }
        path = self._fill(self.path, values) if self.dynamic_path else self.path
        body = self._fill(self.body, values) if self.dynamic_body and self.body is not None else self.body
        return path, body
