"""The evaluation protocol a project's metric rests on: the split and its folds, the
training-only normalization statistics, the split file that records them and refuses data
it was not written for, and the datamodule that serves each split from it.

Everything runs on small synthetic arrays made here; no training.
"""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from research_rigor import splits
from research_rigor.datamodule import ClassificationDataModule
from research_rigor.errors import UserError
from research_rigor.splits import ChannelStats, Scan, digest

CLASS_SIZES = (200, 120, 60)  # unequal and many: a split that ignores the labels shows
CLASSES = [f"class{label}" for label in range(len(CLASS_SIZES))]
CHANNELS, HEIGHT, WIDTH = 2, 4, 3
FOLDS = 3
COMMAND = "python -m probe.data split"  # how the project under test writes a split
BATCH_SIZE = 8
SHIFT = 100.0  # added to the held-out images: far outside the training pixels' range
EXACT = 1e-9  # float64 rounding of a sum over a few hundred pixels
RNG = np.random.default_rng(0)


def shuffled_labels() -> np.ndarray:
    """CLASS_SIZES samples of each class, interleaved as real data come."""
    labels = np.repeat(np.arange(len(CLASS_SIZES)), CLASS_SIZES)
    return np.random.default_rng(1).permutation(labels)


LABELS = shuffled_labels()
IMAGES = RNG.normal(3.0, 2.0, (len(LABELS), CHANNELS, HEIGHT, WIDTH))


def scan_of(
    data_dir: Path,
    images: list[np.ndarray] | np.ndarray,
    labels: np.ndarray,
    names: list[str] | None = None,
) -> Scan:
    """A data folder's scan as a format makes it: one name per sample, the digest of the
    names and labels, and the pixels read on demand."""
    names = names if names is not None else [f"sample{index}" for index in range(len(labels))]
    classes = [f"class{label}" for label in range(int(labels.max()) + 1)]
    return Scan(
        format="arrays",
        data_dir=data_dir,
        classes=classes,
        labels=labels,
        listing=digest(names, labels),
        read=lambda index: np.asarray(images[index], dtype=np.float64),
    )


def pixel_stats(images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """numpy's per-channel mean and std over every pixel of `images`, whatever their sizes."""
    pixels = np.concatenate([image.reshape(image.shape[0], -1) for image in images], axis=1)
    return pixels.mean(axis=1), pixels.std(axis=1)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


# The protocol's indices


def test_the_split_covers_every_sample_once_and_keeps_each_class_share():
    """Disjoint parts that cover the data, each with the data's class shares up to rounding,
    and the same parts on every call: the split defines the metric."""
    parts = splits.split_indices(LABELS)
    joined = np.concatenate([parts[name] for name in splits.SPLITS])
    assert sorted(joined.tolist()) == list(range(len(LABELS)))
    fractions = {"val": splits.VAL_FRACTION, "test": splits.TEST_FRACTION}
    fractions["train"] = 1.0 - fractions["val"] - fractions["test"]
    for name, fraction in fractions.items():
        counts = np.bincount(LABELS[parts[name]], minlength=len(CLASS_SIZES))
        # rounded cuts (test, then val out of the rest): within one sample of each share
        assert np.abs(counts - fraction * np.array(CLASS_SIZES)).max() <= 1, name
    again = splits.split_indices(LABELS)
    assert all(np.array_equal(parts[name], again[name]) for name in splits.SPLITS)


def test_k_fold_tests_every_sample_exactly_once():
    """Under k-fold each sample is tested by one fold and trained or validated on by the
    others; within a fold, train, val and test are disjoint and cover the data."""
    folds = splits.fold_indices(LABELS, FOLDS)
    assert len(folds) == FOLDS
    tested = np.concatenate([fold["test"] for fold in folds])
    assert sorted(tested.tolist()) == list(range(len(LABELS)))
    for fold in folds:
        joined = np.concatenate([fold[name] for name in splits.SPLITS])
        assert sorted(joined.tolist()) == list(range(len(LABELS)))
        counts = np.bincount(LABELS[fold["test"]], minlength=len(CLASS_SIZES))
        assert np.abs(counts - np.array(CLASS_SIZES) / FOLDS).max() <= 1
    again = splits.fold_indices(LABELS, FOLDS)
    assert all(np.array_equal(a["test"], b["test"]) for a, b in zip(folds, again, strict=True))


# Normalization statistics


def test_channel_stats_are_numpys_over_every_pixel_of_images_of_different_sizes():
    """Added one image at a time, the statistics are those of all the pixels at once, so an
    image's weight is its pixel count, not one vote per image."""
    shapes = ((0.0, 2, 3), (5.0, 7, 4), (-3.0, 1, 1), (1.0, 5, 9))  # (mean, H, W)
    images = [
        RNG.normal(centre, 1.5, (CHANNELS, height, width)) for centre, height, width in shapes
    ]
    mean, std = splits.normalization_stats(images)
    expected_mean, expected_std = pixel_stats(images)
    assert mean == pytest.approx(expected_mean.tolist(), abs=EXACT)
    assert std == pytest.approx(expected_std.tolist(), abs=EXACT)
    normalized = [splits.normalize(image, mean, std) for image in images]
    centred_mean, unit_std = pixel_stats(normalized)
    assert centred_mean == pytest.approx([0.0] * CHANNELS, abs=1e-6)
    assert unit_std == pytest.approx([1.0] * CHANNELS, abs=1e-6)


def test_a_constant_channel_is_left_at_its_scale():
    """A channel that never varies gets std 1, not 0: normalizing it must not divide by 0."""
    stats = ChannelStats()
    for height in (2, 5):
        varying = RNG.normal(size=(1, height, WIDTH))
        stats.add(np.concatenate([varying, np.full((1, height, WIDTH), 7.0)]))
    mean, std = stats.result()
    assert mean[1] == pytest.approx(7.0)
    assert std[1] == 1.0
    assert std[0] != 1.0


# The split file


def test_a_written_split_reads_back_with_the_protocols_indices_and_training_statistics(
    data_dir: Path,
):
    scan = scan_of(data_dir, IMAGES, LABELS)
    path, written = splits.write(scan, folds=FOLDS)
    assert (path, written) == (splits.split_path(data_dir), True)
    assert path.parent == data_dir.parent  # beside the data, not inside
    split = splits.checked(path, scan, len(CLASS_SIZES), COMMAND)
    parts = splits.split_indices(LABELS)
    assert all(split[name] == parts[name].tolist() for name in splits.SPLITS)
    assert split["classes"] == CLASSES
    mean, std = pixel_stats(list(IMAGES[parts["train"]]))
    assert split["mean"] == pytest.approx(mean.tolist(), abs=EXACT)
    assert split["std"] == pytest.approx(std.tolist(), abs=EXACT)
    folds = splits.fold_indices(LABELS, FOLDS)
    for recorded, fold in zip(split[splits.FOLDS_KEY], folds, strict=True):
        assert recorded["test"] == fold["test"].tolist()
        fold_mean, _ = pixel_stats(list(IMAGES[fold["train"]]))
        assert recorded["mean"] == pytest.approx(fold_mean.tolist(), abs=EXACT)
    assert splits.write(scan) == (path, False)  # the same split again: nothing to write


# A change to the data since its split was written: the labels and names of the samples now.


def relabelled(labels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    changed = labels.copy()
    changed[0] = (changed[0] + 1) % len(CLASS_SIZES)
    return changed, [f"sample{index}" for index in range(len(labels))]


def added(labels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    return np.append(labels, 0), [f"sample{index}" for index in range(len(labels) + 1)]


def removed(labels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    return labels[:-1], [f"sample{index}" for index in range(len(labels) - 1)]


def renamed(labels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    return labels, ["renamed"] + [f"sample{index}" for index in range(1, len(labels))]


@pytest.mark.parametrize("change", [relabelled, added, removed, renamed])
def test_a_split_refuses_data_it_was_not_written_for_in_one_line_naming_the_fix(
    data_dir: Path, change
):
    """Training on other data would report a metric of another split: refused in one line
    that says to split again, with the project's command and the split's folds."""
    path, _ = splits.write(scan_of(data_dir, IMAGES, LABELS), folds=FOLDS)
    labels, names = change(LABELS)
    images = np.concatenate([IMAGES, IMAGES[:1]])  # enough for the added sample
    with pytest.raises(UserError) as refusal:
        splits.checked(path, scan_of(data_dir, images, labels, names), None, COMMAND)
    message = str(refusal.value)
    assert "\n" not in message
    assert f"delete {path}" in message
    assert f"`{COMMAND} {data_dir} --folds {FOLDS}`" in message


def test_write_never_overwrites_a_different_split(data_dir: Path):
    """The split defines the metric: new data beside an old split stop the write, and the old
    split stays as it was."""
    path, _ = splits.write(scan_of(data_dir, IMAGES, LABELS))
    before = path.read_text()
    labels, names = relabelled(LABELS)
    with pytest.raises(UserError, match=re.escape(f"delete {path} and split again")):
        splits.write(scan_of(data_dir, IMAGES, labels, names))
    with pytest.raises(UserError, match="with no folds, not 3"):
        splits.write(scan_of(data_dir, IMAGES, LABELS), folds=FOLDS)
    assert path.read_text() == before
    assert sorted(file.name for file in data_dir.parent.iterdir()) == ["data", path.name]


def test_a_write_that_fails_leaves_no_split_behind(data_dir: Path):
    """An image with other channels found while measuring: no split, and no partial file."""
    images = list(IMAGES)
    images[-1] = images[-1][:1]
    with pytest.raises(UserError, match=r"mixes images with \[1, 2\] channels"):
        splits.write(scan_of(data_dir, images, LABELS))
    assert [file.name for file in data_dir.parent.iterdir()] == ["data"]


def test_more_folds_than_the_smallest_class_has_samples_is_refused_naming_the_class(
    data_dir: Path,
):
    fewest = min(CLASS_SIZES)
    with pytest.raises(UserError) as refusal:
        splits.write(scan_of(data_dir, IMAGES, LABELS), folds=fewest + 1)
    message = str(refusal.value)
    assert f"class {CLASSES[CLASS_SIZES.index(fewest)]!r} has {fewest} sample(s)" in message
    assert f"Lower --folds to {fewest}" in message
    assert not splits.split_path(data_dir).exists()


def test_held_out_serves_the_folds_indices_and_statistics(data_dir: Path):
    """data.fold=i trains, validates and tests on fold i's parts, normalized by fold i's own
    training statistics; no fold serves the protocol's split."""
    path, _ = splits.write(scan_of(data_dir, IMAGES, LABELS), folds=FOLDS)
    split = splits.checked(path, scan_of(data_dir, IMAGES, LABELS), None, COMMAND)
    assert splits.held_out(split, None, path, COMMAND) is split
    for fold, recorded in enumerate(split[splits.FOLDS_KEY]):
        served = splits.held_out(split, fold, path, COMMAND)
        assert {key: served[key] for key in recorded} == recorded
        assert served["classes"] == CLASSES
    with pytest.raises(UserError, match=f"choose data.fold from 0 to {FOLDS - 1}"):
        splits.held_out(split, FOLDS, path, COMMAND)


def test_a_fold_of_a_split_without_folds_names_the_command_that_writes_them(data_dir: Path):
    path, _ = splits.write(scan_of(data_dir, IMAGES, LABELS))
    split = splits.checked(path, scan_of(data_dir, IMAGES, LABELS), None, COMMAND)
    with pytest.raises(UserError, match=re.escape(f"`{COMMAND} {data_dir} --folds 5`")):
        splits.held_out(split, 0, path, COMMAND)


# The datamodule


class Samples(Dataset):
    """The samples at `indices`, normalized, each with its index so a test sees which."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, indices: np.ndarray, split: dict):
        self.images, self.indices = images, indices
        self.labels = labels[indices]
        self.mean, self.std = split["mean"], split["std"]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, int, int]:
        index = int(self.indices[position])
        image = splits.normalize(self.images[index], self.mean, self.std)
        return torch.from_numpy(image), int(self.labels[position]), index


class InMemoryData(ClassificationDataModule):
    """A format over arrays held in memory: the least a subclass implements."""

    __module__ = "probe.data.memory"  # as if in a project's data package, whose split is COMMAND

    def __init__(
        self, data_dir: Path, images: np.ndarray, labels: np.ndarray = LABELS, **settings
    ) -> None:
        super().__init__(data_dir, BATCH_SIZE, **settings)
        self.images, self.labels = images, labels

    def scan(self) -> Scan:
        return scan_of(self.data_dir, self.images, self.labels)

    def dataset(self, indices: np.ndarray) -> Samples:
        return Samples(self.images, self.labels, indices, self.split)

    def sample_shape(self) -> tuple[int, int, int]:
        return CHANNELS, HEIGHT, WIDTH


def datamodule(data_dir: Path, images: np.ndarray = IMAGES, **settings) -> InMemoryData:
    """A datamodule over `images`, its split written first, as `split` writes it."""
    data_dir.mkdir(exist_ok=True)
    splits.write(scan_of(data_dir, images, LABELS), folds=FOLDS)
    data = InMemoryData(data_dir, images, **settings)
    data.setup("fit")
    return data


def served(loader: DataLoader) -> list[int]:
    """The sample indices `loader` serves, in its order."""
    return [index for _, _, indices in loader for index in indices.tolist()]


@pytest.mark.parametrize("fold", [None, 0, FOLDS - 1])
def test_the_training_statistics_ignore_the_val_and_test_images(tmp_path: Path, fold):
    """The statistics are numpy's over the training images, and val and test images moved far
    away leave them where they were: nothing of them leaks into the normalization the model
    trains with, under the protocol's split or a fold."""
    data = datamodule(tmp_path / "data", fold=fold)
    mean, std = pixel_stats(list(IMAGES[data.split["train"]]))
    assert data.mean == pytest.approx(mean.tolist(), abs=EXACT)
    assert data.std == pytest.approx(std.tolist(), abs=EXACT)
    moved = IMAGES.copy()
    moved[data.split["val"] + data.split["test"]] += SHIFT
    apart = datamodule(tmp_path / "moved", moved, fold=fold)
    assert apart.mean == pytest.approx(data.mean, abs=EXACT)
    assert apart.std == pytest.approx(data.std, abs=EXACT)


def test_each_loader_serves_its_own_split(data_dir: Path):
    """Every training sample once per epoch, and val and test in the split file's order."""
    data = datamodule(data_dir)
    assert sorted(served(data.train_dataloader())) == data.split["train"]
    assert served(data.val_dataloader()) == data.split["val"]
    assert served(data.test_dataloader()) == data.split["test"]


def test_a_fold_serves_its_held_out_part_as_the_test_split(tmp_path: Path):
    folds = splits.fold_indices(LABELS, FOLDS)
    for fold in range(FOLDS):
        data = datamodule(tmp_path / str(fold), fold=fold)
        assert served(data.test_dataloader()) == folds[fold]["test"].tolist()
        assert data.held_out == (fold, FOLDS)


def first_batch(data: InMemoryData, global_seed: int) -> list[int]:
    torch.manual_seed(global_seed)
    _, _, indices = next(iter(data.train_dataloader()))
    return indices.tolist()


def test_the_training_order_follows_the_order_seed_alone(tmp_path: Path):
    """The initialization's seed (torch's global one) never moves the order; the order seed
    does."""
    one = datamodule(tmp_path / "one", order_seed=1)
    same = datamodule(tmp_path / "same", order_seed=1)
    other = datamodule(tmp_path / "other", order_seed=2)
    assert first_batch(one, global_seed=0) == first_batch(same, global_seed=1)
    assert first_batch(one, global_seed=0) != first_batch(other, global_seed=0)
    assert first_batch(one, global_seed=0) != sorted(first_batch(one, global_seed=0))


def test_the_datamodule_stops_before_training_on_changed_data(data_dir: Path):
    """A relabelled sample since the split was written: refused when the split is first read,
    naming the subclass's split command."""
    datamodule(data_dir)
    labels, _ = relabelled(LABELS)
    changed = InMemoryData(data_dir, IMAGES, labels)
    with pytest.raises(UserError, match="changed since") as refusal:
        changed.setup("fit")
    assert f"`{COMMAND} {data_dir} --folds {FOLDS}`" in str(refusal.value)
    assert not changed.datasets


def test_a_missing_split_names_the_command_of_the_subclass_package(data_dir: Path):
    """By default the command is `python -m <the package holding the format> split`."""
    elsewhere = type("ArrayData", (InMemoryData,), {"__module__": "lab.formats.arrays"})
    data = elsewhere(data_dir, IMAGES)
    assert data.split_command == "python -m lab.formats split"
    with pytest.raises(UserError, match=re.escape(f"`{data.split_command} {data_dir}`")):
        data.setup("fit")
