"""Slow tier: the baked README's "Use your own data" section, followed literally.

In a clone of the default bake, the generated class-per-folder RGB dataset
(tests/image_dataset.py) is put in `data/<name>/`, then every command of the
section's shell blocks runs as shown, in order: `<name>` is the dataset, `<run>` the
run directory the last `python train.py` printed. The one step that is not a command,
reviewing the written data config, is done as the section says. The commands are read
from the README itself, so the section cannot drift from what runs here, and
docs/your-data.md must show the same commands.
"""

import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from . import image_dataset
from .conftest import TEMPLATE, run, user_env

pytestmark = pytest.mark.slow

PACKAGE = "my_research"  # the default bake's import name
NAME = image_dataset.NAME
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
SPLIT_COMMAND = f"python -m {PACKAGE}.data split data/{NAME}"
# The data-driven test modules of the baked fast tier: each must run on the dataset.
DATA_DRIVEN = ("tests/test_data.py", "tests/test_model.py", "tests/test_encoders.py")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return user_env(
        tmp_path_factory.mktemp("home"),
        WANDB_MODE="offline",  # a real W&B run, with no login and no network
        # One torch thread per process: tiny models train faster than with two contending.
        OMP_NUM_THREADS="1",
    )


@pytest.fixture(scope="module")
def project(installed_project: Path, tmp_path_factory: pytest.TempPathFactory, env) -> Path:
    """A clone of the bake holding the user's image folders in data/<name>/."""
    clone = tmp_path_factory.mktemp("own-data") / installed_project.name
    run(["git", "clone", "--quiet", str(installed_project), str(clone)], clone.parent)
    env["PYTHONPATH"] = str(clone / "src")  # the clone's own code
    image_dataset.write(clone / "data" / NAME)
    return clone


@pytest.fixture(scope="module")
def steps(project: Path, env) -> list[Step]:
    """Each command of the section, run as shown; the review after the split."""
    done: list[Step] = []
    last_run = None
    for shown in readme_commands(project):
        words = filled(shown, name=NAME)
        if any("<run>" in word for word in words):
            assert last_run, f"{shown} needs a run, and none has been trained yet"
            words = filled(words, run=last_run)
        program, *arguments = words
        if program == "pytest":
            arguments.append("-rA")  # a line per test id and outcome; what runs is the same
        taken = Step(words, run([*PROGRAMS[program], *arguments], project, env=env))
        done.append(taken)
        if taken.command == SPLIT_COMMAND:
            image_dataset.review(project / "configs" / "data" / f"{NAME}.yaml")
        if taken.command.startswith("python train.py"):
            last_run = Path(RUN_PRINTED.search(taken.done.stdout)[1]).name
    return done


def step(steps: list[Step], prefix: str) -> list[Step]:
    found = [taken for taken in steps if taken.command.startswith(prefix)]
    assert found, f"the section shows no `{prefix} ...`"
    return found


def run_dir(project: Path, taken: Step) -> Path:
    return project / RUN_PRINTED.search(taken.done.stdout)[1]


def test_the_section_shows_the_whole_path(installed_project):
    """Split, version, train both profiles, test, pipeline, evaluate, report: in this order."""
    commands = [" ".join(filled(c, name=NAME)) for c in readme_commands(installed_project)]
    expected = [
        SPLIT_COMMAND,
        f"dvc add data/{NAME}",
        "git commit",
        "dvc push",
        f"python train.py data={NAME} +profile=fast",
        f"python train.py data={NAME}",
        "pytest",
        f"dvc exp run -S data={NAME}",
        "python evaluate.py",
        f"python -m {PACKAGE}.report",
    ]
    positions = [
        next(i for i, command in enumerate(commands) if command.startswith(prefix))
        for prefix in expected
    ]
    assert positions == sorted(positions), commands


def test_the_docs_page_shows_the_same_commands(installed_project):
    """docs/your-data.md shows the image-folder path as the README does, nothing unrun."""
    page = [filled(command, package=PACKAGE) for command in shown_commands(DOCS_PAGE.read_text())]
    assert page == readme_commands(installed_project)


def test_split_writes_the_split_and_the_config(project, steps):
    (split_step,) = step(steps, SPLIT_COMMAND)
    assert f"configs/data/{NAME}.yaml" in split_step.done.stdout + split_step.done.stderr
    split = json.loads((project / "data" / f"{NAME}.split.json").read_text())
    assert split["format"] == "image_folder"
    assert split["classes"] == sorted(image_dataset.CLASSES)
    assert split["samples"] == len(image_dataset.CLASSES) * image_dataset.PER_CLASS
    assert split["image_sizes"] == [[size, size] for size in image_dataset.SIZES]
    assert split["channels"] == 3 and len(split["mean"]) == len(split["std"]) == 3
    assert (split["pixel_type"], split["pixel_range"]) == ("uint8", [0, 255])  # declared
    indices = split["train"] + split["val"] + split["test"]
    assert sorted(indices) == list(range(split["samples"]))
    config = yaml.safe_load((project / "configs" / "data" / f"{NAME}.yaml").read_text())
    assert config["data_dir"] == f"data/{NAME}" and 0 <= config["goal_error"] < 1
    assert config["pixel_range"] == split["pixel_range"]


def test_both_profiles_trained_on_the_dataset_from_a_clean_commit(project, steps):
    dvc_file = yaml.safe_load((project / "data" / f"{NAME}.dvc").read_text())
    for taken, profile in zip(step(steps, "python train.py"), ("fast", "full"), strict=True):
        record = json.loads((run_dir(project, taken) / "provenance.json").read_text())
        assert record["profile"] == profile and record["git_dirty"] is False
        assert record["config"]["data"]["data_dir"] == f"data/{NAME}"
        assert record["data_dvc_md5"] == dvc_file["outs"][0]["md5"]
        assert list(run_dir(project, taken).glob("wandb/offline-run-*")), "no W&B run"
        metrics = json.loads((run_dir(project, taken) / "metrics.json").read_text())
        assert 0 <= metrics["test/acc"] <= 1


def test_pytest_ran_the_data_driven_tests_on_the_dataset(steps):
    (tested,) = step(steps, "pytest")
    output = tested.done.stdout
    for module in DATA_DRIVEN:
        ran = re.findall(rf"^PASSED {re.escape(module)}::\S*{NAME}\S*", output, re.MULTILINE)
        assert ran, f"no test of {module} ran on {NAME}:\n{output[-3000:]}"
    skipped = [line for line in output.splitlines() if line.startswith("SKIPPED") and NAME in line]
    assert not skipped, skipped


def test_the_pipeline_trained_and_evaluated_the_dataset(project, steps):
    step(steps, f"dvc exp run -S data={NAME}")
    record = json.loads((project / "artifacts" / "train" / "provenance.json").read_text())
    assert record["config"]["data"]["data_dir"] == f"data/{NAME}"
    metrics = json.loads((project / "artifacts" / "evaluate" / "metrics.json").read_text())
    assert metrics["data_version"] == record["data_version"]


def test_evaluate_reproduces_the_runs_test_metric(project, steps):
    full_run = step(steps, "python train.py")[-1]
    (evaluated,) = step(steps, "python evaluate.py")
    out = project / evaluated.words[-1]
    metrics = json.loads((out / "metrics.json").read_text())
    trained = json.loads((run_dir(project, full_run) / "metrics.json").read_text())
    assert metrics["test/acc"] == trained["test/acc"]


def test_report_measures_against_the_datasets_goal_error(project, steps):
    (reported,) = step(steps, f"python -m {PACKAGE}.report")
    assert "avoidable bias" in reported.done.stdout
    target = project / reported.words[-1]
    config = yaml.safe_load((project / "configs" / "data" / f"{NAME}.yaml").read_text())
    (result,) = json.loads((target / "report" / "report.json").read_text())["runs"]
    assert result["errors"]["goal_error"] == pytest.approx(config["goal_error"])
    assert config["goal_error"] == image_dataset.GOAL_ERROR  # as the review set it
    for figure in (target / "report").glob("*.png"):
        assert figure.read_bytes().startswith(PNG_MAGIC), figure
    assert (target / "report" / "misclassified.png").is_file()
