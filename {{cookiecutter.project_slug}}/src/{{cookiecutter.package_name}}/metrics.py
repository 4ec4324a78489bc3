"""The metric, its version, and the fingerprint that guards the version.

Numbers measured under different validation procedures must never be compared, so
the procedure carries a version. It is defined by this file, the split and the
normalization statistics (`data/protocol.py`), how a split is measured, written and
checked against its data (`data/splits.py`), what each split's loader serves and how
samples are decoded, resized and normalized (`data/datamodule.py`, `data/arrays.py`,
`data/decoding.py`, `data/folders.py`), the model's validation and test steps
(`model.py`) and the evaluation loop of `evaluate.py` and the reports (`evaluation.py`):
DEFINITION below lists them. Their fingerprint, taken from their syntax trees (so
comments, docstrings and formatting do not count), is locked in `metric.lock` at the
project root; `tests/test_metric_version.py` fails when the
fingerprint moves without a version bump.

After a deliberate change: bump METRIC_VERSION, run
`python -m {{ cookiecutter.package_name }}.metrics lock`, and re-run the baseline.
"""

import ast
import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torchmetrics.classification import MulticlassAccuracy

# 2: per-channel normalization stored in each dataset's split file
# 3: image files decoded by a declared policy (pixel type and range recorded in the split,
#    EXIF orientation applied, 16-bit kept), resized as floats
METRIC_VERSION = 3
METRIC_NAME = "acc"  # top-1 accuracy, micro-averaged over samples
MONITOR = f"val/{METRIC_NAME}"  # selects the best checkpoint
REPORTED = f"test/{METRIC_NAME}"  # the single number a run is judged by

PACKAGE_DIR = Path(__file__).resolve().parent
# What defines the metric: each module, and the definitions in it that do (None: all of it).
DEFINITION: dict[str, tuple[str, ...] | None] = {
    "metrics.py": None,
    "data/protocol.py": None,
    "data/splits.py": None,
    "data/datamodule.py": (
        "ClassificationDataModule.split",
        "ClassificationDataModule.setup",
        "ClassificationDataModule._loader",
        "ClassificationDataModule.val_dataloader",
        "ClassificationDataModule.test_dataloader",
    ),
    "data/arrays.py": ("open_images", "scan", "ArraySamples.__getitems__"),
    "data/decoding.py": None,
    "data/folders.py": (
        "IMAGE_EXTENSIONS",
        "image_files",
        "scan",
        "ImageFiles.__getitem__",
        "ImageFolderDataModule.policy",
        "ImageFolderDataModule.shape",
        "ImageFolderDataModule.images",
        "ImageFolderDataModule.dataset",
    ),
    "model.py": (
        "STAGES",
        "Classifier._step",
        "Classifier._log_epoch",
        "Classifier.validation_step",
        "Classifier.on_validation_epoch_end",
        "Classifier.test_step",
        "Classifier.on_test_epoch_end",
        "Classifier.predict_step",
    ),
    "evaluation.py": None,
}
LOCK_FILE = PACKAGE_DIR.parents[1] / "metric.lock"
DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def build_metric(num_classes: int) -> "MulticlassAccuracy":
    # Imported here: train.py reads the constants above before torch has loaded.
    from torchmetrics.classification import MulticlassAccuracy

    return MulticlassAccuracy(num_classes=num_classes, average="micro")


def _meaning(tree: ast.Module) -> ast.Module:
    """The tree without its docstrings, and with this package's imports under one name,
    so that every project baked from the same template shares the fingerprint."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, DOCUMENTED) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                node.body = body[1:] or [ast.Pass()]
        if isinstance(node, ast.ImportFrom) and node.module:
            node.module = _unnamed(node.module)
        if isinstance(node, ast.Import):
            for alias in node.names:
                alias.name = _unnamed(alias.name)
    return tree


def _unnamed(module: str) -> str:
    own = module == __package__ or module.startswith(f"{__package__}.")
    return f"package{module[len(__package__) :]}" if own else module


def _definitions(tree: ast.Module) -> dict[str, ast.AST]:
    """Top-level functions, classes, assigned names and methods (`Class.method`), by name."""
    found: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            found[node.name] = node
        if isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
                    found[f"{node.name}.{member.name}"] = member
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        found.update({target.id: node for target in targets if isinstance(target, ast.Name)})
    return found


def _canonical(node: object) -> str:
    """`ast.dump` without empty fields, whose set differs between Python versions."""
    if isinstance(node, ast.AST):
        fields = ", ".join(
            f"{name}={_canonical(value)}"
            for name, value in ast.iter_fields(node)
            if value is not None and value != []
        )
        return f"{type(node).__name__}({fields})"
    if isinstance(node, list):
        return f"[{', '.join(map(_canonical, node))}]"
    return repr(node)


def fingerprint(package_dir: Path = PACKAGE_DIR) -> str:
    """SHA-256 of the syntax trees of what defines the metric (DEFINITION), docstrings
    left out: a comment, a docstring or a reformatting leaves it unchanged."""
    digest = hashlib.sha256()
    for module, names in DEFINITION.items():
        tree = _meaning(ast.parse((package_dir / module).read_text()))
        definitions = _definitions(tree)
        missing = [name for name in names or () if name not in definitions]
        if missing:
            raise LookupError(
                f"{module} no longer defines {', '.join(missing)}: update DEFINITION in "
                "metrics.py to what now defines the metric."
            )
        digest.update(module.encode())
        for part in [tree] if names is None else [definitions[name] for name in names]:
            digest.update(_canonical(part).encode())
    return digest.hexdigest()


def read_lock() -> dict:
    return json.loads(LOCK_FILE.read_text())


def write_lock() -> None:
    """Record the current fingerprint; refuse if the definition changed under the same version."""
    if LOCK_FILE.exists():
        locked = read_lock()
        if locked["fingerprint"] != fingerprint() and locked["version"] >= METRIC_VERSION:
            sys.exit(
                f"The metric definition changed but METRIC_VERSION is still {METRIC_VERSION}: "
                "bump it in metrics.py first, then lock again."
            )
    payload = {"version": METRIC_VERSION, "fingerprint": fingerprint()}
    LOCK_FILE.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"locked metric version {METRIC_VERSION} in {LOCK_FILE.name}")


if __name__ == "__main__":
    if sys.argv[1:] != ["lock"]:
        sys.exit(f"usage: python -m {__package__}.metrics lock")
    write_lock()
