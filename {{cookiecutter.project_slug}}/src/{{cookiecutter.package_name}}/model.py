"""The classifier: any encoder, a linear head, cross-entropy, accuracy, and the mode's
training-only augmentation."""

from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from research_rigor.errors import UserError
from research_rigor.seeding import isolated_rng, stream_seed
from torch import Tensor, nn
from torchmetrics import MeanMetric

from {{ cookiecutter.package_name }}.metrics import METRIC_NAME, build_metric

Batch = tuple[Tensor, Tensor]
STAGES = {"fit": "train", "validate": "val", "test": "test"}  # Lightning's stage: log prefix
# A checkpoint names the classes that rebuild its model: only this project's classes,
# torch's optimizers and schedulers and kornia's augmentations are built, never an
# arbitrary callable (add a package here to use its classes).
BUILDABLE = ("{{ cookiecutter.package_name }}.", "torch.optim.", "kornia.augmentation.")


def _build(config: dict[str, Any], **arguments: Any) -> Any:
    target = config.get("_target_", "")
    if not target.startswith(BUILDABLE):
        raise UserError(
            f"refusing to build {target!r}: only classes under {', '.join(BUILDABLE)} are built "
            "from a config or checkpoint (model.py, BUILDABLE)."
        )
    return instantiate(config, **arguments)


class Classifier(L.LightningModule):
    """Encoder + linear head. `forward` returns logits: the loss applies log-softmax itself.

    Built from plain config (the `_target_` dicts of a mode's `model` section), which every
    checkpoint keeps as its hyperparameters: `Classifier.load_from_checkpoint(path,
    weights_only=True)` rebuilds the model without unpickling anything."""

    def __init__(
        self,
        encoder: dict[str, Any],
        input_shape: Sequence[int],
        num_classes: int,
        optimizer: dict[str, Any],
        scheduler: dict[str, Any] | None = None,
        augment: Sequence[dict[str, Any]] = (),
        augment_seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        # Batches of training images only, on the device: evaluation never augments.
        self.augment = nn.Sequential(*(_build(step) for step in augment))
        self.augment_seed = augment_seed  # a source of randomness of its own (seeds.augment)
        self.encoder = _build(encoder, input_shape=tuple(input_shape))
        self.head = nn.Linear(self.encoder.out_features, num_classes)
        self.optimizer_factory = _build(optimizer)
        self.scheduler_factory = _build(scheduler) if scheduler else None
        self.accuracy = nn.ModuleDict({stage: build_metric(num_classes) for stage in STAGES})
        self.mean_loss = nn.ModuleDict({stage: MeanMetric() for stage in STAGES})

    @classmethod
    def from_config(
        cls,
        model: DictConfig,
        input_shape: Sequence[int],
        num_classes: int,
        augment_seed: int = 0,
    ) -> "Classifier":
        """Build from a mode's `model` config (encoder, optimizer, optional scheduler and
        augmentation) and the augmentation's seed."""
        plain = OmegaConf.to_container(model, resolve=True)
        return cls(
            encoder=plain["encoder"],
            input_shape=list(input_shape),  # a list: hyperparameters stay plain types
            num_classes=num_classes,
            optimizer=plain["optimizer"],
            scheduler=plain.get("scheduler"),
            augment=plain.get("augment") or [],
            augment_seed=augment_seed,
        )

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.encoder(images))

    def predict_proba(self, images: Tensor) -> Tensor:
        """Class probabilities, one row per sample."""
        return self(images).softmax(dim=-1)

    def loss(self, batch: Batch) -> tuple[Tensor, Tensor]:
        images, labels = batch
        logits = self(images)
        return F.cross_entropy(logits, labels), logits

    def _step(self, batch: Batch, stage: str) -> Tensor:
        """Accumulates the epoch's loss and accuracy; `_log_epoch` logs them once per epoch,
        because a `self.log` call per step costs Lightning a tenth of a small model's step."""
        loss, logits = self.loss(batch)
        self.accuracy[stage].update(logits, batch[1])
        self.mean_loss[stage].update(loss.detach(), weight=len(batch[1]))
        return loss

    def _log_epoch(self, stage: str) -> None:
        """Logged as metric objects: Lightning computes them over the whole epoch, across
        every DDP process, then resets them."""
        prefix = STAGES[stage]
        self.log(f"{prefix}/loss", self.mean_loss[stage])
        self.log(f"{prefix}/{METRIC_NAME}", self.accuracy[stage], prog_bar=True)

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        images, labels = batch
        return self._step((self.augmented(images, batch_idx), labels), "fit")

    def augmented(self, images: Tensor, batch_idx: int) -> Tensor:
        """The mode's augmentation, drawn from a generator of the augmentation's seed, the
        epoch, the batch and the process alone: its draws and the initialization's (dropout)
        never move each other, and a resumed run replays them."""
        if not len(self.augment):
            return images
        seed = stream_seed(self.augment_seed, self.current_epoch, batch_idx, self.global_rank)
        with isolated_rng(seed, images.device):
            return self.augment(images)

    def on_train_epoch_end(self) -> None:
        self._log_epoch("fit")

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "validate")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("validate")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def predict_step(self, batch: Batch, batch_idx: int) -> tuple[Tensor, Tensor]:
        """Logits with the labels they belong to, for per-sample reports (the images stay
        in the dataset: holding every batch's would grow with the split's pixels)."""
        images, labels = batch
        return self(images), labels

    def configure_optimizers(self) -> torch.optim.Optimizer | dict:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer)}


def build_model(cfg: DictConfig, data: Any) -> Classifier:
    """The classifier a composed config trains on a set-up datamodule: what train.py builds,
    and what research-rigor's behaviour fingerprints build (`build-model` in pyproject.toml)."""
    return Classifier.from_config(
        cfg.model, data.input_shape, data.num_classes, augment_seed=cfg.seeds.augment
    )
