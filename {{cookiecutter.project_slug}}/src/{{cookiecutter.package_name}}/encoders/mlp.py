"""A multilayer perceptron on flattened pixels: the simplest sensible baseline."""

from collections.abc import Sequence
from math import prod

from torch import Tensor, nn

from {{ cookiecutter.package_name }}.encoders import Encoder


class MLPEncoder(Encoder):
    name = "mlp"

    def __init__(
        self, input_shape: Sequence[int], hidden: Sequence[int], dropout: float = 0.0
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = prod(input_shape)
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        self.layers = nn.Sequential(*layers)
        self.out_features = width

    def forward(self, images: Tensor) -> Tensor:
        return self.layers(images)
