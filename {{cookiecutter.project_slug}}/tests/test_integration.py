"""`python train.py +profile=fast` end to end, in a subprocess, in a real temporary git repo."""

import json
from pathlib import Path

import pytest
import torch

from {{ cookiecutter.package_name }}.metrics import METRIC_VERSION, MONITOR, REPORTED

from .project_copy import git, new_run_dir, run_dirs, train
from .wandb_records import run_summary

pytestmark = pytest.mark.slow

CHANCE = 0.1  # ten balanced classes
MIN_ACCURACY = 5 * CHANCE  # "beats chance by a wide margin"
FAKE_SECRET = "wandb-key-0123456789abcdef"  # must never reach an artifact
HEAVY_MODULES = ("torch", "lightning", "wandb")


@pytest.fixture(scope="module")
def clean_run(project: Path) -> Path:
    before = run_dirs(project)
    train(project, "+profile=fast", "logger.mode=offline", WANDB_API_KEY=FAKE_SECRET)
    return new_run_dir(project, before)


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
        refused = train(project, "+profile=fast", "logger.mode=disabled", check=False)
        assert refused.returncode == 1
        assert "uncommitted changes" in refused.stderr and "train.py" in refused.stderr
        assert "allow_dirty=true" in refused.stderr and "Traceback" not in refused.stderr

        before = run_dirs(project)
        train(project, "+profile=fast", "logger.mode=disabled", "allow_dirty=true")
        run_dir = new_run_dir(project, before)
        assert json.loads((run_dir / "provenance.json").read_text())["git_dirty"] is True
        assert "+# an uncommitted experiment" in (run_dir / "dirty.patch").read_text()
    finally:
        train_py.write_text(original)


def test_no_secret_from_the_environment_reaches_any_artifact(clean_run):
    for path in (p for p in clean_run.rglob("*") if p.is_file()):
        assert FAKE_SECRET.encode() not in path.read_bytes(), path.relative_to(clean_run)


def test_unknown_override_fails_with_hydra_message_before_heavy_imports(project):
    done = train(project, "mode=transformer", check=False)
    assert done.returncode == 1
    assert "transformer" in done.stderr and "Traceback" not in done.stderr
    traced = train(project, "mode=transformer", check=False, PYTHONPROFILEIMPORTTIME="1")
    imported = {line.split("|")[-1].strip() for line in traced.stderr.splitlines()}
    assert not imported & set(HEAVY_MODULES)
