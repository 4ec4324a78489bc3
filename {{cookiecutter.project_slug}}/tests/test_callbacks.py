"""Callbacks and loggers come from config groups (`configs/callbacks/`, `configs/logger/`),
built by Hydra into the project's Trainer; the safety callbacks stay on whatever is added."""

import importlib.util

import pytest
from hydra.utils import get_class
from lightning.pytorch.callbacks import ModelCheckpoint
from research_rigor import tracking
from research_rigor.callbacks import MarkFailedOnError, RunStateInCheckpoint, StopOnNonFiniteLoss

from {{ cookiecutter.package_name }}.trainer import build_trainer

from .conftest import CONFIG_DIR, MODES, compose_config

CALLBACKS = sorted(path.stem for path in (CONFIG_DIR / "callbacks").glob("*.yaml"))
LOGGERS = sorted(path.stem for path in (CONFIG_DIR / "logger").glob("*.yaml"))
BUILT_BY_TRACKING = "wandb"  # needs the run's provenance: research_rigor.tracking builds it
SAFETY = {ModelCheckpoint, RunStateInCheckpoint, StopOnNonFiniteLoss, MarkFailedOnError}


def test_every_callback_config_is_added_to_the_safety_callbacks(tmp_path):
    added = f"+callbacks=[{','.join(CALLBACKS)}]"
    cfg = compose_config(MODES[0], "fast", (added, "logger=[csv]"))
    built = {type(callback) for callback in build_trainer(cfg, tmp_path, {}, []).callbacks}
    configured = {get_class(entry._target_) for entry in cfg.callbacks.values()}
    assert configured and configured <= built
    assert built >= SAFETY


def test_the_safety_callbacks_are_on_without_any_callback_config(tmp_path):
    cfg = compose_config(MODES[0], "fast", ("logger=[csv]",))
    built = {type(callback) for callback in build_trainer(cfg, tmp_path, {}, []).callbacks}
    assert built >= SAFETY


@pytest.mark.parametrize("name", [name for name in LOGGERS if name != BUILT_BY_TRACKING])
def test_every_logger_config_names_a_logger_the_trainer_builds(tmp_path, name):
    cfg = compose_config(MODES[0], "fast", (f"logger=[{name}]",))
    (entry,) = cfg.logger.values()
    logger_class = get_class(entry._target_)  # the class exists in this Lightning
    package = {"TensorBoardLogger": ("tensorboard", "tensorboardX")}.get(logger_class.__name__)
    if package and not any(importlib.util.find_spec(option) for option in package):
        return  # optional: needs `pip install tensorboard`, which this environment lacks
    (logger,) = build_trainer(cfg, tmp_path, {}, []).loggers
    assert isinstance(logger, logger_class) and str(tmp_path) in logger.log_dir


def test_without_wandb_in_the_logger_list_no_wandb_run_starts(tmp_path):
    cfg = compose_config(MODES[0], "fast", ("logger=[csv]",))
    assert tracking.wandb_logger(cfg, record={}, run_dir=tmp_path) is None
