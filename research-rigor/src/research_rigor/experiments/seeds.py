"""One variant over N seeds: each run's numbers, their mean, spread and confidence interval.

The spread is what a reliable result needs before any comparison: how far apart
two runs of the same code land by chance alone, and so the smallest difference
(the MDE) that a comparison over this many seeds could detect.
"""

from pathlib import Path

from research_rigor.experiments import environments
from research_rigor.experiments.checkouts import Checkouts
from research_rigor.experiments.compare import (
    DIGITS,
    describe_code,
    measure,
    run_header,
    summarize,
)
from research_rigor.experiments.output import Table, number, percent, save, shown
from research_rigor.experiments.runs import Plan, Run, Variant
from research_rigor.stats import POWER, Analysis, seeds_needed


def power_notes(runs: list[Run], testing: Analysis) -> list[str]:
    """The MDE of a comparison of two sides like this one, and the seeds for --effect."""
    summary = summarize(runs)
    at = f"at alpha = {testing.alpha} with {percent(POWER, 0)} power (statsmodels)"
    notes = [
        f"MDE: with this spread, a comparison of {summary.n} seeds per side detects a "
        f"difference of {number(summary.detectable_effect(testing.alpha), DIGITS)} {at}."
    ]
    if testing.effect is not None:
        needed = seeds_needed(testing.effect, summary.std, testing.alpha)
        notes.append(
            f"Detecting a difference of {testing.effect:g} needs {needed} seeds per side {at}."
        )
    return notes


def table(variant: Variant, runs: list[Run], plan: Plan, testing: Analysis) -> Table:
    summary = summarize(runs)
    low, high = summary.interval
    first = runs[0]
    return Table(
        f"{variant.describe()}: {len(runs)} seeds, {plan.profile or 'no'} profile",
        ["seed", plan.project.monitor, plan.project.metric, "run dir"],
        [
            [str(run.seed), number(run.monitored), number(run.value), shown(run.run_dir)]
            for run in runs
        ],
        [
            f"{plan.project.metric}: mean {number(summary.mean)} ± {number(summary.std)} (std), "
            f"{percent(summary.confidence, 0)} CI of the mean [{number(low)}, {number(high)}]",
            *power_notes(runs, testing),
            f"commit {describe_code(runs)}, metric version {first.metric_version}, "
            f"data version {first.data_version[:12]}, environment {environments.shown_digest(runs)}"
            + (f"; every run had {' '.join(plan.common)}" if plan.common else ""),
            *environments.notes({variant.label: runs}),
        ],
        wraps="run dir",
    )


def run_command(variant: Variant, plan: Plan, testing: Analysis, out_dir: Path) -> list[Run]:
    with Checkouts(plan.project.root) as checkouts:
        runs = measure(checkouts, [variant], plan, out_dir)[variant.label]
    shown_table = table(variant, runs, plan, testing)
    shown_table.show()
    data = {
        **run_header(variant, plan),
        "summary": summarize(runs).as_dict(testing.alpha, testing.effect),
        "runs": [run.as_dict() for run in runs],
    }
    save(out_dir, "seeds", shown_table.title, [shown_table], data)
    return runs
