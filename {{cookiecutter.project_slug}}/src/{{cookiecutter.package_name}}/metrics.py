"""The metric, its version, and what defines it.

Numbers measured under different validation procedures must never be compared, so
the procedure carries a version. What defines it is declared below: this file, the
whole data package (how samples are found, labelled, resized and normalized; a data
format added to it is covered the day it is written), research-rigor's modules that
split the data, take the normalization statistics, serve val and test and decode image
files (a release of the library that changes them moves the fingerprint too), the
evaluation loop of `evaluate.py`, `predict.py` and the reports (`evaluation.py`), and the
model's evaluation steps. research-rigor fingerprints their syntax trees (comments, docstrings
and formatting do not count) and locks the result in `metric.lock` at the project root;
`tests/test_metric_version.py` fails when the fingerprint moves without a version bump,
and `tests/test_golden.py` when a library upgrade moves the numbers themselves.

After a deliberate change: bump METRIC_VERSION, run `research-rigor metric lock`,
and re-run the baseline.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torchmetrics.classification import MulticlassAccuracy

# 2: per-channel normalization stored in each dataset's split file
# 3: image files decoded by a declared policy (pixel type and range recorded in the split,
#    EXIF orientation applied, 16-bit kept), resized as floats
# 4: k-fold as a protocol: a split may hold stratified folds (`split --folds K`), each with
#    its own statistics, and `data.fold=i` tests on fold i (without it, as in 3)
# 5: the split protocol and the loaders are research-rigor's (`research_rigor.splits`,
#    `research_rigor.datamodule`), moved unchanged: version 4's numbers, by the golden tests
METRIC_VERSION = 5
METRIC_NAME = "acc"  # top-1 accuracy, micro-averaged over samples
MONITOR = f"val/{METRIC_NAME}"  # selects the best checkpoint
REPORTED = f"test/{METRIC_NAME}"  # the single number a run is judged by

# What defines the metric, relative to this folder: whole modules and packages (every
# definition in them), or single definitions ("module.py:Name"); an installed module by
# its import name. The model is mostly training: only its evaluation steps count.
DEFINITION = (
    "metrics.py",
    "data",
    # installed, named by import name: the split protocol and the split file's checks, the
    # loaders and the normalization statistics they serve, how image files become pixels
    "research_rigor.splits",
    "research_rigor.datamodule",
    "research_rigor.images",
    "evaluation.py",
    "model.py:STAGES",
    "model.py:Classifier._step",
    "model.py:Classifier._log_epoch",
    "model.py:Classifier.validation_step",
    "model.py:Classifier.on_validation_epoch_end",
    "model.py:Classifier.test_step",
    "model.py:Classifier.on_test_epoch_end",
    "model.py:Classifier.predict_step",
)
# Within DEFINITION, what does not move the reported number, and why.
EXCLUDED = {
    "data/__main__.py": "the split command's console: what it prints, the config it drafts",
    "research_rigor.datamodule:ClassificationDataModule.train_dataloader": (
        "which batches train, and in which order: training, not measurement"
    ),
}


def build_metric(num_classes: int) -> "MulticlassAccuracy":
    # Imported here: train.py reads the constants above before torch has loaded.
    from torchmetrics.classification import MulticlassAccuracy

    return MulticlassAccuracy(num_classes=num_classes, average="micro")
