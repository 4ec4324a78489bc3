"""Train one backbone with one profile, and record where every number came from.

    python train.py                  # full profile of the default mode
    python train.py +profile=fast    # fast profile: minutes, ranks changes like the full one
    python train.py mode=mlp seed=3  # another backbone (configs/mode/), another seed
    python train.py allow_dirty=true # train from uncommitted code (marked dirty, diff saved)
    python train.py resume=true      # continue the newest interrupted run of this mode/profile/seed
    python train.py trainer=ddp      # every GPU of this machine (README: Scale out)

Flow: compose the config -> check the code is this checkout's -> guard the git tree ->
data -> model -> trainer -> fit -> test the best checkpoint -> metrics.json next to
provenance.json.
"""

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig
from research_rigor import provenance, run_dirs, slurm
from research_rigor.errors import UserError
from research_rigor.project import Project

from {{ cookiecutter.package_name }}.metrics import METRIC_NAME, METRIC_VERSION, MONITOR, REPORTED

PROJECT = Project.find(Path(__file__))  # this checkout and its [tool.research-rigor] table
run_dirs.register_resolver()  # hydra.run.dir: a new directory, or the one to resume
slurm.register_resolver()  # hydra/launcher=slurm: jobs sized from the trainer and data


def train(cfg: DictConfig) -> float:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    root = PROJECT.root
    PROJECT.check_code()  # the code that trains is this checkout's, whose commit is recorded
    git = provenance.guard(root, allow_dirty=cfg.allow_dirty)

    # Heavy imports wait until the config is valid and the tree is clean: mistakes fail fast.
    import lightning as L
    from hydra.utils import instantiate
    from research_rigor import console, tracking
    from research_rigor.callbacks import check_checkpoint, refuse_relaunch_in_sweep
    from research_rigor.results import write_metrics

    from {{ cookiecutter.package_name }}.model import build_model
    from {{ cookiecutter.package_name }}.trainer import build_trainer

    console.configure()
    # The weights' initialization and dropout; the data order and the augmentation draw from
    # their own seeds (seeds.order, seeds.augment), each the run's seed unless set.
    L.seed_everything(cfg.seeds.init, workers=True)
    data = instantiate(cfg.data)
    data.prepare_data()
    metric = (METRIC_NAME, METRIC_VERSION)
    data_files = (data.data_dir, data.split_file)
    record = provenance.build_record(
        cfg,
        git,
        root,
        *data_files,
        run_dir,
        metric=metric,
        fold=data.held_out,
        datasets=PROJECT.datasets,
        seeds=PROJECT.source_seeds(cfg),
    )
    resume_from = None
    if cfg.resume or run_dirs.requeued(run_dir):
        resume_from = run_dir / run_dirs.CHECKPOINT_DIR / run_dirs.LAST_CHECKPOINT
        check_checkpoint(resume_from)
        record = provenance.continue_record(run_dir, record)

    model = build_model(cfg, data)
    wandb = tracking.wandb_logger(cfg, record, run_dir)
    trainer = build_trainer(cfg, run_dir, record, loggers=[wandb] if wandb else [])
    refuse_relaunch_in_sweep(trainer, sweep=HydraConfig.get().mode == RunMode.MULTIRUN)
    if trainer.is_global_zero:  # DDP runs this script once per process: one of them records
        provenance.save(record, root, run_dir)
        tracking.save_run_id(wandb, run_dir)
    if cfg.compile:  # torch.compile the forward pass in place: checkpoints keep their keys
        model.compile()
    trainer.fit(model, datamodule=data, ckpt_path=resume_from)
    trainer.test(model, datamodule=data, ckpt_path="best")
    metrics = write_metrics(trainer, record, run_dir, monitor=MONITOR)
    if wandb:
        wandb.experiment.finish()
    if trainer.is_global_zero:
        print(
            f"{MONITOR} = {metrics[MONITOR]:.4f}, {REPORTED} = {metrics[REPORTED]:.4f}; "
            f"outputs in {run_dir}"
        )
    return metrics[MONITOR]


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float:
    try:
        return train(cfg)
    except UserError as error:  # the user's to fix: one line, no traceback
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
