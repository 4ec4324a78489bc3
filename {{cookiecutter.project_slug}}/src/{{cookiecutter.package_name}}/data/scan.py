"""What a dataset folder holds, found without decoding it: the samples, their labels, a digest.

The digest ties a split to the exact samples it indexes: adding, removing, renaming or
relabelling a sample changes it, and the datamodules then refuse the old split.
"""

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Scan:
    format: str  # "image_folder" or "arrays"
    data_dir: Path
    classes: list[str]
    labels: np.ndarray  # (N,) int64, one per sample, in sample order
    listing: str  # SHA-256 of what identifies each sample and its label
    read: Callable[[int], np.ndarray]  # sample index -> its (C, H, W) pixels at the stored size
    files: tuple[Path, ...] = ()  # one per sample, for data stored as files
    # How stored values become pixels, recorded in the split (image files: research-rigor's
    # `research_rigor.images`).
    decoding: Callable[[], dict[str, Any]] = dict

    def __len__(self) -> int:
        return len(self.labels)

    def images(self, indices: Sequence[int]) -> Iterator[np.ndarray]:
        return (self.read(int(index)) for index in indices)


def digest(names: Sequence[str], labels: np.ndarray) -> str:
    found = hashlib.sha256()
    for name in names:
        found.update(name.encode() + b"\0")
    found.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return found.hexdigest()
