"""One segment of a distributed run, cut into one ``Shard`` per worker.

Every shard of a segment shares one start instant, far enough ahead for cold starts and
sign-in, so that a burst hits at the same moment everywhere. Shard ``i`` of ``W`` paces
``1/W`` of the rate with a phase offset of ``i/W`` of a request (as Locust's worker
processes do), and its virtual users sign in as test users ``i, i + W, i + 2W, ...``::

    shards = plan_segment(spec, bucket="b", segment=0, start_at=time.time() + 20)
    shards[3].results_key         # runs/<run-id>/shards/000-0003.json
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.fanout.spec import RunSpec
from harness.fanout.store import RunStore

__all__ = ["Shard", "plan_segment"]


class Shard(BaseModel):
    """What one worker Lambda is asked to run: an item of the Distributed Map."""

    model_config = ConfigDict(extra="ignore", frozen=True)  # Catch adds "error" to a failed item

    run_id: str
    bucket: str
    segment: int = Field(ge=0)
    segments: int = Field(ge=1)
    index: int = Field(ge=0)
    count: int = Field(ge=1)
    start_at: float
    window: tuple[float, float]
    scenario: dict[str, Any]
    override_limits: bool = False

    @property
    def name(self) -> str:
        """``shard 3`` (``shard 3 of segment 2`` in a run of several segments)."""
        return f"shard {self.index}" + (f" of segment {self.segment}" if self.segments > 1 else "")

    def store(self, s3: Any) -> RunStore:
        return RunStore(s3, bucket=self.bucket, run_id=self.run_id)


def plan_segment(spec: RunSpec, *, bucket: str, segment: int, start_at: float) -> list[Shard]:
    """The shards of ``segment`` of ``spec``, all starting at ``start_at`` (epoch seconds)."""
    if not 0 <= segment < spec.segments:
        raise ValueError(f"segment {segment} is outside 0..{spec.segments - 1}")
    return [
        Shard(
            run_id=spec.run_id,
            bucket=bucket,
            segment=segment,
            segments=spec.segments,
            index=index,
            count=spec.workers,
            start_at=start_at,
            window=spec.windows[segment],
            scenario=spec.scenario_data,
            override_limits=spec.override_limits,
        )
        for index in range(spec.workers)
    ]
