"""Recovery time accuracy on the local stack: the instant harness says the client view came
back, against the fault's real end (the emulator is back to normal the moment a fault ends).

Runs ``--runs`` local runs (one local stack for all of them) of a steady ``--rate`` rps for
``--duration`` s, each with one fault: alternately a latency fault (+``--latency`` ms) and an
outage (503s), ``--fault-length`` s long, starting at an offset that moves by a fraction of a
second from run to run so the fault's end falls at different points of a whole second. For
each run it prints the fault's actual end (from ``meta.faults``), the recovered instant and
recovery time (from ``recovery``), and the error: recovered instant - actual end. Then the
median and worst absolute error over the runs.

    .venv/bin/python bench/bench_recovery.py [--runs 10] [--rate 50] [--duration 16]

All traffic goes to 127.0.0.1; every run is bounded in time. Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 180.0  # no run may take longer


def scenario(path: Path, args: argparse.Namespace, i: int) -> tuple[str, float]:
    kind = "latency" if i % 2 == 0 else "outage"
    at = 8.0 + (i * 0.37) % 1.0  # the end lands at a different fraction of a second each run
    extra = f'latency = "{args.latency:g}ms"\n' if kind == "latency" else ""
    path.write_text(
        f'name = "recovery-{i}"\n[target]\nbase_url = "local"\n[auth]\nusers = 5\n'
        '[[endpoints]]\nname = "list items"\npath = "/items"\n'
        f'[load]\nprofile = "steady"\nrate = {args.rate}\nduration = "{args.duration:g}s"\nvus = 20\n'
        f'[[faults]]\nname = "{kind}"\nkind = "{kind}"\nat = {at:.2f}\nduration = {args.fault_length:g}\n{extra}',
        encoding="utf-8",
    )
    return kind, at


def one(i: int, args: argparse.Namespace, workdir: Path, env: dict[str, str]) -> dict[str, object]:
    path = workdir / f"recovery-{i}.toml"
    kind, at = scenario(path, args, i)
    run_dir = workdir / f"run-{i}"
    cmd = [sys.executable, "-m", "harness.cli", "run", str(path), "--no-metrics", "--results-dir", str(run_dir)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT, env={**env, "COLUMNS": "200"})
    results = run_dir / "results.json"
    if not results.exists():
        return {"run": i, "kind": kind, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    data = json.loads(results.read_text())
    meta = data["meta"]
    [fault] = meta["faults"]
    [event] = [e for e in data["recovery"]["events"] if e["name"] == kind]
    out: dict[str, object] = {"run": i, "kind": kind, "at": at, "ended": fault["ended_at"] - meta["started_at"], "status": event["status"]}
    if event["status"] == "recovered":
        out["recovered"] = event["recovered_at"]
        out["recovery_time"] = event["recovery_time"]
        out["delta"] = event["recovered_at"] - (fault["ended_at"] - meta["started_at"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--duration", type=float, default=16)
    parser.add_argument("--fault-length", type=float, default=3)
    parser.add_argument("--latency", type=float, default=200)
    args = parser.parse_args()

    import boto3

    from harness.auth.users import create_users
    from harness.local.stack import LocalStack

    began = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-recovery-") as tmp, LocalStack(log_dir=Path(tmp) / "logs") as stack, stack.activate() as env:
        aws = boto3.session.Session(region_name=stack.info.region)
        create_users(cognito=aws.client("cognito-idp"), secrets=aws.client("secretsmanager"), user_pool_id=stack.info.user_pool_id, count=5, progress=False)
        child_env = {**os.environ, **env}
        print(f"{args.runs} runs: steady {args.rate:g} rps for {args.duration:g} s, one {args.fault_length:g} s fault each "
              f"(latency +{args.latency:g} ms / outage 503), one local stack")  # fmt: skip
        print(f"{'run':>3} {'kind':<8} {'fault end s':>11} {'recovered s':>11} {'recovery s':>10} {'error s':>8}")
        rows = []
        for i in range(args.runs):
            row = one(i, args, Path(tmp), child_env)
            rows.append(row)
            if "delta" in row:
                print(f"{i:>3} {row['kind']:<8} {row['ended']:>11.3f} {row['recovered']:>11.3f} {row['recovery_time']:>10.3f} {row['delta']:>+8.3f}")
            else:
                print(f"{i:>3} {row['kind']:<8} {row.get('status') or row.get('error')}")
    errors = [abs(float(r["delta"])) for r in rows if "delta" in r]
    if errors:
        print(
            f"recovery instant vs the fault's real end over {len(errors)} of {len(rows)} runs: "
            f"median error {statistics.median(errors):.3f} s, worst {max(errors):.3f} s "
            "(whole-second windows: the true instant lies within the second before the one reported)"
        )
    print(f"bench took {time.time() - began:.0f} s")


if __name__ == "__main__":
    main()
