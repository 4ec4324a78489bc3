"""Experiment rigor: several seeds, a t-test, the baseline re-run from main, A / B / A+B.

    research-rigor seeds [CHANGE...]                  # N seeds
    research-rigor compare --experiment CHANGE...
    research-rigor shadow --a CHANGE... --b CHANGE...
    research-rigor affected

A CHANGE is a git ref (a branch, a commit) and/or Hydra overrides (`key=value`).
Every number comes from a run of the project's training script made now, read back
from its `metrics.json` and `provenance.json`: nothing is remembered from the past.
"""
