"""Slow tier: the baked test suite catches the classic silent deep-learning bugs.

Each bug is planted in a copy of the default bake by an exact text replacement
(whose anchor must occur exactly once, so a refactor of the generated code fails
here instead of silently planting nothing). The copy's default fast suite, what
a researcher runs before trusting a number, must then fail; unmodified, it passes.

A bug in what the bake imports from research-rigor (the split protocol, the loaders) is
planted in a copy of the library's source, put first on the copy's import path: the
bake's suite must catch a faulty release of the library too.

A bug is planted the way a researcher who follows every update instruction would
leave it: the behaviour fingerprints re-recorded, the config snapshot accepted
(`--snapshot-update`), the metric version bumped and locked again. So what
catches it is a test of behaviour, not the bookkeeping.

The proof is repeated on the user's own data, on the generated dataset least like the
digits: imbalanced 16-bit grey micrographs (tests/image_datasets.py), split and
configured in a copy of the bake as the README's "Use your own data" says. Each bug a
data-driven test should catch is planted there; the baked tests that run on that
dataset (their ids name it) must then catch it on their own, and pass unmodified.

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

from .conftest import TEMPLATE, run
from .image_datasets import MICROSCOPY

pytestmark = pytest.mark.slow

PACKAGE = "my_research"  # the default bake's import name
SOURCE = f"src/{PACKAGE}"
MODEL = f"{SOURCE}/model.py"
CNN = f"{SOURCE}/encoders/cnn.py"
ARRAYS = f"{SOURCE}/data/arrays.py"
FOLDERS = f"{SOURCE}/data/folders.py"
# research-rigor's source, copied beside a copy of the bake when an edit plants a bug in it
LIBRARY_SOURCE = TEMPLATE / "research-rigor" / "src"
LIBRARY_COPY = "research-rigor-src"  # beside the bake's copy, first on its import path
LIBRARY = f"{LIBRARY_COPY}/research_rigor"  # an edit's path under it: relative to the copy's folder
SPLITS = f"{LIBRARY}/splits.py"
DATAMODULE = f"{LIBRARY}/datamodule.py"
DIGITS = f"{SOURCE}/data/digits.py"
METRICS = f"{SOURCE}/metrics.py"
EVALUATION = f"{SOURCE}/evaluation.py"
CNN_MODE = "configs/mode/cnn.yaml"
SNAPSHOTS = "tests/__snapshots__/test_configs.ambr"
# the metric-version test alone; it uses no shared fixture, and without conftest.py no torch loads
METRIC_TEST = ("--noconftest", "tests/test_metric_version.py")
CONFIG_TEST = "tests/test_configs.py"
FAST_SUITE = ("-x", "-q", "-m", "not slow")  # the researcher's safety net; -x: stop at a catch
PARALLEL = 2  # suites at once, one torch thread each: CI has two cores
OWN_DATA = MICROSCOPY  # the user's dataset in the own-data copies: the least like the digits
OWN = OWN_DATA.name
# On the user's data only the tests that run on it: their ids name it (`...[microscopy-cnn]`).
OWN_SUITE = ("-x", "-q", "-m", "not slow", "-k", OWN)
SUITE_KINDS = ("bug", "own_data_bug")  # the parameter each kind of proof is parametrized by


@dataclass(frozen=True)
class Edit:
    path: str  # relative to the project root, or under LIBRARY: research-rigor's source
    anchor: str  # must occur exactly once
    replacement: str


@dataclass(frozen=True)
class Bug:
    name: str
    edit: Edit | None
    # The bug is in how a split is written: the dataset is split again with it, as a user
    # who deletes the split file and splits again (README: Use your own data) would.
    resplit: bool = False


UNMODIFIED = Bug("unmodified", edit=None)
STATISTICS_FROM_EVERY_SPLIT = Bug(
    "normalization-statistics-from-every-split",
    Edit(
        SPLITS,
        "for row in np.flatnonzero(in_train[:, index]):",
        "for row in range(len(trains)):",
    ),
    resplit=True,
)


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
    # the data (the digits are arrays; the image-folder counterparts are FOLDER_BUGS)
    Bug(
        "labels-shuffled-against-images",
        Edit(
            ARRAYS,
            "self.labels = np.load(data_dir / LABELS_FILE)[indices].astype(np.int64)",
            "self.labels = np.random.default_rng(0).permutation(\n"
            "            np.load(data_dir / LABELS_FILE)[indices]\n"
            "        ).astype(np.int64)",
        ),
    ),
    Bug(
        "labels-off-by-one-sample",
        Edit(
            ARRAYS, "torch.tensor(self.labels[position])", "torch.tensor(self.labels[position - 1])"
        ),
    ),
    Bug(
        "train-split-overlaps-val",
        Edit(SPLITS, '"train": np.sort(train)', '"train": np.sort(rest)'),
    ),
    Bug(
        "normalization-dropped",
        Edit(
            ARRAYS,
            "torch.from_numpy(splits.normalize(image, self.mean, self.std))",
            "torch.from_numpy(image.astype(np.float32))",
        ),
    ),
    STATISTICS_FROM_EVERY_SPLIT,
    # Planted as a reviewer would accept them, the data re-prepared and split again: the
    # split file still is the protocol's split of the data, so only a check of the property
    # itself (class shares, the source's samples) catches them.
    Bug(
        "split-not-stratified",
        Edit(
            SPLITS,
            "test_size=TEST_FRACTION, stratify=labels,",
            "test_size=TEST_FRACTION, stratify=None,",
        ),
        resplit=True,
    ),
    Bug(
        "digits-prepared-with-labels-rolled",
        Edit(
            DIGITS, "digits.target.astype(np.int64)", "np.roll(digits.target, 1).astype(np.int64)"
        ),
        resplit=True,
    ),
    Bug(
        "test-metric-computed-on-the-val-split",
        Edit(DATAMODULE, 'return self._loader("test")', 'return self._loader("val")'),
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


# The bugs a test that runs on the user's data must catch there: the shared ones (the loss,
# the model, the optimization, the split protocol, the loaders) by name, and the image-folder
# counterparts of the digits' data bugs, under the same names. The evaluation path and the
# clock reseed are caught by tests that do not depend on the data (test_evaluation,
# test_behaviour).
CAUGHT_ON_ANY_DATA = (
    "loss-sign-flipped",
    "softmax-fed-to-a-loss-that-expects-logits",
    "logits-fed-to-a-loss-that-expects-log-probabilities",
    "predict-proba-softmax-over-the-batch",
    "gradients-cut-inside-the-encoder",
    "encoder-frozen",
    "batch-statistics-leak-across-samples",
    "encoder-left-out-of-the-optimizer",
    "zero-grad-forgotten",
    "learning-rate-1000x-too-small",
    "learning-rate-1000x-too-large",
    "train-split-overlaps-val",
    "test-metric-computed-on-the-val-split",
)  # and FOLDER_BUGS: the same classes of data bugs, in the image-folder code
FOLDER_BUGS = [
    Bug(
        "labels-shuffled-against-images",
        Edit(
            FOLDERS,
            "self.files, self.labels = files, labels",
            "self.files, self.labels = files, np.random.default_rng(0).permutation(labels)",
        ),
    ),
    Bug(
        "labels-off-by-one-sample",
        Edit(
            FOLDERS,
            "torch.tensor(self.labels[position])",
            "torch.tensor(self.labels[position - 1])",
        ),
    ),
    Bug(
        "normalization-dropped",
        Edit(
            FOLDERS,
            "torch.from_numpy(splits.normalize(image, self.mean, self.std))",
            "torch.from_numpy(image)",
        ),
    ),
    STATISTICS_FROM_EVERY_SPLIT,
]
OWN_DATA_BUGS = [bug for bug in BUGS if bug.name in CAUGHT_ON_ANY_DATA] + FOLDER_BUGS


@dataclass(frozen=True)
class Verdict:
    """What a pytest run in a copy said."""

    returncode: int
    output: str

    def failed(self) -> list[str]:
        """Node ids of pytest's FAILED summary lines, in order."""
        return re.findall(r"^FAILED (\S+)", self.output, re.MULTILINE)


def plant(project: Path, destination: Path, *edits: Edit) -> Path:
    """A copy of what git sees of `project` (no runs, caches or data), with each edit applied;
    with a copy of research-rigor's source beside it when an edit is in the library."""
    copy = destination / project.name
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], project)
    for name in filter(None, listed.stdout.split("\0")):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(project / name, copy / name)
    if any(edit.path.startswith(LIBRARY) for edit in edits):
        ignored = shutil.ignore_patterns("__pycache__")
        shutil.copytree(LIBRARY_SOURCE / "research_rigor", destination / LIBRARY, ignore=ignored)
    for edit in edits:
        path = (destination if edit.path.startswith(LIBRARY) else copy) / edit.path
        text = path.read_text()
        count = text.count(edit.anchor)
        assert count == 1, f"{edit.path}: {edit.anchor!r} occurs {count} times, not once"
        path.write_text(text.replace(edit.anchor, edit.replacement))
    return copy


def run_in(copy: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess:
    """`python <args>` with this copy's code first on the path, not the installed bake's, and
    the copy of research-rigor's source beside it, if any, before the installed library."""
    paths = [copy / "src", copy.parent / LIBRARY_COPY]
    found = os.pathsep.join(str(path) for path in paths if path.exists())
    env = {**os.environ, "PYTHONPATH": found, "OMP_NUM_THREADS": "1"}
    return run([sys.executable, *args], copy, check=check, env=env)


def pytest_in(copy: Path, *args: str) -> Verdict:
    done = run_in(copy, "-m", "pytest", "-p", "no:cacheprovider", "-rf", *args)
    return Verdict(done.returncode, done.stdout + done.stderr)


def bump_metric_version(copy: Path) -> None:
    """What metrics.py asks for after a deliberate change: bump the version, lock again."""
    path = copy / METRICS
    text = path.read_text()
    version = int(re.search(r"^METRIC_VERSION = (\d+)\b", text, re.MULTILINE)[1])
    path.write_text(text.replace(f"METRIC_VERSION = {version}", f"METRIC_VERSION = {version + 1}"))
    run_in(copy, "-m", "research_rigor", "metric", "lock", check=True)


def record_behaviour(copy: Path) -> None:
    """What the behaviour test asks for after a deliberate change: re-record the modes."""
    run_in(copy, "-m", "research_rigor.behaviour", "record", check=True)


def split_again(copy: Path, dataset: str) -> None:
    """Delete the dataset's split and write it again with the copy's code."""
    (copy / "data" / f"{dataset}.split.json").unlink()
    run_in(copy, "-m", f"{PACKAGE}.data", "split", f"data/{dataset}", check=True)


def fast_suite_with(bug: Bug, project: Path, destination: Path) -> Verdict:
    if bug.edit is None:
        return pytest_in(plant(project, destination), *FAST_SUITE)
    copy = plant(project, destination, bug.edit)
    if bug.resplit:
        run_in(copy, "-m", f"{PACKAGE}.data.digits", "data/digits", check=True)
        split_again(copy, "digits")
    if pytest_in(copy, *METRIC_TEST).returncode != 0:  # the edit moved the metric's definition
        bump_metric_version(copy)
    record_behaviour(copy)
    accept = ("--snapshot-update",) if bug.edit.path.startswith("configs/") else ()
    return pytest_in(copy, *FAST_SUITE, *accept)


def with_own_data(project: Path, destination: Path) -> Path:
    """A clone of `project` with the user's image folders, split and configured as the README
    says (the split is the one the user committed: written before any bug is planted)."""
    clone = destination / project.name
    run(["git", "clone", "--quiet", str(project), str(clone)], destination)
    OWN_DATA.write(clone / "data" / OWN)
    run_in(clone, "-m", f"{PACKAGE}.data", "split", f"data/{OWN}", check=True)
    OWN_DATA.review(clone / "configs" / "data" / f"{OWN}.yaml")
    return clone


def own_data_suite_with(bug: Bug, project: Path, destination: Path) -> Verdict:
    """The tests that run on the user's data alone. The bookkeeping of `fast_suite_with`
    (fingerprints, snapshots, metric version) is left out: those tests are deselected here."""
    copy = plant(project, destination, *filter(None, [bug.edit]))
    if bug.resplit:
        split_again(copy, OWN)
    return pytest_in(copy, *OWN_SUITE)


def planted_in(item: pytest.Item) -> tuple[str, Bug] | None:
    """The suite a test reads: (`"bug"` or `"own_data_bug"`, the bug), or None."""
    params = getattr(item, "callspec", None) and item.callspec.params
    return next(((key, params[key]) for key in SUITE_KINDS if params and key in params), None)


@pytest.fixture(scope="module", autouse=True)
def suites(
    request: pytest.FixtureRequest,
    installed_project: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[tuple[str, str], Future[Verdict]]]:
    """The unmodified suites and those of the selected bugs, keyed by (kind, bug name), started
    with the module, two at a time in the background (autouse: this module's other tests run
    alongside them)."""
    mine = [item for item in request.session.items if item.module is request.module]
    selected = {found for item in mine if (found := planted_in(item)) is not None}
    kinds = {kind for kind, _ in selected}
    for item in mine:  # the unmodified suites' own tests
        kinds.add("own_data_bug" if "own_data" in item.name else "bug")
    jobs = [(kind, bug) for kind in SUITE_KINDS if kind in kinds for bug in [UNMODIFIED]]
    jobs += sorted(selected, key=lambda found: (found[0], found[1].name))
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        own_data = None
        if "own_data_bug" in kinds:
            own_data = pool.submit(with_own_data, installed_project, tmp_path_factory.mktemp(OWN))

        def suite(kind: str, bug: Bug) -> Verdict:
            destination = tmp_path_factory.mktemp(f"{kind}-{bug.name}")
            if kind == "bug":
                return fast_suite_with(bug, installed_project, destination)
            return own_data_suite_with(bug, own_data.result(), destination)

        yield {(kind, bug.name): pool.submit(suite, kind, bug) for kind, bug in jobs}
        pool.shutdown(cancel_futures=True)


def test_protocol_change_fails_the_metric_version_test_until_bumped(installed_project, tmp_path):
    """A release of research-rigor with another split protocol moves the bake's metric."""
    copy = plant(
        installed_project, tmp_path, Edit(SPLITS, "VAL_FRACTION = 0.15", "VAL_FRACTION = 0.2")
    )
    failed = pytest_in(copy, *METRIC_TEST)
    assert failed.returncode == 1 and "Bump METRIC_VERSION" in failed.output, failed.output
    refused = run_in(copy, "-m", "research_rigor", "metric", "lock")
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
    verdict = suites["bug", UNMODIFIED.name].result()
    assert verdict.returncode == 0, verdict.output[-4000:]


@pytest.mark.parametrize("bug", BUGS, ids=[bug.name for bug in BUGS])
def test_fast_suite_catches_the_planted_bug(suites, bug):
    assert suites["bug", UNMODIFIED.name].result().returncode == 0, (
        "fails unmodified: proves nothing"
    )
    verdict = suites["bug", bug.name].result()
    caught_by = verdict.failed()
    print(f"\n{bug.name:<52} caught by {caught_by[0] if caught_by else None}")
    assert verdict.returncode == 1 and len(caught_by) == 1, (
        f"{bug.name} went unnoticed, or crashed the suite instead of failing a test:\n"
        f"{verdict.output[-4000:]}"
    )


def test_unmodified_suite_on_own_data_passes_and_runs_on_it(suites):
    verdict = suites["own_data_bug", UNMODIFIED.name].result()
    assert verdict.returncode == 0, verdict.output[-4000:]
    assert re.search(r"^\d+ passed", verdict.output, re.MULTILINE), verdict.output[-4000:]
    assert "skipped" not in verdict.output, verdict.output[-4000:]


@pytest.mark.parametrize("own_data_bug", OWN_DATA_BUGS, ids=[bug.name for bug in OWN_DATA_BUGS])
def test_tests_on_own_data_catch_the_planted_bug(suites, own_data_bug):
    unmodified = suites["own_data_bug", UNMODIFIED.name].result()
    assert unmodified.returncode == 0, "fails unmodified: proves nothing"
    verdict = suites["own_data_bug", own_data_bug.name].result()
    caught_by = verdict.failed()
    print(f"\n{own_data_bug.name:<52} caught on {OWN} by {caught_by[0] if caught_by else None}")
    assert verdict.returncode == 1 and len(caught_by) == 1 and OWN in caught_by[0], (
        f"{own_data_bug.name} went unnoticed on {OWN}, or crashed the suite:\n"
        f"{verdict.output[-4000:]}"
    )
