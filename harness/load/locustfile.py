"""The locustfile behind ``harness run`` and ``locustfiles/api.py``:
``locust -f locustfiles/api.py --scenario scenarios/steady.toml``."""

from harness.load.lifecycle import register
from harness.load.shape import OpenModelShape
from harness.load.user import HarnessUser

__all__ = ["HarnessUser", "OpenModelShape"]

register()
