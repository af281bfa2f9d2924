"""The sustainable-rate probe on the local stack: the knee it finds vs the throttle limit
configured on the API Gateway emulator, and how long the probe takes.

For each limit in ``--limits``, runs ``harness probe scenarios/probe.toml --local`` (its own
local stack, the emulator's stage throttle at that rate with a burst of 20) with the ramp
``--from-rate`` -> ``--to-rate`` by ``--step`` rps, ``--step-duration`` s per step, and prints
per limit: the sustainable rate found, the knee, what breached there, the error against the
limit (the sustainable rate should be the last step at or below it), the exit code, how long
the load ran (until the knee stopped it) and the whole command's wall-clock time (local stack,
sign-in and report included).

    .venv/bin/python bench/bench_probe.py [--limits 70,150,230] [--step 20] [--step-duration 5]

All traffic goes to 127.0.0.1; every probe is bounded in time. Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 300.0  # no probe may take longer


def probe(limit: float, args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    run_dir = workdir / f"limit-{limit:g}"
    sets = {
        "local.throttle_rate": limit,
        "local.throttle_burst": 20,
        "load.from_rate": args.from_rate,
        "load.to_rate": args.to_rate,
        "load.step": args.step,
        "load.step_duration": f'"{args.step_duration:g}s"',
        "limits.max_rate": args.to_rate,
    }
    cmd = [sys.executable, "-m", "harness.cli", "probe", "scenarios/probe.toml", "--local", "--no-metrics", "--results-dir", str(run_dir)]
    for field, value in sets.items():
        cmd += ["--set", f"{field}={value}"]
    began = time.time()
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT,
        env={**os.environ, "COLUMNS": "200", "HARNESS_STATE_DIR": str(workdir / "state")},
    )  # fmt: skip
    wall = time.time() - began
    results = run_dir / "results.json"
    if not results.exists():
        return {"limit": limit, "exit": proc.returncode, "wall": wall, "error": proc.stderr.strip().splitlines()[-1:] or ["?"]}
    meta = json.loads(results.read_text())["meta"]
    found = meta.get("probe") or {}
    knee = next((s for s in found.get("steps", []) if not s["held"]), None)
    return {
        "limit": limit,
        "exit": proc.returncode,
        "sustainable": found.get("sustainable_rate"),
        "knee": found.get("knee_rate"),
        "breached": "; ".join(knee["breached"]) if knee else ("top held" if found.get("top_held") else "-"),
        "steps": len(found.get("steps", [])),
        "load": float(meta.get("duration") or 0.0),
        "planned": float(meta.get("planned_duration") or 0.0),
        "wall": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limits", default="70,150,230", help="emulator throttle rates to probe, comma-separated (rps)")
    parser.add_argument("--from-rate", type=float, default=20.0)
    parser.add_argument("--to-rate", type=float, default=300.0)
    parser.add_argument("--step", type=float, default=20.0)
    parser.add_argument("--step-duration", type=float, default=5.0)
    args = parser.parse_args()
    limits = [float(x) for x in args.limits.split(",") if x.strip()]
    print(f"probe: ramp {args.from_rate:g} -> {args.to_rate:g} rps by {args.step:g}, {args.step_duration:g} s per step; "
          f"gates of scenarios/probe.toml; emulator burst 20", flush=True)  # fmt: skip
    header = f"{'limit':>7} {'sustainable':>12} {'knee':>6} {'error':>7} {'exit':>5} {'steps':>6} {'load s':>8} {'planned s':>10} {'wall s':>7}  breached at the knee"
    print(header)
    with tempfile.TemporaryDirectory(prefix="harness-bench-probe-") as tmp:
        for limit in limits:
            row = probe(limit, args, Path(tmp))
            if "error" in row:
                print(f"{limit:>7g} probe failed (exit {row['exit']}, {row['wall']:.0f} s): {row['error'][0]}", flush=True)
                continue
            sustainable, knee = row["sustainable"], row["knee"]
            error = "-" if sustainable is None else f"{float(sustainable) - limit:+g}"
            print(
                f"{limit:>7g} {('-' if sustainable is None else f'{sustainable:g}'):>12} {('-' if knee is None else f'{knee:g}'):>6} "
                f"{error:>7} {row['exit']:>5} {row['steps']:>6} {row['load']:>8.1f} {row['planned']:>10.0f} {row['wall']:>7.1f}  {row['breached']}",
                flush=True,
            )  # fmt: skip
    print("error = sustainable rate - configured limit: within one step below it (-step < error <= 0) is the probe's resolution")


if __name__ == "__main__":
    main()
