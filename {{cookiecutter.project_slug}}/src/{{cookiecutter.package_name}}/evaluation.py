"""Evaluate a trained run. A checkpoint carries its provenance record, and with it the
config that rebuilds its model and datamodule, so evaluation needs nothing else.

Used by `evaluate.py` (the DVC `evaluate` stage) and by the experiment reports.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import Tensor
from torchmetrics.functional.classification import multiclass_confusion_matrix

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.model import Classifier
from {{ cookiecutter.package_name }}.trainer import PROVENANCE_KEY, check_checkpoint

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Predictions:
    """A model's outputs on one split, kept together with what they were computed on."""

    logits: Tensor  # (N, classes)
    labels: Tensor  # (N,)
    images: Tensor  # (N, C, H, W), as the model saw them (normalized)

    @property
    def num_classes(self) -> int:
        return self.logits.shape[1]

    @property
    def predicted(self) -> Tensor:
        return self.logits.argmax(dim=1)

    @property
    def accuracy(self) -> float:
        return (self.predicted == self.labels).float().mean().item()

    @property
    def loss(self) -> float:
        return F.cross_entropy(self.logits, self.labels).item()

    def confusion(self) -> Tensor:
        """Counts, rows = true class, columns = predicted class."""
        return multiclass_confusion_matrix(self.predicted, self.labels, self.num_classes)

    def per_class_accuracy(self) -> Tensor:
        confusion = self.confusion()
        return confusion.diag() / confusion.sum(dim=1).clamp(min=1)

    def misclassified(self) -> Tensor:
        """Indices of the wrongly predicted samples."""
        return (self.predicted != self.labels).nonzero().flatten()


def load_checkpoint(path: Path) -> tuple[Classifier, dict[str, Any], L.LightningDataModule]:
    """The trained model (eval mode), its provenance record, and its datamodule."""
    check_checkpoint(path)
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    record = checkpoint.get(PROVENANCE_KEY)
    if record is None:
        raise UserError(f"{path} has no provenance record: it was not written by train.py.")
    cfg = OmegaConf.create(record["config"])
    datamodule = instantiate(cfg.data)
    model = Classifier.from_config(cfg.model, datamodule.input_shape, datamodule.num_classes)
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval(), record, datamodule


def predict(model: Classifier, datamodule: L.LightningDataModule, split: str) -> Predictions:
    """Run the model over one split of the datamodule."""
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}.")
    datamodule.prepare_data()
    datamodule.setup("predict")
    loader = getattr(datamodule, f"{split}_dataloader")()
    logits, labels, images = [], [], []
    with torch.no_grad():
        for batch_images, batch_labels in loader:
            logits.append(model(batch_images))
            labels.append(batch_labels)
            images.append(batch_images)
    return Predictions(torch.cat(logits), torch.cat(labels), torch.cat(images))
