"""A comparison on several datasets (`data=a,b,c`): a verdict per dataset, and one across them
that no dataset dominates.

Each dataset is compared on its own (its runs, its margin), as a single-dataset comparison
is. The combined verdict is the Wilcoxon signed-rank test over the datasets' mean
differences (`research_rigor.datasets`), which counts each dataset by the sign and rank of
its difference, so one dataset's large gain cannot outweigh losses on the others. With a
margin on every dataset it is one-sided tests against each dataset's margin, with the
per-dataset verdict names (better, equivalent, non-inferior, worse, inconclusive). With
fewer datasets than the tests need to reach alpha (at 0.05: 6 two-sided, 5 one-sided)
there is no combined verdict, and the output says so rather than inventing one.
"""

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from statsmodels.stats.multitest import multipletests

from research_rigor.datasets import (
    CLAIMS,
    MARGIN_METHOD,
    METHOD,
    across_datasets,
    against_margins,
    datasets_needed,
    smallest_p_value,
)
from research_rigor.errors import UserError
from research_rigor.experiments import compare
from research_rigor.experiments.output import Table, p_value, save, signed
from research_rigor.experiments.runs import Plan, Run, Variant, sweep_values
from research_rigor.stats import Analysis, Comparison

NO_VERDICT = "none"  # the JSON's combined verdict when too few datasets can reach alpha
HOLM = "holm"  # several variants (shadow): their combined p-values adjusted together


def datasets_in(overrides: Sequence[str], group: str) -> list[str]:
    """The datasets a sweep of the datasets group names (`data=a,b,c`); [] without a sweep."""
    values = sweep_values(overrides, group)
    return values if len(values) > 1 else []


def combined(
    per_dataset: dict[str, dict[str, Comparison]],
    labels: Sequence[str],
    alpha: float,
    margins: dict[str, float] | None = None,
) -> dict[str, dict]:
    """Per variant: the Wilcoxon signed-rank tests over its datasets' differences, or why none.

    With `margins` (each dataset's) the tests are one-sided against them. Several variants
    (shadow) are adjusted by Holm's method, as their per-dataset p-values are: the two-sided
    p, or with margins each claim's p (better, equivalence, non-inferiority, worse) over
    the variants; the verdict is read off the adjusted p-values."""
    count = len(per_dataset)
    one_sided = margins is not None
    differences = {
        label: {name: comps[label].difference for name, comps in per_dataset.items()}
        for label in labels
    }
    if smallest_p_value(count, one_sided) >= alpha:
        return {
            label: {
                "method": MARGIN_METHOD if one_sided else METHOD,
                "datasets": count,
                "differences": differences[label],
                **({"margins": margins} if one_sided else {}),
                "verdict": NO_VERDICT,
                "smallest_p_value": smallest_p_value(count, one_sided),
                "datasets_needed": datasets_needed(alpha, one_sided),
                "alpha": alpha,
            }
            for label in labels
        }
    if margins is not None:
        return against(differences, margins, alpha)
    tests = {label: across_datasets(differences[label], alpha) for label in labels}
    found = {label: test.as_dict() for label, test in tests.items()}
    if len(labels) > 1:
        _, adjusted, _, _ = multipletests([t.p_value for t in tests.values()], alpha, HOLM)
        for label, value in zip(labels, adjusted, strict=True):
            verdict = replace(tests[label], p_value=float(value)).verdict
            found[label] |= {"p_value_adjusted": float(value), "adjustment": HOLM}
            found[label]["verdict"] = verdict.value
    return found


def against(
    differences: dict[str, dict[str, float]], margins: dict[str, float], alpha: float
) -> dict[str, dict]:
    """Per variant: the one-sided tests against the margins, each claim Holm-adjusted."""
    tests = {label: against_margins(diffs, margins, alpha) for label, diffs in differences.items()}
    found = {label: test.as_dict() for label, test in tests.items()}
    if len(tests) < 2:
        return found
    adjusted: dict[str, dict[str, float]] = {label: {} for label in tests}
    for claim, _ in CLAIMS:
        raw = [test.p_values[claim] for test in tests.values()]
        _, holm, _, _ = multipletests(raw, alpha, HOLM)
        for label, value in zip(tests, holm, strict=True):
            adjusted[label][claim] = float(value)
    for label, test in tests.items():
        verdict = replace(test, p_values=adjusted[label]).verdict
        found[label] |= {"p_values_adjusted": adjusted[label], "adjustment": HOLM}
        found[label]["verdict"] = verdict.value
    return found


def margins_text(margins: dict[str, float]) -> str:
    """`±0.01 on each dataset`, or each dataset's margin when they differ."""
    if len(set(margins.values())) == 1:
        return f"±{next(iter(margins.values())):g} on each dataset"
    return ", ".join(f"{name} ±{margin:g}" for name, margin in margins.items())


def verdict_notes(found: dict[str, dict], alpha: float) -> list[str]:
    """The combined verdict of each variant on a line of its own, with the method named."""
    notes = []
    for label, result in found.items():
        count = result["datasets"]
        if result["verdict"] == NO_VERDICT:
            notes += [
                f"{label} across {count} datasets: no combined verdict",
                f"  The {result['method']}: p < {alpha:g} needs {result['datasets_needed']} "
                f"datasets or more; with {count} the smallest p is "
                f"{result['smallest_p_value']:.3g}. Read the per-dataset verdicts, or compare "
                "on more datasets.",
            ]
            continue
        holm = ", Holm-adjusted over the variants" if "adjustment" in result else ""
        notes.append(f"{label} across {count} datasets: {result['verdict']}")
        if "margins" in result:
            p = result.get("p_values_adjusted", result)
            notes.append(
                f"  {MARGIN_METHOD}: p better = {p_value(p['p_better'])}, p equiv. = "
                f"{p_value(p['p_equivalence'])}, p non-inf. = "
                f"{p_value(p['p_non_inferiority'])}, p worse = {p_value(p['p_worse'])}{holm}, "
                f"at alpha = {alpha:g}; margins {margins_text(result['margins'])}. Each "
                "dataset counts by the sign and rank of its Δ (shifted by its margin for "
                "non-inferiority and equivalence), so no dataset's size of gain or loss "
                "dominates; the mean of the Δs is not used."
            )
            continue
        p = result.get("p_value_adjusted", result["p_value"])
        notes.append(
            f"  {METHOD}: W = {result['statistic']:g}, p = {p_value(p)}{holm}, at alpha = "
            f"{alpha:g}. Each dataset counts by the sign and rank of its Δ, so no dataset's "
            "size of gain or loss dominates; the mean of the Δs is not used."
        )
    return notes


def summary_table(
    title: str, per_dataset: dict[str, dict[str, Comparison]], found: dict[str, dict], alpha: float
) -> Table:
    """One row per dataset and variant: its Δ and verdict; under it the combined verdicts."""
    rows = [
        [name, label, signed(comparison.difference, compare.DIGITS), comparison.verdict.value]
        for name, comparisons in per_dataset.items()
        for label, comparison in comparisons.items()
    ]
    return Table(
        f"{title}: across datasets",
        ["dataset", "variant", "Δ", "verdict"],
        rows,
        verdict_notes(found, alpha),
    )


def report(
    command: str,
    variants: Sequence[Variant],
    results: dict[str, list[Run]],
    plan: Plan,
    testing: Analysis,
    out_dir: Path,
    untrained: list[str],
) -> None:
    """Show and save a comparison per dataset and the combined verdict."""
    split = compare.by_dataset(results)
    missing = {name: sorted(set(results) - set(part)) for name, part in split.items()}
    for name, labels in missing.items():
        if labels:
            raise UserError(
                f"{', '.join(labels)} did not train on {name}: sweep the datasets in --common "
                "(e.g. --common data=a,b,c) so that every side trains on each dataset."
            )
    title = f"{command}: {', '.join(results)}"
    shown = [compare.what_ran(title, variants, results, plan)]
    per_dataset: dict[str, dict[str, Comparison]] = {}
    records = {}
    margins: dict[str, float | None] = {}
    for name, part in split.items():
        declared, source = compare.with_margin(testing, part)
        margins[name] = declared.margin
        comparisons = compare.against_baseline(variants, part, declared)
        per_dataset[name] = comparisons
        _, scored, chance = compare.tables(
            f"{command} on {name}", variants, part, comparisons, plan, declared, source
        )
        shown += [scored, chance]
        records[name] = {
            "margin": declared.margin,
            "margin_source": source,
            **compare.record(variants, part, comparisons, plan, declared),
        }
    labels = [variant.label for variant in variants[1:]]
    declared = {name: margin for name, margin in margins.items() if margin is not None}
    every = declared if len(declared) == len(margins) else None
    found = combined(per_dataset, labels, testing.alpha, every)
    summary = summary_table(f"{command}: {plan.project.metric}", per_dataset, found, testing.alpha)
    if declared and every is None:
        summary.notes.append(
            f"Margins on {', '.join(declared)} only: the combined verdict is the two-sided "
            "test, without margins; declare one on every dataset (--margin) to use them."
        )
    summary.notes += untrained
    shown.append(summary)
    for table in shown:
        table.show()
    data = {
        "command": command,
        "alpha": testing.alpha,
        "test": testing.method.value,
        "metric": plan.project.metric,
        "profile": plan.profile,
        "seeds": list(plan.seeds),
        "common_overrides": list(plan.common),
        "datasets": records,
        "across_datasets": found,
        "untrained_modes_moved": untrained,
    }
    save(out_dir, command, title, shown, data)
