"""Metric versioning: the metric's definition cannot change without a version bump."""

from research_rigor import metric_lock
from research_rigor.project import Project

from .conftest import ROOT


def test_metric_definition_matches_its_locked_version():
    metric_lock.check(Project.find(ROOT))  # fails naming the fix: bump, lock, re-run
