"""Assemble the Lightning Trainer: checkpoints that are safe to resume from, loggers, and
the guards that stop a broken run at once and mark it failed."""

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra.utils import instantiate
from lightning.fabric.utilities.seed import _collect_rng_states, _set_rng_states
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import Logger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.strategies.launchers import _SubprocessScriptLauncher
from omegaconf import DictConfig, OmegaConf

from research_rigor.errors import UserError
from {{ cookiecutter.package_name }}.metrics import METRIC_NAME, METRIC_VERSION, MONITOR
from research_rigor.run_dirs import (
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
    so a crash mid-write never leaves a half-written `last.ckpt`.

    Lightning's own write goes through an fsspec transaction whose temporary file lies in
    the system's temporary directory, often another filesystem (then it is copied into
    place, not renamed), and is never flushed to disk."""

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
    checkpoint, and restores the generators on resume. Lightning saves no generator state
    itself, beyond its own loops' positions."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[PROVENANCE_KEY] = self.record
        # Lightning's own collection: torch, every CUDA device, numpy and Python.
        state = _collect_rng_states(include_cuda=True)
        name, keys, position, has_gauss, cached = state["numpy"]
        # plain types: checkpoints load with weights_only=True
        state["numpy"] = [name, keys.tolist(), position, has_gauss, cached]
        checkpoint[RANDOM_STATE_KEY] = state

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        state = checkpoint.get(RANDOM_STATE_KEY)
        if state:
            name, keys, position, has_gauss, cached = state["numpy"]
            numpy_state = (name, np.array(keys, dtype=np.uint32), position, has_gauss, cached)
            _set_rng_states({**state, "numpy": numpy_state})


class StopOnNonFiniteLoss(Callback):
    """Stops before a NaN or infinite loss reaches the weights, and saves the batch.

    Not `EarlyStopping(check_finite=True)`: that checks the monitored metric once per
    validation, after the bad updates, and keeps neither the batch nor a clear message."""

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
