"""Train a variant over several seeds with Hydra multirun, and read each run's records back.

A variant is code (a git ref, or the working tree) plus Hydra overrides. It is
trained by the project's own training script (`<train> -m seed=0,1,...`) in that
code's directory, with that code's package first on the path, so a worktree of
`main` trains main's code even though the project is installed from the working tree.
"""

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from research_rigor.errors import UserError
from research_rigor.project import Project
from research_rigor.provenance import RECORD_FILE
from research_rigor.run_dirs import COMPLETED, METRICS_FILE, status

LAUNCH_LOG = "launch.log"  # train.py's output for the whole sweep, next to its runs
FOLD_OVERRIDE = "data.fold"  # k-fold: the data config's key of the fold held out
SHOWN_LOG_CHARS = 3000  # of a failed launch's log


@dataclass(frozen=True)
class Variant:
    """What to train: a ref's code (None: the working tree) with Hydra overrides."""

    label: str
    ref: str | None = None
    overrides: tuple[str, ...] = ()

    @property
    def code(self) -> str:
        return self.ref or "working tree"

    def describe(self) -> str:
        return f"{self.code} with {' '.join(self.overrides)}" if self.overrides else self.code


@dataclass(frozen=True)
class Plan:
    """How every variant of a command is trained: the same seeds, profile and common overrides."""

    project: Project  # what trains, and which numbers it reports
    seeds: tuple[int, ...]
    profile: str | None  # an option of the project's profiles group; None: no profile
    common: tuple[str, ...] = ()  # e.g. logger.mode=disabled
    allow_dirty: bool = False  # let the working tree's variants train with uncommitted changes
    folds: int | None = None  # k-fold: every seed on each of the split's folds; None: no folds

    @property
    def runs(self) -> int:
        """Runs per variant: every seed, on every fold."""
        return len(self.seeds) * (self.folds or 1)


def parse_change(tokens: Sequence[str]) -> tuple[str | None, tuple[str, ...]]:
    """Split command-line tokens into at most one git ref and Hydra overrides (`k=v`, `~k`)."""
    overrides = tuple(token for token in tokens if "=" in token or token.startswith("~"))
    refs = [token for token in tokens if token not in overrides]
    if len(refs) > 1:
        raise UserError(
            f"one change names several git refs ({', '.join(refs)}): give at most one, "
            "plus any number of Hydra overrides (key=value)."
        )
    return (refs[0] if refs else None), overrides


@dataclass(frozen=True)
class Run:
    """One training run, as its records on disk describe it."""

    run_dir: Path
    metrics: dict[str, Any]
    provenance: dict[str, Any]
    metric: str  # the key of the number the run is judged by, in metrics.json
    monitor: str  # the key of the number that selected its best checkpoint

    @classmethod
    def load(cls, run_dir: Path, project: Project) -> "Run":
        return cls(
            run_dir=run_dir.resolve(),
            metrics=json.loads((run_dir / METRICS_FILE).read_text()),
            provenance=json.loads((run_dir / RECORD_FILE).read_text()),
            metric=project.metric,
            monitor=project.monitor,
        )

    @property
    def value(self) -> float:
        """The single number the run is judged by."""
        return float(self.metrics[self.metric])

    @property
    def monitored(self) -> float:
        return float(self.metrics[self.monitor])

    @property
    def seed(self) -> int:
        return int(self.provenance["seed"])

    @property
    def fold(self) -> int | None:
        """k-fold: the fold the run held out as its test split; None outside k-fold."""
        recorded = self.provenance.get("fold")
        return None if recorded is None else int(recorded["held_out"])

    @property
    def folds(self) -> int | None:
        """k-fold: the number of folds of the run's split; None outside k-fold."""
        recorded = self.provenance.get("fold")
        return None if recorded is None else int(recorded["folds"])

    @property
    def dataset(self) -> str | None:
        """The option of the datasets group it trained on (None in records made before)."""
        return self.provenance.get("dataset")

    @property
    def git_commit(self) -> str | None:
        return self.provenance["git_commit"]

    @property
    def git_dirty(self) -> bool:
        return bool(self.provenance["git_dirty"])

    @property
    def metric_version(self) -> int:
        return int(self.metrics["metric_version"])

    @property
    def data_version(self) -> str:
        return self.provenance["data_version"]

    @property
    def profile(self) -> str:
        return self.provenance["profile"]

    @property
    def environment(self) -> dict[str, Any]:
        """The packages, Python, OS and hardware it ran on (empty in records made before)."""
        return self.provenance.get("environment") or {}

    @property
    def environment_digest(self) -> str | None:
        return self.environment.get("digest")

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "seed": self.seed,
            "seeds": self.provenance.get("seeds", {}),  # each source's, where they have their own
            "dataset": self.dataset,
            "fold": self.fold,
            self.metric: self.value,
            self.monitor: self.monitored,
            "git_commit": self.git_commit,
            "git_dirty": self.git_dirty,
            "metric_version": self.metric_version,
            "data_version": self.data_version,
            "profile": self.profile,
            "environment_digest": self.environment_digest,
        }


def sweep_values(overrides: Sequence[str], key: str) -> list[str]:
    """The values a Hydra override of `key` gives: several for a sweep (`key=a,b,c`)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    values: list[str] = []
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        if override.key_or_group != key:
            continue
        if override.is_sweep_override():
            values = list(override.sweep_string_iterator())
        else:
            values = [str(override.value())]
    return values


def sweep_size(overrides: Sequence[str]) -> int:
    """How many runs the sweeps among `overrides` multiply each seed into (`data=a,b,c`: 3)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    size = 1
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        if override.is_sweep_override():
            size *= len(list(override.sweep_string_iterator()))
    return size


def find_runs(directory: Path, project: Project) -> list[Run]:
    """Every completed run under a directory (a run, a sweep, an experiments output), by fold
    and seed."""
    records = sorted(directory.rglob(RECORD_FILE))
    completed = [path.parent for path in records if status(path.parent) == COMPLETED]
    found = [Run.load(run_dir, project) for run_dir in completed]
    return sorted(found, key=lambda run: (str(run.run_dir.parent), run.fold or 0, run.seed))


def environment(code_dir: Path) -> dict[str, str]:
    """The environment that makes `code_dir`'s package the one Python imports."""
    paths = [str(code_dir / "src"), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in paths if path)}


def quoted(path: Path) -> str:
    """A path inside a single-quoted Hydra override value (spaces are fine, quotes escaped)."""
    return str(path).replace("'", "\\'")


def train_seeds(code_dir: Path, variant: Variant, plan: Plan, sweep_dir: Path) -> list[Run]:
    """`python <train> -m seed=...` (and `data.fold=...` under k-fold) in `code_dir`; the runs
    land in `sweep_dir`."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    profile = [f"+{plan.project.profiles}={plan.profile}"] if plan.profile else []
    folds = [f"{FOLD_OVERRIDE}={','.join(map(str, range(plan.folds)))}"] if plan.folds else []
    command = [
        sys.executable,
        plan.project.train,
        "--multirun",
        f"seed={','.join(str(seed) for seed in plan.seeds)}",
        *folds,
        *profile,
        f"hydra.sweep.dir='{quoted(sweep_dir)}'",
        *variant.overrides,
        *plan.common,
        *(["allow_dirty=true"] if plan.allow_dirty and variant.ref is None else []),
    ]
    log = sweep_dir / LAUNCH_LOG
    with log.open("w") as output:
        done = subprocess.run(
            command,
            cwd=code_dir,
            env=environment(code_dir),
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
    runs = find_runs(sweep_dir, plan.project)
    expected = plan.runs * sweep_size([*variant.overrides, *plan.common])  # data=a,b,c: 3 each
    if done.returncode != 0 or len(runs) != expected:
        raise UserError(
            f"training {variant.label} failed ({len(runs)} of {expected} runs finished); "
            f"the end of {log}:\n{log.read_text()[-SHOWN_LOG_CHARS:]}"
        )
    return runs


def python_in(code_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """`python <args>` run in `code_dir`, with that code's package first on the path."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=code_dir,
        env=environment(code_dir),
        capture_output=True,
        text=True,
        check=False,
    )


def metric_version_of(code_dir: Path) -> int:
    """The METRIC_VERSION a checkout's code declares (in its `metric-module`)."""
    reference = Project.find(code_dir).metric_version_ref
    read = f"from research_rigor.project import load; print(load({reference!r}))"
    done = python_in(code_dir, "-c", read)
    if done.returncode != 0:
        raise UserError(f"could not read the metric version of {code_dir}: {done.stderr.strip()}")
    return int(done.stdout)
