"""`seeds --vary init,order,augment`: where the spread comes from.

Each listed source of randomness is varied alone over the plan's seeds while every other
declared source stays fixed, and all of them are varied together (a plain seed), as
`research_rigor.variance` describes. The fixed value is the first seed the plan does not
vary, so no run belongs to two groups and the groups' variances are independent. The
project names each source's config key in `[tool.research-rigor] seed-sources`.
"""

from pathlib import Path

from research_rigor.errors import UserError
from research_rigor.experiments import environments
from research_rigor.experiments.checkouts import Checkouts
from research_rigor.experiments.compare import (
    DIGITS,
    describe_code,
    measure,
    run_header,
    summarize,
)
from research_rigor.experiments.output import Table, number, percent, save
from research_rigor.experiments.runs import Plan, Run, Variant
from research_rigor.project import PYPROJECT, TABLE, Project
from research_rigor.variance import VarianceShares, sample_variance, variance_interval

TOGETHER = "together"  # every source varied with the run's seed
SEED_KEY = "seed"  # the project's seed, which the plan sweeps
MIN_SOURCES = 2
SPREAD_DIGITS = 4  # of standard deviations: a source's can be a tenth of an accuracy point
EXAMPLE = 'seed-sources = { init = "seeds.init", order = "seeds.order" }'


def sources_of(text: str, project: Project) -> list[str]:
    """--vary's comma-separated sources, each one the project declares."""
    sources = [source.strip() for source in text.split(",") if source.strip()]
    declared = project.seed_sources
    if not declared:
        raise UserError(
            f"--vary: {project.root / PYPROJECT} declares no seed-sources: give each source "
            f"of randomness its own seed, defaulting to `{SEED_KEY}`, and name its config key "
            f"in [tool.{TABLE}], e.g. {EXAMPLE}."
        )
    unknown = [source for source in sources if source not in declared]
    if unknown:
        raise UserError(
            f"--vary {text}: {', '.join(unknown)} is not a declared source; the project's "
            f"seed-sources are {', '.join(declared)}."
        )
    if len(set(sources)) < MIN_SOURCES:
        raise UserError(
            f"--vary {text}: name {MIN_SOURCES} sources or more to share the variance among, "
            f"e.g. --vary {','.join(declared)}."
        )
    return list(dict.fromkeys(sources))


def variants(variant: Variant, sources: list[str], plan: Plan) -> list[Variant]:
    """One variant per source, every other declared source pinned; then all together."""
    fixed = max(plan.seeds) + 1
    declared = plan.project.seed_sources

    def pinned(varied: str) -> tuple[str, ...]:
        return tuple(f"{key}={fixed}" for source, key in declared.items() if source != varied)

    alone = [Variant(source, variant.ref, variant.overrides + pinned(source)) for source in sources]
    return [*alone, Variant(TOGETHER, variant.ref, variant.overrides)]


def spread(values: list[float]) -> str:
    """The standard deviation with its chi-square interval."""
    low, high = (number(value**0.5, SPREAD_DIGITS) for value in variance_interval(values))
    return f"{number(sample_variance(values) ** 0.5, SPREAD_DIGITS)} [{low}, {high}]"


def table(
    variant: Variant, results: dict[str, list[Run]], shares: VarianceShares, plan: Plan
) -> Table:
    """A row per source (its spread and share of the variance), and one for all together."""
    declared = plan.project.seed_sources
    fixed = max(plan.seeds) + 1
    rows = []
    for label, runs in results.items():
        values = [run.value for run in runs]
        summary = summarize(runs)
        share = "-"
        if label != TOGETHER:
            low, high = shares.share_interval(label)
            share = f"{percent(shares.share(label), 0)} [{percent(low, 0)}, {percent(high, 0)}]"
        rows.append(
            [
                label,
                declared.get(label, SEED_KEY),
                f"{number(summary.mean, DIGITS)} ± {number(summary.std, DIGITS)}",
                spread(values),
                share,
            ]
        )
    seeds = f"{min(plan.seeds)}-{max(plan.seeds)}"
    profile = f", {plan.profile} profile" if plan.profile else ""
    confidence = percent(shares.confidence, 0)
    return Table(
        f"seeds --vary: {variant.describe()}, {plan.project.metric}, seeds {seeds}{profile}",
        ["source", "seed key", "mean ± std", f"std [{confidence} CI]", f"share [{confidence} CI]"],
        rows,
        notes(variant, results, shares, fixed),
    )


def notes(
    variant: Variant, results: dict[str, list[Run]], shares: VarianceShares, fixed: int
) -> list[str]:
    sources = list(shares.sources)
    largest = max(sources, key=shares.share)
    low, high = shares.share_interval(largest)
    together = sample_variance(shares.together) if shares.together is not None else None
    lines = [
        f"largest source: {largest}",
        f"  {percent(shares.share(largest), 0)} of the variance [{percent(low, 0)}, "
        f"{percent(high, 0)}], from {len(shares.sources[largest])} seeds a source.",
        "Each source varied alone over the seeds, every other source fixed at seed "
        f"{fixed}; together: every source varied with `{SEED_KEY}`, as `seeds` and `compare` "
        "do. share: the source's variance over the sum of the sources' variances, with its "
        f"interval (F distribution, Satterthwaite's df; std intervals: chi-square). Shares "
        "whose intervals overlap are not told apart: more seeds narrow them.",
    ]
    if together is not None:
        lines.append(
            f"The sources' variances sum to {shares.total:.3g}; varied together they give "
            f"{together:.3g}: sources that act independently agree up to the noise of "
            f"{len(shares.together)} seeds; sources that interact do not. To compare changes, keep "
            "varying all sources together: it estimates the spread better at the same cost "
            "(Bouthillier et al. 2021)."
        )
    still = [source for source in sources if shares.variance(source) == 0]
    if still:
        lines.append(
            f"{', '.join(still)}: every run scored the same, so nothing that source draws "
            "moves the metric here (a mode without random augmentation, for instance)."
        )
    every = [run for runs in results.values() for run in runs]
    lines += [
        f"commit {describe_code(every)}, metric version {every[0].metric_version}, data "
        f"version {every[0].data_version[:12]}, environment {environments.shown_digest(every)}",
        *environments.notes(results),
    ]
    return lines


def run_command(variant: Variant, sources: list[str], plan: Plan, out_dir: Path) -> VarianceShares:
    """Train each source alone and all together, show and save each source's share."""
    built = variants(variant, sources, plan)
    with Checkouts(plan.project.root) as checkouts:
        results = measure(checkouts, built, plan, out_dir)
    shares = VarianceShares(
        {source: [run.value for run in results[source]] for source in sources},
        [run.value for run in results[TOGETHER]],
    )
    shown = table(variant, results, shares, plan)
    shown.show()
    data = {
        **run_header(variant, plan),
        "seeds": list(plan.seeds),
        "fixed_seed": max(plan.seeds) + 1,
        "seed_sources": {source: plan.project.seed_sources[source] for source in sources},
        "variance": shares.as_dict(),
        "runs": {label: [run.as_dict() for run in runs] for label, runs in results.items()},
    }
    save(out_dir, "seeds", shown.title, [shown], data)
    return shares
