"""The safety net of a Lightning run: checkpoints safe to resume from, a non-finite loss
stopped before it reaches the weights, a failed run marked failed.

A project adds these to its Trainer explicitly (callbacks and a checkpoint plugin);
nothing is injected. They know nothing of the project's model or data.
"""

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins.io import TorchCheckpointIO

from research_rigor import upstream
from research_rigor.errors import UserError
from research_rigor.run_dirs import CHECKPOINT_DIR, FAILED, LAST_CHECKPOINT, METRICS_FILE

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
        state = upstream.collect_rng_states()
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
            upstream.set_rng_states({**state, "numpy": numpy_state})


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


def refuse_relaunch_in_sweep(trainer: L.Trainer, sweep: bool) -> None:
    """DDP on one machine starts its other processes by re-running the command line, which
    in a Hydra sweep would start the whole sweep again in each of them."""
    if sweep and upstream.relaunches_script(trainer.strategy.launcher):
        raise UserError(
            "a sweep (-m) cannot train with DDP processes started on this machine: run each "
            "job on its own (without -m), or launch the sweep with hydra/launcher=slurm, where "
            "SLURM starts one task per device."
        )
