"""Shared fixtures: composed configs, the prepared data (once per session), built models."""

from collections.abc import Callable
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from {{ cookiecutter.package_name }}.data.digits import DigitsDataModule, prepare
from {{ cookiecutter.package_name }}.model import Classifier

from .project_copy import committed_copy

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "configs"
MODES = sorted(path.stem for path in (CONFIG_DIR / "mode").glob("*.yaml"))
PROFILES = sorted(path.stem for path in (CONFIG_DIR / "profile").glob("*.yaml"))
SEED = 0


def compose_config(
    mode: str, profile: str | None = "full", overrides: tuple[str, ...] = ()
) -> DictConfig:
    """The config `python train.py mode=<mode> +profile=<profile>` would run (None: no profile)."""
    chosen = [f"mode={mode}", *([f"+profile={profile}"] if profile else []), *overrides]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("train", overrides=chosen)


def build_model(cfg: DictConfig, datamodule: DigitsDataModule) -> Classifier:
    """The classifier exactly as train.py builds it from a config."""
    return Classifier.from_config(cfg.model, datamodule.input_shape, datamodule.num_classes)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed copy of this project, one per test module: end-to-end tests dirty, kill
    and resume runs in it without touching the working tree."""
    return committed_copy(tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The prepared digits data, written once for the whole session."""
    path = tmp_path_factory.mktemp("data") / "digits"
    prepare(path)
    return path


@pytest.fixture(scope="session")
def datamodule(data_dir: Path) -> DigitsDataModule:
    module = DigitsDataModule(data_dir, batch_size=64)
    module.setup()
    return module


@pytest.fixture
def make_model(datamodule: DigitsDataModule) -> Callable[[str, str], Classifier]:
    """Build a seeded model for a mode and profile."""

    def make(mode: str, profile: str = "full") -> Classifier:
        L.seed_everything(SEED, verbose=False)
        return build_model(compose_config(mode, profile), datamodule)

    return make


@pytest.fixture(scope="session")
def batch(datamodule: DigitsDataModule) -> tuple[torch.Tensor, torch.Tensor]:
    """One fixed training batch (the first 64 training samples)."""
    images, labels = datamodule.datasets["train"][:64]
    return images, labels
