"""Slow tier: the baked DVC pipeline, offline, with the clean-tree guard on.

Runs in a clone of the default bake (so the shared bake stays clean), with HOME
pointed at a temporary folder so the default local remote lands there too.
"""

import hashlib
import json
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import metric_version, run, user_env
from .image_datasets import TEXTURES

pytestmark = pytest.mark.slow

PIPELINE_OUTPUTS = ("data/digits", "artifacts/train", "artifacts/evaluate")
PACKAGE = "my_research"  # the default bake's import name
OWN = TEXTURES.name  # the user's own dataset: generated class-per-folder photo crops


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A user's shell, whoever runs the tests: Python writes its bytecode beside the code
    (some CI images turn that off, which hid a second repro that re-ran train)."""
    env = user_env(tmp_path_factory.mktemp("home"), WANDB_MODE="disabled")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


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


def test_repro_runs_prepare_split_train_evaluate(project, env, first_repro):
    for stage in ("prepare", "split", "train", "evaluate"):
        assert f"Running stage '{stage}'" in first_repro
    metrics = json.loads((project / "artifacts" / "evaluate" / "metrics.json").read_text())
    assert metrics["metric_version"] == metric_version(project) and "test/acc" in metrics
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


def test_queued_experiment_sweep_over_modes(project, env, first_repro):
    dvc(project, env, "exp", "run", "--queue", "-S", "mode=cnn,mlp")
    dvc(project, env, "exp", "run", "--run-all")
    table = dvc(project, env, "exp", "show", "--csv").stdout
    succeeded = [line for line in table.splitlines() if ",Success," in line]
    assert len(succeeded) == 2, table
    assert any(",mlp,fast," in line for line in succeeded), table
    assert sh(project, env, "git", "status", "--porcelain").stdout == ""


@pytest.fixture(scope="module")
def own_dataset(project, env, first_repro) -> str:
    """The README's "Use your own data" steps up to `dvc push`, on generated image folders;
    returns the data's DVC hash. Runs after the digits tests: it leaves a branch checked out."""
    TEXTURES.write(project / "data" / OWN)
    sh(project, env, sys.executable, "-m", f"{PACKAGE}.data", "split", f"data/{OWN}")
    TEXTURES.review(project / "configs" / "data" / f"{OWN}.yaml")
    dvc(project, env, "add", f"data/{OWN}")
    sh(project, env, "git", "switch", "--quiet", "-c", f"data/{OWN}")
    tracked = (f"data/{OWN}.dvc", "data/.gitignore", f"data/{OWN}.split.json")
    sh(project, env, "git", "add", *tracked, f"configs/data/{OWN}.yaml")
    sh(project, env, "git", "commit", "--quiet", "--no-verify", "-m", f"Add the {OWN} dataset")
    dvc(project, env, "push")
    return yaml.safe_load((project / "data" / f"{OWN}.dvc").read_text())["outs"][0]["md5"]


def test_own_dataset_added_with_dvc_trains_and_is_traced(project, env, own_dataset):
    trained = sh(project, env, sys.executable, "train.py", f"data={OWN}", "+profile=fast")
    run_dir = Path(trained.stdout.rsplit("outputs in ", 1)[1].strip())
    record = json.loads((run_dir / "provenance.json").read_text())
    assert record["data_dvc_md5"] == own_dataset and record["git_dirty"] is False
    assert record["config"]["data"]["data_dir"] == f"data/{OWN}"
    assert sh(project, env, "git", "status", "--porcelain").stdout == ""


def test_user_dataset_not_pulled_gives_a_clear_message(project, env, own_dataset):
    """A clone before `dvc pull`: one line naming the data and the command; then the pull."""
    own = project / "data" / OWN
    before = {str(path.relative_to(own)): path.read_bytes() for path in own.rglob("*.*")}
    run(["rm", "-rf", ".dvc/cache", f"data/{OWN}"], project)
    done = sh(project, env, sys.executable, "train.py", f"data={OWN}", check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    message = done.stderr.strip().splitlines()[-1]  # UserError: the last line, alone
    assert message.startswith("error: ") and f"data/{OWN}" in message and "dvc pull" in message

    dvc(project, env, "pull", f"data/{OWN}.dvc")
    assert {str(path.relative_to(own)): path.read_bytes() for path in own.rglob("*.*")} == before
