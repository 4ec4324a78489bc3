"""A dataset prepared as arrays on disk, read back as in-memory tensors.

The prepared format (what a DVC `prepare` stage writes, or `dvc add` tracks):
`images.npy` (N, H, W) or (N, C, H, W), `labels.npy` (N,) integer classes, and
`split.json` {"train": [...], "val": [...], "test": [...]} sample indices.
Normalization follows `protocol.py`. Missing files stop training with the
command that brings them back; nothing is ever downloaded silently.
"""

import json
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch import distributed
from torch.utils.data import DataLoader, TensorDataset

from {{ cookiecutter.package_name }}.data import protocol
from {{ cookiecutter.package_name }}.errors import UserError

IMAGES_FILE = "images.npy"
LABELS_FILE = "labels.npy"
SPLIT_FILE = "split.json"
PREPARED_FILES = (IMAGES_FILE, LABELS_FILE, SPLIT_FILE)


def missing_files(data_dir: Path) -> list[str]:
    return [name for name in PREPARED_FILES if not (data_dir / name).is_file()]


class ArrayDataModule(L.LightningDataModule):
    """Prepared arrays as normalized tensors of shape (N, *input_shape)."""

    def __init__(
        self,
        data_dir: str | Path,
        input_shape: Sequence[int],
        num_classes: int,
        batch_size: int,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.datasets: dict[str, TensorDataset] = {}

    def prepare_data(self) -> None:
        """Stop with what to run when the prepared data are not there."""
        missing = missing_files(self.data_dir)
        if missing:
            raise UserError(
                f"{self.data_dir} is missing {', '.join(missing)}. Fetch the prepared data with "
                "`dvc pull` (from the DVC remote) or rebuild them with `dvc repro prepare`."
            )

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        images = torch.from_numpy(np.load(self.data_dir / IMAGES_FILE)).float()
        if images.dim() == len(self.input_shape):  # (N, H, W): one channel
            images = images.unsqueeze(1)
        labels = torch.from_numpy(np.load(self.data_dir / LABELS_FILE)).long()
        split = json.loads((self.data_dir / SPLIT_FILE).read_text())
        mean, std = protocol.normalization_stats(images[split["train"]])
        images = protocol.normalize(images, mean, std)
        self.datasets = {
            name: TensorDataset(images[split[name]], labels[split[name]])
            for name in protocol.SPLITS
        }

    def _loader(self, split: str, shuffle: bool = False) -> DataLoader:
        dataset = self.datasets[split]
        sampler = None
        if split != "train" and distributed.is_available() and distributed.is_initialized():
            # Under DDP each process evaluates its share of the split. Lightning's default
            # sampler pads the shares to equal length by repeating samples; this one never
            # repeats, so val/test metrics count each sample once, as in a single process.
            sampler = UnrepeatedDistributedSampler(dataset, shuffle=False)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,  # not restarted every epoch
            pin_memory=self.pin_memory,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
