"""The report's parts that are this project's: evaluate.py's plot data for `dvc plots show`
(any class count), and the run evaluation it declares to `research-rigor report`, whose
bias/variance table and figures are tested in research-rigor."""

import importlib.util

import torch
from research_rigor.project import Project, load
from torch.nn.functional import one_hot
from torch.utils.data import TensorDataset

from {{ cookiecutter.package_name }} import report
from {{ cookiecutter.package_name }}.evaluation import Predictions

from .conftest import ROOT

SAMPLES = 60
WRONG_EVERY = 4  # every 4th sample is predicted as the next class


def predictions(num_classes: int) -> Predictions:
    """Labels cycling through the classes; every WRONG_EVERY-th sample predicted wrong."""
    labels = torch.arange(SAMPLES) % num_classes
    predicted = labels.clone()
    predicted[::WRONG_EVERY] = (labels[::WRONG_EVERY] + 1) % num_classes
    images = torch.zeros(SAMPLES, 1, 2, 2)
    return Predictions(one_hot(predicted, num_classes).float(), labels, TensorDataset(images))


def evaluate_script():
    spec = importlib.util.spec_from_file_location("evaluate_script", ROOT / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dvc_plot_data_name_the_classes():
    classes = [f"class_{index:02d}" for index in range(13)]
    outputs = predictions(len(classes))
    confusion, per_class = evaluate_script().plot_rows(outputs, classes)
    assert confusion[0] == {"actual": classes[0], "predicted": classes[1]}  # sample 0 is wrong
    assert confusion[1] == {"actual": classes[1], "predicted": classes[1]}
    assert len(confusion) == SAMPLES
    assert [row["class"] for row in per_class] == classes
    assert [row["accuracy"] for row in per_class] == outputs.per_class_accuracy().tolist()


def test_research_rigor_report_evaluates_runs_with_this_projects_function():
    assert load(Project.find(ROOT).report_ref) is report.evaluate_run
