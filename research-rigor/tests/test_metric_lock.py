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


def test_an_installed_module_named_by_import_name_is_fingerprinted_from_its_source(
    tmp_path, monkeypatch
):
    """Code the project calls but does not hold (a library's image decoding): its release
    that changes the code moves the fingerprint; one that only rewords it does not."""
    from research_rigor.errors import UserError
    from research_rigor.metric_lock import Definition

    installed = tmp_path / "site" / "probe_library"
    write(installed / "__init__.py", "")
    write(installed / "decoding.py", 'def decode(x):\n    """Scaled."""\n    return x / 255\n')
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    whole = Definition(tmp_path, PACKAGE, 1, ("probe_library.decoding",))
    one = Definition(tmp_path, PACKAGE, 1, ("probe_library.decoding:decode",))
    before = whole.fingerprint(), one.fingerprint()
    edit(installed / "decoding.py", '"""Scaled."""', '"""Scaled to [0, 1]."""')
    assert (whole.fingerprint(), one.fingerprint()) == before
    edit(installed / "decoding.py", "x / 255", "x / 65535")
    assert whole.fingerprint() != before[0] and one.fingerprint() != before[1]
    with pytest.raises(UserError, match=r"probe_library\.absent, which is not an installed"):
        Definition(tmp_path, PACKAGE, 1, ("probe_library.absent",)).fingerprint()
    package = Definition(tmp_path, PACKAGE, 1, ("research_rigor.experiments",))
    with pytest.raises(UserError, match="name each module of a package by its import name"):
        package.fingerprint()  # a package is named module by module
