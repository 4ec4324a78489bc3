"""The one interface every backbone implements."""

from typing import ClassVar

from torch import Tensor, nn


class Encoder(nn.Module):
    """Maps images (B, C, H, W) to features (B, out_features).

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
