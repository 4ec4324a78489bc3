"""A baseline against an experiment, N seeds each, re-run now: Welch's t-test and a verdict.

Refuses to compare numbers that are not comparable (metric versioning): runs whose
metric versions or data versions differ. The metric versions are checked
before any training, from each side's code, and again on the runs' records.
Runs from different environments (packages, Python, OS, hardware) are marked,
not refused: see environments.py.
"""

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from {{ cookiecutter.package_name }} import provenance
from {{ cookiecutter.package_name }}.errors import UserError
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
from {{ cookiecutter.package_name }}.experiments.stats import CONFIDENCE, Comparison, Summary
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
    return Summary(tuple(run.value for run in runs))


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
        return [variant.label, spread, "-", "-", "-", "baseline"]
    test = comparison.test
    return [
        variant.label,
        spread,
        f"{signed(comparison.difference, DIGITS)} "
        f"[{signed(test.low, DIGITS)}, {signed(test.high, DIGITS)}]",
        p_value(test.p_value),
        number(comparison.effect_size, 2),
        comparison.verdict.value,
    ]


def against_baseline(
    variants: Sequence[Variant], results: dict[str, list[Run]], alpha: float
) -> dict[str, Comparison]:
    """Every variant after the first (the baseline) compared with it."""
    baseline = summarize(results[variants[0].label])
    return {
        variant.label: Comparison(baseline, summarize(results[variant.label]), alpha)
        for variant in variants[1:]
    }


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
) -> list[Table]:
    """Two tables, one row per variant: what ran, and what it scored against the baseline."""
    alpha = next(iter(comparisons.values())).alpha
    ran = what_ran(title, variants, results, plan)
    scored = Table(
        f"{title}: {REPORTED}, seeds {', '.join(map(str, plan.seeds))}, {plan.profile} profile",
        ["variant", "mean ± std", f"Δ [{percent(CONFIDENCE, 0)} CI]", "p", "d", "verdict"],
        [
            result_row(variant, results[variant.label], comparisons.get(variant.label))
            for variant in variants
        ],
        [
            "Δ: variant mean - baseline mean, with its confidence interval; p: Welch's t-test; "
            "d: Cohen's d (effect size).",
            f"Verdict at alpha = {alpha}: a progression or a regression when p < alpha; "
            "otherwise inconclusive: the difference could be seed noise, and more seeds "
            "narrow the interval.",
        ],
    )
    if plan.profile != FULL_PROFILE:
        scored.notes.append(
            f"The {plan.profile} profile screens changes: confirm a verdict with "
            "`--profile full` before merging (see the README)."
        )
    return [ran, scored]


def record(
    variants: Sequence[Variant],
    results: dict[str, list[Run]],
    comparisons: dict[str, Comparison],
    plan: Plan,
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
                    comparisons[variant.label].as_dict() if variant.label in comparisons else None
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
    alpha: float,
    out_dir: Path,
    more_notes: Callable[[dict[str, Comparison]], list[str]] | None = None,
) -> dict[str, Comparison]:
    """Build the variants (the first is the baseline), train them, compare, show and save."""
    with Checkouts(root) as checkouts:
        variants = build(checkouts)
        results = measure(checkouts, variants, plan, out_dir)
        untrained = affected.untrained_moves(checkouts, variants, results)
    comparisons = against_baseline(variants, results, alpha)
    title = f"{command}: {', '.join(results)}"
    shown = tables(title, variants, results, comparisons, plan)
    if more_notes:
        shown[-1].notes += more_notes(comparisons)
    shown[-1].notes += untrained
    for table in shown:
        table.show()
    data = {
        "command": command,
        "alpha": alpha,
        "untrained_modes_moved": untrained,
        **record(variants, results, comparisons, plan),
    }
    save(out_dir, command, title, shown, data)
    return comparisons
