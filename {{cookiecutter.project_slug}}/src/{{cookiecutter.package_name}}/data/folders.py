"""Images on disk, one folder per class: `data/<name>/<class>/*.png|jpg|...`.

Classes are the folder names in sorted order; samples are sorted by class, then path.
Each sample is decoded by Pillow when a batch needs it (in the loader's worker
processes), converted to the split's channels and resized to `image_size`: the same
deterministic steps for every split. Augmentation is no part of the data: it belongs to
a mode's recipe (`model.augment`) and is applied to training batches only.
"""

from collections.abc import Sequence
from functools import cache, cached_property
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from research_rigor.errors import UserError
from torch.utils.data import Dataset

from {{ cookiecutter.package_name }}.data import protocol
from {{ cookiecutter.package_name }}.data.datamodule import ClassificationDataModule
from {{ cookiecutter.package_name }}.data.scan import Scan, digest

FORMAT = "image_folder"
# Every file name ending Pillow can open; other files (notes, thumbnails' databases) are ignored.
IMAGE_EXTENSIONS = frozenset(
    ending for ending, kind in Image.registered_extensions().items() if kind in Image.OPEN
)
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})  # decoded to one channel
MAX_PIXEL = 255.0  # 8-bit images are scaled to [0, 1]
RESAMPLING = Image.Resampling.BILINEAR


def image_files(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.rglob("*")
        if path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")
    )


def decode(path: Path, grey: bool, size: Sequence[int] | None = None) -> np.ndarray:
    """One image as (C, H, W) float32 in [0, 1], resized to `size` (H, W) if given."""
    try:
        with Image.open(path) as image:
            image = image.convert("L" if grey else "RGB")
            if size is not None and image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), RESAMPLING)
            pixels = np.asarray(image, dtype=np.float32) / MAX_PIXEL
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise UserError(
            f"{path} cannot be decoded ({error}): replace or delete it, then split again "
            f"(`python -m {__package__} split {path.parents[1]}`)."
        ) from None
    return pixels[None] if grey else pixels.transpose(2, 0, 1)


def is_grey(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            return image.mode in GREY_MODES
    except (OSError, ValueError, Image.DecompressionBombError):
        return False  # decode() names the file


def scan(data_dir: Path) -> Scan:
    if not data_dir.is_dir():
        raise UserError(
            f"{data_dir} does not exist: fetch the data with `dvc pull` (from the DVC remote), "
            "or put one folder of images per class there."
        )
    folders = sorted(p for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise UserError(
            f"{data_dir} has no class folders: put each class's images in {data_dir}/<class>/."
        )
    files: list[Path] = []
    labels: list[int] = []
    for label, folder in enumerate(folders):
        found = image_files(folder)
        if not found:
            raise UserError(
                f"{folder} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS)[:4])}, ...): "
                "add its images or delete the folder, then split again."
            )
        files += found
        labels += [label] * len(found)
    names = [path.relative_to(data_dir).as_posix() for path in files]

    @cache
    def grey() -> bool:  # one channel only if every image is grey (read when splitting)
        return all(is_grey(path) for path in files)

    return Scan(
        format=FORMAT,
        data_dir=data_dir,
        classes=[folder.name for folder in folders],
        labels=np.array(labels, dtype=np.int64),
        listing=digest(names, np.array(labels)),
        read=lambda index: decode(files[index], grey()),
        files=tuple(files),
    )


class ImageFiles(Dataset):
    """The images at `indices` of a folder dataset, decoded, resized and normalized on access."""

    def __init__(
        self,
        files: list[Path],
        labels: np.ndarray,
        grey: bool,
        size: Sequence[int],
        mean: list[float],
        std: list[float],
    ) -> None:
        self.files, self.labels = files, labels
        self.grey, self.size = grey, tuple(size)
        self.mean, self.std = mean, std

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = decode(self.files[position], self.grey, self.size)
        return (
            torch.from_numpy(protocol.normalize(image, self.mean, self.std)),
            torch.tensor(self.labels[position]),
        )


class ImageFolderDataModule(ClassificationDataModule):
    """A folder per class; every image resized to `image_size` (H, W), or all one size."""

    def __init__(
        self,
        data_dir: str | Path,
        batch_size: int,
        image_size: Sequence[int] | None = None,
        **settings,
    ) -> None:
        super().__init__(data_dir, batch_size, **settings)
        self.image_size = tuple(image_size) if image_size else None

    def scan(self) -> Scan:
        return self._scan

    @cached_property
    def _scan(self) -> Scan:
        return scan(self.data_dir)

    def sample_shape(self) -> tuple[int, int, int]:
        if self.image_size is None:
            sizes = self.split["image_sizes"]
            if len(sizes) > 1:
                shown = ", ".join(f"{height}x{width}" for height, width in sizes[:3])
                raise UserError(
                    f"{self.data_dir} holds images of {len(sizes)} sizes ({shown}, ...): set "
                    f"image_size: [height, width] in its data config to resize them to one."
                )
            return (self.split["channels"], *sizes[0])
        return (self.split["channels"], *self.image_size)

    def dataset(self, indices: np.ndarray) -> ImageFiles:
        everything = self.scan()
        return ImageFiles(
            [everything.files[index] for index in indices],
            everything.labels[indices],
            grey=self.split["channels"] == 1,
            size=self.sample_shape()[1:],
            mean=self.mean,
            std=self.std,
        )
