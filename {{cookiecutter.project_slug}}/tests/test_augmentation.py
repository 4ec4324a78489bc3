"""A mode's augmentation changes training batches only: evaluation sees the data as they are."""

import pytest
import torch

from .conftest import MODES, build_model, compose_config

FLIP = {"_target_": "kornia.augmentation.RandomHorizontalFlip", "p": 1.0}


@pytest.mark.parametrize("mode", MODES)
def test_augmentation_applies_in_training_steps_only(datamodule, batch, mode):
    cfg = compose_config(mode)
    cfg.model.augment = [FLIP]
    model = build_model(cfg, datamodule)
    seen: list[torch.Tensor] = []
    model.encoder.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]))
    images = batch[0][:4]
    model.training_step((images, batch[1][:4]), 0)
    model.validation_step((images, batch[1][:4]), 0)
    model.test_step((images, batch[1][:4]), 0)
    trained, validated, tested = seen
    torch.testing.assert_close(trained, images.flip(-1))
    torch.testing.assert_close(validated, images)
    torch.testing.assert_close(tested, images)
