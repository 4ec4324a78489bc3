"""Evaluate a trained run through Lightning's own loops, with the metric training logs.

A checkpoint carries its hyperparameters, which rebuild the model, and its provenance
record, whose config rebuilds the datamodule, so evaluation needs nothing else. Both load
with `weights_only=True`: a checkpoint someone sends you cannot run code by unpickling.
Every number called the metric comes from the model's test step, the code that logs
`test/acc` during training. Used by `evaluate.py` (the DVC `evaluate` stage) and by the
experiment reports.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from research_rigor.callbacks import PROVENANCE_KEY, check_checkpoint
from research_rigor.errors import UserError
from research_rigor.splits import SPLITS
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
)

from {{ cookiecutter.package_name }}.metrics import METRIC_NAME
from {{ cookiecutter.package_name }}.model import STAGES, Classifier

TESTED = STAGES["test"]  # the prefix the test step logs under, whichever split it is fed


@dataclass(frozen=True)
class Predictions:
    """A model's outputs on one split, kept together with what they were computed on."""

    logits: Tensor  # (N, classes)
    labels: Tensor  # (N,)
    samples: Dataset  # the split's (normalized image, label) pairs, in the same order

    def images(self, indices: Tensor) -> Tensor:
        """(len(indices), C, H, W) images as the model saw them (normalized), read back from
        the split on demand: a whole split's images need not fit in memory."""
        return torch.stack([self.samples[index][0] for index in indices.tolist()])

    @property
    def num_classes(self) -> int:
        return self.logits.shape[1]

    @property
    def predicted(self) -> Tensor:
        return self.logits.argmax(dim=1)

    def confusion(self) -> Tensor:
        """Counts, rows = true class, columns = predicted class."""
        return multiclass_confusion_matrix(self.predicted, self.labels, self.num_classes)

    def per_class_accuracy(self) -> Tensor:
        return multiclass_accuracy(self.predicted, self.labels, self.num_classes, average="none")

    def misclassified(self) -> Tensor:
        """Indices of the wrongly predicted samples."""
        return (self.predicted != self.labels).nonzero().flatten()


@dataclass(frozen=True)
class Evaluation:
    """The metric and loss on one split, as the test step computes them, and the outputs."""

    split: str
    metrics: dict[str, float]  # {"<split>/acc": ..., "<split>/loss": ...}
    predictions: Predictions

    @property
    def value(self) -> float:
        return self.metrics[f"{self.split}/{METRIC_NAME}"]


def load(path: Path) -> tuple[Classifier, dict[str, Any], L.LightningDataModule]:
    """The trained model, its provenance record, and its datamodule."""
    check_checkpoint(path)
    record = torch.load(path, map_location="cpu", weights_only=True).get(PROVENANCE_KEY)
    if record is None:
        raise UserError(f"{path} has no provenance record: it was not written by train.py.")
    model = Classifier.load_from_checkpoint(path, map_location="cpu", weights_only=True)
    datamodule = instantiate(OmegaConf.create(record["config"]).data)
    return model, record, datamodule


def build_trainer(record: dict[str, Any], accelerator: str | None = None) -> L.Trainer:
    """Lightning's test and predict loops on the run's own accelerator and precision (or
    `accelerator`), in one process: the numbers match those of a DDP run, whose processes
    each test a share of the split without repeating a sample."""
    trained_on = record["config"]["trainer"]
    return L.Trainer(
        accelerator=accelerator or trained_on.get("accelerator", "auto"),
        devices=1,
        precision=trained_on.get("precision", "32-true"),
        deterministic=trained_on.get("deterministic", False),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


def split_loader(datamodule: L.LightningDataModule, split: str) -> DataLoader:
    """The split's own loader, in order: the training loader loses only its shuffling."""
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}.")
    datamodule.prepare_data()
    datamodule.setup(next(stage for stage, prefix in STAGES.items() if prefix == split))
    loader = getattr(datamodule, f"{split}_dataloader")()
    if split == "train":
        loader = DataLoader(
            loader.dataset, batch_size=loader.batch_size, num_workers=loader.num_workers
        )
    return loader


def evaluate(
    model: Classifier, datamodule: L.LightningDataModule, split: str, trainer: L.Trainer
) -> Evaluation:
    """The test step's metric and loss on one split, and the model's outputs on it."""
    loader = split_loader(datamodule, split)
    (logged,) = trainer.test(model, dataloaders=loader, verbose=False)
    metrics = {name.replace(f"{TESTED}/", f"{split}/", 1): value for name, value in logged.items()}
    outputs = trainer.predict(model, dataloaders=loader)
    logits, labels = (torch.cat([batch[part].cpu() for batch in outputs]) for part in (0, 1))
    return Evaluation(split, metrics, Predictions(logits, labels, loader.dataset))
