"""k-fold: each variant trained on every fold of the split, and every seed within a fold.

`seeds --folds K`, `compare --folds K` and `shadow --folds K` train `data.fold=0..K-1`
(the project's split holds the folds; each run records the fold it held out and the
split's number of folds). Runs are paired by fold and seed: a fold's difference is the
mean, over its seeds, of variant - baseline, and each verdict tests the K per-fold
differences. Several variants (shadow's A, B, A+B) are adjusted as `stats.adjusted` does.

Folds of one dataset share most of their training data, so their scores are correlated,
and the naive t-test over folds calls noise a difference far more often than alpha. The
verdict uses Nadeau and Bengio's corrected resampled t-test (`research_rigor.resampling`),
with n_test / n_train = 1 / (K - 1): what a fold tests against what the other folds give
its training and checkpoint selection. Seeds within a fold share its data, so they are
averaged rather than counted as more folds.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
from statsmodels.stats.multitest import multipletests

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
from research_rigor.stats import CONFIDENCE, MULTIPLE_COMPARISONS, Analysis
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


def means_of(runs: list[Run], plan: Plan) -> np.ndarray:
    """One variant's per-fold means over seeds, its runs checked against the plan's folds."""
    return fold_means(by_fold(runs, plan.folds))


@dataclass(frozen=True)
class FoldComparison:
    """An experiment against a baseline over the same folds and seeds."""

    baseline: dict[int, dict[int, float]]  # {fold: {seed: metric}}
    experiment: dict[int, dict[int, float]]
    alpha: float
    margin: float | None = None  # the largest loss tolerated: verdicts against it
    adjusted_p: float | None = None  # Holm's, when this is one of several comparisons
    family: int = 1  # with a margin, the comparisons whose intervals share alpha (Bonferroni)

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
        """Two-sided at alpha; with a margin, the (1 - 2 alpha / family) interval of the
        one-sided claims, Bonferroni over the family."""
        if self.margin is None:
            return 1 - self.alpha
        return 1 - 2 * self.alpha / self.family

    @cached_property
    def test(self) -> ResampledTTest:
        return corrected_resampled_ttest(
            self.differences, kfold_test_to_train(self.folds), self.confidence
        )

    @property
    def p_value(self) -> float:
        """What a verdict without a margin reads: Holm's when adjusted, else the test's."""
        return self.test.p_value if self.adjusted_p is None else self.adjusted_p

    @property
    def verdict(self) -> Verdict:
        if self.margin is not None:
            return Verdict(classify(self.test.low, self.test.high, self.margin).item())
        if not self.p_value < self.alpha:
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
        if self.adjusted_p is not None:
            record["p_value_adjusted"] = self.adjusted_p
            record["adjustment"] = MULTIPLE_COMPARISONS
        if self.family > 1:
            record["margin_comparisons"] = self.family
        return record


def adjusted(comparisons: dict[str, FoldComparison]) -> dict[str, FoldComparison]:
    """Several comparisons at one alpha, as `stats.adjusted`: Holm's p-values decide without a
    margin; with one the verdicts read off intervals, which Holm's step-down does not give,
    so each interval is at alpha / m (Bonferroni)."""
    if len(comparisons) < 2:
        return comparisons
    first = next(iter(comparisons.values()))
    family = 1 if first.margin is None else len(comparisons)
    raw = [comparison.test.p_value for comparison in comparisons.values()]
    _, holm, _, _ = multipletests(raw, alpha=first.alpha, method=MULTIPLE_COMPARISONS)
    return {
        label: replace(comparison, adjusted_p=float(p), family=family)
        for (label, comparison), p in zip(comparisons.items(), holm, strict=True)
    }


def spread(means: np.ndarray) -> str:
    return f"{number(float(means.mean()), DIGITS)} ± {number(float(np.std(means, ddof=1)), DIGITS)}"


def level(comparison: FoldComparison) -> str:
    """The interval's confidence, with the decimal Bonferroni's alpha / m needs (96.7%)."""
    return percent(comparison.confidence, 0 if comparison.family == 1 else 1)


def method_notes(
    comparisons: Mapping[str, FoldComparison], seeds: int, margin_source: str
) -> list[str]:
    """What the columns mean and which test decides, in words."""
    first = next(iter(comparisons.values()))
    k, count = first.folds, len(comparisons)
    side = next(iter(comparisons)) if count == 1 else "each variant"
    notes = [
        f"mean ± std: over the {k} folds of each fold's mean over its {seeds} seed(s). Δ: "
        f"{side} - baseline paired by fold and seed, averaged over a fold's seeds, then "
        f"over the folds, with its {level(first)} interval.",
        f"p: the {METHOD}, over the {k} per-fold Δ with {k - 1} degrees of freedom: the "
        f"variance of their mean is (1/{k} + 1/{k - 1}) S² instead of S²/{k} (n_test/n_train = "
        f"1/{k - 1}), because folds share training data and the naive t-test over folds is "
        "anti-conservative (Bouckaert and Frank 2004).",
    ]
    if first.adjusted_p is not None:
        decides = (
            "the verdicts use it; the Δ intervals are unadjusted."
            if first.margin is None
            else "the verdicts read off the Δ intervals instead (below)."
        )
        notes.append(
            f"Holm p: that p, Holm-adjusted over the {count} comparisons with the baseline "
            f"(statsmodels), so that together they keep alpha = {first.alpha}; {decides}"
        )
    if first.margin is None:
        notes.append(
            f"Verdict at alpha = {first.alpha}: a progression or a regression when "
            "p < alpha; otherwise inconclusive."
        )
        return notes
    claims = (
        f"alpha = {first.alpha}"
        if first.family == 1
        else f"alpha / {first.family} = {first.alpha / first.family:.3g} each: Bonferroni "
        f"over the {first.family} comparisons, so the intervals are at {level(first)}"
    )
    notes += [
        f"Margin ±{first.margin:g} ({margin_source}): better when the interval lies "
        "above 0; equivalent when inside ±margin; non-inferior when above -margin; worse "
        f"when below 0 and not above -margin; else inconclusive (one-sided claims at {claims}).",
        LEGEND,
    ]
    for label, comparison in comparisons.items():
        if count > 1:
            notes.append(f"{label}: {comparison.verdict.value}")
        test = comparison.test
        notes.append("  " + drawn(comparison.difference, test.low, test.high, first.margin))
    return notes


def tables(
    title: str,
    variants: list[Variant],
    results: dict[str, list[Run]],
    comparisons: Mapping[str, FoldComparison],
    plan: Plan,
    margin_source: str,
) -> list[Table]:
    """What ran; each fold's scores and differences; each variant's verdict over the folds."""
    means = {variant.label: means_of(results[variant.label], plan) for variant in variants}
    several = len(comparisons) > 1
    per_fold = Table(
        f"{title}: {plan.project.metric} per fold (mean over seeds {listed(plan.seeds)})",
        [
            "fold",
            *means,
            *(f"Δ {label}" if several else "Δ" for label in comparisons),
        ],
        [
            [
                str(fold),
                *(number(float(side[fold]), DIGITS) for side in means.values()),
                *(signed(float(c.differences[fold]), DIGITS) for c in comparisons.values()),
            ]
            for fold in range(plan.folds)
        ],
    )
    profile = f", {plan.profile} profile" if plan.profile else ""
    first = next(iter(comparisons.values()))
    baseline = variants[0].label
    scored = Table(
        f"{title}: {plan.project.metric}, {plan.folds} folds x seeds {listed(plan.seeds)}{profile}",
        [
            "variant",
            "mean ± std",
            f"Δ [{level(first)} CI]",
            "Holm p" if first.adjusted_p is not None else "p",
            "verdict",
        ],
        [
            [baseline, spread(means[baseline]), "-", "-", "baseline"],
            *(
                [
                    label,
                    spread(means[label]),
                    f"{signed(comparison.difference, DIGITS)} "
                    f"[{signed(comparison.test.low, DIGITS)}, "
                    f"{signed(comparison.test.high, DIGITS)}]",
                    p_value(comparison.p_value),
                    comparison.verdict.value,
                ]
                for label, comparison in comparisons.items()
            ),
        ],
        method_notes(comparisons, len(plan.seeds), margin_source),
    )
    if plan.profile and plan.profile != FULL_PROFILE:
        scored.notes.append(
            f"The {plan.profile} profile screens changes: confirm a verdict with "
            "`--profile full` before merging (see the README)."
        )
    return [what_ran(title, variants, results, plan), per_fold, scored]


def listed(seeds: tuple[int, ...]) -> str:
    return ", ".join(map(str, seeds))


def run_command(
    command: str,
    build: Callable[[Checkouts], list[Variant]],
    plan: Plan,
    testing: Analysis,
    out_dir: Path,
    more_notes: Callable[[dict[str, FoldComparison]], list[str]] | None = None,
) -> dict[str, FoldComparison]:
    """Train the variants (the first is the baseline) on every fold and seed, compare each
    with the baseline, adjusted when several, and show and save."""
    with Checkouts(plan.project.root) as checkouts:
        variants = build(checkouts)
        results = measure(checkouts, variants, plan, out_dir)
        untrained = affected.untrained_moves(checkouts, variants, results)
    testing, margin_source = with_margin(testing, results)
    baseline = by_fold(results[variants[0].label], plan.folds)
    comparisons = adjusted(
        {
            variant.label: FoldComparison(
                baseline,
                by_fold(results[variant.label], plan.folds),
                testing.alpha,
                testing.margin,
            )
            for variant in variants[1:]
        }
    )
    title = f"{command}: {', '.join(results)}"
    shown_tables = tables(title, variants, results, comparisons, plan, margin_source)
    if more_notes:
        shown_tables[-1].notes += more_notes(comparisons)
    shown_tables[-1].notes += untrained
    for table in shown_tables:
        table.show()
    against = {label: comparison.as_dict() for label, comparison in comparisons.items()}
    per_variant = len(against) > 1  # as shadow without folds; compare's one at the top
    data = {
        "command": command,
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
        **({} if per_variant else {"against_baseline": next(iter(against.values()))}),
        "variants": [
            {
                **variant_record(variant, results[variant.label]),
                "fold_means": means_of(results[variant.label], plan).tolist(),
                **({"against_baseline": against.get(variant.label)} if per_variant else {}),
                "runs": [run.as_dict() for run in results[variant.label]],
            }
            for variant in variants
        ],
    }
    save(out_dir, command, title, shown_tables, data)
    return comparisons


def run_compare(
    build: Callable[[Checkouts], list[Variant]], plan: Plan, testing: Analysis, out_dir: Path
) -> FoldComparison:
    """Train the baseline and the experiment on every fold and seed, test, show and save."""
    return next(iter(run_command("compare", build, plan, testing, out_dir).values()))


def seeds_table(variant: Variant, runs: list[Run], plan: Plan) -> tuple[Table, dict]:
    """Every run by fold and seed, and the cross-validated mean with its corrected interval."""
    means = means_of(runs, plan)
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
