"""Slow tier: the baked README's "Use your own data" section, followed literally.

Each generated dataset of tests/image_datasets.py (natural textures, 100 classes of
shapes, imbalanced 16-bit micrographs) walks the section in turn, in one clone of the
default bake, as a researcher adding one dataset after another would: the dataset is put
in `data/<name>/`, then every command of the section's shell blocks runs as shown, in
order: `<name>` is the dataset, `<run>` the run directory the last `python train.py`
printed. The one step that is not a command, reviewing the written data config, is done as
the section says. The commands are read from the README itself, so the section cannot
drift from what runs here, and docs/your-data.md must show the same commands.

Three things differ from a researcher's run, each to spend no time twice:
- `pytest` runs once, in the last dataset's walk: it tests every dataset committed by then.
- Between datasets, what `dvc exp run` left in the workspace is set aside (`git stash`;
  DVC keeps the experiment), or the next `python train.py` would refuse the dirty tree.
- The full profile trains `FULL_STEPS` optimizer steps, not its 100 epochs (64x64 images
  would take most of an hour here); it is still the full profile's model, and it still
  learns: its test accuracy beats guessing the commonest class.
"""

import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from .conftest import TEMPLATE, run, user_env
from .image_datasets import DATASETS, Dataset

pytestmark = pytest.mark.slow

PACKAGE = "my_research"  # the default bake's import name
SECTION = "## Use your own data"
SHELL_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.DOTALL | re.MULTILINE)
DOCS_PAGE = TEMPLATE / "docs" / "your-data.md"
RUN_PRINTED = re.compile(r"outputs in (\S+)")
# What a command's first word runs: this environment's Python and its tools.
PROGRAMS = {
    "python": [sys.executable],
    "pytest": [sys.executable, "-m", "pytest"],
    "dvc": [sys.executable, "-m", "dvc"],
    "git": ["git"],
}
FULL_PROFILE = "python train.py data=<name>"  # as shown, before the fast profile's `+profile=`
FULL_STEPS = 30  # the full profile's optimizer steps here (added as `++trainer.max_steps`)
SET_ASIDE = ["git", "stash", "--quiet", "--include-untracked"]  # an experiment's workspace
# The data-driven test modules of the baked fast tier: each must run on the dataset.
DATA_DRIVEN = ("tests/test_data.py", "tests/test_model.py", "tests/test_encoders.py")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BY_NAME = {dataset.name: dataset for dataset in DATASETS}
SHOWN_NAME = "mine"  # <name> in the tests that only read the commands


def section(readme: str) -> str:
    """The README's "Use your own data" section, up to the next `## ` heading."""
    start = readme.index(SECTION)
    end = readme.find("\n## ", start + len(SECTION))
    return readme[start : end if end != -1 else None]


def shown_commands(text: str) -> list[list[str]]:
    """The words of every command line of the text's ```bash blocks, in order, no comments."""
    commands = []
    for block in SHELL_BLOCK.findall(text):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                assert not line.rstrip().endswith("\\"), f"one command a line, please: {line}"
                commands.append(words)
    return commands


def readme_commands(project: Path) -> list[list[str]]:
    return shown_commands(section((project / "README.md").read_text()))


def filled(words: list[str], **placeholders: str) -> list[str]:
    """The words with each `<placeholder>` replaced by its value."""
    for placeholder, value in placeholders.items():
        words = [word.replace(f"<{placeholder}>", value) for word in words]
    return words


@dataclass
class Step:
    words: list[str]  # as shown, with <name> and <run> filled in
    done: subprocess.CompletedProcess

    @property
    def command(self) -> str:
        return " ".join(self.words)


@dataclass
class Walk:
    """One dataset's walk through the section: the clone and each command's outcome."""

    dataset: Dataset
    project: Path
    steps: list[Step]
    # What `dvc exp run` left in artifacts/, read before the next dataset's run replaces it.
    trained: dict  # artifacts/train/provenance.json
    evaluated: dict  # artifacts/evaluate/metrics.json

    def step(self, prefix: str) -> list[Step]:
        found = [taken for taken in self.steps if taken.command.startswith(prefix)]
        assert found, f"the section shows no `{prefix} ...`"
        return found

    def run_dir(self, taken: Step) -> Path:
        return self.project / RUN_PRINTED.search(taken.done.stdout)[1]

    def config(self) -> dict:
        path = self.project / "configs" / "data" / f"{self.dataset.name}.yaml"
        return yaml.safe_load(path.read_text())


def split_command(name: str) -> str:
    return f"python -m {PACKAGE}.data split data/{name}"


def walk(project: Path, dataset: Dataset, env: dict[str, str], last: bool) -> list[Step]:
    """Each command of the section run in `project` on the dataset as shown, the review after
    the split; `pytest` only in the `last` walk."""
    dataset.write(project / "data" / dataset.name)
    done: list[Step] = []
    last_run = None
    for shown in readme_commands(project):
        words = filled(shown, name=dataset.name)
        if any("<run>" in word for word in words):
            assert last_run, f"{shown} needs a run, and none has been trained yet"
            words = filled(words, run=last_run)
        program, *arguments = words
        if program == "pytest":
            if not last:
                continue
            arguments.append("-rA")  # a line per test id and outcome; what runs is the same
        if " ".join(shown) == FULL_PROFILE:
            arguments.append(f"++trainer.max_steps={FULL_STEPS}")
        taken = Step(words, run([*PROGRAMS[program], *arguments], project, env=env))
        done.append(taken)
        if taken.command == split_command(dataset.name):
            dataset.review(project / "configs" / "data" / f"{dataset.name}.yaml")
        if taken.command.startswith("python train.py"):
            last_run = Path(RUN_PRINTED.search(taken.done.stdout)[1]).name
    return done


@pytest.fixture(scope="module")
def walks(
    request: pytest.FixtureRequest,
    installed_project: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Walk]:
    """The walks of the datasets this session's tests read, one after another in a clone of
    the bake, in a user's fresh home."""
    mine = [item for item in request.session.items if item.module is request.module]
    names = {item.callspec.params.get("name") for item in mine if hasattr(item, "callspec")}
    chosen = [dataset for dataset in DATASETS if dataset.name in names]
    clone = tmp_path_factory.mktemp("own-data") / installed_project.name
    run(["git", "clone", "--quiet", str(installed_project), str(clone)], clone.parent)
    env = user_env(
        tmp_path_factory.mktemp("home"),
        WANDB_MODE="offline",  # a real W&B run, with no login and no network
        # One torch thread per process: tiny models train faster than with two contending.
        OMP_NUM_THREADS="1",
        PYTHONPATH=str(clone / "src"),  # the clone's own code
    )
    walked = {}
    for dataset in chosen:
        if walked:
            run(SET_ASIDE, clone, env=env)
        steps = walk(clone, dataset, env, last=dataset is chosen[-1])
        trained, evaluated = (
            json.loads((clone / "artifacts" / stage / f"{record}.json").read_text())
            for stage, record in (("train", "provenance"), ("evaluate", "metrics"))
        )
        walked[dataset.name] = Walk(dataset, clone, steps, trained, evaluated)
    return walked


each_dataset = pytest.mark.parametrize("name", list(BY_NAME))


def test_the_section_shows_the_whole_path(installed_project):
    """Split, version, train both profiles, test, pipeline, evaluate, report: in this order."""
    commands = [" ".join(filled(c, name=SHOWN_NAME)) for c in readme_commands(installed_project)]
    expected = [
        split_command(SHOWN_NAME),
        f"dvc add data/{SHOWN_NAME}",
        "git commit",
        "dvc push",
        f"python train.py data={SHOWN_NAME} +profile=fast",
        f"python train.py data={SHOWN_NAME}",
        "pytest",
        f"dvc exp run -S data={SHOWN_NAME}",
        "python evaluate.py",
        f"python -m {PACKAGE}.report",
    ]
    positions = [
        next(i for i, command in enumerate(commands) if command.startswith(prefix))
        for prefix in expected
    ]
    assert positions == sorted(positions), commands
    assert FULL_PROFILE.split() in readme_commands(installed_project), commands


def test_the_docs_page_shows_the_same_commands(installed_project):
    """docs/your-data.md shows the image-folder path as the README does, nothing unrun."""
    page = [filled(command, package=PACKAGE) for command in shown_commands(DOCS_PAGE.read_text())]
    assert page == readme_commands(installed_project)


@each_dataset
def test_split_writes_the_split_and_the_config(walks, name):
    walked = walks[name]
    dataset, project = walked.dataset, walked.project
    (split_step,) = walked.step(split_command(name))
    assert f"configs/data/{name}.yaml" in split_step.done.stdout + split_step.done.stderr
    split = json.loads((project / "data" / f"{name}.split.json").read_text())
    assert split["format"] == "image_folder"
    assert split["classes"] == dataset.classes
    assert split["samples"] == dataset.samples
    assert split["image_sizes"] == [[size, size] for size in dataset.sizes]
    assert split["channels"] == dataset.channels
    assert len(split["mean"]) == len(split["std"]) == dataset.channels
    assert split["pixel_type"] == dataset.pixel_type  # declared
    assert split["pixel_range"] == list(dataset.pixel_range)
    indices = split["train"] + split["val"] + split["test"]
    assert sorted(indices) == list(range(split["samples"]))
    config = walked.config()
    assert config["data_dir"] == f"data/{name}" and 0 <= config["goal_error"] < 1
    assert config["pixel_range"] == split["pixel_range"]


def commonest_share(dataset: Dataset, indices: list[int]) -> float:
    """The accuracy of always guessing the commonest class of these samples (stored class by
    class, in sorted folder order)."""
    labels = np.repeat(
        np.arange(len(dataset.classes)), [dataset.counts[c] for c in dataset.classes]
    )
    return np.bincount(labels[indices]).max() / len(indices)


@each_dataset
def test_both_profiles_trained_on_the_dataset_from_a_clean_commit(walks, name):
    walked = walks[name]
    dvc_file = yaml.safe_load((walked.project / "data" / f"{name}.dvc").read_text())
    for taken, profile in zip(walked.step("python train.py"), ("fast", "full"), strict=True):
        record = json.loads((walked.run_dir(taken) / "provenance.json").read_text())
        assert record["profile"] == profile and record["git_dirty"] is False
        assert record["config"]["data"]["data_dir"] == f"data/{name}"
        assert record["data_dvc_md5"] == dvc_file["outs"][0]["md5"]
        assert list(walked.run_dir(taken).glob("wandb/offline-run-*")), "no W&B run"
        metrics = json.loads((walked.run_dir(taken) / "metrics.json").read_text())
        assert 0 <= metrics["test/acc"] <= 1


@each_dataset
def test_the_full_profile_learns_the_dataset(walks, name):
    """Its test accuracy beats always guessing the commonest class: the images reach the
    model as they are (16-bit grey decoded to white would leave it guessing)."""
    walked = walks[name]
    full = walked.step("python train.py")[-1]
    accuracy = json.loads((walked.run_dir(full) / "metrics.json").read_text())["test/acc"]
    split = json.loads((walked.project / "data" / f"{name}.split.json").read_text())
    guess = commonest_share(walked.dataset, split["test"])
    assert accuracy > guess, f"{name}: test accuracy {accuracy:.3f}, a guess gets {guess:.3f}"


@each_dataset
def test_pytest_ran_the_data_driven_tests_on_the_dataset(walks, name):
    """The one `pytest`, in the last walk, ran the data-driven tests on every dataset."""
    (tested,) = list(walks.values())[-1].step("pytest")
    output = tested.done.stdout
    for module in DATA_DRIVEN:
        ran = re.findall(rf"^PASSED {re.escape(module)}::\S*{name}\S*", output, re.MULTILINE)
        assert ran, f"no test of {module} ran on {name}:\n{output[-3000:]}"
    skipped = [line for line in output.splitlines() if line.startswith("SKIPPED") and name in line]
    assert not skipped, skipped


@each_dataset
def test_the_pipeline_trained_and_evaluated_the_dataset(walks, name):
    walked = walks[name]
    walked.step(f"dvc exp run -S data={name}")
    assert walked.trained["config"]["data"]["data_dir"] == f"data/{name}"
    assert walked.evaluated["data_version"] == walked.trained["data_version"]


@each_dataset
def test_evaluate_reproduces_the_runs_test_metric(walks, name):
    walked = walks[name]
    full_run = walked.step("python train.py")[-1]
    (evaluated,) = walked.step("python evaluate.py")
    metrics = json.loads((walked.project / evaluated.words[-1] / "metrics.json").read_text())
    trained = json.loads((walked.run_dir(full_run) / "metrics.json").read_text())
    assert metrics["test/acc"] == trained["test/acc"]


@each_dataset
def test_report_measures_against_the_datasets_goal_error(walks, name):
    walked = walks[name]
    (reported,) = walked.step(f"python -m {PACKAGE}.report")
    assert "avoidable bias" in reported.done.stdout
    target = walked.project / reported.words[-1]
    config = walked.config()
    (result,) = json.loads((target / "report" / "report.json").read_text())["runs"]
    assert result["errors"]["goal_error"] == pytest.approx(config["goal_error"])
    assert config["goal_error"] == walked.dataset.goal_error  # as the review set it
    for figure in (target / "report").glob("*.png"):
        assert figure.read_bytes().startswith(PNG_MAGIC), figure
    assert (target / "report" / "misclassified.png").is_file()
