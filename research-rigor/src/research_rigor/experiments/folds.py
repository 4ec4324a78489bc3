"""k-fold: each variant trained on every fold of the split, and every seed within a fold.

`seeds --folds K` and `compare --folds K` train `data.fold=0..K-1` (the project's split
holds the folds; each run records the fold it held out and the split's number of folds).
Runs are paired by fold and seed: a fold's difference is the mean, over its seeds, of
experiment - baseline, and the verdict tests the K per-fold differences.

Folds of one dataset share most of their training data, so their scores are correlated,
and the naive t-test over folds calls noise a difference far more often than alpha. The
verdict uses Nadeau and Bengio's corrected resampled t-test (`research_rigor.resampling`),
with n_test / n_train = 1 / (K - 1): what a fold tests against what the other folds give
its training and checkpoint selection. Seeds within a fold share its data, so they are
averaged rather than counted as more folds.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from research_rigor.equivalence import LEGEND, classify, drawn
from research_rigor.errors import UserError
from research_rigor.experiments import affected, environments
from research_rigor.experiments.checkouts import Checkouts
from research_rigor.experiments.compare import (
    DIGITS,
    FULL_PROFILE,
    describe_code,
    measure,
    run_header,
    variant_record,
    what_ran,
    with_margin,
)
from research_rigor.experiments.output import (
    Table,
    number,
    p_value,
    percent,
    save,
    shown,
    signed,
)
from research_rigor.experiments.runs import FOLD_OVERRIDE, Plan, Run, Variant
from research_rigor.resampling import (
    ResampledTTest,
    corrected_resampled_ttest,
    kfold_test_to_train,
)
from research_rigor.stats import CONFIDENCE, Analysis
from research_rigor.verdicts import GREATER_IS_BETTER, Verdict

METHOD = "corrected resampled t-test over folds (Nadeau and Bengio 2003)"
METHOD_KEY = "corrected_resampled_ttest"  # the JSON's name of the test


def by_fold(runs: list[Run], folds: int) -> dict[int, dict[int, float]]:
    """{fold: {seed: metric}} of one variant's runs, every fold 0..folds-1 present; refuses
    runs outside k-fold or of a split with another number of folds."""
    recorded = {run.folds for run in runs}
    if None in recorded:
        raise UserError(
            f"--folds {folds}, but the runs record no fold held out: the training script "
            f"must pass the {FOLD_OVERRIDE} it serves to provenance.build_record(fold=...)."
        )
    if recorded != {folds}:
        found = ", ".join(map(str, sorted(recorded)))
        raise UserError(
            f"--folds {folds}, but the runs' split has {found} folds: pass --folds {found}, "
            "the split's number of folds."
        )
    table: dict[int, dict[int, float]] = {fold: {} for fold in range(folds)}
    for run in runs:
        table[run.fold][run.seed] = run.value
    return table


def fold_means(table: dict[int, dict[int, float]]) -> np.ndarray:
    """Each fold's mean over its seeds, in fold order."""
    return np.array([np.mean(list(table[fold].values())) for fold in sorted(table)])


@dataclass(frozen=True)
class FoldComparison:
    """An experiment against a baseline over the same folds and seeds."""

    baseline: dict[int, dict[int, float]]  # {fold: {seed: metric}}
    experiment: dict[int, dict[int, float]]
    alpha: float
    margin: float | None = None  # the largest loss tolerated: verdicts against it

    def __post_init__(self) -> None:
        if any(
            self.baseline[fold].keys() != self.experiment[fold].keys() for fold in self.baseline
        ):
            raise UserError(
                "the sides' runs do not pair by fold and seed: train both with the same "
                "--seeds and --folds."
            )

    @property
    def folds(self) -> int:
        return len(self.baseline)

    @property
    def differences(self) -> np.ndarray:
        """Per fold: the mean over its seeds of experiment - baseline, paired by seed."""
        return np.array(
            [
                np.mean([self.experiment[fold][seed] - self.baseline[fold][seed] for seed in seeds])
                for fold, seeds in sorted(self.baseline.items())
            ]
        )

    @property
    def difference(self) -> float:
        """The mean of the per-fold differences: experiment - baseline over every pair."""
        return float(self.differences.mean())

    @property
    def confidence(self) -> float:
        """Two-sided at alpha; with a margin, the (1 - 2 alpha) interval of one-sided claims."""
        return 1 - 2 * self.alpha if self.margin is not None else 1 - self.alpha

    @cached_property
    def test(self) -> ResampledTTest:
        return corrected_resampled_ttest(
            self.differences, kfold_test_to_train(self.folds), self.confidence
        )

    @property
    def verdict(self) -> Verdict:
        if self.margin is not None:
            return Verdict(classify(self.test.low, self.test.high, self.margin).item())
        if not self.test.p_value < self.alpha:
            return Verdict.INCONCLUSIVE
        gain = self.test.statistic > 0 if GREATER_IS_BETTER else self.test.statistic < 0
        return Verdict.PROGRESSION if gain else Verdict.REGRESSION

    def as_dict(self) -> dict:
        record = {
            "test": METHOD_KEY,
            "method": METHOD,
            "folds": self.folds,
            "test_to_train": kfold_test_to_train(self.folds),
            "fold_differences": self.differences.tolist(),
            "difference": self.difference,
            "difference_ci_low": self.test.low,
            "difference_ci_high": self.test.high,
            "confidence": self.confidence,
            "t_statistic": self.test.statistic,
            "df": self.test.df,
            "p_value": self.test.p_value,
            "alpha": self.alpha,
            "verdict": self.verdict.value,
        }
        if self.margin is not None:
            record["margin"] = self.margin
        return record


def spread(means: np.ndarray) -> str:
    return f"{number(float(means.mean()), DIGITS)} ± {number(float(np.std(means, ddof=1)), DIGITS)}"


def method_notes(comparison: FoldComparison, seeds: int, margin_source: str) -> list[str]:
    """What the columns mean and which test decides, in words."""
    k, test = comparison.folds, comparison.test
    notes = [
        f"mean ± std: over the {k} folds of each fold's mean over its {seeds} seed(s). Δ: "
        "experiment - baseline paired by fold and seed, averaged over a fold's seeds, then "
        f"over the folds, with its {percent(comparison.confidence, 0)} interval.",
        f"p: the {METHOD}, over the {k} per-fold Δ with {k - 1} degrees of freedom: the "
        f"variance of their mean is (1/{k} + 1/{k - 1}) S² instead of S²/{k} (n_test/n_train = "
        f"1/{k - 1}), because folds share training data and the naive t-test over folds is "
        "anti-conservative (Bouckaert and Frank 2004).",
    ]
    if comparison.margin is None:
        notes.append(
            f"Verdict at alpha = {comparison.alpha}: a progression or a regression when "
            "p < alpha; otherwise inconclusive."
        )
    else:
        notes += [
            f"Margin ±{comparison.margin:g} ({margin_source}): better when the interval lies "
            "above 0; equivalent when inside ±margin; non-inferior when above -margin; worse "
            "when below 0 and not above -margin; else inconclusive (one-sided claims at "
            f"alpha = {comparison.alpha}).",
            LEGEND,
            "  " + drawn(comparison.difference, test.low, test.high, comparison.margin),
        ]
    return notes


def tables(
    title: str,
    variants: list[Variant],
    results: dict[str, list[Run]],
    comparison: FoldComparison,
    plan: Plan,
    margin_source: str,
) -> list[Table]:
    """What ran; each fold's scores and difference; the verdict over the folds."""
    baseline, experiment = (by_fold(results[variant.label], plan.folds) for variant in variants)
    per_fold = Table(
        f"{title}: {plan.project.metric} per fold (mean over seeds {listed(plan.seeds)})",
        ["fold", variants[0].label, variants[1].label, "Δ"],
        [
            [str(fold), number(low, DIGITS), number(high, DIGITS), signed(difference, DIGITS)]
            for fold, low, high, difference in zip(
                range(plan.folds),
                fold_means(baseline),
                fold_means(experiment),
                comparison.differences,
                strict=True,
            )
        ],
    )
    profile = f", {plan.profile} profile" if plan.profile else ""
    test = comparison.test
    scored = Table(
        f"{title}: {plan.project.metric}, {plan.folds} folds x seeds {listed(plan.seeds)}{profile}",
        ["variant", "mean ± std", f"Δ [{percent(comparison.confidence, 0)} CI]", "p", "verdict"],
        [
            [variants[0].label, spread(fold_means(baseline)), "-", "-", "baseline"],
            [
                variants[1].label,
                spread(fold_means(experiment)),
                f"{signed(comparison.difference, DIGITS)} "
                f"[{signed(test.low, DIGITS)}, {signed(test.high, DIGITS)}]",
                p_value(test.p_value),
                comparison.verdict.value,
            ],
        ],
        method_notes(comparison, len(plan.seeds), margin_source),
    )
    if plan.profile and plan.profile != FULL_PROFILE:
        scored.notes.append(
            f"The {plan.profile} profile screens changes: confirm a verdict with "
            "`--profile full` before merging (see the README)."
        )
    return [what_ran(title, variants, results, plan), per_fold, scored]


def listed(seeds: tuple[int, ...]) -> str:
    return ", ".join(map(str, seeds))


def run_compare(
    build: Callable[[Checkouts], list[Variant]], plan: Plan, testing: Analysis, out_dir: Path
) -> FoldComparison:
    """Train the baseline and the experiment on every fold and seed, test, show and save."""
    with Checkouts(plan.project.root) as checkouts:
        variants = build(checkouts)
        results = measure(checkouts, variants, plan, out_dir)
        untrained = affected.untrained_moves(checkouts, variants, results)
    testing, margin_source = with_margin(testing, results)
    baseline, experiment = (by_fold(results[variant.label], plan.folds) for variant in variants)
    comparison = FoldComparison(baseline, experiment, testing.alpha, testing.margin)
    title = f"compare: {', '.join(results)}"
    shown_tables = tables(title, variants, results, comparison, plan, margin_source)
    shown_tables[-1].notes += untrained
    for table in shown_tables:
        table.show()
    data = {
        "command": "compare",
        "metric": plan.project.metric,
        "profile": plan.profile,
        "seeds": list(plan.seeds),
        "folds": plan.folds,
        "alpha": testing.alpha,
        "test": METHOD_KEY,
        "margin": testing.margin,
        "margin_source": margin_source,
        "common_overrides": list(plan.common),
        "untrained_modes_moved": untrained,
        "against_baseline": comparison.as_dict(),
        "variants": [
            {
                **variant_record(variant, results[variant.label]),
                "fold_means": fold_means(by_fold(results[variant.label], plan.folds)).tolist(),
                "runs": [run.as_dict() for run in results[variant.label]],
            }
            for variant in variants
        ],
    }
    save(out_dir, "compare", title, shown_tables, data)
    return comparison


def seeds_table(variant: Variant, runs: list[Run], plan: Plan) -> tuple[Table, dict]:
    """Every run by fold and seed, and the cross-validated mean with its corrected interval."""
    means = fold_means(by_fold(runs, plan.folds))
    estimate = corrected_resampled_ttest(means, kfold_test_to_train(plan.folds), CONFIDENCE)
    metric = plan.project.metric
    first = runs[0]
    table = Table(
        f"{variant.describe()}: {plan.folds} folds x {len(plan.seeds)} seed(s), "
        f"{plan.profile or 'no'} profile",
        ["fold", "seed", plan.project.monitor, metric, "run dir"],
        [
            [
                str(run.fold),
                str(run.seed),
                number(run.monitored),
                number(run.value),
                shown(run.run_dir),
            ]
            for run in sorted(runs, key=lambda run: (run.fold, run.seed))
        ],
        [
            f"{metric}: cross-validated mean {spread(means)} (std over the {plan.folds} folds' "
            f"means over seeds), {percent(CONFIDENCE, 0)} CI [{number(estimate.low)}, "
            f"{number(estimate.high)}] by the {METHOD} (variance of the mean (1/{plan.folds} "
            f"+ 1/{plan.folds - 1}) S² instead of S²/{plan.folds}: folds share training data).",
            f"commit {describe_code(runs)}, metric version {first.metric_version}, "
            f"data version {first.data_version[:12]}, environment {environments.shown_digest(runs)}"
            + (f"; every run had {' '.join(plan.common)}" if plan.common else ""),
            *environments.notes({variant.label: runs}),
        ],
        wraps="run dir",
    )
    summary = {
        "folds": plan.folds,
        "method": METHOD,
        "fold_means": means.tolist(),
        "mean": float(means.mean()),
        "std_over_folds": float(np.std(means, ddof=1)),
        "ci_low": estimate.low,
        "ci_high": estimate.high,
        "confidence": CONFIDENCE,
    }
    return table, summary


def run_seeds(variant: Variant, plan: Plan, out_dir: Path) -> list[Run]:
    """One variant on every fold and seed: each run, and the cross-validated mean."""
    with Checkouts(plan.project.root) as checkouts:
        runs = measure(checkouts, [variant], plan, out_dir)[variant.label]
    table, summary = seeds_table(variant, runs, plan)
    table.show()
    data = {
        **run_header(variant, plan),
        "seeds": list(plan.seeds),
        "summary": summary,
        "runs": [run.as_dict() for run in runs],
    }
    save(out_dir, "seeds", table.title, [table], data)
    return runs
