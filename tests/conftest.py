"""The option matrix, in one place, and the shared bake of the slow tier."""

import functools
import os
import re
import subprocess
import sys
import sysconfig
import urllib.error
import urllib.request
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[1]
BAKE_ENVIRONMENT = "bake-env"  # beside the installed bake, in its pytest folder
# Read after the bake's own editable install (.pth files load in name order), so that a
# package of the same name installed here (the demo's) comes later on the path.
SHARED_PACKAGES_PTH = "zz_template_environment.pth"
# The tests that download (pip: hatchling for editable installs, fresh environments) need
# the index pip uses; where it is unreachable they fail saying so, in one line.
PACKAGE_INDEX = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple/")
INDEX_TIMEOUT_S = 10

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


@functools.cache
def unreachable(index: str) -> str | None:
    """Why the package index cannot be reached, or None when it answers (any HTTP status)."""
    try:
        request = urllib.request.Request(index, method="HEAD")
        with urllib.request.urlopen(request, timeout=INDEX_TIMEOUT_S):
            return None
    except urllib.error.HTTPError:
        return None
    except (OSError, ValueError) as error:  # URLError, timeouts, a malformed URL
        return str(getattr(error, "reason", error))


def needs_index(what: str, index: str = PACKAGE_INDEX) -> None:
    """Fail in one line before `what` downloads from an index that cannot be reached."""
    why = unreachable(index)
    if why is not None:
        pytest.fail(
            f"{what} downloads from {index}, which is unreachable ({why}): run the tests "
            "where PyPI is reachable, or set PIP_INDEX_URL to a mirror.",
            pytrace=False,
        )


def metric_version(project: Path) -> int:
    """A bake's METRIC_VERSION, as its metrics.py declares it."""
    (metrics,) = (project / "src").glob("*/metrics.py")
    return int(re.search(r"^METRIC_VERSION = (\d+)", metrics.read_text(), re.MULTILINE)[1])


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


def bake_python(project: Path) -> str:
    """The Python of the installed bake's own environment (see installed_project): the one
    that imports the bake's package, as `python` does in a user's activated environment."""
    return str(project.parent / BAKE_ENVIRONMENT / "bin" / "python")


@pytest.fixture(scope="session")
def installed_project(cookies_session) -> Path:
    """The default bake, installed as its README says into an environment of its own.

    Not into this one: an editable install here takes over every other project's import
    of the same package (the demo of `make demo`) and points it into a deleted pytest
    folder afterwards. The bake's environment reads this one's packages through a .pth
    file (nothing is downloaded but hatchling, which builds the editable install), and its
    own editable install comes first on its path. This environment is left as it was."""
    result = cookies_session.bake(template=str(TEMPLATE))
    assert result.exit_code == 0, result.exception
    project = Path(result.project_path)
    environment = project.parent / BAKE_ENVIRONMENT
    run([sys.executable, "-m", "venv", "--without-pip", str(environment)], project)
    python = bake_python(project)
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    own = Path(run([python, "-c", purelib], project).stdout.strip())
    shared = sysconfig.get_path("purelib")
    (own / SHARED_PACKAGES_PTH).write_text(f"import site; site.addsitedir({shared!r})\n")
    needs_index("the editable install of the bake (pip fetches hatchling to build it)")
    run([python, "-m", "pip", "install", "--quiet", "-e", ".[dev]"], project)
    return project
