"""Slow tier: the default bake, installed as its README says, trains: each mode fast, one full.

Its own test suite runs as a step of its CI workflow, in tests/test_workflow.py.
"""

import json
import sys
from pathlib import Path

import pytest

from .conftest import run

pytestmark = pytest.mark.slow

FULL_PROFILE_MIN_TEST_ACCURACY = 0.95


def newest_run(project: Path) -> Path:
    return max((project / "outputs" / "runs").iterdir(), key=lambda path: path.stat().st_mtime)


def test_readme_first_run_trains_with_no_extra_steps(installed_project):
    done = run([sys.executable, "train.py", "+profile=fast"], installed_project)
    assert "val/acc = " in done.stdout
    metrics = json.loads((newest_run(installed_project) / "metrics.json").read_text())
    assert metrics["val/acc"] > 0.5
    assert run(["git", "status", "--porcelain"], installed_project).stdout == ""


@pytest.mark.parametrize("mode", ["cnn", "mlp"])
def test_each_mode_trains(installed_project, mode):
    run(
        [sys.executable, "train.py", f"mode={mode}", "+profile=fast", "logger.mode=disabled"],
        installed_project,
    )
    assert (
        json.loads((newest_run(installed_project) / "provenance.json").read_text())["mode"] == mode
    )


def test_full_profile_of_the_default_mode_reaches_its_accuracy(installed_project):
    run([sys.executable, "train.py", "logger.mode=disabled"], installed_project)
    metrics = json.loads((newest_run(installed_project) / "metrics.json").read_text())
    assert metrics["test/acc"] >= FULL_PROFILE_MIN_TEST_ACCURACY
