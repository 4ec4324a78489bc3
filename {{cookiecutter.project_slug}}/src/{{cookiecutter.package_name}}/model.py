"""The classifier: any encoder, a linear head, cross-entropy, accuracy."""

from collections.abc import Callable, Iterable, Sequence

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import Tensor, nn
from torchmetrics import MeanMetric

from {{ cookiecutter.package_name }}.encoders import Encoder
from {{ cookiecutter.package_name }}.metrics import METRIC_NAME, build_metric

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]
Batch = tuple[Tensor, Tensor]
STAGES = {"fit": "train", "validate": "val", "test": "test"}  # Lightning's stage: log prefix


class Classifier(L.LightningModule):
    """Encoder + linear head. `forward` returns logits: the loss applies log-softmax itself."""

    def __init__(
        self,
        encoder: Encoder,
        num_classes: int,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.out_features, num_classes)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.accuracy = nn.ModuleDict({stage: build_metric(num_classes) for stage in STAGES})
        self.mean_loss = nn.ModuleDict({stage: MeanMetric() for stage in STAGES})

    @classmethod
    def from_config(
        cls, model: DictConfig, input_shape: Sequence[int], num_classes: int
    ) -> "Classifier":
        """Build from a mode's `model` config (encoder, optimizer, optional scheduler)."""
        scheduler = model.get("scheduler")
        return cls(
            encoder=instantiate(model.encoder, input_shape=input_shape),
            num_classes=num_classes,
            optimizer=instantiate(model.optimizer),
            scheduler=instantiate(scheduler) if scheduler else None,
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
        return self._step(batch, "fit")

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

    def configure_optimizers(self) -> torch.optim.Optimizer | dict:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer)}
