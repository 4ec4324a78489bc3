"""A dataset's split: the evaluation protocol, the split file that records it, and the
check that the file still indexes the data.

The protocol: a seeded, stratified train/val/test split, or k stratified folds
(scikit-learn's StratifiedKFold), with per-channel normalization statistics from the
training samples alone, so nothing leaks from val or test. `data/<name>.split.json`,
beside the data, holds the indices, the classes, the statistics, the stored image sizes
and a digest of the samples it indexes; a k-fold split also holds its folds, each with its
own indices and statistics. It defines the metric, so it is never rewritten silently, and
a split that no longer matches its data stops training before it starts.

A data format says what a folder holds without decoding it (a `Scan`: the samples, their
labels, a digest); everything else is here. A project lists this module in its metric's
DEFINITION: a release that changes the protocol moves the metric's fingerprint.
"""

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from research_rigor.errors import UserError

SPLIT_SEED = 0  # fixed for the project's lifetime: the split defines the metric
VAL_FRACTION = 0.15
TEST_FRACTION = 0.15
SPLITS = ("train", "val", "test")
SPLIT_SUFFIX = ".split.json"  # data/<name> is split by data/<name>.split.json, beside it
SHOWN = 5  # indices named in an error, then a count
MIN_FOLDS = 2  # k-fold: one fold tested, at least one trained on
FOLDS_KEY = "folds"  # in the split file: one {train, val, test, mean, std} per fold


def split_path(data_dir: Path) -> Path:
    """Where the split of `data_dir` lives: next to it, so the data folder stays the data."""
    return data_dir.with_name(f"{data_dir.name}{SPLIT_SUFFIX}")


def _train_val(rest: np.ndarray, labels: np.ndarray, test: np.ndarray) -> dict[str, np.ndarray]:
    """`rest` cut into train and val, stratified and seeded, beside the `test` set aside."""
    # scikit-learn (the `splits` extra) is imported where a split is written: training
    # only reads one.
    from sklearn.model_selection import train_test_split

    val_share_of_rest = VAL_FRACTION / (1.0 - TEST_FRACTION)
    train, val = train_test_split(
        rest, test_size=val_share_of_rest, stratify=labels[rest], random_state=SPLIT_SEED
    )
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def split_indices(labels: np.ndarray) -> dict[str, np.ndarray]:
    """Disjoint, stratified, seeded train/val/test indices covering every sample."""
    from sklearn.model_selection import train_test_split

    everything = np.arange(len(labels))
    rest, test = train_test_split(
        everything, test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED
    )
    return _train_val(rest, labels, test)


def fold_indices(labels: np.ndarray, folds: int) -> list[dict[str, np.ndarray]]:
    """Stratified k-fold: fold i tests on the i-th of `folds` disjoint, stratified parts
    (scikit-learn's StratifiedKFold, seeded), so every sample is tested exactly once; the
    other parts are cut into train and val as `split_indices` cuts what is not test."""
    from sklearn.model_selection import StratifiedKFold

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


@dataclass(frozen=True)
class Scan:
    """What a data folder holds, found without decoding it: its samples, their labels, and a
    digest that ties a split to exactly these samples."""

    format: str  # the data format's name, recorded in the split: "image_folder", "arrays", ...
    data_dir: Path
    classes: list[str]
    labels: np.ndarray  # (N,) int64, one per sample, in sample order
    listing: str  # SHA-256 of what identifies each sample and its label
    read: Callable[[int], np.ndarray]  # sample index -> its (C, H, W) pixels at the stored size
    files: tuple[Path, ...] = ()  # one per sample, for data stored as files
    # How stored values become pixels, recorded in the split (image files: `research_rigor.images`).
    decoding: Callable[[], dict[str, Any]] = dict

    def __len__(self) -> int:
        return len(self.labels)

    def images(self, indices: Sequence[int]) -> Iterator[np.ndarray]:
        return (self.read(int(index)) for index in indices)


def digest(names: Sequence[str], labels: np.ndarray) -> str:
    """SHA-256 of the samples' names and labels: adding, removing, renaming or relabelling a
    sample changes it, and a split written for other samples is then refused."""
    found = hashlib.sha256()
    for name in names:
        found.update(name.encode() + b"\0")
    found.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return found.hexdigest()


def _shown(values: list[int]) -> str:
    more = f" and {len(values) - SHOWN} more" if len(values) > SHOWN else ""
    return ", ".join(map(str, values[:SHOWN])) + more


def _indices(scan: Scan, folds: int | None) -> tuple[dict[str, np.ndarray], list[dict]]:
    """The protocol's train/val/test indices, and its `folds` folds' (none without)."""
    counts = np.bincount(scan.labels, minlength=len(scan.classes))
    fewest = int(counts.argmin())
    if folds is not None and counts[fewest] < folds:
        fewer = counts[fewest] >= MIN_FOLDS  # else no k-fold is possible until it has more
        lower = f"Lower --folds to {counts[fewest]} or add" if fewer else "Add"
        raise UserError(
            f"cannot split {scan.data_dir} into {folds} folds: class "
            f"{scan.classes[fewest]!r} has {counts[fewest]} sample(s), and each stratified "
            f"fold needs one. {lower} samples of it."
        )
    try:
        indices = split_indices(scan.labels)
        return indices, fold_indices(scan.labels, folds) if folds else []
    except ValueError as error:  # too few samples of a class to stratify
        raise UserError(
            f"cannot split {scan.data_dir}: class {scan.classes[fewest]!r} has "
            f"{counts[fewest]} sample(s), too few for a stratified train/val/test split "
            f"({error}). Add samples of it or remove it."
        ) from None


def measure(scan: Scan, trains: list[np.ndarray]) -> tuple[dict[str, Any], list[dict]]:
    """Decode every sample once: the stored sizes and channels, and the per-channel
    statistics of each training split in `trains` (the protocol's, then each fold's).
    An unreadable sample stops here, naming its file."""
    sizes: set[tuple[int, int]] = set()
    channels: set[int] = set()
    in_train = np.zeros((len(trains), len(scan)), dtype=bool)
    for row, train in enumerate(trains):
        in_train[row, train] = True
    statistics = [ChannelStats() for _ in trains]
    for index in range(len(scan)):
        image = scan.read(index)
        sizes.add(tuple(image.shape[1:]))
        channels.add(image.shape[0])
        for row in np.flatnonzero(in_train[:, index]):
            statistics[row].add(image)
    if len(channels) > 1:
        raise UserError(f"{scan.data_dir} mixes images with {sorted(channels)} channels.")
    found = {"channels": channels.pop(), "image_sizes": sorted(map(list, sizes))}
    return found, [dict(zip(("mean", "std"), stats.result(), strict=True)) for stats in statistics]


def _same(existing: dict[str, Any], indices: dict[str, np.ndarray]) -> bool:
    return all(existing.get(name) == indices[name].tolist() for name in SPLITS)


def write(scan: Scan, folds: int | None = None) -> tuple[Path, bool]:
    """Write the protocol's split of `scan`'s data beside it, with `folds` stratified folds
    (None: those of the existing split, if any); False if already there."""
    target = split_path(scan.data_dir)
    existing = json.loads(target.read_text()) if target.is_file() else None
    if folds is None and existing is not None:
        folds = len(existing.get(FOLDS_KEY, [])) or None
    if folds is not None and folds < MIN_FOLDS:
        raise UserError(f"--folds {folds}: k-fold needs at least {MIN_FOLDS} folds, e.g. 5.")
    indices, fold_parts = _indices(scan, folds)
    if existing is not None:
        same_decoding = all(existing.get(key) == value for key, value in scan.decoding().items())
        recorded_folds = existing.get(FOLDS_KEY, [])
        if (
            existing.get("listing") == scan.listing
            and same_decoding
            and _same(existing, indices)
            and len(recorded_folds) == len(fold_parts)
            and all(map(_same, recorded_folds, fold_parts))
        ):
            return target, False
        what = "another split of different data"
        if len(recorded_folds) != len(fold_parts):
            what = f"a split with {len(recorded_folds) or 'no'} folds, not {folds}"
        raise UserError(
            f"{target} holds {what}: the split defines the metric, so it is never rewritten "
            f"silently. If the change is on purpose, delete {target} and split again (runs "
            "on the new split get a new data version)."
        )
    found, statistics = measure(scan, [indices["train"], *(part["train"] for part in fold_parts)])
    payload = {
        "format": scan.format,
        "classes": scan.classes,
        "samples": len(scan),
        "listing": scan.listing,
        **found,
        **statistics[0],
        **scan.decoding(),
        **{name: indices[name].tolist() for name in SPLITS},
    }
    if fold_parts:
        payload[FOLDS_KEY] = [
            {**{name: part[name].tolist() for name in SPLITS}, **stats}
            for part, stats in zip(fold_parts, statistics[1:], strict=True)
        ]
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(json.dumps(payload) + "\n")
    os.replace(partial, target)  # never a half-written split
    return target, True


def _check_parts(parts: dict[str, Any], which: str, path: Path, scan: Scan, fix: str) -> None:
    """Refuse `parts` (the protocol's train/val/test, or a fold's) that name samples `scan`
    does not hold, or put one sample in two of them."""
    seen: dict[int, str] = {}
    for name in SPLITS:
        indices = parts.get(name, [])
        beyond = [index for index in indices if not 0 <= index < len(scan)]
        if beyond:
            raise UserError(
                f"{path} names samples {_shown(beyond)} of {which}{name}, but {scan.data_dir} "
                f"holds {len(scan)} samples: {fix}."
            )
        shared = [index for index in indices if index in seen]
        if shared:
            raise UserError(
                f"{path} puts samples {_shown(shared)} in both {which}{seen[shared[0]]} and "
                f"{name}, so the metric would test on what it trained on: {fix}."
            )
        seen.update(dict.fromkeys(indices, name))


def held_out(split: dict[str, Any], fold: int | None, path: Path, command: str) -> dict[str, Any]:
    """The split as `data.fold` serves it: fold `fold`'s train/val/test and statistics in
    place of the protocol's (which serve when `fold` is None). `command` writes a split."""
    if fold is None:
        return split
    folds = split.get(FOLDS_KEY, [])
    if not folds:
        data_dir = path.with_name(path.name.removesuffix(SPLIT_SUFFIX))
        raise UserError(
            f"data.fold={fold}, but {path} has no folds: drop data.fold, or delete {path} and "
            f"split again with folds (`{command} {data_dir} --folds 5`)."
        )
    if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < len(folds):
        raise UserError(
            f"data.fold={fold}, but {path} has {len(folds)} folds: choose data.fold from 0 to "
            f"{len(folds) - 1}."
        )
    return {**split, **folds[fold]}


def checked(path: Path, scan: Scan, num_classes: int | None, command: str) -> dict[str, Any]:
    """The split at `path`, after checking that it indexes exactly the data `scan` found;
    `command` is how the project writes a split, named in the fix."""
    split = json.loads(path.read_text())
    again = f" --folds {len(split[FOLDS_KEY])}" if split.get(FOLDS_KEY) else ""
    fix = f"delete {path} and split again (`{command} {scan.data_dir}{again}`)"
    if num_classes is not None:
        labels = scan.labels
        outside = np.unique(labels[(labels < 0) | (labels >= num_classes)]).tolist()
        if outside:
            raise UserError(
                f"{scan.data_dir} has labels {_shown(outside)} outside 0..{num_classes - 1}: "
                f"fix the labels, or set num_classes in the data config to the real number."
            )
    if split.get("format") != scan.format:
        raise UserError(f"{path} splits {split.get('format')} data, not {scan.format}: {fix}.")
    _check_parts(split, "", path, scan, fix)
    for fold, parts in enumerate(split.get(FOLDS_KEY, [])):
        _check_parts(parts, f"fold {fold}'s ", path, scan, fix)
    if split.get("listing") != scan.listing:
        raise UserError(
            f"{scan.data_dir} changed since {path} was written (samples added, removed, "
            f"renamed or relabelled): restore the data (`dvc checkout`), or {fix}."
        )
    return split
