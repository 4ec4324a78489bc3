"""A baked project's developer workflow: its commit checks, the branch guard and CI's steps."""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .conftest import TEMPLATE, bake_python, run

# The environment's scripts (pre-commit, ruff, check-yaml, nbstripout, dvc): a developer's PATH.
DEV_TOOLS = Path(sys.executable).parent
WORKFLOW = Path(".github") / "workflows" / "ci.yml"
TEMPLATE_WORKFLOW = TEMPLATE / WORKFLOW
PROJECT_WORKFLOW = TEMPLATE / "{{cookiecutter.project_slug}}" / WORKFLOW
INSTALL_STEP_ID = "install"  # the installed_project fixture installs the project instead
LARGE_FILE_KB = 600  # above the large-file hook's limit
GIT_IDENTITY = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
NOTEBOOK_WITH_OUTPUT = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": 1,
            "id": "sum",
            "metadata": {},
            "outputs": [{"name": "stdout", "output_type": "stream", "text": ["3\n"]}],
            "source": ["print(1 + 2)"],
        }
    ],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def steps(workflow: Path) -> list[dict]:
    """Every step of every job. The Jinja workflow is valid YAML too, so it is read the same way."""
    jobs = yaml.safe_load(workflow.read_text())["jobs"].values()
    return [step for job in jobs for step in job["steps"]]


# The steps whose commands the slow tier runs: all `run:` steps but the install.
CI_STEPS = [
    step["name"]
    for step in steps(PROJECT_WORKFLOW)
    if "run" in step and step.get("id") != INSTALL_STEP_ID
]


@pytest.fixture
def dev_tools_on_path(monkeypatch):
    monkeypatch.setenv("PATH", f"{DEV_TOOLS}{os.pathsep}{os.environ['PATH']}")


def bake(cookies, **answers) -> Path:
    result = cookies.bake(template=str(TEMPLATE), extra_context=answers)
    assert result.exit_code == 0, result.exception
    return Path(result.project_path)


def commit(project: Path, message: str, check: bool = True):
    return run(["git", *GIT_IDENTITY, "commit", "-m", message], project, check=check)


def test_every_workflow_matches_github_schema(cookies):
    project = bake(cookies)
    workflows = [
        *TEMPLATE.glob(".github/workflows/*.yml"),
        *project.glob(".github/workflows/*.yml"),
    ]
    assert len(workflows) >= 2
    checker = [str(DEV_TOOLS / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows"]
    run([*checker, *map(str, workflows)], TEMPLATE)


def test_template_ci_runs_the_template_tests():
    assert "bash .ci/run" in [step.get("run") for step in steps(TEMPLATE_WORKFLOW)]


def test_fresh_bake_passes_its_commit_checks_and_installs_them(cookies, dev_tools_on_path):
    project = bake(cookies)
    assert "pre-commit" in (project / ".git" / "hooks" / "pre-commit").read_text()
    run(["pre-commit", "run", "--all-files"], project)
    assert run(["git", "status", "--porcelain"], project).stdout == ""


def test_commit_on_main_is_refused_with_the_branch_workflow(cookies, dev_tools_on_path):
    project = bake(cookies)
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\nA note.\n")
    run(["git", "add", "README.md"], project)

    refused = commit(project, "a change on main", check=False)
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "git switch -c" in output and "SKIP=no-commit-to-main" in output

    run(["git", "switch", "--quiet", "-c", "exp/note"], project)
    commit(project, "a change on its branch")
    assert run(["git", "log", "--oneline", "main..exp/note"], project).stdout.count("\n") == 1


def test_opting_out_of_the_branch_guard_commits_on_main(cookies, dev_tools_on_path, monkeypatch):
    project = bake(cookies)
    (project / "NOTES.md").write_text("# Notes\n")
    run(["git", "add", "NOTES.md"], project)
    monkeypatch.setenv("SKIP", "no-commit-to-main")
    commit(project, "a deliberate commit on main")
    assert run(["git", "status", "--porcelain"], project).stdout == ""


def test_large_files_and_notebook_outputs_are_stopped(cookies, dev_tools_on_path):
    project = bake(cookies)
    (project / "weights.bin").write_bytes(os.urandom(LARGE_FILE_KB * 1024))
    notebook = project / "explore.ipynb"
    notebook.write_text(json.dumps(NOTEBOOK_WITH_OUTPUT, indent=1) + "\n")
    run(["git", "add", "weights.bin", "explore.ipynb"], project)

    done = run(["pre-commit", "run"], project, check=False)
    assert done.returncode != 0
    assert "weights.bin" in done.stdout and "exceeds 500 KB" in done.stdout
    (cell,) = json.loads(notebook.read_text())["cells"]
    assert cell["outputs"] == [] and cell["source"] == ["print(1 + 2)"]


def test_missing_pre_commit_is_reported_not_fatal(cookies, tmp_path, monkeypatch, capfd):
    only_git = tmp_path / "bin"
    only_git.mkdir()
    (only_git / "git").symlink_to(shutil.which("git"))
    monkeypatch.setenv("PATH", str(only_git))
    project = bake(cookies)
    assert "pre-commit not found" in capfd.readouterr().out
    assert not (project / ".git" / "hooks" / "pre-commit").exists()
    assert run(["git", "log", "--oneline"], project).stdout.count("\n") == 1


@pytest.fixture
def ci_checkout(installed_project: Path) -> Iterator[Path]:
    """The installed project, given back as git saw it: a step's files (`dvc repro` writes
    dvc.lock, untracked until committed) must not reach the next test that shares it."""
    yield installed_project
    run(["git", "checkout", "--quiet", "--", "."], installed_project)
    run(["git", "clean", "-fdq"], installed_project)  # untracked files, not the ignored ones


@pytest.mark.slow
@pytest.mark.parametrize("name", CI_STEPS)
def test_ci_step_passes_in_the_installed_project(ci_checkout, dev_tools_on_path, name):
    """The baked workflow's own command, run the way GitHub runs it: bash -e, the job's env."""
    workflow = yaml.safe_load((ci_checkout / WORKFLOW).read_text())
    ((job, step),) = [
        (job, step)
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if step.get("name") == name
    ]
    # The workflow's env, then the job's on top, as GitHub sets them.
    settings = {**workflow.get("env", {}), **job.get("env", {})}
    env = {**os.environ, **{key: str(value) for key, value in settings.items()}}
    # The bake's own environment activated: its `python` imports the bake's code.
    env["PATH"] = f"{Path(bake_python(ci_checkout)).parent}{os.pathsep}{env['PATH']}"
    done = subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=ci_checkout,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, (
        f"CI step {name!r} (`{step['run'].strip()}`) exited {done.returncode}:\n"
        f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
