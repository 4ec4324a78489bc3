"""The experiment tools' commands: seeds, compare, shadow, affected (`research-rigor <command>`).

Every command runs in a declared project (see `research_rigor.project`) and trains it
with its own training script; see the project's README for examples.
"""

import argparse
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from research_rigor.errors import UserError
from research_rigor.experiments import (
    across,
    affected,
    compare,
    folds,
    output,
    seeds,
    shadow,
    sources,
)
from research_rigor.experiments.checkouts import Checkouts, resolve
from research_rigor.experiments.runs import Plan, Variant, parse_change
from research_rigor.project import Project
from research_rigor.resampling import MIN_FOLDS
from research_rigor.stats import (
    DEFAULT_ALPHA,
    MIN_SEEDS,
    Analysis,
    Method,
    seeds_needed,
)

DEFAULT_SEEDS = 5
DEFAULT_PROFILE = "fast"  # screening; confirm verdicts with --profile full
OUTPUT_ROOT = Path("outputs") / "experiments"
CHANGE_HELP = "a git ref and/or Hydra overrides (key=value)"
FOLDS_ARGUMENT = ("--folds",)
FOLDS_OPTIONS: dict[str, Any] = {
    "type": int,
    "metavar": "K",
    "help": "k-fold: train every seed on each of the split's K folds (data.fold=0..K-1), "
    "pair by fold and seed, and test with the corrected resampled t-test",
}


def out_dir(args: argparse.Namespace, root: Path) -> Path:
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    # absolute: the baseline trains in a worktree elsewhere, and its runs must land here
    return (args.out or root / OUTPUT_ROOT / f"{stamp}_{args.command}").resolve()


def folds_of(args: argparse.Namespace) -> int | None:
    """--folds: at least two, and only with the options the corrected resampled t-test has."""
    count = getattr(args, "folds", None)
    if count is None:
        return None
    if count < MIN_FOLDS:
        raise UserError(f"--folds {count}: k-fold needs at least {MIN_FOLDS} folds, e.g. 5.")
    clashes = {
        "--test aso": getattr(args, "test", None) == Method.ASO.value,
        "--until-decided": getattr(args, "until_decided", False),
        "--effect": args.effect is not None,
    }
    for option, given in clashes.items():
        if given:
            raise UserError(
                f"--folds tests over folds with the corrected resampled t-test, which "
                f"{option} does not apply to: drop {option} or --folds."
            )
    return count


def plan_of(args: argparse.Namespace, project: Project) -> Plan:
    fold_count = folds_of(args)
    fewest = 1 if fold_count else MIN_SEEDS  # under k-fold the folds give the spread
    if args.seeds < fewest:
        raise UserError(f"--seeds {args.seeds}: at least {fewest} are needed for a spread.")
    profiles = project.options(project.profiles)
    if profiles and args.profile not in profiles:
        raise UserError(f"--profile {args.profile}: choose one of {', '.join(profiles)}.")
    profile = args.profile if profiles else None
    seeds = tuple(range(args.seeds))
    return Plan(project, seeds, profile, tuple(args.common), args.allow_dirty, fold_count)


def testing_of(args: argparse.Namespace) -> Analysis:
    """--alpha, --test, --paired, --effect, --margin: refused before any training if they clash."""
    if not 0 < args.alpha < 1:
        raise UserError(f"--alpha {args.alpha}: a significance level is in (0, 1), e.g. 0.05.")
    if args.effect is not None:
        seeds_needed(args.effect, 1.0, args.alpha)  # refuses an effect of zero
    method = Method(getattr(args, "test", Method.WELCH.value))
    if getattr(args, "paired", False):
        if method is Method.ASO:
            raise UserError(
                "--paired applies to the t-test; ASO compares the sides' distributions "
                "without pairs: drop --paired or --test aso."
            )
        method = Method.PAIRED
    margin = getattr(args, "margin", None)
    if margin is not None and not margin > 0:
        raise UserError(
            f"--margin {margin}: a margin is the largest loss tolerated, above 0, e.g. 0.01."
        )
    if margin is not None and method is Method.ASO:
        raise UserError(
            "--margin tests the difference of the means against it with t-tests; ASO "
            "compares distributions: drop --margin or --test aso."
        )
    return Analysis(args.alpha, method, args.effect, margin)


def budget_of(args: argparse.Namespace) -> int | None:
    """--until-decided's --max-seeds: more than a round, and not with ASO."""
    if not args.until_decided:
        return None
    if args.max_seeds is None or args.max_seeds <= args.seeds:
        raise UserError(
            f"--until-decided adds rounds of --seeds {args.seeds} up to --max-seeds, which "
            f"must be larger (e.g. --max-seeds {4 * args.seeds})."
        )
    if args.test == Method.ASO.value:
        raise UserError("--until-decided spends alpha over t-tests: drop --test aso.")
    return args.max_seeds


def one_dataset(project: Project, overrides: Sequence[str], what: str) -> None:
    """Refuse a sweep of the datasets group (data=a,b,c) where one dataset's runs are meant."""
    named = across.datasets_in(overrides, project.datasets)
    if named:
        raise UserError(
            f"{what} measures one dataset, and {project.datasets}={','.join(named)} names "
            f"{len(named)}: run it once per dataset (`compare` gives a verdict per dataset "
            "and one across them)."
        )


def run_seeds(args: argparse.Namespace, project: Project) -> None:
    ref, overrides = parse_change(args.change)
    variant = Variant("seeds", ref, overrides)
    plan = plan_of(args, project)
    one_dataset(project, [*overrides, *plan.common], "seeds")
    if args.vary is not None:
        if plan.folds:
            raise UserError("--vary measures the sources on one split: drop --folds.")
        chosen = sources.sources_of(args.vary, project)
        sources.run_command(variant, chosen, plan, out_dir(args, project.root))
        return
    if plan.folds:
        folds.run_seeds(variant, plan, out_dir(args, project.root))
        return
    seeds.run_command(variant, plan, testing_of(args), out_dir(args, project.root))


def run_compare(args: argparse.Namespace, project: Project) -> None:
    def build(checkouts: Checkouts) -> list[Variant]:
        base_ref, base_overrides = parse_change(args.baseline)
        ref, overrides = parse_change(args.experiment)
        return [
            Variant("baseline", base_ref or compare.BASELINE_REF, base_overrides),
            Variant("experiment", ref, overrides),
        ]

    plan, testing, budget = plan_of(args, project), testing_of(args), budget_of(args)
    every = [*parse_change(args.baseline)[1], *parse_change(args.experiment)[1], *plan.common]
    if budget is not None:  # rounds stop on one verdict; several datasets have one each
        one_dataset(project, every, "--until-decided")
    if plan.folds:  # each dataset's split has folds of its own
        one_dataset(project, every, "--folds")
    destination = out_dir(args, project.root)
    if plan.folds:
        folds.run_compare(build, plan, testing, destination)
        return
    compare.run_command("compare", build, plan, testing, destination, max_seeds=budget)


def run_shadow(args: argparse.Namespace, project: Project) -> None:
    def build(checkouts: Checkouts) -> list[Variant]:
        return shadow.variants(checkouts, args.baseline, args.a, args.b)

    plan, testing = plan_of(args, project), testing_of(args)
    destination = out_dir(args, project.root)
    if plan.folds:  # each dataset's split has folds of its own
        every = [*parse_change(args.a)[1], *parse_change(args.b)[1], *plan.common]
        one_dataset(project, every, "--folds")
        folds.run_command("shadow", build, plan, testing, destination, shadow.shadowing_notes)
        return
    compare.run_command(
        "shadow", build, plan, testing, destination, more_notes=shadow.shadowing_notes
    )


def run_affected(args: argparse.Namespace, project: Project) -> None:
    root = project.root
    with Checkouts(root) as checkouts:
        changes = affected.between(checkouts, args.against, args.ref)
        against_commit = resolve(root, args.against)
    title = f"affected: {args.ref or 'the working tree'} against {args.against}"
    shown = affected.table(changes, title)
    shown.show()
    data = {
        "against": args.against,
        "against_commit": against_commit,
        "ref": args.ref,  # None: the working tree, uncommitted changes included
        "ref_commit": resolve(root, args.ref) if args.ref else None,
        **affected.as_dict(changes),
    }
    output.save(out_dir(args, root), "affected", title, [shown], data)


def add_commands(commands: Any) -> None:  # argparse's subparsers action (a private type)
    """seeds, compare, shadow and affected, each with `run(args, project)` as its default."""
    training = argparse.ArgumentParser(add_help=False)
    training.add_argument(
        "--seeds",
        type=int,
        default=DEFAULT_SEEDS,
        help=f"seeds per variant (default {DEFAULT_SEEDS})",
    )
    training.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        help=f"an option of the project's profiles group (default {DEFAULT_PROFILE})",
    )
    training.add_argument(
        "--common", nargs="+", default=[], metavar="OVERRIDE", help="Hydra overrides for every run"
    )
    training.add_argument(
        "--allow-dirty",
        action="store_true",
        help="train the working tree with uncommitted changes (runs marked dirty)",
    )
    training.add_argument("--out", type=Path, help=f"output directory (default {OUTPUT_ROOT}/...)")
    power = argparse.ArgumentParser(add_help=False)
    power.add_argument(
        "--alpha",
        type=float,
        default=DEFAULT_ALPHA,
        help=f"significance level (default {DEFAULT_ALPHA})",
    )
    power.add_argument(
        "--effect",
        type=float,
        metavar="X",
        help="a difference of the metric that matters: print how many seeds per side detect it",
    )
    testing = argparse.ArgumentParser(add_help=False)
    testing.add_argument(
        "--test",
        choices=[Method.WELCH.value, Method.ASO.value],
        default=Method.WELCH.value,
        help="welch: Welch's t-test (default); aso: Almost Stochastic Order (deepsig)",
    )
    testing.add_argument(
        "--margin",
        type=float,
        metavar="X",
        help="the largest loss tolerated: verdicts better / equivalent / non-inferior / "
        "worse / inconclusive (default: the data config's `margin`, if any)",
    )
    testing.add_argument(
        "--paired",
        action="store_true",
        help="pair runs by seed and use the paired t-test (same seeds: same init, data order)",
    )

    seeding = commands.add_parser(
        "seeds", parents=[training, power], help="one variant over N seeds: mean, std, CI, MDE"
    )
    seeding.add_argument("change", nargs="*", help=f"{CHANGE_HELP}; default: the working tree")
    seeding.add_argument(*FOLDS_ARGUMENT, **FOLDS_OPTIONS)
    seeding.add_argument(
        "--vary",
        metavar="SOURCES",
        help="comma-separated sources of randomness (the project's seed-sources, e.g. "
        "init,order,augment): each varied alone, the others fixed, and all together; "
        "prints each source's share of the variance",
    )
    seeding.set_defaults(run=run_seeds)

    comparing = commands.add_parser(
        "compare",
        parents=[training, power, testing],
        help="baseline vs experiment: a t-test (or ASO), MDE, P(better)",
    )
    comparing.add_argument(
        "--baseline",
        nargs="+",
        default=[],
        metavar="CHANGE",
        help=f"{CHANGE_HELP}; default: {compare.BASELINE_REF}, re-run now in a worktree",
    )
    comparing.add_argument(
        "--experiment",
        nargs="+",
        default=[],
        metavar="CHANGE",
        help=f"{CHANGE_HELP}; without a ref: the working tree",
    )
    comparing.add_argument(*FOLDS_ARGUMENT, **FOLDS_OPTIONS)
    comparing.add_argument(
        "--until-decided",
        action="store_true",
        help="add rounds of --seeds seeds until the verdict is decided or --max-seeds are "
        "spent; alpha is spent over the rounds (group-sequential)",
    )
    comparing.add_argument(
        "--max-seeds", type=int, metavar="N", help="--until-decided's budget of seeds per side"
    )
    comparing.set_defaults(run=run_compare)

    shadowing = commands.add_parser(
        "shadow",
        parents=[training, power, testing],
        help="baseline, A, B, A+B: no hidden regression (Holm-adjusted)",
    )
    shadowing.add_argument("--a", nargs="+", required=True, metavar="CHANGE", help=CHANGE_HELP)
    shadowing.add_argument("--b", nargs="+", required=True, metavar="CHANGE", help=CHANGE_HELP)
    shadowing.add_argument(
        "--baseline",
        default=compare.BASELINE_REF,
        metavar="REF",
        help=f"the baseline's ref (default {compare.BASELINE_REF}); "
        "A and B without a ref apply to its code",
    )
    shadowing.add_argument(*FOLDS_ARGUMENT, **FOLDS_OPTIONS)
    shadowing.set_defaults(run=run_shadow)

    affecting = commands.add_parser(
        "affected",
        help="which modes' config or behaviour a change moves: the ones to re-run",
    )
    affecting.add_argument(
        "--against",
        default=compare.BASELINE_REF,
        metavar="REF",
        help=f"the code compared with (default {compare.BASELINE_REF})",
    )
    affecting.add_argument(
        "--ref", default=None, metavar="REF", help="a branch or commit (default: the working tree)"
    )
    affecting.add_argument("--out", type=Path, help=f"output directory (default {OUTPUT_ROOT}/...)")
    affecting.set_defaults(run=run_affected)
