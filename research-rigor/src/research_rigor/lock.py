"""The environment lock: every package pinned, and a check that it matches pyproject.toml.

    research-rigor lock           # re-lock after changing dependencies
    research-rigor lock --check   # CI and the tests: is it current?

`requirements.lock` is written by uv (`uv pip compile`, a universal resolution:
one file for Linux, macOS and Windows and every supported Python), and installed
by plain pip: `pip install -r requirements.lock -e ".[dev]"`. torch is left out
on purpose, with the packages only torch needs: its build depends on the machine
(CPU or a CUDA version, from PyTorch's own index), so it is installed first, per
machine, and each run's provenance records which build it was. The lock's header
carries a digest of pyproject.toml's dependency lists, so a stale lock is caught
offline, without resolving anything. Standard library only: CI runs the check
with nothing else installed (`python -m research_rigor.lock --check`).
"""

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from research_rigor.errors import UserError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as a package
    import tomli as tomllib

PYPROJECT = "pyproject.toml"
LOCK_FILE = "requirements.lock"
EXTRAS = ("dev",)
REFRESH = "research-rigor lock"
INSTALL = f'pip install -r {LOCK_FILE} -e ".[dev]"'
DIGEST_LINE = "# pyproject.toml dependencies sha256: "
# Per machine, installed before the lock (see the README's Setup).
UNLOCKED = ("torch",)
# uv drops a requirement whose marker can never hold; these are torch's, and what only it needs.
NEVER = "sys_platform == 'never'"
MARKER_SEPARATOR = " ; "


def project_table(pyproject: Path) -> dict[str, Any]:
    """The `[project]` table the lock is resolved from."""
    found = tomllib.loads(pyproject.read_text()).get("project")
    if found is None:
        raise UserError(
            f"{pyproject} has no [project] table: declare the dependencies there "
            "(name, requires-python, dependencies and a `dev` extra) to lock them."
        )
    return found


def dependency_digest(pyproject: Path) -> str:
    """SHA-256 of what the lock is resolved from: the dependencies and the locked extras."""
    project = project_table(pyproject)
    locked = {
        "dependencies": project.get("dependencies", []),
        "extras": {name: project.get("optional-dependencies", {}).get(name, []) for name in EXTRAS},
    }
    return hashlib.sha256(json.dumps(locked, sort_keys=True).encode()).hexdigest()


def recorded_digest(lock: Path) -> str | None:
    for line in lock.read_text().splitlines():
        if line.startswith(DIGEST_LINE):
            return line.removeprefix(DIGEST_LINE).strip()
    return None


def check(root: Path) -> None:
    """Raise UserError, naming the refresh command, unless the lock matches pyproject.toml."""
    lock = root / LOCK_FILE
    if not lock.is_file():
        raise UserError(f"{LOCK_FILE} is missing: run `{REFRESH}` and commit it.")
    if recorded_digest(lock) != dependency_digest(root / PYPROJECT):
        raise UserError(
            f"{LOCK_FILE} is stale: the dependencies in {PYPROJECT} changed since it was "
            f"written. Run `{REFRESH}` and commit {LOCK_FILE}."
        )


def without_unlocked(compiled: str) -> str:
    """The compiled lock minus the requirements that only the unlocked packages brought in."""
    blocks: list[list[str]] = []
    for line in compiled.splitlines():
        if not blocks or (line and not line.startswith((" ", "#"))):
            blocks.append([])
        blocks[-1].append(line)

    def dropped(block: list[str]) -> bool:
        marker = block[0].partition(MARKER_SEPARATOR)[2]
        return NEVER in marker and " or " not in marker

    return "\n".join(line for block in blocks if not dropped(block) for line in block) + "\n"


def header(digest: str) -> str:
    return (
        f"{DIGEST_LINE}{digest}\n"
        f"# Install: torch for your machine first (README: Setup), then `{INSTALL}`.\n"
        f"# Not locked, installed per machine: {', '.join(UNLOCKED)}. Refresh: `{REFRESH}`.\n"
    )


def minimum_python(pyproject: Path) -> str:
    """The lowest Python version pyproject.toml admits ('>=3.11' gives '3.11')."""
    requires: Any = project_table(pyproject).get("requires-python", "")
    found = re.search(r">=\s*(\d+\.\d+)", requires)
    if found is None:
        raise UserError(f"{PYPROJECT} needs requires-python = '>=X.Y' to lock for.")
    return found.group(1)


def write(root: Path, python_version: str | None = None) -> Path:
    """Resolve pyproject.toml with uv and write the lock (uv is in the dev extra)."""
    try:
        from uv import find_uv_bin  # only re-locking needs uv, from the dev extra
    except ModuleNotFoundError:
        raise UserError('uv is not installed: `pip install -e ".[dev]"` brings it.') from None

    pyproject = root / PYPROJECT
    with tempfile.TemporaryDirectory() as scratch:
        overrides = Path(scratch) / "overrides.txt"
        overrides.write_text("".join(f"{name} ; {NEVER}\n" for name in UNLOCKED))
        command = [
            find_uv_bin(),
            "pip",
            "compile",
            PYPROJECT,
            *(f"--extra={extra}" for extra in EXTRAS),
            "--universal",
            f"--python-version={python_version or minimum_python(pyproject)}",
            f"--overrides={overrides}",
            f"--custom-compile-command={REFRESH}",
            "--quiet",
        ]
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise UserError(f"uv could not resolve {PYPROJECT}:\n{done.stderr.strip()}")
    lock = root / LOCK_FILE
    lock.write_text(header(dependency_digest(pyproject)) + without_unlocked(done.stdout))
    return lock


def run(root: Path, check_only: bool, python_version: str | None) -> None:
    """`research-rigor lock`: check the lock, or write it."""
    if check_only:
        check(root)
        print(f"{LOCK_FILE} matches {PYPROJECT}")
    else:
        print(f"wrote {write(root, python_version)}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true", help="only check the lock is current")
    parser.add_argument("--python-version", help="the lowest Python to lock for")


def main() -> None:
    """`python -m research_rigor.lock`: the check, where nothing else may be installed yet."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args()
    try:
        run(Path.cwd(), args.check, args.python_version)
    except UserError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
