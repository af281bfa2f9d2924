"""The exact merge of a distributed run's worker results into one ``results.json``.

Histograms add up, so the merged percentiles are those of every sample together; rates add
up; nothing is averaged. So that 1,000 workers fit in Lambdas of bounded time and memory, the
merge is a tree of two levels, each a Map of Lambdas, and a final step that only concatenates:

1. ``merge_group(g)``: the shard files of group ``g`` (``GROUP_SIZE`` workers) merged, then
   cut by time into the run's slices (one file per slice);
2. ``merge_slice(s)``: every group's part of time slice ``s`` merged. Slices hold disjoint
   seconds, so the merged windows of different slices never overlap;
3. ``merge_final``: the slices' windows written side by side into ``results.json`` (text, no
   re-parsing), with a summary from each slice's per-endpoint totals and the run's metadata:
   every shard's fate, a failed shard named with its reason, the other shards' data kept; and
   the recovery time of each burst, from each slice's seconds merged across endpoints.

::

    plan = plan_merge(store)                   # {"groups": [0..39], "slices": [0..33]} for 1,000 workers
    for g in plan["groups"]: merge_group(store, g)
    for s in plan["slices"]: merge_slice(store, s)
    summary = merge_final(store)               # {"results_key": ..., "requests": ..., "failed_shards": 0}

``collect`` merges everything in one go, without the tree: what the CLI writes when a run was
stopped before its own merge.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from harness.fanout.spec import RunSpec
from harness.fanout.store import RunStore
from harness.faults.recovery import annotate
from harness.load.session import merge_health
from harness.meta import RunMeta
from harness.plan import build_plan, planned_duration
from harness.results import Histogram, ResultSet
from harness.target import resolve_target

__all__ = ["GROUP_SIZE", "SLICE_BYTES", "plan_merge", "merge_group", "merge_slice", "merge_final", "collect", "failure_reason"]

GROUP_SIZE = 15  # shards per partial merge: 15 x 10 min of results merge in about 1 s (bench_fanout_merge.py)
"""Shard files per group: 1,000 workers make 40 groups."""
SLICE_BYTES = 16_000_000
"""About how much of the shard files' JSON one time slice gets: it bounds a slice's Lambda."""
_SEP = (",", ":")
_SLICED = ("windows", "statuses", "pacer", "retry_windows", "retry_statuses", "retried")
"""The per-second lists of a results file: cut by time, merged per slice, placed side by side."""


# ---- the tree ----------------------------------------------------------------------------------


def plan_merge(store: RunStore) -> dict[str, list[int]]:
    """Cut the shard files into groups and the run's seconds into slices."""
    listed = store.listing("shards")
    keys = sorted(listed)
    groups = [keys[i : i + GROUP_SIZE] for i in range(0, len(keys), GROUP_SIZE)] or [[]]
    slices = max(1, min(200, math.ceil(sum(listed.values()) / SLICE_BYTES)))
    spec = _spec(store)
    segments = _segments(store, spec)
    first = int(min((s["start_at"] for s in segments), default=time.time()))
    last = int(max((s["start_at"] + s["window"][1] - s["window"][0] for s in segments), default=first)) + 1
    step = max(1, math.ceil((last - first) / slices))
    bounds = [first + step * i for i in range(1, slices)]  # slice s: seconds below bounds[s] (the last: the rest)
    store.put_json(store.groups_key, {"groups": groups, "bounds": bounds})
    return {"groups": list(range(len(groups))), "slices": list(range(slices))}


def merge_group(store: RunStore, group: int) -> dict[str, int]:
    """Merge group ``group``'s shard files; write its part of each time slice."""
    plan = store.get_json(store.groups_key)
    merged, shards = _merge(ResultSet.loads(body) for body in store.read_bytes(plan["groups"][group]))
    parts = _cut(merged, plan["bounds"])
    for index, part in enumerate(parts):
        store.put_text(store.part_key(group, index), json.dumps(part.to_dict(summary=False), separators=_SEP))
    errors = [{"endpoint": ep, "error": msg, "count": n} for (ep, msg), n in merged.errors.items()]
    store.put_json(store.group_facts_key(group), {"shards": shards, "errors": errors, "endpoints": merged.endpoints})
    return {"group": group, "shards": len(shards), "requests": merged.total}


def merge_slice(store: RunStore, index: int) -> dict[str, int]:
    """Merge every group's part of time slice ``index``; write its windows as JSON text, ready
    to be placed side by side, and its totals per endpoint and outcome for the summary."""
    groups = len(store.get_json(store.groups_key)["groups"])
    merged = ResultSet()
    for body in store.read_bytes([store.part_key(g, index) for g in range(groups)]):
        merged.merge(ResultSet.loads(body))
    lists = merged.to_dict(summary=False)
    for name in _SLICED:
        store.put_text(store.slice_key(index, name), json.dumps(lists[name], separators=_SEP)[1:-1])
    totals = ResultSet()
    for name in ("windows", "retry_windows", "retried"):  # per endpoint and outcome (or retry result)
        mine = getattr(totals, name)
        for (endpoint, outcome, _), hist in getattr(merged, name).items():
            mine.setdefault((endpoint, outcome, 0), Histogram()).merge(hist)
    totals.pacer[0] = merged.pacer_totals()
    seconds = ResultSet()  # every second across endpoints: what recovery time needs, small
    for (_, outcome, second), hist in merged.windows.items():
        seconds.windows.setdefault(("", outcome, second), Histogram()).merge(hist)
    store.put_text(store.slice_key(index, "seconds"), json.dumps(seconds.to_dict(summary=False), separators=_SEP))
    spans = [merged.span()] if merged.span() else []
    store.put_text(store.slice_key(index, "totals"), json.dumps({**totals.to_dict(summary=False), "spans": spans}, separators=_SEP))
    return {"slice": index, "requests": merged.total}


def merge_final(store: RunStore, *, map_error: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``results.json``: the slices side by side, the summary and the run's metadata."""
    plan = store.get_json(store.groups_key)
    groups, slices = len(plan["groups"]), len(plan["bounds"]) + 1
    shards: list[dict[str, Any]] = []
    totals = ResultSet()
    for facts in store.read_all([store.group_facts_key(g) for g in range(groups)]):
        shards += facts["shards"]
        for row in facts["errors"]:
            totals.errors[(row["endpoint"], row["error"])] += int(row["count"])
        for name, info in facts["endpoints"].items():
            totals.endpoints.setdefault(name, info)
    for body in store.read_bytes([store.slice_key(s, "totals") for s in range(slices)]):
        totals.merge(ResultSet.loads(body))
    results = _finish(store, totals, shards, map_error=map_error)
    seconds = ResultSet(meta=results.meta, plan=results.plan, scenario=results.scenario)
    for body in store.read_bytes([store.slice_key(s, "seconds") for s in range(slices)]):
        seconds.merge(ResultSet.loads(body))
    results.recovery = annotate(seconds).recovery
    head = results.to_dict(summary=True)  # the summary is that of the totals: percentiles per endpoint
    parts = [json.dumps({k: v for k, v in head.items() if k not in _SLICED}, separators=_SEP)[:-1]]
    for name in _SLICED:
        texts = [t for t in store.read_texts([store.slice_key(s, name) for s in range(slices)]) if t]
        parts.append(f',"{name}":[' + ",".join(texts) + "]")
    store.put_text(store.results_key, "".join(parts) + "}")
    failed = [s for s in results.meta["shards"] if s["status"] != "completed"]
    return {"results_key": store.results_key, "requests": totals.total, "failed_shards": len(failed), "status": results.meta["status"]}


def collect(store: RunStore, *, interrupted: bool = True) -> ResultSet:
    """Every shard file there is, merged in one go (no tree), with every shard's fate."""
    merged, shards = _merge(ResultSet.loads(body) for body in store.read_bytes(sorted(store.listing("shards"))))
    return annotate(_finish(store, merged, shards, interrupted=interrupted))


def failure_reason(error: str | None, cause: str | None) -> str:
    """One line from Step Functions' error and cause: a Lambda error's cause is its JSON
    payload (``errorType``, ``errorMessage``)."""
    try:
        payload = json.loads(cause or "")
    except ValueError:
        payload = None
    if isinstance(payload, dict) and ("errorMessage" in payload or "errorType" in payload):
        text = f"{payload.get('errorType') or error}: {payload.get('errorMessage', '')}"
    else:
        text = f"{error or 'failed'}: {cause or ''}".rstrip(": ")
    return " ".join(text.split())[:300]


# ---- internals -------------------------------------------------------------------------------


def _merge(parts: Iterable[ResultSet]) -> tuple[ResultSet, list[dict[str, Any]]]:
    merged, shards = None, []
    for part in parts:
        shards.append(_shard_facts(part))
        merged = part if merged is None else merged.merge(part)
    return (merged or ResultSet()), shards


def _cut(results: ResultSet, bounds: list[int]) -> list[ResultSet]:
    """``results`` cut into len(bounds) + 1 parts by second (part s: below bounds[s])."""
    import bisect

    parts = [ResultSet(endpoints=results.endpoints) for _ in range(len(bounds) + 1)]
    for name in ("windows", "statuses", "retry_windows", "retry_statuses", "retried"):  # keyed (endpoint, x, second)
        for key, value in getattr(results, name).items():
            getattr(parts[bisect.bisect_right(bounds, key[2])], name)[key] = value
    for second, window in results.pacer.items():
        parts[bisect.bisect_right(bounds, second)].pacer[second] = window
    return parts


def _shard_facts(part: ResultSet) -> dict[str, Any]:
    meta = part.meta
    shard = meta.get("shard") or {}
    generator = meta.get("generator") or {}
    return {
        "segment": shard.get("segment", 0),
        "index": shard.get("index", 0),
        "status": meta.get("status"),
        "error": meta.get("error"),
        "requests": part.total,
        "started_at": meta.get("started_at"),
        "ended_at": meta.get("ended_at"),
        "late_start_ms": generator.get("late_start_ms", 0.0),
        "skipped": generator.get("skipped", 0),
        "generator": generator,
        "token_stats": meta.get("token_stats") or {},
    }


def _spec(store: RunStore) -> RunSpec:
    return RunSpec.model_validate(store.get_json(store.spec_key))


def _segments(store: RunStore, spec: RunSpec) -> list[dict[str, Any]]:
    return [s for s in (store.get_json_or_none(store.segment_key(i)) for i in range(spec.segments)) if s]


def _finish(
    store: RunStore, merged: ResultSet, shards: list[dict[str, Any]], *, map_error: dict[str, Any] | None = None, interrupted: bool = False
) -> ResultSet:
    """The merged results with the run's metadata: what ``harness run`` writes, plus shards."""
    spec = _spec(store)
    scenario = spec.scenario()
    segments = _segments(store, spec)
    by_shard = {(s["segment"], s["index"]): s for s in shards}
    for failure in store.read_all(store.keys("failures")):
        key = (failure["segment"], failure["index"])
        entry = by_shard.setdefault(key, {"segment": key[0], "index": key[1], "requests": 0, "generator": {}, "token_stats": {}})
        entry["status"] = "failed"
        entry["error"] = failure.get("reason") or entry.get("error")
    for segment in segments:  # a shard with neither results nor a failure never reported back
        for index in range(spec.workers):
            by_shard.setdefault(
                (segment["segment"], index),
                {"segment": segment["segment"], "index": index, "status": "missing", "requests": 0, "generator": {}, "token_stats": {},
                 "error": "no results: the execution stopped before this shard finished"},
            )  # fmt: skip
    table = [by_shard[k] for k in sorted(by_shard)]
    stopped = [s for s in table if s["status"] == "interrupted"]  # ended early by stop.json, results kept
    # a run stopped by harness: a shard that had not saved its results yet was stopped, not failed
    finished = ("completed", "interrupted", "missing") if interrupted else ("completed", "interrupted")
    failed = [s for s in table if s["status"] not in finished]

    if interrupted:
        status, error = "interrupted", None
    elif failed:
        named = "; ".join(f"{_name(s, spec)} ({s.get('error') or s['status']})" for s in failed[:5])
        more = f"; and {len(failed) - 5} more" if len(failed) > 5 else ""
        others = f"; {len(stopped)} stopped with it, their results kept" if stopped else ""
        status, error = "failed", f"{len(failed)} of {len(table)} shards failed: {named}{more}{others}"
    elif map_error or stopped:
        map_error = map_error or {"Error": "stopped", "Cause": f"{len(stopped)} of {len(table)} shards were stopped before their end"}
        status, error = "failed", failure_reason(map_error.get("Error"), map_error.get("Cause"))
    else:
        status, error = "completed", None

    started = min((s["start_at"] for s in segments), default=None) or min((s["started_at"] for s in table if s.get("started_at")), default=time.time())
    ended = max((s["ended_at"] for s in table if s.get("ended_at")), default=started)
    token_stats: Counter = Counter()
    for shard in table:
        token_stats.update({name: int(value) for name, value in (shard.get("token_stats") or {}).items()})

    merged.run_id = spec.run_id
    merged.scenario = scenario.echo()
    merged.plan = build_plan(scenario.load_profile).describe()
    merged.meta = RunMeta.of(
        scenario, run_id=spec.run_id, target=resolve_target(scenario).as_dict(), started_at=started, ended_at=ended,
        planned_duration=planned_duration(scenario.load_profile), workers=spec.workers, status=status, error=error,
        token_stats=dict(token_stats), generator=merge_health([s["generator"] for s in table if s.get("generator")]),
    ).as_dict()  # fmt: skip
    merged.meta |= {
        "fanout": {"workers": spec.workers, "segments": segments, "reference_input": spec.reference_input},
        "shards": [{k: s.get(k) for k in ("segment", "index", "status", "requests", "late_start_ms", "skipped", "error")} for s in table],
        "failed_shards": [{"segment": s["segment"], "index": s["index"], "reason": s.get("error") or s["status"]} for s in failed],
    }
    return merged


def _name(shard: dict[str, Any], spec: RunSpec) -> str:
    return f"shard {shard['index']}" + (f" of segment {shard['segment']}" if spec.segments > 1 else "")
