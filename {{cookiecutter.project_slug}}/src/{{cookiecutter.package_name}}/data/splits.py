"""A dataset's split file: written once by the protocol, then checked against the data.

`data/<name>.split.json` holds the train/val/test indices, the classes, the per-channel
normalization statistics of the training split, the stored image sizes and a digest of
the samples it indexes; a k-fold split (`split --folds K`) also holds its K folds, each
with its own train/val/test indices and statistics. It defines the metric, so it is never
rewritten silently, and a split that no longer matches its data stops training before it
starts.
"""

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from research_rigor.errors import UserError

from {{ cookiecutter.package_name }}.data import protocol
from {{ cookiecutter.package_name }}.data.scan import Scan

SHOWN = 5  # indices named in an error, then a count
MIN_FOLDS = 2  # k-fold: one fold tested, at least one trained on
FOLDS_KEY = "folds"  # in the split file: one {train, val, test, mean, std} per fold


def _shown(values: list[int]) -> str:
    more = f" and {len(values) - SHOWN} more" if len(values) > SHOWN else ""
    return ", ".join(map(str, values[:SHOWN])) + more


def _indices(scan: Scan, folds: int | None) -> tuple[dict[str, np.ndarray], list[dict]]:
    """The protocol's train/val/test indices, and its `folds` folds' (none without)."""
    counts = np.bincount(scan.labels, minlength=len(scan.classes))
    fewest = int(counts.argmin())
    if folds is not None and counts[fewest] < folds:
        raise UserError(
            f"cannot split {scan.data_dir} into {folds} folds: class "
            f"{scan.classes[fewest]!r} has {counts[fewest]} sample(s), and each stratified "
            f"fold needs one. Lower --folds to {max(MIN_FOLDS, int(counts[fewest]))} or add "
            "samples of it."
        )
    try:
        indices = protocol.split_indices(scan.labels)
        return indices, protocol.fold_indices(scan.labels, folds) if folds else []
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
    statistics = [protocol.ChannelStats() for _ in trains]
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
    return all(existing.get(name) == indices[name].tolist() for name in protocol.SPLITS)


def write(scan: Scan, folds: int | None = None) -> tuple[Path, bool]:
    """Write the protocol's split of `scan`'s data beside it, with `folds` stratified folds
    (None: those of the existing split, if any); False if already there."""
    target = protocol.split_path(scan.data_dir)
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
        **{name: indices[name].tolist() for name in protocol.SPLITS},
    }
    if fold_parts:
        payload[FOLDS_KEY] = [
            {**{name: part[name].tolist() for name in protocol.SPLITS}, **stats}
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
    for name in protocol.SPLITS:
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


def held_out(split: dict[str, Any], fold: int | None, path: Path) -> dict[str, Any]:
    """The split as `data.fold` serves it: fold `fold`'s train/val/test and statistics in
    place of the protocol's (which serve when `fold` is None)."""
    if fold is None:
        return split
    folds = split.get(FOLDS_KEY, [])
    if not folds:
        data_dir = path.with_name(path.name.removesuffix(protocol.SPLIT_SUFFIX))
        raise UserError(
            f"data.fold={fold}, but {path} has no folds: drop data.fold, or delete {path} and "
            f"split again with folds (`python -m {__package__} split {data_dir} --folds 5`)."
        )
    if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < len(folds):
        raise UserError(
            f"data.fold={fold}, but {path} has {len(folds)} folds: choose data.fold from 0 to "
            f"{len(folds) - 1}."
        )
    return {**split, **folds[fold]}


def checked(path: Path, scan: Scan, num_classes: int | None) -> dict[str, Any]:
    """The split at `path`, after checking that it indexes exactly the data `scan` found."""
    split = json.loads(path.read_text())
    again = f" --folds {len(split[FOLDS_KEY])}" if split.get(FOLDS_KEY) else ""
    fix = f"delete {path} and split again (`python -m {__package__} split {scan.data_dir}{again}`)"
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
