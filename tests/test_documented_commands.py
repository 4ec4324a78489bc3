"""Slow tier: every `python train.py ...` that the docs and the baked README show is valid.

Most of these commands train in other tests; the ones that need a GPU or a cluster
cannot run here, so each is checked the way Hydra checks it before anything else
happens: composed and resolved against the baked project's configs (`--cfg job --resolve`,
in a subprocess, as typed). A renamed config key or option then fails here, not on a
researcher's cluster. A sweep (`-m`) is composed for its first job.
"""

import re
import shlex
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from .conftest import TEMPLATE, bake_python, run

pytestmark = pytest.mark.slow

COMMAND = re.compile(r"python train\.py(?:[^`|\n]*\\\n)*[^`|\n]*")  # `\` continues a line
COMMENT = re.compile(r"\s+#.*$")
MULTIRUN = ("-m", "--multirun")
PLACEHOLDERS = ("<", "...")  # `mode=<name>`, `python train.py -m ...`: not commands to run
# Shown on purpose as commands that stop with a message, or that need files a guide adds.
NOT_RUNNABLE_AS_SHOWN = {
    "python train.py mode=transformer",  # the unknown-override example of the reliability page
    "python train.py mode=linear +profile=fast",  # after the add-a-backbone guide's new files
}
SHELL_VARIABLES = {"$SLURM_JOB_ID": "1234"}  # what SLURM sets inside a job
PROJECT = "{{cookiecutter.project_slug}}"  # the generated project's folder in the template


def documents() -> list[str]:
    """The template's README and docs pages, and the README every bake gets."""
    pages = [*TEMPLATE.glob("*.md"), *(TEMPLATE / "docs").glob("*.md")]
    return [path.read_text() for path in [*pages, TEMPLATE / PROJECT / "README.md"]]


def documented_commands() -> list[str]:
    found = set()
    for text in documents():
        for match in COMMAND.finditer(text):
            lines = [COMMENT.sub("", line).rstrip(" \\") for line in match.group().splitlines()]
            command = " ".join(" ".join(lines).split())
            for variable, value in SHELL_VARIABLES.items():
                command = command.replace(variable, value)
            if command not in NOT_RUNNABLE_AS_SHOWN and not any(
                mark in command for mark in PLACEHOLDERS
            ):
                found.add(command)
    return sorted(found)


def as_composition(arguments: list[str]) -> list[str]:
    """The command as `--cfg job`; a sweep as its first job (`-m seed=0,1,2` -> `seed=0`)."""
    if "--cfg" in arguments:  # shown as a composition already
        return arguments
    overrides = [argument for argument in arguments if argument not in MULTIRUN]
    parsed = OverridesParser.create().parse_overrides(overrides)
    first_job = [
        f"{override.get_key_element()}={next(override.sweep_string_iterator())}"
        if override.is_sweep_override()
        else text
        for override, text in zip(parsed, overrides, strict=True)
    ]
    return [*first_job, "--cfg", "job", "--resolve"]


COMMANDS = documented_commands()


def test_the_docs_show_the_main_commands():
    """The extraction finds the commands that matter (so an empty list cannot pass)."""
    for expected in ("python train.py +profile=fast", "python train.py trainer=ddp"):
        assert expected in COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_documented_command_composes(installed_project: Path, command: str):
    arguments = shlex.split(command)[2:]  # after `python train.py`
    run([bake_python(installed_project), "train.py", *as_composition(arguments)], installed_project)
