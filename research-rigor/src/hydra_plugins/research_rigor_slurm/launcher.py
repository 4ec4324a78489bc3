"""Hydra's submitit SLURM launcher, with SLURM's failures told in one line.

Configured as `hydra/launcher=slurm` with
`_target_: hydra_plugins.research_rigor_slurm.launcher.SlurmLauncher`.

What Hydra's launcher lacks: sbatch's refusal (unknown partition, no controller)
and a job that failed on its node both end in a traceback there, the cause deep
inside it. Here each ends with `error: <cause>; <where the job's log is>`, exit 1,
and the jobs of the sweep that did run keep their directories.
"""

import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import (
    SlurmLauncher as SubmititSlurmLauncher,
)
from submitit.slurm.slurm import SlurmJob

from research_rigor import upstream

SUBMIT = "sbatch"
SBATCH_ERROR = f"{SUBMIT}: error: "
JOB_LOG = re.compile(r"(\S+/(\S+?)_\d+)_(?:result\.pkl|log\.err)")  # submitit's per-task files
LOG_SUFFIX = "_log.err"
ERROR = "error: "  # how train.py reports a UserError
NO_ACCOUNTING = "accounting_storage/none"
WATCH_DELAY_S = 600  # submitit's own: the longest wait between two state queries


def cause_in(log: str) -> str:
    """train.py's own `error: ...` line if the job printed one, else the log's last line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line.removeprefix(ERROR) for line in lines if line.startswith(ERROR)]
    return (errors or lines or ["(no output)"])[-1].rstrip(".")


def has_accounting() -> bool:
    shown = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True)
    return NO_ACCOUNTING not in shown.stdout


class SlurmLauncher(SubmititSlurmLauncher):
    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        from submitit.core.utils import FailedJobError, UncompletedJobError

        assert self.config is not None
        logs = Path(str(self.config.hydra.sweep.dir)) / ".submitit"
        if not shutil.which(SUBMIT):
            sys.exit(
                f"error: SLURM is not installed here ({SUBMIT} is not on PATH): submit from a "
                "login node of your cluster (scripts/local_slurm.sh starts one on this "
                "machine); nothing was submitted."
            )
        if not has_accounting():
            SlurmJob.watcher = upstream.queue_watcher(WATCH_DELAY_S)
        try:
            returns = super().launch(job_overrides, initial_job_idx)
        except (FailedJobError, UncompletedJobError) as error:
            message = str(error)
            refusals = [line for line in message.splitlines() if SBATCH_ERROR in line]
            if refusals:
                cause = refusals[-1].split(SBATCH_ERROR, 1)[1]
                sys.exit(
                    f"error: SLURM refused the jobs: {cause} (partition: "
                    f"{self.params.get('partition')}; SLURM_CONF and sinfo show the cluster); "
                    "nothing was submitted."
                )
            found = JOB_LOG.search(message)
            job, log = (found.group(2), found.group(1) + LOG_SUFFIX) if found else ("?", logs)
            sys.exit(
                f"error: SLURM job {job} failed on its node: {cause_in(message)}; its log: "
                f"{log} (the sweep's other jobs keep running: squeue)."
            )
        for result in returns:
            if result.status == JobStatus.FAILED:
                job = result.hydra_cfg.hydra.job.id
                exception = upstream.job_exception(result)
                sys.exit(
                    f"error: SLURM job {job} failed on its node: {type(exception).__name__}: "
                    f"{exception}; its log: {logs / job / (job + '_0' + LOG_SUFFIX)}, and "
                    f"{Path(result.hydra_cfg.hydra.runtime.output_dir) / 'train.log'}."
                )
        return returns
