"""A baseline against an experiment, N seeds each, re-run now: a t-test, power and a verdict.

Refuses to compare numbers that are not comparable (metric versioning): runs whose
metric versions or data versions differ. The metric versions are checked
before any training, from each side's code, and again on the runs' records.
Runs from different environments (packages, Python, OS, hardware) are marked,
not refused: see environments.py.
"""

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from research_rigor.errors import UserError
from research_rigor.stats import (
    ASO_THRESHOLD,
    CONFIDENCE,
    POWER,
    Analysis,
    Comparison,
    Method,
    Summary,
    Verdict,
    adjusted,
)

from {{ cookiecutter.package_name }} import provenance
from {{ cookiecutter.package_name }}.experiments import affected, environments
from {{ cookiecutter.package_name }}.experiments.checkouts import Checkouts
from {{ cookiecutter.package_name }}.experiments.output import (
    Table,
    commit,
    console,
    number,
    p_value,
    percent,
    save,
    signed,
)
from {{ cookiecutter.package_name }}.experiments.runs import (
    Plan,
    Run,
    Variant,
    metric_version_of,
    train_seeds,
)
from {{ cookiecutter.package_name }}.metrics import REPORTED

BASELINE_REF = "main"
DIGITS = 3  # of accuracies: the test split's resolution is a few tenths of a percent
DATA_VERSION_SHOWN = 12  # leading characters of the data hash
FULL_PROFILE = "full"
# What must be equal across every run compared, and why.
COMPARABLE = {
    "metric_version": "numbers measured by different metric definitions are not comparable "
    "(re-run both sides under one definition)",
    "data_version": "the sides trained and were measured on different data",
    "profile": "the sides trained with different profiles",
}


class IncomparableError(UserError):
    """The runs disagree on something that makes their numbers incomparable."""


def refuse_if_different(field: str, values: dict[str, set]) -> None:
    """Raise IncomparableError when the labelled sides hold more than one value of `field`."""
    distinct = set().union(*values.values())
    if len(distinct) > 1:
        found = "; ".join(
            f"{label}: {', '.join(str(value) for value in sorted(side, key=str))}"
            for label, side in values.items()
        )
        raise IncomparableError(
            f"refusing to compare: the {field.replace('_', ' ')}s differ ({found}): "
            f"{COMPARABLE[field]}."
        )


def check_comparable(results: dict[str, list[Run]]) -> None:
    for field in COMPARABLE:
        refuse_if_different(
            field, {label: {getattr(run, field) for run in runs} for label, runs in results.items()}
        )


def require_clean_tree(root: Path, allow_dirty: bool) -> None:
    """The working tree's runs must be traceable to a commit, as train.py's guard insists."""
    state = provenance.git_state(root)
    if state is None or state.commit is None:
        raise UserError(f"{root} is not a git repository with a commit: the baseline needs one.")
    if state.dirty and not allow_dirty:
        shown = "; ".join(line.strip() for line in state.changed[: provenance.SHOWN_PATHS])
        raise UserError(
            f"the working tree has uncommitted changes ({shown}): commit them, or pass "
            "--allow-dirty (its runs are then marked dirty and their diff saved)."
        )


def measure(
    checkouts: Checkouts, variants: Sequence[Variant], plan: Plan, out_dir: Path
) -> dict[str, list[Run]]:
    """Train every variant over the plan's seeds, now; refuse before training if metrics differ."""
    if any(variant.ref is None for variant in variants):
        require_clean_tree(checkouts.repo, plan.allow_dirty)
    code_dirs = {variant.label: checkouts.path(variant.ref) for variant in variants}
    declared = {path: metric_version_of(path) for path in set(code_dirs.values())}
    refuse_if_different(
        "metric_version", {label: {declared[path]} for label, path in code_dirs.items()}
    )
    results = {}
    for variant in variants:
        console.print(
            f"training {variant.label} ({variant.describe()}): seeds "
            f"{', '.join(map(str, plan.seeds))}, {plan.profile} profile ...",
            highlight=False,
        )
        started = time.perf_counter()
        results[variant.label] = train_seeds(
            code_dirs[variant.label], variant, plan, out_dir / variant.label
        )
        console.print(f"  done in {time.perf_counter() - started:.0f} s", highlight=False)
    check_comparable(results)
    return results


def describe_code(runs: list[Run]) -> str:
    commits = sorted({commit(run.git_commit, run.git_dirty) for run in runs})
    return ", ".join(commits)


def branches(runs: list[Run]) -> list[str]:
    return sorted({str(run.provenance["git_branch"]) for run in runs})


def summarize(runs: list[Run]) -> Summary:
    return Summary(tuple(run.value for run in runs), seeds=tuple(run.seed for run in runs))


def provenance_row(variant: Variant, runs: list[Run]) -> list[str]:
    """What ran: the code, its commit, the versions that make numbers comparable."""
    return [
        variant.label,
        variant.ref or f"working tree ({', '.join(branches(runs))})",
        describe_code(runs),
        ", ".join(sorted({str(run.metric_version) for run in runs})),
        ", ".join(sorted({run.data_version[:DATA_VERSION_SHOWN] for run in runs})),
        environments.shown_digest(runs),
        " ".join(variant.overrides) or "-",
    ]


def result_row(variant: Variant, runs: list[Run], comparison: Comparison | None) -> list[str]:
    """What it scored, and how it compares with the baseline."""
    summary = summarize(runs) if comparison is None else comparison.experiment
    spread = f"{number(summary.mean, DIGITS)} ± {number(summary.std, DIGITS)}"
    if comparison is None:
        return [variant.label, spread, "-", "-", "-", "-", "baseline"]
    test = comparison.test
    if comparison.method is Method.ASO:
        evidence = number(comparison.aso[0], 2)
    else:
        evidence = p_value(comparison.p_value)
    return [
        variant.label,
        spread,
        f"{signed(comparison.difference, DIGITS)} "
        f"[{signed(test.low, DIGITS)}, {signed(test.high, DIGITS)}]",
        evidence,
        number(comparison.effect_size, 2),
        number(comparison.detectable_effect, DIGITS),
        comparison.verdict.value,
    ]


def against_baseline(
    variants: Sequence[Variant], results: dict[str, list[Run]], testing: Analysis
) -> dict[str, Comparison]:
    """Every variant after the first (the baseline) compared with it, adjusted when several."""
    baseline = summarize(results[variants[0].label])
    return adjusted(
        {
            variant.label: Comparison(
                baseline, summarize(results[variant.label]), testing.alpha, testing.method
            )
            for variant in variants[1:]
        }
    )


def evidence_column(comparisons: dict[str, Comparison]) -> str:
    first = next(iter(comparisons.values()))
    if first.method is Method.ASO:
        return "ε_min"
    return "Holm p" if first.adjusted_p is not None else "p"


def test_notes(comparisons: dict[str, Comparison]) -> list[str]:
    """What the evidence column means and what decides the verdict."""
    first = next(iter(comparisons.values()))
    alpha, count = first.alpha, len(comparisons)
    mde = (
        f"MDE: the smallest |Δ| that these seeds detect at alpha = {alpha} with "
        f"{percent(POWER, 0)} power, from the spread measured here (statsmodels)."
    )
    if first.method is Method.ASO:
        also = f" (Bonferroni over the {count} comparisons)" if count > 1 else ""
        return [
            "Δ: variant mean - baseline mean, with its t interval; d: Cohen's d; " + mde,
            "ε_min: Almost Stochastic Order (deepsig), how far 'the variant is better' is "
            f"violated (0: always better), at confidence {1 - alpha / count:.3g}{also}. Verdict: a "
            f"progression when ε_min < {ASO_THRESHOLD}, a regression when the reverse "
            f"ε_min (JSON: aso_eps_min_reverse) is < {ASO_THRESHOLD}, else inconclusive.",
        ]
    test = "the paired t-test over seeds" if first.method is Method.PAIRED else "Welch's t-test"
    holm = (
        f"Holm p: {test}, Holm-adjusted over the {count} comparisons with the baseline "
        f"(statsmodels), so that together they keep alpha = {alpha}; the verdicts use it, "
        "the Δ intervals are unadjusted."
        if first.adjusted_p is not None
        else f"p: {test}."
    )
    return [
        f"Δ: variant mean - baseline mean, with its confidence interval; {holm} "
        f"d: Cohen's d (effect size). {mde}",
        f"Verdict at alpha = {alpha}: a progression or a regression when p < alpha; "
        "otherwise inconclusive.",
    ]


def inconclusive_notes(comparisons: dict[str, Comparison]) -> list[str]:
    """Why a verdict is inconclusive: a Δ below the MDE could be seed noise or a real effect."""
    notes = []
    for label, comparison in comparisons.items():
        if comparison.verdict is not Verdict.INCONCLUSIVE:
            continue
        shift, mde = abs(comparison.difference), comparison.detectable_effect
        seeds = f"{comparison.experiment.n} seeds per side"
        fewer = "; `--paired` often needs fewer" if comparison.method is Method.WELCH else ""
        if shift < mde:
            notes.append(
                f"{label} is inconclusive: |Δ| = {number(shift, DIGITS)} is below the MDE "
                f"{number(mde, DIGITS)}, so {seeds} cannot tell it from seed noise; that is "
                f"no evidence of no effect. `--effect X` prints how many seeds detect a Δ of X"
                f"{fewer}."
            )
        else:
            notes.append(
                f"{label} is inconclusive although |Δ| = {number(shift, DIGITS)} reaches the "
                f"MDE {number(mde, DIGITS)}: {seeds} detect such a Δ only {percent(POWER, 0)} "
                "of the time; more seeds narrow the interval."
            )
    return notes


def chance_table(title: str, comparisons: dict[str, Comparison], testing: Analysis) -> Table:
    """P(better) for every variant, the pairing's correlation, seeds for --effect."""
    columns = ["variant", f"P(better) [{percent(CONFIDENCE, 0)} CI]"]
    paired = testing.method is Method.PAIRED
    if paired:
        columns.append("r")
    if testing.effect is not None:
        columns.append(f"seeds for Δ = {testing.effect:g}")
    rows = []
    for label, comparison in comparisons.items():
        chance, low, high = comparison.improvement
        row = [label, f"{number(chance, 2)} [{number(low, 2)}, {number(high, 2)}]"]
        if paired:
            row.append(number(comparison.correlation, 2))
        if testing.effect is not None:
            row.append(str(comparison.seeds_for(testing.effect)))
        rows.append(row)
    notes = [
        "P(better): the chance that a run of the variant beats a run of the baseline, over "
        "every pair of runs (Agarwal et al. 2021), with a percentile-bootstrap interval "
        "(scipy); 0.5 is a coin toss."
    ]
    if paired:
        notes.append(
            "r: the correlation of the two sides over seeds; pairing gains power when r > 0."
        )
    if testing.effect is not None:
        notes.append(
            f"seeds for Δ: per side, for a t-test to detect |Δ| = {testing.effect:g} at "
            f"alpha = {testing.alpha} with {percent(POWER, 0)} power, at the spread measured here."
        )
    command = title.split(":", 1)[0]  # the table is narrow: a short title
    return Table(f"{command}: P(better)", columns, rows, notes)


def what_ran(
    title: str, variants: Sequence[Variant], results: dict[str, list[Run]], plan: Plan
) -> Table:
    """One row per variant: its code and the versions and environment it ran with."""
    ran = Table(
        f"{title}: what ran",
        ["variant", "code", "commit", "metric v", "data v", "env", "overrides"],
        [provenance_row(variant, results[variant.label]) for variant in variants],
        wraps="overrides",
    )
    if plan.common:
        ran.notes.append(f"Every run also had: {' '.join(plan.common)}")
    if any(run.git_dirty for runs in results.values() for run in runs):
        ran.notes.append(
            "Dirty runs: their code is the commit plus the dirty.patch in each run dir."
        )
    ran.notes += environments.notes(results)
    return ran


def tables(
    title: str,
    variants: Sequence[Variant],
    results: dict[str, list[Run]],
    comparisons: dict[str, Comparison],
    plan: Plan,
    testing: Analysis,
) -> list[Table]:
    """Three tables: what ran, what it scored against the baseline, P(better) and seeds."""
    ran = what_ran(title, variants, results, plan)
    scored = Table(
        f"{title}: {REPORTED}, seeds {', '.join(map(str, plan.seeds))}, {plan.profile} profile",
        [
            "variant",
            "mean ± std",
            f"Δ [{percent(CONFIDENCE, 0)} CI]",
            evidence_column(comparisons),
            "d",
            "MDE",
            "verdict",
        ],
        [
            result_row(variant, results[variant.label], comparisons.get(variant.label))
            for variant in variants
        ],
        test_notes(comparisons) + inconclusive_notes(comparisons),
    )
    if plan.profile != FULL_PROFILE:
        scored.notes.append(
            f"The {plan.profile} profile screens changes: confirm a verdict with "
            "`--profile full` before merging (see the README)."
        )
    return [ran, scored, chance_table(title, comparisons, testing)]


def record(
    variants: Sequence[Variant],
    results: dict[str, list[Run]],
    comparisons: dict[str, Comparison],
    plan: Plan,
    testing: Analysis,
) -> dict:
    """The JSON twin of the tables, with every run's provenance summary."""
    return {
        "metric": REPORTED,
        "profile": plan.profile,
        "seeds": list(plan.seeds),
        "common_overrides": list(plan.common),
        "variants": [
            {
                "label": variant.label,
                "ref": variant.ref,
                "overrides": list(variant.overrides),
                "git_commits": sorted({str(run.git_commit) for run in results[variant.label]}),
                "metric_version": results[variant.label][0].metric_version,
                "data_version": results[variant.label][0].data_version,
                "summary": summarize(results[variant.label]).as_dict(),
                "against_baseline": (
                    comparisons[variant.label].as_dict(testing.effect)
                    if variant.label in comparisons
                    else None
                ),
                "runs": [run.as_dict() for run in results[variant.label]],
            }
            for variant in variants
        ],
    }


def run_command(
    command: str,
    root: Path,
    build: Callable[[Checkouts], list[Variant]],
    plan: Plan,
    testing: Analysis,
    out_dir: Path,
    more_notes: Callable[[dict[str, Comparison]], list[str]] | None = None,
) -> dict[str, Comparison]:
    """Build the variants (the first is the baseline), train them, compare, show and save."""
    with Checkouts(root) as checkouts:
        variants = build(checkouts)
        results = measure(checkouts, variants, plan, out_dir)
        untrained = affected.untrained_moves(checkouts, variants, results)
    comparisons = against_baseline(variants, results, testing)
    title = f"{command}: {', '.join(results)}"
    shown = tables(title, variants, results, comparisons, plan, testing)
    if more_notes:
        shown[1].notes += more_notes(comparisons)
    shown[1].notes += untrained
    for table in shown:
        table.show()
    data = {
        "command": command,
        "alpha": testing.alpha,
        "test": testing.method.value,
        "untrained_modes_moved": untrained,
        **record(variants, results, comparisons, plan, testing),
    }
    save(out_dir, command, title, shown, data)
    return comparisons
