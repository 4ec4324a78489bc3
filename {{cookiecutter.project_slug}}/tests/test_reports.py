"""The report's figures and evaluate.py's plot data, for any image size and class count.

Synthetic predictions stand in for a trained model, so each figure is checked against
known numbers: a 13-class RGB dataset of 20 x 24 images, a 1-channel 8 x 8 one (digits'
shape, raw values 0..16), and 2 and 100 classes for the axes. The goal error of the
bias/variance table is the dataset's own, read from the run's recorded data config.
"""

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from research_rigor.errors import UserError
from research_rigor.experiments.runs import Run
from research_rigor.project import Project
from research_rigor.provenance import RECORD_FILE
from research_rigor.run_dirs import COMPLETED, METRICS_FILE
from torch.nn.functional import one_hot
from torch.utils.data import TensorDataset

from {{ cookiecutter.package_name }} import plots, report
from {{ cookiecutter.package_name }}.evaluation import Evaluation, Predictions
from {{ cookiecutter.package_name }}.metrics import METRIC_NAME, METRIC_VERSION, MONITOR, REPORTED

from .conftest import ROOT

# torchmetrics hands matplotlib a tensor to draw, which NumPy 2 warns about in passing.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

SAMPLES = 60
WRONG_EVERY = 4  # every 4th sample is predicted as the next class
LONG_NAME = "a_class_name_longer_than_any_tick"


def class_names(count: int) -> list[str]:
    return [f"class_{index:03d}" for index in range(count - 1)] + [LONG_NAME]


def predictions(images: torch.Tensor, num_classes: int) -> Predictions:
    """Labels cycling through the classes; every WRONG_EVERY-th sample predicted wrong."""
    labels = torch.arange(len(images)) % num_classes
    predicted = labels.clone()
    predicted[::WRONG_EVERY] = (labels[::WRONG_EVERY] + 1) % num_classes
    logits = one_hot(predicted, num_classes).float()
    return Predictions(logits, labels, TensorDataset(images, labels))


def per_channel(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std, shaped to broadcast over (N, C, H, W)."""
    return images.mean(dim=(0, 2, 3), keepdim=True), images.std(dim=(0, 2, 3), keepdim=True)


def dataset(
    channels: int, height: int, width: int, scale: float
) -> tuple[torch.Tensor, Predictions, Callable[[torch.Tensor], torch.Tensor]]:
    """Raw images (values 0..scale), their normalized predictions, and the denormalizer."""
    raw = torch.rand(SAMPLES, channels, height, width, generator=torch.Generator().manual_seed(0))
    raw = (raw * scale).round() if scale > 1 else raw
    mean, std = per_channel(raw)
    return raw, (raw - mean) / std, lambda images: images * std + mean


def shown_axes(figure) -> list:
    return [axis for axis in figure.axes if axis.images]


def tick_names(labels) -> list[str]:
    return [label.get_text() for label in labels]


def test_misclassified_rgb_images_of_any_size_show_as_stored_with_class_names():
    classes = class_names(13)
    raw, normalized, denormalize = dataset(3, 20, 24, scale=1.0)
    outputs = predictions(normalized, len(classes))
    figure = plots.misclassified(outputs, classes, denormalize, "test")
    wrong = outputs.misclassified().tolist()
    assert len(wrong) == SAMPLES // WRONG_EVERY
    axes = shown_axes(figure)
    assert len(axes) == min(len(wrong), plots.MISCLASSIFIED_SHOWN)
    for axis, index in zip(axes, wrong, strict=False):
        shown = axis.images[0].get_array()
        assert shown.shape == (20, 24, 3)  # colour, height by width
        np.testing.assert_allclose(shown, raw[index].permute(1, 2, 0).numpy(), atol=1e-5)
        true, predicted = classes[outputs.labels[index]], classes[outputs.predicted[index]]
        assert axis.get_title() == f"{plots.short(true)} -> {plots.short(predicted)}"
    assert any(plots.short(LONG_NAME) in axis.get_title() for axis in axes)
    assert plots.short(LONG_NAME) != LONG_NAME and len(plots.short(LONG_NAME)) == plots.NAME_CHARS
    assert f"{len(wrong)} samples" in figure.texts[0].get_text()


def test_misclassified_grey_images_keep_their_raw_values_and_range():
    classes = [str(digit) for digit in range(10)]
    raw, normalized, denormalize = dataset(1, 8, 8, scale=16.0)  # digits: 0..16
    outputs = predictions(normalized, len(classes))
    axes = shown_axes(plots.misclassified(outputs, classes, denormalize, "val"))
    for axis, index in zip(axes, outputs.misclassified().tolist(), strict=False):
        image = axis.images[0]
        assert image.get_array().shape == (8, 8) and image.get_cmap().name == "gray"
        np.testing.assert_allclose(image.get_array(), raw[index, 0].numpy(), atol=1e-4)
        assert image.get_clim() == (0.0, 16.0)  # one scale for every sample, not each its own
        true, predicted = classes[outputs.labels[index]], classes[outputs.predicted[index]]
        assert axis.get_title() == f"{true} -> {predicted}"


def test_images_scaled_to_one_are_shown_on_zero_to_one():
    assert plots.display_range(np.array([0.2, 0.4])) == (0.0, 1.0)  # a dark image stays dark
    assert plots.display_range(np.array([-3.0, 255.0])) == (-3.0, 255.0)


@pytest.mark.parametrize("count", [2, 13])
def test_confusion_matrix_names_every_class_and_counts_every_cell(count):
    classes = class_names(count)
    outputs = predictions(torch.zeros(SAMPLES, 1, 2, 2), count)
    axis = plots.confusion_matrix(outputs, classes, "test").axes[0]
    confusion = outputs.confusion()
    np.testing.assert_array_equal(np.asarray(axis.images[0].get_array()), confusion.numpy())
    names = [plots.short(name) for name in classes]
    assert tick_names(axis.get_xticklabels()) == names
    assert tick_names(axis.get_yticklabels()) == names
    assert [int(text.get_text()) for text in axis.texts] == confusion.flatten().tolist()


def test_a_hundred_class_confusion_matrix_thins_its_names_and_drops_its_counts():
    classes = class_names(100)
    outputs = predictions(torch.zeros(3 * len(classes), 1, 2, 2), len(classes))
    figure = plots.confusion_matrix(outputs, classes, "test")
    axis = figure.axes[0]
    np.testing.assert_array_equal(np.asarray(axis.images[0].get_array()), outputs.confusion())
    assert not axis.texts  # a count per cell would not be legible
    ticks = axis.get_xticks()
    assert 1 < len(ticks) <= plots.MAX_TICK_LABELS
    assert tick_names(axis.get_xticklabels()) == [classes[int(tick)] for tick in ticks]
    assert max(figure.get_size_inches()) <= plots.CONFUSION_INCHES[1]


@pytest.mark.parametrize("count", [2, 13, 100])
def test_per_class_bars_are_the_accuracies_under_the_class_names(count):
    classes = class_names(count)
    outputs = predictions(torch.zeros(3 * count, 1, 2, 2), count)
    overall = (outputs.predicted == outputs.labels).float().mean().item()
    evaluation = Evaluation("test", {f"test/{METRIC_NAME}": overall}, outputs)
    axis = plots.per_class_accuracy(evaluation, classes).axes[0]
    heights = [bar.get_height() for bar in axis.patches]
    np.testing.assert_allclose(heights, outputs.per_class_accuracy().numpy())
    ticks = axis.get_xticks()
    assert len(ticks) <= plots.MAX_TICK_LABELS
    assert count > plots.MAX_TICK_LABELS or list(ticks) == list(range(count))
    assert tick_names(axis.get_xticklabels()) == [plots.short(classes[int(t)]) for t in ticks]


def test_the_figures_save_as_png_images(tmp_path):
    from matplotlib.image import imread

    classes = class_names(13)
    _, normalized, denormalize = dataset(3, 20, 24, scale=1.0)
    figure = plots.misclassified(predictions(normalized, 13), classes, denormalize, "test")
    saved = imread(plots.save(figure, tmp_path / "report" / "misclassified.png"))
    width, height = figure.get_size_inches() * plots.DPI
    assert saved.shape[:2] == (round(height), round(width)) and saved.std() > 0


def evaluate_script():
    spec = importlib.util.spec_from_file_location("evaluate_script", ROOT / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dvc_plot_data_name_the_classes():
    classes = class_names(13)
    outputs = predictions(torch.zeros(SAMPLES, 1, 2, 2), len(classes))
    confusion, per_class = evaluate_script().plot_rows(outputs, classes)
    assert confusion[0] == {"actual": classes[0], "predicted": classes[1]}  # sample 0 is wrong
    assert confusion[1] == {"actual": classes[1], "predicted": classes[1]}
    assert len(confusion) == SAMPLES
    assert [row["class"] for row in per_class] == classes
    assert [row["accuracy"] for row in per_class] == outputs.per_class_accuracy().tolist()


def recorded_run(directory: Path, data: dict) -> Run:
    """A completed run whose provenance records `data` as its data config."""
    directory.mkdir(parents=True)
    versions = {"metric_version": METRIC_VERSION, "data_version": "d1"}
    metrics = {"status": COMPLETED, REPORTED: 0.9, MONITOR: 0.9, **versions}
    record = {"git_commit": "abc", "git_dirty": False, "profile": "fast", "seed": 0}
    record |= {"config": {"data": data}, **versions}
    (directory / METRICS_FILE).write_text(json.dumps(metrics))
    (directory / RECORD_FILE).write_text(json.dumps(record))
    return Run.load(directory, Project.find(ROOT))


def test_the_goal_error_is_the_datasets_own_unless_overridden(tmp_path):
    run = recorded_run(tmp_path / "run", {"data_dir": "data/flowers", "goal_error": 0.05})
    assert report.goal_error(run) == 0.05
    assert report.goal_error(run, override=0.2) == 0.2


def test_a_run_without_a_goal_error_needs_one_on_the_command_line(tmp_path):
    run = recorded_run(tmp_path / "run", {"data_dir": "data/flowers"})
    with pytest.raises(UserError, match=r"--goal-error .*configs/data/flowers\.yaml"):
        report.goal_error(run)
    assert report.goal_error(run, override=0.03) == 0.03


def test_report_refuses_a_missing_goal_error_in_one_line_before_evaluating(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    recorded_run(tmp_path / "sweep" / "0", {"data_dir": "data/flowers", "goal_error": 0.05})
    recorded_run(tmp_path / "sweep" / "1", {"data_dir": "data/flowers"})  # no checkpoint either
    monkeypatch.setattr("sys.argv", ["report", str(tmp_path / "sweep")])
    with pytest.raises(SystemExit) as refused:
        report.main()
    message = str(refused.value)
    assert message.startswith("error: ") and "\n" not in message
    assert "records no goal error" in message and str(tmp_path / "sweep" / "1") in message
    assert not list(tmp_path.rglob(report.REPORT_DIR))  # nothing was evaluated
