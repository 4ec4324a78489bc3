"""Validate the answers before cookiecutter writes anything.

A bad answer stops generation with one line that says what is wrong and what
would be accepted; cookiecutter then removes the half-made project folder.
"""

import keyword
import re
import sys

# Answers arrive as JSON literals so that quotes or braces cannot break this file.
PROJECT_SLUG = {{ cookiecutter.project_slug | tojson }}
PACKAGE_NAME = {{ cookiecutter.package_name | tojson }}
WANDB_PROJECT = {{ cookiecutter.wandb_project | tojson }}
WANDB_ENTITY = {{ cookiecutter.wandb_entity | tojson }}

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PACKAGE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
WANDB_NAME_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

# Import names the generated project depends on or uses for its own layout:
# a package with one of these names would shadow it.
RESERVED_NAMES = {
    "alembic", "configs", "data", "dvc", "hydra", "lightning", "matplotlib",
    "numpy", "omegaconf", "optuna", "pytest", "pytorch_lightning", "rich",
    "scipy", "sklearn", "src", "syrupy", "tests", "torch", "torchmetrics",
    "wandb", "yaml",
}


def problems() -> list[str]:
    """Return one message per invalid answer."""
    found = []
    if not SLUG_PATTERN.match(PROJECT_SLUG):
        found.append(
            f"project_slug {PROJECT_SLUG!r} is not valid: use lowercase letters, digits "
            "and single hyphens, starting with a letter (e.g. 'my-research')."
        )
    suggestion = re.sub(r"[^a-z0-9_]", "_", PACKAGE_NAME.lower()).strip("_") or "research"
    if not PACKAGE_PATTERN.match(PACKAGE_NAME):
        found.append(
            f"package_name {PACKAGE_NAME!r} is not a valid Python package name: use lowercase "
            f"letters, digits and underscores, starting with a letter (e.g. {suggestion!r})."
        )
    elif keyword.iskeyword(PACKAGE_NAME):
        found.append(
            f"package_name {PACKAGE_NAME!r} is a Python keyword and cannot be imported: "
            f"choose another name (e.g. '{PACKAGE_NAME}_research')."
        )
    elif PACKAGE_NAME in RESERVED_NAMES or PACKAGE_NAME in sys.stdlib_module_names:
        found.append(
            f"package_name {PACKAGE_NAME!r} would shadow the module {PACKAGE_NAME!r} the project "
            f"imports: choose another name (e.g. '{PACKAGE_NAME}_research')."
        )
    if not WANDB_NAME_PATTERN.match(WANDB_PROJECT):
        found.append(
            f"wandb_project {WANDB_PROJECT!r} is not a valid W&B project name: use up to 128 "
            "letters, digits, '.', '_' or '-'."
        )
    if WANDB_ENTITY and not WANDB_NAME_PATTERN.match(WANDB_ENTITY):
        found.append(
            f"wandb_entity {WANDB_ENTITY!r} is not a valid W&B entity: use letters, digits, "
            "'.', '_' or '-', or leave it empty for your default entity."
        )
    return found


if __name__ == "__main__":
    errors = problems()
    for message in errors:
        print(f"ERROR: {message}", file=sys.stderr)
    sys.exit(1 if errors else 0)
