"""How fast, and in how much memory, the report is built for a long, busy run.

Builds a synthetic run of ``--seconds`` seconds at ``--rps`` requests per second over five
endpoints (default: one hour at 1,000 rps, 3.6 million requests) directly from histogram windows,
plus a CloudWatch frame with 60 s periods, and saves both. Then, each in a fresh subprocess so
that peak memory (``getrusage`` max RSS) belongs to that step alone, it times:

- ``report``: ``write_report`` on the ResultSet and frame, unpickled first (the report's own cost);
- ``load``: ``ResultSet.load`` of the saved ``results.json``;
- ``load + report``: the CLI's path: load ``results.json``, then write the report.

Peak memory is read per step (VmHWM, reset before the step) and per process (getrusage max
RSS, which includes unpickling the inputs). Prints figures; asserts nothing. Targets: the
report under 10 s and 500 MB peak.

    .venv/bin/python bench/bench_report.py
    .venv/bin/python bench/bench_report.py --seconds 600 --rps 200
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ENDPOINTS = {
    "list items": ("GET", "/items", 5, 200),
    "get item": ("GET", "/items/{id}", 3, 200),
    "search": ("GET", "/search?q={id}", 2, 200),
    "my profile": ("GET", "/users/{user}/profile", 1, 200),
    "create order": ("POST", "/orders", 1, 201),
}


def peak_mb() -> float:
    """The process's peak RSS so far (``getrusage`` max RSS; kilobytes on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def status_mb(field: str) -> float | None:
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last reset) from /proc, in MB; None elsewhere."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Restart the kernel's peak-RSS count (``VmHWM``) so that a step's own peak can be read."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def generate(workdir: Path, seconds: int, rps: int) -> None:
    from tests.report.synthetic import Model, synthetic_metrics, synthetic_results

    spike_at = seconds // 2
    model = Model(
        seconds=seconds,
        plan=[
            {"start": 0.0, "end": float(spike_at), "rate_from": float(rps), "rate_to": float(rps), "label": "steady"},
            {"start": float(spike_at), "end": float(spike_at + 60), "rate_from": rps * 1.4, "rate_to": rps * 1.4, "label": "spike"},
            {"start": float(spike_at + 60), "end": float(seconds), "rate_from": float(rps), "rate_to": float(rps), "label": "after"},
        ],
        endpoints=dict(ENDPOINTS),
        throttle_rate=rps * 1.2,
        lambda_limit=rps * 1.15,
        vu_capacity=rps * 1.3,
        profile="spike",
        scenario="bench",
    )
    t = time.perf_counter()
    results = synthetic_results(model)
    built = time.perf_counter() - t
    t = time.perf_counter()
    metrics = synthetic_metrics(results, model)
    framed = time.perf_counter() - t
    buckets = sum(len(h.counts) for h in results.windows.values())
    print(
        f"synthetic run: {seconds:,} s at {rps:,} rps, {len(ENDPOINTS)} endpoints -> {results.total:,} requests in "
        f"{len(results.windows):,} windows ({buckets:,} histogram buckets); built in {built:.1f} s; "
        f"CloudWatch frame {len(metrics):,} rows in {framed:.1f} s"
    )
    t = time.perf_counter()
    path = results.save(workdir / "results.json")
    print(f"ResultSet.save: {time.perf_counter() - t:.1f} s, {path.stat().st_size / 1e6:.1f} MB")
    with open(workdir / "results.pickle", "wb") as fh:
        pickle.dump(results, fh, protocol=pickle.HIGHEST_PROTOCOL)
    with open(workdir / "metrics.pickle", "wb") as fh:
        pickle.dump(metrics, fh, protocol=pickle.HIGHEST_PROTOCOL)


def child(step: str, workdir: Path) -> None:
    """One measured step in a fresh process; prints one JSON line.

    ``before_mb``: RSS with the step's inputs in memory; ``step_peak_mb``: the peak RSS during
    the step alone (VmHWM after a reset); ``process_peak_mb``: getrusage max RSS of the process.
    """
    t0 = time.perf_counter()
    from harness.report import write_report
    from harness.results import ResultSet

    out: dict[str, float | None] = {"import_s": time.perf_counter() - t0}
    results = metrics = None
    if step in ("report", "load+report"):
        with open(workdir / "metrics.pickle", "rb") as fh:
            metrics = pickle.load(fh)
    if step == "report":
        with open(workdir / "results.pickle", "rb") as fh:
            results = pickle.load(fh)
    out["before_mb"] = status_mb("VmRSS")
    measured = reset_peak()
    t = time.perf_counter()
    if step == "report":
        write_report(workdir / "out", results=results, metrics=metrics)
    elif step == "load":
        ResultSet.load(workdir / "results.json")
    elif step == "load+report":
        write_report(workdir / "out2", results=ResultSet.load(workdir / "results.json"), metrics=metrics)
    out["seconds"] = time.perf_counter() - t
    out["step_peak_mb"] = status_mb("VmHWM") if measured else None
    out["process_peak_mb"] = peak_mb()
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3600)
    parser.add_argument("--rps", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (prints its path)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, Path(args.workdir))
        return

    workdir = Path(tempfile.mkdtemp(prefix="bench-report-"))
    generate(workdir, args.seconds, args.rps)
    print("\n  each step in a fresh process; RSS before = with the step's inputs in memory (and the imports)")
    print(f"  {'step':<14} {'time':>8} {'RSS before':>11} {'peak in step':>13} {'process peak':>13}")
    mb = lambda v: "n/a" if v is None else f"{v:,.0f} MB"  # noqa: E731
    for step in ("report", "load", "load+report"):
        proc = subprocess.run([sys.executable, __file__, "--child", step, "--workdir", str(workdir)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"  {step}: failed\n{proc.stderr}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"  {step:<14} {r['seconds']:7.2f}s {mb(r['before_mb']):>11} {mb(r['step_peak_mb']):>13} {mb(r['process_peak_mb']):>13}")
    html = workdir / "out" / "report.html"
    if html.exists():
        print(f"\nreport.html: {html.stat().st_size / 1e6:.2f} MB (imports: matplotlib, pandas, jinja2 ~ {r['import_s']:.1f} s, not counted)")
    if args.keep:
        print(f"work directory: {workdir}")
    else:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
