"""Backbones. Each module here defines one `Encoder` subclass; adding a backbone
means adding one module here and one `configs/mode/<name>.yaml`, nothing else."""

import importlib
import pkgutil
from typing import ClassVar

from torch import Tensor, nn


class Encoder(nn.Module):
    """The one interface every backbone implements: images (B, C, H, W) to features
    (B, out_features).

    Subclasses register themselves under `name`; the classifier puts a linear
    head on top, so an encoder never knows the number of classes.
    """

    name: ClassVar[str]
    registered: ClassVar[dict[str, type["Encoder"]]] = {}
    out_features: int

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        Encoder.registered[cls.name] = cls

    def forward(self, images: Tensor) -> Tensor:
        raise NotImplementedError


def registry() -> dict[str, type[Encoder]]:
    """Every encoder class in this package, by name (imports each module once)."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return dict(Encoder.registered)
