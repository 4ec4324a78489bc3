"""Image folders decoded by research-rigor's policy through this project's own code: the
split records the policy, the data config cannot contradict it, and a dataset mixing
pixel types is refused before anything is written. (Each format's faithful decoding is
tested in research-rigor, whose `research_rigor.images` the metric definition names.)
"""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from research_rigor import splits
from research_rigor.errors import UserError

from {{ cookiecutter.package_name }}.data import __main__ as split_command
from {{ cookiecutter.package_name }}.data import folders
from {{ cookiecutter.package_name }}.data.folders import ImageFolderDataModule

HEIGHT, WIDTH = 6, 5
TWELVE_BIT = [0, 4095]  # a 12-bit camera's range, stored in 16-bit files
RNG = np.random.default_rng(0)


def values(dtype: str, channels: int = 0, high: int | None = None) -> np.ndarray:
    """Random pixels of `dtype`, (H, W) or (H, W, channels), spanning the type's range."""
    shape = (HEIGHT, WIDTH, channels) if channels else (HEIGHT, WIDTH)
    top = high if high is not None else np.iinfo(dtype).max
    return RNG.integers(0, top, shape, endpoint=True).astype(dtype)


def saved(path: Path, image: Image.Image, **options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)
    return path


def test_a_dataset_mixing_pixel_types_is_refused_and_nothing_written(tmp_path):
    data = tmp_path / "mixed"
    for name in ("a", "b"):
        for index in range(10):
            saved(data / name / f"{index}.png", Image.fromarray(values("uint8")))
    wide = saved(data / "b" / "wide.png", Image.fromarray(values("uint16")))
    with pytest.raises(UserError) as error:
        splits.write(folders.scan(data))
    assert "\n" not in str(error.value) and str(wide) in str(error.value)
    assert not splits.split_path(data).exists()


def test_the_split_records_the_policy_and_the_config_cannot_contradict_it(tmp_path):
    data = tmp_path / "micro"
    for name in ("a", "b"):
        for index in range(10):
            saved(data / name / f"{index}.png", Image.fromarray(values("uint16", high=4095)))
    path, _ = splits.write(folders.scan(data, TWELVE_BIT))
    split = json.loads(path.read_text())
    assert (split["pixel_type"], split["pixel_range"]) == ("uint16", TWELVE_BIT)
    module = ImageFolderDataModule(data, batch_size=4, pixel_range=TWELVE_BIT)
    module.setup()
    assert module.datasets["train"][0][0].shape == (1, HEIGHT, WIDTH)
    with pytest.raises(UserError) as error:
        ImageFolderDataModule(data, batch_size=4, pixel_range=[0, 65535]).setup()
    assert "\n" not in str(error.value) and "part of the metric's definition" in str(error.value)
    with pytest.raises(UserError, match="never rewritten silently"):
        splits.write(folders.scan(data, [0, 65535]))


def test_the_split_command_reads_the_range_from_the_config_or_the_command_line(tmp_path):
    config = tmp_path / "micro.yaml"
    assert split_command.declared_range(config, None) is None
    config.write_text(f"pixel_range: {TWELVE_BIT}\n")
    assert split_command.declared_range(config, None) == TWELVE_BIT
    assert split_command.declared_range(config, [0.0, 4095.0]) == TWELVE_BIT
    with pytest.raises(UserError) as error:
        split_command.declared_range(config, [0, 255])
    assert "\n" not in str(error.value) and "contradicts" in str(error.value)
