"""Metric versioning: the metric's definition cannot change without a version bump."""

from {{ cookiecutter.package_name }} import metrics


def test_metric_definition_matches_its_locked_version():
    locked = metrics.read_lock()
    assert locked["fingerprint"] == metrics.fingerprint(), (
        f"The metric definition ({', '.join(metrics.DEFINITION)}: see DEFINITION in "
        "metrics.py) changed. Bump METRIC_VERSION "
        f"in metrics.py and run `python -m {metrics.__name__} lock`, then re-run the baseline: "
        "numbers from the old version are no longer comparable."
    )
    assert locked["version"] == metrics.METRIC_VERSION, (
        f"METRIC_VERSION differs from metric.lock: run `python -m {metrics.__name__} lock`."
    )
