"""The data: splits, label alignment, normalization, shapes, reproducibility."""

import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from {{ cookiecutter.package_name }}.data import protocol
from {{ cookiecutter.package_name }}.data.digits import SPLIT_FILE, DigitsDataModule, prepare

NORMALIZATION_TOLERANCE = 1e-4
KNOWN_INDICES = (0, 1, 2, 100, 1000, 1796)  # spot checks against scikit-learn's copy


@pytest.fixture(scope="module")
def source():
    return load_digits()


@pytest.fixture(scope="module")
def split(data_dir):
    indices = json.loads((data_dir / SPLIT_FILE).read_text())
    return {name: np.array(values) for name, values in indices.items()}


def test_splits_are_disjoint_and_cover_the_dataset(split, source):
    train, val, test = (set(split[name].tolist()) for name in protocol.SPLITS)
    assert not train & val and not train & test and not val & test
    assert train | val | test == set(range(len(source.target)))


def test_split_sizes_follow_the_protocol(split, source):
    total = len(source.target)
    assert abs(len(split["test"]) / total - protocol.TEST_FRACTION) < 0.01
    assert abs(len(split["val"]) / total - protocol.VAL_FRACTION) < 0.01


def test_same_seed_gives_the_same_split(split, source):
    again = protocol.split_indices(source.target)
    for name in protocol.SPLITS:
        np.testing.assert_array_equal(split[name], again[name])


def test_labels_stay_aligned_with_their_images(data_dir, datamodule, split, source):
    """Each known sample keeps its own label, in the prepared files and in the datasets."""
    images, labels = np.load(data_dir / "images.npy"), np.load(data_dir / "labels.npy")
    for index in KNOWN_INDICES:
        np.testing.assert_array_equal(images[index], source.images[index])
        assert labels[index] == source.target[index]
    for name in protocol.SPLITS:
        dataset_images, dataset_labels = datamodule.datasets[name].tensors
        np.testing.assert_array_equal(dataset_labels.numpy(), source.target[split[name]])
        position = len(split[name]) // 2
        raw = torch.from_numpy(source.images[split[name][position]].astype(np.float32))
        mean, std = protocol.normalization_stats(
            torch.from_numpy(source.images[split["train"]].astype(np.float32))
        )
        torch.testing.assert_close(dataset_images[position, 0], protocol.normalize(raw, mean, std))


def test_training_inputs_are_standardized(datamodule):
    images = datamodule.datasets["train"].tensors[0]
    assert abs(images.mean().item()) < NORMALIZATION_TOLERANCE
    assert abs(images.std().item() - 1.0) < NORMALIZATION_TOLERANCE


def test_shapes_and_dtypes(datamodule):
    for name in protocol.SPLITS:
        images, labels = datamodule.datasets[name].tensors
        assert images.shape[1:] == datamodule.input_shape
        assert images.dtype == torch.float32 and labels.dtype == torch.int64
        assert labels.min() >= 0 and labels.max() < datamodule.num_classes
    images, labels = next(iter(datamodule.train_dataloader()))
    assert images.shape == (datamodule.batch_size, *datamodule.input_shape)


def _samples(images: torch.Tensor, labels: torch.Tensor) -> list[tuple[int, list[float]]]:
    return list(zip(labels.tolist(), images.flatten(1).tolist(), strict=True))


def test_each_loader_serves_its_own_split_in_full(datamodule):
    """Each split, every sample once (val and test in order): `test/acc` is a test number."""
    loaders = {
        "train": datamodule.train_dataloader(),
        "val": datamodule.val_dataloader(),
        "test": datamodule.test_dataloader(),
    }
    for name, loader in loaders.items():
        served = _samples(*(torch.cat(parts) for parts in zip(*loader, strict=True)))
        expected = _samples(*datamodule.datasets[name].tensors)
        if name == "train":  # shuffled: the same samples in another order
            served, expected = sorted(served), sorted(expected)
        assert served == expected, f"the {name} loader does not serve the {name} split"


def test_training_batches_are_shuffled(datamodule):
    first = next(iter(datamodule.train_dataloader()))[1]
    assert not torch.equal(first, datamodule.datasets["train"].tensors[1][: len(first)])


def test_prepare_is_reproducible(tmp_path, data_dir):
    prepare(tmp_path)
    for path in data_dir.iterdir():
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


def test_missing_data_is_prepared_once_with_a_notice(tmp_path, capsys):
    module = DigitsDataModule(tmp_path / "digits", batch_size=8)
    module.prepare_data()
    assert "dvc repro prepare" in capsys.readouterr().err
    module.prepare_data()
    assert capsys.readouterr().err == ""
