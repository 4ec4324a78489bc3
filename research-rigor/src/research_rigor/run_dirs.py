"""Where a run writes, and how an interrupted run is found again.

Every run gets its own directory, `outputs/runs/<time>_<mode>_<profile>_s<seed>`
(microseconds apart, so two runs started together never share one). With
`resume=true` the run directory is instead the newest one of the same mode,
profile and seed that did not complete, and training continues from its
`last.ckpt`. Free of torch, because Hydra resolves the run directory before
the training code loads.
"""

import json
import os
from datetime import datetime
from pathlib import Path

from omegaconf import OmegaConf

from research_rigor.errors import UserError

RESOLVER = "run_dir"
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
METRICS_FILE = "metrics.json"
COMPLETED = "completed"
FAILED = "failed"
TIME_FORMAT = "%Y-%m-%d_%H-%M-%S-%f"


def status(run_dir: Path) -> str | None:
    """`completed` or `failed` as written at the end of a run; None while it runs or if killed."""
    metrics = run_dir / METRICS_FILE
    return json.loads(metrics.read_text()).get("status") if metrics.is_file() else None


def interrupted_run(root: Path, name: str) -> Path:
    """The newest run called `name` under `root` that has a last checkpoint and did not complete."""
    candidates = sorted(root.glob(f"*_{name}"), reverse=True)  # names start with the time
    for run_dir in candidates:
        if (run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT).is_file() and status(run_dir) != COMPLETED:
            return run_dir
    raise UserError(
        f"resume=true found no interrupted run {name!r} under {root} (one with "
        f"{CHECKPOINT_DIR}/{LAST_CHECKPOINT} that did not complete). Check mode, profile and "
        "seed, or start a new run without resume=true."
    )


def requeued(run_dir: Path) -> bool:
    """True in a SLURM job that SLURM started again (preempted, or warned of its time limit
    and requeued by submitit) after it had saved a last checkpoint: it continues from there."""
    restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0"))
    return restarts > 0 and (run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT).is_file()


def run_dir(root: str, name: str, resume: bool) -> str:
    """Hydra resolver for `hydra.run.dir`: a new directory, or the interrupted one to resume."""
    if resume:
        return str(interrupted_run(Path(root), name))
    return str(Path(root) / f"{datetime.now().strftime(TIME_FORMAT)}_{name}")


def register_resolver() -> None:
    # Cached like Hydra's own `now`: resolved once per config, so the processes Lightning
    # starts for DDP (given this run's directory) and a submitit job's tasks share one directory.
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, run_dir, use_cache=True)
