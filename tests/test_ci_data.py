"""Slow tier: the baked CI workflow's data step, run as CI runs it, against a local DVC remote.

On a fresh bake, a user's tiny image dataset is `dvc add`-ed, committed and pushed to the
default remote (a folder in a fresh HOME). The step's command is read from the bake's
ci.yml and run with the workflow's env, so this runs exactly what CI runs: it pulls the
dataset when the remote holds it, fails in one line naming the dataset when the remote is
emptied or points nowhere, and pulls nothing under the opt-out.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from .conftest import TEMPLATE, run, user_env

pytestmark = pytest.mark.slow

WORKFLOW = Path(".github") / "workflows" / "ci.yml"
DATA_STEP_COMMAND = "research-rigor ci-data"  # what the data step runs
SWITCH = "DATA_IN_CI"  # the opt-out, in the workflow's top-level env
NAME = "tiles"  # the user's dataset: data/tiles/<class>/<n>.png
CLASSES = ("dark", "light")
PER_CLASS = 3
SIDE = 8  # pixels: a few hundred bytes a file
SLUG = "my-research"  # the default bake's folder, and its remote's
GIT_NO_HOOKS = ["git", "-c", "core.hooksPath=/dev/null"]  # main's branch guard is not tested here


def data_step(project: Path) -> tuple[str, dict[str, str]]:
    """The data step's command and the env GitHub gives it (workflow's, then job's)."""
    workflow = yaml.safe_load((project / WORKFLOW).read_text())
    found = [
        (job, step)
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if DATA_STEP_COMMAND in step.get("run", "")
    ]
    assert len(found) == 1, f"ci.yml has {len(found)} steps running {DATA_STEP_COMMAND}"
    ((job, step),) = found
    settings = {**workflow.get("env", {}), **job.get("env", {}), **step.get("env", {})}
    return step["run"], {key: str(value) for key, value in settings.items()}


def write_images(folder: Path) -> None:
    """A tiny class-per-folder dataset of PNG files: each class a shade, with noise."""
    rng = np.random.default_rng(0)
    for shade, name in enumerate(CLASSES):
        (folder / name).mkdir(parents=True)
        for index in range(PER_CLASS):
            pixels = rng.integers(0, 128, (SIDE, SIDE, 3)) + 127 * shade
            Image.fromarray(pixels.astype(np.uint8)).save(folder / name / f"{index}.png")


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def env(home: Path) -> dict[str, str]:
    """A user's shell in a fresh HOME: the default remote is ~/.cache/dvc-remotes/<slug>."""
    return user_env(home)


def bake(cookies_session) -> Path:
    result = cookies_session.bake(template=str(TEMPLATE))
    assert result.exit_code == 0, result.exception
    return Path(result.project_path)


@pytest.fixture(scope="module")
def project(cookies_session) -> Path:
    return bake(cookies_session)


@pytest.fixture(scope="module")
def pushed(project: Path, env, home: Path) -> dict[str, bytes]:
    """The dataset added, committed and pushed as the README says; its files' bytes."""
    write_images(project / "data" / NAME)
    expected = contents(project / "data" / NAME)
    dvc = [sys.executable, "-m", "dvc"]
    run([*dvc, "add", f"data/{NAME}"], project, env=env)
    run([*GIT_NO_HOOKS, "add", f"data/{NAME}.dvc", "data/.gitignore"], project, env=env)
    run([*GIT_NO_HOOKS, "commit", "--quiet", "-m", f"Add {NAME}"], project, env=env)
    run([*dvc, "push"], project, env=env)
    assert (home / ".cache" / "dvc-remotes" / SLUG).is_dir()
    return expected


def fresh_clone_state(project: Path) -> None:
    """What a CI checkout has: the .dvc file, neither the data nor DVC's cache."""
    shutil.rmtree(project / "data" / NAME, ignore_errors=True)
    shutil.rmtree(project / ".dvc" / "cache", ignore_errors=True)


def run_step(project: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The data step's command, as GitHub runs a `run:` step: bash -e, the workflow's env."""
    command, workflow_env = data_step(project)
    return subprocess.run(
        ["bash", "-e", "-c", command],
        cwd=project,
        env={**env, **workflow_env},
        capture_output=True,
        text=True,
        check=False,
    )


def assert_one_line_naming_the_dataset(done: subprocess.CompletedProcess) -> str:
    assert done.returncode != 0, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    (line,) = lines
    assert f"data/{NAME}" in line and "DVC remote 'local'" in line, line
    assert f'{SWITCH}: "false"' in line and "secrets" in line, line  # both fixes
    return line


def test_the_opt_out_is_on_by_default_at_the_top_of_the_workflow(project):
    workflow = yaml.safe_load((project / WORKFLOW).read_text())
    assert workflow["env"][SWITCH] == "true"
    assert "dvc add" in (project / WORKFLOW).read_text().split(f"{SWITCH}:")[0]  # its comment


def test_without_datasets_the_step_passes_with_no_remote(cookies_session, tmp_path):
    """The fresh bake's digits are made by code: no remote, no data, and the step passes."""
    home = tmp_path / "home"
    home.mkdir()
    done = run_step(bake(cookies_session), user_env(home))
    assert not (home / ".cache" / "dvc-remotes").exists()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nothing to pull" in done.stdout


def test_reachable_remote_the_step_pulls_the_dataset(project, env, pushed):
    fresh_clone_state(project)
    done = run_step(project, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert contents(project / "data" / NAME) == pushed
    assert f"data/{NAME}: pulled" in done.stdout


def test_emptied_remote_fails_in_one_line(project, env, home, pushed, tmp_path):
    remote = home / ".cache" / "dvc-remotes" / SLUG
    fresh_clone_state(project)
    remote.rename(tmp_path / "away")
    try:
        done = run_step(project, env)
    finally:
        (tmp_path / "away").rename(remote)
    line = assert_one_line_naming_the_dataset(done)
    assert "not there" in line
    assert not (project / "data" / NAME).exists()


def test_remote_pointing_nowhere_fails_in_one_line(project, env, pushed, tmp_path):
    nowhere = tmp_path / "no-such-remote"
    fresh_clone_state(project)
    modify = ["remote", "modify", "--local", "local", "url", str(nowhere)]
    run([sys.executable, "-m", "dvc", *modify], project, env=env)
    try:
        done = run_step(project, env)
    finally:
        (project / ".dvc" / "config.local").unlink()
    line = assert_one_line_naming_the_dataset(done)
    assert str(nowhere) in line
    assert not (project / "data" / NAME).exists()


def test_opting_out_in_the_workflow_passes_without_pulling(project, env, pushed):
    workflow = project / WORKFLOW
    original = workflow.read_text()
    assert f'{SWITCH}: "true"' in original
    fresh_clone_state(project)
    workflow.write_text(original.replace(f'{SWITCH}: "true"', f'{SWITCH}: "false"'))
    try:
        done = run_step(project, env)
    finally:
        workflow.write_text(original)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"data/{NAME}" in done.stdout and done.stderr == ""
    assert not (project / "data" / NAME).exists()


def test_a_data_config_without_its_data_fails_in_one_line(project, env, pushed):
    """A config committed without `dvc add` of its folder: CI would skip its tests, silently."""
    fresh_clone_state(project)
    run_step(project, env)  # the tracked dataset back, so only the config is at fault
    config = project / "configs" / "data" / "ghost.yaml"
    config.write_text("data_dir: data/ghost\n")
    try:
        done = run_step(project, env)
    finally:
        config.unlink()
    assert done.returncode != 0
    (line,) = done.stderr.strip().splitlines()
    assert "configs/data/ghost.yaml" in line and "dvc add data/ghost" in line, line


def test_the_step_runs_before_the_tests(project):
    """The tests must see the pulled data: the data step comes before any pytest step."""
    workflow = yaml.safe_load((project / WORKFLOW).read_text())
    commands = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    data = next(i for i, command in enumerate(commands) if DATA_STEP_COMMAND in command)
    tests = [i for i, command in enumerate(commands) if "pytest" in command]
    assert tests and data < min(tests)
