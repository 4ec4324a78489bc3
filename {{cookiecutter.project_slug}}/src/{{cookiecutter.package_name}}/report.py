"""What this classifier's report shows: its error on each split, and its figures.

    python -m {{ cookiecutter.package_name }}.report RUN_DIR...
    research-rigor report RUN_DIR...   # the same

research-rigor's `report` finds the runs (a run, or a folder of runs: the seeds of one
sweep form a group with a mean column), writes the bias/variance table and the learning
curves, and calls `evaluate_run` (declared as `report` in pyproject.toml) for each run:
its best checkpoint evaluated on train, val and test with `evaluation.py` (the module
behind the DVC `evaluate` stage: Lightning's test loop and the model's own test step),
and the figures of what it gets wrong, with the dataset's class names and its images
as stored.
"""

import sys
from pathlib import Path

import numpy as np
import torch
from research_rigor import figures, provenance
from research_rigor.cli import main
from research_rigor.errors import UserError
from research_rigor.report import RunEvaluation
from research_rigor.splits import SPLITS

from {{ cookiecutter.package_name }}.metrics import METRIC_NAME

BEST_CHECKPOINT = Path("checkpoints") / "best.ckpt"
SPLIT_SHOWN = "test"  # the split of the confusion matrix, per-class and misclassified plots
GRADIENT_BATCH = 64  # training samples whose loss gradient is histogrammed


def evaluate_run(run_dir: Path, out: Path) -> RunEvaluation:
    """Errors on every split from the run's best checkpoint, and the figures, saved in `out`."""
    from {{ cookiecutter.package_name }} import evaluation

    model, record, datamodule = evaluation.load(run_dir / BEST_CHECKPOINT)
    datamodule.prepare_data()
    current = provenance.data_version(Path.cwd(), datamodule.data_dir, datamodule.split_file)
    if current != record["data_version"]:
        raise UserError(
            f"{run_dir} was trained on data version {record['data_version'][:12]}, but "
            f"{datamodule.data_dir} holds {current[:12]}: its errors would not be its own "
            "(check out the data it used, e.g. with `dvc checkout`)."
        )
    trainer = evaluation.build_trainer(record)
    results = {split: evaluation.evaluate(model, datamodule, split, trainer) for split in SPLITS}
    shown, train = results[SPLIT_SHOWN].predictions, results["train"].predictions
    labels, predicted = shown.labels.numpy(), shown.predicted.numpy()
    wrong = shown.misclassified().numpy()
    first = wrong[: figures.MISCLASSIFIED_SHOWN]
    images = (  # none when every test sample is right: the figure says 0 samples
        datamodule.denormalize(shown.images(torch.from_numpy(first))).numpy()
        if len(first)
        else np.empty((0, *datamodule.input_shape), dtype=np.float32)
    )
    batch = torch.arange(min(GRADIENT_BATCH, len(train.labels)))
    classes = list(datamodule.classes)
    value = results[SPLIT_SHOWN].value
    drawn = {
        "confusion_matrix": figures.confusion_matrix(labels, predicted, classes, SPLIT_SHOWN),
        "per_class_accuracy": figures.per_class_accuracy(
            labels, predicted, classes, SPLIT_SHOWN, overall=(METRIC_NAME, value)
        ),
        "misclassified": figures.misclassified(
            images, labels[first], predicted[first], classes, SPLIT_SHOWN, total=len(wrong)
        ),
        "weights_and_gradients": figures.weights_and_gradients(
            model.cpu(), lambda: model.loss((train.images(batch), train.labels[batch]))[0]
        ),
    }
    return RunEvaluation(
        errors={split: 1.0 - result.value for split, result in results.items()},
        figures=[figures.save(figure, out / f"{name}.png") for name, figure in drawn.items()],
    )


if __name__ == "__main__":
    main(["report", *sys.argv[1:]])
