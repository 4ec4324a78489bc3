"""Each source of randomness follows its own seed and no other: the weights' initialization
(seeds.init), the training order and the loader workers (seeds.order), the augmentation
(seeds.augment). `research-rigor seeds --vary` relies on it to vary one source at a time."""

import lightning as L
import pytest
import torch
from research_rigor.project import Project
from torch.utils.data import Dataset

from {{ cookiecutter.package_name }}.model import build_model

from .conftest import DEFAULT_MODE, ROOT, compose_config, load_dataset

PROJECT = Project.find(ROOT)
FLIP = {"_target_": "kornia.augmentation.RandomHorizontalFlip", "p": 0.5}
WORKERS = 2


def order(seed: int, epoch: int = 0, global_seed: int = 0) -> list[int]:
    """The labels of the first training batch of an epoch, with the global generator at
    `global_seed` (what the initialization's seed drives)."""
    module = load_dataset("digits")
    module.order_seed = seed
    loader = module.train_dataloader()
    loader.sampler.set_epoch(epoch)  # as Lightning does at each epoch
    torch.manual_seed(global_seed)
    return next(iter(loader))[1].tolist()


def test_the_training_order_follows_the_order_seed_and_the_epoch_alone():
    assert order(0) == order(0, global_seed=1)  # the initialization's seed does not move it
    assert order(0) != order(1)
    assert order(0, epoch=1) != order(0) and order(0, epoch=1) == order(0, epoch=1)
    assert order(1) != order(0, epoch=1)  # seeds are mixed, not added to the epoch


class WorkerSeed(Dataset):
    """Each sample is the torch seed of the worker process that loaded it."""

    def __len__(self) -> int:
        return 2 * WORKERS

    def __getitem__(self, position: int) -> torch.Tensor:
        return torch.tensor(torch.initial_seed())


def worker_seeds(seed: int, global_seed: int = 0) -> list[int]:
    module = load_dataset("digits")
    module.order_seed, module.num_workers, module.batch_size = seed, WORKERS, 1
    module.datasets = {**module.datasets, "val": WorkerSeed()}
    torch.manual_seed(global_seed)
    return [int(sample) for sample in module.val_dataloader()]


def test_loader_workers_are_seeded_apart_from_the_order_seed_alone():
    seeds = worker_seeds(0)
    assert len(set(seeds)) == WORKERS  # each worker its own seed
    assert worker_seeds(0, global_seed=1) == seeds and worker_seeds(1) != seeds


def augmented(augment_seed: int, init_seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch as the augmentation left it, and the global generator's next draw."""
    cfg = compose_config(DEFAULT_MODE, overrides=(f"seeds.augment={augment_seed}",))
    cfg.model.augment = [FLIP]
    module = load_dataset("digits")
    model = build_model(cfg, module)
    images = next(iter(module.val_dataloader()))[0]
    torch.manual_seed(init_seed)
    return model.augmented(images, batch_idx=0), torch.rand(1)


def test_the_augmentation_follows_its_own_seed_and_leaves_the_global_generator_alone():
    flipped, after = augmented(0, init_seed=0)
    again, _ = augmented(0, init_seed=1)
    torch.testing.assert_close(again, flipped)  # the initialization's seed does not move it
    assert not torch.equal(augmented(1, init_seed=0)[0], flipped)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(1))  # no draw taken from the global generator


def test_the_initialization_follows_the_init_seed_alone():
    def weights(*overrides: str) -> torch.Tensor:
        cfg = compose_config(DEFAULT_MODE, overrides=overrides)
        L.seed_everything(cfg.seeds.init, verbose=False)  # as train.py does
        return next(build_model(cfg, load_dataset("digits")).parameters()).detach()

    assert torch.equal(weights("seeds.order=3", "seeds.augment=3"), weights())
    assert not torch.equal(weights("seeds.init=3"), weights())


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ((), {"init": 0, "order": 0, "augment": 0}),
        (("seed=4",), {"init": 4, "order": 4, "augment": 4}),
        (("seed=4", "seeds.order=7"), {"init": 4, "order": 7, "augment": 4}),
    ],
)
def test_each_source_defaults_to_the_runs_seed_and_is_recorded(overrides, expected):
    cfg = compose_config(DEFAULT_MODE, overrides=overrides)
    assert PROJECT.source_seeds(cfg) == expected  # what train.py records in provenance.json
    assert cfg.data.order_seed == expected["order"]
