"""The metric fingerprint follows what the code does, not how it is written: it moves with
the evaluation loop, with how samples are found, labelled, decoded and normalized, and with
a data format added to the data package; it stays for a comment, a docstring or a
reformatting, and for a change to training alone."""

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from research_rigor.errors import UserError
from research_rigor.metric_lock import Definition

from {{ cookiecutter.package_name }} import metrics

PACKAGE_DIR = Path(metrics.__file__).parent


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A copy of the project's package, whose metric definition is fingerprinted."""
    copy = tmp_path / "package"
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def fingerprint(package: Path) -> str:
    return Definition.of(metrics, folder=package).fingerprint()


def edit(package: Path, module: str, old: str, new: str) -> None:
    path = package / module
    text = path.read_text()
    assert text.count(old) == 1, f"{module}: {old!r} is not there once"
    path.write_text(text.replace(old, new))


def test_comments_docstrings_and_formatting_leave_it_unchanged(package):
    before = fingerprint(package)
    edit(package, "data/arrays.py", 'FORMAT = "arrays"', 'FORMAT = (\n    "arrays"\n)  # reworded')
    edit(package, "data/arrays.py", "read from disk;", "read from the disk;")
    edit(package, "evaluation.py", "    loader = split_", "    # in order\n    loader = split_")
    edit(package, "model.py", 'self._step(batch, "test")', "self._step(batch, 'test')")
    assert fingerprint(package) == before


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
        "splits.normalize(image, self.mean, self.std)",
        "image.astype(np.float32)",
    ),
    "labels assigned to samples another way": (
        "data/arrays.py",
        "self.labels = np.load(data_dir / LABELS_FILE)[indices]",
        "self.labels = np.load(data_dir / LABELS_FILE)[np.sort(indices)]",
    ),
    "another metric": ("metrics.py", 'average="micro"', 'average="macro"'),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_a_change_to_what_defines_the_metric_moves_it(package, change):
    before = fingerprint(package)
    edit(package, *change)
    assert fingerprint(package) != before


def test_a_change_to_training_alone_leaves_it_unchanged(package):
    before = fingerprint(package)
    hook = "    def configure_optimizers("
    clipping = (
        "    def on_before_optimizer_step(self, optimizer) -> None:\n"
        "        torch.nn.utils.clip_grad_norm_(self.parameters(), 1.0)\n\n"
    )
    edit(package, "model.py", hook, clipping + hook)  # gradient clipping added
    assert fingerprint(package) == before


def test_a_data_format_added_as_the_readme_says_is_covered_the_day_it_is_written(package):
    before = fingerprint(package)
    (package / "data" / "tables.py").write_text(
        "from research_rigor.datamodule import ClassificationDataModule\n\n\n"
        "class TableDataModule(ClassificationDataModule):\n"
        "    def dataset(self, indices):\n"
        "        return self.rows[indices]\n"
    )
    with_format = fingerprint(package)
    assert with_format != before
    edit(package, "data/tables.py", "self.rows[indices]", "self.rows[indices] / 255")
    assert fingerprint(package) != with_format  # and every later change to it


def test_a_renamed_definition_is_named_instead_of_silently_dropped(package):
    edit(package, "model.py", "def test_step(", "def evaluation_step(")
    with pytest.raises(UserError, match=r"model.py no longer defines Classifier.test_step"):
        fingerprint(package)


def test_every_bake_of_the_template_shares_it_whatever_its_package_name(package):
    before = fingerprint(package)
    package_name = metrics.__name__.split(".")[0]
    for path in package.rglob("*.py"):
        path.write_text(path.read_text().replace(package_name, "another_name"))
    renamed = replace(Definition.of(metrics, folder=package), package="another_name")
    assert renamed.fingerprint() == before  # as measured in that bake
