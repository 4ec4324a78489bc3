"""A project made with `cruft create` stays linked to the template and takes its updates."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import TEMPLATE, run

CRUFT = str(Path(sys.executable).parent / "cruft")
README_ADDITION = "A line the template gained after the project was made.\n"


@pytest.fixture
def template_repo(tmp_path: Path, monkeypatch) -> Path:
    """The template's working tree (what git would track), committed in a fresh repository."""
    for variable in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        monkeypatch.setenv(variable, "Test")
    for variable in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(variable, "test@example.com")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=TEMPLATE,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    copy = tmp_path / "template"
    for relative in filter(None, listed.split("\0")):
        if (TEMPLATE / relative).is_file():  # a tracked file may be deleted in the working tree
            (copy / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TEMPLATE / relative, copy / relative)
    run(["git", "init", "--quiet", "--initial-branch", "main"], copy)
    run(["git", "add", "--all"], copy)
    run(["git", "commit", "--quiet", "-m", "template"], copy)
    return copy


def git_status(project: Path) -> set[str]:
    return set(run(["git", "status", "--porcelain"], project).stdout.splitlines())


def test_cruft_created_project_is_clean_checks_and_updates(template_repo, tmp_path):
    # The README's sequence: cruft create, then the first commit by hand (.cruft.json included).
    created = run([CRUFT, "create", "--no-input", str(template_repo)], tmp_path)
    assert "rendered by cruft: git is left to you" in created.stdout
    project = tmp_path / "my-research"
    assert not (project / ".git").exists() and (project / ".cruft.json").is_file()
    run(["git", "init", "--quiet", "-b", "main"], project)
    run(["git", "add", "--all"], project)
    run(["git", "commit", "--quiet", "-m", "Initial commit"], project)
    assert git_status(project) == set()  # the first `python train.py` finds a clean tree
    assert "up to date" in run([CRUFT, "check"], project).stdout

    readme = template_repo / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(readme.read_text() + README_ADDITION)
    run(["git", "commit", "--quiet", "--all", "-m", "README: one more line"], template_repo)
    outdated = run([CRUFT, "check"], project, check=False)
    assert outdated.returncode != 0 and "out of date" in outdated.stdout

    run(["git", "switch", "--quiet", "-c", "template-update"], project)
    run([CRUFT, "update", "-y"], project)
    assert (project / "README.md").read_text().endswith(README_ADDITION)
    assert git_status(project) == {"M  README.md", " M .cruft.json"}  # nothing else, no .git noise
    run(["git", "commit", "--quiet", "--all", "-m", "Update from the template"], project)
    assert "up to date" in run([CRUFT, "check"], project).stdout
