"""`research-rigor ci-data`: CI's data step, against a real DVC remote in a folder.

A declared project tracks a small dataset with `dvc add` and pushes it; each test starts
from what a CI checkout holds (the `.dvc` file, neither the data nor DVC's cache). The
step pulls the dataset, fails in one line naming the dataset, its remote and the fix when
the remote lost it, skips under DATA_IN_CI=false, and names a data config nothing provides.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from research_rigor import ci_data
from research_rigor.errors import UserError
from research_rigor.project import Project

DATASET = "data/tiles"
FILES = {"a/0.txt": "first sample", "b/1.txt": "second sample"}
PYPROJECT = '[tool.research-rigor]\npackage = "probe"\n'


def dvc(root: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, Path]:
    """A project whose dataset is tracked and pushed to a folder remote; and the remote."""
    root, remote = tmp_path_factory.mktemp("project"), tmp_path_factory.mktemp("remote")
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "configs" / "data").mkdir(parents=True)
    (root / "configs" / "data" / "tiles.yaml").write_text(f"data_dir: {DATASET}\n")
    (root / "configs" / "data" / "live.yaml").write_text("data_dir: ${oc.env:DATA}/x\n")
    for name, text in FILES.items():
        (root / DATASET / name).parent.mkdir(parents=True, exist_ok=True)
        (root / DATASET / name).write_text(text)
    dvc(root, "init", "--no-scm")
    dvc(root, "remote", "add", "--default", "local", str(remote))
    dvc(root, "add", DATASET)
    dvc(root, "push")
    return Project.find(root), remote


@pytest.fixture
def project(pushed: tuple[Project, Path], monkeypatch: pytest.MonkeyPatch) -> Project:
    """The pushed project as a CI checkout has it: no data, no cache; the step opted in."""
    found, _ = pushed
    shutil.rmtree(found.root / DATASET, ignore_errors=True)
    shutil.rmtree(found.root / ".dvc" / "cache", ignore_errors=True)
    monkeypatch.delenv(ci_data.SWITCH, raising=False)
    return found


def one_line_failure(project: Project, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as failed:
        ci_data.run(project)
    assert failed.value.code == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ")
    return line


def test_a_pushed_dataset_is_pulled(project, capsys):
    ci_data.run(project)
    for name, text in FILES.items():
        assert (project.root / DATASET / name).read_text() == text
    assert f"{DATASET}: pulled from DVC remote 'local'" in capsys.readouterr().out


def test_a_remote_that_lost_the_data_fails_in_one_line_naming_dataset_remote_and_fix(
    project, pushed, capsys, tmp_path
):
    _, remote = pushed
    remote.rename(tmp_path / "away")
    try:
        line = one_line_failure(project, capsys)
    finally:
        (tmp_path / "away").rename(remote)
    assert f"{DATASET} ({DATASET}.dvc)" in line and "DVC remote 'local'" in line
    assert "not there" in line and "a folder on the machine that pushed" in line
    assert "secrets" in line and f'{ci_data.SWITCH}: "{ci_data.OFF}"' in line
    assert not (project.root / DATASET).exists()


def test_opting_out_pulls_nothing_and_names_what_it_skipped(project, capsys, monkeypatch):
    monkeypatch.setenv(ci_data.SWITCH, ci_data.OFF)
    ci_data.run(project)
    assert DATASET in capsys.readouterr().out
    assert not (project.root / DATASET).exists()


def test_a_switch_neither_true_nor_false_is_refused(project, monkeypatch):
    monkeypatch.setenv(ci_data.SWITCH, "yes")
    with pytest.raises(UserError, match=f"{ci_data.SWITCH}='yes'"):
        ci_data.run(project)


def test_a_data_config_whose_folder_nothing_provides_fails_in_one_line(project, capsys):
    ghost = project.root / "configs" / "data" / "ghost.yaml"
    ghost.write_text("data_dir: data/ghost\n")
    try:
        line = one_line_failure(project, capsys)
    finally:
        ghost.unlink()
    assert "configs/data/ghost.yaml" in line and "`dvc add data/ghost`" in line
    assert (project.root / DATASET).is_dir()  # the tracked dataset was pulled all the same


def test_without_tracked_datasets_there_is_nothing_to_pull(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(ci_data.SWITCH, raising=False)
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    dvc(tmp_path, "init", "--no-scm")
    ci_data.run(Project.find(tmp_path))
    assert "nothing to pull" in capsys.readouterr().out
