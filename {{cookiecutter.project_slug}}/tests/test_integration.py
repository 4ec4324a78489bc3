"""`python train.py +profile=fast` end to end, in a subprocess, in a real temporary git repo."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from {{ cookiecutter.package_name }}.metrics import METRIC_VERSION, MONITOR, REPORTED

from .conftest import ROOT
from .wandb_records import run_summary

pytestmark = pytest.mark.slow

CHANCE = 0.1  # ten balanced classes
MIN_ACCURACY = 5 * CHANCE  # "beats chance by a wide margin"
NOT_COPIED = shutil.ignore_patterns(  # what git ignores, plus git itself
    ".git",
    ".venv",
    "outputs",
    "multirun",
    "wandb",
    "__pycache__",
    "*.egg-info",
    ".*_cache",
    "digits",
)


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_MODE", "HYDRA_FULL_ERROR")}
    env["PYTHONPATH"] = str(cwd / "src")  # this copy's code, not the installed package
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def git(repo: Path, *args: str) -> str:
    return run(["git", *args], repo).stdout.strip()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of this project's working tree, committed in a fresh git repository."""
    copy = tmp_path_factory.mktemp("project") / ROOT.name
    shutil.copytree(ROOT, copy, ignore=NOT_COPIED)
    git(copy, "init", "--quiet")
    git(copy, "add", "--all")
    git(
        copy,
        "-c",
        "user.name=Test",
        "-c",
        "user.email=test@example.com",
        "commit",
        "--quiet",
        "--no-verify",
        "-m",
        "snapshot",
    )
    return copy


def train(project: Path, *overrides: str, check: bool = True) -> subprocess.CompletedProcess:
    return run([sys.executable, "train.py", "+profile=fast", *overrides], project, check=check)


def only_run_dir(project: Path, before: set[Path]) -> Path:
    (new,) = set((project / "outputs" / "runs").iterdir()) - before
    return new


def run_dirs(project: Path) -> set[Path]:
    runs = project / "outputs" / "runs"
    return set(runs.iterdir()) if runs.exists() else set()


@pytest.fixture(scope="module")
def clean_run(project: Path) -> Path:
    before = run_dirs(project)
    train(project, "logger.mode=offline")
    return only_run_dir(project, before)


def test_trains_and_beats_chance(clean_run):
    metrics = json.loads((clean_run / "metrics.json").read_text())
    assert metrics[MONITOR] > MIN_ACCURACY and metrics[REPORTED] > MIN_ACCURACY
    assert metrics["metric_version"] == METRIC_VERSION
    assert (clean_run / "checkpoints" / "best.ckpt").is_file()
    assert (clean_run / "checkpoints" / "last.ckpt").is_file()
    assert (clean_run / "metrics.csv").is_file()


def test_every_artifact_names_the_commit(project, clean_run):
    head = git(project, "rev-parse", "HEAD")
    record = json.loads((clean_run / "provenance.json").read_text())
    assert record["git_commit"] == head and record["git_dirty"] is False
    for checkpoint in (clean_run / "checkpoints").glob("*.ckpt"):
        stored = torch.load(checkpoint, map_location="cpu", weights_only=False)["provenance"]
        assert stored["git_commit"] == head and stored["data_version"] == record["data_version"]


def test_wandb_offline_run_logged_commit_metric_and_data_versions(project, clean_run):
    (run_file,) = clean_run.glob("wandb/offline-run-*/run-*.wandb")
    logged = run_summary(run_file)
    record = json.loads((clean_run / "provenance.json").read_text())
    assert logged["config"]["git_commit"] == git(project, "rev-parse", "HEAD")
    assert logged["config"]["git_dirty"] is False
    assert logged["config"]["metric_version"] == METRIC_VERSION
    assert logged["config"]["data_version"] == record["data_version"]
    assert logged["name"] == f"{record['mode']}-fast-s0"
    assert {record["mode"], "fast"} <= set(logged["tags"])
    assert logged["exit_code"] == 0


def test_tree_stays_clean_after_training(project, clean_run):
    assert git(project, "status", "--porcelain") == ""


def test_dirty_tree_is_refused_then_allowed_and_recorded(project, clean_run):
    train_py = project / "train.py"
    original = train_py.read_text()
    train_py.write_text(original + "\n# an uncommitted experiment\n")
    try:
        refused = train(project, "logger.mode=disabled", check=False)
        assert refused.returncode == 1
        assert "uncommitted changes" in refused.stderr and "train.py" in refused.stderr
        assert "allow_dirty=true" in refused.stderr and "Traceback" not in refused.stderr

        before = run_dirs(project)
        train(project, "logger.mode=disabled", "allow_dirty=true")
        run_dir = only_run_dir(project, before)
        assert json.loads((run_dir / "provenance.json").read_text())["git_dirty"] is True
        assert "+# an uncommitted experiment" in (run_dir / "dirty.patch").read_text()
    finally:
        train_py.write_text(original)


def test_unknown_override_fails_with_hydra_message(project):
    done = train(project, "mode=transformer", check=False)
    assert done.returncode == 1
    assert "transformer" in done.stderr and "Traceback" not in done.stderr
