"""Finish the project: drop unchosen files, then git init and a first commit.

Never interactive. An optional step that fails (no git, no git identity,
no pre-commit) is reported in one line and worked around, never a crash:
the project files are already written and stay usable.
"""

import shutil
import subprocess
import sys
from pathlib import Path

LICENSE = {{ cookiecutter.license | tojson }}
USE_GITHUB_ACTIONS = {{ "True" if cookiecutter.use_github_actions else "False" }}
AUTHOR_NAME = {{ cookiecutter.author_name | tojson }}
AUTHOR_EMAIL = {{ cookiecutter.author_email | tojson }}
TEMPLATE_NAME = "cookiecutter-hydra-research"
DEFAULT_BRANCH = "main"


def notice(message: str) -> None:
    print(f"[{TEMPLATE_NAME}] {message}")


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=False)


def remove_unchosen_files() -> None:
    if LICENSE == "Proprietary":
        Path("LICENSE").unlink()
    if not USE_GITHUB_ACTIONS:
        shutil.rmtree(".github")


def first_commit() -> None:
    """Commit everything so that the first training run starts from a clean tree."""
    if shutil.which("git") is None:
        notice("git not found: skipped 'git init'. Training refuses to run outside git "
               "(or pass allow_dirty=true); run 'git init' and commit when git is installed.")
        return
    if git("init", "--initial-branch", DEFAULT_BRANCH).returncode != 0:  # git < 2.28
        git("init")
        git("symbolic-ref", "HEAD", f"refs/heads/{DEFAULT_BRANCH}")
    git("add", "--all")
    identity = []
    if not git("config", "user.email").stdout.strip():
        notice(f"git has no user identity: the first commit is authored as {AUTHOR_NAME} "
               f"<{AUTHOR_EMAIL}>. Set yours with 'git config --global user.name/user.email'.")
        identity = ["-c", f"user.name={AUTHOR_NAME}", "-c", f"user.email={AUTHOR_EMAIL}"]
    commit = subprocess.run(
        ["git", *identity, "commit", "--quiet", "--no-verify", "-m",
         f"Initial commit from {TEMPLATE_NAME}"],
        capture_output=True, text=True, check=False,
    )
    if commit.returncode != 0:
        notice(f"the first commit failed ({commit.stderr.strip() or commit.stdout.strip()}); "
               "commit by hand before training.")


if __name__ == "__main__":
    remove_unchosen_files()
    first_commit()
    sys.exit(0)
