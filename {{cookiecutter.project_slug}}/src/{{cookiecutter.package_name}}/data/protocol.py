"""The evaluation protocol: how the data are split and normalized.

This file is part of the metric definition (see `metrics.py`): changing it
changes the metric fingerprint, and the test suite then asks for a
metric-version bump, because old numbers are no longer comparable.
"""

import numpy as np
import torch
from sklearn.model_selection import train_test_split

SPLIT_SEED = 0  # fixed for the project's lifetime: the split defines the metric
VAL_FRACTION = 0.15
TEST_FRACTION = 0.15
SPLITS = ("train", "val", "test")


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


def normalization_stats(train_images: torch.Tensor) -> tuple[float, float]:
    """Mean and std of the training images only, so nothing leaks from val/test."""
    return train_images.mean().item(), train_images.std().item()


def normalize(images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """Standardize every split with the training statistics."""
    return (images - mean) / std
