"""The data, for every dataset the project has: splits, labels, normalization, loaders.

Each test reads a small sample; what it compares against is recomputed here from the
files themselves (numpy for arrays, Pillow for images), not taken from the datamodule.
"""

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps
from research_rigor import splits
from research_rigor.errors import UserError
from research_rigor.images import RESAMPLING
from sklearn.datasets import load_digits

from {{ cookiecutter.package_name }}.data.arrays import IMAGES_FILE, LABELS_FILE, ArrayDataModule
from {{ cookiecutter.package_name }}.data.digits import DigitsDataModule

from .conftest import BATCH

SAMPLE = 16  # samples per split checked one by one against the raw files
MAX_EXACT_STATS = 5_000  # up to this many training samples, the statistics are recomputed
STANDARDIZED_TOLERANCE = 0.25  # |mean| and |std - 1| of a normalized batch of training samples
STRATIFICATION_SLACK = 2  # samples per class: each of the protocol's two cuts rounds once
AS_STORED = ("L", "RGB", "I;16", "I;16B", "I", "F")  # modes numpy reads without a conversion


@pytest.fixture(scope="module")
def split(datamodule) -> dict:
    return json.loads(datamodule.split_file.read_text())


def spread(indices: list[int], count: int = SAMPLE) -> list[int]:
    """Positions spread over a split: first, last and evenly between."""
    return sorted({int(p) for p in np.linspace(0, len(indices) - 1, min(count, len(indices)))})


def reference_image(path, channels: int, pixel_range: list[float], size) -> np.ndarray:
    """An image as the model should see it, recomputed with Pillow and numpy alone: upright
    by its EXIF orientation, its stored values scaled by the range, resized channel by
    channel as floats."""
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened)
        if image.mode not in AS_STORED:
            image = image.convert("L" if channels == 1 else "RGB")
        pixels = np.asarray(image, dtype=np.float64)
    low, high = pixel_range
    pixels = (pixels.reshape(*pixels.shape[:2], -1)[..., :channels] - low) / (high - low)
    pixels = np.broadcast_to(pixels, (*pixels.shape[:2], channels)).transpose(2, 0, 1)
    height, width = size
    return np.stack(
        [
            np.asarray(
                Image.fromarray(channel.astype(np.float32)).resize((width, height), RESAMPLING)
            )
            for channel in pixels
        ]
    )


def raw_sample(datamodule, index: int) -> tuple[np.ndarray, int]:
    """Sample `index` of the dataset, straight from its file, at the size the model sees."""
    if isinstance(datamodule, ArrayDataModule):
        images = np.load(datamodule.data_dir / IMAGES_FILE, mmap_mode="r")
        labels = np.load(datamodule.data_dir / LABELS_FILE)
        image = np.asarray(images[index], dtype=np.float64)
        return (image[None] if image.ndim == 2 else image), int(labels[index])
    path = datamodule.scan().files[index]
    channels, *size = datamodule.input_shape
    image = reference_image(path, channels, datamodule.split["pixel_range"], size)
    label = datamodule.classes.index(path.relative_to(datamodule.data_dir).parts[0])
    return image, label


def test_splits_are_disjoint_and_cover_the_dataset(split, datamodule):
    train, val, test = (set(split[name]) for name in splits.SPLITS)
    assert not train & val and not train & test and not val & test
    assert train | val | test == set(range(len(datamodule.scan())))


def test_split_sizes_follow_the_protocol(split):
    total = sum(len(split[name]) for name in splits.SPLITS)
    assert abs(len(split["test"]) / total - splits.TEST_FRACTION) < 0.01
    assert abs(len(split["val"]) / total - splits.VAL_FRACTION) < 0.01


def test_the_split_file_is_the_protocols_split_of_these_data(split, datamodule):
    """The committed split is what the protocol gives for these labels, stratified."""
    again = splits.split_indices(datamodule.scan().labels)
    for name in splits.SPLITS:
        assert split[name] == again[name].tolist(), f"{name} differs from the protocol's split"


def raw_labels(datamodule) -> np.ndarray:
    """Every sample's label, read from the data themselves: labels.npy, or the name of the
    class folder each file lies in (classes in sorted order)."""
    if isinstance(datamodule, ArrayDataModule):
        return np.load(datamodule.data_dir / LABELS_FILE)
    folders = [path.relative_to(datamodule.data_dir).parts[0] for path in datamodule.scan().files]
    return np.searchsorted(sorted(set(folders)), folders)


def test_every_split_holds_the_datasets_class_shares(split, datamodule):
    """Stratification as a property: in each split, every class's count is its share of the
    whole dataset times the split's size, within rounding (whatever the protocol code says)."""
    labels = raw_labels(datamodule)
    shares = np.bincount(labels) / len(labels)
    for name in splits.SPLITS:
        counts = np.bincount(labels[split[name]], minlength=len(shares))
        off = np.abs(counts - shares * len(split[name]))
        assert off.max() <= STRATIFICATION_SLACK, (
            f"{name}: class {off.argmax()} has {counts[off.argmax()]} samples, its share of "
            f"the dataset would give {shares[off.argmax()] * len(split[name]):.1f}"
        )


def test_the_prepared_digits_are_scikit_learns(data_dir):
    """The embedded dataset's prepared samples and labels are its source's, in order."""
    digits = load_digits()
    np.testing.assert_array_equal(np.load(data_dir / IMAGES_FILE), digits.images)
    np.testing.assert_array_equal(np.load(data_dir / LABELS_FILE), digits.target)


def test_labels_stay_aligned_with_their_inputs(datamodule, split):
    """Spread samples of each split: label and pixels equal the raw file's, normalized."""
    mean, std = np.array(datamodule.mean), np.array(datamodule.std)
    for name in splits.SPLITS:
        dataset = datamodule.datasets[name]
        for position in spread(split[name]):
            raw, label = raw_sample(datamodule, split[name][position])
            image, served_label = dataset[position]
            assert served_label.item() == label == dataset.labels[position], (name, position)
            expected = (raw - mean[:, None, None]) / std[:, None, None]
            np.testing.assert_allclose(image.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_normalization_statistics_come_from_the_training_split_only(datamodule, split):
    if len(split["train"]) > MAX_EXACT_STATS:
        pytest.skip(f"over {MAX_EXACT_STATS} training samples: the split command measured them")
    mean, std = splits.normalization_stats(datamodule.scan().images(split["train"]))
    np.testing.assert_allclose(datamodule.mean, mean, rtol=1e-9)
    np.testing.assert_allclose(datamodule.std, std, rtol=1e-9)


def test_training_batches_are_standardized_per_channel(batch):
    images = batch[0].transpose(0, 1).flatten(1)  # (channels, pixels)
    assert images.mean(dim=1).abs().max() < STANDARDIZED_TOLERANCE
    assert (images.std(dim=1) - 1).abs().max() < STANDARDIZED_TOLERANCE


def test_shapes_and_dtypes(datamodule):
    for name in splits.SPLITS:
        image, label = datamodule.datasets[name][0]
        assert image.shape == datamodule.input_shape
        assert image.dtype == torch.float32 and label.dtype == torch.int64
        labels = datamodule.datasets[name].labels
        assert labels.min() >= 0 and labels.max() < datamodule.num_classes
    images, labels = next(iter(datamodule.train_dataloader()))
    assert images.shape == (min(BATCH, datamodule.batch_size), *datamodule.input_shape)


def test_val_and_test_loaders_serve_their_own_split_in_order(datamodule, split):
    """`test/acc` is a test number: the test loader serves the test split, in order."""
    for name in ("val", "test"):
        loader = getattr(datamodule, f"{name}_dataloader")()
        images, labels = next(iter(loader))
        assert labels.tolist() == datamodule.datasets[name].labels[: len(labels)].tolist()
        raw, _ = raw_sample(datamodule, split[name][0])
        mean, std = np.array(datamodule.mean), np.array(datamodule.std)
        expected = (raw - mean[:, None, None]) / std[:, None, None]
        np.testing.assert_allclose(images[0].numpy(), expected, rtol=1e-5, atol=1e-5)
        assert len(loader.dataset) == len(split[name]), f"the {name} loader serves another split"


def test_training_batches_are_shuffled(datamodule):
    first = next(iter(datamodule.train_dataloader()))[1]
    assert not np.array_equal(first.numpy(), datamodule.datasets["train"].labels[: len(first)])


def test_missing_digits_are_prepared_once_with_a_notice(tmp_path, capsys, data_dir):
    (tmp_path / f"digits{splits.SPLIT_SUFFIX}").write_bytes(
        splits.split_path(data_dir).read_bytes()
    )
    module = DigitsDataModule(tmp_path / "digits", batch_size=8)
    module.prepare_data()
    assert "dvc repro prepare" in capsys.readouterr().err
    module.prepare_data()
    assert capsys.readouterr().err == ""
    assert module.num_classes == 10 and module.input_shape == (1, 8, 8)


def test_an_existing_split_is_kept_when_it_matches_and_refused_when_not(tmp_path, data_dir):
    copy = tmp_path / "digits"
    copy.mkdir()
    for name in (IMAGES_FILE, LABELS_FILE):
        (copy / name).write_bytes((data_dir / name).read_bytes())
    (tmp_path / f"digits{splits.SPLIT_SUFFIX}").write_bytes(
        splits.split_path(data_dir).read_bytes()
    )
    scan = ArrayDataModule(copy, num_classes=10, batch_size=8).scan()
    assert splits.write(scan) == (splits.split_path(copy), False)
    labels = np.load(copy / LABELS_FILE)
    np.save(copy / LABELS_FILE, labels[::-1].copy())
    module = ArrayDataModule(copy, num_classes=10, batch_size=8)
    with pytest.raises(UserError, match="never rewritten silently"):
        splits.write(module.scan())
    with pytest.raises(UserError, match="changed since"):
        module.setup()
