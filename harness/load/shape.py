"""The Locust shape of the open model: it keeps the virtual-user pool at its size and stops
the run once the plan is over. The *rate* is not the shape's job but the pacer's, so changes
of rate happen at the planned instant instead of at the shape's one-second ticks."""

from __future__ import annotations

from locust import LoadTestShape

from harness.load.session import READY_TIMEOUT, LoadSession

__all__ = ["OpenModelShape"]

#: extra time after the plan for signing in and draining before the shape gives up anyway
GRACE = 30.0


class OpenModelShape(LoadTestShape):
    """Holds the session's ``pool_size`` virtual users until the session is done."""

    use_common_options = False

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None  # Locust attaches the runner before it ticks the shape
        session: LoadSession = self.runner.environment.harness_session  # type: ignore[attr-defined]  # set by the harness runner
        if session.done.is_set():
            return None
        limit = session.planned_duration + READY_TIMEOUT + session.scenario.target.timeout + GRACE
        if self.get_run_time() > limit:
            session.fail(f"the run did not finish within {limit:.0f} s of starting; see the Locust log")
            return None
        vus = session.pool_size
        # spawn the whole pool at once: the pacer starts only when every user is ready
        return vus, float(max(vus, 100))
