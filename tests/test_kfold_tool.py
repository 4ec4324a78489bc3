"""Slow tier: a 3-fold comparison end to end, as a new user would run it.

On a copy of the fresh bake, main's digits split is written again with three folds and
committed; a branch raises the CNN's learning rate; `research-rigor compare --folds 3`
trains both sides on every fold (one seed each, fast profile) and decides with the
corrected resampled t-test, recomputed here from the runs' own records.
"""

import json
import math
import os
import shutil
import sys
from pathlib import Path

import pytest
from scipy import stats

from .conftest import run
from .test_experiments_tool import BASE_LR, NEW_LR, PACKAGE, QUIET, commit_change, git, tool

pytestmark = pytest.mark.slow

FOLDS = 3
DIGITS = Path("data") / "digits"
SPLIT = Path("data") / "digits.split.json"
METHOD = "corrected resampled t-test over folds (Nadeau and Bengio 2003)"


@pytest.fixture(scope="module")
def compared(installed_project: Path, tmp_path_factory: pytest.TempPathFactory):
    """`compare --folds 3 --seeds 1` from a branch off a main whose split has three folds."""
    copy = tmp_path_factory.mktemp("kfold") / installed_project.name
    shutil.copytree(installed_project, copy, ignore=shutil.ignore_patterns("outputs", "wandb"))
    env = {**os.environ, "PYTHONPATH": str(copy / "src")}
    python = [sys.executable, "-m", f"{PACKAGE}.data"]
    if not (copy / DIGITS).exists():
        run([*python[:-1], f"{PACKAGE}.data.digits", str(DIGITS)], copy, env=env)
    (copy / SPLIT).unlink()
    printed = run([*python, "split", str(DIGITS), "--folds", str(FOLDS)], copy, env=env).stdout
    assert f"{FOLDS} folds tested on" in printed, printed
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
    git(copy, *identity, "commit", "--quiet", "--no-verify", "--all", "--message", "3 folds")
    commit_change(copy, "exp/lr", "configs/mode/cnn.yaml", f"lr: {BASE_LR}", f"lr: {NEW_LR}")
    out = copy / "outputs" / "kfold"
    args = ("--folds", str(FOLDS), "--seeds", "1", "--common", QUIET, "--out", str(out))
    done = tool(copy, "compare", *args)
    return json.loads((out / "compare.json").read_text()), done.stdout


def test_each_side_trains_once_on_every_fold_of_one_split(compared):
    result, _ = compared
    assert result["folds"] == FOLDS and result["test"] == "corrected_resampled_ttest"
    baseline, experiment = result["variants"]
    assert baseline["data_version"] == experiment["data_version"]
    for side in (baseline, experiment):
        assert sorted((run["fold"], run["seed"]) for run in side["runs"]) == [
            (fold, 0) for fold in range(FOLDS)
        ]
        for trained in side["runs"]:
            record = json.loads((Path(trained["run_dir"]) / "provenance.json").read_text())
            assert record["fold"] == {"held_out": trained["fold"], "folds": FOLDS}
            assert record["config"]["data"]["fold"] == trained["fold"]


def test_the_verdict_is_the_corrected_resampled_t_test_of_the_per_fold_differences(compared):
    """Recomputed from the runs' numbers: Var = (1/k + 1/(k - 1)) S^2, k - 1 df."""
    result, printed = compared
    baseline, experiment = (
        {run["fold"]: run["test/acc"] for run in side["runs"]} for side in result["variants"]
    )
    differences = [experiment[fold] - baseline[fold] for fold in range(FOLDS)]
    mean = sum(differences) / FOLDS
    variance = sum((d - mean) ** 2 for d in differences) / (FOLDS - 1)
    verdict = result["against_baseline"]
    assert verdict["fold_differences"] == pytest.approx(differences)
    if variance == 0:  # every fold moved by the same amount: the mean decides
        assert verdict["p_value"] in (0.0, 1.0)
    else:
        statistic = mean / math.sqrt((1 / FOLDS + 1 / (FOLDS - 1)) * variance)
        assert verdict["t_statistic"] == pytest.approx(statistic)
        assert verdict["p_value"] == pytest.approx(2 * stats.t.sf(abs(statistic), FOLDS - 1))
    assert verdict["method"] == METHOD and METHOD in printed
    assert verdict["verdict"] in ("progression", "regression", "inconclusive")
    assert verdict["verdict"] in printed
