"""Golden values: fixed files decoded, resized and normalized, and fixed predictions scored,
against numbers committed in tests/golden/values.json.

The metric fingerprint covers this project's code and research-rigor's split protocol,
loaders and image decoding (named in metrics.py's DEFINITION); these cover the libraries
under them. A Pillow upgrade that decodes or resamples differently, or a torchmetrics upgrade that
scores differently, moves the metric without a line of this project changing: the
suite then fails here. If the change is deliberate (an upgrade you accept), bump
METRIC_VERSION in metrics.py and lock it, then re-record these values with
`python -m tests.test_golden` and commit them: numbers from before are not comparable.
"""

import json
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from research_rigor import images, splits

from {{ cookiecutter.package_name }}.evaluation import Predictions
from {{ cookiecutter.package_name }}.metrics import build_metric

GOLDEN = Path(__file__).parent / "golden"
VALUES = GOLDEN / "values.json"
SIZE = (5, 7)  # (H, W): every file is resampled, down and across its aspect ratio
MEAN, STD = 0.4, 0.2  # a normalization like a split's, per channel
TOLERANCE = 1e-5  # float32 arithmetic; any change of decoder, filter or scoring moves more
LIBRARIES = ("pillow", "torchmetrics", "torch", "numpy", "research-rigor")
FILTERS = ("NEAREST", "BOX", "HAMMING", "BICUBIC", "LANCZOS")  # all but the project's own
INSTRUCTION = (
    "a library upgrade or a decoding change moved the metric: if that is deliberate, bump "
    "METRIC_VERSION in metrics.py, lock it "
    "(`research-rigor metric lock`), "
    "re-record with `python -m tests.test_golden` and commit tests/golden/values.json"
)
# The files, written once by `write_files` and committed: their bytes stay fixed even
# if an encoder changes; what may change is how they decode.
FILES = ("grey16.png", "colour.jpg", "palette.png", "phone.png")
SHAPE = (12, 10)  # (H, W) of the stored files
CLASSES, SAMPLES = 4, 24  # the fixed predictions: their logits include ties


def write_files() -> None:
    """The golden input files: a 16-bit grey gradient with noise, an RGB JPEG, a palette
    image, and an 8-bit image whose EXIF says the camera was turned."""
    rng = np.random.default_rng(0)
    rows, columns = np.mgrid[: SHAPE[0], : SHAPE[1]]
    ramp = (rows * SHAPE[1] + columns) / (SHAPE[0] * SHAPE[1])
    grey = (ramp * 60000 + rng.integers(0, 5000, SHAPE)).astype(np.uint16)
    Image.fromarray(grey).save(GOLDEN / "grey16.png")
    colour = (np.dstack([ramp, ramp[::-1], ramp.T[:, ::-1].T]) * 255).astype(np.uint8)
    Image.fromarray(colour).save(GOLDEN / "colour.jpg", quality=90)
    palette = Image.fromarray(rng.integers(0, 6, SHAPE).astype(np.uint8), mode="L").convert("P")
    palette.putpalette(rng.integers(0, 256, 6 * 3).tolist())
    palette.save(GOLDEN / "palette.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # EXIF orientation: turned a quarter clockwise
    Image.fromarray((ramp * 255).astype(np.uint8)).save(GOLDEN / "phone.png", exif=exif)


def pixels(name: str) -> np.ndarray:
    """The file as the loaders serve it: decoded by its own policy, resized, normalized."""
    path = GOLDEN / name
    policy = images.policy_of([path], None)
    image = images.decode(path, policy, SIZE)
    return splits.normalize(image, [MEAN] * policy.channels, [STD] * policy.channels)


def fixed_predictions() -> tuple[torch.Tensor, torch.Tensor]:
    """Logits rounded to halves, so that some rows tie for the top class."""
    generator = torch.Generator().manual_seed(0)
    logits = (torch.randn(SAMPLES, CLASSES, generator=generator) * 2).round() / 2
    labels = torch.randint(0, CLASSES, (SAMPLES,), generator=generator)
    return logits, labels


def scores() -> dict[str, list | float]:
    """The metric as training logs it, and the per-class numbers evaluation reports."""
    logits, labels = fixed_predictions()
    metric = build_metric(CLASSES)
    metric.update(logits, labels)
    predictions = Predictions(logits, labels, samples=None)
    return {
        "metric": metric.compute().item(),
        "per_class_accuracy": predictions.per_class_accuracy().tolist(),
        "confusion": predictions.confusion().tolist(),
    }


def measured() -> dict:
    return {
        "recorded_with": {name: metadata.version(name) for name in LIBRARIES},
        "pixels": {name: pixels(name).tolist() for name in FILES},
        "scores": scores(),
    }


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(VALUES.read_text())


def differences(golden: dict) -> list[str]:
    """What moved from the golden values, one line each, with the largest difference."""
    now = measured()
    moved = []
    for part in ("pixels", "scores"):
        for name, value in golden[part].items():
            was, is_ = np.asarray(value, dtype=np.float64), np.asarray(now[part][name])
            if was.shape != is_.shape or np.abs(was - is_).max() > TOLERANCE:
                change = np.abs(was - is_).max() if was.shape == is_.shape else "shape"
                moved.append(f"{part} of {name} (largest difference {change})")
    return moved


def test_decoding_and_scoring_give_the_golden_values(golden):
    moved = differences(golden)
    versions = {name: metadata.version(name) for name in LIBRARIES}
    assert not moved, (
        f"{'; '.join(moved)}; recorded with {golden['recorded_with']}, now {versions}: "
        f"{INSTRUCTION}"
    )


@pytest.mark.parametrize("name", FILTERS)
def test_another_resize_filter_fails_the_golden_values(golden, monkeypatch, name):
    """The golden values are sensitive enough: every other Pillow filter moves them."""
    monkeypatch.setattr(images, "RESAMPLING", getattr(Image.Resampling, name))
    assert differences(golden), f"{name} resampling left every golden value in place"


if __name__ == "__main__":  # python -m tests.test_golden: re-record after a deliberate change
    GOLDEN.mkdir(exist_ok=True)
    if not all((GOLDEN / name).is_file() for name in FILES):
        write_files()
    VALUES.write_text(json.dumps(measured(), indent=1) + "\n")
    print(f"recorded {VALUES}")
