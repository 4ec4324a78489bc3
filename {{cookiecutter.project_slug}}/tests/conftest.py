"""Shared fixtures: composed configs, every dataset the project has, built models.

The data-driven fixtures (`datamodule`, `batch`, `make_model`) run each test that uses
them once per dataset in configs/data/ whose files are present: the suite checks the
data the project trains on, not only the embedded digits. A dataset whose files are
absent (a clone before `dvc pull`) is skipped with the reason.
"""

from collections.abc import Callable
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig
from research_rigor.datamodule import ClassificationDataModule
from torch.utils.data import default_collate as collate

from {{ cookiecutter.package_name }}.data.digits import DigitsDataModule
from {{ cookiecutter.package_name }}.model import Classifier

from .project_copy import committed_copy

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "configs"
MODES = sorted(path.stem for path in (CONFIG_DIR / "mode").glob("*.yaml"))
PROFILES = sorted(path.stem for path in (CONFIG_DIR / "profile").glob("*.yaml"))
DATASETS = sorted(path.stem for path in (CONFIG_DIR / "data").glob("*.yaml"))
DEFAULT_DATASET = "digits"
DEFAULT_MODE = "{{ cookiecutter.default_mode }}"
SEED = 0
BATCH = 64  # samples in the fixed training batch


def compose_config(
    mode: str, profile: str | None = "full", overrides: tuple[str, ...] = ()
) -> DictConfig:
    """The config `python train.py mode=<mode> +profile=<profile>` would run (None: no profile)."""
    chosen = [f"mode={mode}", *([f"+profile={profile}"] if profile else []), *overrides]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("train", overrides=chosen)


def build_model(cfg: DictConfig, datamodule: ClassificationDataModule) -> Classifier:
    """The classifier exactly as train.py builds it from a config."""
    return Classifier.from_config(
        cfg.model, datamodule.input_shape, datamodule.num_classes, cfg.seeds.augment
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed copy of this project, one per test module: end-to-end tests dirty, kill
    and resume runs in it without touching the working tree."""
    return committed_copy(tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The embedded digits, prepared in the project's data/ as on first use."""
    module = DigitsDataModule(ROOT / "data" / DEFAULT_DATASET, batch_size=BATCH)
    module.prepare_data()
    return module.data_dir


def load_dataset(name: str) -> ClassificationDataModule:
    """The datamodule `data=<name>` trains on, set up; skipped when its files are absent."""
    config = compose_config(DEFAULT_MODE, overrides=(f"data={name}",)).data
    config.data_dir = str(ROOT / config.data_dir)
    module = instantiate(config)
    if not module.data_dir.exists() and not isinstance(module, DigitsDataModule):
        pytest.skip(f"{name}: {module.data_dir} is absent (fetch it with `dvc pull`)")
    module.prepare_data()
    module.setup()
    return module


@pytest.fixture(scope="session", params=DATASETS)
def datamodule(request: pytest.FixtureRequest) -> ClassificationDataModule:
    return load_dataset(request.param)


@pytest.fixture
def make_model(datamodule: ClassificationDataModule) -> Callable[[str, str], Classifier]:
    """Build a seeded model for a mode and profile, shaped for the dataset."""

    def make(mode: str, profile: str = "full") -> Classifier:
        L.seed_everything(SEED, verbose=False)
        return build_model(compose_config(mode, profile), datamodule)

    return make


@pytest.fixture(scope="session")
def batch(datamodule: ClassificationDataModule) -> tuple[torch.Tensor, torch.Tensor]:
    """One fixed training batch, spread evenly over the training split: samples stored
    class by class (image folders) still give a batch of every class."""
    train = datamodule.datasets["train"]
    positions = np.linspace(0, len(train) - 1, min(BATCH, len(train))).round().astype(int)
    return collate([train[int(position)] for position in positions])
