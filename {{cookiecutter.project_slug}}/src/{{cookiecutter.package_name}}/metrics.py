"""The metric, its version, and the fingerprint that guards the version.

Pattern #10 (metric versioning): numbers measured under different validation
procedures must never be compared. The procedure is this file plus
`data/protocol.py` (split and normalization). Their fingerprint is locked in
`metric.lock` at the project root; `tests/test_metric_version.py` fails when
the fingerprint moves without a version bump.

After a deliberate change: bump METRIC_VERSION, run
`python -m <package>.metrics lock`, and re-run the baseline.
"""

import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torchmetrics.classification import MulticlassAccuracy

METRIC_VERSION = 1
METRIC_NAME = "acc"  # top-1 accuracy, micro-averaged over samples
MONITOR = f"val/{METRIC_NAME}"  # selects the best checkpoint
REPORTED = f"test/{METRIC_NAME}"  # the single number a run is judged by

PACKAGE_DIR = Path(__file__).resolve().parent
DEFINING_FILES = (PACKAGE_DIR / "metrics.py", PACKAGE_DIR / "data" / "protocol.py")
LOCK_FILE = PACKAGE_DIR.parents[1] / "metric.lock"


def build_metric(num_classes: int) -> "MulticlassAccuracy":
    # Imported here: train.py reads the constants above before torch has loaded.
    from torchmetrics.classification import MulticlassAccuracy

    return MulticlassAccuracy(num_classes=num_classes, average="micro")


def fingerprint() -> str:
    """SHA-256 of the files that define the metric, independent of line endings."""
    digest = hashlib.sha256()
    for path in DEFINING_FILES:
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        digest.update(path.read_text().replace("\r\n", "\n").encode())
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
