"""scikit-learn's handwritten digits: the embedded default dataset.

`prepare` writes the raw arrays and the protocol's fixed split to `data/digits/`
(the DVC `prepare` stage runs it: `python -m {{ cookiecutter.package_name }}.data.digits data/digits`).
Because scikit-learn ships the data, a fresh project also prepares them on first
use, so `python train.py` works at once.
"""

import json
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

from {{ cookiecutter.package_name }}.data import protocol
from {{ cookiecutter.package_name }}.data.arrays import (
    IMAGES_FILE,
    LABELS_FILE,
    PREPARED_FILES,
    SPLIT_FILE,
    ArrayDataModule,
)

INPUT_SHAPE = (1, 8, 8)
NUM_CLASSES = 10


def prepare(data_dir: Path) -> None:
    """Write the raw images, labels and the protocol's split indices to `data_dir`."""
    digits = load_digits()
    images = digits.images.astype(np.float32)  # (1797, 8, 8), values 0..16
    labels = digits.target.astype(np.int64)
    data_dir.mkdir(parents=True, exist_ok=True)
    np.save(data_dir / IMAGES_FILE, images)
    np.save(data_dir / LABELS_FILE, labels)
    split = {name: indices.tolist() for name, indices in protocol.split_indices(labels).items()}
    (data_dir / SPLIT_FILE).write_text(json.dumps(split) + "\n")


class DigitsDataModule(ArrayDataModule):
    """The prepared digits; writes them on first use when `data/digits` does not exist."""

    def __init__(
        self, data_dir: str | Path, batch_size: int, num_workers: int = 0, pin_memory: bool = False
    ) -> None:
        super().__init__(data_dir, INPUT_SHAPE, NUM_CLASSES, batch_size, num_workers, pin_memory)

    def prepare_data(self) -> None:
        if not self.data_dir.exists():
            print(
                f"{self.data_dir} not found: writing the embedded digits data there "
                "(what `dvc repro prepare` does).",
                file=sys.stderr,
            )
            prepare(self.data_dir)
        super().prepare_data()  # a partial directory is an error, never silently rewritten


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data/digits")
    prepare(target)
    print(f"wrote {', '.join(PREPARED_FILES)} to {target}")
