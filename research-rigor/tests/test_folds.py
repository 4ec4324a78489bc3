"""k-fold comparisons on fixed numbers: pairing by fold and seed, the corrected resampled
t-test against a computation by hand, the verdicts, the tables, the JSON, shadow's three
comparisons adjusted (Holm; Bonferroni with a margin), and the refusals. Runs are written
to disk as a project's training script leaves them; no training."""

import contextlib
import json
import statistics
from pathlib import Path

import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from research_rigor.errors import UserError
from research_rigor.experiments import cli, folds
from research_rigor.experiments.folds import METHOD, FoldComparison, by_fold, fold_means
from research_rigor.experiments.runs import Plan, Run, Variant
from research_rigor.experiments.shadow import shadowing_notes
from research_rigor.project import Project
from research_rigor.provenance import RECORD_FILE
from research_rigor.run_dirs import COMPLETED, METRICS_FILE
from research_rigor.verdicts import Verdict

PROJECT = Project(Path("/project"), "probe")  # its declared metric: test/acc, val/acc
FOLDS = 3
SEEDS = (0, 1)
# {fold: (seed 0, seed 1)} of test/acc: the experiment gains about a point on every fold.
BASELINE = {0: (0.900, 0.910), 1: (0.880, 0.884), 2: (0.930, 0.926)}
BETTER = {0: (0.912, 0.920), 1: (0.889, 0.897), 2: (0.941, 0.935)}
WORSE = {0: (0.861, 0.869), 1: (0.843, 0.851), 2: (0.890, 0.886)}
# shadow's per-fold gains over the baseline. A alone has p = 0.032 < 0.05, but 0.064 once
# Holm-adjusted over the three comparisons; B is inconclusive; A+B progresses.
SHADOW = {"A": (0.004, 0.006, 0.005), "B": (0.003, 0.008, 0.004), "A+B": (0.015, 0.0145, 0.0145)}
HARMLESS = (0.000, -0.005, -0.001)  # within ±MARGIN at 90%, not at 1 - 2 * 0.05 / 3
MARGIN = 0.01


def write_run(
    directory: Path, fold: int, seed: int, value: float, folds: int | None = FOLDS
) -> Run:
    """A run directory as a training script leaves it under k-fold, reduced to what the
    comparisons read."""
    directory.mkdir(parents=True)
    versions = {"metric_version": 3, "data_version": "d1"}
    metrics = {"status": COMPLETED, PROJECT.metric: value, PROJECT.monitor: value, **versions}
    record = {
        "git_commit": "abc",
        "git_dirty": False,
        "profile": "fast",
        "seed": seed,
        "fold": None if folds is None else {"held_out": fold, "folds": folds},
        "config": {"data": {"fold": fold}},
        "mode": "cnn",
        "git_branch": "main",
        **versions,
    }
    (directory / METRICS_FILE).write_text(json.dumps(metrics))
    (directory / RECORD_FILE).write_text(json.dumps(record))
    return Run.load(directory, PROJECT)


def runs_of(
    directory: Path, values: dict[int, tuple[float, ...]], folds: int | None = FOLDS
) -> list[Run]:
    return [
        write_run(directory / f"{fold}-{seed}", fold, seed, value, folds)
        for fold, by_seed in values.items()
        for seed, value in enumerate(by_seed)
    ]


def table(values: dict[int, tuple[float, ...]]) -> dict[int, dict[int, float]]:
    return {fold: dict(enumerate(by_seed)) for fold, by_seed in values.items()}


def test_the_verdict_is_the_corrected_test_of_the_per_fold_means_of_seed_pairs():
    """By hand: each fold's difference is the mean over seeds of the pairs, and the test is
    Nadeau and Bengio's over the k folds, Var(mean) = (1/k + 1/(k - 1)) S^2, k - 1 df."""
    comparison = FoldComparison(table(BASELINE), table(BETTER), alpha=0.05)
    differences = [
        statistics.mean(e - b for b, e in zip(BASELINE[fold], BETTER[fold], strict=True))
        for fold in range(FOLDS)
    ]
    mean, variance = statistics.mean(differences), statistics.variance(differences)
    statistic = mean / ((1 / FOLDS + 1 / (FOLDS - 1)) * variance) ** 0.5
    assert comparison.differences.tolist() == pytest.approx(differences, rel=1e-12)
    assert comparison.test.statistic == pytest.approx(statistic, rel=1e-12)
    assert comparison.test.p_value == pytest.approx(2 * stats.t.sf(statistic, FOLDS - 1))
    assert comparison.test.df == FOLDS - 1
    half = stats.t.ppf(0.975, FOLDS - 1) * mean / statistic
    assert (comparison.test.low, comparison.test.high) == pytest.approx(
        (mean - half, mean + half), rel=1e-12
    )
    assert comparison.verdict is Verdict.PROGRESSION
    # The naive t-test over the same folds is sqrt(1 + k / (k - 1)) times more confident.
    naive = stats.ttest_1samp(differences, 0.0)
    assert naive.statistic == pytest.approx(statistic * (1 + FOLDS / (FOLDS - 1)) ** 0.5)
    assert naive.pvalue < comparison.test.p_value


def test_verdicts_against_a_margin_read_off_the_corrected_interval():
    harmful = FoldComparison(table(BASELINE), table(WORSE), alpha=0.05, margin=0.01)
    assert harmful.confidence == pytest.approx(0.9)
    assert harmful.test.high < -0.01 and harmful.verdict is Verdict.WORSE
    same = FoldComparison(table(BASELINE), table(BASELINE), alpha=0.05, margin=0.01)
    assert same.verdict is Verdict.EQUIVALENT  # no difference on any fold: exactly 0


def test_runs_of_a_split_with_other_folds_or_none_are_refused(tmp_path):
    five = runs_of(tmp_path / "five", BASELINE, folds=5)
    with pytest.raises(UserError, match=r"--folds 3, but the runs' split has 5 folds"):
        by_fold(five, FOLDS)
    unfolded = runs_of(tmp_path / "none", BASELINE, folds=None)
    with pytest.raises(UserError, match=r"record no fold held out: .*build_record\(fold="):
        by_fold(unfolded, FOLDS)
    assert fold_means(by_fold(runs_of(tmp_path / "three", BASELINE), FOLDS)).tolist() == (
        pytest.approx([0.905, 0.882, 0.928])
    )


def test_sides_that_do_not_pair_by_fold_and_seed_are_refused():
    fewer = {fold: {0: values[0]} for fold, values in BASELINE.items()}
    with pytest.raises(UserError, match="do not pair by fold and seed"):
        FoldComparison(table(BASELINE), fewer, alpha=0.05)


def test_compare_over_folds_names_the_method_and_records_every_fold(tmp_path, monkeypatch):
    """`compare --folds 3` with training replaced by fixed runs: the tables and the JSON."""
    values = {"baseline": BASELINE, "experiment": BETTER}

    def measure(checkouts, variants, plan, out_dir):
        assert plan.folds == FOLDS and plan.runs == FOLDS * len(SEEDS)
        return {v.label: runs_of(out_dir / v.label, values[v.label]) for v in variants}

    monkeypatch.setattr(folds, "measure", measure)
    monkeypatch.setattr(folds, "Checkouts", lambda root: contextlib.nullcontext())
    monkeypatch.setattr(folds.affected, "untrained_moves", lambda *args: [])
    variants = [Variant("baseline", "main"), Variant("experiment")]
    plan = Plan(PROJECT, SEEDS, "fast", folds=FOLDS)
    comparison = folds.run_compare(lambda checkouts: variants, plan, cli.Analysis(), tmp_path)
    assert comparison.verdict is Verdict.PROGRESSION
    record = json.loads((tmp_path / "compare.json").read_text())
    assert record["test"] == folds.METHOD_KEY and record["folds"] == FOLDS
    verdict = record["against_baseline"]
    assert verdict["method"] == METHOD and verdict["test_to_train"] == pytest.approx(0.5)
    assert verdict["p_value"] == pytest.approx(comparison.test.p_value)
    runs = record["variants"][1]["runs"]
    assert sorted((run["fold"], run["seed"]) for run in runs) == [
        (fold, seed) for fold in range(FOLDS) for seed in SEEDS
    ]
    markdown = (tmp_path / "compare.md").read_text()
    assert METHOD in markdown and "per fold" in markdown and "progression" in markdown


@pytest.mark.parametrize(
    ("options", "refusal"),
    [
        (["--folds", "1"], "at least 2 folds"),
        (["--folds", "3", "--test", "aso"], "drop --test aso or --folds"),
        (["--folds", "3", "--until-decided", "--max-seeds", "9"], "drop --until-decided"),
        (["--folds", "3", "--effect", "0.01"], "drop --effect"),
    ],
)
def test_folds_refuse_what_the_corrected_test_cannot_do_in_one_line(options, refusal):
    parser = cli.argparse.ArgumentParser()
    cli.add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["compare", *options])
    with pytest.raises(UserError, match=refusal) as refused:
        cli.folds_of(args)
    assert "\n" not in str(refused.value)


def test_one_seed_per_fold_is_a_plan_under_k_fold_only(tmp_path):
    project = Project(tmp_path, "probe", profiles="")
    parser = cli.argparse.ArgumentParser()
    cli.add_commands(parser.add_subparsers(dest="command"))
    plan = cli.plan_of(parser.parse_args(["seeds", "--folds", "3", "--seeds", "1"]), project)
    assert (plan.seeds, plan.folds, plan.runs) == ((0,), 3, 3)
    with pytest.raises(UserError, match="at least 2"):
        cli.plan_of(parser.parse_args(["seeds", "--seeds", "1"]), project)


def shifted(gains: tuple[float, ...]) -> dict[int, tuple[float, ...]]:
    """The baseline's runs, each fold moved by its gain on every seed."""
    return {fold: tuple(value + gains[fold] for value in BASELINE[fold]) for fold in BASELINE}


def shadow_over_folds(tmp_path, monkeypatch, gains, testing) -> dict[str, FoldComparison]:
    """`shadow --folds 3` with training replaced by fixed runs."""
    values = {"baseline": BASELINE} | {label: shifted(gain) for label, gain in gains.items()}

    def measure(checkouts, variants, plan, out_dir):
        return {v.label: runs_of(out_dir / v.label, values[v.label]) for v in variants}

    monkeypatch.setattr(folds, "measure", measure)
    monkeypatch.setattr(folds, "Checkouts", lambda root: contextlib.nullcontext())
    monkeypatch.setattr(folds.affected, "untrained_moves", lambda *args: [])
    variants = [Variant("baseline", "main"), *(Variant(label) for label in gains)]
    plan = Plan(PROJECT, SEEDS, "fast", folds=FOLDS)
    return folds.run_command(
        "shadow", lambda checkouts: variants, plan, testing, tmp_path, shadowing_notes
    )


def test_shadow_over_folds_decides_on_holm_adjusted_p_values(tmp_path, monkeypatch):
    comparisons = shadow_over_folds(tmp_path, monkeypatch, SHADOW, cli.Analysis())
    raw = [
        FoldComparison(table(BASELINE), table(shifted(gain)), alpha=0.05).test.p_value
        for gain in SHADOW.values()
    ]
    _, holm, _, _ = multipletests(raw, alpha=0.05, method="holm")
    assert [c.p_value for c in comparisons.values()] == pytest.approx(holm.tolist(), rel=1e-12)
    assert raw[0] < 0.05 < comparisons["A"].p_value  # the adjustment decides A's verdict
    assert {label: c.verdict for label, c in comparisons.items()} == {
        "A": Verdict.INCONCLUSIVE,
        "B": Verdict.INCONCLUSIVE,
        "A+B": Verdict.PROGRESSION,
    }
    record = json.loads((tmp_path / "shadow.json").read_text())
    assert record["command"] == "shadow" and "against_baseline" not in record
    baseline, *variants = record["variants"]
    assert baseline["against_baseline"] is None
    for variant, p, adjusted in zip(variants, raw, holm, strict=True):
        verdict = variant["against_baseline"]
        assert verdict["p_value"] == pytest.approx(p) and verdict["adjustment"] == "holm"
        assert verdict["p_value_adjusted"] == pytest.approx(adjusted)
    markdown = (tmp_path / "shadow.md").read_text()
    assert "Holm p" in markdown and "Holm-adjusted over the 3 comparisons" in markdown
    assert "| Δ A+B |" in markdown  # every variant's per-fold difference
    assert "A+B is a progression, but A alone is not shown to help" in markdown


def test_shadow_over_folds_with_a_margin_reads_intervals_at_alpha_over_three(tmp_path, monkeypatch):
    """Bonferroni: each interval at 1 - 2 alpha / 3, by hand from the t distribution."""
    gains = SHADOW | {"A": HARMLESS}
    comparisons = shadow_over_folds(tmp_path, monkeypatch, gains, cli.Analysis(margin=MARGIN))
    count = len(gains)
    for comparison in comparisons.values():
        differences = comparison.differences
        half = (
            stats.t.ppf(1 - 0.05 / count, FOLDS - 1)
            * ((1 / FOLDS + 1 / (FOLDS - 1)) * statistics.variance(differences)) ** 0.5
        )
        mean = statistics.mean(differences)
        assert (comparison.test.low, comparison.test.high) == pytest.approx(
            (mean - half, mean + half), rel=1e-9
        )
    alone = FoldComparison(table(BASELINE), table(shifted(HARMLESS)), 0.05, MARGIN)
    assert alone.verdict is Verdict.EQUIVALENT  # at 90%; at 1 - 0.1 / 3 it reaches -margin
    assert comparisons["A"].verdict is Verdict.INCONCLUSIVE
    assert comparisons["A+B"].verdict is Verdict.BETTER
    record = json.loads((tmp_path / "shadow.json").read_text())
    verdict = record["variants"][1]["against_baseline"]
    assert verdict["confidence"] == pytest.approx(1 - 2 * 0.05 / count)
    assert verdict["margin_comparisons"] == count
    markdown = (tmp_path / "shadow.md").read_text()
    assert "alpha / 3 = 0.0167 each: Bonferroni over the 3 comparisons" in markdown
    assert "A+B is better, but A alone is not shown to help" in markdown


@pytest.mark.parametrize(
    ("options", "refusal"),
    [
        (["--folds", "3", "--test", "aso"], "drop --test aso or --folds"),
        (["--folds", "3", "--effect", "0.01"], "drop --effect"),
        (["--folds", "3", "--common", "data=a,b"], "--folds measures one dataset"),
    ],
)
def test_shadow_over_folds_refuses_what_compare_over_folds_does(tmp_path, options, refusal):
    parser = cli.argparse.ArgumentParser()
    cli.add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["shadow", "--a", "x=1", "--b", "y=2", *options])
    with pytest.raises(UserError, match=refusal):
        cli.run_shadow(args, Project(tmp_path, "probe", profiles=""))
