"""Every use of another package's private API, in one place.

Each is something the package's public API lacks; each has a test in
`tests/test_upstream.py` that fails, naming the package, when an upgrade moves it.
Nothing else in the library reaches into another package's internals.
"""

from typing import Any

ACCOUNTING_HEADER = "JobID|State|NodeList"  # the columns submitit reads from sacct
QUEUE_FORMAT = "%i|%T|%N"  # the same columns from squeue


def collect_rng_states() -> dict[str, Any]:
    """Lightning's collection of every generator's state (torch, CUDA, numpy, Python): it has
    no public one, and `seed_everything` only sets seeds."""
    from lightning.fabric.utilities.seed import _collect_rng_states

    return _collect_rng_states(include_cuda=True)


def set_rng_states(states: dict[str, Any]) -> None:
    """The inverse of `collect_rng_states`."""
    from lightning.fabric.utilities.seed import _set_rng_states

    _set_rng_states(states)


def relaunches_script(launcher: Any) -> bool:
    """True when Lightning starts DDP's other processes by re-running the command line (its
    subprocess launcher), which no public attribute tells apart from the other launchers."""
    from lightning.pytorch.strategies.launchers import _SubprocessScriptLauncher

    return (
        isinstance(launcher, _SubprocessScriptLauncher)
        and launcher.num_processes > 1
        and not launcher.cluster_environment.creates_processes_externally
    )


def wandb_init_arguments(logger: Any) -> dict[str, Any]:
    """The keyword arguments Lightning's WandbLogger will pass to `wandb.init`, to drop one
    it always adds (`anonymous`, deprecated by W&B); there is no public way to change them."""
    return logger._wandb_init


def job_exception(result: Any) -> BaseException:
    """The exception a failed Hydra job raised: `JobReturn.return_value` re-raises it."""
    return result._return_value


def queue_watcher(delay_s: int) -> Any:
    """submitit's SLURM job watcher, reading job states from squeue instead of sacct.

    On a cluster without accounting (no slurmdbd, as on a one-node cluster) sacct has
    nothing to read, and a job that died without a result would be waited for forever.
    squeue knows a finished job for SLURM's MinJobAge. submitit has no public hook for its
    state query, so this overrides its private `_make_command`."""
    from submitit.slurm.slurm import SlurmInfoWatcher

    class QueueWatcher(SlurmInfoWatcher):
        def _make_command(self) -> list[str] | None:
            command = super()._make_command()
            if command is None:
                return None
            jobs = [command[i + 1] for i, word in enumerate(command) if word == "-j"]
            queue = ["squeue", "--noheader", "--states=all", f"--format={QUEUE_FORMAT}"]
            return [*queue, "-j", ",".join(jobs)]

        def read_info(self, string: bytes | str) -> dict[str, dict[str, str]]:
            text = string.decode() if isinstance(string, bytes) else string
            return super().read_info(f"{ACCOUNTING_HEADER}\n{text}")

    return QueueWatcher(delay_s=delay_s)
