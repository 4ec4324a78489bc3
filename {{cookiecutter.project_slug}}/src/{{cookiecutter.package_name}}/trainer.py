"""Assemble the Lightning Trainer: the project's checkpoints and loggers, and research-rigor's
safety net (resumable checkpoints, non-finite loss, failed runs marked failed)."""

import json
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf
from research_rigor.callbacks import (
    AtomicCheckpointIO,
    MarkFailedOnError,
    RunStateInCheckpoint,
    StopOnNonFiniteLoss,
)
from research_rigor.run_dirs import CHECKPOINT_DIR, COMPLETED, METRICS_FILE

from {{ cookiecutter.package_name }}.metrics import METRIC_NAME, METRIC_VERSION, MONITOR


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
    arguments = OmegaConf.to_container(cfg.trainer, resolve=True)
    progress = arguments.get("enable_progress_bar", True)
    return L.Trainer(
        **arguments,
        default_root_dir=run_dir,
        logger=[*configured(cfg.get("logger"), save_dir=str(run_dir)), *loggers],
        callbacks=[
            # Not Lightning's default rich bar: its redraw thread competes with training
            # for the cores, and it starts and stops slowly.
            *([TQDMProgressBar()] if progress else []),
            *configured(cfg.get("callbacks")),
            # The safety callbacks: always on, whatever the config adds.
            checkpoints,
            RunStateInCheckpoint(record),
            StopOnNonFiniteLoss(run_dir),
            MarkFailedOnError(run_dir),
        ],
        plugins=[AtomicCheckpointIO()],
    )


def configured(group: DictConfig | None, **arguments: Any) -> list[Any]:
    """The objects of a config group's chosen entries (`configs/callbacks/`, `configs/logger/`):
    every entry with a `_target_`, built by Hydra; other keys are settings (W&B's)."""
    entries = group.values() if group else []
    return [
        instantiate(entry, **arguments)
        for entry in entries
        if isinstance(entry, DictConfig) and "_target_" in entry
    ]


def write_metrics(trainer: L.Trainer, record: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """metrics.json: the best checkpoint's numbers, labelled with the metric version.

    Under DDP every process holds the same synchronized numbers; rank zero writes them."""
    results = {name: float(value) for name, value in trainer.callback_metrics.items()}
    results[MONITOR] = float(trainer.checkpoint_callback.best_model_score)
    metrics = {
        "status": COMPLETED,
        "metric_name": METRIC_NAME,
        "metric_version": METRIC_VERSION,
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
