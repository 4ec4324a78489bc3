"""Predict the classes of new images with a trained checkpoint: one CSV row per image.

    python predict.py artifacts/train/checkpoints/best.ckpt path/to/images --out predictions.csv

The images (a folder, searched recursively, or one file) are decoded, resized and
normalized by the code that serves the checkpoint's own test split, with the decoding
policy and normalization statistics of its dataset's split file (committed with the
project: the training data themselves need not be here). Each row holds the image's
path, the predicted class's name and one probability per class. An image that cannot
match what the model was trained on (another number of channels, another pixel type,
another size where the data config resizes nothing) stops everything with one line
naming it, and nothing is written.
"""

import argparse
import csv
import sys
from pathlib import Path

from research_rigor.errors import UserError

PREDICTED = "predicted"  # the column of the predicted class's name
BATCH_SIZE = 64


def columns(classes: list[str]) -> list[str]:
    return ["path", PREDICTED, *(f"p_{name}" for name in classes)]


def predict(
    checkpoint: Path, target: Path, out: Path, accelerator: str | None = None
) -> list[dict[str, str]]:
    """Write `out` (CSV) with the checkpoint's predictions for the images at `target`."""
    # Imported here so that `--help` and argument errors answer at once.
    import torch
    from torch.utils.data import DataLoader

    from {{ cookiecutter.package_name }} import evaluation
    from {{ cookiecutter.package_name }}.data.folders import ImageFolderDataModule, image_files

    model, record, datamodule = evaluation.load(checkpoint)
    if not isinstance(datamodule, ImageFolderDataModule):
        raise UserError(
            f"{checkpoint} was trained on {type(datamodule).__name__} data, not image files: "
            "predict.py reads images; evaluate that dataset's splits with evaluate.py."
        )
    if not target.exists():
        raise UserError(f"{target} does not exist: give an image file or a folder of images.")
    files = image_files(target) if target.is_dir() else [target]
    if not files:
        raise UserError(f"{target} holds no image files Pillow can open.")
    samples = datamodule.unlabelled(files)
    classes = datamodule.committed_split["classes"]
    serves = ((samples.policy.channels, *samples.size), len(classes))
    trained_on = (tuple(model.hparams.input_shape), model.hparams.num_classes)
    if serves != trained_on:
        raise UserError(
            f"{datamodule.split_file} and the data config now give inputs of shape {serves[0]} "
            f"in {serves[1]} classes, but {checkpoint} was trained on {trained_on[0]} in "
            f"{trained_on[1]}: predict from the commit it was trained at "
            f"({record['git_commit']})."
        )
    trainer = evaluation.build_trainer(record, accelerator)
    batches = trainer.predict(model, dataloaders=DataLoader(samples, batch_size=BATCH_SIZE))
    probabilities = torch.cat([logits.float().cpu() for logits, _ in batches]).softmax(dim=1)
    rows = [
        {
            "path": str(path),
            PREDICTED: classes[int(row.argmax())],
            **{f"p_{name}": p for name, p in zip(classes, row.tolist(), strict=True)},
        }
        for path, row in zip(files, probabilities, strict=True)
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as written:
        writer = csv.DictWriter(written, fieldnames=columns(classes))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a checkpoint written by train.py")
    parser.add_argument("images", type=Path, help="an image file, or a folder of them")
    parser.add_argument("--out", type=Path, default=Path("predictions.csv"), help="the CSV file")
    parser.add_argument(
        "--accelerator", default=None, help="cpu, gpu, ... (default: the one the run trained on)"
    )
    args = parser.parse_args()
    try:
        rows = predict(args.checkpoint, args.images, args.out, args.accelerator)
    except UserError as error:
        sys.exit(f"error: {error}")
    print(f"{len(rows)} predictions written to {args.out}")


if __name__ == "__main__":
    main()
