"""requirements.lock: current with pyproject.toml, all pinned but torch, a stale one caught."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from {{ cookiecutter.package_name }} import lockfile

ROOT = Path(__file__).resolve().parents[1]
PINNED = re.compile(r"^([A-Za-z0-9._-]+)==[^\s;]+( ; .+)?$")
NAME = re.compile(r"^[A-Za-z0-9._-]+")


def canonical(requirement: str) -> str:
    """The package a requirement names, spelled as PyPI compares names."""
    return re.sub(r"[-_.]+", "-", NAME.match(requirement).group(0)).lower()


def locked_lines() -> list[str]:
    lines = (ROOT / lockfile.LOCK_FILE).read_text().splitlines()
    return [line for line in lines if line and not line.startswith((" ", "#"))]


def test_the_lock_matches_pyproject():
    lockfile.check(ROOT)


def test_every_package_is_pinned_and_torch_is_left_to_the_machine():
    lines = locked_lines()
    assert [line for line in lines if not PINNED.match(line)] == []
    names = {canonical(line) for line in lines}
    project = lockfile.tomllib.loads((ROOT / lockfile.PYPROJECT).read_text())["project"]
    declared = {
        canonical(spec)
        for spec in project["dependencies"] + project["optional-dependencies"]["dev"]
    }
    assert declared - names == set(lockfile.UNLOCKED)
    assert not {name for name in names if name.startswith(("torch", "nvidia-"))} - {"torchmetrics"}


def test_a_stale_lock_fails_with_the_command_that_refreshes_it(tmp_path):
    for name in (lockfile.PYPROJECT, lockfile.LOCK_FILE):
        shutil.copy(ROOT / name, tmp_path / name)
    pyproject = tmp_path / lockfile.PYPROJECT
    added = pyproject.read_text().replace("dependencies = [", 'dependencies = [\n    "six",', 1)
    pyproject.write_text(added)
    done = subprocess.run(
        [sys.executable, "-m", lockfile.__name__, "--check"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},  # installed or not
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr  # one line, no traceback
    assert done.stderr.startswith(f"error: {lockfile.LOCK_FILE} is stale")
    assert f"`{lockfile.REFRESH}`" in done.stderr
