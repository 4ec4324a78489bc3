"""Run inside a baked project: a Lightning training epoch against a plain PyTorch loop.

    PYTHONPATH=src python <template>/benchmarks/epochs.py --package my_research

Both sides train the same full-profile model from the same seed, with the same
optimizer, on the batches of the same datamodule loader, and accumulate the
epoch's loss and training accuracy. Lightning runs the project's own Trainer (`build_trainer`:
its callbacks, checkpointing, CSV logger and progress bar); a callback times
each training epoch from its first batch to the end of its last, so validation,
checkpointing and start-up are left out, as they are from the plain loop. The
first epoch of each side is a warm-up and not counted. With `--compile`, the
Lightning side is timed again with the model compiled (`compile=true`).
Prints one JSON object: median epoch seconds per repeat for each side.
"""

import argparse
import importlib
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L  # noqa: N812 - the libraries' own conventions
import torch
import torch.nn.functional as F  # noqa: N812
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig

WARM_UP_EPOCHS = 1


class EpochTimer(Callback):
    """Seconds from the start of each training epoch to the end of its last batch."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.started = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, index: int
    ) -> None:
        if index == trainer.num_training_batches - 1:
            self.seconds.append(time.perf_counter() - self.started)


def lightning_epochs(package: str, cfg: DictConfig, data: L.LightningDataModule, compiled: bool):
    build_trainer = importlib.import_module(f"{package}.trainer").build_trainer
    model = new_model(package, cfg, data)
    if compiled:
        model.compile()
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = build_trainer(cfg, Path(run_dir), record={}, loggers=[])
        trainer.callbacks.append(timer)
        trainer.fit(model, datamodule=data)
    return timer.seconds


def plain_epochs(package: str, cfg: DictConfig, data: L.LightningDataModule) -> list[float]:
    model = new_model(package, cfg, data).train()
    configured = model.configure_optimizers()
    optimizer, scheduler = configured["optimizer"], configured["lr_scheduler"]
    accuracy = model.accuracy["fit"]
    seconds = []
    for _ in range(cfg.trainer.max_epochs):
        started = time.perf_counter()
        loss_sum = torch.zeros(())
        for images, labels in data.train_dataloader():
            logits = model(images)
            loss = F.cross_entropy(logits, labels)
            accuracy.update(logits.detach(), labels)
            loss_sum += loss.detach() * len(labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - started)
        accuracy.reset()
        scheduler.step()
    return seconds


def new_model(package: str, cfg: DictConfig, data: L.LightningDataModule) -> L.LightningModule:
    L.seed_everything(cfg.seed, verbose=False)
    classifier = importlib.import_module(f"{package}.model").Classifier
    return classifier.from_config(cfg.model, data.input_shape, data.num_classes)


def steady(seconds: list[float]) -> float:
    return statistics.median(seconds[WARM_UP_EPOCHS:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", required=True, help="the baked project's import name")
    parser.add_argument("--mode", default="cnn")
    parser.add_argument("--epochs", type=int, default=10, help="per side and repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also time compile=true")
    args = parser.parse_args()

    overrides = [f"mode={args.mode}", f"trainer.max_epochs={args.epochs}"]
    with initialize_config_dir(config_dir=str(Path("configs").resolve()), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    torch.use_deterministic_algorithms(cfg.trainer.deterministic)  # as the Trainer sets it
    data = instantiate(cfg.data)
    data.prepare_data()
    data.setup("fit")

    result: dict[str, list[float]] = {"plain": [], "lightning": [], "compiled": [], "warm_up": []}
    for repeat in range(args.repeats):
        sides = ["plain", "lightning"] if repeat % 2 == 0 else ["lightning", "plain"]
        for side in sides:  # alternated, so that a change of load hits both sides alike
            if side == "plain":
                result["plain"].append(steady(plain_epochs(args.package, cfg, data)))
            else:
                result["lightning"].append(
                    steady(lightning_epochs(args.package, cfg, data, compiled=False))
                )
        if args.compile:
            seconds = lightning_epochs(args.package, cfg, data, compiled=True)
            result["compiled"].append(steady(seconds))
            result["warm_up"].append(seconds[0])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
