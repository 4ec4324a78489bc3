"""A small convolutional network: conv blocks that halve the resolution, then a dense layer."""

from collections.abc import Sequence

from torch import Tensor, nn

from {{ cookiecutter.package_name }}.encoders import Encoder

KERNEL_SIZE = 3
POOL = 2  # each block halves height and width
FEATURE_SIZE = 2  # the last block's maps are averaged down to 2x2, whatever the image size


class CNNEncoder(Encoder):
    name = "cnn"

    def __init__(
        self,
        input_shape: Sequence[int],
        channels: Sequence[int],
        hidden: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        in_channels, height, width = input_shape
        blocks: list[nn.Module] = []
        for out_channels in channels:
            blocks += [
                nn.Conv2d(in_channels, out_channels, KERNEL_SIZE, padding=KERNEL_SIZE // 2),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(),
                nn.MaxPool2d(POOL),
            ]
            in_channels, height, width = out_channels, height // POOL, width // POOL
        # Larger images keep the dense layer's size: their maps are averaged to 2x2 (on 8x8
        # digits the maps already are, and the pooling changes nothing).
        pooled = (min(height, FEATURE_SIZE), min(width, FEATURE_SIZE))
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(pooled), nn.Flatten())
        self.dense = nn.Sequential(
            nn.Linear(in_channels * pooled[0] * pooled[1], hidden), nn.ReLU(), nn.Dropout(dropout)
        )
        self.out_features = hidden

    def forward(self, images: Tensor) -> Tensor:
        return self.dense(self.features(images))
