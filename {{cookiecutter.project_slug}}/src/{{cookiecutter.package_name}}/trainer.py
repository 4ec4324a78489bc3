"""Assemble the Lightning Trainer: the project's checkpoints and loggers, and research-rigor's
safety net (resumable checkpoints, non-finite loss, failed runs marked failed)."""

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
from research_rigor.run_dirs import CHECKPOINT_DIR

from {{ cookiecutter.package_name }}.metrics import MONITOR


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
