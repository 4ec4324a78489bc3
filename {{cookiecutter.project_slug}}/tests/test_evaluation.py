"""One evaluation path: `evaluate.py` and the reports measure a checkpoint with the model's own
test step, through Lightning's loops, and reproduce exactly what training measured.

A short run is trained in this process the way train.py trains (the project's trainer, its
checkpoints, the test of the best one, the optional callbacks added); its checkpoints are
then evaluated as a user would."""

import importlib.util
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from research_rigor import provenance
from research_rigor.splits import split_path

from {{ cookiecutter.package_name }} import evaluation
from {{ cookiecutter.package_name }}.metrics import METRIC_NAME, METRIC_VERSION, MONITOR, REPORTED
from {{ cookiecutter.package_name }}.trainer import build_trainer

from .conftest import ROOT, SEED, build_model, compose_config

EPOCHS = 2
CHECKPOINTS = ("best.ckpt", "last.ckpt")


@dataclass(frozen=True)
class TrainedRun:
    run_dir: Path
    tested: dict[str, float]  # what training's test of the best checkpoint logged
    best_score: float  # the val metric that chose the best checkpoint

    @property
    def best(self) -> Path:
        return self.run_dir / "checkpoints" / "best.ckpt"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> TrainedRun:
    run_dir = tmp_path_factory.mktemp("run")
    overrides = (
        f"data.data_dir={data_dir}",
        f"trainer.max_epochs={EPOCHS}",
        "+trainer.enable_progress_bar=false",
        "logger=[csv]",
        "+callbacks=[early_stopping,lr_monitor]",  # the optional callbacks work in a real fit
    )
    cfg = compose_config("mlp", "fast", overrides)
    state = provenance.GitState(commit="0" * 40, branch="main")
    metric = (METRIC_NAME, METRIC_VERSION)
    record = provenance.build_record(
        cfg, state, run_dir, data_dir, split_path(data_dir), run_dir, metric=metric
    )
    L.seed_everything(SEED, verbose=False)
    data = instantiate(cfg.data)
    trainer = build_trainer(cfg, run_dir, record, loggers=[])
    trainer.fit(build_model(cfg, data), datamodule=data)
    (tested,) = trainer.test(datamodule=data, ckpt_path="best", verbose=False)
    return TrainedRun(run_dir, tested, float(trainer.checkpoint_callback.best_model_score))


def test_evaluating_the_best_checkpoint_reproduces_the_runs_own_numbers_exactly(trained):
    model, record, datamodule = evaluation.load(trained.best)
    trainer = evaluation.build_trainer(record)
    assert evaluation.evaluate(model, datamodule, "test", trainer).metrics == trained.tested
    val = evaluation.evaluate(model, datamodule, "val", trainer)
    assert val.metrics[MONITOR] == trained.best_score


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_a_checkpoint_loads_with_weights_only_into_its_own_weights(trained, tmp_path, name):
    sent = tmp_path / "sent.ckpt"  # a checkpoint someone sent you, away from its run
    shutil.copy(trained.run_dir / "checkpoints" / name, sent)
    stored = torch.load(sent, weights_only=True)  # plain types only: nothing is unpickled
    model, record, _ = evaluation.load(sent)
    assert record == stored["provenance"]
    weights = model.state_dict()
    assert weights.keys() == stored["state_dict"].keys()
    assert all(torch.equal(weights[key], stored["state_dict"][key]) for key in weights)


def test_predictions_are_the_models_outputs_on_the_split_in_order(trained):
    model, record, datamodule = evaluation.load(trained.best)
    result = evaluation.evaluate(model, datamodule, "train", evaluation.build_trainer(record))
    samples = datamodule.datasets["train"]
    images, labels = (
        torch.stack(parts) for parts in zip(*(samples[i] for i in range(len(samples))), strict=True)
    )
    predictions = result.predictions
    assert torch.equal(predictions.labels, labels)
    assert torch.equal(predictions.images(torch.arange(len(samples))), images)
    with torch.no_grad():
        logits = model.cpu().eval()(images)
    torch.testing.assert_close(predictions.logits, logits)
    assert torch.equal(predictions.predicted, logits.argmax(dim=-1))  # one class per sample
    correct = predictions.predicted == labels
    assert result.value == pytest.approx(correct.float().mean().item())
    assert predictions.confusion().trace().item() == correct.sum().item()
    counts = torch.bincount(labels, minlength=predictions.num_classes)
    per_class = predictions.per_class_accuracy()
    assert (per_class * counts).sum().item() == pytest.approx(correct.sum().item())
    assert torch.equal(predictions.misclassified(), (~correct).nonzero().flatten())


def _evaluate_script():
    spec = importlib.util.spec_from_file_location("evaluate_script", ROOT / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_evaluate_py_writes_the_runs_test_metric_and_its_plot_data(trained, tmp_path):
    metrics = _evaluate_script().evaluate(trained.best, tmp_path, "test")
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written == metrics and written[REPORTED] == trained.tested[REPORTED]
    assert written["split"] == "test" and written["metric_name"] == METRIC_NAME
    _, _, datamodule = evaluation.load(trained.best)
    datamodule.setup("test")
    confusion = (tmp_path / "plots" / "confusion.csv").read_text().splitlines()
    assert len(confusion) == 1 + len(datamodule.datasets["test"])  # header + one per sample
    labels = datamodule.datasets["test"].labels
    assert [row.split(",")[0] for row in confusion[1:]] == [datamodule.classes[i] for i in labels]
    assert (tmp_path / "plots" / "learning_curves.csv").is_file()
