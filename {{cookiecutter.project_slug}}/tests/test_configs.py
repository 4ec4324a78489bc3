"""Every mode x profile composes and builds; each resolved config is snapshotted.

The snapshot makes invasive changes visible: tuning one backbone
must change only that backbone's snapshots. After a deliberate change, review
the diff and update with `pytest tests/test_configs.py --snapshot-update`.
"""

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }}.encoders import registry

from .conftest import MODES, PROFILES, build_model, compose_config

COMBINATIONS = [(mode, profile) for mode in MODES for profile in PROFILES]


@pytest.mark.parametrize(("mode", "profile"), COMBINATIONS)
def test_composes_and_instantiates(datamodule, mode, profile):
    cfg = compose_config(mode, profile)
    assert cfg.mode.name == mode and cfg.profile.name == profile
    model = build_model(cfg, datamodule)
    optimizer = model.configure_optimizers()
    assert isinstance(
        optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer, torch.optim.Optimizer
    )
    assert instantiate(cfg.data).batch_size == cfg.data.batch_size


@pytest.mark.parametrize(("mode", "profile"), COMBINATIONS)
def test_resolved_config_matches_snapshot(snapshot, mode, profile):
    """Everything that shapes the experiment; where it is logged to is not part of it."""
    cfg = compose_config(mode, profile)
    del cfg.logger
    assert OmegaConf.to_yaml(cfg, resolve=True) == snapshot


def _encoder_parameters(cfg, datamodule) -> int:
    return sum(p.numel() for p in build_model(cfg, datamodule).encoder.parameters())


@pytest.mark.parametrize("mode", MODES)
def test_fast_profile_is_shorter_and_no_larger(datamodule, mode):
    fast, full = compose_config(mode, "fast"), compose_config(mode, "full")
    assert fast.trainer.max_epochs < full.trainer.max_epochs
    assert _encoder_parameters(fast, datamodule) <= _encoder_parameters(full, datamodule)


@pytest.mark.parametrize("mode", MODES)
def test_bare_train_is_the_full_profile(mode):
    assert compose_config(mode, profile=None) == compose_config(mode, "full")


def test_every_encoder_has_a_mode_and_every_mode_a_registered_encoder():
    names = {f"{cls.__module__}.{cls.__qualname__}": name for name, cls in registry().items()}
    targets = {compose_config(mode).model.encoder._target_ for mode in MODES}
    assert targets <= names.keys(), f"modes using unregistered encoders: {targets - names.keys()}"
    unused = sorted(names[target] for target in names.keys() - targets)
    assert not unused, f"encoders with no configs/mode/ file: {unused}"
