"""Scaling out on Lightning's and Hydra's own engines: DDP, the launchers, parallel sweeps.

DDP runs train.py once per process, so what is written once per run (the run directory,
provenance, checkpoints, metrics, the W&B run) must still be written exactly once.
"""

import json

import pytest
from hydra import compose, initialize_config_dir
from hydra.plugins.launcher import Launcher
from hydra.utils import instantiate
from research_rigor import slurm

from {{ cookiecutter.package_name }} import evaluation
from {{ cookiecutter.package_name }}.metrics import REPORTED
from {{ cookiecutter.package_name }}.trainer import build_trainer

from .conftest import CONFIG_DIR, MODES, compose_config
from .project_copy import new_run_dir, run_dirs, train

TRAINER_CONFIGS = sorted(path.stem for path in (CONFIG_DIR / "trainer").glob("*.yaml"))
DEVICES, NODES = 4, 2  # what a user asks SLURM for


def launcher(*overrides: str) -> Launcher:
    """The launcher Hydra builds for `python train.py -m <overrides>`."""
    slurm.register_resolver()  # as train.py does
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    return instantiate(cfg.hydra.launcher)


@pytest.mark.parametrize("name", TRAINER_CONFIGS)
def test_every_trainer_config_builds_the_projects_trainer(name, tmp_path):
    """A typo in a trainer config fails here, not after a job waited in a cluster queue."""
    on_this_machine = ("trainer.accelerator=cpu", "trainer.devices=1")
    cfg = compose_config(MODES[0], "fast", (f"trainer={name}", *on_this_machine))
    build_trainer(cfg, tmp_path, record={}, loggers=[])


def test_slurm_launcher_asks_for_one_task_and_gpu_per_device_on_each_node():
    built = launcher(
        "hydra/launcher=slurm",
        "trainer=ddp",
        f"trainer.devices={DEVICES}",
        f"trainer.num_nodes={NODES}",
    )
    assert type(built).__name__ == "SlurmLauncher"  # Hydra loads its plugins under its own names
    # research-rigor's, which tells SLURM's failures in one line
    assert type(built).__module__ == "hydra_plugins.research_rigor_slurm.launcher"
    asked = (built.params["nodes"], built.params["tasks_per_node"], built.params["gpus_per_node"])
    assert asked == (NODES, DEVICES, DEVICES)
    assert built.params["mem_gb"] == DEVICES * slurm.GPU_PROCESS_MEM_GB


def test_slurm_launcher_sizes_a_cpu_job_for_a_small_node():
    """A job asking for more than any node has would never start: a CPU trainer asks for
    one CPU per process (plus its data-loading workers) and a few GB."""
    built = launcher("hydra/launcher=slurm")
    assert (built.params["cpus_per_task"], built.params["mem_gb"]) == (1, slurm.CPU_PROCESS_MEM_GB)
    workers = launcher("hydra/launcher=slurm", "data.num_workers=3", "trainer=ddp_sim")
    assert (workers.params["cpus_per_task"], workers.params["tasks_per_node"]) == (4, 2)


def test_slurm_launcher_asks_for_no_gpu_for_a_cpu_trainer():
    """A CPU partition refuses any GPU request, so a CPU job must not make one."""
    for trainer in ("cpu", "ddp_sim"):
        built = launcher("hydra/launcher=slurm", f"trainer={trainer}")
        assert built.params["gpus_per_node"] is None


def test_joblib_launcher_builds():
    assert type(launcher("hydra/launcher=joblib")).__name__ == "JoblibLauncher"


@pytest.mark.slow
def test_ddp_on_two_processes_records_one_run(project):
    before = run_dirs(project)
    done = train(project, "+profile=fast", "trainer=ddp_sim", "logger.mode=offline")
    run_dir = new_run_dir(project, before)  # exactly one new run directory
    assert done.stdout.count("outputs in") == 1
    assert {path.name for path in (run_dir / "checkpoints").iterdir()} == {"best.ckpt", "last.ckpt"}
    record = json.loads((run_dir / "provenance.json").read_text())
    assert record["command"] == [
        "train.py",
        "+profile=fast",
        "trainer=ddp_sim",
        "logger.mode=offline",
    ]
    assert len(list(run_dir.glob("wandb/offline-run-*"))) == 1
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "completed"
    # Both processes tested half of the split each: together, exactly what one process measures.
    model, record, datamodule = evaluation.load(run_dir / "checkpoints" / "best.ckpt")
    alone = evaluation.evaluate(model, datamodule, "test", evaluation.build_trainer(record))
    assert metrics[REPORTED] == alone.value


@pytest.mark.slow
def test_ddp_started_by_lightning_inside_a_sweep_is_refused(project):
    done = train(
        project, "-m", "+profile=fast", "trainer=ddp_sim", "logger.mode=disabled", check=False
    )
    assert done.returncode == 1
    assert "cannot train with DDP processes" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_joblib_sweep_completes_each_job_in_its_own_directory(project, tmp_path):
    sweep_dir = tmp_path / "sweep"
    train(
        project,
        "-m",
        "hydra/launcher=joblib",
        "+profile=fast",
        "logger.mode=disabled",
        "seed=0,1",
        f"hydra.sweep.dir={sweep_dir}",
    )
    jobs = sorted(path.parent for path in sweep_dir.glob("*/provenance.json"))
    assert [json.loads((job / "provenance.json").read_text())["seed"] for job in jobs] == [0, 1]
    for job in jobs:
        assert json.loads((job / "metrics.json").read_text())["status"] == "completed"
