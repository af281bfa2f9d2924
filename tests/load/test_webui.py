"""Plain Locust with its web UI: ``locust -f locustfiles/api.py --scenario ...``, started from the UI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from harness.local.stack import LocalStack
from harness.results import ResultSet

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_web_ui_runs_a_scenario_and_writes_results(stack: LocalStack, tmp_path: Path) -> None:
    scenario = tmp_path / "ui.toml"
    scenario.write_text(
        'name = "ui"\n[target]\nbase_url = "local"\n[auth]\nusers = 6\n'
        '[[endpoints]]\nname = "list items"\npath = "/items"\n'
        '[load]\nprofile = "steady"\nrate = 20\nduration = "4s"\nvus = 5\n'
    )
    port = free_port()
    cmd = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles" / "api.py"), "--scenario", str(scenario),
           "--results-dir", str(tmp_path / "run"), "--web-host", "127.0.0.1", "--web-port", str(port)]  # fmt: skip
    proc = subprocess.Popen(cmd, env={**os.environ, **stack.run_env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 30
        while True:
            try:
                page = urllib.request.urlopen(base + "/", timeout=2).read().decode()
                break
            except OSError:
                assert time.time() < deadline and proc.poll() is None, (
                    proc.stderr.read().decode()[-2000:] if proc.poll() is not None else "web UI did not start"
                )
                time.sleep(0.3)
        assert "locust" in page.lower()
        assert "HarnessUser" in page and "OpenModelShape" in page
        # press "start": the shape drives the run; user count fields do not matter
        form = urllib.parse.urlencode({"user_count": 1, "spawn_rate": 1, "host": ""}).encode()
        started = json.loads(urllib.request.urlopen(urllib.request.Request(base + "/swarm", data=form), timeout=5).read())
        assert started["success"] is True
        results_file = tmp_path / "run" / "results.json"
        deadline = time.time() + 60
        while not results_file.exists():
            assert time.time() < deadline and proc.poll() is None, "the run did not finish"
            time.sleep(0.3)
        stats = json.loads(urllib.request.urlopen(base + "/stats/requests", timeout=5).read())
        by_name = {row["name"]: row for row in stats["stats"]}
        assert by_name["list items"]["num_requests"] == 80
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    results = ResultSet.load(results_file)
    assert results.meta["status"] == "completed"
    assert results.outcome_counts()["ok"] == 80
