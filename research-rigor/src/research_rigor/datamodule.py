"""What every class-labelled dataset shares: its split and normalization, checked before
training, and the loaders that serve each split lazily, one sample at a time.

A project's data format (image folders, arrays) subclasses `ClassificationDataModule`: it
says how to list its samples without decoding them (`scan`), how to serve the samples of
one split (`dataset`) and their shape (`sample_shape`); the split protocol
(`research_rigor.splits`), the seeded order and the DDP samplers are here.
"""

from functools import cached_property
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch import distributed
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from research_rigor import splits
from research_rigor.errors import UserError
from research_rigor.seeding import stream_seed
from research_rigor.splits import Scan


class ClassificationDataModule(L.LightningDataModule):
    """Class-labelled images, split and normalized by the protocol (`research_rigor.splits`)."""

    def __init__(
        self,
        data_dir: str | Path,
        batch_size: int,
        goal_error: float = 0.0,
        num_workers: int = 0,
        pin_memory: bool = False,
        margin: float | None = None,
        fold: int | None = None,
        order_seed: int = 0,
    ) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.split_file = splits.split_path(self.data_dir)
        self.batch_size = batch_size
        self.goal_error = goal_error
        # the largest loss of the metric tolerated on this dataset: read from the runs'
        # records by the experiments' `compare` and `shadow`, not used in training
        self.margin = margin
        # k-fold: the fold held out (its test part is the test split); None: the protocol's
        # train/val/test split. The split file holds the folds (`split --folds K`).
        self.fold = fold
        # the training samples' order and the loader workers' seeds: a source of randomness
        # of its own (a config's seeds.order, given as data.order_seed), apart from the
        # weights' initialization
        self.order_seed = order_seed
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.datasets: dict[str, Dataset] = {}

    def scan(self) -> Scan:
        """The samples and their labels, listed without decoding them."""
        raise NotImplementedError

    def dataset(self, indices: np.ndarray) -> Dataset:
        """The samples at `indices`, normalized; the dataset keeps their `labels`."""
        raise NotImplementedError

    def sample_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one sample as the model sees it."""
        raise NotImplementedError

    def declared_classes(self) -> int | None:
        """The number of classes the config declares, if it declares one."""
        return None

    def prepare_data(self) -> None:
        """Stop with what to run when the data or their split are not there."""
        if not self.data_dir.exists():
            raise UserError(
                f"{self.data_dir} does not exist: fetch the data with `dvc pull` (from the "
                "DVC remote), or put them there."
            )
        if not self.split_file.is_file():
            raise UserError(
                f"{self.split_file} is missing: write the split with `{self.split_command} "
                f"{self.data_dir}` (or `dvc repro split`), then commit it."
            )

    @cached_property
    def split(self) -> dict[str, Any]:
        """The split file, checked against the data, as `fold` serves it: read once, before
        anything trains."""
        self.prepare_data()
        scan, classes = self.scan(), self.declared_classes()
        checked = splits.checked(self.split_file, scan, classes, self.split_command)
        return splits.held_out(checked, self.fold, self.split_file, self.split_command)

    @property
    def split_command(self) -> str:
        """The command that writes this dataset's split, named in errors: `python -m <package>
        split`, the package that holds the format (a project's data package, whose `split`
        command writes splits). A format whose package has none overrides it."""
        return f"python -m {type(self).__module__.rpartition('.')[0]} split"

    @property
    def held_out(self) -> tuple[int, int] | None:
        """k-fold: (the fold held out, the split's number of folds), for the run's record."""
        if self.fold is None:
            return None
        return self.fold, len(self.split[splits.FOLDS_KEY])

    @property
    def classes(self) -> list[str]:
        return self.split["classes"]

    @property
    def num_classes(self) -> int:
        return self.declared_classes() or len(self.classes)

    @property
    def mean(self) -> list[float]:
        return self.split["mean"]

    @property
    def std(self) -> list[float]:
        return self.split["std"]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.sample_shape()

    def denormalize(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) images back at the data's own scale, for figures."""
        mean = torch.tensor(self.mean, dtype=images.dtype)[:, None, None]
        std = torch.tensor(self.std, dtype=images.dtype)[:, None, None]
        return images.cpu() * std + mean

    def setup(self, stage: str | None = None) -> None:
        if not self.datasets:
            self.datasets = {
                name: self.dataset(np.asarray(self.split[name], dtype=np.int64))
                for name in splits.SPLITS
            }

    def _loader(self, split: str, shuffle: bool = False) -> DataLoader:
        dataset = self.datasets[split]
        sampler = None
        ddp = distributed.is_available() and distributed.is_initialized()
        order = stream_seed(self.order_seed)
        if shuffle:
            # The order is a function of the order seed and the epoch alone (Lightning calls
            # set_epoch), so a resumed run replays it and the initialization's seed never
            # moves it. Lightning keeps a DistributedSampler it is given: under DDP each
            # process takes its share of the same order.
            sampler = DistributedSampler(
                dataset,
                num_replicas=distributed.get_world_size() if ddp else 1,
                rank=distributed.get_rank() if ddp else 0,
                shuffle=True,
                seed=order,
            )
        elif ddp:
            # Under DDP each process evaluates its share of the split. Lightning's default
            # sampler pads the shares to equal length by repeating samples; this one never
            # repeats, so val/test metrics count each sample once, as in a single process.
            sampler = UnrepeatedDistributedSampler(dataset, shuffle=False)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            # Each loader draws its workers' seeds from this generator, not from the global
            # one the initialization's seed drives (Lightning's seed_everything(workers=True)
            # then seeds numpy, random and torch in each worker from it).
            generator=torch.Generator().manual_seed(order),
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
