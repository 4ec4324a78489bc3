"""Every use of another package's private API, in one place.

Each is something the package's public API lacks; each has a test in
`tests/test_upstream.py` that fails, naming the package, when an upgrade moves it.
Nothing else in the library reaches into another package's internals.
"""

from collections.abc import Callable
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


def job_watcher(
    delay_s: int, *, from_queue: bool, after_update: Callable[[list[str]], None]
) -> Any:
    """submitit's SLURM job watcher, calling `after_update` with the ids of the jobs still
    unfinished after each of its state queries, and reading job states from squeue instead
    of sacct when `from_queue`.

    The hook is where the launcher looks for a job that will never start: the watcher is
    what submitit's wait for results polls (at 2, 4, 8, 16 ... s), and an exception raised
    there ends that wait. On a cluster without accounting (no slurmdbd, as on a one-node
    cluster) sacct has nothing to read, and a job that died without a result would be
    waited for forever; squeue knows a finished job for SLURM's MinJobAge. submitit has
    no public hook for its state query, so this overrides its `update`, its private
    `_make_command`, and reads its private `_registered` and `_finished` job ids."""
    from submitit.slurm.slurm import SlurmInfoWatcher

    class Watcher(SlurmInfoWatcher):
        def _make_command(self) -> list[str] | None:
            command = super()._make_command()
            if command is None or not from_queue:
                return command
            jobs = [command[i + 1] for i, word in enumerate(command) if word == "-j"]
            queue = ["squeue", "--noheader", "--states=all", f"--format={QUEUE_FORMAT}"]
            return [*queue, "-j", ",".join(jobs)]

        def read_info(self, string: bytes | str) -> dict[str, dict[str, str]]:
            if not from_queue:
                return super().read_info(string)
            text = string.decode() if isinstance(string, bytes) else string
            return super().read_info(f"{ACCOUNTING_HEADER}\n{text}")

        def update(self) -> None:
            super().update()
            unfinished = sorted(self._registered - self._finished)
            if unfinished:
                after_update(unfinished)

    return Watcher(delay_s=delay_s)
