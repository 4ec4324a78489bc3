"""Hydra's submitit SLURM launcher, with SLURM's failures told in one line.

Configured as `hydra/launcher=slurm` with
`_target_: hydra_plugins.research_rigor_slurm.launcher.SlurmLauncher`.

What Hydra's launcher lacks: sbatch's refusal (unknown partition, no controller)
and a job that failed on its node both end in a traceback there, the cause deep
inside it. Here each ends with `error: <cause>; <where the job's log is>`, exit 1,
and the jobs of the sweep that did run keep their directories.

What SLURM does not say at all: a job that asks for more CPUs, memory or GPUs than any
node of its partition has is accepted and pends forever (reason PartitionConfig) while
the sweep prints nothing. Before submitting, the launcher compares the request with the
partition's nodes (sinfo) and refuses in one line naming both; once submitted, each of
submitit's state queries also reads the jobs' pending reasons (squeue), and a reason that
no waiting ends cancels the sweep's jobs (scancel, by id) and ends it in one line.
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

from research_rigor import slurm, upstream

SUBMIT = "sbatch"
SBATCH_ERROR = f"{SUBMIT}: error: "
JOB_LOG = re.compile(r"(\S+/(\S+?)_\d+)_(?:result\.pkl|log\.err)")  # submitit's per-task files
LOG_SUFFIX = "_log.err"
ERROR = "error: "  # how train.py reports a UserError
NO_ACCOUNTING = "accounting_storage/none"
WATCH_DELAY_S = 600  # submitit's own: the longest wait between two state queries
NODES = "sinfo"
QUEUE = "squeue"
CANCEL = "scancel"
# One sinfo, squeue or scancel call; they retry a controller that does not answer for
# about MessageTimeout (10 s by default), and a query that fails leaves the judging to SLURM.
QUERY_TIMEOUT_S = 30
PENDING_FORMAT = "%i|%r"  # job id (one line per array task with --array), pending reason
NEVER = "error: SLURM would never start "


def cause_in(log: str) -> str:
    """train.py's own `error: ...` line if the job printed one, else the log's last line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line.removeprefix(ERROR) for line in lines if line.startswith(ERROR)]
    return (errors or lines or ["(no output)"])[-1].rstrip(".")


class NeverStartsError(Exception):
    """A submitted job whose pending reason no waiting ends; its message is the one line."""


def query(command: list[str]) -> str | None:
    """A SLURM command's output, or None when it is missing, fails or does not answer."""
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=QUERY_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def partition_nodes(partition: str | None) -> list[slurm.Nodes] | None:
    """The nodes of the partition as sinfo lists them, or None when sinfo does not say."""
    only = [f"--partition={partition}"] if partition else []
    listed = query([NODES, "--noheader", "--exact", *only, f"--format={slurm.SINFO_FORMAT}"])
    return None if listed is None else slurm.partition_nodes(listed, partition)


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
        asked = slurm.request(self.params)
        nodes = partition_nodes(asked.partition) if asked else None
        why = slurm.shortfall(asked, nodes) if asked and nodes else None
        if why:
            sys.exit(f"{NEVER}these jobs: {why}; nothing was submitted.")
        SlurmJob.watcher = upstream.job_watcher(
            WATCH_DELAY_S, from_queue=not has_accounting(), after_update=self.end_if_never
        )
        try:
            returns = super().launch(job_overrides, initial_job_idx)
        except NeverStartsError as never:
            sys.exit(str(never))
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

    def end_if_never(self, job_ids: list[str]) -> None:
        """Cancel the sweep and raise NeverStartsError when a job pends for a reason that no
        waiting ends: submitit's watcher calls this after each of its state queries."""
        arrays = sorted({job.split("_")[0] for job in job_ids})
        listing = ["--noheader", "--array", "--states=PENDING", f"--format={PENDING_FORMAT}"]
        pending = query([QUEUE, *listing, "-j", ",".join(arrays)])
        stuck = [
            (job, reason)
            for job, _, reason in (
                line.strip().partition("|") for line in (pending or "").split("\n")
            )
            if slurm.never_reason(reason) or slurm.judged_reason(reason)
        ]
        if not stuck:
            return
        asked = slurm.request(self.params)  # the same for every job of the sweep
        nodes = partition_nodes(asked.partition) if asked else None
        why = slurm.shortfall(asked, nodes) if asked and nodes else None
        for job, reason in stuck:
            meaning = slurm.never_reason(reason)
            if meaning is None and why is None:
                continue  # it waits for nodes that are busy, down or reserved: they may come
            cancel = f"scancel {' '.join(arrays)}"
            cancelled = query([CANCEL, *arrays]) is not None
            told = (
                f"were cancelled ({cancel})" if cancelled else f"could not be cancelled: {cancel}"
            )
            raise NeverStartsError(
                f"{NEVER}job {job} (pending: {reason.split(',', 1)[0]}, "
                f"{meaning or 'no node of the partition can hold it'}): "
                f"{why or self.what_it_asks(asked)}; the sweep's jobs {told}."
            )

    def what_it_asks(self, asked: slurm.Request | None) -> str:
        """The request, for a job SLURM would never start where sinfo cannot say why."""
        minutes = f"for {self.params.get('timeout_min')} minutes (hydra.launcher.timeout_min)"
        if asked is None:
            return f"each job asks {minutes}; scontrol show job and sinfo -N -l say the rest"
        return (
            f"each job asks for {slurm.offer(asked.cpus, asked.memory_mb, asked.gpus)} per "
            f"node {minutes}; sinfo -N -l shows what the nodes of the partition have"
        )
