"""Reports worth looking at: the bias/variance table and the plots, for a run or a group.

    python -m {{ cookiecutter.package_name }}.report RUN_DIR...   # a run, or a folder of runs

Each run's best checkpoint is evaluated on train, val and test with
`evaluation.py` (the module behind the DVC `evaluate` stage, Lightning's test loop and
the model's own test step); the errors fill
the bias/variance table, and the figures land in `<run dir>/report/`. Runs in
the same directory (the seeds of one sweep) form a group with a mean column.
The goal error is the dataset's own (`goal_error` in its data config, recorded
with the run); the figures name the dataset's classes and show its images as stored.
"""

import argparse
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from research_rigor import provenance
from research_rigor.errors import UserError
from research_rigor.experiments import output
from research_rigor.experiments.diagnosis import DEFAULT_TOLERANCE, Errors
from research_rigor.experiments.output import Table, commit, percent, shown
from research_rigor.experiments.runs import Run, find_runs
from research_rigor.project import Project

from {{ cookiecutter.package_name }} import plots
from {{ cookiecutter.package_name }}.metrics import METRIC_VERSION

REPORT_DIR = "report"  # inside each run directory
BEST_CHECKPOINT = Path("checkpoints") / "best.ckpt"
LEARNING_CURVES_CSV = "metrics.csv"  # Lightning's CSVLogger, in the run directory
SPLIT_SHOWN = "test"  # the split of the confusion matrix, per-class and misclassified plots
GRADIENT_BATCH = 64  # training samples whose loss gradient is histogrammed


@dataclass(frozen=True)
class RunReport:
    run: Run
    errors: Errors
    figures: tuple[Path, ...]


def goal_error(run: Run, override: float | None = None) -> float:
    """The run's goal (human-level) error: `override`, else its data config's `goal_error`."""
    if override is not None:
        return override
    data = run.provenance["config"]["data"]
    if data.get("goal_error") is None:
        name = Path(data.get("data_dir", "<name>")).name
        raise UserError(
            f"{run.run_dir} records no goal error (its data config has no `goal_error`): "
            f"pass --goal-error (e.g. 0.01), and set `goal_error:` in configs/data/{name}.yaml "
            "for the runs to come."
        )
    return float(data["goal_error"])


def evaluate_run(run: Run, goal: float) -> RunReport:
    """Errors on every split and the figures, from the run's best checkpoint."""
    from {{ cookiecutter.package_name }} import evaluation

    model, record, datamodule = evaluation.load(run.run_dir / BEST_CHECKPOINT)
    datamodule.prepare_data()
    current = provenance.data_version(Path.cwd(), datamodule.data_dir, datamodule.split_file)
    if current != record["data_version"]:
        raise UserError(
            f"{run.run_dir} was trained on data version {record['data_version'][:12]}, but "
            f"{datamodule.data_dir} holds {current[:12]}: its errors would not be its own "
            "(check out the data it used, e.g. with `dvc checkout`)."
        )
    trainer = evaluation.build_trainer(record)
    errors: dict[str, float] = {}
    for split in evaluation.SPLITS:
        result = evaluation.evaluate(model, datamodule, split, trainer)
        errors[split] = 1.0 - result.value
        if split == SPLIT_SHOWN:
            shown = result
        if split == "train":
            first = torch.arange(min(GRADIENT_BATCH, len(result.predictions.labels)))
            batch = (result.predictions.images(first), result.predictions.labels[first])
    classes = list(datamodule.classes)
    out = run.run_dir / REPORT_DIR
    figures = [
        plots.save(
            plots.confusion_matrix(shown.predictions, classes, SPLIT_SHOWN),
            out / "confusion_matrix.png",
        ),
        plots.save(plots.per_class_accuracy(shown, classes), out / "per_class_accuracy.png"),
        plots.save(
            plots.misclassified(shown.predictions, classes, datamodule.denormalize, SPLIT_SHOWN),
            out / "misclassified.png",
        ),
        plots.save(
            plots.weights_and_gradients(model.cpu(), *batch),
            out / "weights_and_gradients.png",
        ),
    ]
    curves = run.run_dir / LEARNING_CURVES_CSV
    if curves.is_file():
        figures.insert(0, plots.save(plots.learning_curves(curves), out / "learning_curves.png"))
    return RunReport(run, Errors(goal=goal, **errors), tuple(figures))


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
            for name in ("goal", "train", "val", "test")
        }
    )


def group_table(directory: Path, reports: list[RunReport], tolerance: float) -> Table:
    """One column per run (plus the mean of a group), one row per error and gap."""
    columns = [report.run.run_dir.name for report in reports]
    errors = [report.errors for report in reports]
    if len(reports) > 1:
        columns.append("mean")
        errors.append(mean_errors(reports))
    rows = [
        ["goal (human-level) error", *(percent(e.goal) for e in errors)],
        ["train error", *(percent(e.train) for e in errors)],
        ["val error", *(percent(e.val) for e in errors)],
        ["test error", *(percent(e.test) for e in errors)],
    ]
    rows += [
        [gap.name, *(percent(e.gaps()[index].value) for e in errors)]
        for index, gap in enumerate(errors[0].gaps())
    ]
    commits = sorted({commit(r.run.git_commit, r.run.git_dirty) for r in reports})
    trained_under = sorted({r.run.metric_version for r in reports})
    notes = [
        f"Diagnosis: {errors[-1].diagnosis(tolerance)}",
        f"Commits: {', '.join(commits)}. Errors measured by metric version {METRIC_VERSION} "
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
    groups = group_runs(args.runs, project)
    # every run's goal error before the first evaluation, so a missing one stops at once
    goals = {run.run_dir: goal_error(run, args.goal_error) for g in groups.values() for run in g}
    for directory, runs in groups.items():
        reports = [evaluate_run(run, goals[run.run_dir]) for run in runs]
        table = group_table(directory, reports, args.tolerance)
        if args.wandb:
            logged = [log_to_wandb(r, args.tolerance) for r in reports]
            table.notes.append(
                f"W&B: logged to {sum(mode is not None for mode in logged)} of {len(reports)} "
                "runs' own W&B runs (the others were trained without W&B)."
            )
        table.show()
        data = {
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


def main() -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__)
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
    args = parser.parse_args()
    try:
        report(args, Project.find(Path.cwd()))
    except UserError as error:  # the user's to fix: one line, no traceback
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
