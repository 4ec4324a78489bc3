"""The classifier as each mode configures it: loss at init, overfitting one batch, probabilities."""

import math

import lightning as L
import pytest
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, TensorDataset

from .conftest import MODES, compose_config

GUESS_TOLERANCE = 0.25  # |loss - the loss a guess with the same logits has| at init
# Memorized: the batch's loss below this share of ln(classes), the loss of a uniform guess.
# Not zero: natural images hold near-duplicates across classes (two patches of one sky),
# which take far more steps to tell apart than the bugs this catches need to show.
OVERFIT_LOSS_SHARE = 0.1
OVERFIT_ACCURACY = 0.8  # and most of the batch right: a loss driven below zero fails here
CHECK_EVERY = 10  # steps between checks of whether the batch is memorized


def guess_loss(logits: torch.Tensor) -> float:
    """The cross-entropy these logits would have if the labels were drawn at random: what an
    untrained model's loss must be, whatever the scale of its logits."""
    return (logits.logsumexp(dim=1) - logits.mean(dim=1)).mean().item()


@pytest.mark.parametrize("mode", MODES)
def test_loss_at_init_is_log_number_of_classes(make_model, batch, datamodule, mode):
    """An untrained model guesses: its loss is a guess's (the loss reads logits as logits),
    and near ln(classes) (the init is not confident; a zero-initialized head is exact)."""
    model = make_model(mode).eval()
    with torch.no_grad():
        loss, logits = model.loss(batch)
    guessed = guess_loss(logits)
    assert abs(loss.item() - guessed) < GUESS_TOLERANCE, (
        f"{mode}: initial loss {loss.item():.3f}, but a guess with these logits loses "
        f"{guessed:.3f}: the loss does not treat the model's outputs as logits (model.loss)"
    )
    expected = math.log(datamodule.num_classes)
    tolerance = compose_config(mode).mode.init_loss_tolerance
    assert abs(loss.item() - expected) < tolerance, (
        f"{mode}: initial loss {loss.item():.3f}, expected ln({datamodule.num_classes}) = "
        f"{expected:.3f} within {tolerance}: the untrained model is confident; shrink the "
        f"last layer's initial weights, or raise mode.init_loss_tolerance in "
        f"configs/mode/{mode}.yaml if that is intended"
    )


def overfit_loss(num_classes: int) -> float:
    return OVERFIT_LOSS_SHARE * math.log(num_classes)


def _batch_fit(model, batch) -> tuple[float, float]:
    """Loss and accuracy on the batch, in eval mode."""
    with torch.no_grad():
        loss, logits = model.eval().loss(batch)
    return loss.item(), (logits.argmax(dim=-1) == batch[1]).float().mean().item()


class StopWhenMemorized(L.Callback):
    """Ends training once the batch is memorized as the test measures it (in eval mode):
    larger images cost more per step, and no step is taken that the test does not need."""

    def __init__(self, batch, limit: float) -> None:
        self.batch, self.limit = batch, limit

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if (batch_idx + 1) % CHECK_EVERY == 0:
            loss, _ = _batch_fit(pl_module, self.batch)
            pl_module.train()
            trainer.should_stop = loss < self.limit


class GradientsLeftOver(L.Callback):
    """Whether gradients are left over when an optimizer step's first backward pass starts
    (with gradient accumulation, only the step's first micro-batch starts clean)."""

    def __init__(self) -> None:
        self.left_over: list[bool] = []
        self.batch_idx = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.batch_idx = batch_idx

    def on_before_backward(self, trainer, pl_module, loss) -> None:
        if self.batch_idx % trainer.accumulate_grad_batches == 0:
            grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
            self.left_over.append(any(bool(grad.any()) for grad in grads))


def _train_on_one_batch(
    model, cfg: DictConfig, batch, steps: int, limit: float, *watchers: L.Callback
) -> None:
    """Up to `steps` optimizer steps on the same batch, through Lightning's own training
    loop (zero_grad, backward, step) with the mode's optimizer and the trainer config."""
    images, labels = batch
    repeated = TensorDataset(images.repeat(steps, 1, 1, 1), labels.repeat(steps))
    trainer = L.Trainer(
        **{**OmegaConf.to_container(cfg.trainer, resolve=True), "max_epochs": 1},
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[StopWhenMemorized(batch, limit), *watchers],
    )
    trainer.fit(model, train_dataloaders=DataLoader(repeated, batch_size=len(labels)))


@pytest.mark.parametrize("mode", MODES)
def test_overfits_one_batch(make_model, batch, datamodule, mode):
    """The real training loop memorizes one batch within the mode's step allowance, and
    updates every parameter on the way."""
    model = make_model(mode)
    cfg = compose_config(mode)
    steps, limit = cfg.mode.overfit_steps, overfit_loss(datamodule.num_classes)
    initial = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    _train_on_one_batch(model, cfg, batch, steps, limit)
    unchanged = [
        name for name, value in model.named_parameters() if torch.equal(value, initial[name])
    ]
    assert not unchanged, f"{mode}: training never updated {unchanged}"
    loss, accuracy = _batch_fit(model, batch)
    print(f"{mode}: loss {loss:.4f}, accuracy {accuracy:.3f} within {steps} steps")
    assert loss < limit and accuracy >= OVERFIT_ACCURACY, (
        f"{mode}: could not memorize one batch in {steps} steps (loss {loss:.3f}, limit "
        f"{limit:.3f} = {OVERFIT_LOSS_SHARE} x ln({datamodule.num_classes}); accuracy "
        f"{accuracy:.3f}): if the loss is still falling, raise mode.overfit_steps in "
        f"configs/mode/{mode}.yaml; if it is not, check the loss, the optimizer and its lr"
    )


@pytest.mark.parametrize("mode", MODES)
def test_each_step_starts_from_cleared_gradients(make_model, batch, mode):
    """Gradients do not carry over from one optimizer step to the next: otherwise every step
    follows the sum of all past gradients, and training still converges, only wrongly."""
    watcher = GradientsLeftOver()
    _train_on_one_batch(make_model(mode), compose_config(mode), batch, 3, -math.inf, watcher)
    assert watcher.left_over == [False] * len(watcher.left_over) and watcher.left_over, (
        f"{mode}: gradients of the previous step are still there when the next backward "
        f"pass starts (steps {watcher.left_over}): the optimizer's zero_grad is skipped"
    )


@pytest.mark.parametrize("mode", MODES)
def test_probabilities_are_a_softmax_over_classes(make_model, batch, mode):
    model = make_model(mode).eval()
    with torch.no_grad():
        probabilities = model.predict_proba(batch[0])
        logits = model(batch[0])
    torch.testing.assert_close(probabilities.sum(dim=-1), torch.ones(len(batch[0])))
    assert torch.equal(probabilities.argmax(dim=-1), logits.argmax(dim=-1))
