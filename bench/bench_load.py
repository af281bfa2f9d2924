"""How well harness's load engine drives one core, side by side with plain Locust.

Starts one local stack (moto + the API Gateway emulator, backend latency 0 ms, sigma 0, no
throttling), creates the test users and pins the emulator (and moto) to CPU 1. Each measurement
then runs Locust headless in its own subprocess pinned to CPU 0 (``taskset -c 0``), and prints:

1. Efficiency: requests per CPU-second of the Locust process (psutil user+sys) over a window in
   the middle of the run, counted by the emulator, for (a) a bare ``FastHttpUser`` with
   ``constant(0)`` and one fixed ``Authorization`` header and (b) harness's ``HarnessUser``
   through the real ``harness/load/locustfile.py``, with a steady rate above what one core can
   send (the pacer counts the surplus as dropped). Same users, same window.
2. Steady smoothness at 2,000 rps: every request's start time (``bench/locustfiles/``) gives the
   achieved/target rate over the plan and the busiest 10 ms bin / mean 10 ms bin, for harness
   and for Locust's ``constant_throughput`` with the same total rate.
3. Burst onset: per burst, the share of the burst rate reached in the first 100 ms after the
   planned burst start, for harness and for a Locust ``LoadTestShape`` stepping
   ``constant_throughput`` users at the same instants (a shape is asked once a second).
4. The emulator's capacity on its one core, from ``bench/bench_emulator.py``'s load client
   (pinned to CPU 0), so that 1-3 are known not to be limited by the emulator.

    .venv/bin/python bench/bench_load.py [--duration 10] [--users 50] [--steady-rate 2000]

All traffic goes to 127.0.0.1; every run is bounded in time. Prints figures only; asserts
nothing (the machine is shared, so timings are compared side by side within one run).
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LOCUSTFILES = ROOT / "bench" / "locustfiles"
HARNESS_LOCUSTFILE = ROOT / "harness" / "load" / "locustfile.py"
LOCUST_CPU, EMULATOR_CPU = 0, 1
AUTH_USERS = 10
BIN = 0.010  # seconds: the smoothness bin
ONSET = 0.100  # seconds: the burst-onset window
RUN_TIMEOUT = 90.0  # no Locust run may take longer than this
RESULTS = "run"  # harness's run folder inside a measurement's folder


# --------------------------------------------------------------------------- analysis


def smoothness(starts: list[float], t0: float, duration: float, rate: float) -> dict[str, float]:
    """Achieved/target rate over [t0, t0+duration) and the busiest 10 ms bin / mean bin."""
    inside = [s for s in starts if t0 <= s < t0 + duration]
    bins = Counter(int((s - t0) / BIN) for s in inside)
    counts = sorted(bins.get(i, 0) for i in range(int(round(duration / BIN))))
    mean = len(inside) / (duration / BIN)
    busiest = counts[-1] if counts else 0
    gap = longest = 0
    for i in range(len(counts)):
        gap = gap + 1 if bins.get(i, 0) == 0 else 0
        longest = max(longest, gap)
    return {
        "requests": len(inside),
        "achieved": len(inside) / duration,
        "ratio": len(inside) / (rate * duration),
        "busiest": busiest,
        "mean_bin": mean,
        "peak_ratio": busiest / mean if mean else 0.0,
        "p99_bin": counts[int(0.99 * len(counts))] if counts else 0,
        "empty_bins": int(round(duration / BIN)) - len(bins),
        "longest_gap_ms": longest * BIN * 1000,
    }


def onsets(starts: list[float], bursts: list[float], rate: float) -> list[float]:
    """For each burst start: requests started in [t_b, t_b + 100 ms] / (rate * 100 ms)."""
    ordered = sorted(starts)
    out = []
    for t_b in bursts:
        n = bisect.bisect_right(ordered, t_b + ONSET) - bisect.bisect_left(ordered, t_b)
        out.append(n / (rate * ONSET))
    return out


# --------------------------------------------------------------------------- the driver


@dataclass
class Run:
    name: str
    run_dir: Path
    exit_code: int
    wall: float
    figures: dict[str, Any] = field(default_factory=dict)

    def times(self) -> dict[str, Any]:
        path = self.run_dir / "times.json"
        if not path.exists():
            raise SystemExit(f"{self.name}: Locust wrote no times.json; see {self.run_dir / 'locust.out'}")
        return json.loads(path.read_text())

    def results(self) -> dict[str, Any]:
        path = self.run_dir / RESULTS / "results.json"
        if not path.exists():
            raise SystemExit(f"{self.name}: harness wrote no results.json; see {self.run_dir / 'locust.out'}")
        results = json.loads(path.read_text())
        if results["meta"].get("status") != "completed":
            raise SystemExit(f"{self.name}: the run ended {results['meta'].get('status')}: {results['meta'].get('error')}")
        return results


class Bench:
    def __init__(self, stack: Any, env: dict[str, str], token: str, workdir: Path) -> None:
        self.stack = stack
        self.env = env
        self.token = token
        self.workdir = workdir
        self.api_url = stack.info.api_url

    # ---- the emulator's admin API ------------------------------------------------------------

    def admin(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.api_url}/_admin/{path}", data=data, method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:  # 127.0.0.1 only
            return json.loads(resp.read())

    def served(self) -> tuple[int, int]:
        """(all requests the emulator answered, those not 200) since the last reset."""
        counts = self.admin("GET", "counts")
        bad = sum(n for statuses in counts["routes"].values() for status, n in statuses.items() if status != "200")
        return counts["total"], bad

    # ---- scenarios ---------------------------------------------------------------------------

    def scenario(self, name: str, load: str, *, max_rate: float = 2000.0) -> Path:
        path = self.workdir / f"{name}.toml"
        path.write_text(
            f'name = "{name}"\n[target]\nbase_url = "local"\n[auth]\nusers = {AUTH_USERS}\n'
            '[[endpoints]]\nname = "list items"\npath = "/items"\n'
            f"[limits]\nmax_rate = {max_rate:g}\n[load]\n{load}",
            encoding="utf-8",
        )
        return path

    def harness_args(self, scenario: Path, run_dir: Path) -> list[str]:
        # the run folder apart from where this bench writes locust.out/locust.log: a run never
        # writes into a folder that already holds something
        return ["--scenario", str(scenario), "--results-dir", str(run_dir / RESULTS), "--run-id", run_dir.name, "--override-limits"]

    # ---- one Locust process ------------------------------------------------------------------

    def locust(self, name: str, locustfile: Path, args: list[str], *, extra_env: dict[str, str] | None = None, sample: Any = None) -> Run:
        run_dir = self.workdir / name
        run_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            "taskset", "-c", str(LOCUST_CPU),
            sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--only-summary",
            "--logfile", str(run_dir / "locust.log"), "--exit-code-on-error", "0", *args,
        ]  # fmt: skip
        env = {**os.environ, **self.env, "BENCH_TOKEN": self.token, "BENCH_TIMES_FILE": str(run_dir / "times.json"), **(extra_env or {})}
        self.admin("POST", "counts/reset")
        start = time.monotonic()
        with open(run_dir / "locust.out", "wb") as out:
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
            try:
                figures = sample(proc) if sample else {}
                code = proc.wait(timeout=max(1.0, RUN_TIMEOUT - (time.monotonic() - start)))
            except BaseException:
                proc.kill()
                proc.wait(10)
                raise
        if code != 0:
            raise SystemExit(f"{name}: Locust exited with {code}; see {run_dir / 'locust.out'} and locust.log (--keep keeps them)")
        return Run(name, run_dir, code, time.monotonic() - start, figures)

    def cpu_window(self, warm: float, window: float):
        """A sampler: once the emulator sees requests, wait ``warm`` s, then measure the Locust
        process's CPU seconds and the requests the emulator answered over ``window`` s."""
        import psutil

        def sample(proc: subprocess.Popen) -> dict[str, Any]:
            ps = psutil.Process(proc.pid)
            deadline = time.monotonic() + 60
            while self.served()[0] == 0:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"Locust sent no request (exit {proc.poll()}); see its locust.out")
                time.sleep(0.05)
            time.sleep(warm)
            n0, bad0 = self.served()
            c0, w0, s0 = ps.cpu_times(), time.monotonic(), _stolen(LOCUST_CPU)
            time.sleep(window)
            c1, w1, s1 = ps.cpu_times(), time.monotonic(), _stolen(LOCUST_CPU)
            n1, bad1 = self.served()
            if proc.poll() is not None:
                raise SystemExit("Locust exited inside the measurement window; lengthen --duration")
            cpu = (c1.user - c0.user) + (c1.system - c0.system)
            return {"requests": n1 - n0, "not_200": bad1 - bad0, "cpu": cpu, "wall": w1 - w0, "stolen": s1 - s0}

        return sample

    # ---- 1. efficiency -----------------------------------------------------------------------

    def efficiency(self, users: int, duration: float, rounds: int = 2) -> dict[str, Any]:
        """``rounds`` of (bare, harness), interleaved so that both see the same machine; the
        figures pool the rounds (total requests / total CPU seconds)."""
        warm, window = 1.5, duration - 3.0
        runs: dict[str, list[dict[str, Any]]] = {"bare": [], "ours": []}
        pacer = {"released": 0, "dropped": 0}
        rate = 0
        scenario = Path()
        for i in range(rounds):
            run = self.locust(
                f"efficiency-bare-{i}", LOCUSTFILES / "bare.py",
                ["--host", self.api_url, "-u", str(users), "-r", str(users), "-t", f"{duration:g}s"],
                sample=self.cpu_window(warm, window),
            )  # fmt: skip
            runs["bare"].append(run.figures)
            if not rate:
                # well above what one core sends, so that harness is measured saturated too
                # (dropping the surplus is counted in bulk, it costs next to nothing)
                rate = max(1000, int(math.ceil(run.figures["requests"] / run.figures["wall"] * 2.0 / 100) * 100))
                load = f'profile = "steady"\nrate = {rate}\nduration = "{duration:g}s"\nvus = {users}\n'
                scenario = self.scenario("efficiency", load, max_rate=rate)
            run_dir = self.workdir / f"efficiency-harness-{i}"
            run = self.locust(run_dir.name, HARNESS_LOCUSTFILE, self.harness_args(scenario, run_dir), sample=self.cpu_window(warm, window))
            runs["ours"].append(run.figures)
            for key in pacer:
                pacer[key] += run.results()["summary"][key]
        return {**{k: _pool(v) for k, v in runs.items()}, "rate": rate, **pacer, "users": users, "window": window, "rounds": rounds}

    # ---- 2. steady smoothness ----------------------------------------------------------------

    def steady(self, rate: float, duration: float, users: int) -> dict[str, Any]:
        from harness.plan import build_plan
        from harness.scenario import Scenario

        scenario = self.scenario("steady", f'profile = "steady"\nrate = {rate:g}\nduration = "{duration:g}s"\nvus = {users}\n', max_rate=max(rate, 2000))
        plan = build_plan(Scenario.load(scenario, override_limits=True).load_profile)
        run_dir = self.workdir / "steady-harness"
        ours = self.locust(
            "steady-harness", LOCUSTFILES / "harness_times.py", self.harness_args(scenario, run_dir), sample=self.cpu_window(0.5, duration - 1.5)
        )
        results = ours.results()
        t0 = float(results["meta"]["started_at"])
        mine = smoothness(ours.times()["starts"], t0, plan.duration, plan.total / plan.duration)
        mine.update(
            dropped=results["summary"]["dropped"], planned=plan.total, busy=ours.figures["cpu"] / ours.figures["wall"],
            stolen=ours.figures["stolen"] / ours.figures["wall"], generator=results["meta"].get("generator") or {},
        )  # fmt: skip

        per_user = rate / users
        theirs_run = self.locust(
            "steady-locust", LOCUSTFILES / "locust_steady.py",
            ["--host", self.api_url, "-u", str(users), "-r", str(users), "-t", f"{duration + 2:g}s"],
            extra_env={"BENCH_RATE_PER_USER": repr(per_user)},
            sample=self.cpu_window(1.5, duration - 1.5),
        )  # fmt: skip
        times = theirs_run.times()
        theirs = smoothness(times["starts"], times["spawned"], duration, rate)
        theirs["busy"] = theirs_run.figures["cpu"] / theirs_run.figures["wall"]
        theirs["stolen"] = theirs_run.figures["stolen"] / theirs_run.figures["wall"]
        return {"ours": mine, "theirs": theirs, "rate": rate, "duration": duration, "users": users, "per_user": per_user}

    # ---- 3. burst onset ----------------------------------------------------------------------

    def burst(self, base: float, burst_rate: float, length: float, cycles: int, users: int) -> dict[str, Any]:
        from harness.plan import build_plan
        from harness.scenario import Scenario

        load = (
            f'profile = "burst"\nbase_rate = {base:g}\nburst_rate = {burst_rate:g}\nburst_length = "{length:g}s"\n'
            f'idle_min = "2s"\nidle_max = "3s"\ncycles = {cycles}\nseed = 3\nvus = {users}\n'
        )
        scenario = self.scenario("burst", load)
        plan = build_plan(Scenario.load(scenario).load_profile)
        starts_rel = [s.start for s in plan.segments if s.label.startswith("burst")]
        run_dir = self.workdir / "burst-harness"
        ours = self.locust("burst-harness", LOCUSTFILES / "harness_times.py", self.harness_args(scenario, run_dir))
        t0 = float(ours.results()["meta"]["started_at"])
        mine = onsets(ours.times()["starts"], [t0 + s for s in starts_rel], burst_rate)

        segments = [[s.start, s.end, s.rate_from] for s in plan.segments]
        theirs_run = self.locust(
            "burst-locust", LOCUSTFILES / "locust_burst.py", ["--host", self.api_url],
            extra_env={"BENCH_SEGMENTS": json.dumps(segments), "BENCH_RATE_PER_USER": "10"},
        )  # fmt: skip
        times = theirs_run.times()
        theirs = onsets(times["starts"], [times["t0"] + s for s in starts_rel], burst_rate)
        return {"ours": mine, "theirs": theirs, "starts": starts_rel, "base": base, "rate": burst_rate, "length": length, "users": users}

    # ---- 4. the emulator's capacity ----------------------------------------------------------

    def emulator_capacity(self, duration: float, connections: int = 32) -> dict[str, Any]:
        import psutil

        port = urlsplit(self.api_url).port
        ps = psutil.Process(self.stack.info.pids["emulator"])
        self.admin("POST", "counts/reset")
        c0, w0 = ps.cpu_times(), time.monotonic()
        out = subprocess.run(
            [
                "taskset", "-c", str(LOCUST_CPU), sys.executable, str(ROOT / "bench" / "bench_emulator.py"), "--load",
                "--port", str(port), "--route", "/items", "--token", self.token,
                "--duration", f"{duration:g}", "--connections", str(connections),
            ],
            capture_output=True, text=True, timeout=duration + 30, check=True,
        )  # fmt: skip
        c1, w1 = ps.cpu_times(), time.monotonic()
        result = json.loads(out.stdout)
        served = sum(result["statuses"].values())
        cpu = (c1.user - c0.user) + (c1.system - c0.system)
        return {"rps": served / result["elapsed"], "per_cpu": served / cpu if cpu else 0.0, "busy": cpu / (w1 - w0), "statuses": result["statuses"]}


# --------------------------------------------------------------------------- setup and report


def _pool(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Sums of several measurement windows, plus each window's requests per CPU-second."""
    out = {key: sum(s[key] for s in samples) for key in ("requests", "not_200", "cpu", "wall", "stolen")}
    out["each"] = [s["requests"] / s["cpu"] if s["cpu"] else 0.0 for s in samples]
    return out


def _access_token(stack: Any) -> str:
    import boto3

    from harness.auth.secret import get_password
    from harness.auth.users import make_usernames

    session = boto3.session.Session(region_name=stack.info.region)
    password = get_password(secrets=session.client("secretsmanager"), user_pool_id=stack.info.user_pool_id)
    answer = session.client("cognito-idp").admin_initiate_auth(
        UserPoolId=stack.info.user_pool_id,
        ClientId=stack.info.client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": make_usernames(1)[0], "PASSWORD": password},
    )
    return answer["AuthenticationResult"]["AccessToken"]


def _stolen(cpu: int) -> float:
    """Seconds the hypervisor has kept ``cpu`` from this VM so far (``steal`` in /proc/stat)."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(f"cpu{cpu} "):
                    return int(line.split()[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        pass
    return 0.0


def _pin(pid: int, cpu: int) -> None:
    """Pin every thread of ``pid`` to ``cpu``."""
    subprocess.run(["taskset", "-a", "-c", "-p", str(cpu), str(pid)], check=True, stdout=subprocess.DEVNULL)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def report(eff: dict, steady: dict, burst: dict, emu: dict) -> None:
    col = 28

    def row(label: str, ours: str, theirs: str = "") -> None:
        print(f"  {label:<44}{ours:<{col}}{theirs}")

    print(f"\n  {'':<44}{'harness (HarnessUser)':<{col}}Locust")
    b, o = eff["bare"], eff["ours"]
    b_eff, o_eff = b["requests"] / b["cpu"], o["requests"] / o["cpu"]
    print(
        f"1. efficiency: {eff['users']} users, GET /items, {eff['rounds']} interleaved rounds of a {eff['window']:g} s window;"
        f" harness at {eff['rate']} rps planned (Locust: bare FastHttpUser, constant(0))"
    )
    row("requests in windows (not 200)", f"{o['requests']:,} ({o['not_200']})", f"{b['requests']:,} ({b['not_200']})")
    row("requests per second", f"{o['requests'] / o['wall']:,.0f}", f"{b['requests'] / b['wall']:,.0f}")
    row("Locust CPU (share of one core)", f"{o['cpu']:.2f} s ({_pct(o['cpu'] / o['wall'])})", f"{b['cpu']:.2f} s ({_pct(b['cpu'] / b['wall'])})")
    row("CPU 0 taken by the hypervisor (steal)", _pct(o["stolen"] / o["wall"]), _pct(b["stolen"] / b["wall"]))
    row("requests per CPU-second, each round", " / ".join(f"{x:,.0f}" for x in o["each"]), " / ".join(f"{x:,.0f}" for x in b["each"]))
    row("requests per CPU-second, pooled", f"{o_eff:,.0f}", f"{b_eff:,.0f}")
    row("ratio harness / bare (target >= 1.0x)", f"{o_eff / b_eff:.2f}x")
    row("pacer released / dropped (whole runs)", f"{eff['released']:,} / {eff['dropped']:,}")

    o, t = steady["ours"], steady["theirs"]
    print(
        f"2. steady {steady['rate']:g} rps for {steady['duration']:g} s, {steady['users']} users"
        f" (Locust: constant_throughput({steady['per_user']:g}) x {steady['users']})"
    )
    row("requests in window", f"{o['requests']:,} (dropped {o['dropped']})", f"{t['requests']:,}")
    row("achieved rps / target (goal within 0.5%)", f"{o['achieved']:,.1f} / {_pct(o['ratio'])}", f"{t['achieved']:,.1f} / {_pct(t['ratio'])}")
    row(
        "busiest 10 ms bin / mean (goal <= 2x)",
        f"{o['busiest']} / {o['mean_bin']:.1f} = {o['peak_ratio']:.2f}x",
        f"{t['busiest']} / {t['mean_bin']:.1f} = {t['peak_ratio']:.2f}x",
    )
    row(
        "99th percentile 10 ms bin / mean",
        f"{o['p99_bin']} / {o['mean_bin']:.1f} = {o['p99_bin'] / o['mean_bin']:.2f}x",
        f"{t['p99_bin']} / {t['mean_bin']:.1f} = {t['p99_bin'] / t['mean_bin']:.2f}x",
    )
    row("empty 10 ms bins / longest gap", f"{o['empty_bins']} / {o['longest_gap_ms']:.0f} ms", f"{t['empty_bins']} / {t['longest_gap_ms']:.0f} ms")
    row("Locust CPU (share of one core)", _pct(o["busy"]), _pct(t["busy"]))
    row("CPU 0 taken by the hypervisor (steal)", _pct(o["stolen"]), _pct(t["stolen"]))
    g = o["generator"]
    if g:
        row("generator stalls / longest / worst lag", f"{g['stalls']} / {g['longest_stall_ms']:g} ms / {g['max_lag_ms']:g} ms")

    print(
        f"3. burst onset: base {burst['base']:g} rps, bursts of {burst['rate']:g} rps for {burst['length']:g} s at "
        + ", ".join(f"{s:.2f}" for s in burst["starts"])
        + " s (Locust: LoadTestShape of constant_throughput(10) users)"
    )
    for i, (mine, theirs) in enumerate(zip(burst["ours"], burst["theirs"]), 1):
        row(f"burst {i}: share of rate in first 100 ms", _pct(mine), _pct(theirs))
    row("lowest (goal >= 95%)", _pct(min(burst["ours"])), _pct(min(burst["theirs"])))

    print("4. emulator capacity on its core (bench_emulator.py's client, 32 connections, on the Locust core)")
    row(
        "requests per emulator CPU-second",
        f"{emu['per_cpu']:,.0f}",
        f"(served {emu['rps']:,.0f} rps with the emulator {_pct(emu['busy'])} busy{': client-bound' if emu['busy'] < 0.9 else ''})",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load for 1 and 2 (5..30)")
    parser.add_argument("--users", type=int, default=50, help="virtual users for 1 (max 500)")
    parser.add_argument("--steady-rate", type=float, default=2000.0, help="rps for 2 (max 5000)")
    parser.add_argument("--keep", action="store_true", help="keep the run folders (printed)")
    args = parser.parse_args()
    duration = min(max(args.duration, 5.0), 30.0)
    users = max(1, min(args.users, 500))
    steady_rate = max(100.0, min(args.steady_rate, 5000.0))
    if shutil.which("taskset") is None:
        raise SystemExit("taskset (util-linux) is needed to pin processes to CPUs")
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("needs 2 CPUs: one for Locust, one for the emulator")

    import boto3

    from harness.auth.users import create_users
    from harness.local.apigw.config import BackendConfig, Throttle
    from harness.local.stack import LocalStack

    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    began = time.monotonic()
    try:
        with LocalStack(
            log_dir=workdir / "stack",
            backend=BackendConfig(latency_ms=0.0, latency_sigma=0.0),
            throttle=Throttle(rate=1_000_000, burst=1_000_000),
        ) as stack:
            env = {**stack.env(), "HARNESS_LOCAL_INFO": stack.info.model_dump_json()}
            os.environ.update(env)
            aws = boto3.session.Session(region_name=stack.info.region)
            create_users(
                cognito=aws.client("cognito-idp"), secrets=aws.client("secretsmanager"), user_pool_id=stack.info.user_pool_id, count=AUTH_USERS, progress=False
            )
            token = _access_token(stack)
            for pid in stack.info.pids.values():
                _pin(pid, EMULATOR_CPU)
            bench = Bench(stack, env, token, workdir)
            emu = bench.emulator_capacity(3.0)
            eff = bench.efficiency(users, duration)
            steady = bench.steady(steady_rate, duration, users=200)
            burst = bench.burst(50.0, 1000.0, 2.0, 3, users=100)
        from importlib.metadata import version

        print(
            f"load benchmark: Locust {version('locust')} on CPU {LOCUST_CPU}, emulator and moto on CPU {EMULATOR_CPU},"
            f" backend latency 0 ms, no throttling, {os.cpu_count()} CPUs, {time.monotonic() - began:.0f} s in all"
        )
        report(eff, steady, burst, emu)
    finally:
        if args.keep:
            print(f"run folders kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
