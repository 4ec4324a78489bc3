"""scikit-learn's handwritten digits: the embedded default dataset.

`prepare` writes them as arrays to `data/digits/` (the DVC `prepare` stage runs it:
`python -m {{ cookiecutter.package_name }}.data.digits data/digits`); their split,
`data/digits.split.json`, is committed with the project. Because scikit-learn ships
the data, a fresh project also prepares them on first use, so `python train.py` works
at once.
"""

import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

from {{ cookiecutter.package_name }}.data.arrays import IMAGES_FILE, LABELS_FILE, ArrayDataModule

NUM_CLASSES = 10


def prepare(data_dir: Path) -> None:
    """Write the raw images (1797, 8, 8), values 0..16, and their labels to `data_dir`."""
    digits = load_digits()
    data_dir.mkdir(parents=True, exist_ok=True)
    np.save(data_dir / IMAGES_FILE, digits.images.astype(np.float32))
    np.save(data_dir / LABELS_FILE, digits.target.astype(np.int64))


class DigitsDataModule(ArrayDataModule):
    """The prepared digits; writes them on first use when `data/digits` does not exist."""

    def __init__(self, data_dir: str | Path, batch_size: int, **settings) -> None:
        super().__init__(data_dir, NUM_CLASSES, batch_size, **settings)

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
    print(f"wrote {IMAGES_FILE}, {LABELS_FILE} to {target}")
