"""The experiment tools: statistics and verdicts on fixed numbers, refusals of incomparable
runs, and one real comparison of `main` (in a worktree) with a branch, in a temporary repo."""

import json
import math
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.experiments.compare import IncomparableError, check_comparable
from {{ cookiecutter.package_name }}.experiments.diagnosis import Errors
from {{ cookiecutter.package_name }}.experiments.runs import Run, parse_change
from {{ cookiecutter.package_name }}.experiments.shadow import shadowing_notes
from {{ cookiecutter.package_name }}.experiments.stats import Comparison, Summary, Verdict
from {{ cookiecutter.package_name }}.metrics import METRIC_VERSION, MONITOR, REPORTED
from {{ cookiecutter.package_name }}.provenance import RECORD_FILE
from {{ cookiecutter.package_name }}.run_dirs import COMPLETED, METRICS_FILE

from .conftest import CONFIG_DIR
from .project_copy import GIT_IDENTITY, committed_copy, git, run

T_975_2 = 4.302652729749462  # Student's t quantile, 97.5%, 2 degrees of freedom (tables)
NOISY = (0.90, 0.95, 0.92)
BASELINE = (0.90, 0.91, 0.92, 0.905, 0.915)
BETTER = (0.95, 0.96, 0.955, 0.965, 0.95)


def test_summary_gives_mean_sample_std_and_t_interval():
    summary = Summary((0.90, 0.92, 0.94))
    assert summary.mean == pytest.approx(0.92)
    assert summary.std == pytest.approx(0.02)  # n - 1 in the denominator
    half_width = T_975_2 * 0.02 / math.sqrt(3)
    assert summary.interval == pytest.approx((0.92 - half_width, 0.92 + half_width))


def test_equal_values_have_no_spread_and_one_value_no_interval():
    assert Summary((0.95, 0.95, 0.95)).std == 0.0
    assert math.isnan(Summary((0.95,)).std) and all(map(math.isnan, Summary((0.95,)).interval))


def test_a_clear_gain_is_a_progression_and_a_clear_loss_a_regression():
    gain = Comparison(Summary(BASELINE), Summary(BETTER))
    assert gain.verdict is Verdict.PROGRESSION and gain.test.p_value < 1e-4
    assert gain.test.low > 0 and gain.effect_size > 0
    loss = Comparison(Summary(BETTER), Summary(BASELINE))
    assert loss.verdict is Verdict.REGRESSION and loss.difference < 0


def test_a_difference_within_seed_noise_is_inconclusive():
    comparison = Comparison(Summary(NOISY), Summary((0.93, 0.91, 0.94)))
    assert comparison.verdict is Verdict.INCONCLUSIVE
    assert comparison.test.low < 0 < comparison.test.high


def test_the_test_is_welchs_not_students():
    comparison = Comparison(Summary((0.93, 0.94, 0.935)), Summary((0.95, 0.96, 0.97)))
    # Welch: t = 3.873 on 2.94 degrees of freedom; Student's pooled test would give p = 0.018.
    assert comparison.test.statistic == pytest.approx(3.872983, rel=1e-6)
    assert comparison.test.p_value == pytest.approx(0.031562, rel=1e-4)


def test_the_verdict_depends_on_the_significance_level():
    baseline, experiment = Summary((0.93, 0.94, 0.935)), Summary((0.95, 0.96, 0.97))
    assert Comparison(baseline, experiment, alpha=0.05).verdict is Verdict.PROGRESSION
    assert Comparison(baseline, experiment, alpha=0.01).verdict is Verdict.INCONCLUSIVE


def test_cohens_d_divides_by_the_root_mean_square_of_the_stds():
    comparison = Comparison(Summary((0.93, 0.94, 0.935)), Summary((0.95, 0.96, 0.97)))
    assert comparison.effect_size == pytest.approx(0.025 / math.sqrt((0.005**2 + 0.01**2) / 2))


def test_noiseless_sides_are_decided_by_their_means():
    same = Comparison(Summary((0.95, 0.95)), Summary((0.95, 0.95)))
    assert same.verdict is Verdict.INCONCLUSIVE and same.test.p_value == 1.0
    worse = Comparison(Summary((0.95, 0.95)), Summary((0.94, 0.94)))
    assert worse.verdict is Verdict.REGRESSION


def write_run(
    directory: Path, seed: int, metric_version: int = METRIC_VERSION, data_version: str = "d1"
) -> Run:
    """A run directory as train.py leaves it, reduced to what comparisons read."""
    directory.mkdir(parents=True)
    versions = {"metric_version": metric_version, "data_version": data_version}
    metrics = {"status": COMPLETED, REPORTED: 0.9, MONITOR: 0.9, **versions}
    record = {"git_commit": "abc", "git_dirty": False, "profile": "fast", "seed": seed}
    (directory / METRICS_FILE).write_text(json.dumps(metrics))
    (directory / RECORD_FILE).write_text(json.dumps({**record, **versions}))
    return Run.load(directory)


def test_runs_of_different_metric_versions_are_refused_with_both_versions(tmp_path):
    sides = {
        "baseline": [write_run(tmp_path / "b", 0)],
        "experiment": [write_run(tmp_path / "e", 0, metric_version=METRIC_VERSION + 1)],
    }
    with pytest.raises(IncomparableError, match="metric versions differ") as refused:
        check_comparable(sides)
    assert f"baseline: {METRIC_VERSION}" in str(refused.value)
    assert f"experiment: {METRIC_VERSION + 1}" in str(refused.value)


def test_runs_on_different_data_are_refused(tmp_path):
    sides = {
        "baseline": [write_run(tmp_path / "b", 0, data_version="d1")],
        "experiment": [write_run(tmp_path / "e", 0, data_version="d2")],
    }
    with pytest.raises(IncomparableError, match=r"data versions differ .*baseline: d1"):
        check_comparable(sides)


def test_runs_of_the_same_versions_are_comparable(tmp_path):
    check_comparable({"a": [write_run(tmp_path / "a", 0)], "b": [write_run(tmp_path / "b", 1)]})


def test_a_change_is_one_ref_and_any_overrides():
    assert parse_change(["exp/lr", "model.optimizer.lr=1e-3", "~model.scheduler"]) == (
        "exp/lr",
        ("model.optimizer.lr=1e-3", "~model.scheduler"),
    )
    assert parse_change(["seed=1"]) == (None, ("seed=1",))
    with pytest.raises(UserError, match="several git refs"):
        parse_change(["main", "exp/lr"])


def test_bias_variance_diagnosis_addresses_under_fitting_first():
    # The slides' example: goal 1%, train 20%, val 27%, test 28%.
    errors = Errors(goal=0.01, train=0.20, val=0.27, test=0.28)
    assert [gap.value for gap in errors.gaps()] == pytest.approx([0.19, 0.07, 0.01])
    assert errors.diagnosis().startswith("address under-fitting first")
    assert "over-fitting" in errors.diagnosis()


def test_bias_variance_diagnosis_names_over_fitting_and_a_good_fit():
    assert "over-fitting first" in Errors(0.01, 0.008, 0.12, 0.12).diagnosis()
    assert Errors(0.01, 0.012, 0.015, 0.016).diagnosis().startswith("no gap")


def test_shadow_notes_a_regression_hidden_by_a_bigger_gain():
    baseline = Summary(BASELINE)
    comparisons = {
        "A": Comparison(baseline, Summary(tuple(v - 0.03 for v in BASELINE))),
        "B": Comparison(baseline, Summary(BETTER)),
        "A+B": Comparison(baseline, Summary(tuple(v - 0.03 for v in BETTER))),
    }
    assert comparisons["A"].verdict is Verdict.REGRESSION
    (note,) = shadowing_notes(comparisons)
    assert "A alone is a regression" in note


def test_search_space_names_keys_of_the_cnn_config():
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        overrides = ["+hparams_search=cnn_optuna", "+profile=fast"]
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    assert cfg.mode.name == "cnn" and cfg.hydra.sweeper.direction == "maximize"
    assert cfg.hydra.sweeper.study_name == "cnn_fast"  # one study per profile
    for key in cfg.hydra.sweeper.params:
        assert OmegaConf.select(cfg, key) is not None, f"{key} is not in the cnn config"


# Optuna 2 (the sweeper's) on SQLAlchemy 1.4 announces SQLAlchemy 2, which is pinned out.
@pytest.mark.filterwarnings("ignore:Deprecated API features detected")
def test_search_study_is_created_on_disk_and_refuses_another_metric_version(tmp_path):
    import optuna  # imported here, under the filter above

    from {{ cookiecutter.package_name }}.experiments.search import StudyStorage

    storage = f"sqlite:///{tmp_path / 'new-dir' / 'study.db'}"
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        overrides = ["+hparams_search=cnn_optuna", f"hydra.sweeper.storage={storage}"]
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    StudyStorage().on_multirun_start(config=cfg)  # what Hydra calls before the sweep
    study = optuna.load_study(study_name=cfg.hydra.sweeper.study_name, storage=storage)
    assert study.user_attrs["metric_version"] == METRIC_VERSION
    StudyStorage().on_multirun_start(config=cfg)  # the same metric: the study continues
    study.set_user_attr("metric_version", METRIC_VERSION + 1)
    with pytest.raises(SystemExit, match="not comparable"):
        StudyStorage().on_multirun_start(config=cfg)


# End to end: the tool as a user runs it, in a temporary git repository.

QUICK = ("--seeds", "2", "--common", "logger.mode=disabled", "trainer.max_epochs=1")
ONE_THREAD = "1"  # tiny models train several times faster on one torch thread than on two


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "--all")
    git(repo, *GIT_IDENTITY, "commit", "--quiet", "--no-verify", "-m", message)


def experiments(repo: Path, *args: str, check: bool = True):
    command = [sys.executable, "-m", "{{ cookiecutter.package_name }}.experiments", *args]
    return run(command, repo, check=check, OMP_NUM_THREADS=ONE_THREAD)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This project committed on `main`, and checked out on a branch one commit ahead."""
    copy = committed_copy(tmp_path_factory.mktemp("experiments"))
    git(copy, "branch", "--move", "--force", "main")
    git(copy, "switch", "--quiet", "--create", "exp/notes")
    (copy / "NOTES.md").write_text("A change that does not touch training.\n")
    commit(copy, "experiment")
    return copy


@pytest.mark.slow
def test_compare_reruns_main_in_a_worktree_and_same_code_scores_the_same(repo):
    out = repo / "outputs" / "compare"
    experiments(repo, "compare", *QUICK, "--out", str(out))
    baseline, experiment = json.loads((out / "compare.json").read_text())["variants"]
    assert baseline["git_commits"] == [git(repo, "rev-parse", "main")]
    assert experiment["git_commits"] == [git(repo, "rev-parse", "HEAD")]
    assert baseline["metric_version"] == experiment["metric_version"] == METRIC_VERSION
    assert [run["seed"] for run in baseline["runs"]] == [0, 1]
    # Same training code and seeds: the same numbers, so no verdict but "inconclusive".
    assert baseline["summary"]["values"] == experiment["summary"]["values"]
    assert experiment["against_baseline"]["verdict"] == Verdict.INCONCLUSIVE.value
    assert git(repo, "rev-parse", "main")[:8] in (out / "compare.md").read_text()
    assert git(repo, "worktree", "list").count("\n") == 0  # the temporary worktree is gone
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.slow
def test_compare_refuses_another_metric_version_before_training(repo):
    git(repo, "switch", "--quiet", "--create", "metric-bump", "main")
    metrics = repo / "src" / "{{ cookiecutter.package_name }}" / "metrics.py"
    bumped = f"METRIC_VERSION = {METRIC_VERSION + 1}"
    metrics.write_text(metrics.read_text().replace(f"METRIC_VERSION = {METRIC_VERSION}", bumped))
    commit(repo, "bump the metric version")
    git(repo, "switch", "--quiet", "exp/notes")

    out = repo / "outputs" / "refused"
    done = experiments(
        repo, "compare", *QUICK, "--experiment", "metric-bump", "--out", str(out), check=False
    )
    assert done.returncode == 1
    assert "metric versions differ" in done.stderr
    assert f"experiment: {METRIC_VERSION + 1}" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()  # refused before any training
