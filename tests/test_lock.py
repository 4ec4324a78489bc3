"""The baked requirements.lock: current in every bake, and enough to install and test a fresh bake.

The slow test does what a new teammate does on a fresh virtual environment: torch for
the machine first (`pip install torch==2.13.0`, the CPU build on disk here and on
PyTorch's CPU index in CI), then the README's one locked install, then the fast suite.
"""

import hashlib
import json
import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .conftest import BAKES, TEMPLATE, needs_index, run

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, which pytest installs there
    import tomli as tomllib

LOCK_FILE = "requirements.lock"
TORCH = "torch==2.13.0"  # the README's first Setup step
LOCKED_INSTALL = ["-r", LOCK_FILE, "-e", ".[dev]"]  # the README's second
# The template's own environment: `make` installs requirements-dev.lock, which `make lock`
# resolves from these two files and stamps with their digest.
DEV_REQUIREMENTS = ("requirements-dev.txt", "constraints.txt")
DEV_LOCK = TEMPLATE / "requirements-dev.lock"
DEV_DIGEST = re.compile(r"^# requirements-dev\.txt \+ constraints\.txt sha256: (\w+)$", re.M)
LIBRARY = TEMPLATE / "research-rigor"
LIBRARY_NAME = "research-rigor"
LIBRARY_INIT = LIBRARY / "src" / "research_rigor" / "__init__.py"
PINNED = re.compile(r"^([A-Za-z0-9._-]+)==[^\s;]+( ; .+)?$")
REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", re.M)


def bake(cookies, answers: dict) -> Path:
    result = cookies.bake(template=str(TEMPLATE), extra_context=answers)
    assert result.exit_code == 0, result.exception
    return Path(result.project_path)


@pytest.mark.parametrize("name", list(BAKES))
def test_every_bake_ships_a_lock_that_matches_its_pyproject(cookies_session, name):
    project = bake(cookies_session, BAKES[name])
    done = run([sys.executable, "-m", "research_rigor.lock", "--check"], project)
    assert f"{LOCK_FILE} matches pyproject.toml" in done.stdout


def test_every_package_is_pinned_and_torch_is_left_to_the_machine(cookies_session):
    project = bake(cookies_session, {})
    lines = [
        line
        for line in (project / LOCK_FILE).read_text().splitlines()
        if line and not line.startswith((" ", "#"))
    ]
    assert [line for line in lines if not PINNED.match(line)] == []
    names = {canonicalize_name(Requirement(line).name) for line in lines}
    declared = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    specs = declared["dependencies"] + declared["optional-dependencies"]["dev"]
    assert {canonicalize_name(Requirement(spec).name) for spec in specs} - names == {"torch"}
    assert not {name for name in names if name.startswith(("torch", "nvidia-"))} - {"torchmetrics"}


def test_the_templates_own_lock_matches_its_requirements():
    digest = hashlib.sha256(b"".join((TEMPLATE / name).read_bytes() for name in DEV_REQUIREMENTS))
    found = DEV_DIGEST.search(DEV_LOCK.read_text())
    assert found, f"{DEV_LOCK.name} has no digest line: run `make lock`"
    assert found.group(1) == digest.hexdigest(), f"{DEV_LOCK.name} is stale: run `make lock`"


def test_the_template_environment_has_every_package_a_bake_declares(cookies_session):
    """The slow tier pip-installs bakes into .venv: a package it lacked would come unpinned.
    research-rigor comes from this checkout (`make` installs it)."""
    project = tomllib.loads((bake(cookies_session, {}) / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["dev"]
    template = (TEMPLATE / DEV_REQUIREMENTS[0]).read_text()
    provided = {canonicalize_name(name) for name in REQUIREMENT_NAME.findall(template)}
    provided.add(LIBRARY_NAME)
    assert {canonicalize_name(Requirement(spec).name) for spec in declared} - provided == set()


def test_every_bakes_lock_pins_the_library_version_of_this_checkout(cookies_session):
    """A bake installs the research-rigor it was made with: the lock's pin is this
    checkout's version (after a version bump, `make lock`)."""
    version = re.search(r'__version__ = "(.+)"', LIBRARY_INIT.read_text()).group(1)
    pins = locked_versions(bake(cookies_session, {}) / LOCK_FILE)
    assert pins.get(LIBRARY_NAME) == version, (
        f"{LOCK_FILE} pins another research-rigor: `make lock`"
    )


def locked_versions(lock: Path) -> dict[str, str]:
    """What the lock pins for this interpreter and platform (markers evaluated)."""
    pins = {}
    for line in lock.read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate():
                pins[canonicalize_name(requirement.name)] = str(requirement.specifier)[2:]
    return pins


@pytest.mark.slow
def test_a_fresh_venv_installs_a_fresh_bake_from_its_lock_and_passes_its_suite(cookies, tmp_path):
    project = bake(cookies, {})
    needs_index("a fresh environment's install of torch and the lock")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    python = str(venv / "bin" / "python")
    run([python, "-m", "pip", "install", "--quiet", TORCH], project)
    # until research-rigor is released, this checkout's copy satisfies the lock's pin
    run([python, "-m", "pip", "install", "--quiet", "--no-deps", str(LIBRARY)], project)
    run([python, "-m", "pip", "install", "--quiet", *LOCKED_INSTALL], project)

    listed = run([python, "-m", "pip", "list", "--format=json"], project).stdout
    installed = {canonicalize_name(item["name"]): item["version"] for item in json.loads(listed)}
    pinned = locked_versions(project / LOCK_FILE)
    assert {name: installed.get(name) for name in pinned} == pinned
    run([python, "-m", "pip", "check"], project)
    done = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert " passed" in done.stdout
