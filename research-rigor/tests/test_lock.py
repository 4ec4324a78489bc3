"""requirements.lock: a digest of pyproject.toml's dependencies catches a stale lock offline."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from research_rigor import lock
from research_rigor.errors import UserError

PYPROJECT = """\
[project]
name = "probe"
requires-python = ">=3.10"
dependencies = ["six>=1.16"]

[project.optional-dependencies]
dev = ["pytest>=8"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose lock was written for its current dependencies."""
    (tmp_path / lock.PYPROJECT).write_text(PYPROJECT)
    digest = lock.dependency_digest(tmp_path / lock.PYPROJECT)
    (tmp_path / lock.LOCK_FILE).write_text(lock.header(digest) + "six==1.16.0\npytest==8.3.0\n")
    return tmp_path


def test_a_current_lock_passes_and_names_the_refresh_command_in_its_header(project):
    lock.check(project)
    assert f"Refresh: `{lock.REFRESH}`" in (project / lock.LOCK_FILE).read_text()


def test_a_missing_lock_is_one_line_with_the_command(project):
    (project / lock.LOCK_FILE).unlink()
    with pytest.raises(UserError, match=rf"missing: run `{lock.REFRESH}`"):
        lock.check(project)


def test_a_stale_lock_fails_in_one_line_before_anything_else_is_installed(project):
    pyproject = project / lock.PYPROJECT
    pyproject.write_text(pyproject.read_text().replace('["six>=1.16"]', '["six>=1.16", "rich"]'))
    done = subprocess.run(
        [sys.executable, "-S", "-m", "research_rigor.lock", "--check"],  # -S: no site-packages
        cwd=project,
        env={"PYTHONPATH": str(Path(lock.__file__).parents[1])},  # the library alone
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr  # one line, no traceback
    assert done.stderr.startswith(f"error: {lock.LOCK_FILE} is stale")
    assert f"`{lock.REFRESH}`" in done.stderr


def test_what_only_torch_needs_is_left_out_of_the_lock():
    compiled = textwrap.dedent(
        f"""\
        filelock==3.0
            # via torch
        nvidia-cudnn==9.0 ; {lock.NEVER}
            # via torch
        six==1.16.0
            # via probe
        """
    )
    kept = lock.without_unlocked(compiled)
    assert "nvidia" not in kept and "six==1.16.0" in kept and "filelock==3.0" in kept


def test_a_pyproject_without_a_project_table_is_one_line(tmp_path):
    (tmp_path / lock.PYPROJECT).write_text('[tool.research-rigor]\npackage = "probe"\n')
    (tmp_path / lock.LOCK_FILE).write_text(lock.DIGEST_LINE + "0\n")
    with pytest.raises(UserError, match=r"has no \[project\] table"):
        lock.check(tmp_path)
