"""The evaluation protocol: how the data are split and normalized.

This file is part of the metric definition (see `metrics.py`): changing it
changes the metric fingerprint, and the test suite then asks for a
metric-version bump, because old numbers are no longer comparable.
"""

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

SPLIT_SEED = 0  # fixed for the project's lifetime: the split defines the metric
VAL_FRACTION = 0.15
TEST_FRACTION = 0.15
SPLITS = ("train", "val", "test")
SPLIT_SUFFIX = ".split.json"  # data/<name> is split by data/<name>.split.json, beside it


def split_path(data_dir: Path) -> Path:
    """Where the split of `data_dir` lives: next to it, so the data folder stays the data."""
    return data_dir.with_name(f"{data_dir.name}{SPLIT_SUFFIX}")


def _train_val(rest: np.ndarray, labels: np.ndarray, test: np.ndarray) -> dict[str, np.ndarray]:
    """`rest` cut into train and val, stratified and seeded, beside the `test` set aside."""
    val_share_of_rest = VAL_FRACTION / (1.0 - TEST_FRACTION)
    train, val = train_test_split(
        rest, test_size=val_share_of_rest, stratify=labels[rest], random_state=SPLIT_SEED
    )
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def split_indices(labels: np.ndarray) -> dict[str, np.ndarray]:
    """Disjoint, stratified, seeded train/val/test indices covering every sample."""
    everything = np.arange(len(labels))
    rest, test = train_test_split(
        everything, test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED
    )
    return _train_val(rest, labels, test)


def fold_indices(labels: np.ndarray, folds: int) -> list[dict[str, np.ndarray]]:
    """Stratified k-fold: fold i tests on the i-th of `folds` disjoint, stratified parts
    (scikit-learn's StratifiedKFold, seeded), so every sample is tested exactly once; the
    other parts are cut into train and val as `split_indices` cuts what is not test."""
    cut = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SPLIT_SEED)
    return [
        _train_val(rest, labels, test) for rest, test in cut.split(np.zeros(len(labels)), labels)
    ]


class ChannelStats:
    """Per-channel mean and standard deviation of (C, H, W) images added one at a time
    (Chan's parallel formula): images may differ in size, and never sit in memory whole."""

    def __init__(self) -> None:
        self.count, self.mean, self.squares = 0, None, None

    def add(self, image: np.ndarray) -> None:
        pixels = image.reshape(image.shape[0], -1).astype(np.float64)
        n, image_mean = pixels.shape[1], pixels.mean(axis=1)
        image_squares = ((pixels - image_mean[:, None]) ** 2).sum(axis=1)
        if self.mean is None:
            self.count, self.mean, self.squares = n, image_mean, image_squares
            return
        delta, total = image_mean - self.mean, self.count + n
        self.mean = self.mean + delta * n / total
        self.squares = self.squares + image_squares + delta**2 * self.count * n / total
        self.count = total

    def result(self) -> tuple[list[float], list[float]]:
        if self.mean is None:
            raise ValueError("no training images to take normalization statistics from")
        std = np.sqrt(self.squares / self.count)
        # A channel that never varies carries no information: leave its scale alone.
        std[std == 0] = 1.0
        return self.mean.tolist(), std.tolist()


def normalization_stats(train_images: Iterable[np.ndarray]) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation over the pixels of the training images only,
    so nothing leaks from val/test."""
    stats = ChannelStats()
    for image in train_images:
        stats.add(image)
    return stats.result()


def normalize(image: np.ndarray, mean: list[float], std: list[float]) -> np.ndarray:
    """Standardize one (C, H, W) image, of any split, with the training statistics."""
    return ((image - np.asarray(mean)[:, None, None]) / np.asarray(std)[:, None, None]).astype(
        np.float32
    )
