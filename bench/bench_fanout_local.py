"""Distributed runs on the local stack: how the fan-out scales, and what one worker costs.

Starts one local stack (backend latency 1 ms, no throttling), deploys the fan-out stack into it
(the real template, state machines and handlers; the workers run in the local Lambda runtime),
and prints:

1. Local scaling: one steady plan (``--rate`` rps for ``--duration`` s) run through the run
   state machine by 1, 2 and 4 workers against the one emulator: achieved rate (merged
   requests / planned seconds), merged p95, dropped iterations, the workers' worst late start
   and release lag. Every worker shares this machine's cores, so the figure says whether the
   split plan still adds up, not how far Lambda scales.
2. Worker efficiency: requests per CPU-second of one worker inside the local Lambda runtime
   (its handler process, psutil user+sys) vs ``harness run``'s Locust process, both pinned to
   CPU 0 (the emulator on CPU 1), both at ``--worker-rate`` rps with the same users, over the
   same window in the middle of the run, requests counted by the emulator. Target: >= 0.9x.
3. What that costs on AWS: the Lambda compute per million requests at 1,769 MB (one vCPU),
   from (2)'s requests per CPU-second, next to API Gateway's own price per million.

    .venv/bin/python bench/bench_fanout_local.py [--rate 600] [--duration 10] [--worker-rate 2000]

All traffic goes to 127.0.0.1; every run is bounded in time. Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LOAD_CPU, EMULATOR_CPU = 0, 1
USERS = 20
WORKER_MEMORY_MB = 1769  # one vCPU on Lambda
TIMEOUT = 180.0  # no execution or run may take longer


def scenario_data(name: str, rate: float, duration: float, *, workers: int, vus: int) -> dict[str, Any]:
    return {
        "name": name,
        "target": {"base_url": "local"},
        "auth": {"users": USERS},
        "endpoints": [{"name": "list items", "path": "/items"}],
        "load": {"profile": "steady", "rate": rate, "duration": duration, "vus": vus},
        "limits": {"max_rate": max(rate, 2000.0)},
        "fanout": {"workers": workers, "start_lead": "5s"},
    }


class Bench:
    def __init__(self, stack: Any, fanout: Any, workdir: Path) -> None:
        from harness.aws import AwsContext

        self.stack = stack
        self.fanout = fanout
        self.workdir = workdir
        self.aws = AwsContext()
        self.api_url = stack.info.api_url

    def admin(self, method: str, path: str) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.api_url}/_admin/{path}", method=method)
        with urllib.request.urlopen(request, timeout=5) as response:  # 127.0.0.1 only
            return json.loads(response.read())

    def served(self) -> int:
        return int(self.admin("GET", "counts")["total"])

    def execute(self, run_id: str, data: dict[str, Any]) -> Any:
        """One execution of the run state machine; the merged ResultSet."""
        from harness.fanout.execution import FanoutExecution
        from harness.fanout.launch import execution_input
        from harness.results import ResultSet
        from harness.scenario import Scenario

        scenario = Scenario.from_dict(data, override_limits=True)
        run = FanoutExecution.start(
            sfn=self.aws.client("stepfunctions"), s3=self.aws.client("s3"), state_machine_arn=self.fanout.run_state_machine,
            bucket=self.fanout.bucket, run_id=run_id, input=execution_input(scenario=scenario, override_limits=True),
        )  # fmt: skip
        final = run.wait(timeout=TIMEOUT, poll=1.0)
        path = run.download(self.workdir / run_id)
        if final.status != "SUCCEEDED" or path is None:
            raise SystemExit(f"{run_id}: the execution ended {final.status}: {run.failure()}")
        results = ResultSet.load(path)
        if results.meta["status"] != "completed":
            raise SystemExit(f"{run_id}: {results.meta.get('error')}")
        return results

    # ---- 1. scaling ------------------------------------------------------------------------

    def scaling(self, rate: float, duration: float) -> list[dict[str, Any]]:
        rows = []
        for workers in (1, 2, 4):
            self.admin("POST", "counts/reset")
            data = scenario_data(f"scale-{workers}", rate, duration, workers=workers, vus=max(20, int(rate * 0.1)))
            results = self.execute(f"scale-{workers}-{int(time.time())}", data)
            pacer = results.pacer_totals()
            generator = results.meta.get("generator") or {}
            rows.append({
                "workers": workers,
                "requests": results.total,
                "served": self.served(),
                "planned": round(pacer.target),
                "achieved": results.total / duration,
                "p95_ms": results.percentile(0.95),  # ms
                "dropped": pacer.dropped,
                "late_ms": generator.get("late_start_ms", 0.0),
                "lag_ms": generator.get("max_lag_ms", 0.0),
            })  # fmt: skip
        return rows

    # ---- 2. efficiency ---------------------------------------------------------------------

    def window(self, find: Callable[[], Any], warm: float, window: float) -> dict[str, Any]:
        """Once the emulator sees requests and ``find()`` names the load process, wait ``warm``
        s, then measure that process's CPU seconds and the requests served over ``window`` s."""
        deadline = time.monotonic() + 90
        process = None
        while process is None or self.served() == 0:
            if time.monotonic() > deadline:
                raise SystemExit("the load never started")
            process = process or find()
            time.sleep(0.05)
        time.sleep(warm)
        n0, c0, w0 = self.served(), process.cpu_times(), time.monotonic()
        time.sleep(window)
        n1, c1, w1 = self.served(), process.cpu_times(), time.monotonic()
        cpu = (c1.user - c0.user) + (c1.system - c0.system)
        return {"requests": n1 - n0, "cpu": cpu, "wall": w1 - w0}

    def worker_efficiency(self, rate: float, duration: float, warm: float, window: float) -> dict[str, Any]:
        import psutil

        moto = psutil.Process(self.stack.info.pids["moto"])

        def handler_process() -> Any:
            for child in moto.children():  # an environment, not its watchdog (a fork: the same command line)
                try:
                    command = " ".join(child.cmdline())
                except psutil.Error:
                    continue
                # the worker's execution environment that is running, not one kept frozen from an earlier run
                if "lambda_child" in command and command.endswith(f" {self.fanout.worker_function}") and child.status() != psutil.STATUS_STOPPED:
                    return child
            return None

        self.admin("POST", "counts/reset")
        data = scenario_data("efficiency-worker", rate, duration, workers=1, vus=50)
        outcome: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: outcome.update(results=self.execute(f"efficiency-{int(time.time())}", data)), daemon=True)
        thread.start()
        figures = self.window(handler_process, warm, window)
        thread.join(TIMEOUT)
        if "results" not in outcome:
            raise SystemExit("the worker's execution did not end")
        return figures

    def run_efficiency(self, rate: float, duration: float, warm: float, window: float) -> dict[str, Any]:
        import psutil

        path = self.workdir / "efficiency.toml"
        path.write_text(  # the same scenario as the worker's, as a file
            f'name = "efficiency-run"\n[target]\nbase_url = "local"\n[auth]\nusers = {USERS}\n'
            '[[endpoints]]\nname = "list items"\npath = "/items"\n'
            f'[limits]\nmax_rate = {max(rate, 2000.0):g}\n[load]\nprofile = "steady"\nrate = {rate:g}\nduration = {duration:g}\nvus = 50\n'
        )
        self.admin("POST", "counts/reset")
        cmd = ["taskset", "-c", str(LOAD_CPU), sys.executable, "-m", "harness.cli", "run", str(path), "--no-metrics",
               "--override-limits", "--results-dir", str(self.workdir / "efficiency-run")]  # fmt: skip
        with open(self.workdir / "efficiency-run.out", "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
            try:
                parent = psutil.Process(proc.pid)

                def locust_process() -> Any:
                    for child in parent.children(recursive=True):
                        try:
                            if "locust" in " ".join(child.cmdline()):
                                return child
                        except psutil.Error:
                            continue
                    return None

                figures = self.window(locust_process, warm, window)
                proc.wait(TIMEOUT)
            finally:
                if proc.poll() is None:
                    proc.kill()
        return figures


def pin(pid: int, cpu: int) -> None:
    subprocess.run(["taskset", "-a", "-c", "-p", str(cpu), str(pid)], check=True, stdout=subprocess.DEVNULL)


def report(scaling: list[dict[str, Any]], rate: float, duration: float, worker: dict[str, Any], run: dict[str, Any], worker_rate: float) -> None:
    from harness.fanout.cost import PRICES, PRICES_DATE
    from harness.fanout.spec import MAX_WORKER_RATE

    print(f"\n1. local scaling: steady {rate:g} rps for {duration:g} s, one emulator, the workers share {os.cpu_count()} CPUs")
    print(
        f"   {'workers':>7} {'requests':>9} {'served':>7} {'planned':>8} {'achieved rps':>13} {'p95 ms':>7} {'dropped':>8} {'late start ms':>14} {'worst lag ms':>13}"
    )
    for r in scaling:
        print(f"   {r['workers']:>7} {r['requests']:>9,} {r['served']:>7,} {r['planned']:>8,} {r['achieved']:>13,.1f} {r['p95_ms']:>7.1f} "
              f"{r['dropped']:>8,} {r['late_ms']:>14,.0f} {r['lag_ms']:>13,.1f}")  # fmt: skip

    def per_cpu(f: dict[str, Any]) -> float:
        return f["requests"] / f["cpu"] if f["cpu"] else float("nan")

    ratio = per_cpu(worker) / per_cpu(run)
    print(f"\n2. requests per CPU-second at {worker_rate:g} rps on CPU {LOAD_CPU} (target: worker >= 0.9x harness run)")
    for name, f in (("worker in the local Lambda runtime", worker), ("harness run (Locust process)", run)):
        print(f"   {name:<36} {per_cpu(f):>9,.0f} req/CPU-s  ({f['requests']:,} requests, {f['cpu']:.2f} CPU-s over {f['wall']:.1f} s)")
    print(f"   ratio: {ratio:.2f}x")

    gb_second = PRICES["lambda_gb_second"][0]
    seconds = 1_000_000 / per_cpu(worker)  # one vCPU busy for this long per million requests
    compute = seconds * WORKER_MEMORY_MB / 1024 * gb_second
    print(f"\n3. cost per million requests on AWS ({PRICES_DATE})")
    capped = 1_000_000 / MAX_WORKER_RATE * WORKER_MEMORY_MB / 1024 * gb_second
    print(f"   worker Lambda at {WORKER_MEMORY_MB:,} MB (1 vCPU): {seconds:,.0f} CPU-s per million at {per_cpu(worker):,.0f} req/CPU-s -> ${compute:.4f};"
          f" a worker paces at most {MAX_WORKER_RATE:,.0f} rps -> ${capped:.4f}")  # fmt: skip
    print(f"   API Gateway HTTP API's own price: ${PRICES['apigw_http_request'][0] * 1e6:.2f}; REST API: ${PRICES['apigw_rest_request'][0] * 1e6:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=600.0, help="rps of the scaling plan (100..2000)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each run (6..30)")
    parser.add_argument("--worker-rate", type=float, default=2000.0, help="rps of the efficiency runs (500..2500)")
    parser.add_argument("--keep", action="store_true", help="keep the run folders (printed)")
    args = parser.parse_args()
    rate = min(max(args.rate, 100.0), 2000.0)
    duration = min(max(args.duration, 6.0), 30.0)
    worker_rate = min(max(args.worker_rate, 500.0), 2500.0)
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        raise SystemExit("needs taskset and 2 CPUs: one for the load, one for the emulator")

    from harness.aws import AwsContext
    from harness.fanout.launch import FanoutStack, deploy_local
    from harness.local.apigw.config import BackendConfig, Throttle
    from harness.local.stack import LocalStack

    workdir = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    began = time.monotonic()
    try:
        with LocalStack(log_dir=workdir / "stack", backend=BackendConfig(latency_ms=1.0, latency_sigma=0.0),
                        throttle=Throttle(rate=1_000_000, burst=1_000_000)) as stack, stack.activate():  # fmt: skip
            fanout = FanoutStack.of(deploy_local(stack.info, aws=AwsContext(), stack_name="bench", start_lead=5))
            bench = Bench(stack, fanout, workdir)
            scaling = bench.scaling(rate, duration)
            pin(stack.info.pids["moto"], LOAD_CPU)  # its handler processes inherit CPU 0
            pin(stack.info.pids["emulator"], EMULATOR_CPU)
            warm, window = 2.0, max(duration - 5.0, 3.0)
            worker = bench.worker_efficiency(worker_rate, duration, warm, window)
            run = bench.run_efficiency(worker_rate, duration, warm, window)
        print(f"fan-out benchmark: local stack, {os.cpu_count()} CPUs, {time.monotonic() - began:.0f} s in all")
        report(scaling, rate, duration, worker, run, worker_rate)
    finally:
        if args.keep:
            print(f"run folders kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
