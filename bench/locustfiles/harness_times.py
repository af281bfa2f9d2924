"""harness's own locustfile (``harness/load/locustfile.py``) plus every request's start time."""

import _timestamps

from harness.load.locustfile import *  # noqa: F403

_timestamps.install()
