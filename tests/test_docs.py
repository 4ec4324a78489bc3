"""The template's documentation site builds without a warning and covers every config group."""

import os
import sys

from .conftest import TEMPLATE, run

CONFIGS = TEMPLATE / "{{cookiecutter.project_slug}}" / "configs"
CONFIG_REFERENCE = TEMPLATE / "docs" / "configuration.md"


def test_site_builds_strictly(tmp_path):
    site = tmp_path / "site"
    run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)], TEMPLATE)
    assert (site / "patterns" / "index.html").is_file()


def test_config_reference_covers_every_config_group():
    reference = CONFIG_REFERENCE.read_text()
    groups = sorted(
        os.path.relpath(folder, CONFIGS)
        for folder, _, files in os.walk(CONFIGS)
        if any(name.endswith(".yaml") for name in files) and folder != str(CONFIGS)
    )
    missing = [group for group in groups if f"`{group}/`" not in reference]
    assert not missing, f"config groups missing from docs/configuration.md: {missing}"
