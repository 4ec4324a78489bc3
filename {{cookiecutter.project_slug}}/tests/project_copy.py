"""A committed copy of this project in a temporary git repository, and train.py run in it.

End-to-end tests run train.py in a subprocess, exactly as a user would, against a
copy of the working tree (what git would commit: tracked and untracked files, not
ignored ones) so that they can dirty it, kill it and resume it freely.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GIT_IDENTITY = ("-c", "user.name=Test", "-c", "user.email=test@example.com")


def environment(project: Path, **extra: str) -> dict[str, str]:
    """This machine's environment, with the copy's own code first on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_MODE", "HYDRA_FULL_ERROR")}
    return {**env, "PYTHONPATH": str(project / "src"), **extra}


def run(args: list[str], cwd: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        args, cwd=cwd, env=environment(cwd, **env), capture_output=True, text=True, check=False
    )
    if check and done.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def git(repo: Path, *args: str) -> str:
    return run(["git", *args], repo).stdout.strip()


def committed_copy(destination: Path) -> Path:
    """Copy what git would see of this project and commit it in a fresh repository."""
    listed = git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
    git(destination, "init", "--quiet")
    git(destination, "add", "--all")
    git(destination, *GIT_IDENTITY, "commit", "--quiet", "--no-verify", "-m", "snapshot")
    return destination


def train(project: Path, *overrides: str, check: bool = True, **env: str):
    return run([sys.executable, "train.py", *overrides], project, check=check, **env)


def run_dirs(project: Path) -> set[Path]:
    runs = project / "outputs" / "runs"
    return set(runs.iterdir()) if runs.exists() else set()


def new_run_dir(project: Path, before: set[Path]) -> Path:
    (created,) = run_dirs(project) - before
    return created
