"""The k-fold protocol on a copy of the digits: `split --folds K` and `data.fold=i`.

The folds are recomputed here as properties (disjoint, covering, stratified, each sample
tested once, statistics from each fold's training part only), not taken from the code
that wrote them; bad input stops with one line naming its cause and its fix.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from research_rigor import splits
from research_rigor.errors import UserError

from {{ cookiecutter.package_name }}.data.arrays import IMAGES_FILE, LABELS_FILE, ArrayDataModule

FOLDS = 3
HELD_OUT = 1
CLASSES = 10
STRATIFICATION_SLACK = 2  # samples per class: each of a fold's two cuts rounds once


def copy_of(data_dir: Path, target: Path) -> Path:
    """The digits' arrays in `target`, without a split."""
    target.mkdir()
    for name in (IMAGES_FILE, LABELS_FILE):
        (target / name).write_bytes((data_dir / name).read_bytes())
    return target


def module(data_dir: Path, fold: int | None = None) -> ArrayDataModule:
    return ArrayDataModule(data_dir, num_classes=CLASSES, batch_size=8, fold=fold)


@pytest.fixture(scope="module")
def folded(data_dir, tmp_path_factory) -> tuple[Path, dict]:
    """A copy of the digits split with `--folds 3`, and its split file."""
    copy = copy_of(data_dir, tmp_path_factory.mktemp("folds") / "digits")
    target, written = splits.write(module(copy).scan(), FOLDS)
    assert written
    return copy, json.loads(target.read_text())


def test_the_folds_test_every_sample_once_and_each_holds_train_val_and_test(folded):
    copy, split = folded
    samples = len(np.load(copy / LABELS_FILE))
    assert len(split[splits.FOLDS_KEY]) == FOLDS
    tested = [index for fold in split[splits.FOLDS_KEY] for index in fold["test"]]
    assert sorted(tested) == list(range(samples))
    for fold in split[splits.FOLDS_KEY]:
        train, val, test = (set(fold[name]) for name in splits.SPLITS)
        assert not train & val and not train & test and not val & test
        assert train | val | test == set(range(samples))


def test_each_fold_holds_the_datasets_class_shares(folded):
    copy, split = folded
    labels = np.load(copy / LABELS_FILE)
    shares = np.bincount(labels) / len(labels)
    for fold in split[splits.FOLDS_KEY]:
        for name in splits.SPLITS:
            counts = np.bincount(labels[fold[name]], minlength=CLASSES)
            assert np.abs(counts - shares * len(fold[name])).max() <= STRATIFICATION_SLACK


def test_each_folds_normalization_comes_from_its_own_training_part(folded):
    copy, split = folded
    images = np.load(copy / IMAGES_FILE)[:, None]  # (N, 1, 8, 8)
    for fold in split[splits.FOLDS_KEY]:
        train = images[fold["train"]].astype(np.float64)
        np.testing.assert_allclose(fold["mean"], [train.mean()], rtol=1e-9)
        np.testing.assert_allclose(fold["std"], [train.std()], rtol=1e-9)


def test_the_protocols_split_stays_what_it_is_without_folds(folded, data_dir):
    _, split = folded
    committed = json.loads(splits.split_path(data_dir).read_text())
    for key in (*splits.SPLITS, "mean", "std"):
        assert split[key] == committed[key], key


def test_data_fold_serves_that_folds_splits_and_statistics(folded):
    copy, split = folded
    held_out = module(copy, fold=HELD_OUT)
    held_out.setup()
    fold = split[splits.FOLDS_KEY][HELD_OUT]
    for name in splits.SPLITS:
        labels = np.load(copy / LABELS_FILE)[fold[name]]
        np.testing.assert_array_equal(held_out.datasets[name].labels, labels)
    assert (held_out.mean, held_out.std) == (fold["mean"], fold["std"])
    assert held_out.held_out == (HELD_OUT, FOLDS)
    assert module(copy).held_out is None


def test_splitting_again_keeps_the_folds_and_refuses_another_number(folded):
    copy, _ = folded
    scan = module(copy).scan()
    assert splits.write(scan) == (splits.split_path(copy), False)  # the split's own folds
    assert splits.write(scan, FOLDS)[1] is False
    with pytest.raises(UserError, match=f"a split with {FOLDS} folds, not {FOLDS + 1}") as error:
        splits.write(scan, FOLDS + 1)
    assert "\n" not in str(error.value) and "delete" in str(error.value)


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message, message
    return message


def test_a_fold_out_of_range_names_the_folds_there_are(folded):
    copy, _ = folded
    with pytest.raises(UserError) as error:
        module(copy, fold=FOLDS).setup()
    assert f"choose data.fold from 0 to {FOLDS - 1}" in one_line(error)


def test_a_fold_on_a_split_without_folds_says_how_to_write_them(data_dir, tmp_path):
    copy = copy_of(data_dir, tmp_path / "digits")
    (tmp_path / f"digits{splits.SPLIT_SUFFIX}").write_bytes(
        splits.split_path(data_dir).read_bytes()
    )
    with pytest.raises(UserError) as error:
        module(copy, fold=0).setup()
    message = one_line(error)
    assert "has no folds" in message and "--folds" in message and "drop data.fold" in message
    with pytest.raises(UserError) as error:
        splits.write(module(copy).scan(), FOLDS)
    assert "a split with no folds, not 3" in one_line(error)


@pytest.mark.parametrize(("folds", "refusal"), [(1, "at least 2 folds"), (200, "Lower --folds")])
def test_too_few_folds_or_too_few_samples_per_class_are_refused(data_dir, tmp_path, folds, refusal):
    copy = copy_of(data_dir, tmp_path / "digits")
    with pytest.raises(UserError) as error:
        splits.write(module(copy).scan(), folds)
    assert refusal in one_line(error)
    assert not splits.split_path(copy).exists()


def test_a_fold_that_tests_on_its_training_samples_is_refused(folded, tmp_path):
    copy, split = folded
    moved = copy_of(copy, tmp_path / "digits")
    fold = split[splits.FOLDS_KEY][HELD_OUT]
    leaked = {**fold, "test": [*fold["test"], fold["train"][0]]}
    edited = {**split, splits.FOLDS_KEY: [*split[splits.FOLDS_KEY][:HELD_OUT], leaked]}
    splits.split_path(moved).write_text(json.dumps(edited))
    with pytest.raises(UserError) as error:
        module(moved).setup()
    assert f"fold {HELD_OUT}'s train and test" in one_line(error)
