"""Plain Locust entry point: ``locust -f locustfiles/api.py --scenario scenarios/steady.toml``.

Works with the web UI, ``--headless`` and ``--processes N``. Results go to ``reports/<run-id>/``
(or ``--results-dir``). A ``local`` target needs ``harness local up`` first.
"""

from harness.load.locustfile import HarnessUser, OpenModelShape  # noqa: F401
