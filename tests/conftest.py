"""The option matrix, in one place, and the shared bake of the slow tier."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[1]

# Every answer combination that changes the output, each baked and linted.
BAKES: dict[str, dict[str, object]] = {
    "defaults": {},
    "mlp-apache-no-actions": {
        "default_mode": "mlp",
        "license": "Apache-2.0",
        "use_github_actions": False,
    },
    "bsd-py310-entity": {
        "license": "BSD-3-Clause",
        "python_version": "3.10",
        "wandb_entity": "my-team",
    },
    "proprietary-py312": {"license": "Proprietary", "python_version": "3.12"},
    "quotes-and-braces": {
        "project_name": "Dr. O'Neil's \"Vision\" Lab {v2}",
        "description": "Quotes \" and ', braces {x}, a back\\slash",
        "author_name": "Zoë O'Brien",
    },
}


def user_env(home: Path, **settings: str) -> dict[str, str]:
    """A user's shell in a fresh home (the default DVC remote is ~/.cache/dvc-remotes/<slug>):
    this environment's Python and tools first on PATH (DVC stages call `python`), a git
    identity, and `settings` on top."""
    return {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
        **settings,
    }


def run(
    args: list[str], cwd: Path, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run a command; on failure show its output in the test report."""
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False, env=env)
    if check and done.returncode != 0:
        pytest.fail(
            f"`{' '.join(args)}` exited {done.returncode} in {cwd}:\n"
            f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
    return done


@pytest.fixture(scope="session")
def installed_project(cookies_session) -> Iterator[Path]:
    """The default bake, installed as its README says, into this (shared) environment."""
    result = cookies_session.bake(template=str(TEMPLATE))
    assert result.exit_code == 0, result.exception
    project = Path(result.project_path)
    run([sys.executable, "-m", "pip", "install", "--quiet", "-e", ".[dev]"], project)
    yield project
    run([sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes", project.name], project)
