"""Where a distributed run keeps its files: one prefix per run in the results bucket.

::

    runs/<run-id>/spec.json                      the validated RunSpec
    runs/<run-id>/segments/<seg>/manifest.json   the Distributed Map's items (one Shard each)
    runs/<run-id>/segments/<seg>/plan.json       the segment's start instant and window
    runs/<run-id>/shards/<seg>-<index>.json      a worker's ResultSet
    runs/<run-id>/progress/<seg>-<index>.json    a worker's requests so far (for the CLI)
    runs/<run-id>/failures/<seg>-<index>.json    why a shard failed (Step Functions' error)
    runs/<run-id>/stop.json                      the run was stopped (Ctrl-C, a failed Map Run, the execution no longer
                                                 running, a silent harness fanout): workers end their shards
    runs/<run-id>/heartbeat.json                 harness fanout is alive and applying the run's faults (every few s)
    runs/<run-id>/merge/groups.json              the merge tree's groups and time slices
    runs/<run-id>/merge/group-<g>-<s>.json       group g's part of time slice s
    runs/<run-id>/merge/group-<g>-facts.json     group g's shards' facts and errors
    runs/<run-id>/merge/slice-<s>-<part>.json    slice s merged: windows, statuses, pacer, totals
    runs/<run-id>/results.json                   the merged results: what the CLI downloads

Results never travel through the state payload (256 KB): only keys and small counts do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["RunStore", "PROGRESS_EVERY", "STOP_GRACE"]

PROGRESS_EVERY = 3.0
"""Seconds between a worker's progress notes, and its checks for ``stop.json``."""
STOP_GRACE = 60.0
"""Seconds the merge waits, after a stop, for the shards still running to save what they
measured: a worker sees ``stop.json`` within ``PROGRESS_EVERY`` s, ends its load, lets the
requests in flight finish and uploads its results."""


class RunStore:
    """A run's files in S3. ``s3`` is a boto3 S3 client."""

    def __init__(self, s3: Any, *, bucket: str, run_id: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.run_id = run_id
        self.prefix = f"runs/{run_id}/"

    # ---- keys ------------------------------------------------------------------------------

    def key(self, name: str) -> str:
        return self.prefix + name

    @property
    def spec_key(self) -> str:
        return self.key("spec.json")

    @property
    def results_key(self) -> str:
        return self.key("results.json")

    @property
    def stop_key(self) -> str:
        return self.key("stop.json")

    @property
    def heartbeat_key(self) -> str:
        return self.key("heartbeat.json")

    def manifest_key(self, segment: int) -> str:
        return self.key(f"segments/{segment:03d}/manifest.json")

    def segment_key(self, segment: int) -> str:
        return self.key(f"segments/{segment:03d}/plan.json")

    def shard_key(self, segment: int, index: int) -> str:
        return self.key(f"shards/{segment:03d}-{index:04d}.json")

    def progress_key(self, segment: int, index: int) -> str:
        return self.key(f"progress/{segment:03d}-{index:04d}.json")

    def failure_key(self, segment: int, index: int) -> str:
        return self.key(f"failures/{segment:03d}-{index:04d}.json")

    def part_key(self, group: int, index: int) -> str:
        return self.key(f"merge/group-{group:04d}-{index:04d}.json")

    def group_facts_key(self, group: int) -> str:
        return self.key(f"merge/group-{group:04d}-facts.json")

    def slice_key(self, index: int, part: str) -> str:
        return self.key(f"merge/slice-{index:04d}-{part}.json")

    @property
    def groups_key(self) -> str:
        return self.key("merge/groups.json")

    # ---- the run's state ---------------------------------------------------------------------

    def stop(self, cause: str) -> dict[str, Any]:
        """Ask every worker to end its shard (``stop.json``); the first stop's time and cause stay."""
        stopped = self.get_json_or_none(self.stop_key)
        if stopped is None:
            stopped = {"at": time.time(), "cause": cause}
            self.put_json(self.stop_key, stopped)
        return stopped

    def ended(self, segment: int) -> set[int]:
        """The shards of ``segment`` that saved their results or their failure."""
        names = [k.rsplit("/", 1)[-1].removesuffix(".json") for k in self.keys("shards") + self.keys("failures")]
        return {int(index) for seg, _, index in (n.partition("-") for n in names) if int(seg) == segment}

    # ---- objects ---------------------------------------------------------------------------

    def put_json(self, key: str, data: Any) -> None:
        body = json.dumps(data, separators=(",", ":")).encode()
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    def put_text(self, key: str, text: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=text.encode(), ContentType="application/json")

    def get_json(self, key: str) -> Any:
        return json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def get_json_or_none(self, key: str) -> Any:
        try:
            return self.get_json(key)
        except self.s3.exceptions.NoSuchKey:
            return None

    def exists(self, key: str) -> bool:
        return self.modified(key) is not None

    def modified(self, key: str) -> float | None:
        """When ``key`` was last written (epoch seconds, S3's clock, to the second; HeadObject),
        or None when there is no such object."""
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except self.s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return float(head["LastModified"].timestamp())

    def listing(self, folder: str) -> dict[str, int]:
        """Every key under ``runs/<run-id>/<folder>/`` with its size in bytes."""
        sizes: dict[str, int] = {}
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.key(folder.rstrip("/") + "/")):
            sizes.update({item["Key"]: int(item.get("Size", 0)) for item in page.get("Contents", [])})
        return sizes

    def keys(self, folder: str) -> list[str]:
        """Every key under ``runs/<run-id>/<folder>/``, sorted."""
        return sorted(self.listing(folder))

    def get_bytes(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def read_bytes(self, keys: list[str], *, ahead: int = 8) -> Iterator[bytes]:
        """The bodies of ``keys`` in order, fetched ``ahead`` at a time in parallel while the
        caller works on the last one: memory holds a few bodies, never all of them."""
        if not keys:
            return
        with ThreadPoolExecutor(max_workers=min(ahead, len(keys))) as pool:
            pending = [pool.submit(self.get_bytes, key) for key in keys[:ahead]]
            for i in range(len(keys)):
                body = pending[i].result()
                pending[i] = None  # type: ignore[call-overload]
                if i + ahead < len(keys):
                    pending.append(pool.submit(self.get_bytes, keys[i + ahead]))
                yield body

    def read_texts(self, keys: list[str]) -> Iterator[str]:
        return (body.decode() for body in self.read_bytes(keys))

    def read_all(self, keys: list[str]) -> Iterator[Any]:
        """The JSON of ``keys``, in order (see ``read_bytes``)."""
        return (json.loads(body) for body in self.read_bytes(keys))
