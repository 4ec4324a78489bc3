"""Experiment rigor: several seeds, a t-test, the baseline re-run from main, A / B / A+B, reports.

    python -m {{ cookiecutter.package_name }}.experiments seeds [CHANGE...]           # N seeds
    python -m {{ cookiecutter.package_name }}.experiments compare --experiment CHANGE...
    python -m {{ cookiecutter.package_name }}.experiments shadow --a CHANGE... --b CHANGE...
    python -m {{ cookiecutter.package_name }}.experiments report RUN_DIR...           # bias/variance

A CHANGE is a git ref (a branch, a commit) and/or Hydra overrides (`key=value`).
Every number comes from a run of `train.py` made now, read back from its
`metrics.json` and `provenance.json`: nothing is remembered from the past.
"""
