"""`python train.py +profile=fast` end to end, in a subprocess, in a real temporary git repo."""

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from {{ cookiecutter.package_name }}.metrics import METRIC_VERSION, MONITOR, REPORTED
from {{ cookiecutter.package_name }}.model import Classifier

from .project_copy import git, new_run_dir, run, run_dirs, train
from .wandb_records import run_summary

pytestmark = pytest.mark.slow

CHANCE = 0.1  # ten balanced classes
MIN_ACCURACY = 5 * CHANCE  # "beats chance by a wide margin"
FAKE_SECRET = "wandb-key-0123456789abcdef"  # must never reach an artifact
HEAVY_MODULES = ("torch", "lightning", "wandb")
PROGRESS_BAR = re.compile(r"\r|\x1b|it/s")  # tqdm redraws its bars in place
HYDRA_LOG_PREFIX = re.compile(r"^\[[^]]*\]\[[^]]*\]\[[A-Z]+\] - ")  # [time][logger][LEVEL] -
WARNING = re.compile(r"warn|\.py:\d+: ", re.IGNORECASE)  # a logged warning or warnings.warn
# Lightning's hint on a machine where SLURM is installed: about how the command was launched,
# not about anything in the project.
ENVIRONMENT_HINTS = ("The `srun` command is available on your system",)


@pytest.fixture(scope="module")
def clean_training(project: Path) -> tuple[Path, subprocess.CompletedProcess]:
    """A fast run from a clean tree: its directory, and what it printed."""
    before = run_dirs(project)
    done = train(project, "+profile=fast", "logger.mode=offline", WANDB_API_KEY=FAKE_SECRET)
    return new_run_dir(project, before), done


@pytest.fixture(scope="module")
def clean_run(clean_training) -> Path:
    return clean_training[0]


def test_trains_and_beats_chance(clean_run):
    metrics = json.loads((clean_run / "metrics.json").read_text())
    assert metrics[MONITOR] > MIN_ACCURACY and metrics[REPORTED] > MIN_ACCURACY
    assert metrics["metric_version"] == METRIC_VERSION
    assert (clean_run / "checkpoints" / "best.ckpt").is_file()
    assert (clean_run / "checkpoints" / "last.ckpt").is_file()
    assert (clean_run / "metrics.csv").is_file()


def test_evaluate_py_on_the_best_checkpoint_reproduces_the_runs_test_metric_exactly(
    project, clean_run, tmp_path
):
    best = clean_run / "checkpoints" / "best.ckpt"
    run([sys.executable, "evaluate.py", str(best), "--out", str(tmp_path)], project)
    evaluated = json.loads((tmp_path / "metrics.json").read_text())
    assert evaluated[REPORTED] == json.loads((clean_run / "metrics.json").read_text())[REPORTED]


def test_a_fast_run_says_each_thing_once_and_warns_of_nothing(clean_training):
    _, done = clean_training
    lines = [line.strip() for line in (done.stdout + done.stderr).split("\n")]
    lines = [line for line in lines if line and not PROGRESS_BAR.search(line)]
    messages = [HYDRA_LOG_PREFIX.sub("", line) for line in lines]
    repeated = [message for message, count in Counter(messages).items() if count > 1]
    assert not repeated, "printed more than once:\n" + "\n".join(repeated)
    warnings = [
        line
        for line in lines
        if WARNING.search(line) and not any(known in line for known in ENVIRONMENT_HINTS)
    ]
    assert not warnings, "warnings:\n" + "\n".join(warnings)
    assert sum(line.startswith("W&B offline:") for line in lines) == 1


def test_every_artifact_names_the_commit(project, clean_run):
    head = git(project, "rev-parse", "HEAD")
    record = json.loads((clean_run / "provenance.json").read_text())
    assert record["git_commit"] == head and record["git_dirty"] is False
    for checkpoint in (clean_run / "checkpoints").glob("*.ckpt"):
        stored = torch.load(checkpoint, map_location="cpu", weights_only=True)["provenance"]
        assert stored["git_commit"] == head and stored["data_version"] == record["data_version"]
        Classifier.load_from_checkpoint(checkpoint, map_location="cpu", weights_only=True)


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
