"""The figures a person wants to look at after a classifier's run, each a matplotlib Figure.

Learning curves, confusion matrix, per-class accuracy, a grid of misclassified
samples, and histograms of the weights and of their gradients. They take plain arrays
(labels, predictions, images as stored), so they know nothing of a project's model or
data. Built on matplotlib's object API, so nothing needs a display; the confusion matrix
is drawn by torchmetrics. The per-class bars and the grid are drawn here: torchmetrics
draws per-class values as separate points, and has no grid of misclassified samples.

Any number of classes reads: the figures grow with the classes up to a cap, class
names label the axes (every k-th one past a limit), and the counts in the confusion
matrix's cells go once the cells are too small to hold them. Needs `research-rigor[report]`.
"""

import csv
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

DPI = 120
MISCLASSIFIED_SHOWN = 25  # a 5 x 5 grid
GRID_COLUMNS = 5
GRID_CELL_INCHES = 2.0
HISTOGRAM_BINS = 50
LOSS = "loss"  # the loss's name in a run's logged metrics (train/loss, val/loss)
MAX_TICK_LABELS = 30  # past this many classes, only every k-th class is named on an axis
MAX_CELL_COUNTS = 20  # past this many classes, the confusion matrix's cells lose their counts
NAME_CHARS = 12  # longer class names are cut to this in ticks and titles
SHORT_NAME_CHARS = 3  # tick labels up to this long stay upright
CONFUSION_INCHES = (5.0, 16.0)  # the matrix's side: 0.45 in per class, within these bounds
CONFUSION_INCHES_PER_CLASS = 0.45
BARS_INCHES = (7.0, 20.0)  # the per-class figure's width: 0.2 in per class, within these
BARS_INCHES_PER_CLASS = 0.2
CELL_FONT_MAX = 12.0  # points; smaller when the cells are
CELL_FONT_FILL = 0.4  # a count's font size, as a fraction of the cell's side
POINTS_PER_INCH = 72
COLORBAR_FRACTION = 0.04  # of the matrix's width
RGB = 3  # channels shown in colour; any other count shows its first channel in grey


def save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    return path


def short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"


def shown_ticks(count: int) -> list[int]:
    """The classes named on an axis: all of them, or every k-th past MAX_TICK_LABELS."""
    return list(range(0, count, math.ceil(count / MAX_TICK_LABELS)))


def _bounded(inches_per_class: float, count: int, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return min(high, max(low, inches_per_class * count))


def _name_classes(axis: Axes, classes: Sequence[str], x: bool = True, y: bool = False) -> None:
    ticks = shown_ticks(len(classes))
    names = [short(classes[index]) for index in ticks]
    upright = max(map(len, names)) <= SHORT_NAME_CHARS
    if x:
        rotation, align = (0, "center") if upright else (45, "right")
        axis.set_xticks(ticks, names, rotation=rotation, ha=align, rotation_mode="anchor")
    if y:
        axis.set_yticks(ticks, names, rotation=0)


def learning_curves(metrics_csv: Path, metric: str) -> Figure:
    """Loss and `metric` per epoch, train against val, from Lightning's CSVLogger file."""
    with metrics_csv.open() as lines:
        rows = list(csv.DictReader(lines))
    figure = Figure(figsize=(10, 4))
    for axis, quantity in zip(figure.subplots(1, 2), (LOSS, metric), strict=True):
        for column in (f"train/{quantity}", f"val/{quantity}"):
            points = [(int(row["epoch"]), float(row[column])) for row in rows if row.get(column)]
            if points:
                epochs, values = zip(*points, strict=True)
                axis.plot(epochs, values, marker="o", label=column)
        axis.set(title=quantity, xlabel="epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.legend()
    return figure


def per_class(labels: np.ndarray, predicted: np.ndarray, count: int) -> np.ndarray:
    """Each class's accuracy (recall); 0 for a class without samples."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    support = np.bincount(labels, minlength=count)
    right = np.bincount(labels[labels == predicted], minlength=count)
    return right / np.maximum(support, 1)


def confusion_matrix(
    labels: np.ndarray, predicted: np.ndarray, classes: Sequence[str], split: str
) -> Figure:
    """torchmetrics' own drawing of its confusion matrix, counts in the cells while they fit."""
    from torchmetrics.classification import MulticlassConfusionMatrix

    count = len(classes)
    matrix = MulticlassConfusionMatrix(num_classes=count)
    matrix.update(torch.as_tensor(predicted), torch.as_tensor(labels))
    side = _bounded(CONFUSION_INCHES_PER_CLASS, count, CONFUSION_INCHES)
    figure = Figure(figsize=(side, side))
    axis = figure.subplots()
    counted = count <= MAX_CELL_COUNTS
    matrix.plot(ax=axis, add_text=counted)
    font = min(CELL_FONT_MAX, CELL_FONT_FILL * side * POINTS_PER_INCH / count)
    for text in axis.texts:
        text.set_fontsize(font)
    if not counted:  # the colours alone carry the counts: say which is which
        figure.colorbar(axis.images[0], ax=axis, fraction=COLORBAR_FRACTION, label="samples")
    _name_classes(axis, classes, x=True, y=True)
    axis.set(title=f"confusion matrix ({split})", xlabel="predicted", ylabel="true")
    return figure


def per_class_accuracy(
    labels: np.ndarray,
    predicted: np.ndarray,
    classes: Sequence[str],
    split: str,
    overall: tuple[str, float],
) -> Figure:
    """One bar per class, under the run's own metric (`overall`: its name and value)."""
    accuracy = per_class(labels, predicted, len(classes))
    name, value = overall
    figure = Figure(figsize=(_bounded(BARS_INCHES_PER_CLASS, len(accuracy), BARS_INCHES), 4))
    axis = figure.subplots()
    axis.bar(np.arange(len(accuracy)), accuracy)
    axis.axhline(value, color="black", linestyle="--", label=f"overall {name}")
    axis.set(
        title=f"per-class accuracy ({split})",
        xlabel="class",
        ylim=(0, 1),
        xlim=(-0.5, len(accuracy) - 0.5),
    )
    _name_classes(axis, classes)
    axis.legend(loc="lower right")
    return figure


def display_range(images: np.ndarray) -> tuple[float, float]:
    """[0, 1] for images scaled to it (image folders); the values' own range otherwise
    (arrays keep their raw values, e.g. 0..16 for digits or 0..255)."""
    if images.size == 0:
        return 0.0, 1.0
    return min(0.0, float(images.min())), max(1.0, float(images.max()))


def misclassified(
    images: np.ndarray,
    labels: np.ndarray,
    predicted: np.ndarray,
    classes: Sequence[str],
    split: str,
    total: int,
) -> Figure:
    """Misclassified samples (N, C, H, W) as the data hold them (un-normalized), in colour for
    RGB and in grey otherwise, titled `true -> predicted` by class name; `total` of them in
    the split."""
    low, high = display_range(images)
    rows = max(1, -(-len(images) // GRID_COLUMNS))
    figure = Figure(figsize=(GRID_CELL_INCHES * GRID_COLUMNS, GRID_CELL_INCHES * rows + 0.5))
    figure.suptitle(f"misclassified ({split}): {total} samples")
    axes = figure.subplots(rows, GRID_COLUMNS, squeeze=False).flatten()
    for axis in axes:
        axis.axis("off")
    for axis, image, true, guess in zip(axes, images, labels, predicted, strict=False):
        if image.shape[0] == RGB:
            axis.imshow(((image.transpose(1, 2, 0) - low) / (high - low)).clip(0, 1))
        else:
            axis.imshow(image[0], cmap="gray", vmin=low, vmax=high)
        axis.set_title(f"{short(classes[true])} -> {short(classes[guess])}", fontsize="small")
    return figure


def weights_and_gradients(model: torch.nn.Module, loss: Callable[[], torch.Tensor]) -> Figure:
    """Histograms of every weight matrix and of its gradient of `loss()` (one batch's)."""
    model.zero_grad()
    with torch.enable_grad():
        loss().backward()
    weights = [(name, p) for name, p in model.named_parameters() if p.ndim > 1]
    figure = Figure(figsize=(10, 2.2 * len(weights)))
    axes = figure.subplots(len(weights), 2, squeeze=False)
    for (name, parameter), (left, right) in zip(weights, axes, strict=True):
        left.hist(parameter.detach().flatten().numpy(), bins=HISTOGRAM_BINS)
        left.set_title(f"{name}: weights", fontsize="small")
        right.hist(parameter.grad.flatten().numpy(), bins=HISTOGRAM_BINS, color="tab:orange")
        right.set_title(f"{name}: gradients (one train batch)", fontsize="small")
    model.zero_grad()
    return figure
