"""`predict.py`: new images are decoded, resized and normalized by the code that serves the
test split, so a checkpoint predicts on them what evaluation would; images that cannot
match the checkpoint are refused in one line, and nothing is written."""

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image
from research_rigor import splits
from research_rigor.errors import UserError

from {{ cookiecutter.package_name }} import evaluation
from {{ cookiecutter.package_name }}.data import folders
from {{ cookiecutter.package_name }}.evaluation import PROVENANCE_KEY

from .conftest import ROOT, SEED, build_model, compose_config
from .test_bad_data import SIZE, write_images

TRAINING_STEPS = 5
CLOSE = 1e-6  # the same logits, batched differently


def _predict_script():
    spec = importlib.util.spec_from_file_location("predict_script", ROOT / "predict.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A briefly trained checkpoint of an image-folder dataset, with the record evaluation
    reads (its data config and trainer)."""
    root = tmp_path_factory.mktemp("predict")
    data = write_images(root / "pets")
    splits.write(folders.scan(data))
    data_config = {
        "_target_": f"{folders.__name__}.ImageFolderDataModule",
        "data_dir": str(data),
        "batch_size": 4,
    }
    datamodule = folders.ImageFolderDataModule(
        **{k: v for k, v in data_config.items() if k[0] != "_"}
    )
    L.seed_everything(SEED, verbose=False)
    model = build_model(compose_config("mlp", "fast"), datamodule)
    trainer = L.Trainer(
        max_steps=TRAINING_STEPS,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=datamodule)
    path = root / "best.ckpt"
    trainer.save_checkpoint(path)
    stored = torch.load(path, weights_only=True)
    on_cpu = {"accelerator": "cpu"}
    stored[PROVENANCE_KEY] = {
        "config": {"data": data_config, "trainer": on_cpu},
        "git_commit": "0" * 40,
    }
    torch.save(stored, path)
    return path


def test_new_images_are_served_exactly_as_the_test_split(checkpoint):
    _, _, datamodule = evaluation.load(checkpoint)
    datamodule.setup()
    tested = datamodule.datasets["test"]
    new = datamodule.unlabelled(tested.files)
    for position in range(len(tested)):
        assert torch.equal(new[position][0], tested[position][0])


def test_predictions_are_what_evaluation_computes(checkpoint, tmp_path):
    model, record, datamodule = evaluation.load(checkpoint)
    result = evaluation.evaluate(model, datamodule, "test", evaluation.build_trainer(record))
    expected = result.predictions.logits.softmax(dim=1)
    out = tmp_path / "predictions.csv"
    _predict_script().predict(checkpoint, datamodule.data_dir, out)
    with out.open() as lines:
        rows = {row["path"]: row for row in csv.DictReader(lines)}
    assert len(rows) == len(datamodule.scan().files)
    classes = datamodule.classes
    for path, probabilities in zip(result.predictions.samples.files, expected, strict=True):
        row = rows[str(path)]
        written = np.array([float(row[f"p_{name}"]) for name in classes])
        np.testing.assert_allclose(written, probabilities.numpy(), atol=CLOSE)
        assert row["predicted"] == classes[int(probabilities.argmax())]
        assert written.sum() == pytest.approx(1.0)


def refusal(checkpoint: Path, image: Path, out: Path) -> str:
    with pytest.raises(UserError) as error:
        _predict_script().predict(checkpoint, image, out)
    message = str(error.value)
    assert "\n" not in message and str(image) in message, message
    assert not out.exists(), "a refused prediction wrote its file"
    return message


def test_an_image_of_another_size_is_refused_when_nothing_resizes(checkpoint, tmp_path):
    image = tmp_path / "large.png"
    Image.fromarray(np.zeros((SIZE + 4, SIZE + 4, 3), dtype=np.uint8)).save(image)
    assert "sets no image_size" in refusal(checkpoint, image, tmp_path / "out.csv")


def test_an_image_of_another_pixel_type_is_refused(checkpoint, tmp_path):
    image = tmp_path / "wide.png"
    Image.fromarray(np.zeros((SIZE, SIZE), dtype=np.uint16)).save(image)
    assert "uint16" in refusal(checkpoint, image, tmp_path / "out.csv")


def test_the_command_refuses_in_one_line(checkpoint, tmp_path):
    missing = tmp_path / "nothing-here"
    done = subprocess.run(
        [sys.executable, str(ROOT / "predict.py"), str(checkpoint), str(missing)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and str(missing) in done.stderr, done.stderr
