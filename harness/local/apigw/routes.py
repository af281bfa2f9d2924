"""The emulator's route table: ``"GET /items/{id}"``-style route keys, matched like an HTTP API.

Matching is exact on the method and on every literal path segment; ``{name}`` matches one
non-empty segment. An unknown path or a known path with another method is not found (HTTP APIs
answer 404 for both).

    table = RouteTable(ROUTE_KEYS)
    table.match("GET", "/items/42")   # -> ("GET /items/{id}", {"id": "42"})
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["ROUTE_KEYS", "NOT_FOUND_KEY", "RouteTable"]

#: The routes of the mock backend.
ROUTE_KEYS: tuple[str, ...] = (
    "GET /items",
    "GET /items/{id}",
    "POST /orders",
    "GET /users/{user}/profile",
)

#: The key under which requests to no route are counted.
NOT_FOUND_KEY = "NOT_FOUND"

_NO_PARAMS: dict[str, str] = {}
_Pattern = tuple[str, tuple[tuple[int, str], ...], tuple[tuple[int, str], ...]]


class RouteTable:
    """Route keys compiled for cheap matching: a dict for static paths, segment patterns else."""

    def __init__(self, route_keys: Iterable[str]) -> None:
        self.keys: tuple[str, ...] = tuple(route_keys)
        self._static: dict[tuple[str, str], str] = {}
        # (method, segment count) -> [(route key, ((index, literal), ...), ((index, name), ...))]
        self._dynamic: dict[tuple[str, int], list[_Pattern]] = {}
        for key in self.keys:
            method, path = _split_key(key)
            segments = path.split("/")
            if not any(s.startswith("{") for s in segments):
                self._static[(method, path)] = key
                continue
            literals = tuple((i, s) for i, s in enumerate(segments) if not s.startswith("{"))
            params = tuple((i, s[1:-1]) for i, s in enumerate(segments) if s.startswith("{"))
            self._dynamic.setdefault((method, len(segments)), []).append((key, literals, params))

    def match(self, method: str, path: str) -> tuple[str, dict[str, str]] | None:
        """The route key and path parameters for a request, or None when no route matches."""
        key = self._static.get((method, path))
        if key is not None:
            return key, _NO_PARAMS
        segments = path.split("/")
        candidates = self._dynamic.get((method, len(segments)))
        if not candidates:
            return None
        for key, literals, params in candidates:
            for i, literal in literals:
                if segments[i] != literal:
                    break
            else:
                values = {name: segments[i] for i, name in params}
                if all(values.values()):
                    return key, values
        return None


def _split_key(key: str) -> tuple[str, str]:
    method, sep, path = key.partition(" ")
    if not sep or not method.isupper() or not path.startswith("/"):
        raise ValueError(f"route key {key!r} must look like 'GET /items/{{id}}'")
    return method, path
