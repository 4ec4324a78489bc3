"""A baseline against an experiment, N seeds each, re-run now: a t-test, power and a verdict.

With a margin (`--margin`, or the dataset's `margin` in its data config) the verdict
says whether the change brings no regression: better, equivalent, non-inferior, worse
or inconclusive. With `--until-decided` seeds are added in rounds until it is decided.

Refuses to compare numbers that are not comparable (metric versioning): runs whose
metric versions or data versions differ. The metric versions are checked
before any training, from each side's code, and again on the runs' records.
Runs from different environments (packages, Python, OS, hardware) are marked,
not refused: see environments.py.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from research_rigor import provenance
from research_rigor.equivalence import LEGEND
from research_rigor.errors import UserError
from research_rigor.experiments import affected, environments
from research_rigor.experiments.checkouts import Checkouts
from research_rigor.experiments.output import (
    Table,
    commit,
    console,
    number,
    p_value,
    percent,
    save,
    signed,
)
from research_rigor.experiments.runs import (
    Plan,
    Run,
    Variant,
    metric_version_of,
    train_seeds,
)
from research_rigor.sequential import SequentialDesign, planned_looks
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

BASELINE_REF = "main"
DIGITS = 3  # of accuracies: the test split's resolution is a few tenths of a percent
DATA_VERSION_SHOWN = 12  # leading characters of the data hash
FULL_PROFILE = "full"
MARGIN_KEY = "margin"  # in a data config: the largest loss of the metric tolerated there
MARGIN_FLAG = "--margin"
ROUND_DIR = "round-{}"  # --until-decided: each round's runs, under the output directory
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


def by_dataset(results: dict[str, list[Run]]) -> dict[str, dict[str, list[Run]]]:
    """Each side's runs per dataset (`data=a,b,c`), in the order they were trained; a single
    group when the records name none."""
    split: dict[str, dict[str, list[Run]]] = {}
    for label, runs in results.items():
        for run in runs:
            split.setdefault(str(run.dataset), {}).setdefault(label, []).append(run)
    return split


def check_comparable(results: dict[str, list[Run]]) -> None:
    """Refuse runs whose numbers are incomparable; on several datasets, within each dataset."""
    for part in by_dataset(results).values():
        for field in COMPARABLE:
            values = {label: {getattr(run, field) for run in runs} for label, runs in part.items()}
            refuse_if_different(field, values)


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
            f"{', '.join(map(str, plan.seeds))}"
            f"{f' on each of {plan.folds} folds' if plan.folds else ''}, "
            f"{plan.profile or 'no'} profile ...",
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


def run_header(variant: Variant, plan: Plan) -> dict:
    """What every saved result of one variant starts with: what ran, and how."""
    return {
        "variant": {"ref": variant.ref, "overrides": list(variant.overrides)},
        "profile": plan.profile,
        "common_overrides": list(plan.common),
        "metric": plan.project.metric,
    }


def variant_record(variant: Variant, runs: list[Run]) -> dict:
    """A variant's entry in a comparison's JSON: its code, metric and data versions."""
    return {
        "label": variant.label,
        "ref": variant.ref,
        "overrides": list(variant.overrides),
        "git_commits": sorted({str(run.git_commit) for run in runs}),
        "metric_version": runs[0].metric_version,
        "data_version": runs[0].data_version,
    }


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


def margin_row(variant: Variant, comparison: Comparison | None, runs: list[Run]) -> list[str]:
    """What it scored against the margin: the interval and the one-sided tests."""
    summary = summarize(runs)
    spread = f"{number(summary.mean, DIGITS)} ± {number(summary.std, DIGITS)}"
    if comparison is None or comparison.margin_test is None:
        return [variant.label, spread, "-", "-", "-", "baseline"]
    test = comparison.margin_test
    difference, low, high = test.bounds
    return [
        variant.label,
        spread,
        f"{signed(difference, DIGITS)} [{signed(low, DIGITS)}, {signed(high, DIGITS)}]",
        p_value(test.p_values["p_non_inferiority"]),
        p_value(test.p_values["p_equivalence"]),
        comparison.verdict.value,
    ]


def margin_notes(comparisons: dict[str, Comparison], source: str) -> list[str]:
    """What the margin verdicts mean, and each interval drawn against the margin."""
    first = next(iter(comparisons.values())).margin_test
    kind = "paired t-tests over seeds" if first.paired else "Welch's t-tests"
    family = (
        f" (alpha / {len(comparisons)}: Bonferroni over the {len(comparisons)} comparisons)"
        if len(comparisons) > 1
        else ""
    )
    notes = [
        f"Margin ±{first.margin:g} ({source}): the largest loss tolerated. Verdicts from "
        f"one-sided {kind} at {first.alpha:.3g}{family}, read off the Δ interval at "
        f"{100 * (1 - 2 * first.alpha):.3g}%: better when it lies above 0; equivalent when "
        "inside ±margin (two one-sided tests, p equiv.); non-inferior when above -margin "
        "(p non-inf.); worse when below 0 and not above -margin; else inconclusive.",
        LEGEND,
    ]
    for label, comparison in comparisons.items():
        notes += [f"{label}: {comparison.verdict.value}", f"  {comparison.margin_test.drawn()}"]
    return notes


def recorded_margin(results: dict[str, list[Run]]) -> float | None:
    """The `margin` of the runs' data config, as recorded with each run."""
    found = {
        run.provenance.get("config", {}).get("data", {}).get(MARGIN_KEY)
        for runs in results.values()
        for run in runs
    } - {None}
    if len(found) > 1:
        raise UserError(
            f"the runs' data configs record different margins ({', '.join(map(str, found))}): "
            f"pass {MARGIN_FLAG} to compare them against one."
        )
    return float(found.pop()) if found else None


def with_margin(testing: Analysis, results: dict[str, list[Run]]) -> tuple[Analysis, str]:
    """The analysis with its margin: the command line's, else the dataset's; and whence."""
    if testing.margin is not None:
        return testing, MARGIN_FLAG
    recorded = recorded_margin(results)
    if recorded is None:
        return testing, "none"
    return replace(testing, margin=recorded), f"the data config's `{MARGIN_KEY}`"


def against_baseline(
    variants: Sequence[Variant], results: dict[str, list[Run]], testing: Analysis
) -> dict[str, Comparison]:
    """Every variant after the first (the baseline) compared with it, adjusted when several."""
    baseline = summarize(results[variants[0].label])
    return adjusted(
        {
            variant.label: Comparison(
                baseline,
                summarize(results[variant.label]),
                testing.alpha,
                testing.method,
                margin=testing.margin,
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
        if comparison.margin_test is not None:
            _, low, high = comparison.margin_test.bounds
            notes.append(
                f"{label} is inconclusive: its interval [{signed(low, DIGITS)}, "
                f"{signed(high, DIGITS)}] reaches past -margin and 0, so neither a loss "
                "nor its absence is shown; more seeds narrow it (`--until-decided`)."
            )
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
    margin_source: str = MARGIN_FLAG,
) -> list[Table]:
    """Three tables: what ran, what it scored against the baseline, P(better) and seeds."""
    ran = what_ran(title, variants, results, plan)
    profile = f", {plan.profile} profile" if plan.profile else ""
    seeds = ", ".join(map(str, plan.seeds))
    scored_title = f"{title}: {plan.project.metric}, seeds {seeds}{profile}"
    if testing.margin is None:
        columns = [
            "variant",
            "mean ± std",
            f"Δ [{percent(CONFIDENCE, 0)} CI]",
            evidence_column(comparisons),
            "d",
            "MDE",
            "verdict",
        ]
        rows = [
            result_row(variant, results[variant.label], comparisons.get(variant.label))
            for variant in variants
        ]
        notes = test_notes(comparisons)
    else:
        alpha = next(iter(comparisons.values())).margin_test.alpha
        columns = [
            "variant",
            "mean ± std",
            f"Δ [{100 * (1 - 2 * alpha):.3g}% CI]",
            "p non-inf.",
            "p equiv.",
            "verdict",
        ]
        rows = [
            margin_row(variant, comparisons.get(variant.label), results[variant.label])
            for variant in variants
        ]
        notes = margin_notes(comparisons, margin_source)
    scored = Table(scored_title, columns, rows, notes + inconclusive_notes(comparisons))
    if plan.profile and plan.profile != FULL_PROFILE:
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
        "metric": plan.project.metric,
        "profile": plan.profile,
        "seeds": list(plan.seeds),
        "common_overrides": list(plan.common),
        "variants": [
            {
                **variant_record(variant, results[variant.label]),
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


def sequential_notes(rounds: dict) -> list[str]:
    """How the seeds were added, and the level that keeps the procedure at alpha."""
    seeds = rounds["seeds_per_look"]
    planned = ", ".join(map(str, rounds["planned_seeds_per_look"]))
    why = "the verdict was decided" if rounds["decided"] else "the budget was spent"
    return [
        f"Seeds until decided: looks planned at {planned} seeds per side, alpha spent over "
        f"them ({rounds['spending']}, Lan-DeMets); stopped at {seeds[-1]} because {why}. "
        f"This look tests at the nominal level {rounds['nominal_alpha']:.3g} instead of "
        f"{rounds['alpha']}, which keeps the false-positive rate of the whole procedure at "
        f"{rounds['alpha']}: the verdicts and p-values above are read against it."
    ]


def until_decided(
    checkouts: Checkouts,
    variants: Sequence[Variant],
    plan: Plan,
    testing: Analysis,
    out_dir: Path,
    max_seeds: int,
) -> tuple[dict[str, list[Run]], Plan, dict]:
    """Rounds of the plan's number of seeds, until the verdict is decided or the budget spent.

    Returns every run, the plan of the seeds trained, and the rounds' record (with the
    nominal alpha of the last look, at which its verdict is read).
    """
    looks = planned_looks(len(plan.seeds), max_seeds)
    results: dict[str, list[Run]] = {variant.label: [] for variant in variants}
    for look, seeds in enumerate(looks):
        this_round = replace(plan, seeds=tuple(range(looks[look - 1] if look else 0, seeds)))
        trained = measure(checkouts, variants, this_round, out_dir / ROUND_DIR.format(look + 1))
        for label, runs in trained.items():
            results[label] += runs
        check_comparable(results)
        declared, _ = with_margin(testing, results)
        design = SequentialDesign(looks, testing.alpha, two_sided=declared.margin is None)
        level = design.levels[look]
        # With a margin the claims are one-sided at the level; without, the t-test is two-sided.
        nominal = replace(declared, alpha=level if declared.margin is not None else 2 * level)
        (comparison,) = against_baseline(variants, results, nominal).values()
        decided = comparison.verdict is not Verdict.INCONCLUSIVE
        if decided:
            break
    rounds = {
        "alpha": testing.alpha,
        "spending": design.spending,
        "planned_seeds_per_look": list(looks),
        "nominal_levels": list(design.levels),
        "seeds_per_look": list(looks[: look + 1]),
        "nominal_alpha": nominal.alpha,
        "decided": decided,
    }
    return results, replace(plan, seeds=tuple(range(seeds))), rounds


def run_command(
    command: str,
    build: Callable[[Checkouts], list[Variant]],
    plan: Plan,
    testing: Analysis,
    out_dir: Path,
    more_notes: Callable[[dict[str, Comparison]], list[str]] | None = None,
    max_seeds: int | None = None,
) -> dict[str, Comparison]:
    """Build the variants (the first is the baseline), train them, compare, show and save.

    With `max_seeds`, seeds are added in rounds until the verdict is decided. Runs on several
    datasets (`data=a,b,c`) are compared per dataset and across them (across.py).
    """
    rounds = None
    with Checkouts(plan.project.root) as checkouts:
        variants = build(checkouts)
        if max_seeds is None:
            results = measure(checkouts, variants, plan, out_dir)
        else:
            results, plan, rounds = until_decided(
                checkouts, variants, plan, testing, out_dir, max_seeds
            )
        untrained = affected.untrained_moves(checkouts, variants, results)
    if len(by_dataset(results)) > 1:  # data=a,b,c: a verdict per dataset and one across them
        from research_rigor.experiments import across

        across.report(command, variants, results, plan, testing, out_dir, untrained)
        return {}  # each dataset's comparisons are in its tables and the JSON
    testing, margin_source = with_margin(testing, results)
    if rounds is not None:
        testing = replace(testing, alpha=rounds["nominal_alpha"])
    comparisons = against_baseline(variants, results, testing)
    title = f"{command}: {', '.join(results)}"
    shown = tables(title, variants, results, comparisons, plan, testing, margin_source)
    if more_notes:
        shown[1].notes += more_notes(comparisons)
    if rounds is not None:
        shown[1].notes += sequential_notes(rounds)
    shown[1].notes += untrained
    for table in shown:
        table.show()
    data = {
        "command": command,
        "alpha": testing.alpha if rounds is None else rounds["alpha"],
        "test": testing.method.value,
        "margin": testing.margin,
        "margin_source": margin_source,
        "until_decided": rounds,
        "untrained_modes_moved": untrained,
        **record(variants, results, comparisons, plan, testing),
    }
    save(out_dir, command, title, shown, data)
    return comparisons
