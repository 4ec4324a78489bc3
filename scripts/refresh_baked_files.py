"""Regenerate the files the template ships pre-computed from a bake.

The generated project commits three files that only running its code can write:
`metric.lock` (the metric fingerprint), the config snapshots and every mode's behaviour
fingerprint (`tests/behaviour.json`). After changing the template's metric code, any
config or the training code, run `make refresh` and review the diff.
A fourth, `requirements.lock`, needs PyPI: `make lock` (`--lock`) after changing
the baked pyproject.toml's dependencies; `make refresh` writes it too. `make lock`
also re-locks the template's own environment, `requirements-dev.lock`.
"""

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
PROJECT = TEMPLATE / "{{cookiecutter.project_slug}}"
LIBRARY = TEMPLATE / "research-rigor"
SENTINEL_PACKAGE = "sentinelpkg"  # a name no real config contains, replaced back by Jinja
SNAPSHOTS = Path("tests") / "__snapshots__"
BEHAVIOUR = Path("tests") / "behaviour.json"
LOCK_FILE = "requirements.lock"
# The lock serves every bake: it is resolved for the lowest Python the template offers.
LOWEST_PYTHON = "3.10"
SENTINEL_PROJECT = re.compile(r"\bsentinel \(pyproject\.toml\)")
DEV_REQUIREMENTS = ("requirements-dev.txt", "constraints.txt")
DEV_LOCK = TEMPLATE / "requirements-dev.lock"
DEV_DIGEST_LINE = "# requirements-dev.txt + constraints.txt sha256: "
TEMPLATE_PYTHON = "3.11"  # what the template's CI and .venv run
TORCH_LEFT_OUT = "torch ; sys_platform == 'never'\n"  # constraints.txt installs it first


def dev_digest() -> str:
    """What requirements-dev.lock was resolved from; tests/test_lock.py checks it."""
    return hashlib.sha256(
        b"".join((TEMPLATE / name).read_bytes() for name in DEV_REQUIREMENTS)
    ).hexdigest()


def refresh_dev_lock() -> None:
    """Pin the template's own environment; uv keeps the old pins where they still fit."""
    from uv import find_uv_bin

    with tempfile.TemporaryDirectory() as scratch:
        overrides = Path(scratch) / "overrides.txt"
        overrides.write_text(TORCH_LEFT_OUT)
        command = [find_uv_bin(), "pip", "compile", DEV_REQUIREMENTS[0], "--quiet"]
        command += [f"--python-version={TEMPLATE_PYTHON}", f"--overrides={overrides}"]
        command += ["--custom-compile-command=make lock", f"--output-file={DEV_LOCK}"]
        subprocess.run(command, cwd=TEMPLATE, check=True)
    DEV_LOCK.write_text(f"{DEV_DIGEST_LINE}{dev_digest()}\n" + DEV_LOCK.read_text())
    print(f"wrote {DEV_LOCK.relative_to(TEMPLATE)}")


def run(args: list[str], cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True)


def refresh_lock(baked: Path) -> None:
    """Resolve the bake's dependencies with its own lock command; ship the result as Jinja.

    Until research-rigor is on PyPI, uv finds it as a wheel built from this checkout."""
    with tempfile.TemporaryDirectory() as wheels:
        build = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", wheels]
        subprocess.run([*build, str(LIBRARY)], check=True)
        env = {**os.environ, "PYTHONPATH": str(baked / "src"), "UV_FIND_LINKS": wheels}
        command = [sys.executable, "-m", "research_rigor.lock", "--python-version"]
        subprocess.run([*command, LOWEST_PYTHON], cwd=baked, env=env, check=True)
    text = (baked / LOCK_FILE).read_text()
    text = text.replace(SENTINEL_PACKAGE, "{{ cookiecutter.package_name }}")
    text = SENTINEL_PROJECT.sub("{{ cookiecutter.project_slug }} (pyproject.toml)", text)
    (PROJECT / LOCK_FILE).write_text(text)
    print(f"wrote {(PROJECT / LOCK_FILE).relative_to(TEMPLATE)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", action="store_true", help=f"only {LOCK_FILE}")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        baked = Path(
            cookiecutter(
                str(TEMPLATE),
                no_input=True,
                output_dir=scratch,
                extra_context={"project_slug": "sentinel", "package_name": SENTINEL_PACKAGE},
            )
        )
        refresh_lock(baked)
        if args.lock:
            refresh_dev_lock()
            return
        (baked / "metric.lock").unlink()
        shutil.rmtree(baked / SNAPSHOTS, ignore_errors=True)
        (baked / BEHAVIOUR).unlink(missing_ok=True)
        env_python = sys.executable
        run([env_python, "-m", "pip", "install", "--quiet", "--no-deps", "-e", "."], baked)
        try:
            run([env_python, "-m", "research_rigor", "metric", "lock"], baked)
            run([env_python, "-m", "research_rigor.behaviour", "record"], baked)
            run(
                [
                    env_python,
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    "tests/test_configs.py",
                    "--snapshot-update",
                ],
                baked,
            )
        finally:
            run([env_python, "-m", "pip", "uninstall", "--quiet", "--yes", "sentinel"], baked)
        shutil.copy(baked / "metric.lock", PROJECT / "metric.lock")
        shutil.copy(baked / BEHAVIOUR, PROJECT / BEHAVIOUR)
        shutil.rmtree(PROJECT / SNAPSHOTS, ignore_errors=True)
        for snapshot in (baked / SNAPSHOTS).rglob("*.ambr"):
            text = snapshot.read_text().replace(SENTINEL_PACKAGE, "{{ cookiecutter.package_name }}")
            target = PROJECT / snapshot.relative_to(baked)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            print(f"wrote {target.relative_to(TEMPLATE)}")


if __name__ == "__main__":
    main()
