"""The metric fingerprint follows what the code does, not how it is written: it moves with
the evaluation loop and with where and how the data are normalized, and stays for a comment,
a docstring or a reformatting, and for a change to training alone."""

import shutil
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import metrics


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A copy of the modules that define the metric."""
    for module in metrics.DEFINITION:
        (tmp_path / module).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(metrics.PACKAGE_DIR / module, tmp_path / module)
    return tmp_path


def edit(package: Path, module: str, old: str, new: str) -> None:
    path = package / module
    text = path.read_text()
    assert text.count(old) == 1, f"{module}: {old!r} is not there once"
    path.write_text(text.replace(old, new))


def test_comments_docstrings_and_formatting_leave_it_unchanged(package):
    before = metrics.fingerprint(package)
    edit(package, "data/protocol.py", "SPLIT_SEED = 0  #", "SPLIT_SEED = (\n    0\n)  # reworded:")
    edit(package, "data/protocol.py", "training statistics.", "statistics of the training split.")
    edit(package, "evaluation.py", "    loader = split_", "    # in order\n    loader = split_")
    edit(package, "model.py", 'self._step(batch, "test")', "self._step(batch, 'test')")
    assert metrics.fingerprint(package) == before


CHANGES = {
    "evaluation loop on another split": (
        "evaluation.py",
        "loader = split_loader(datamodule, split)",
        'loader = split_loader(datamodule, "val")',
    ),
    "test step accumulating another stage": (
        "model.py",
        'self._step(batch, "test")',
        'self._step(batch, "validate")',
    ),
    "normalization no longer applied": (
        "data/arrays.py",
        "protocol.normalize(image, self.mean, self.std)",
        "image.astype(np.float32)",
    ),
    "normalization statistics from every split": (
        "data/splits.py",
        "            if in_train[index]:\n                yield image",
        "            yield image",
    ),
    "images resized another way": (
        "data/folders.py",
        "RESAMPLING = Image.Resampling.BILINEAR",
        "RESAMPLING = Image.Resampling.NEAREST",
    ),
    "another split": ("data/protocol.py", "VAL_FRACTION = 0.15", "VAL_FRACTION = 0.2"),
    "another metric": ("metrics.py", 'average="micro"', 'average="macro"'),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_a_change_to_what_defines_the_metric_moves_it(package, change):
    before = metrics.fingerprint(package)
    edit(package, *change)
    assert metrics.fingerprint(package) != before


def test_a_change_to_training_alone_leaves_it_unchanged(package):
    before = metrics.fingerprint(package)
    hook = "    def configure_optimizers("
    clipping = (
        "    def on_before_optimizer_step(self, optimizer) -> None:\n"
        "        torch.nn.utils.clip_grad_norm_(self.parameters(), 1.0)\n\n"
    )
    edit(package, "model.py", hook, clipping + hook)  # gradient clipping added
    edit(package, "data/datamodule.py", '_loader("train", shuffle=True)', '_loader("train")')
    assert metrics.fingerprint(package) == before


def test_a_renamed_definition_is_named_instead_of_silently_dropped(package):
    edit(package, "model.py", "def test_step(", "def evaluation_step(")
    with pytest.raises(LookupError, match=r"model.py no longer defines Classifier.test_step"):
        metrics.fingerprint(package)


def test_every_bake_of_the_template_shares_it_whatever_its_package_name(package, monkeypatch):
    before = metrics.fingerprint(package)
    for module in metrics.DEFINITION:
        path = package / module
        path.write_text(path.read_text().replace(metrics.__package__, "another_name"))
    monkeypatch.setattr(metrics, "__package__", "another_name")  # as in that bake
    assert metrics.fingerprint(package) == before
