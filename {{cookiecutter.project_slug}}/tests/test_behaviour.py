"""Each mode behaves as recorded, and training is reproducible from its seed.

The config snapshot catches a change to a mode's recipe; this catches a change to the code
every mode shares (data, classifier, encoders, trainer) that moves a mode's numbers. A
failure names each mode and profile whose fingerprint moved, and by how much. After a
deliberate change, review it, then re-record and commit `tests/behaviour.json`, and re-run
the modes that moved (the experiments tool's `affected` command lists them):

    research-rigor behaviour record
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from research_rigor import behaviour
from research_rigor.project import Project

from {{ cookiecutter.package_name }}.model import build_model

from .conftest import MODES, PROFILES, ROOT
from .project_copy import GIT_IDENTITY, committed_copy, git, run

RECORD = "research-rigor behaviour record"
PROJECT = Project.find(ROOT)
COMBINATIONS = [(mode, profile) for mode in MODES for profile in PROFILES]


@pytest.fixture(scope="module")
def recorded() -> dict[str, dict[str, behaviour.Fingerprint]]:
    return behaviour.recorded(PROJECT)


def measure(data_dir: Path, mode: str, profile: str) -> behaviour.Fingerprint:
    cfg = behaviour.compose(PROJECT, mode, profile, (f"data.data_dir={data_dir}",))
    return behaviour.fingerprint(cfg, build_model)


@pytest.fixture(scope="module")
def measured(data_dir: Path) -> dict[tuple[str, str], behaviour.Fingerprint]:
    return {(mode, profile): measure(data_dir, mode, profile) for mode, profile in COMBINATIONS}


@pytest.mark.parametrize(("mode", "profile"), COMBINATIONS)
def test_mode_behaves_as_recorded(recorded, measured, mode, profile):
    assert profile in recorded.get(mode, {}), (
        f"{mode}/{profile} has no recorded behaviour: run `{RECORD}` and commit "
        f"{behaviour.RECORD_FILE}."
    )
    before, now = recorded[mode][profile], measured[(mode, profile)]
    assert not before.moved(now), (
        f"{mode}/{profile} behaves differently: {before.describe_change(now)}, beyond the "
        f"tolerance of {behaviour.RELATIVE_TOLERANCE:g}. If the change is meant, run `{RECORD}`, "
        f"commit {behaviour.RECORD_FILE} and re-run {mode}'s experiments."
    )


def test_no_fingerprint_is_recorded_for_a_mode_that_is_gone(recorded):
    stale = sorted(
        f"{mode}/{profile}"
        for mode, profiles in recorded.items()
        for profile in profiles
        if (mode, profile) not in COMBINATIONS
    )
    assert not stale, (
        f"recorded for modes or profiles that no longer exist: {stale}; run `{RECORD}`"
    )


def test_training_is_reproducible_from_its_seed(measured, data_dir):
    """The same seed twice gives the same bytes: the fingerprints above mean something."""
    mode, profile = COMBINATIONS[0]
    again = measure(data_dir, mode, profile)
    assert again.digest == measured[(mode, profile)].digest, (
        f"{mode}/{profile} trained twice from seed {behaviour.SEED} gave different results "
        f"({measured[(mode, profile)].describe_change(again)}): something draws randomness "
        "that the seed does not control."
    )


def test_the_largest_relative_change_is_named():
    before = behaviour.Fingerprint((2.3, 2.0), 10.0, 3.0, "a")
    after = behaviour.Fingerprint((2.3, 2.1), 10.0001, 3.0, "b")
    assert before.change(after) == ("loss at step 2", pytest.approx(0.1 / 2.1))
    assert before.moved(after) and not before.moved(before)
    assert "loss at step 2 2 -> 2.1" in before.describe_change(after)
    diverged = behaviour.Fingerprint((float("nan"), float("nan")), 10.0, 3.0, "c")
    assert diverged.change(diverged)[1] == 0 and before.change(diverged)[1] == float("inf")


# End to end: `affected` on branches of a committed copy, as a user runs it.

CNN_LR = ("configs/mode/cnn.yaml", "lr: 3.0e-3", "lr: 2.0e-3")
SHARED_HEAD = (  # a change to the classifier every mode shares
    "src/{{ cookiecutter.package_name }}/model.py",
    "self.head = nn.Linear(self.encoder.out_features, num_classes)",
    "self.head = nn.Linear(self.encoder.out_features, num_classes, bias=False)",
)


def branch_with(repo: Path, name: str, path: str, old: str, new: str) -> None:
    git(repo, "switch", "--quiet", "--create", name, "main")
    target = repo / path
    assert old in target.read_text(), f"{old!r} is no longer in {path}"
    target.write_text(target.read_text().replace(old, new, 1))
    git(repo, *GIT_IDENTITY, "commit", "--quiet", "--no-verify", "--all", "-m", name)


@pytest.fixture(scope="module")
def branches(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = committed_copy(tmp_path_factory.mktemp("affected"))
    git(repo, "branch", "--move", "--force", "main")
    branch_with(repo, "exp/cnn-lr", *CNN_LR)
    branch_with(repo, "exp/shared-head", *SHARED_HEAD)
    return repo


def affected(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "research_rigor", "affected", *args], repo)


@pytest.mark.slow
def test_affected_names_only_the_tuned_mode(branches, tmp_path):
    git(branches, "switch", "--quiet", "exp/cnn-lr")
    affected(branches, "--out", str(tmp_path))
    result = json.loads((tmp_path / "affected.json").read_text())
    rows = {(row["mode"], row["profile"]): row for row in result["modes"]}
    for (mode, _), row in rows.items():
        assert row["config_changed"] == row["behaviour_moved"] == (mode == "cnn"), row
    assert result["rerun"] == ["cnn"]
    assert "model.optimizer.lr" in rows[("cnn", PROFILES[0])]["config_keys"]


@pytest.mark.slow
def test_affected_names_every_mode_when_shared_code_moves_them(branches, tmp_path):
    done = affected(branches, "--ref", "exp/shared-head", "--out", str(tmp_path))
    result = json.loads((tmp_path / "affected.json").read_text())
    assert all(row["behaviour_moved"] and not row["config_changed"] for row in result["modes"])
    assert result["rerun"] == MODES
    assert "re-run before merging: " + ", ".join(MODES) in done.stdout
