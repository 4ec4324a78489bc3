"""Slow tier: the default bake, installed as its README says, trains: each mode fast, one full.

Its own test suite runs as a step of its CI workflow, in tests/test_workflow.py.
"""

import json
import os
import sys
import sysconfig
from pathlib import Path

import pytest

from .conftest import bake_python, run

pytestmark = pytest.mark.slow

FULL_PROFILE_MIN_TEST_ACCURACY = 0.95
NO_WANDB = "logger.mode=disabled"
GIT_IDENTITY = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]  # none on CI
PACKAGE = "my_research"  # the default bake's import name
WHERE_FROM = (  # the file a package would be imported from, or None
    "import importlib.util, sys; spec = importlib.util.find_spec(sys.argv[1]); "
    "print(spec and spec.origin)"
)


def newest_run(project: Path) -> Path:
    return max((project / "outputs" / "runs").iterdir(), key=lambda path: path.stat().st_mtime)


def test_the_bake_imports_its_own_code_and_this_environment_none(
    installed_project: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
):
    """The bake is installed in an environment of its own: nothing in this one (an editable
    .pth, an editable finder) points into a pytest folder, which would take over the
    demo's import while the tests run and leave it on a deleted folder after them."""
    pytest_folders = str(tmp_path_factory.getbasetemp().resolve())
    site_packages = Path(sysconfig.get_path("purelib"))
    installs = [*site_packages.glob("*.pth"), *site_packages.glob("__editable__*")]
    assert [path.name for path in installs if pytest_folders in path.read_text()] == []
    here = run([sys.executable, "-c", WHERE_FROM, PACKAGE], tmp_path).stdout.strip()
    assert not here.startswith(pytest_folders), here
    own = run([bake_python(installed_project), "-c", WHERE_FROM, PACKAGE], tmp_path).stdout
    assert Path(own.strip()).is_relative_to(installed_project.resolve())


def test_readme_first_run_trains_with_no_extra_steps(installed_project):
    done = run([bake_python(installed_project), "train.py", "+profile=fast"], installed_project)
    assert "val/acc = " in done.stdout
    metrics = json.loads((newest_run(installed_project) / "metrics.json").read_text())
    assert metrics["val/acc"] > 0.5
    assert run(["git", "status", "--porcelain"], installed_project).stdout == ""


@pytest.mark.parametrize("mode", ["cnn", "mlp"])
def test_each_mode_trains(installed_project, mode):
    run(
        [bake_python(installed_project), "train.py", f"mode={mode}", "+profile=fast", NO_WANDB],
        installed_project,
    )
    assert (
        json.loads((newest_run(installed_project) / "provenance.json").read_text())["mode"] == mode
    )


def test_full_profile_of_the_default_mode_reaches_its_accuracy(installed_project):
    run([bake_python(installed_project), "train.py", NO_WANDB], installed_project)
    metrics = json.loads((newest_run(installed_project) / "metrics.json").read_text())
    assert metrics["test/acc"] >= FULL_PROFILE_MIN_TEST_ACCURACY


def test_a_second_clone_trains_its_own_code_or_refuses_in_one_line(installed_project, tmp_path):
    """One environment shared by two clones (a baseline and a feature clone): the package
    installed is the first's. Training in the second would record the second's commit and
    run the first's code: refused, naming both. With its own code importable, it trains."""
    second = tmp_path / "second"
    run(["git", "clone", "--quiet", str(installed_project), str(second)], tmp_path)
    package = next(path for path in (second / "src").iterdir() if path.is_dir())
    (package / "feature.py").write_text('"""The second clone\'s change."""\n')
    run(["git", "add", "."], second)
    run(["git", *GIT_IDENTITY, "commit", "--quiet", "-m", "A change in the second clone"], second)

    python = bake_python(installed_project)
    refused = run([python, "train.py", "+profile=fast"], second, check=False)
    assert refused.returncode == 1
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(f"error: this checkout is {second.resolve()}")
    assert str(installed_project.resolve()) in line

    env = {**os.environ, "PYTHONPATH": str(second / "src")}
    quick = ["+profile=fast", "trainer.max_epochs=1", "logger.mode=disabled"]
    run([python, "train.py", *quick], second, env=env)
    assert json.loads((newest_run(second) / "metrics.json").read_text())["status"] == "completed"
