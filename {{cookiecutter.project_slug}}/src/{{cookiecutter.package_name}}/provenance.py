"""Where a number came from: git state, data version, metric version, config, environment.

Strings attached to every number: a run starts only from a clean git tree, or
with `allow_dirty=true`, which is recorded and saves the diff. Every run writes
`provenance.json`, and the same record travels inside each checkpoint.
Deliberately free of torch and Lightning, so the guard answers before they load.
"""

import hashlib
import json
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.metrics import METRIC_NAME, METRIC_VERSION

RECORD_FILE = "provenance.json"
DIFF_FILE = "dirty.patch"
DVC_LOCK = "dvc.lock"
DVC_FILE_SUFFIX = ".dvc"  # `dvc add data/x` tracks data/x in data/x.dvc
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


def data_version(data_dir: Path) -> str:
    """SHA-256 over the data files' relative paths and bytes: equal data, equal version."""
    digest = hashlib.sha256()
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        digest.update(path.relative_to(data_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def dvc_md5(root: Path, data_dir: Path) -> str | None:
    """DVC's hash of `data_dir`: pinned in dvc.lock when a stage outputs it, or in the
    `<data_dir>.dvc` file that `dvc add` and `dvc import-url` write for your own data."""
    lock = root / DVC_LOCK
    if lock.is_file():
        relative = data_dir.resolve().relative_to(root.resolve()).as_posix()
        for stage in OmegaConf.to_container(OmegaConf.load(lock)).get("stages", {}).values():
            if md5 := _pinned_md5(stage, relative):
                return md5
    tracked = data_dir.parent / f"{data_dir.name}{DVC_FILE_SUFFIX}"
    if tracked.is_file():  # its paths are relative to the .dvc file's folder
        return _pinned_md5(OmegaConf.to_container(OmegaConf.load(tracked)), data_dir.name)
    return None


def _pinned_md5(entry: dict[str, Any], path: str) -> str | None:
    """The md5 of `path` among the `outs` of a dvc.lock stage or a .dvc file."""
    return next((out.get("md5") for out in entry.get("outs", []) if out.get("path") == path), None)


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


def build_record(
    cfg: DictConfig, state: GitState, root: Path, data_dir: Path, run_dir: Path
) -> dict[str, Any]:
    """Everything needed to trace, reproduce and compare this run."""
    return redact(
        {
            "git_commit": state.commit,
            "git_branch": state.branch,
            "git_dirty": state.dirty,
            "git_changes": state.changed,
            "data_version": data_version(data_dir),
            "data_dvc_md5": dvc_md5(root, data_dir),
            "metric_name": METRIC_NAME,
            "metric_version": METRIC_VERSION,
            "mode": cfg.mode.name,
            "profile": cfg.profile.name,
            "seed": cfg.seed,
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


def save(record: dict[str, Any], root: Path, run_dir: Path) -> Path:
    """Write provenance.json, plus the diff that recovers the exact code of a dirty run."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if record["git_dirty"] and record["git_commit"] is not None:
        diff = _git(root, "diff", "HEAD", "--binary") or ""
        untracked = [line[3:] for line in record["git_changes"] if line.startswith("??")]
        note = "".join(f"# untracked: {path}\n" for path in untracked)
        (run_dir / DIFF_FILE).write_text(note + diff + "\n")
    path = run_dir / RECORD_FILE
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path
