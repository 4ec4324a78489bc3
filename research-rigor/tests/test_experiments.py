"""The experiments tools on fixed numbers: the tables and verdicts (with a margin too, and
whole in an 80-column log), rounds of seeds until decided, refusals of incomparable
runs, the bias/variance diagnosis and shadowing notes. Runs are written to disk as a
project's training script leaves them; no training."""

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from research_rigor.errors import UserError
from research_rigor.experiments import compare, output
from research_rigor.experiments.compare import (
    IncomparableError,
    against_baseline,
    check_comparable,
    tables,
    with_margin,
)
from research_rigor.experiments.diagnosis import Errors
from research_rigor.experiments.runs import Plan, Run, Variant, parse_change
from research_rigor.experiments.shadow import shadowing_notes
from research_rigor.project import Project
from research_rigor.provenance import RECORD_FILE
from research_rigor.run_dirs import COMPLETED, METRICS_FILE
from research_rigor.stats import Analysis, Comparison, Summary, Verdict, adjusted

PROJECT = Project(Path("/project"), "probe")  # its declared metric: test/acc, val/acc
METRIC_VERSION = 3
NOISY = (0.90, 0.95, 0.92)
BASELINE = (0.90, 0.91, 0.92, 0.905, 0.915)
BETTER = (0.95, 0.96, 0.955, 0.965, 0.95)


def write_run(
    directory: Path,
    seed: int,
    metric_version: int = METRIC_VERSION,
    data_version: str = "d1",
    value: float = 0.9,
    data_config: dict | None = None,
) -> Run:
    """A run directory as a training script leaves it, reduced to what comparisons read."""
    directory.mkdir(parents=True)
    versions = {"metric_version": metric_version, "data_version": data_version}
    metrics = {"status": COMPLETED, PROJECT.metric: value, PROJECT.monitor: value, **versions}
    record = {"git_commit": "abc", "git_dirty": False, "profile": "fast", "seed": seed}
    record["config"] = {"data": data_config or {}}
    (directory / METRICS_FILE).write_text(json.dumps(metrics))
    (directory / RECORD_FILE).write_text(json.dumps({**record, **versions}))
    return Run.load(directory, PROJECT)


def recorded(
    tmp_path: Path, sides: dict[str, tuple[float, ...]], data_config: dict | None = None
) -> dict[str, list[Run]]:
    """Runs written to disk, seeds 0, 1, ... on every side."""
    return {
        label: [
            write_run(tmp_path / label / str(seed), seed, value=v, data_config=data_config)
            for seed, v in enumerate(values)
        ]
        for label, values in sides.items()
    }


def shown_at_80_columns(monkeypatch, shown: list) -> str:
    """What the tables print in a non-interactive 80-column log (CI, `| tee`)."""
    log = io.StringIO()
    monkeypatch.setattr(output, "console", Console(file=log, width=80, force_terminal=False))
    for table in shown:
        table.show()
    return log.getvalue()


HARMLESS = (0.91, 0.905, 0.925, 0.915, 0.92)
HARMFUL = (0.88, 0.885, 0.875, 0.89, 0.87)


def test_a_margin_from_the_data_config_gives_the_no_regression_verdicts(tmp_path):
    sides = {"baseline": BASELINE, "harmless": HARMLESS, "harmful": HARMFUL}
    results = recorded(tmp_path, sides, {"margin": 0.01})
    testing, source = with_margin(Analysis(), results)
    assert testing.margin == 0.01 and "data config" in source
    variants = [Variant(label, "main") for label in sides]
    comparisons = against_baseline(variants, results, testing)
    assert comparisons["harmless"].verdict is Verdict.NON_INFERIOR
    assert comparisons["harmful"].verdict is Verdict.WORSE
    scored = tables(
        "shadow", variants, results, comparisons, Plan(PROJECT, (0, 1), "fast"), testing
    )[1]
    assert scored.columns[2:5] == ["Δ [95% CI]", "p non-inf.", "p equiv."]  # 1 - 2 alpha/2
    assert "harmful: worse" in scored.notes and any("]" in note for note in scored.notes)
    # --margin overrides the data config's
    assert with_margin(Analysis(margin=0.05), results) == (Analysis(margin=0.05), "--margin")


def test_data_configs_with_different_margins_are_refused(tmp_path):
    results = recorded(tmp_path / "a", {"baseline": NOISY}, {"margin": 0.01})
    results |= recorded(tmp_path / "b", {"experiment": NOISY}, {"margin": 0.02})
    with pytest.raises(UserError, match="different margins"):
        with_margin(Analysis(), results)


@pytest.mark.parametrize("margin", [None, 0.01])
def test_an_80_column_log_shows_every_verdict_name_and_number_whole(tmp_path, monkeypatch, margin):
    results = recorded(tmp_path, {"baseline": NOISY, "experiment-long-name": (0.93, 0.91, 0.94)})
    variants = [Variant("baseline", "main"), Variant("experiment-long-name", "exp/dropout")]
    testing = Analysis(effect=0.005, margin=margin)
    comparisons = against_baseline(variants, results, testing)
    shown = tables(
        "compare", variants, results, comparisons, Plan(PROJECT, (0, 1, 2), "fast"), testing
    )
    log = shown_at_80_columns(monkeypatch, shown)
    assert "…" not in log and max(map(len, log.splitlines())) <= 80
    words = set(log.split())
    for table in shown[1:]:
        for row in table.rows:
            for cell in row:
                assert cell in log or set(cell.split()) <= words, cell
    assert comparisons["experiment-long-name"].verdict.value in words


def test_until_decided_adds_rounds_and_stops_when_decided(tmp_path, monkeypatch):
    """Each round's training replaced by fixed numbers: a clear gain is decided at round 2."""
    values = {"baseline": BASELINE * 4, "experiment": BETTER * 4}
    rounds = []

    def measure(checkouts, variants, plan, out_dir):
        rounds.append(plan.seeds)
        return {
            variant.label: [
                write_run(out_dir / variant.label / str(s), s, value=values[variant.label][s])
                for s in plan.seeds
            ]
            for variant in variants
        }

    monkeypatch.setattr(compare, "measure", measure)
    variants = [Variant("baseline", "main"), Variant("experiment", "exp/lr")]
    plan = Plan(PROJECT, (0, 1), "fast")
    results, trained, record = compare.until_decided(
        None, variants, plan, Analysis(), tmp_path, max_seeds=10
    )
    # Two seeds a side spend almost no alpha (O'Brien-Fleming); four decide.
    assert rounds == [(0, 1), (2, 3)] and trained.seeds == (0, 1, 2, 3)
    assert record["decided"] and record["seeds_per_look"] == [2, 4]
    assert record["nominal_alpha"] < 0.05 and len(results["experiment"]) == 4
    notes = compare.sequential_notes(record)
    assert "stopped at 4 because the verdict was decided" in notes[0]


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


def test_shadow_with_a_margin_notes_a_harmless_change_that_does_not_help():
    baseline = Summary(BASELINE)
    comparisons = adjusted(
        {
            "A": Comparison(baseline, Summary(HARMLESS), margin=0.01),
            "B": Comparison(baseline, Summary(BETTER), margin=0.01),
            "A+B": Comparison(baseline, Summary(BETTER), margin=0.01),
        }
    )
    (note,) = shadowing_notes(comparisons)
    assert note.startswith("A+B is better, but A alone is non-inferior: harmless")
