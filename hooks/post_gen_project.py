"""Finish the project: drop unchosen files, git init, a first commit, pre-commit's git hook.

Never interactive. An optional step that fails (no git, no git identity,
no pre-commit) is reported in one line and worked around, never a crash:
the project files are already written and stay usable.

Under cruft, git is left to the user: cruft writes `.cruft.json` after this
hook, so a first commit here would leave it untracked (a dirty tree that
training refuses), and on `cruft update` cruft renders the template twice into
scratch folders to diff them, where a `.git` would turn that diff into noise.
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
RENDERED_BY_CRUFT = {{ "True" if cookiecutter.get("_commit") else "False" }}  # cruft adds _commit


def notice(message: str) -> None:
    print(f"[{TEMPLATE_NAME}] {message}")


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=False)


def remove_unchosen_files() -> None:
    if LICENSE == "Proprietary":
        Path("LICENSE").unlink()
    if not USE_GITHUB_ACTIONS:
        shutil.rmtree(".github")


def first_commit() -> bool:
    """Commit everything so that the first training run starts from a clean tree."""
    if shutil.which("git") is None:
        notice("git not found: skipped 'git init'. Training refuses to run outside git "
               "(or pass allow_dirty=true); run 'git init' and commit when git is installed.")
        return False
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
    return True


def install_pre_commit() -> None:
    """Check every commit with .pre-commit-config.yaml, if pre-commit is already installed."""
    if shutil.which("pre-commit") is None:
        notice("pre-commit not found: after the README's Setup installs it, run 'pre-commit install' "
               "so that every commit is checked (README: Development workflow).")
        return
    done = subprocess.run(["pre-commit", "install"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        notice(f"'pre-commit install' failed ({done.stderr.strip() or done.stdout.strip()}); "
               "run it by hand.")


if __name__ == "__main__":
    remove_unchosen_files()
    if RENDERED_BY_CRUFT:
        notice("rendered by cruft: git is left to you, so that .cruft.json (written after this "
               "hook) lands in the first commit (README: Updates from the template).")
    elif first_commit():
        install_pre_commit()
    sys.exit(0)
