"""Images on disk, one folder per class: `data/<name>/<class>/*.png|jpg|...`.

Classes are the folder names in sorted order; samples are sorted by class, then path.
Each sample is decoded when a batch needs it (in the loader's worker processes) by the
policy its split file records (`research_rigor.images`: channels, pixel type, the range
scaled to [0, 1]) and resized to `image_size`: the same deterministic steps for every
split, and for new images given to `predict.py`. Augmentation is no part of the data: it
belongs to a mode's recipe (`model.augment`) and is applied to training batches only.
"""

import json
from collections.abc import Sequence
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from research_rigor import splits
from research_rigor.datamodule import ClassificationDataModule
from research_rigor.errors import UserError
from research_rigor.images import Decoding, decode, policy_of
from research_rigor.splits import Scan, digest
from torch.utils.data import Dataset

FORMAT = "image_folder"
# Every file name ending Pillow can open; other files (notes, thumbnails' databases) are ignored.
IMAGE_EXTENSIONS = frozenset(
    ending for ending, kind in Image.registered_extensions().items() if kind in Image.OPEN
)
UNLABELLED = -1  # the label of an image served for prediction


def image_files(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.rglob("*")
        if path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")
    )


def scan(data_dir: Path, pixel_range: Sequence[float] | None = None) -> Scan:
    """The class folders' images, labelled by folder; decoded by `pixel_range` (the stored
    values that map to 0 and 1) or, undeclared, by their pixel type's full range."""
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
    def policy() -> Decoding:  # every file's header: read when splitting
        return policy_of(files, pixel_range)

    return Scan(
        format=FORMAT,
        data_dir=data_dir,
        classes=[folder.name for folder in folders],
        labels=np.array(labels, dtype=np.int64),
        listing=digest(names, np.array(labels)),
        read=lambda index: decode(files[index], policy()),
        files=tuple(files),
        decoding=lambda: policy().recorded(),
    )


class ImageFiles(Dataset):
    """Images decoded by the dataset's policy, resized (or checked to be of the one size the
    model takes) and normalized on access: a split's samples, or new images to predict."""

    def __init__(
        self,
        files: list[Path],
        labels: np.ndarray,
        policy: Decoding,
        size: Sequence[int],
        resize: bool,
        mean: list[float],
        std: list[float],
    ) -> None:
        self.files, self.labels = files, labels
        self.policy, self.size, self.resize = policy, tuple(size), resize
        self.mean, self.std = mean, std

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        path = self.files[position]
        image = decode(path, self.policy, self.size if self.resize else None)
        if image.shape[1:] != self.size:
            shown = "x".join(map(str, self.size))
            raise UserError(
                f"{path} is {'x'.join(map(str, image.shape[1:]))}, but the model takes {shown} "
                f"and its data config sets no image_size: resize the image to {shown}."
            )
        return (
            torch.from_numpy(splits.normalize(image, self.mean, self.std)),
            torch.tensor(self.labels[position]),
        )


class ImageFolderDataModule(ClassificationDataModule):
    """A folder per class; every image resized to `image_size` (H, W), or all one size; the
    stored values `pixel_range` names (as recorded in the split) scaled to [0, 1]."""

    def __init__(
        self,
        data_dir: str | Path,
        batch_size: int,
        image_size: Sequence[int] | None = None,
        pixel_range: Sequence[float] | None = None,
        **settings,
    ) -> None:
        super().__init__(data_dir, batch_size, **settings)
        self.image_size = tuple(image_size) if image_size else None
        self.pixel_range = list(pixel_range) if pixel_range is not None else None

    def scan(self) -> Scan:
        return self._scan

    @cached_property
    def _scan(self) -> Scan:
        return scan(self.data_dir, self.pixel_range)

    def policy(self, split: dict[str, Any]) -> Decoding:
        """The decoding the split recorded, which the config must not contradict."""
        fix = f"delete {self.split_file} and split again (`python -m {__package__} split "
        if "pixel_range" not in split:
            raise UserError(
                f"{self.split_file} records no decoding policy (written by an older version): "
                f"{fix}{self.data_dir}`)."
            )
        recorded = split["pixel_range"]
        if self.pixel_range is not None and self.pixel_range != recorded:
            raise UserError(
                f"the data config declares pixel_range {self.pixel_range}, but "
                f"{self.split_file} was written with {recorded}: set it back, or {fix}"
                f"{self.data_dir}`): the range is part of the metric's definition."
            )
        return Decoding(split["channels"], split["pixel_type"], tuple(recorded))

    def shape(self, split: dict[str, Any]) -> tuple[int, int, int]:
        if self.image_size is None:
            sizes = split["image_sizes"]
            if len(sizes) > 1:
                shown = ", ".join(f"{height}x{width}" for height, width in sizes[:3])
                raise UserError(
                    f"{self.data_dir} holds images of {len(sizes)} sizes ({shown}, ...): set "
                    f"image_size: [height, width] in its data config to resize them to one."
                )
            return (split["channels"], *sizes[0])
        return (split["channels"], *self.image_size)

    def sample_shape(self) -> tuple[int, int, int]:
        return self.shape(self.split)

    def images(self, files: list[Path], labels: np.ndarray, split: dict[str, Any]) -> ImageFiles:
        """`files` served as `split`'s samples are: decoded, sized and normalized alike."""
        return ImageFiles(
            files,
            labels,
            self.policy(split),
            size=self.shape(split)[1:],
            resize=self.image_size is not None,
            mean=split["mean"],
            std=split["std"],
        )

    def dataset(self, indices: np.ndarray) -> ImageFiles:
        everything = self.scan()
        files = [everything.files[index] for index in indices]
        return self.images(files, everything.labels[indices], self.split)

    @cached_property
    def committed_split(self) -> dict[str, Any]:
        """The split file as committed, read without the data it indexes: the classes, the
        decoding and the normalization a checkpoint of this dataset predicts with."""
        if not self.split_file.is_file():
            raise UserError(
                f"{self.split_file} is missing: predict from the checkout the model was "
                "trained in (its split file holds the normalization the model learned with)."
            )
        split = json.loads(self.split_file.read_text())
        return splits.held_out(split, self.fold, self.split_file, self.split_command)

    def unlabelled(self, files: list[Path]) -> ImageFiles:
        """New images, served exactly as the splits' samples are (label UNLABELLED)."""
        split = self.committed_split
        return self.images(files, np.full(len(files), UNLABELLED), split)
