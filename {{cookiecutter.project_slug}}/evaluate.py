"""Evaluate a checkpoint on a split: metrics.json and the data for `dvc plots show`.

    python evaluate.py artifacts/train/checkpoints/best.ckpt --out artifacts/evaluate

The DVC `evaluate` stage runs this. The checkpoint loads with `weights_only=True`, and
Lightning's test loop computes the metric with the model's own test step, on the run's
accelerator: on the test split it reproduces the run's `test/acc` exactly. The result is
labelled with the current METRIC_VERSION; the checkpoint's own provenance (commit, data
version, the metric version it was trained under) is copied next to it.
"""

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from research_rigor.errors import UserError

from {{ cookiecutter.package_name }}.metrics import METRIC_NAME, METRIC_VERSION

if TYPE_CHECKING:  # torch loads only when evaluating, so that `--help` answers at once
    from {{ cookiecutter.package_name }}.evaluation import Predictions

LEARNING_CURVE_COLUMNS = ("train/loss", "val/loss", "train/acc", "val/acc")


def learning_curves(run_metrics: Path) -> list[dict[str, str]]:
    """One row per epoch from Lightning's metrics.csv (train and val come on separate rows)."""
    by_epoch: dict[str, dict[str, str]] = {}
    with run_metrics.open() as lines:
        for row in csv.DictReader(lines):
            merged = by_epoch.setdefault(row["epoch"], {"epoch": row["epoch"]})
            merged.update({k: row[k] for k in LEARNING_CURVE_COLUMNS if row.get(k)})
    return [row for row in by_epoch.values() if len(row) > 1]


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def plot_rows(predictions: "Predictions", classes: list[str]) -> tuple[list[dict], list[dict]]:
    """The rows of confusion.csv (one per sample) and per_class.csv (one per class, in class
    order), by class name: what `dvc plots show` labels its axes with."""
    pairs = zip(predictions.labels.tolist(), predictions.predicted.tolist(), strict=True)
    confusion = [{"actual": classes[a], "predicted": classes[p]} for a, p in pairs]
    accuracy = predictions.per_class_accuracy().tolist()
    per_class = [
        {"class": name, "accuracy": value} for name, value in zip(classes, accuracy, strict=True)
    ]
    return confusion, per_class


def evaluate(checkpoint: Path, out: Path, split: str, accelerator: str | None = None) -> dict:
    # Imported here so that `--help` and argument errors answer at once.
    from research_rigor import console

    from {{ cookiecutter.package_name }} import evaluation

    console.configure()
    model, record, datamodule = evaluation.load(checkpoint)
    trainer = evaluation.build_trainer(record, accelerator)
    result = evaluation.evaluate(model, datamodule, split, trainer)
    predictions = result.predictions
    metrics = {
        "metric_name": METRIC_NAME,
        "metric_version": METRIC_VERSION,
        "split": split,
        **result.metrics,
        "checkpoint": str(checkpoint),
        "trained_under_metric_version": record["metric_version"],
        "git_commit": record["git_commit"],
        "git_dirty": record["git_dirty"],
        "data_version": record["data_version"],
        "mode": record["mode"],
        "profile": record["profile"],
        "seed": record["seed"],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    confusion, per_class = plot_rows(predictions, list(datamodule.classes))
    write_csv(out / "plots" / "confusion.csv", confusion, ["actual", "predicted"])
    write_csv(out / "plots" / "per_class.csv", per_class, ["class", "accuracy"])
    run_metrics = checkpoint.parent.parent / "metrics.csv"
    if run_metrics.is_file():
        write_csv(
            out / "plots" / "learning_curves.csv",
            learning_curves(run_metrics),
            ["epoch", *LEARNING_CURVE_COLUMNS],
        )
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a checkpoint written by train.py")
    parser.add_argument("--out", type=Path, default=None, help="default: <run dir>/evaluation")
    parser.add_argument("--split", default="test", help="train, val or test (default: test)")
    parser.add_argument(
        "--accelerator", default=None, help="cpu, gpu, ... (default: the one the run trained on)"
    )
    args = parser.parse_args()
    out = args.out or args.checkpoint.parent.parent / "evaluation"
    try:
        metrics = evaluate(args.checkpoint, out, args.split, args.accelerator)
    except UserError as error:
        sys.exit(f"error: {error}")
    key = f"{args.split}/{METRIC_NAME}"
    print(f"{key} = {metrics[key]:.4f} (metric v{METRIC_VERSION}); written to {out}")


if __name__ == "__main__":
    main()
