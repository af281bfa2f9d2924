"""Plain Locust entry point: ``locust -f locustfiles/api.py --scenario scenarios/steady.toml``.

Works with the web UI, ``--headless`` and ``--processes N``. Results go to ``reports/<run-id>/``
(or ``--results-dir``). A ``local`` target needs ``harness local up`` first, or ``--local``
(one process: a local stack with the scenario's test users, started with the UI, stopped on exit).
"""

from harness.load.locustfile import HarnessUser, OpenModelShape  # noqa: F401
