"""The classifier as each mode configures it: loss at init, overfitting one batch, probabilities."""

import math

import pytest
import torch

from .conftest import MODES

INIT_LOSS_TOLERANCE = 0.25  # |loss - ln(classes)| at init; a confident wrong init lands far off
OVERFIT_MAX_STEPS = 100  # every mode gets there in about 25
OVERFIT_LOSS = 0.05  # "near zero" on the batch it trained on
CHECK_EVERY = 25  # steps between checks, so a fast learner stops early


@pytest.mark.parametrize("mode", MODES)
def test_loss_at_init_is_log_number_of_classes(make_model, batch, datamodule, mode):
    model = make_model(mode).eval()
    with torch.no_grad():
        loss, _ = model.loss(batch)
    expected = math.log(datamodule.num_classes)
    assert abs(loss.item() - expected) < INIT_LOSS_TOLERANCE, (
        f"{mode}: initial loss {loss.item():.3f}, expected about ln({datamodule.num_classes}) "
        f"= {expected:.3f}"
    )


def _batch_fit(model, batch) -> tuple[float, float]:
    with torch.no_grad():
        loss, logits = model.eval().loss(batch)
    model.train()
    return loss.item(), (logits.argmax(dim=-1) == batch[1]).float().mean().item()


@pytest.mark.parametrize("mode", MODES)
def test_overfits_one_batch(make_model, batch, mode):
    """Through the real training_step and the mode's own optimizer settings."""
    model = make_model(mode).train()
    optimizer = model.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    loss, accuracy = _batch_fit(model, batch)
    for step in range(1, OVERFIT_MAX_STEPS + 1):
        optimizer.zero_grad()
        model.training_step(batch, step).backward()
        optimizer.step()
        if step % CHECK_EVERY == 0:
            loss, accuracy = _batch_fit(model, batch)
            if loss < OVERFIT_LOSS and accuracy == 1.0:
                break
    print(f"{mode}: loss {loss:.4f}, accuracy {accuracy:.3f} after {step} steps")
    assert loss < OVERFIT_LOSS, f"{mode}: could not overfit one batch (loss {loss:.3f})"
    assert accuracy == 1.0, f"{mode}: batch accuracy {accuracy:.3f} after {step} steps"


@pytest.mark.parametrize("mode", MODES)
def test_probabilities_are_a_softmax_over_classes(make_model, batch, mode):
    model = make_model(mode).eval()
    with torch.no_grad():
        probabilities = model.predict_proba(batch[0])
        logits = model(batch[0])
    torch.testing.assert_close(probabilities.sum(dim=-1), torch.ones(len(batch[0])))
    assert torch.equal(probabilities.argmax(dim=-1), logits.argmax(dim=-1))
