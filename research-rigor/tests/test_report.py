"""`research-rigor report` and its figures, for any image size and class count.

Synthetic labels and predictions stand in for a trained classifier, so each figure is
checked against known numbers: a 13-class RGB dataset of 20 x 24 images, a 1-channel
8 x 8 one (digits' shape, raw values 0..16), and 2 and 100 classes for the axes. The
report itself runs on recorded runs of a small declared project whose evaluation
function returns fixed errors: the bias/variance table, the group mean, the goal error
read from the run's recorded data config, and the refusals.
"""

import argparse
import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from research_rigor import figures, report
from research_rigor.errors import UserError
from research_rigor.experiments.runs import Run
from research_rigor.project import Project
from research_rigor.provenance import RECORD_FILE
from research_rigor.run_dirs import COMPLETED, METRICS_FILE

# torchmetrics hands matplotlib a tensor to draw, which NumPy 2 warns about in passing.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

SAMPLES = 60
WRONG_EVERY = 4  # every 4th sample is predicted as the next class
LONG_NAME = "a_class_name_longer_than_any_tick"
PACKAGE = "report_probe"
ERRORS = {"train": 0.05, "val": 0.10, "test": 0.12}  # what the probe's evaluation returns


def class_names(count: int) -> list[str]:
    return [f"class_{index:03d}" for index in range(count - 1)] + [LONG_NAME]


def outputs(count: int, samples: int = SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """Labels cycling through the classes; every WRONG_EVERY-th sample predicted wrong."""
    labels = np.arange(samples) % count
    predicted = labels.copy()
    predicted[::WRONG_EVERY] = (labels[::WRONG_EVERY] + 1) % count
    return labels, predicted


def raw_images(channels: int, height: int, width: int, scale: float) -> np.ndarray:
    images = torch.rand(
        SAMPLES, channels, height, width, generator=torch.Generator().manual_seed(0)
    )
    return ((images * scale).round() if scale > 1 else images).numpy()


def wrong_grid(images: np.ndarray, classes: list[str], split: str):
    labels, predicted = outputs(len(classes))
    wrong = np.flatnonzero(predicted != labels)
    first = wrong[: figures.MISCLASSIFIED_SHOWN]
    figure = figures.misclassified(
        images[first], labels[first], predicted[first], classes, split, len(wrong)
    )
    return figure, labels, predicted, wrong


def shown_axes(figure) -> list:
    return [axis for axis in figure.axes if axis.images]


def tick_names(labels) -> list[str]:
    return [label.get_text() for label in labels]


def test_misclassified_rgb_images_of_any_size_show_as_stored_with_class_names():
    classes = class_names(13)
    raw = raw_images(3, 20, 24, scale=1.0)
    figure, labels, predicted, wrong = wrong_grid(raw, classes, "test")
    assert len(wrong) == SAMPLES // WRONG_EVERY
    axes = shown_axes(figure)
    assert len(axes) == min(len(wrong), figures.MISCLASSIFIED_SHOWN)
    for axis, index in zip(axes, wrong, strict=False):
        shown = axis.images[0].get_array()
        assert shown.shape == (20, 24, 3)  # colour, height by width
        np.testing.assert_allclose(shown, raw[index].transpose(1, 2, 0), atol=1e-5)
        true, guess = classes[labels[index]], classes[predicted[index]]
        assert axis.get_title() == f"{figures.short(true)} -> {figures.short(guess)}"
    assert any(figures.short(LONG_NAME) in axis.get_title() for axis in axes)
    assert len(figures.short(LONG_NAME)) == figures.NAME_CHARS
    assert f"{len(wrong)} samples" in figure.texts[0].get_text()


def test_misclassified_grey_images_keep_their_raw_values_and_range():
    classes = [str(digit) for digit in range(10)]
    raw = raw_images(1, 8, 8, scale=16.0)  # digits: 0..16
    figure, labels, predicted, wrong = wrong_grid(raw, classes, "val")
    for axis, index in zip(shown_axes(figure), wrong, strict=False):
        image = axis.images[0]
        assert image.get_array().shape == (8, 8) and image.get_cmap().name == "gray"
        np.testing.assert_allclose(image.get_array(), raw[index, 0], atol=1e-4)
        assert image.get_clim() == (0.0, 16.0)  # one scale for every sample, not each its own
        assert axis.get_title() == f"{classes[labels[index]]} -> {classes[predicted[index]]}"


def test_images_scaled_to_one_are_shown_on_zero_to_one():
    assert figures.display_range(np.array([0.2, 0.4])) == (0.0, 1.0)  # a dark image stays dark
    assert figures.display_range(np.array([-3.0, 255.0])) == (-3.0, 255.0)


def confusion(labels: np.ndarray, predicted: np.ndarray, count: int) -> np.ndarray:
    counts = np.zeros((count, count), dtype=np.int64)
    np.add.at(counts, (labels, predicted), 1)
    return counts


@pytest.mark.parametrize("count", [2, 13])
def test_confusion_matrix_names_every_class_and_counts_every_cell(count):
    classes = class_names(count)
    labels, predicted = outputs(count)
    axis = figures.confusion_matrix(labels, predicted, classes, "test").axes[0]
    expected = confusion(labels, predicted, count)
    np.testing.assert_array_equal(np.asarray(axis.images[0].get_array()), expected)
    names = [figures.short(name) for name in classes]
    assert tick_names(axis.get_xticklabels()) == names
    assert tick_names(axis.get_yticklabels()) == names
    assert [int(text.get_text()) for text in axis.texts] == expected.flatten().tolist()


def test_a_hundred_class_confusion_matrix_thins_its_names_and_drops_its_counts():
    classes = class_names(100)
    labels, predicted = outputs(len(classes), 3 * len(classes))
    figure = figures.confusion_matrix(labels, predicted, classes, "test")
    axis = figure.axes[0]
    expected = confusion(labels, predicted, len(classes))
    np.testing.assert_array_equal(np.asarray(axis.images[0].get_array()), expected)
    assert not axis.texts  # a count per cell would not be legible
    ticks = axis.get_xticks()
    assert 1 < len(ticks) <= figures.MAX_TICK_LABELS
    assert tick_names(axis.get_xticklabels()) == [classes[int(tick)] for tick in ticks]
    assert max(figure.get_size_inches()) <= figures.CONFUSION_INCHES[1]


@pytest.mark.parametrize("count", [2, 13, 100])
def test_per_class_bars_are_the_accuracies_under_the_class_names(count):
    classes = class_names(count)
    labels, predicted = outputs(count, 3 * count)
    overall = float((predicted == labels).mean())
    axis = figures.per_class_accuracy(labels, predicted, classes, "test", ("acc", overall)).axes[0]
    heights = [bar.get_height() for bar in axis.patches]
    expected = [(predicted[labels == c] == c).mean() for c in range(count)]
    np.testing.assert_allclose(heights, expected)
    ticks = axis.get_xticks()
    assert len(ticks) <= figures.MAX_TICK_LABELS
    assert count > figures.MAX_TICK_LABELS or list(ticks) == list(range(count))
    assert tick_names(axis.get_xticklabels()) == [figures.short(classes[int(t)]) for t in ticks]


def test_the_learning_curves_plot_train_against_val_per_epoch(tmp_path):
    csv = tmp_path / "metrics.csv"
    csv.write_text(
        "epoch,step,train/loss,train/acc,val/loss,val/acc\n"
        "0,9,1.5,0.4,,\n0,9,,,1.2,0.5\n1,19,0.9,0.7,,\n1,19,,,0.8,0.75\n"
    )
    loss, metric = figures.learning_curves(csv, "acc").axes
    assert [line.get_label() for line in metric.lines] == ["train/acc", "val/acc"]
    assert list(loss.lines[1].get_ydata()) == [1.2, 0.8] and loss.get_title() == "loss"


def test_the_figures_save_as_png_images(tmp_path):
    figure, *_ = wrong_grid(raw_images(3, 20, 24, scale=1.0), class_names(13), "test")
    saved = imread(figures.save(figure, tmp_path / "report" / "misclassified.png"))
    width, height = figure.get_size_inches() * figures.DPI
    assert saved.shape[:2] == (round(height), round(width)) and saved.std() > 0


def test_the_weights_and_gradients_of_each_matrix_are_histogrammed():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    batch = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    figure = figures.weights_and_gradients(model, lambda: model(batch).square().mean())
    assert len(figure.axes) == 4  # two weight matrices, each with its gradient
    assert all(parameter.grad is None for parameter in model.parameters())  # left clean


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A declared project whose evaluation returns ERRORS and saves one figure per run."""
    (tmp_path / "pyproject.toml").write_text(f'[tool.research-rigor]\npackage = "{PACKAGE}"\n')
    package = tmp_path / "src" / PACKAGE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "metrics.py").write_text('METRIC_VERSION = 2\nDEFINITION = ("metrics.py",)\n')
    (package / "report.py").write_text(
        textwrap.dedent(f"""\
            from research_rigor.report import RunEvaluation


            def evaluate_run(run_dir, out):
                out.mkdir(parents=True, exist_ok=True)
                (out / "seen.png").write_bytes(b"png")
                return RunEvaluation({ERRORS!r}, [out / "seen.png"])
            """)
    )
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
        monkeypatch.delitem(sys.modules, name)  # another test's copy of the package
    monkeypatch.chdir(tmp_path)
    return Project.find(tmp_path)


def recorded_run(directory: Path, project: Project, data: dict) -> Run:
    """A completed run whose provenance records `data` as its data config."""
    directory.mkdir(parents=True)
    versions = {"metric_version": 2, "data_version": "d1"}
    metrics = {"status": COMPLETED, project.metric: 0.9, project.monitor: 0.9, **versions}
    record = {"git_commit": "abc", "git_dirty": False, "profile": "fast", "seed": 0}
    record |= {"config": {"data": data}, **versions}
    (directory / METRICS_FILE).write_text(json.dumps(metrics))
    (directory / RECORD_FILE).write_text(json.dumps(record))
    return Run.load(directory, project)


def arguments(*runs: Path, goal_error: float | None = None) -> argparse.Namespace:
    return argparse.Namespace(runs=list(runs), goal_error=goal_error, tolerance=0.01, wandb=False)


def test_the_goal_error_is_the_datasets_own_unless_overridden(project, tmp_path):
    run = recorded_run(tmp_path / "run", project, {"data_dir": "data/x", "goal_error": 0.05})
    assert report.goal_error(run) == 0.05
    assert report.goal_error(run, override=0.2) == 0.2
    bare = recorded_run(tmp_path / "bare", project, {"data_dir": "data/flowers"})
    with pytest.raises(UserError, match=r"--goal-error .*configs/data/flowers\.yaml"):
        report.goal_error(bare)
    assert report.goal_error(bare, override=0.03) == 0.03


def test_a_sweep_gets_one_table_with_a_mean_from_the_projects_evaluation(project, tmp_path):
    for seed in ("0", "1"):
        recorded_run(tmp_path / "sweep" / seed, project, {"goal_error": 0.01})
    report.report(arguments(tmp_path / "sweep"), project)
    result = json.loads((tmp_path / "sweep" / "report.json").read_text())
    assert len(result["runs"]) == 2
    for run in result["runs"]:
        assert run["errors"]["test_error"] == ERRORS["test"]
        assert run["errors"]["goal_error"] == 0.01
        assert run["figures"] == [str(Path(run["run_dir"]) / report.REPORT_DIR / "seen.png")]
    assert result["mean"]["gaps"]["avoidable bias (train - goal)"] == pytest.approx(0.04)
    assert "metric version 2" in (tmp_path / "sweep" / "report.md").read_text()


def test_a_missing_goal_error_is_refused_in_one_line_before_evaluating(project, tmp_path, capsys):
    from research_rigor import cli

    recorded_run(tmp_path / "sweep" / "0", project, {"data_dir": "data/x", "goal_error": 0.05})
    recorded_run(tmp_path / "sweep" / "1", project, {"data_dir": "data/x"})
    with pytest.raises(SystemExit) as refused:
        cli.main(["report", str(tmp_path / "sweep")])
    message = str(refused.value)
    assert message.startswith("error: ") and "\n" not in message
    assert "records no goal error" in message and str(tmp_path / "sweep" / "1") in message
    assert not list(tmp_path.rglob(report.REPORT_DIR))  # nothing was evaluated


def test_an_evaluation_without_every_split_is_refused(project, tmp_path):
    run = recorded_run(tmp_path / "run", project, {"goal_error": 0.0})
    partial = report.RunEvaluation({"test": 0.1}, [])
    with pytest.raises(UserError, match="no error for train, val"):
        report.evaluate_run(run, 0.0, lambda run_dir, out: partial, project.metric)


def test_a_project_without_its_report_function_is_told_in_one_line(project, tmp_path):
    (tmp_path / "src" / PACKAGE / "report.py").unlink()
    recorded_run(tmp_path / "run", project, {"goal_error": 0.0})
    with pytest.raises(UserError, match=f"{PACKAGE}.report:evaluate_run cannot be loaded"):
        report.report(arguments(tmp_path / "run"), project)
