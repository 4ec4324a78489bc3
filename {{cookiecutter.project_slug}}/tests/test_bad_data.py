"""Bad data stop before training with one line that names the file and the fix, and the
data are left as they were."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from research_rigor import splits
from research_rigor.errors import UserError

from {{ cookiecutter.package_name }}.data import arrays, folders
from {{ cookiecutter.package_name }}.data.arrays import ArrayDataModule
from {{ cookiecutter.package_name }}.data.folders import ImageFolderDataModule

CLASSES = ("cat", "dog")
PER_CLASS = 10  # enough for a stratified train/val/test split of two classes
SIZE = 12


def write_images(root: Path, sizes: tuple[int, ...] = (SIZE,)) -> Path:
    """A small class-per-folder dataset; image i of a class has sizes[i % len(sizes)]."""
    rng = np.random.default_rng(0)
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        for index in range(PER_CLASS):
            side = sizes[index % len(sizes)]
            pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{index}.png")
    return root


def split_of(data_dir: Path) -> Path:
    path, written = splits.write(folders.scan(data_dir))
    assert written
    return path


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message, message
    return message


def test_an_empty_class_folder_is_named(tmp_path):
    data = write_images(tmp_path / "pets")
    (data / "bird").mkdir()
    with pytest.raises(UserError) as error:
        folders.scan(data)
    assert str(data / "bird") in one_line(error) and "holds no images" in str(error.value)


def test_a_corrupt_image_is_named_and_nothing_is_written(tmp_path):
    data = write_images(tmp_path / "pets")
    broken = data / "dog" / "3.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(UserError) as error:
        splits.write(folders.scan(data))
    assert str(broken) in one_line(error) and "replace or delete it" in str(error.value)
    assert not splits.split_path(data).exists()
    assert broken.read_bytes() == b"not an image"


def test_a_truncated_image_is_named(tmp_path):
    data = write_images(tmp_path / "pets")
    cut = data / "cat" / "0.png"
    cut.write_bytes(cut.read_bytes()[:60])
    with pytest.raises(UserError) as error:
        splits.write(folders.scan(data))
    assert str(cut) in one_line(error)


def test_mixed_sizes_need_an_image_size(tmp_path):
    data = write_images(tmp_path / "pets", sizes=(SIZE, SIZE + 4))
    split_of(data)
    with pytest.raises(UserError) as error:
        _ = ImageFolderDataModule(data, batch_size=4).input_shape
    assert "image_size" in one_line(error) and "12x12" in str(error.value)
    resized = ImageFolderDataModule(data, batch_size=4, image_size=[SIZE, SIZE])
    resized.setup()
    assert resized.input_shape == (3, SIZE, SIZE)
    assert resized.datasets["train"][0][0].shape == (3, SIZE, SIZE)


def _edit_split(data: Path, change) -> None:
    path = splits.split_path(data)
    split = json.loads(path.read_text())
    change(split)
    path.write_text(json.dumps(split))


def test_a_split_index_beyond_the_data_is_refused(tmp_path):
    data = write_images(tmp_path / "pets")
    split_of(data)
    _edit_split(data, lambda split: split["test"].append(2 * PER_CLASS + 5))
    with pytest.raises(UserError) as error:
        ImageFolderDataModule(data, batch_size=4).setup()
    assert "25" in one_line(error) and "holds 20 samples" in str(error.value)


def test_a_split_that_overlaps_is_refused(tmp_path):
    data = write_images(tmp_path / "pets")
    split_of(data)
    _edit_split(data, lambda split: split["test"].append(split["train"][0]))
    with pytest.raises(UserError) as error:
        ImageFolderDataModule(data, batch_size=4).setup()
    assert "in both train and test" in one_line(error)


def test_a_file_added_after_the_split_is_refused(tmp_path):
    data = write_images(tmp_path / "pets")
    split_of(data)
    (data / "cat" / "extra.png").write_bytes((data / "cat" / "0.png").read_bytes())
    with pytest.raises(UserError) as error:
        ImageFolderDataModule(data, batch_size=4).setup()
    assert "changed since" in one_line(error)


def test_labels_outside_num_classes_are_refused(tmp_path):
    data = tmp_path / "arrays"
    data.mkdir()
    np.save(data / arrays.IMAGES_FILE, np.zeros((40, 4, 4), dtype=np.float32))
    np.save(data / arrays.LABELS_FILE, np.arange(40) % 4 * 4)  # labels 0, 4, 8, 12
    splits.write(arrays.scan(data))
    with pytest.raises(UserError) as error:
        ArrayDataModule(data, num_classes=10, batch_size=4).setup()
    assert "labels 12 outside 0..9" in one_line(error)


def test_a_missing_split_says_how_to_write_it(tmp_path):
    data = write_images(tmp_path / "pets")
    with pytest.raises(UserError) as error:
        ImageFolderDataModule(data, batch_size=4).prepare_data()
    assert f"split {data}" in one_line(error)
