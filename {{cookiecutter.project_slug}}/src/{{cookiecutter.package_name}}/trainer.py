"""Assemble the Lightning Trainer: checkpoints that are safe to resume from, loggers, and
the guards that stop a broken run at once and mark it failed."""

import json
import os
import random
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, Logger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.strategies.launchers import _SubprocessScriptLauncher
from omegaconf import DictConfig, OmegaConf

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.metrics import METRIC_NAME, METRIC_VERSION, MONITOR
from {{ cookiecutter.package_name }}.run_dirs import (
    CHECKPOINT_DIR,
    COMPLETED,
    FAILED,
    LAST_CHECKPOINT,
    METRICS_FILE,
)

PROVENANCE_KEY = "provenance"  # where a checkpoint keeps the run's provenance record
RANDOM_STATE_KEY = "random_state"  # so a resumed run draws the same batches and dropout masks
NONFINITE_BATCH_FILE = "nonfinite_batch.pt"


class NonFiniteLossError(UserError):
    """The training loss became NaN or infinite."""


def check_checkpoint(path: Path) -> None:
    """Fail with the file's name when a checkpoint is missing, truncated or corrupt.

    A checkpoint is a zip archive: checking every member's CRC reads it once without
    unpickling anything, which is cheap next to loading it."""
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint.")
    problem = None
    try:
        with zipfile.ZipFile(path) as archive:
            bad_member = archive.testzip()
            problem = f"member {bad_member} is corrupt" if bad_member else None
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        problem = str(error)
    if problem:
        raise UserError(
            f"{path} is not a readable checkpoint (truncated or corrupt: {problem}). "
            "Use the run's other checkpoint (best.ckpt or last.ckpt) or train again."
        )


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file beside it, then renames it into place,
    so a crash mid-write never leaves a half-written `last.ckpt`."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(handle, "wb") as file:
                torch.save(checkpoint, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        finally:
            Path(temporary).unlink(missing_ok=True)


class RunStateInCheckpoint(Callback):
    """Stores the provenance record and the random number generators' states in every
    checkpoint, and restores the generators on resume."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[PROVENANCE_KEY] = self.record
        name, keys, position, has_gauss, cached = np.random.get_state()  # noqa: NPY002
        checkpoint[RANDOM_STATE_KEY] = {  # plain types: checkpoints load with weights_only=True
            "torch": torch.get_rng_state(),
            "numpy": [name, keys.tolist(), position, has_gauss, cached],
            "python": random.getstate(),
        }

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        state = checkpoint.get(RANDOM_STATE_KEY)
        if state:
            torch.set_rng_state(state["torch"])
            name, keys, position, has_gauss, cached = state["numpy"]
            np.random.set_state(  # noqa: NPY002 - the global generator seed_everything seeds
                (name, np.array(keys, dtype=np.uint32), position, has_gauss, cached)
            )
            random.setstate(state["python"])


class StopOnNonFiniteLoss(Callback):
    """Stops before a NaN or infinite loss reaches the weights, and saves the batch."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.batch: Any = None
        self.batch_idx = -1

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.batch, self.batch_idx = batch, batch_idx

    def on_before_backward(
        self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor
    ) -> None:
        if torch.isfinite(loss):
            return
        saved = self.run_dir / NONFINITE_BATCH_FILE
        torch.save(self.batch, saved)
        last = self.run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT
        kept = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint yet"
        raise NonFiniteLossError(
            f"the training loss is {loss.item()} at step {trainer.global_step} (epoch "
            f"{trainer.current_epoch}, batch {self.batch_idx}); stopped before the update, "
            f"{kept}. The batch is saved in {saved}. Lower the learning rate or check the data."
        )


class MarkFailedOnError(Callback):
    """Any exception during training marks the run failed in its metrics.json."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        failure = {
            "status": FAILED,
            "error": f"{type(exception).__name__}: {exception}",
            "epoch": trainer.current_epoch,
            "global_step": trainer.global_step,
        }
        (self.run_dir / METRICS_FILE).write_text(json.dumps(failure, indent=2) + "\n")


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
        logger=[CSVLogger(run_dir, name="", version=""), *loggers],
        callbacks=[
            # Not Lightning's default rich bar: its redraw thread competes with training
            # for the cores, and it starts and stops slowly (the template's benchmarks).
            *([TQDMProgressBar()] if progress else []),
            checkpoints,
            RunStateInCheckpoint(record),
            StopOnNonFiniteLoss(run_dir),
            MarkFailedOnError(run_dir),
        ],
        plugins=[AtomicCheckpointIO()],
    )


def refuse_relaunch_in_sweep(trainer: L.Trainer, sweep: bool) -> None:
    """DDP on one machine starts its other processes by re-running the command line, which
    in a Hydra sweep would start the whole sweep again in each of them."""
    launcher = trainer.strategy.launcher
    relaunches = (
        isinstance(launcher, _SubprocessScriptLauncher)
        and launcher.num_processes > 1
        and not launcher.cluster_environment.creates_processes_externally
    )
    if sweep and relaunches:
        raise UserError(
            "a sweep (-m) cannot train with DDP processes started on this machine: run each "
            "job on its own (without -m), or launch the sweep with hydra/launcher=slurm, where "
            "SLURM starts one task per device."
        )


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
