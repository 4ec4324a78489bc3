"""The experiment tools on this project: their command line, the README's example output,
the search study, and real comparisons of `main` (in a worktree) with a branch, in a
temporary repo. The tools and their statistics are research-rigor's, tested there.
"""

import json
import re
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from research_rigor import cli
from research_rigor.experiments.compare import (
    against_baseline,
    tables,
)
from research_rigor.experiments.runs import Plan, Run, Variant
from research_rigor.project import Project
from research_rigor.provenance import RECORD_FILE
from research_rigor.run_dirs import COMPLETED, METRICS_FILE
from research_rigor.stats import Analysis, Verdict

from {{ cookiecutter.package_name }}.metrics import METRIC_VERSION, MONITOR, REPORTED

from .conftest import CONFIG_DIR, ROOT
from .project_copy import GIT_IDENTITY, committed_copy, git, run

PROJECT = Project.find(ROOT)
NOISY = (0.90, 0.95, 0.92)
BASELINE = (0.90, 0.91, 0.92, 0.905, 0.915)
BETTER = (0.95, 0.96, 0.955, 0.965, 0.95)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compare", "--effect", "0"], "an effect of 0 cannot be detected"),
        (["shadow", "--a", "x=1", "--b", "y=1", "--paired", "--test", "aso"], "--paired applies"),
        (["compare", "--alpha", "1.5"], "--alpha 1.5"),
        (["seeds", "--seeds", "1"], "at least 2"),
        (["compare", "--margin", "0"], "--margin 0.0: a margin is the largest loss"),
        (["shadow", "--a", "x=1", "--b", "y=1", "--margin", "0.01", "--test", "aso"], "ASO"),
        (["compare", "--until-decided"], "--until-decided adds rounds of --seeds 5"),
        (["compare", "--until-decided", "--max-seeds", "5"], "must be larger"),
    ],
)
def test_the_command_line_refuses_before_training_in_one_line(monkeypatch, args, message):
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit) as refused:
        cli.main(args)
    assert str(refused.value).startswith("error: ") and message in str(refused.value)
    assert "\n" not in str(refused.value)


def write_run(
    directory: Path,
    seed: int,
    metric_version: int = METRIC_VERSION,
    data_version: str = "d1",
    value: float = 0.9,
    data_config: dict | None = None,
) -> Run:
    """A run directory as train.py leaves it, reduced to what comparisons read."""
    directory.mkdir(parents=True)
    versions = {"metric_version": metric_version, "data_version": data_version}
    metrics = {"status": COMPLETED, REPORTED: value, MONITOR: value, **versions}
    record = {"git_commit": "abc", "git_dirty": False, "profile": "fast", "seed": seed}
    data = data_config or {}
    record["config"] = {"data": data}
    (directory / METRICS_FILE).write_text(json.dumps(metrics))
    (directory / RECORD_FILE).write_text(json.dumps({**record, **versions}))
    return Run.load(directory, PROJECT)


def documented_example() -> tuple[list[list[str]], dict]:
    """The README's example output: its tables' column headers, and its JSON."""
    readme = (ROOT / "README.md").read_text()
    example = readme[readme.index("<!-- example output:") :]
    text = example[example.index("```text\n") + 8 : example.index("```\n")]
    record = example[example.index("```json\n") + 8 :]
    headers = [
        re.split(r"\s{2,}", line.strip())
        for line in text.splitlines()
        if line.startswith(" variant")
    ]
    return headers, json.loads(record[: record.index("```")])


def test_the_readmes_example_output_has_the_columns_and_keys_the_code_prints(tmp_path):
    headers, documented = documented_example()
    effect = documented["effect"]
    results = {
        label: [
            write_run(tmp_path / label / str(seed), seed, value=v) for seed, v in enumerate(side)
        ]
        for label, side in (("baseline", NOISY), ("experiment", (0.93, 0.91, 0.94)))
    }
    variants = [Variant("baseline", "main"), Variant("experiment", "exp/dropout")]
    testing = Analysis(effect=effect)
    comparisons = against_baseline(variants, results, testing)
    shown = tables(
        "compare", variants, results, comparisons, Plan(PROJECT, (0, 1, 2), "fast"), testing
    )
    assert headers == [shown[1].columns, shown[2].columns]
    assert documented.keys() == comparisons["experiment"].as_dict(effect).keys()
    # One run's numbers: the JSON rounds to what the table shows.
    readme = (ROOT / "README.md").read_text()
    assert f"{documented['p_value']:.3g}  {documented['effect_size_cohens_d']:.2f}  " in readme
    assert f"{documented['mde']:.3f}  {documented['verdict']}" in readme
    assert f"the MDE {documented['mde']:.3f}" in readme


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
def test_search_study_is_created_on_disk_and_refuses_another_metric_version(tmp_path, monkeypatch):
    import optuna  # imported here, under the filter above
    from research_rigor.search import StudyStorage

    monkeypatch.chdir(ROOT)  # where `python train.py -m` starts Hydra
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
    command = [sys.executable, "-m", "research_rigor", *args]
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
def test_compare_with_a_margin_calls_a_harmless_change_equivalent_and_a_harmful_one_worse(repo):
    harmless = repo / "outputs" / "harmless"
    common = ("--common", "logger.mode=disabled", "trainer.max_epochs=1")
    # The margin from the data config, as a dataset declares it; the same code on both sides.
    declared = (*common, "+data.margin=0.02", "--paired")
    experiments(repo, "compare", "--seeds", "2", *declared, "--out", str(harmless))
    record = json.loads((harmless / "compare.json").read_text())
    assert record["margin"] == 0.02 and "data config" in record["margin_source"]
    assert record["variants"][1]["against_baseline"]["verdict"] == Verdict.EQUIVALENT.value
    # A learning rate that barely trains, with seeds added until the verdict is decided.
    harmful = repo / "outputs" / "harmful"
    crippled = ("--experiment", "model.optimizer.lr=1e-6", "--margin", "0.02", "--paired")
    rounds = ("--seeds", "2", "--until-decided", "--max-seeds", "4")
    experiments(repo, "compare", *rounds, *common, *crippled, "--out", str(harmful))
    record = json.loads((harmful / "compare.json").read_text())
    assert record["variants"][1]["against_baseline"]["verdict"] == Verdict.WORSE.value
    assert record["until_decided"]["seeds_per_look"] in ([2], [2, 4])
    assert "worse" in (harmful / "compare.md").read_text()


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


@pytest.mark.slow
def test_seeds_vary_trains_each_source_alone_and_records_every_runs_seeds(repo):
    out = repo / "outputs" / "vary"
    experiments(repo, "seeds", "--vary", "init,order", *QUICK, "--out", str(out))
    record = json.loads((out / "seeds.json").read_text())
    recorded = {label: [run["seeds"] for run in runs] for label, runs in record["runs"].items()}
    fixed = record["fixed_seed"]  # 2: the first seed not varied
    assert recorded == {
        "init": [{"init": s, "order": fixed, "augment": fixed} for s in (0, 1)],
        "order": [{"init": fixed, "order": s, "augment": fixed} for s in (0, 1)],
        "together": [{"init": s, "order": s, "augment": s} for s in (0, 1)],
    }
    shares = record["variance"]["sources"]
    assert sum(shares[source]["share"] for source in ("init", "order")) == pytest.approx(1)
    assert "largest source: " in (out / "seeds.md").read_text()
