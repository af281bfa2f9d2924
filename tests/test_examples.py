"""The CI example runs what it says: its harness command line is valid and its scenario loads."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from harness.cli.parser import build_parser as _parser
from harness.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]


def test_the_github_actions_example_runs_a_valid_harness_command() -> None:
    workflow = yaml.safe_load((ROOT / "examples" / "github-actions.yml").read_text())
    steps = workflow["jobs"]["perf"]["steps"]
    runs = [step["run"] for step in steps if "run" in step and "harness run" in step["run"]]
    assert len(runs) == 1
    argv = shlex.split(re.sub(r"^\S*harness ", "", runs[0]))
    args = _parser().parse_args(argv)
    assert args.command == "run" and args.local
    scenario = Scenario.load(ROOT / args.scenario)
    assert scenario.gates, "the CI scenario must carry gates, or the build can never fail"
    # the summary and JUnit steps read the files the run writes
    text = (ROOT / "examples" / "github-actions.yml").read_text()
    assert f"{args.results_dir}/summary.md" in text and f"{args.results_dir}/junit.xml" in text
