"""Where a number came from: git state, data version, metric version, config, environment.

Strings attached to every number: a run starts only from a clean git tree, or
with `allow_dirty=true`, which is recorded and saves the diff (untracked files'
contents included, up to a size limit), so the run's exact code can be restored.
Every run writes `provenance.json`; a project's checkpoints can carry the same
record (`research_rigor.callbacks.RunStateInCheckpoint`). Deliberately free of
torch and Lightning, so the guard answers before they load.
"""

import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from research_rigor.errors import UserError

RECORD_FILE = "provenance.json"
DIFF_FILE = "dirty.patch"
UNTRACKED_MAX_BYTES = 1024**2  # an untracked file this large is data, not code: named only
DVC_LOCK = "dvc.lock"
DVC_FILE_SUFFIX = ".dvc"  # `dvc add data/x` tracks data/x in data/x.dvc
# Pinned data at least this large is checked by DVC from its state database instead of being
# re-read: opening the DVC repository takes about as long as reading 128 MiB, 0.2 s (1 GB:
# 0.3 s from DVC's state, 1.5 s read; docs/benchmarks.md).
DVC_STATE_MIN_BYTES = 128 * 1024**2
DVC_HASH = "md5"  # DVC 3's hash of files and directories, the `hash:` of its pins
# DVC rewrites these during `dvc repro` / `dvc exp run`: the lock between stages, params.yaml
# with `-S`. What they change is recorded anyway (data version; resolved config and command).
DVC_OWNED = (DVC_LOCK, "params.yaml")
SHOWN_PATHS = 5  # the guard lists this many changed paths, then a count
REDACTED = "***"
SECRET_ENV_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)
SECRET_CONFIG_KEY = re.compile(r"(^|_)(api_?key|token|secret|password)($|_)", re.IGNORECASE)
MIN_SECRET_LENGTH = 8  # shorter environment values are too common to redact safely
PACKAGES = ("torch", "lightning", "torchmetrics", "hydra-core", "wandb", "dvc")
CPU_INFO = Path("/proc/cpuinfo")  # Linux; elsewhere the platform module's processor name
NVIDIA_SMI_DRIVER = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]


@dataclass(frozen=True)
class GitState:
    commit: str | None
    branch: str | None
    changed: list[str] = field(default_factory=list)  # `git status --porcelain` lines

    @property
    def dirty(self) -> bool:
        return self.commit is None or bool(self.changed)


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    except FileNotFoundError:  # git is not installed
        return None
    # Only the final newline goes: porcelain lines start with a meaningful space.
    return done.stdout.rstrip("\n") if done.returncode == 0 else None


def git_state(root: Path) -> GitState | None:
    """The working copy's commit, branch and changes; None outside a git repository."""
    if _git(root, "rev-parse", "--is-inside-work-tree") != "true":
        return None
    status = _git(root, "status", "--porcelain=v1", "--untracked-files=all") or ""
    changed = [line for line in status.splitlines() if line[3:] not in DVC_OWNED]
    return GitState(
        commit=_git(root, "rev-parse", "HEAD"),
        branch=_git(root, "rev-parse", "--abbrev-ref", "HEAD"),
        changed=changed,
    )


def guard(root: Path, allow_dirty: bool) -> GitState:
    """Refuse to train from code that no commit describes, unless told to."""
    state = git_state(root)
    how = "pass allow_dirty=true to train anyway (the run is then marked dirty"
    if state is None:
        if allow_dirty:
            return GitState(commit=None, branch=None)
        raise UserError(
            f"{root} is not inside a git repository, so this run could not be traced to its "
            f"code: run `git init` and commit, or {how})."
        )
    if state.dirty and not allow_dirty:
        if state.commit is None:
            raise UserError(f"the repository has no commit yet: commit your code, or {how}).")
        shown = "\n".join(f"  {line}" for line in state.changed[:SHOWN_PATHS])
        more = len(state.changed) - SHOWN_PATHS
        shown += f"\n  ... and {more} more" if more > 0 else ""
        raise UserError(
            "the git working tree has uncommitted changes:\n"
            f"{shown}\n"
            "Commit or stash them so the run can be traced to a commit, or "
            f"{how} and its diff saved)."
        )
    return state


@dataclass(frozen=True)
class DataState:
    """The data a run reads, as it is on disk, and what DVC pins for it."""

    version: str  # the data's and the split's content: equal data, equal version
    md5: str  # DVC's directory hash of the data on disk, whether or not DVC tracks it
    pinned_md5: str | None  # what dvc.lock or data/<name>.dvc pins; None if untracked
    pinned_in: Path | None  # the file that pins it

    @property
    def dirty(self) -> bool:
        """The data on disk is not the data the commit pins (edited, or never checked out)."""
        return self.pinned_md5 is not None and self.md5 != self.pinned_md5


def data_state(root: Path, data_dir: Path, split_file: Path | None) -> DataState:
    """The data's version and DVC's pin of it, hashed no more often than DVC itself would.

    Large pinned data is hashed by DVC from its state database: a file whose inode, mtime
    and size are those DVC last hashed is not read again (DVC's own trust, as in `dvc
    status`). Everything else is read whole with DVC's hashing, so the version is the same
    whichever way it was computed, and whether or not DVC tracks the data. A project that
    keeps its split beside the data (`split_file`) versions the two together.
    """
    if split_file is not None and not split_file.is_file():
        raise UserError(
            f"{split_file} is missing: write the split of {data_dir} first (the project's "
            "split command), then commit it."
        )
    pinned, pinned_in = _pinned_out(root, data_dir)
    md5 = None
    if pinned is not None and (
        pinned.get("size", DVC_STATE_MIN_BYTES) >= DVC_STATE_MIN_BYTES
        or pinned.get("hash") != DVC_HASH  # pinned by DVC 2, whose md5 only DVC computes
    ):
        md5 = _dvc_workspace_md5(root, data_dir)
    md5 = md5 or _read_md5(data_dir)
    parts = {"data_md5": md5}
    if split_file is not None:
        parts["split_sha256"] = hashlib.sha256(split_file.read_bytes()).hexdigest()
    return DataState(
        version=digest(parts),
        md5=md5,
        pinned_md5=None if pinned is None else pinned.get("md5"),
        pinned_in=pinned_in,
    )


def data_version(root: Path, data_dir: Path, split_file: Path | None) -> str:
    """The version of the data as it is on disk, with its split: equal data, equal version."""
    return data_state(root, data_dir, split_file).version


def check_data(data: DataState, data_dir: Path, allow_dirty: bool) -> None:
    """Refuse to train on data other than what the commit pins, unless told to."""
    if not data.dirty or allow_dirty:
        return
    by_lock = data.pinned_in is not None and data.pinned_in.name == DVC_LOCK
    pin_file = DVC_LOCK if by_lock else f"{data_dir}{DVC_FILE_SUFFIX}"
    pin = f"`dvc {'commit' if by_lock else 'add'} {data_dir}` and commit {pin_file}"
    raise UserError(
        f"{data_dir} is not the data {pin_file} pins (DVC md5 {data.md5[:12]} on disk, "
        f"{(data.pinned_md5 or '')[:12]} pinned): to train on it, run {pin}; to train on the "
        f"pinned data, run `dvc checkout {data_dir}` (`--force` discards edits DVC has not "
        "saved); or pass allow_dirty=true (the run is then marked data_dirty)."
    )


def _read_md5(data_dir: Path) -> str:
    """DVC's directory hash of `data_dir`, reading every byte with DVC's own hashing."""
    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs.local import LocalFileSystem
    from dvc_objects.fs.memory import MemoryFileSystem

    # `build` keeps the directory listing it hashes in an object store; in memory, as DVC does.
    staging = HashFileDB(MemoryFileSystem(), "/")
    _, _, tree = build(staging, str(data_dir), LocalFileSystem(), DVC_HASH, dry_run=True)
    return tree.hash_info.value


def _dvc_workspace_md5(root: Path, data_dir: Path) -> str | None:
    """DVC's hash of the output `data_dir` as it is on disk, from the repository's state
    database (files unchanged since DVC hashed them are not read); None if DVC has no such
    output (no DVC repository, or a stale pin), so that the bytes are read instead."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(root)) as repo:
            # Among the outs as listed: the pipeline's graph checks cost 0.15 s and are `dvc
            # repro`'s business, not this lookup's.
            outs = repo.find_outs_by_path(str(data_dir.resolve()), outs=repo.index.outs)
            return outs[0].get_hash().value
    except DvcException:
        return None


def dvc_md5(root: Path, data_dir: Path) -> str | None:
    """DVC's hash of `data_dir`: pinned in dvc.lock when a stage outputs it, or in the
    `<data_dir>.dvc` file that `dvc add` and `dvc import-url` write for your own data."""
    pinned, _ = _pinned_out(root, data_dir)
    return None if pinned is None else pinned.get("md5")


def _pinned_out(root: Path, data_dir: Path) -> tuple[dict[str, Any] | None, Path | None]:
    """The DVC out entry (md5, size, nfiles) of `data_dir`, and the file that holds it."""
    lock = root / DVC_LOCK
    if lock.is_file() and data_dir.resolve().is_relative_to(root.resolve()):
        relative = data_dir.resolve().relative_to(root.resolve()).as_posix()
        for stage in OmegaConf.to_container(OmegaConf.load(lock)).get("stages", {}).values():
            if out := _out(stage, relative):
                return out, lock
    tracked = data_dir.parent / f"{data_dir.name}{DVC_FILE_SUFFIX}"
    if not tracked.is_file():
        return None, None
    # The paths in a .dvc file are relative to its folder.
    out = _out(OmegaConf.to_container(OmegaConf.load(tracked)), data_dir.name)
    return (out, tracked) if out else (None, None)


def _out(entry: dict[str, Any], path: str) -> dict[str, Any] | None:
    """`path`'s entry among the `outs` of a dvc.lock stage or a .dvc file, if it has an md5."""
    return next(
        (out for out in entry.get("outs", []) if out.get("path") == path and out.get("md5")), None
    )


def _secret_values() -> list[str]:
    return [
        value
        for name, value in os.environ.items()
        if SECRET_ENV_NAME.search(name) and len(value) >= MIN_SECRET_LENGTH
    ]


def redact(value: Any, secrets: list[str] | None = None) -> Any:
    """Replace secrets (environment values, values under secret-looking keys) with ***."""
    secrets = _secret_values() if secrets is None else secrets
    if isinstance(value, dict):
        return {
            key: REDACTED
            if SECRET_CONFIG_KEY.search(str(key)) and value[key] is not None
            else redact(value[key], secrets)
            for key in value
        }
    if isinstance(value, list | tuple):
        return [redact(item, secrets) for item in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
    return value


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _package_set() -> dict[str, str]:
    """Every installed distribution, by its normalized name (what pip and PyPI compare)."""
    found = {}
    for distribution in metadata.distributions():
        name = distribution.metadata["Name"]
        if name:
            found[re.sub(r"[-_.]+", "-", name).lower()] = distribution.version
    return dict(sorted(found.items()))


def _cpu_model() -> str:
    if CPU_INFO.is_file():
        for line in CPU_INFO.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware"):
                return value.strip()
    return platform.processor() or platform.machine()


def _gpu_driver() -> str | None:
    try:
        done = subprocess.run(NVIDIA_SMI_DRIVER, capture_output=True, text=True, check=False)
    except FileNotFoundError:  # no NVIDIA driver on this machine
        return None
    return done.stdout.splitlines()[0].strip() if done.returncode == 0 and done.stdout else None


def _torch_stack() -> dict[str, Any]:
    """Threads, and the accelerator stack when there is one. Imports torch: only at run time."""
    import torch

    gpus = [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
    return {
        "threads": torch.get_num_threads(),
        "cuda": torch.version.cuda,  # None on a CPU build
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "gpus": gpus,
        "gpu_driver": _gpu_driver() if gpus else None,
    }


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def environment() -> dict[str, Any]:
    """What a run's numbers may depend on besides code, data and config; `digest` sums it up."""
    packages = _package_set()
    found = {
        "packages": packages,
        "packages_digest": digest(packages),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "build": " ".join(platform.python_build()),
            "compiler": platform.python_compiler(),
        },
        "os": {
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
            "libc": " ".join(platform.libc_ver()).strip() or None,
        },
        "cpu": {"model": _cpu_model(), "cores": os.cpu_count()},
        "torch": _torch_stack(),
    }
    return {"digest": digest(found), **found}


def chosen(cfg: DictConfig, group: str) -> str | None:
    """The option of config group `group` this run uses: its `name` key when the option has
    one, else the choice Hydra recorded (None outside a Hydra run)."""
    from hydra.core.hydra_config import HydraConfig

    option = cfg.get(group)
    if isinstance(option, DictConfig) and "name" in option:
        return option.name
    return HydraConfig.get().runtime.choices.get(group) if HydraConfig.initialized() else None


def build_record(
    cfg: DictConfig,
    state: GitState,
    root: Path,
    data_dir: Path,
    split_file: Path | None,
    run_dir: Path,
    *,
    metric: tuple[str, int],
    modes: str = "mode",
    fold: tuple[int, int] | None = None,
    datasets: str = "data",
    seeds: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Everything needed to trace, reproduce and compare this run; refuses data that differs
    from its DVC pin unless `allow_dirty=true`. `metric` is the reported metric's name and
    version; `modes` the config group whose option is the run's mode; `fold`, under k-fold,
    the fold held out and the split's number of folds (the experiments tools pair by it);
    `datasets` the config group whose option is the run's dataset; `seeds` each source's
    seed (`Project.source_seeds`), where the sources have seeds of their own."""
    data = data_state(root, data_dir, split_file)
    check_data(data, data_dir, cfg.allow_dirty)
    metric_name, metric_version = metric
    return redact(
        {
            "git_commit": state.commit,
            "git_branch": state.branch,
            "git_dirty": state.dirty,
            "git_changes": state.changed,
            "data_version": data.version,
            "data_dvc_md5": data.pinned_md5,
            "data_dirty": data.dirty,
            "metric_name": metric_name,
            "metric_version": metric_version,
            "mode": chosen(cfg, modes),
            "profile": chosen(cfg, "profile"),
            "seed": cfg.seed,
            "seeds": seeds or {},
            "dataset": chosen(cfg, datasets),
            "fold": None if fold is None else {"held_out": fold[0], "folds": fold[1]},
            "config": OmegaConf.to_container(cfg, resolve=True),
            "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
            "versions": _versions(),
            "environment": environment(),
            "host": platform.node(),
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "run_dir": str(run_dir),
        }
    )


def continue_record(run_dir: Path, current: dict[str, Any]) -> dict[str, Any]:
    """The record of a resumed run: its original one, if the code and data are the same."""
    previous = json.loads((run_dir / RECORD_FILE).read_text())
    for key in ("git_commit", "data_version", "metric_version"):
        if previous[key] != current[key]:
            raise UserError(
                f"cannot resume {run_dir}: it started with {key}={previous[key]} but now "
                f"{key}={current[key]}. Resume from the same commit and data, or start a new run."
            )
    return {**previous, "resumed_at": [*previous.get("resumed_at", []), current["started_at"]]}


def dirty_patch(root: Path, changes: list[str]) -> str:
    """The diff from HEAD to the working tree, untracked files' contents included (each up to
    UNTRACKED_MAX_BYTES; larger ones are named in a comment): `git apply` on a checkout of
    the commit restores the run's code. Git's own index is left untouched."""
    untracked = [line[3:] for line in changes if line.startswith("??")]
    large = [path for path in untracked if (root / path).stat().st_size > UNTRACKED_MAX_BYTES]
    with tempfile.TemporaryDirectory() as scratch:
        index = Path(scratch) / "index"
        env = {**os.environ, "GIT_INDEX_FILE": str(index)}
        git = ["git", "-C", str(root)]
        subprocess.run([*git, "read-tree", "HEAD"], env=env, check=True)
        kept = [path for path in untracked if path not in large]
        if kept:
            subprocess.run([*git, "add", "--intent-to-add", "--", *kept], env=env, check=True)
        done = subprocess.run(
            [*git, "diff", "HEAD", "--binary"], env=env, capture_output=True, text=True, check=True
        )
    limit = f"larger than {UNTRACKED_MAX_BYTES} bytes, not kept"
    note = "".join(f"# untracked, {limit}: {path}\n" for path in large)
    return note + done.stdout


def save(record: dict[str, Any], root: Path, run_dir: Path) -> Path:
    """Write provenance.json, plus the diff that recovers the exact code of a dirty run."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if record["git_dirty"] and record["git_commit"] is not None:
        (run_dir / DIFF_FILE).write_text(dirty_patch(root, record["git_changes"]))
    path = run_dir / RECORD_FILE
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path
