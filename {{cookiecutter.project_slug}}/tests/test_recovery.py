"""Faults a long run meets: NaN losses, a killed process, a corrupt checkpoint, two runs at once."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from research_rigor.run_dirs import CHECKPOINT_DIR, LAST_CHECKPOINT, status

from {{ cookiecutter.package_name }}.metrics import MONITOR, REPORTED

from .project_copy import environment, new_run_dir, run, run_dirs, train

pytestmark = pytest.mark.slow

# A short full-profile CNN run: long enough to be killed after its first checkpoint.
SHORT_FULL_RUN = ("mode=cnn", "mode.full.epochs=8", "seed=1")
# Real training that diverges: SGD whose learning rate is multiplied by 1e10 every epoch.
DIVERGING = (
    "mode=mlp",
    "+profile=fast",
    "model.optimizer._target_=torch.optim.SGD",
    "model.optimizer.lr=0.01",
    "model.scheduler._target_=torch.optim.lr_scheduler.ExponentialLR",
    "~model.scheduler.T_max",
    "+model.scheduler.gamma=1e10",
)
POLL_S = 0.05
KILL_DEADLINE_S = 300
RESUME_TOLERANCE = 1e-6  # measured: identical to the last digit (RNG states are checkpointed)


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_nan_loss_stops_at_once_keeps_the_last_good_checkpoint_and_marks_failed(project):
    before = run_dirs(project)
    done = train(project, *DIVERGING, "logger.mode=offline", check=False)
    run_dir = new_run_dir(project, before)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "error: the training loss is nan at step" in done.stderr
    failure = metrics(run_dir)
    assert failure["status"] == "failed" and "NonFiniteLossError" in failure["error"]
    last = torch.load(run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT, weights_only=True)
    assert last["epoch"] < failure["epoch"]  # saved before the loss went bad
    assert all(torch.isfinite(w).all() for w in last["state_dict"].values())
    assert (run_dir / "nonfinite_batch.pt").is_file()


def test_killed_run_resumes_to_the_same_result_as_an_uninterrupted_one(project):
    before = run_dirs(project)
    train(project, *SHORT_FULL_RUN, "logger.mode=offline")
    uninterrupted = new_run_dir(project, before)

    before = run_dirs(project)
    process = subprocess.Popen(
        [sys.executable, "train.py", *SHORT_FULL_RUN, "logger.mode=offline"],
        cwd=project,
        env=environment(project),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + KILL_DEADLINE_S
    while not any(
        (d / CHECKPOINT_DIR / LAST_CHECKPOINT).exists() for d in run_dirs(project) - before
    ):
        assert process.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(POLL_S)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed = new_run_dir(project, before)
    assert status(killed) is None  # no metrics.json: the run never finished
    wandb_id = (killed / "wandb_run_id").read_text()

    train(project, *SHORT_FULL_RUN, "logger.mode=offline", "resume=true")
    assert run_dirs(project) - before == {killed}  # resumed in place, no new directory
    resumed, reference = metrics(killed), metrics(uninterrupted)
    assert resumed["status"] == "completed"
    assert (resumed["epochs"], resumed["global_step"]) == (
        reference["epochs"],
        reference["global_step"],
    )
    for key in (MONITOR, REPORTED):
        assert abs(resumed[key] - reference[key]) <= RESUME_TOLERANCE, key
    assert (killed / "wandb_run_id").read_text() == wandb_id  # the same W&B run continues
    assert len(list(killed.glob(f"wandb/offline-run-*-{wandb_id.strip()}"))) == 2
    assert json.loads((killed / "provenance.json").read_text())["resumed_at"]


def test_resume_with_nothing_to_resume_says_so(project):
    done = train(project, "+profile=fast", "seed=99", "resume=true", check=False)
    assert done.returncode == 1 and "found no interrupted run" in done.stderr


def test_truncated_checkpoint_is_named_in_a_clear_error(project, tmp_path):
    before = run_dirs(project)
    train(project, "+profile=fast", "logger.mode=disabled", "seed=2")
    best = new_run_dir(project, before) / CHECKPOINT_DIR / "best.ckpt"
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(best.read_bytes()[: best.stat().st_size // 2])
    done = run([sys.executable, "evaluate.py", str(truncated)], project, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{truncated} is not a readable checkpoint" in done.stderr


def test_two_runs_started_together_keep_their_own_directories(project):
    before = run_dirs(project)
    args = [sys.executable, "train.py", "+profile=fast", "logger.mode=disabled", "seed=5"]
    processes = [
        subprocess.Popen(args, cwd=project, env=environment(project), stdout=subprocess.DEVNULL)
        for _ in range(2)
    ]
    assert [p.wait() for p in processes] == [0, 0]
    created = run_dirs(project) - before
    assert len(created) == 2
    assert all(status(run_dir) == "completed" for run_dir in created)
