"""The metric lock: a definition that moves without a version bump is refused, by name."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGE = "lock_probe"
METRICS = """\
    METRIC_VERSION = {version}
    DEFINITION = ("metrics.py", "data", "model.py:test_step")
    EXCLUDED = {{"data/loaders.py:train_loader": "training only"}}
    """
LOADERS = """\
    def train_loader(data):
        return sorted(data)


    def test_loader(data):
        return list(data)
    """
MODEL = """\
    def training_step(x):
        return x * 2


    def test_step(x):
        return x == 1
    """


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def command(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(root / "src"), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "research_rigor", "metric", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / "pyproject.toml", f'[tool.research-rigor]\npackage = "{PACKAGE}"\n')
    source = tmp_path / "src" / PACKAGE
    write(source / "__init__.py", "")
    write(source / "metrics.py", METRICS.format(version=1))
    write(source / "data" / "__init__.py", "")
    write(source / "data" / "loaders.py", LOADERS)
    write(source / "model.py", MODEL)
    assert command(tmp_path, "lock").returncode == 0
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))


def test_training_only_code_and_comments_leave_the_lock_valid(project):
    source = project / "src" / PACKAGE
    edit(source / "model.py", "return x * 2", "return x * 3  # a training change")
    edit(source / "data" / "loaders.py", "return sorted(data)", "return list(reversed(data))")
    edit(source / "data" / "loaders.py", "def test_loader(data):", "def test_loader(data):  # ok")
    assert command(project, "check").returncode == 0


def test_a_new_module_in_a_listed_package_is_covered_and_refused_until_bumped(project):
    source = project / "src" / PACKAGE
    write(source / "data" / "tables.py", "def read(rows):\n    return rows[1:]\n")
    checked = command(project, "check")
    assert checked.returncode == 1 and checked.stderr.count("\n") == 1
    assert "Bump METRIC_VERSION in lock_probe.metrics" in checked.stderr
    refused = command(project, "lock")
    assert refused.returncode == 1 and "bump it" in refused.stderr
    edit(source / "metrics.py", "METRIC_VERSION = 1", "METRIC_VERSION = 2")
    assert command(project, "lock").returncode == 0
    assert command(project, "check").returncode == 0


def test_an_excluded_name_that_is_gone_is_named(project):
    edit(project / "src" / PACKAGE / "data" / "loaders.py", "def train_loader", "def fit_loader")
    checked = command(project, "check")
    assert "data/loaders.py no longer defines data/loaders.py:train_loader" in checked.stderr
