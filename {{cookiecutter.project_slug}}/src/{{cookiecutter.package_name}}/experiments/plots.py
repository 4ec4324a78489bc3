"""The figures a person wants to look at after a run, each written as a PNG.

Learning curves, confusion matrix, per-class accuracy, a grid of misclassified
samples, and histograms of the weights and of their gradients. Built on
matplotlib's object API, so nothing needs a display; the confusion matrix is drawn
by torchmetrics. The per-class bars and the grid stay ours: torchmetrics draws per-class
values as separate points, and has no grid of misclassified samples.
"""

import csv
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from {{ cookiecutter.package_name }}.evaluation import Evaluation, Predictions
from {{ cookiecutter.package_name }}.metrics import METRIC_NAME
from {{ cookiecutter.package_name }}.model import Classifier

DPI = 120
MISCLASSIFIED_SHOWN = 25  # a 5 x 5 grid
GRID_COLUMNS = 5
HISTOGRAM_BINS = 50
CURVES = {
    "loss": ("train/loss", "val/loss"),
    METRIC_NAME: (f"train/{METRIC_NAME}", f"val/{METRIC_NAME}"),
}


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    return path


def learning_curves(metrics_csv: Path, path: Path) -> Path:
    """Loss and metric per epoch, train against val, from Lightning's CSVLogger file."""
    with metrics_csv.open() as lines:
        rows = list(csv.DictReader(lines))
    figure = Figure(figsize=(10, 4))
    for axis, (quantity, columns) in zip(figure.subplots(1, 2), CURVES.items(), strict=True):
        for column in columns:
            points = [(int(row["epoch"]), float(row[column])) for row in rows if row.get(column)]
            if points:
                epochs, values = zip(*points, strict=True)
                axis.plot(epochs, values, marker="o", label=column)
        axis.set(title=quantity, xlabel="epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.legend()
    return _save(figure, path)


def confusion_matrix(predictions: Predictions, split: str, path: Path) -> Path:
    """torchmetrics' own drawing of its confusion matrix, counts in the cells."""
    from torchmetrics.classification import MulticlassConfusionMatrix

    matrix = MulticlassConfusionMatrix(num_classes=predictions.num_classes)
    matrix.update(predictions.predicted, predictions.labels)
    figure = Figure(figsize=(6, 5.5))
    axis = figure.subplots()
    matrix.plot(ax=axis)
    axis.set(title=f"confusion matrix ({split})", xlabel="predicted", ylabel="true")
    return _save(figure, path)


def per_class_accuracy(evaluation: Evaluation, path: Path) -> Path:
    accuracy = evaluation.predictions.per_class_accuracy().numpy()
    figure = Figure(figsize=(7, 4))
    axis = figure.subplots()
    axis.bar(np.arange(len(accuracy)), accuracy)
    axis.axhline(evaluation.value, color="black", linestyle="--", label=f"overall {METRIC_NAME}")
    axis.set(
        title=f"per-class {METRIC_NAME} ({evaluation.split})",
        xlabel="class",
        ylim=(0, 1),
        xticks=np.arange(len(accuracy)),
    )
    axis.legend(loc="lower right")
    return _save(figure, path)


def misclassified(predictions: Predictions, split: str, path: Path) -> Path:
    """The first misclassified samples, titled `true -> predicted`."""
    wrong = predictions.misclassified()[:MISCLASSIFIED_SHOWN].tolist()
    rows = max(1, -(-len(wrong) // GRID_COLUMNS))
    figure = Figure(figsize=(2 * GRID_COLUMNS, 2 * rows + 0.5))
    figure.suptitle(f"misclassified ({split}): {len(predictions.misclassified())} samples")
    axes = figure.subplots(rows, GRID_COLUMNS, squeeze=False).flatten()
    for axis in axes:
        axis.axis("off")
    for axis, index in zip(axes, wrong, strict=False):
        axis.imshow(predictions.images[index, 0].numpy(), cmap="gray_r")
        true, predicted = predictions.labels[index].item(), predictions.predicted[index].item()
        axis.set_title(f"{true} -> {predicted}")
    return _save(figure, path)


def weights_and_gradients(
    model: Classifier, images: torch.Tensor, labels: torch.Tensor, path: Path
) -> Path:
    """Histograms of every weight matrix and of its gradient of the loss on one batch."""
    model.zero_grad()
    with torch.enable_grad():
        loss, _ = model.loss((images, labels))
        loss.backward()
    weights = [(name, p) for name, p in model.named_parameters() if p.ndim > 1]
    figure = Figure(figsize=(10, 2.2 * len(weights)))
    axes = figure.subplots(len(weights), 2, squeeze=False)
    for (name, parameter), (left, right) in zip(weights, axes, strict=True):
        left.hist(parameter.detach().flatten().numpy(), bins=HISTOGRAM_BINS)
        left.set_title(f"{name}: weights", fontsize="small")
        right.hist(parameter.grad.flatten().numpy(), bins=HISTOGRAM_BINS, color="tab:orange")
        right.set_title(f"{name}: gradients (one train batch)", fontsize="small")
    model.zero_grad()
    return _save(figure, path)
