"""Assemble the Lightning Trainer: checkpoints, loggers, provenance in every checkpoint."""

import json
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger
from omegaconf import DictConfig, OmegaConf

from {{ cookiecutter.package_name }}.metrics import METRIC_NAME, METRIC_VERSION, MONITOR

CHECKPOINT_DIR = "checkpoints"
METRICS_FILE = "metrics.json"
PROVENANCE_KEY = "provenance"  # where a checkpoint keeps the run's provenance record


class ProvenanceInCheckpoint(Callback):
    """Stores the run's provenance record inside every checkpoint it saves."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[PROVENANCE_KEY] = self.record


def build_trainer(
    cfg: DictConfig, run_dir: Path, record: dict[str, Any], loggers: list[Logger]
) -> L.Trainer:
    checkpoints = ModelCheckpoint(
        dirpath=run_dir / CHECKPOINT_DIR,
        filename="best",
        monitor=MONITOR,
        mode="max",
        save_last=True,
    )
    return L.Trainer(
        **OmegaConf.to_container(cfg.trainer, resolve=True),
        default_root_dir=run_dir,
        logger=[CSVLogger(run_dir, name="", version=""), *loggers],
        callbacks=[checkpoints, ProvenanceInCheckpoint(record)],
    )


def write_metrics(trainer: L.Trainer, record: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """metrics.json: the best checkpoint's numbers, labelled with the metric version."""
    results = {name: float(value) for name, value in trainer.callback_metrics.items()}
    results[MONITOR] = float(trainer.checkpoint_callback.best_model_score)
    metrics = {
        "metric_name": METRIC_NAME,
        "metric_version": METRIC_VERSION,
        "git_commit": record["git_commit"],
        "git_dirty": record["git_dirty"],
        "data_version": record["data_version"],
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        **dict(sorted(results.items())),
    }
    (run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
