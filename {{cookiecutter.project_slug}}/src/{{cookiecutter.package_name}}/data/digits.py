"""scikit-learn's handwritten digits: the embedded default dataset.

`prepare` materializes the raw arrays and the fixed split into `data/digits/`
(the DVC `prepare` stage runs it); `DigitsDataModule` reads them back as
in-memory tensors. To use your own data, write a datamodule like this one and
a `configs/data/<name>.yaml` pointing at it.
"""

import json
import sys
from pathlib import Path

import lightning as L
import numpy as np
import torch
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset

from {{ cookiecutter.package_name }}.data import protocol
from {{ cookiecutter.package_name }}.errors import UserError

IMAGES_FILE = "images.npy"
LABELS_FILE = "labels.npy"
SPLIT_FILE = "split.json"
PREPARED_FILES = (IMAGES_FILE, LABELS_FILE, SPLIT_FILE)


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


def is_prepared(data_dir: Path) -> bool:
    return all((data_dir / name).is_file() for name in PREPARED_FILES)


class DigitsDataModule(L.LightningDataModule):
    """Digits as normalized in-memory tensors of shape (N, 1, 8, 8)."""

    input_shape = (1, 8, 8)
    num_classes = 10

    def __init__(self, data_dir: str | Path, batch_size: int, num_workers: int = 0) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.datasets: dict[str, TensorDataset] = {}

    def prepare_data(self) -> None:
        """Materialize the embedded dataset on first use, as `dvc repro prepare` would."""
        if is_prepared(self.data_dir):
            return
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise UserError(
                f"{self.data_dir} is incomplete (expected {', '.join(PREPARED_FILES)}): "
                "run `dvc pull` or `dvc repro prepare`."
            )
        print(
            f"{self.data_dir} not found: writing the embedded digits data there "
            "(the same as `dvc repro prepare`).",
            file=sys.stderr,
        )
        prepare(self.data_dir)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        images = torch.from_numpy(np.load(self.data_dir / IMAGES_FILE)).unsqueeze(1)
        labels = torch.from_numpy(np.load(self.data_dir / LABELS_FILE))
        split = json.loads((self.data_dir / SPLIT_FILE).read_text())
        mean, std = protocol.normalization_stats(images[split["train"]])
        images = protocol.normalize(images, mean, std)
        self.datasets = {
            name: TensorDataset(images[split[name]], labels[split[name]])
            for name in protocol.SPLITS
        }

    def _loader(self, split: str, shuffle: bool = False) -> DataLoader:
        return DataLoader(
            self.datasets[split],
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data/digits")
    prepare(target)
    print(f"wrote {', '.join(PREPARED_FILES)} to {target}")
