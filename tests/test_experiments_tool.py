"""Slow tier: the experiment tool tried as a new user would, on a copy of the fresh bake.

`main` against a branch that changes the CNN's learning rate (3 seeds each, fast
profile), the refusal of a bumped metric version, A / B / A+B, the report's
plots, and an Optuna search that resumes from its storage. The bake is copied
(with its git history) so that the branches made here stay out of the shared bake.
"""

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from .conftest import TEMPLATE, metric_version, run

pytestmark = pytest.mark.slow

PACKAGE = "my_research"  # the default bake's package
SEEDS = "3"
QUIET = "logger.mode=disabled"  # keep W&B out: each run is ~1 s shorter
# One torch thread per run: these tiny models train several times faster than with two
# threads contending for two cores, and the numbers are the same.
ENVIRONMENT = {"OMP_NUM_THREADS": "1"}
BASE_LR, NEW_LR = "3.0e-3", "1.0e-2"  # the CNN's learning rate in configs/mode/cnn.yaml
BASE_WIDTH, NEW_WIDTH = "channels: [16, 32]", "channels: [32, 64]"  # the CNN's fast width
JOBLIB = "hydra/launcher=joblib"  # Hydra's launcher for parallel jobs on one machine
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DIGITS_GOAL_ERROR = 0.01  # `goal_error` in configs/data/digits.yaml
EFFECT = "0.005"  # the difference of interest in docs/compare-experiments.md's example
DOCUMENTED = TEMPLATE / "docs" / "compare-experiments.md"
REPORT_FIGURES = (
    "learning_curves.png",
    "confusion_matrix.png",
    "per_class_accuracy.png",
    "misclassified.png",
    "weights_and_gradients.png",
)


def git(repo: Path, *args: str) -> str:
    return run(["git", *args], repo).stdout.strip()


def commit_change(repo: Path, branch: str, path: str, old: str, new: str) -> None:
    """A branch off main with one edit, committed, as a user would make it."""
    git(repo, "switch", "--quiet", "--create", branch, "main")
    target = repo / path
    assert old in target.read_text(), f"{old!r} is no longer in {path}"
    target.write_text(target.read_text().replace(old, new, 1))
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
    git(repo, *identity, "commit", "--quiet", "--no-verify", "--all", "--message", branch)


def tool(repo: Path, *args: str, check: bool = True):
    """`research-rigor ...` with the copy's code first on the path."""
    env = {**os.environ, **ENVIRONMENT, "PYTHONPATH": str(repo / "src"), "COLUMNS": "120"}
    command = [sys.executable, "-m", "research_rigor", *args]
    return run(command, repo, check=check, env=env)


def report(repo: Path, *args: str):
    """`python -m <package>.report ...`: research-rigor's report, evaluating runs with the
    copy's own `evaluate_run`."""
    env = {**os.environ, **ENVIRONMENT, "PYTHONPATH": str(repo / "src"), "COLUMNS": "120"}
    return run([sys.executable, "-m", f"{PACKAGE}.report", *args], repo, env=env)


def train(repo: Path, *args: str):
    env = {**os.environ, **ENVIRONMENT, "PYTHONPATH": str(repo / "src")}
    return run([sys.executable, "train.py", *args], repo, env=env)


@pytest.fixture(scope="module")
def repo(installed_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the bake with three branches off main: lr, width, and a metric bump."""
    copy = tmp_path_factory.mktemp("experiments") / installed_project.name
    shutil.copytree(installed_project, copy, ignore=shutil.ignore_patterns("outputs", "wandb"))
    cnn = "configs/mode/cnn.yaml"
    commit_change(copy, "exp/lr", cnn, f"lr: {BASE_LR}", f"lr: {NEW_LR}")
    commit_change(copy, "exp/width", cnn, BASE_WIDTH, NEW_WIDTH)
    metrics = f"src/{PACKAGE}/metrics.py"
    version = metric_version(copy)
    bumped = f"METRIC_VERSION = {version + 1}"
    commit_change(copy, "exp/metric-bump", metrics, f"METRIC_VERSION = {version}", bumped)
    git(copy, "switch", "--quiet", "exp/lr")  # the user works on the lr branch
    return copy


@pytest.fixture(scope="module")
def compared(repo: Path) -> tuple[Path, str]:
    """`compare` from the lr branch: main re-run now against the working tree."""
    out = repo / "outputs" / "compare"
    args = ("--seeds", SEEDS, "--common", QUIET, "--effect", EFFECT, "--out", str(out))
    done = tool(repo, "compare", *args)
    return out, done.stdout


def headers(text: str) -> list[list[str]]:
    """The column headers of every table in a printed output."""
    return [
        re.split(r"\s{2,}", line.strip())
        for line in text.splitlines()
        if line.strip().startswith("variant ")
    ]


def documented_example() -> tuple[str, dict]:
    """docs/compare-experiments.md's example output, and its JSON."""
    page = DOCUMENTED.read_text()
    example = page[page.index("<!-- example output:") :]
    text = example[example.index("```text\n") + 8 : example.index("```\n")]
    record = example[example.index("```json\n") + 8 :]
    return text, json.loads(record[: record.index("```")])


def test_compare_prints_both_sides_p_value_and_verdict(compared):
    out, printed = compared
    result = json.loads((out / "compare.json").read_text())
    baseline, experiment = result["variants"]
    for side in (baseline, experiment):
        summary = side["summary"]
        assert summary["n"] == int(SEEDS)
        assert f"{summary['mean']:.3f} ± {summary['std']:.3f}" in printed
    verdict = experiment["against_baseline"]
    assert f"{verdict['p_value']:.3g}" in printed
    assert verdict["verdict"] in ("progression", "regression", "inconclusive")
    assert verdict["verdict"] in printed
    markdown = (out / "compare.md").read_text()
    assert "| baseline |" in markdown and "| experiment |" in markdown


def test_compare_says_what_an_inconclusive_verdict_could_miss(compared):
    out, printed = compared
    verdict = json.loads((out / "compare.json").read_text())["variants"][1]["against_baseline"]
    assert 0 < verdict["mde"] < 1 and verdict["power"] == 0.8
    assert f"{verdict['mde']:.3f}" in printed and "P(better)" in printed
    assert verdict["seeds_for_effect"] >= 2 and verdict["effect"] == float(EFFECT)
    low, high = (
        verdict["probability_of_improvement_ci_low"],
        verdict["probability_of_improvement_ci_high"],
    )
    assert 0 <= low <= verdict["probability_of_improvement"] <= high <= 1


def test_the_documented_example_has_the_columns_and_keys_of_a_real_run(compared):
    out, printed = compared
    text, documented = documented_example()
    assert f"--effect {EFFECT}" in DOCUMENTED.read_text().replace("\n", " ")
    real = headers(printed)
    assert headers(text) and all(header in real for header in headers(text))
    verdict = json.loads((out / "compare.json").read_text())["variants"][1]["against_baseline"]
    assert documented.keys() == verdict.keys()


def test_compare_reruns_main_and_trains_the_branch_with_its_learning_rate(repo, compared):
    out, _ = compared
    baseline, experiment = json.loads((out / "compare.json").read_text())["variants"]
    assert baseline["git_commits"] == [git(repo, "rev-parse", "main")]
    assert experiment["git_commits"] == [git(repo, "rev-parse", "exp/lr")]
    assert baseline["metric_version"] == experiment["metric_version"] == metric_version(repo)
    for side, lr in ((baseline, BASE_LR), (experiment, NEW_LR)):
        for trained in side["runs"]:
            record = json.loads((Path(trained["run_dir"]) / "provenance.json").read_text())
            assert record["config"]["model"]["optimizer"]["lr"] == float(lr)
    assert git(repo, "worktree", "list").count("\n") == 0  # the temporary worktree is gone


def test_a_bumped_metric_version_on_one_side_is_refused(repo):
    out = repo / "outputs" / "refused"
    args = ("--seeds", SEEDS, "--common", QUIET, "--out", str(out))
    done = tool(repo, "compare", "--experiment", "exp/metric-bump", *args, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    version = metric_version(repo)  # the lr branch's: main's
    assert f"metric versions differ (baseline: {version}; experiment: {version + 1})" in done.stderr
    assert not out.exists()  # refused before anything trained


def test_shadow_prints_baseline_a_b_and_a_plus_b(repo):
    out = repo / "outputs" / "shadow"
    args = ("--seeds", SEEDS, "--common", QUIET, "--out", str(out))
    done = tool(repo, "shadow", "--a", "exp/lr", "--b", "exp/width", *args)
    result = json.loads((out / "shadow.json").read_text())
    labels = [variant["label"] for variant in result["variants"]]
    assert labels == ["baseline", "A", "B", "A+B"]
    rows = [line.split()[0] for line in done.stdout.splitlines() if " ± 0." in line]
    assert rows == labels  # the results table: one row per variant
    assert "Holm p" in done.stdout  # three comparisons at one alpha: Holm-adjusted
    for variant in result["variants"][1:]:
        assert variant["against_baseline"]["adjustment"] == "holm"
        assert (
            variant["against_baseline"]["p_value_adjusted"]
            >= variant["against_baseline"]["p_value"]
        )
    (merge,) = result["variants"][3]["git_commits"]  # A+B: the two branches merged
    assert git(repo, "rev-parse", f"{merge}^1", f"{merge}^2").split() == [
        git(repo, "rev-parse", "exp/lr"),
        git(repo, "rev-parse", "exp/width"),
    ]
    record = json.loads(
        Path(result["variants"][3]["runs"][0]["run_dir"], "provenance.json").read_text()
    )
    assert record["config"]["model"]["optimizer"]["lr"] == float(NEW_LR)
    assert record["config"]["model"]["encoder"]["channels"] == [32, 64]


def test_seeds_run_in_parallel_through_hydras_joblib_launcher(repo):
    """The tool's seeds are a Hydra multirun, so a launcher is one more common override."""
    out = repo / "outputs" / "parallel"
    tool(repo, "seeds", "--seeds", "2", "--out", str(out), "--common", QUIET, JOBLIB)
    result = json.loads((out / "seeds.json").read_text())
    assert sorted(trained["seed"] for trained in result["runs"]) == [0, 1]
    (log,) = out.rglob("launch.log")  # experiments.runs.LAUNCH_LOG: train.py's own output
    assert "Joblib.Parallel" in log.read_text() and "is launching 2 jobs" in log.read_text()


def test_report_writes_the_plots_and_a_bias_variance_table(repo, compared):
    out, _ = compared
    sweep = out / "experiment"
    done = report(repo, str(sweep))
    assert "avoidable bias" in done.stdout and "Diagnosis:" in done.stdout
    result = json.loads((sweep / "report.json").read_text())
    assert len(result["runs"]) == int(SEEDS)
    for reported in result["runs"]:
        run_dir = Path(reported["run_dir"])
        for name in REPORT_FIGURES:
            assert (run_dir / "report" / name).read_bytes().startswith(PNG_MAGIC), name
        metrics = json.loads((run_dir / "metrics.json").read_text())
        errors = reported["errors"]  # the best checkpoint re-evaluated: the same numbers
        assert errors["val_error"] == pytest.approx(1 - metrics["val/acc"], abs=1e-6)
        assert errors["test_error"] == pytest.approx(1 - metrics["test/acc"], abs=1e-6)
        assert 0 <= errors["train_error"] <= 1
        assert errors["goal_error"] == DIGITS_GOAL_ERROR  # the data config's, as recorded


def test_report_adds_its_figures_to_the_runs_own_wandb_run(repo):
    before = set((repo / "outputs" / "runs").glob("*"))
    train(repo, "+profile=fast", "logger.mode=offline")  # no W&B login here: an offline run
    (run_dir,) = set((repo / "outputs" / "runs").glob("*")) - before
    run_id = (run_dir / "wandb_run_id").read_text().strip()  # tracking.RUN_ID_FILE
    done = report(repo, str(run_dir), "--wandb")
    assert "logged to 1 of 1" in done.stdout
    media = run_dir.glob(f"wandb/offline-run-*-{run_id}/files/media/images/report/*.png")
    assert {path.name.split("_0_")[0] for path in media} == {
        name.removesuffix(".png") for name in REPORT_FIGURES
    }


# Optuna 2 (the sweeper's) on SQLAlchemy 1.4 announces SQLAlchemy 2, which is pinned out.
@pytest.mark.filterwarnings("ignore:Deprecated API features detected")
def test_optuna_search_completes_three_trials_then_resumes_its_study(repo):
    import optuna  # imported here, under the filter above

    search = ("-m", "+hparams_search=cnn_optuna", "+profile=fast", QUIET)
    train(repo, *search)
    train(repo, *search, "hydra.sweeper.n_trials=1")
    storage = f"sqlite:///{repo / 'outputs' / 'optuna' / 'cnn_optuna.db'}"
    study = optuna.load_study(study_name="cnn_fast", storage=storage)
    assert [trial.state for trial in study.trials] == [optuna.trial.TrialState.COMPLETE] * 4
    assert study.user_attrs["metric_version"] == metric_version(repo)
    assert 0.5 < study.best_value <= 1.0  # val/acc, as train.py returns it
