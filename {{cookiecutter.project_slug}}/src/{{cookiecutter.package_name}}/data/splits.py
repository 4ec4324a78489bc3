"""A dataset's split file: written once by the protocol, then checked against the data.

`data/<name>.split.json` holds the train/val/test indices, the classes, the per-channel
normalization statistics of the training split, the stored image sizes and a digest of
the samples it indexes. It defines the metric, so it is never rewritten silently, and a
split that no longer matches its data stops training before it starts.
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


def _shown(values: list[int]) -> str:
    more = f" and {len(values) - SHOWN} more" if len(values) > SHOWN else ""
    return ", ".join(map(str, values[:SHOWN])) + more


def _indices(scan: Scan) -> dict[str, np.ndarray]:
    try:
        return protocol.split_indices(scan.labels)
    except ValueError as error:  # too few samples of a class to stratify
        counts = np.bincount(scan.labels, minlength=len(scan.classes))
        fewest = int(counts.argmin())
        raise UserError(
            f"cannot split {scan.data_dir}: class {scan.classes[fewest]!r} has "
            f"{counts[fewest]} sample(s), too few for a stratified train/val/test split "
            f"({error}). Add samples of it or remove it."
        ) from None


def measure(scan: Scan, train: np.ndarray) -> dict[str, Any]:
    """Decode every sample once: the stored sizes and channels, and the training split's
    per-channel statistics. An unreadable sample stops here, naming its file."""
    sizes: set[tuple[int, int]] = set()
    channels: set[int] = set()
    in_train = np.zeros(len(scan), dtype=bool)
    in_train[train] = True

    def train_images():  # decodes every sample, yields the training ones
        for index in range(len(scan)):
            image = scan.read(index)
            sizes.add(tuple(image.shape[1:]))
            channels.add(image.shape[0])
            if in_train[index]:
                yield image

    mean, std = protocol.normalization_stats(train_images())
    if len(channels) > 1:
        raise UserError(f"{scan.data_dir} mixes images with {sorted(channels)} channels.")
    return {
        "channels": channels.pop(),
        "image_sizes": sorted(map(list, sizes)),
        "mean": mean,
        "std": std,
    }


def write(scan: Scan) -> tuple[Path, bool]:
    """Write the protocol's split of `scan`'s data beside it; False if already there."""
    target = protocol.split_path(scan.data_dir)
    indices = _indices(scan)
    if target.is_file():
        existing = json.loads(target.read_text())
        same_decoding = all(existing.get(key) == value for key, value in scan.decoding().items())
        if (
            existing.get("listing") == scan.listing
            and same_decoding
            and all(existing.get(name) == indices[name].tolist() for name in protocol.SPLITS)
        ):
            return target, False
        raise UserError(
            f"{target} holds another split of different data: the split defines the metric, "
            "so it is never rewritten silently. If the data changed on purpose, delete "
            f"{target} and split again (runs on the new split get a new data version)."
        )
    payload = {
        "format": scan.format,
        "classes": scan.classes,
        "samples": len(scan),
        "listing": scan.listing,
        **measure(scan, indices["train"]),
        **scan.decoding(),
        **{name: indices[name].tolist() for name in protocol.SPLITS},
    }
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(json.dumps(payload) + "\n")
    os.replace(partial, target)  # never a half-written split
    return target, True


def checked(path: Path, scan: Scan, num_classes: int | None) -> dict[str, Any]:
    """The split at `path`, after checking that it indexes exactly the data `scan` found."""
    split = json.loads(path.read_text())
    fix = f"delete {path} and split again (`python -m {__package__} split {scan.data_dir}`)"
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
    seen: dict[int, str] = {}
    for name in protocol.SPLITS:
        indices = split.get(name, [])
        beyond = [index for index in indices if not 0 <= index < len(scan)]
        if beyond:
            raise UserError(
                f"{path} names samples {_shown(beyond)} of {name}, but {scan.data_dir} holds "
                f"{len(scan)} samples: {fix}."
            )
        shared = [index for index in indices if index in seen]
        if shared:
            raise UserError(
                f"{path} puts samples {_shown(shared)} in both {seen[shared[0]]} and {name}, "
                f"so the metric would test on what it trained on: {fix}."
            )
        seen.update(dict.fromkeys(indices, name))
    if split.get("listing") != scan.listing:
        raise UserError(
            f"{scan.data_dir} changed since {path} was written (samples added, removed, "
            f"renamed or relabelled): restore the data (`dvc checkout`), or {fix}."
        )
    return split
