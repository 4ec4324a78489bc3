"""Slow tier: the baked test suite catches the classic silent deep-learning bugs.

Each bug is planted in a copy of the default bake by an exact text replacement
(whose anchor must occur exactly once, so a refactor of the generated code fails
here instead of silently planting nothing). The copy's default fast suite, what
a researcher runs before trusting a number, must then fail; unmodified, it passes.

A bug is planted the way a researcher who follows every update instruction would
leave it: the behaviour fingerprints re-recorded, the config snapshot accepted
(`--snapshot-update`), the metric version bumped and locked again. So what
catches it is a test of behaviour, not the bookkeeping.

Run with `-s` or `-rA` to see which baked test caught each bug.
"""

import difflib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import run

pytestmark = pytest.mark.slow

PACKAGE = "my_research"  # the default bake's import name
SOURCE = f"src/{PACKAGE}"
MODEL = f"{SOURCE}/model.py"
CNN = f"{SOURCE}/encoders/cnn.py"
ARRAYS = f"{SOURCE}/data/arrays.py"
DIGITS = f"{SOURCE}/data/digits.py"
PROTOCOL = f"{SOURCE}/data/protocol.py"
METRICS = f"{SOURCE}/metrics.py"
EVALUATION = f"{SOURCE}/evaluation.py"
# the files metric.lock fingerprints (in whole or in part: DEFINITION in metrics.py)
METRIC_DEFINITION = (METRICS, PROTOCOL, ARRAYS, MODEL, EVALUATION)
CNN_MODE = "configs/mode/cnn.yaml"
SNAPSHOTS = "tests/__snapshots__/test_configs.ambr"
# the metric-version test alone; it uses no shared fixture, and without conftest.py no torch loads
METRIC_TEST = ("--noconftest", "tests/test_metric_version.py")
CONFIG_TEST = "tests/test_configs.py"
FAST_SUITE = ("-x", "-q", "-m", "not slow")  # the researcher's safety net; -x: stop at a catch
PARALLEL = 2  # suites at once, one torch thread each: CI has two cores


@dataclass(frozen=True)
class Edit:
    path: str  # relative to the project root
    anchor: str  # must occur exactly once
    replacement: str


@dataclass(frozen=True)
class Bug:
    name: str
    edit: Edit | None


UNMODIFIED = Bug("unmodified", edit=None)


# The bugs of seed 004 ("bugs are invisible") and issues 5 and 14, each one edit from working code.
BUGS = [
    # the loss
    Bug("loss-sign-flipped", Edit(MODEL, "return F.cross_entropy(", "return -F.cross_entropy(")),
    Bug(
        "softmax-fed-to-a-loss-that-expects-logits",
        Edit(MODEL, "cross_entropy(logits, labels)", "cross_entropy(logits.softmax(-1), labels)"),
    ),
    Bug(
        "logits-fed-to-a-loss-that-expects-log-probabilities",
        Edit(MODEL, "F.cross_entropy(logits, labels)", "F.nll_loss(logits, labels)"),
    ),
    Bug(
        "predict-proba-softmax-over-the-batch",
        Edit(MODEL, "self(images).softmax(dim=-1)", "self(images).softmax(dim=0)"),
    ),
    # the model and its gradients
    Bug(
        "gradients-cut-inside-the-encoder",
        Edit(
            CNN, "self.dense(self.features(images))", "self.dense(self.features(images).detach())"
        ),
    ),
    Bug(
        "encoder-frozen",
        Edit(
            MODEL,
            "_build(encoder, input_shape=tuple(input_shape))\n",
            "_build(encoder, input_shape=tuple(input_shape)).requires_grad_(False)\n",
        ),
    ),
    Bug(
        "batch-statistics-leak-across-samples",
        Edit(
            CNN,
            "        return self.dense(self.features(images))",
            "        features = self.features(images)\n"
            "        return self.dense(features - features.mean(dim=0, keepdim=True))",
        ),
    ),
    # the optimization
    Bug(
        "encoder-left-out-of-the-optimizer",
        Edit(
            MODEL,
            "optimizer_factory(self.parameters())",
            "optimizer_factory(self.head.parameters())",
        ),
    ),
    Bug(
        "zero-grad-forgotten",
        Edit(
            MODEL,
            "    def training_step(",
            "    def optimizer_zero_grad(self, epoch, batch_idx, optimizer) -> None:\n"
            "        pass  # gradients now accumulate across steps\n\n"
            "    def training_step(",
        ),
    ),
    Bug("learning-rate-1000x-too-small", Edit(CNN_MODE, "lr: 3.0e-3", "lr: 3.0e-6")),
    Bug("learning-rate-1000x-too-large", Edit(CNN_MODE, "lr: 3.0e-3", "lr: 3.0")),
    Bug(
        "reseeded-from-the-clock-every-epoch",  # fresh randomness the seed no longer controls
        Edit(
            MODEL,
            "    def training_step(",
            "    def on_train_epoch_start(self) -> None:\n"
            "        torch.seed()\n\n"
            "    def training_step(",
        ),
    ),
    # the data
    Bug(
        "labels-shuffled-against-images",
        Edit(
            DIGITS,
            "labels = digits.target.astype(np.int64)",
            "labels = np.random.default_rng(0).permutation(digits.target).astype(np.int64)",
        ),
    ),
    Bug(
        "labels-off-by-one-sample",
        Edit(ARRAYS, "LABELS_FILE)).long()", "LABELS_FILE)).long().roll(1)"),
    ),
    Bug(
        "train-split-overlaps-val",
        Edit(PROTOCOL, '"train": np.sort(train)', '"train": np.sort(rest)'),
    ),
    Bug(
        "normalization-dropped",
        Edit(ARRAYS, "        images = protocol.normalize(images, mean, std)\n", ""),
    ),
    Bug(
        "normalization-statistics-from-every-split",
        Edit(ARRAYS, 'normalization_stats(images[split["train"]])', "normalization_stats(images)"),
    ),
    Bug(
        "test-metric-computed-on-the-val-split",
        Edit(ARRAYS, 'return self._loader("test")', 'return self._loader("val")'),
    ),
    # the evaluation path (evaluate.py and the reports)
    Bug(
        "evaluation-predicts-on-the-wrong-split",
        Edit(
            EVALUATION,
            'getattr(datamodule, f"{split}_dataloader")()',
            "datamodule.test_dataloader()",
        ),
    ),
    Bug(
        "evaluation-argmax-over-the-batch-not-the-classes",
        Edit(EVALUATION, "self.logits.argmax(dim=1)", "self.logits.argmax(dim=0)"),
    ),
    Bug(
        "evaluation-loads-the-runs-last-checkpoint-not-the-given-one",
        Edit(
            EVALUATION,
            "Classifier.load_from_checkpoint(path,",
            'Classifier.load_from_checkpoint(path.with_name("last.ckpt"),',
        ),
    ),
    Bug(
        "evaluation-reports-the-loss-as-the-metric",
        Edit(
            EVALUATION,
            'return self.metrics[f"{self.split}/{METRIC_NAME}"]',
            'return self.metrics[f"{self.split}/loss"]',
        ),
    ),
]


@dataclass(frozen=True)
class Verdict:
    """What a pytest run in a copy said."""

    returncode: int
    output: str

    def failed(self) -> list[str]:
        """Node ids of pytest's FAILED summary lines, in order."""
        return re.findall(r"^FAILED (\S+)", self.output, re.MULTILINE)


def plant(project: Path, destination: Path, *edits: Edit) -> Path:
    """A copy of what git sees of `project` (no runs, caches or data), with each edit applied."""
    copy = destination / project.name
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], project)
    for name in filter(None, listed.stdout.split("\0")):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(project / name, copy / name)
    for edit in edits:
        path = copy / edit.path
        text = path.read_text()
        count = text.count(edit.anchor)
        assert count == 1, f"{edit.path}: {edit.anchor!r} occurs {count} times, not once"
        path.write_text(text.replace(edit.anchor, edit.replacement))
    return copy


def run_in(copy: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess:
    """`python <args>` with this copy's code first on the path, not the installed bake's."""
    env = {**os.environ, "PYTHONPATH": str(copy / "src"), "OMP_NUM_THREADS": "1"}
    return run([sys.executable, *args], copy, check=check, env=env)


def pytest_in(copy: Path, *args: str) -> Verdict:
    done = run_in(copy, "-m", "pytest", "-p", "no:cacheprovider", "-rf", *args)
    return Verdict(done.returncode, done.stdout + done.stderr)


def bump_metric_version(copy: Path) -> None:
    """What metrics.py asks for after a deliberate change: bump the version, lock again."""
    path = copy / METRICS
    text = path.read_text()
    version = int(re.search(r"^METRIC_VERSION = (\d+)$", text, re.MULTILINE)[1])
    path.write_text(text.replace(f"METRIC_VERSION = {version}", f"METRIC_VERSION = {version + 1}"))
    run_in(copy, "-m", f"{PACKAGE}.metrics", "lock", check=True)


def record_behaviour(copy: Path) -> None:
    """What the behaviour test asks for after a deliberate change: re-record the modes."""
    run_in(copy, "-m", f"{PACKAGE}.behaviour", "record", check=True)


def fast_suite_with(bug: Bug, project: Path, destination: Path) -> Verdict:
    if bug.edit is None:
        return pytest_in(plant(project, destination), *FAST_SUITE)
    copy = plant(project, destination, bug.edit)
    if bug.edit.path in METRIC_DEFINITION:
        bump_metric_version(copy)
    record_behaviour(copy)
    accept = ("--snapshot-update",) if bug.edit.path.startswith("configs/") else ()
    return pytest_in(copy, *FAST_SUITE, *accept)


def planted_in(item: pytest.Item) -> Bug | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("bug") if callspec else None


@pytest.fixture(scope="module", autouse=True)
def suites(
    request: pytest.FixtureRequest,
    installed_project: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Future[Verdict]]]:
    """The unmodified suite and those of the selected bugs, started with the module, two at a
    time in the background (autouse: this module's other tests run alongside them)."""
    selected = [
        bug
        for item in request.session.items
        if item.module is request.module and (bug := planted_in(item)) is not None
    ]
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        yield {
            bug.name: pool.submit(
                fast_suite_with, bug, installed_project, tmp_path_factory.mktemp(bug.name)
            )
            for bug in [UNMODIFIED, *selected]
        }
        pool.shutdown(cancel_futures=True)


def test_protocol_change_fails_the_metric_version_test_until_bumped(installed_project, tmp_path):
    copy = plant(
        installed_project, tmp_path, Edit(PROTOCOL, "VAL_FRACTION = 0.15", "VAL_FRACTION = 0.2")
    )
    failed = pytest_in(copy, *METRIC_TEST)
    assert failed.returncode == 1 and "Bump METRIC_VERSION" in failed.output, failed.output
    refused = run_in(copy, "-m", f"{PACKAGE}.metrics", "lock")
    assert refused.returncode == 1 and "bump it" in refused.stderr
    bump_metric_version(copy)
    passed = pytest_in(copy, *METRIC_TEST)
    assert passed.returncode == 0, passed.output


def test_training_changes_keep_the_metric_version(installed_project, tmp_path):
    copy = plant(
        installed_project,
        tmp_path,
        Edit(CNN, "KERNEL_SIZE = 3", "KERNEL_SIZE = 5"),
        Edit(CNN_MODE, "dropout: 0.2", "dropout: 0.5"),
        Edit(CNN_MODE, "torch.optim.Adam\n", "torch.optim.AdamW\n"),
    )
    verdict = pytest_in(copy, *METRIC_TEST)
    assert verdict.returncode == 0 and "1 passed" in verdict.output, verdict.output


def test_config_snapshot_names_the_changed_mode_only_until_updated(installed_project, tmp_path):
    copy = plant(installed_project, tmp_path, Edit(CNN_MODE, "lr: 3.0e-3", "lr: 1.0e-3"))
    profiles = sorted(path.stem for path in (copy / "configs" / "profile").glob("*.yaml"))
    before = (copy / SNAPSHOTS).read_text().splitlines()

    failed = pytest_in(copy, CONFIG_TEST)
    assert set(failed.failed()) == {
        f"{CONFIG_TEST}::test_resolved_config_matches_snapshot[cnn-{profile}]"
        for profile in profiles
    }, failed.output

    updated = pytest_in(copy, CONFIG_TEST, "--snapshot-update")
    assert updated.returncode == 0, updated.output
    after = (copy / SNAPSHOTS).read_text().splitlines()
    changed = [line for line in difflib.ndiff(before, after) if line[:2] in ("- ", "+ ")]
    assert changed and all("lr: " in line for line in changed), changed
    again = pytest_in(copy, CONFIG_TEST)
    assert again.returncode == 0, again.output


def test_unmodified_fast_suite_passes(suites):
    verdict = suites[UNMODIFIED.name].result()
    assert verdict.returncode == 0, verdict.output[-4000:]


@pytest.mark.parametrize("bug", BUGS, ids=[bug.name for bug in BUGS])
def test_fast_suite_catches_the_planted_bug(suites, bug):
    assert suites[UNMODIFIED.name].result().returncode == 0, "fails unmodified too: proves nothing"
    verdict = suites[bug.name].result()
    caught_by = verdict.failed()
    print(f"\n{bug.name:<52} caught by {caught_by[0] if caught_by else None}")
    assert verdict.returncode == 1 and len(caught_by) == 1, (
        f"{bug.name} went unnoticed, or crashed the suite instead of failing a test:\n"
        f"{verdict.output[-4000:]}"
    )
