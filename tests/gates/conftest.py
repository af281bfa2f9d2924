"""The run most gate tests read."""

from __future__ import annotations

import pytest

from harness.results import ResultSet

from .data import make_results


@pytest.fixture(scope="module")
def results() -> ResultSet:
    return make_results()
