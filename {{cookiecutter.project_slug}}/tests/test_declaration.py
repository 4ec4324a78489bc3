"""pyproject.toml's [tool.research-rigor] tells the experiments tools which numbers to read;
metrics.py tells training which to write: the two must name the same numbers."""

from research_rigor.project import Project

from {{ cookiecutter.package_name }}.metrics import MONITOR, REPORTED

from .conftest import ROOT


def test_the_declared_metric_is_the_one_training_reports():
    project = Project.find(ROOT)
    assert (project.metric, project.monitor) == (REPORTED, MONITOR), (
        "[tool.research-rigor] in pyproject.toml declares metric/monitor "
        f"{project.metric}/{project.monitor}, but metrics.py reports {REPORTED}/{MONITOR}"
    )
