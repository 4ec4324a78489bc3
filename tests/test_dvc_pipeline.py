"""Slow tier: the baked DVC pipeline, offline, with the clean-tree guard on.

Runs in a clone of the default bake (so the shared bake stays clean), with HOME
pointed at a temporary folder so the default local remote lands there too.
"""

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import run

pytestmark = pytest.mark.slow

PIPELINE_OUTPUTS = ("data/digits", "artifacts/train", "artifacts/evaluate")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("home")
    return {
        **os.environ,
        "HOME": str(home),  # the default DVC remote is ~/.cache/dvc-remotes/<slug>
        # stages call `python`: this environment's
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
        "WANDB_MODE": "disabled",
    }


@pytest.fixture(scope="module")
def project(installed_project: Path, tmp_path_factory: pytest.TempPathFactory, env) -> Path:
    clone = tmp_path_factory.mktemp("dvc") / installed_project.name
    run(["git", "clone", "--quiet", str(installed_project), str(clone)], clone.parent)
    env["PYTHONPATH"] = str(clone / "src")  # the clone's own code
    return clone


def sh(project: Path, env: dict[str, str], *args: str, check: bool = True):
    return run(list(args), project, check=check, env=env)


def dvc(project: Path, env: dict[str, str], *args: str, check: bool = True):
    return sh(project, env, sys.executable, "-m", "dvc", *args, check=check)


def digest(project: Path) -> dict[str, str]:
    """SHA-256 of every file the pipeline writes."""
    files = (p for out in PIPELINE_OUTPUTS for p in sorted((project / out).rglob("*")))
    return {
        str(p.relative_to(project)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in files
        if p.is_file()
    }


@pytest.fixture(scope="module")
def first_repro(project: Path, env) -> str:
    return dvc(project, env, "repro").stdout


def test_repro_runs_prepare_train_evaluate(project, env, first_repro):
    for stage in ("prepare", "train", "evaluate"):
        assert f"Running stage '{stage}'" in first_repro
    metrics = (project / "artifacts" / "evaluate" / "metrics.json").read_text()
    assert '"metric_version": 1' in metrics and '"test/acc"' in metrics
    for plot in ("confusion.csv", "per_class.csv", "learning_curves.csv"):
        assert (project / "artifacts" / "evaluate" / "plots" / plot).is_file()


def test_train_stage_ran_with_the_guard_on(project, env, first_repro):
    record = (project / "artifacts" / "train" / "provenance.json").read_text()
    head = sh(project, env, "git", "rev-parse", "HEAD").stdout.strip()
    assert f'"git_commit": "{head}"' in record and '"git_dirty": false' in record


def test_only_the_lock_needs_committing_and_second_repro_does_nothing(project, env, first_repro):
    status = sh(project, env, "git", "status", "--porcelain").stdout
    assert status.strip() == "?? dvc.lock"
    sh(project, env, "git", "add", "dvc.lock")
    sh(project, env, "git", "commit", "--quiet", "--no-verify", "-m", "Lock the pipeline")
    assert "Data and pipelines are up to date" in dvc(project, env, "repro").stdout
    assert sh(project, env, "git", "status", "--porcelain").stdout == ""


def test_editing_the_cnn_learning_rate_reruns_only_train_and_evaluate(project, env, first_repro):
    mode = project / "configs" / "mode" / "cnn.yaml"
    mode.write_text(mode.read_text().replace("lr: 3.0e-3", "lr: 2.0e-3"))
    assert "model.optimizer.lr" in dvc(project, env, "params", "diff").stdout
    sh(project, env, "git", "commit", "--quiet", "--no-verify", "-am", "Tune the CNN lr")
    rerun = dvc(project, env, "repro").stdout
    assert "Running stage 'train'" in rerun and "Running stage 'evaluate'" in rerun
    assert "Running stage 'prepare'" not in rerun
    assert "test/acc" in dvc(project, env, "metrics", "diff", "HEAD").stdout
    sh(project, env, "git", "commit", "--quiet", "--no-verify", "-am", "Lock the tuned CNN")


def test_metrics_and_plots_show(project, env, first_repro, tmp_path):
    assert "test/acc" in dvc(project, env, "metrics", "show").stdout
    dvc(project, env, "plots", "show", "--out", str(tmp_path / "plots"))
    assert (tmp_path / "plots" / "index.html").is_file()


def test_push_then_pull_restores_everything_byte_for_byte(project, env, first_repro):
    dvc(project, env, "push")
    before = digest(project)
    run(["rm", "-rf", ".dvc/cache", *PIPELINE_OUTPUTS], project)
    dvc(project, env, "pull")
    assert digest(project) == before
    assert "up to date" in dvc(project, env, "status").stdout


def test_unreachable_remote_gives_dvcs_own_message(project, env, first_repro, tmp_path):
    missing = tmp_path / "no-such-remote"
    dvc(project, env, "remote", "add", "--local", "unreachable", str(missing))
    run(["rm", "-rf", ".dvc/cache", "data/digits"], project)
    done = dvc(project, env, "pull", "--remote", "unreachable", check=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "ERROR" in done.stderr and "data/digits" in done.stdout + done.stderr
    dvc(project, env, "pull")  # the default remote still has everything


def test_user_dataset_not_pulled_gives_a_clear_message(project, env, first_repro):
    done = sh(project, env, sys.executable, "train.py", "data=my_dataset", check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "data/my_dataset is missing" in done.stderr and "dvc pull" in done.stderr


def test_queued_experiment_sweep_over_modes(project, env, first_repro):
    dvc(project, env, "exp", "run", "--queue", "-S", "mode=cnn,mlp")
    dvc(project, env, "exp", "run", "--run-all")
    table = dvc(project, env, "exp", "show", "--csv").stdout
    succeeded = [line for line in table.splitlines() if ",Success," in line]
    assert len(succeeded) == 2, table
    assert any(",mlp,fast," in line for line in succeeded), table
    assert sh(project, env, "git", "status", "--porcelain").stdout == ""


def test_own_dataset_added_with_dvc_trains_and_is_traced(project, env, first_repro):
    """The README's "Use your own data" steps, with the digits arrays standing in."""
    own = project / "data" / "my_dataset"
    shutil.copytree(project / "data" / "digits", own)  # the same format: images, labels, split
    dvc(project, env, "add", "data/my_dataset")
    sh(project, env, "git", "add", "data/my_dataset.dvc", "data/.gitignore")
    sh(project, env, "git", "commit", "--quiet", "--no-verify", "-m", "Add my dataset")
    added = yaml.safe_load((project / "data" / "my_dataset.dvc").read_text())["outs"][0]["md5"]

    trained = sh(project, env, sys.executable, "train.py", "data=my_dataset", "+profile=fast")
    run_dir = Path(trained.stdout.rsplit("outputs in ", 1)[1].strip())
    record = json.loads((run_dir / "provenance.json").read_text())
    assert record["data_dvc_md5"] == added and record["git_dirty"] is False
    assert sh(project, env, "git", "status", "--porcelain").stdout == ""

    dvc(project, env, "push")
    before = {path.name: path.read_bytes() for path in own.iterdir()}
    run(["rm", "-rf", ".dvc/cache", "data/my_dataset"], project)
    dvc(project, env, "pull", "data/my_dataset.dvc")
    assert {path.name: path.read_bytes() for path in own.iterdir()} == before
