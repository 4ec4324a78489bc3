"""The evaluation protocol: how the data are split and normalized.

This file is part of the metric definition (see `metrics.py`): changing it
changes the metric fingerprint, and the test suite then asks for a
metric-version bump, because old numbers are no longer comparable.
"""

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

SPLIT_SEED = 0  # fixed for the project's lifetime: the split defines the metric
VAL_FRACTION = 0.15
TEST_FRACTION = 0.15
SPLITS = ("train", "val", "test")
SPLIT_SUFFIX = ".split.json"  # data/<name> is split by data/<name>.split.json, beside it


def split_path(data_dir: Path) -> Path:
    """Where the split of `data_dir` lives: next to it, so the data folder stays the data."""
    return data_dir.with_name(f"{data_dir.name}{SPLIT_SUFFIX}")


def split_indices(labels: np.ndarray) -> dict[str, np.ndarray]:
    """Disjoint, stratified, seeded train/val/test indices covering every sample."""
    everything = np.arange(len(labels))
    rest, test = train_test_split(
        everything, test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED
    )
    val_share_of_rest = VAL_FRACTION / (1.0 - TEST_FRACTION)
    train, val = train_test_split(
        rest, test_size=val_share_of_rest, stratify=labels[rest], random_state=SPLIT_SEED
    )
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def normalization_stats(train_images: Iterable[np.ndarray]) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation over the pixels of the training images only,
    so nothing leaks from val/test. Images are (C, H, W) and may differ in size; they are
    combined one at a time (Chan's parallel formula), so the data never sit in memory whole."""
    count, mean, squares = 0, None, None
    for image in train_images:
        pixels = image.reshape(image.shape[0], -1).astype(np.float64)
        n, image_mean = pixels.shape[1], pixels.mean(axis=1)
        image_squares = ((pixels - image_mean[:, None]) ** 2).sum(axis=1)
        if mean is None:
            count, mean, squares = n, image_mean, image_squares
            continue
        delta, total = image_mean - mean, count + n
        mean = mean + delta * n / total
        squares = squares + image_squares + delta**2 * count * n / total
        count = total
    if mean is None:
        raise ValueError("no training images to take normalization statistics from")
    std = np.sqrt(squares / count)
    # A channel that never varies carries no information: leave its scale alone.
    std[std == 0] = 1.0
    return mean.tolist(), std.tolist()


def normalize(image: np.ndarray, mean: list[float], std: list[float]) -> np.ndarray:
    """Standardize one (C, H, W) image, of any split, with the training statistics."""
    return ((image - np.asarray(mean)[:, None, None]) / np.asarray(std)[:, None, None]).astype(
        np.float32
    )
