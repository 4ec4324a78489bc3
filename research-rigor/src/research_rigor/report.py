"""`research-rigor report`: the bias/variance table and the figures, for a run or a group.

    research-rigor report RUN_DIR...   # a run, or a folder of runs (the seeds of a sweep)

What a run's errors are, and which figures show them, depends on the project's model:
the project declares a function that evaluates one run (`report` in its
`[tool.research-rigor]` table, by default `<package>.report:evaluate_run`). It takes the
run's directory and the folder for its figures, and returns a `RunEvaluation`: the
error on each split (train, val, test) and the figures it saved. This module does the
rest: it finds the runs, groups those of one directory (the seeds of a sweep) with a
mean column, adds the learning curves from Lightning's `metrics.csv`, writes the
table (terminal, markdown, JSON) and, with `--wandb`, adds everything to each run's
own W&B run. The goal error is the dataset's own (`goal_error` in its data config,
recorded with the run), or `--goal-error`.
"""

import argparse
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from research_rigor import metric_lock
from research_rigor.errors import UserError
from research_rigor.experiments import output
from research_rigor.experiments.diagnosis import DEFAULT_TOLERANCE, Errors
from research_rigor.experiments.output import Table, commit, percent, shown
from research_rigor.experiments.runs import Run, find_runs
from research_rigor.project import Project, load

REPORT_DIR = "report"  # inside each run directory
LEARNING_CURVES_CSV = "metrics.csv"  # Lightning's CSVLogger, in the run directory
SPLITS = ("train", "val", "test")
ERRORS = ("goal", *SPLITS)


@dataclass(frozen=True)
class RunEvaluation:
    """What the project's evaluation of one run returns."""

    errors: Mapping[str, float]  # the error rate on each split: train, val and test
    figures: Sequence[Path]  # the figures it saved, in the folder it was given


Evaluate = Callable[[Path, Path], RunEvaluation]  # (run directory, figures' folder)


@dataclass(frozen=True)
class RunReport:
    run: Run
    errors: Errors
    figures: tuple[Path, ...]


def goal_error(run: Run, override: float | None = None) -> float:
    """The run's goal (human-level) error: `override`, else its data config's `goal_error`."""
    if override is not None:
        return override
    data = run.provenance["config"].get("data", {})
    if data.get("goal_error") is None:
        name = Path(data.get("data_dir", "<name>")).name
        raise UserError(
            f"{run.run_dir} records no goal error (its data config has no `goal_error`): "
            f"pass --goal-error (e.g. 0.01), and set `goal_error:` in configs/data/{name}.yaml "
            "for the runs to come."
        )
    return float(data["goal_error"])


def evaluate_run(run: Run, goal: float, evaluate: Evaluate, metric: str) -> RunReport:
    """The project's errors and figures for one run, with its learning curves first."""
    from research_rigor import figures

    out = run.run_dir / REPORT_DIR
    evaluated = evaluate(run.run_dir, out)
    missing = [split for split in SPLITS if split not in evaluated.errors]
    if missing:
        raise UserError(
            f"the project's report function returned no error for {', '.join(missing)}: it "
            f"returns the error on each of {', '.join(SPLITS)}."
        )
    saved = list(evaluated.figures)
    curves = run.run_dir / LEARNING_CURVES_CSV
    if curves.is_file():
        curve = figures.learning_curves(curves, metric.rpartition("/")[2])
        saved.insert(0, figures.save(curve, out / "learning_curves.png"))
    errors = Errors(goal=goal, **{split: evaluated.errors[split] for split in SPLITS})
    return RunReport(run, errors, tuple(saved))


def log_to_wandb(report: RunReport, tolerance: float) -> str | None:
    """Add the figures and the bias/variance numbers to the run's own W&B run, resumed by id.

    Returns the W&B mode used (online, or offline to `wandb sync` later), or None when
    the run was trained without W&B."""
    from research_rigor.tracking import RUN_ID_FILE, resolve_mode

    id_file = report.run.run_dir / RUN_ID_FILE
    if not id_file.is_file():
        return None
    import wandb

    mode, _ = resolve_mode("auto")
    logger = report.run.provenance["config"]["logger"]
    run = wandb.init(
        id=id_file.read_text().strip(),
        resume="allow",
        project=logger["project"],
        entity=logger["entity"],
        mode=mode,
        dir=str(report.run.run_dir),
    )
    run.log({f"report/{path.stem}": wandb.Image(str(path)) for path in report.figures})
    run.summary["report"] = report.errors.as_dict(tolerance)
    run.finish()
    return mode


def mean_errors(reports: list[RunReport]) -> Errors:
    return Errors(
        **{
            name: float(np.mean([getattr(report.errors, name) for report in reports]))
            for name in ERRORS
        }
    )


def group_table(
    directory: Path, reports: list[RunReport], tolerance: float, metric_version: int
) -> Table:
    """One column per run (plus the mean of a group), one row per error and gap."""
    columns = [report.run.run_dir.name for report in reports]
    errors = [report.errors for report in reports]
    if len(reports) > 1:
        columns.append("mean")
        errors.append(mean_errors(reports))
    rows = [
        ["goal (human-level) error", *(percent(e.goal) for e in errors)],
        *([f"{split} error", *(percent(getattr(e, split)) for e in errors)] for split in SPLITS),
    ]
    rows += [
        [gap.name, *(percent(e.gaps()[index].value) for e in errors)]
        for index, gap in enumerate(errors[0].gaps())
    ]
    commits = sorted({commit(r.run.git_commit, r.run.git_dirty) for r in reports})
    trained_under = sorted({r.run.metric_version for r in reports})
    notes = [
        f"Diagnosis: {errors[-1].diagnosis(tolerance)}",
        f"Commits: {', '.join(commits)}. Errors measured by metric version {metric_version} "
        f"(runs trained under {', '.join(map(str, trained_under))}).",
        f"Figures: {shown(reports[0].run.run_dir / REPORT_DIR)}/*.png"
        + (" (one set per run)." if len(reports) > 1 else "."),
    ]
    return Table(f"Bias/variance: {directory}", ["error", *columns], rows, notes)


def group_runs(paths: list[Path], project: Project) -> dict[Path, list[Run]]:
    """The runs under each path, grouped by the directory that holds them."""
    groups: dict[Path, list[Run]] = defaultdict(list)
    for path in paths:
        runs = find_runs(path, project)
        if not runs:
            raise UserError(f"no run (provenance.json + metrics.json) under {path}.")
        for run in runs:
            groups[run.run_dir.parent].append(run)
    return dict(groups)


def report(args: argparse.Namespace, project: Project) -> None:
    """Evaluate every run under `args.runs` with the project's function; one table a group."""
    groups = group_runs(args.runs, project)
    # every run's goal error before the first evaluation, so a missing one stops at once
    goals = {run.run_dir: goal_error(run, args.goal_error) for g in groups.values() for run in g}
    try:
        evaluate: Evaluate = load(project.report_ref)
    except (ImportError, AttributeError) as error:
        raise UserError(
            f"the report function {project.report_ref} cannot be loaded ({error}): declare the "
            "function that evaluates one run as `report` in [tool.research-rigor]."
        ) from None
    version = metric_lock.definition(project).version
    for directory, runs in groups.items():
        reports = [evaluate_run(r, goals[r.run_dir], evaluate, project.metric) for r in runs]
        table = group_table(directory, reports, args.tolerance, version)
        if args.wandb:
            logged = [log_to_wandb(r, args.tolerance) for r in reports]
            table.notes.append(
                f"W&B: logged to {sum(mode is not None for mode in logged)} of {len(reports)} "
                "runs' own W&B runs (the others were trained without W&B)."
            )
        table.show()
        data: dict[str, Any] = {
            "runs": [
                {
                    **r.run.as_dict(),
                    "errors": r.errors.as_dict(args.tolerance),
                    "figures": [str(path) for path in r.figures],
                }
                for r in reports
            ],
        }
        if len(reports) > 1:
            data["mean"] = mean_errors(reports).as_dict(args.tolerance)
        where = directory if len(reports) > 1 else runs[0].run_dir / REPORT_DIR
        output.save(where, "report", "Report", [table], data)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", type=Path, help="run directories or directories of runs")
    parser.add_argument(
        "--goal-error",
        type=float,
        default=None,
        help="the error to aim for, e.g. human-level (default: the `goal_error` of the "
        "run's data config, configs/data/<name>.yaml)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"gaps up to this are fine (default {DEFAULT_TOLERANCE})",
    )
    parser.add_argument(
        "--wandb",
        action="store_true",
        help="also log the figures and errors to each run's own W&B run (resumed by id)",
    )
