"""metrics.json: a finished run's numbers, labelled with what makes them comparable.

The experiments tools read a run back from this file and `provenance.json` only:
its status, the metric version and data version it was measured under, and every
number Lightning logged, with the monitored one taken from the best checkpoint.
"""

import json
from pathlib import Path
from typing import Any

import lightning as L

from research_rigor.run_dirs import COMPLETED, METRICS_FILE


def write_metrics(
    trainer: L.Trainer, record: dict[str, Any], run_dir: Path, monitor: str
) -> dict[str, Any]:
    """Write metrics.json after `trainer.test`: the best checkpoint's numbers, labelled with
    the record's metric version, commit and data version. `monitor` is the key that
    selected the best checkpoint; its value is the best score, not the last epoch's.

    Under DDP every process holds the same synchronized numbers; rank zero writes them."""
    results = {name: float(value) for name, value in trainer.callback_metrics.items()}
    results[monitor] = float(trainer.checkpoint_callback.best_model_score)
    metrics = {
        "status": COMPLETED,
        "metric_name": record["metric_name"],
        "metric_version": record["metric_version"],
        "git_commit": record["git_commit"],
        "git_dirty": record["git_dirty"],
        "data_version": record["data_version"],
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        **dict(sorted(results.items())),
    }
    if trainer.is_global_zero:
        (run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
