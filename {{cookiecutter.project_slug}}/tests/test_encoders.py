"""Every backbone, every profile: shapes, gradients, batch independence, determinism, budget.

Parametrized from configs/mode/, so a new backbone is tested without editing this file.
"""

import math

import pytest
import torch
from torch import nn

from .conftest import MODES, PROFILES, compose_config

BATCH_SIZES = (1, 2, 7)
UNBLOCKING_STEP = 0.1  # the step that moves zero-initialized layers before gradients are checked
# Layers whose output legitimately differs between train and eval mode: every dropout
# (Dropout, Dropout2d, AlphaDropout...) and every norm with running statistics
# (BatchNorm*, InstanceNorm*).
MODE_DEPENDENT_LAYERS = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._NormBase)

pytestmark = pytest.mark.parametrize(("mode", "profile"), [(m, p) for m in MODES for p in PROFILES])


@pytest.mark.parametrize("batch_size", BATCH_SIZES)
def test_output_shape(make_model, datamodule, mode, profile, batch_size):
    model = make_model(mode, profile).eval()
    images = torch.randn(batch_size, *datamodule.input_shape)
    assert model.encoder(images).shape == (batch_size, model.encoder.out_features)
    assert model(images).shape == (batch_size, datamodule.num_classes)


def _gradients(model, batch) -> dict[str, torch.Tensor | None]:
    model.zero_grad(set_to_none=True)
    loss, _ = model.loss(batch)
    loss.backward()
    return {name: parameter.grad for name, parameter in model.named_parameters()}


def test_every_parameter_gets_a_gradient(make_model, batch, mode, profile):
    """Every parameter gets a gradient, and a non-zero one. A zero-initialized layer (a
    residual block's last norm, a zero-initialized head) passes none to the layers before
    it until it moves: then one plain gradient step on the batch moves it first."""
    model = make_model(mode, profile).train()
    frozen = [name for name, parameter in model.named_parameters() if not parameter.requires_grad]
    assert not frozen, f"{mode}/{profile}: {frozen} frozen"
    gradients = _gradients(model, batch)
    missing = [name for name, gradient in gradients.items() if gradient is None]
    assert not missing, f"{mode}/{profile}: {missing} got no gradient"
    if any(gradient.abs().sum() == 0 for gradient in gradients.values()):
        with torch.no_grad():
            for parameter in model.parameters():
                parameter -= UNBLOCKING_STEP * parameter.grad
        gradients = _gradients(model, batch)
    zero = [name for name, gradient in gradients.items() if gradient.abs().sum() == 0]
    assert not zero, f"{mode}/{profile}: {zero} got an all-zero gradient, even after a step"


def test_samples_do_not_leak_across_the_batch(make_model, batch, mode, profile):
    """In eval mode, sample 0's output must not depend on the other samples."""
    model = make_model(mode, profile).eval()
    images = batch[0][:8].clone()
    with torch.no_grad():
        before = model(images)[0]
        images[1:] = torch.randn_like(images[1:]) * 10
        after = model(images)[0]
    torch.testing.assert_close(before, after)


def test_no_gradient_flows_between_samples(make_model, batch, mode, profile):
    """The loss of sample 0 alone gives zero gradient to every other sample's input."""
    model = make_model(mode, profile).eval()
    images = batch[0][:8].clone().requires_grad_(True)
    model(images)[0].sum().backward()
    assert images.grad[0].abs().sum() > 0
    assert images.grad[1:].abs().sum() == 0


def test_deterministic_under_a_fixed_seed(make_model, batch, mode, profile):
    first, second = make_model(mode, profile).eval(), make_model(mode, profile).eval()
    with torch.no_grad():
        torch.testing.assert_close(first(batch[0]), second(batch[0]))


def test_train_and_eval_differ_only_through_mode_dependent_layers(make_model, batch, mode, profile):
    """Train mode with dropout and batch norm switched to eval must equal eval mode."""
    model = make_model(mode, profile)
    with torch.no_grad():
        evaluated = model.eval()(batch[0])
        model.train()
        for module in model.modules():
            if isinstance(module, MODE_DEPENDENT_LAYERS):
                module.eval()
        torch.testing.assert_close(model(batch[0]), evaluated)


def test_parameter_count_within_budget(make_model, datamodule, mode, profile):
    """The mode's budget grows with the input where its encoder does (an MLP's first layer),
    so any image size passes, and a recipe that grew by mistake does not."""
    model = make_model(mode, profile)
    count = sum(p.numel() for p in model.encoder.parameters())
    limits = compose_config(mode, profile).mode
    inputs = math.prod(datamodule.input_shape)
    budget = limits.max_params + limits.max_params_per_input * inputs
    print(f"{mode}/{profile}: {count:,} encoder parameters (budget {budget:,})")
    assert 0 < count <= budget, (
        f"{mode}/{profile}: {count:,} encoder parameters, over the budget of {budget:,} "
        f"(max_params {limits.max_params:,} + max_params_per_input "
        f"{limits.max_params_per_input} x {inputs:,} input values): shrink the encoder, or "
        f"raise the budget in configs/mode/{mode}.yaml if the size is intended"
    )
