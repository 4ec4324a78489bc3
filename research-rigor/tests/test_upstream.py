"""Each private API of another package that research-rigor uses still exists and behaves.

When an upgrade breaks one of these, this test names the package and the API: fix
`research_rigor.upstream`, nowhere else.
"""

import random

import numpy as np
import pytest
import torch

from research_rigor import upstream


def test_lightning_collects_and_restores_every_generator():
    states = upstream.collect_rng_states()
    assert {"torch", "numpy", "python"} <= states.keys(), "lightning: _collect_rng_states"
    expected = (torch.rand(2), np.random.rand(2), random.random())  # noqa: NPY002
    upstream.set_rng_states(states)
    assert torch.equal(torch.rand(2), expected[0]), "lightning: _set_rng_states"
    assert np.array_equal(np.random.rand(2), expected[1])  # noqa: NPY002
    assert random.random() == expected[2]


def test_lightning_tells_a_relaunching_ddp_launcher_apart():
    import lightning as L

    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False)
    assert upstream.relaunches_script(trainer.strategy.launcher), (
        "lightning: _SubprocessScriptLauncher"
    )
    single = L.Trainer(accelerator="cpu", devices=1, logger=False)
    assert not upstream.relaunches_script(single.strategy.launcher)


def test_lightnings_wandb_logger_keeps_its_init_arguments(tmp_path):
    pytest.importorskip("wandb")
    from lightning.pytorch.loggers import WandbLogger

    logger = WandbLogger(mode="disabled", save_dir=str(tmp_path))
    arguments = upstream.wandb_init_arguments(logger)
    assert isinstance(arguments, dict) and "anonymous" in arguments, "lightning: _wandb_init"


def test_a_failed_hydra_job_keeps_its_exception():
    from hydra.core.utils import JobReturn, JobStatus

    error = ValueError("boom")
    result = JobReturn(_return_value=error, status=JobStatus.FAILED)
    assert upstream.job_exception(result) is error, "hydra: JobReturn._return_value"


def test_submitits_state_query_is_swapped_for_squeue():
    watcher = upstream.job_watcher(delay_s=60, from_queue=True, after_update=lambda jobs: None)
    watcher.register_job("42")
    command = watcher._make_command()
    assert command is not None and command[0] == "squeue", "submitit: _make_command"
    assert command[-2:] == ["-j", "42"]
    info = watcher.read_info("42|RUNNING|node1\n")
    assert info["42"]["State"] == "RUNNING", "submitit: read_info"


def test_submitits_watcher_tells_each_state_query_the_unfinished_jobs(monkeypatch):
    from submitit.core import core

    told: list[list[str]] = []
    watcher = upstream.job_watcher(delay_s=60, from_queue=False, after_update=told.append)
    assert watcher._make_command() is None  # nothing registered: no query, no call
    for job in ("7_1", "7_0", "8"):
        watcher.register_job(job)
    accounting = b"JobID|State|NodeList\n7_0|PENDING|None\n7_1|PENDING|None\n8|COMPLETED|n1\n"
    monkeypatch.setattr(core.subprocess, "check_output", lambda *args, **kwargs: accounting)
    assert watcher.get_state("7_0", mode="force") == "PENDING", "submitit: update"
    assert told == [["7_0", "7_1"]], "submitit: _registered, _finished"
