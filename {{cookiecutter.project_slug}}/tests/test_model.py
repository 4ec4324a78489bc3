"""The classifier as each mode configures it: loss at init, overfitting one batch, probabilities."""

import math

import lightning as L
import pytest
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, TensorDataset

from .conftest import MODES, compose_config

INIT_LOSS_TOLERANCE = 0.25  # |loss - ln(classes)| at init; a confident wrong init lands far off
OVERFIT_STEPS = 100  # every mode gets below OVERFIT_LOSS in about 40 on digits
OVERFIT_LOSS = 0.01  # "near zero" on the batch it trained on
CHECK_EVERY = 10  # steps between checks of whether the batch is memorized


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
    """Loss and accuracy on the batch, in eval mode."""
    with torch.no_grad():
        loss, logits = model.eval().loss(batch)
    return loss.item(), (logits.argmax(dim=-1) == batch[1]).float().mean().item()


class StopWhenMemorized(L.Callback):
    """Ends training once the batch is memorized as the test measures it (in eval mode):
    larger images cost more per step, and no step is taken that the test does not need."""

    def __init__(self, batch) -> None:
        self.batch = batch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if (batch_idx + 1) % CHECK_EVERY == 0:
            loss, _ = _batch_fit(pl_module, self.batch)
            pl_module.train()
            trainer.should_stop = loss < OVERFIT_LOSS


def _train_on_one_batch(model, cfg: DictConfig, batch, steps: int) -> None:
    """Up to `steps` optimizer steps on the same batch, through Lightning's own training
    loop (zero_grad, backward, step) with the mode's optimizer and the trainer config."""
    images, labels = batch
    repeated = TensorDataset(images.repeat(steps, 1, 1, 1), labels.repeat(steps))
    trainer = L.Trainer(
        **{**OmegaConf.to_container(cfg.trainer, resolve=True), "max_epochs": 1},
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[StopWhenMemorized(batch)],
    )
    trainer.fit(model, train_dataloaders=DataLoader(repeated, batch_size=len(labels)))


@pytest.mark.parametrize("mode", MODES)
def test_overfits_one_batch(make_model, batch, mode):
    """The real training loop memorizes one batch, and updates every parameter on the way."""
    model = make_model(mode)
    initial = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    _train_on_one_batch(model, compose_config(mode), batch, OVERFIT_STEPS)
    unchanged = [
        name for name, value in model.named_parameters() if torch.equal(value, initial[name])
    ]
    assert not unchanged, f"{mode}: training never updated {unchanged}"
    loss, accuracy = _batch_fit(model, batch)
    print(f"{mode}: loss {loss:.4f}, accuracy {accuracy:.3f} within {OVERFIT_STEPS} steps")
    assert loss < OVERFIT_LOSS, f"{mode}: could not overfit one batch (loss {loss:.3f})"
    assert accuracy == 1.0, f"{mode}: batch accuracy {accuracy:.3f} within {OVERFIT_STEPS} steps"


@pytest.mark.parametrize("mode", MODES)
def test_probabilities_are_a_softmax_over_classes(make_model, batch, mode):
    model = make_model(mode).eval()
    with torch.no_grad():
        probabilities = model.predict_proba(batch[0])
        logits = model(batch[0])
    torch.testing.assert_close(probabilities.sum(dim=-1), torch.ones(len(batch[0])))
    assert torch.equal(probabilities.argmax(dim=-1), logits.argmax(dim=-1))
