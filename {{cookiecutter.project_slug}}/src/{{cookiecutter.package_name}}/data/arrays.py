"""A dataset stored as arrays, memory-mapped: data larger than memory train as well.

The format (what a DVC `prepare` stage writes, or `dvc add` tracks): `images.npy`
(N, H, W) or (N, C, H, W) of any numeric type, and `labels.npy` (N,) integer classes.
Only the samples of a batch are read from disk; they are split and normalized by
research-rigor's protocol (`research_rigor.splits`).
"""

from pathlib import Path

import numpy as np
import torch
from research_rigor import splits
from research_rigor.datamodule import ClassificationDataModule
from research_rigor.errors import UserError
from research_rigor.splits import Scan, digest
from torch.utils.data import Dataset

IMAGES_FILE = "images.npy"
LABELS_FILE = "labels.npy"
ARRAY_FILES = (IMAGES_FILE, LABELS_FILE)
FORMAT = "arrays"


def is_arrays(data_dir: Path) -> bool:
    return any((data_dir / name).is_file() for name in ARRAY_FILES)


def open_images(data_dir: Path) -> np.ndarray:
    """The images, memory-mapped: (N, C, H, W) views, nothing read yet."""
    images = np.load(data_dir / IMAGES_FILE, mmap_mode="r")
    return images[:, None] if images.ndim == 3 else images


def scan(data_dir: Path) -> Scan:
    missing = [name for name in ARRAY_FILES if not (data_dir / name).is_file()]
    if missing:
        raise UserError(
            f"{data_dir} is missing {', '.join(missing)}: fetch the data with `dvc pull` "
            "(from the DVC remote), or rebuild them with `dvc repro prepare`."
        )
    images = open_images(data_dir)
    labels = np.load(data_dir / LABELS_FILE)
    if images.ndim != 4 or labels.shape != (len(images),):
        raise UserError(
            f"{data_dir}: {IMAGES_FILE} has shape {images.shape} and {LABELS_FILE} {labels.shape}; "
            "expected (N, H, W) or (N, C, H, W) images and (N,) labels."
        )
    if not np.issubdtype(labels.dtype, np.integer) or (len(labels) and labels.min() < 0):
        raise UserError(f"{data_dir / LABELS_FILE} must hold class indices 0, 1, 2, ...")
    labels = labels.astype(np.int64)
    classes = [str(label) for label in range(int(labels.max(initial=-1)) + 1)]
    return Scan(
        format=FORMAT,
        data_dir=data_dir,
        classes=classes,
        labels=labels,
        listing=digest([f"{images.shape[1:]}"], labels),
        read=lambda index: np.asarray(images[index], dtype=np.float64),
    )


class ArraySamples(Dataset):
    """The samples at `indices`, read from the memory map and normalized on access."""

    def __init__(self, data_dir: Path, indices: np.ndarray, mean: list[float], std: list[float]):
        self.data_dir = data_dir
        self.indices = indices
        self.labels = np.load(data_dir / LABELS_FILE)[indices].astype(np.int64)
        self.mean, self.std = mean, std
        self.images: np.ndarray | None = None  # opened in each worker process, not pickled

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.__getitems__([position])[0]

    def __getitems__(self, positions: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """A batch in one read of the memory map (the DataLoader's batched fetch)."""
        if self.images is None:
            self.images = open_images(self.data_dir)
        rows = self.indices[positions]
        order = np.argsort(rows)  # ascending reads of the file, then back in batch order
        images = np.empty((len(rows), *self.images.shape[1:]), dtype=np.float64)
        images[order] = self.images[rows[order]]
        return [
            (
                torch.from_numpy(splits.normalize(image, self.mean, self.std)),
                torch.tensor(self.labels[position]),
            )
            for image, position in zip(images, positions, strict=True)
        ]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "images": None}


class ArrayDataModule(ClassificationDataModule):
    """Memory-mapped arrays, `num_classes` as the config declares it."""

    def __init__(self, data_dir: str | Path, num_classes: int, batch_size: int, **settings) -> None:
        super().__init__(data_dir, batch_size, **settings)
        self._num_classes = num_classes

    def declared_classes(self) -> int:
        return self._num_classes

    def scan(self) -> Scan:
        return scan(self.data_dir)

    @property
    def classes(self) -> list[str]:
        return [str(label) for label in range(self._num_classes)]

    def sample_shape(self) -> tuple[int, int, int]:
        return tuple(open_images(self.data_dir).shape[1:])

    def dataset(self, indices: np.ndarray) -> ArraySamples:
        return ArraySamples(self.data_dir, indices, self.mean, self.std)
