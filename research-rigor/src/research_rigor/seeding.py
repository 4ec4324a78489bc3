"""One seed per source of randomness: the weights' initialization, the data order, the
augmentation, each a stream of its own, so that one can vary while the others stay fixed.

A single seed moves every source together, and a researcher cannot tell which one moves
the metric (Bouthillier et al. 2021). A project gives each source its own seed (declared
in `[tool.research-rigor] seed-sources`, each defaulting to the run's seed) and keeps
the sources apart: the global generator for the initialization (and what the model
draws in training, such as dropout), a sampler and a loader generator for the order,
an isolated generator for the augmentation. `research-rigor seeds --vary` then varies
one at a time.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def stream_seed(seed: int, *keys: int) -> int:
    """A 32-bit seed for one stream (a source's seed, then an epoch, a batch, a rank...).

    Mixed by numpy's SeedSequence rather than added: with `seed + epoch`, seed 1 would
    replay seed 0's orders one epoch later, and two runs meant to be independent would
    share them."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0])


@contextmanager
def isolated_rng(seed: int, device: torch.device) -> Iterator[None]:
    """torch's global generators (the CPU's, and `device`'s when it is a CUDA device) seeded
    with `seed` inside the block, and restored afterwards: code that draws from them (kornia's
    augmentations take no generator) follows `seed` and leaves the other sources' draws as
    they were."""
    forked = []
    if device.type == "cuda":  # a tensor's CUDA device always has its index
        forked = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=forked):
        torch.default_generator.manual_seed(seed)
        for index in forked:
            torch.cuda.default_generators[index].manual_seed(seed)
        yield
