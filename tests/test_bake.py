"""Every option combination bakes into a clean, linted git repository; bad answers are refused."""

import re
import sys
from pathlib import Path

import pytest

from .conftest import BAKES, TEMPLATE, run

# ${{ ... }} (GitHub Actions) and ${...}, nested or not (Hydra, DVC): legitimate after baking.
DOLLAR_EXPRESSION = re.compile(r"\$\{\{[^{}]*\}\}|\$\{[^{}]*\}")
JINJA_LEFTOVER = re.compile(r"\{\{|\}\}|\{%|%\}")


def without_dollar_expressions(text: str) -> str:
    """Remove ${...} expressions from the innermost out."""
    while (stripped := DOLLAR_EXPRESSION.sub("", text)) != text:
        text = stripped
    return text


def bake(cookies, **answers):
    result = cookies.bake(template=str(TEMPLATE), extra_context=answers)
    assert result.exit_code == 0, result.exception
    return Path(result.project_path)


def cookiecutter_command(output_dir: Path) -> list[str]:
    """`cookiecutter --no-input` as a user types it, baking into `output_dir`."""
    return [
        sys.executable,
        "-m",
        "cookiecutter",
        "--no-input",
        "--output-dir",
        str(output_dir),
        str(TEMPLATE),
    ]


def git(project: Path, *args: str) -> str:
    return run(["git", *args], project).stdout.strip()


@pytest.fixture(params=list(BAKES), scope="module")
def baked(request, cookies_session) -> tuple[Path, dict]:
    answers = BAKES[request.param]
    return bake(cookies_session, **answers), answers


def test_no_unrendered_jinja_is_left(baked):
    project, _ = baked
    for path in (p for p in project.rglob("*") if p.is_file() and ".git" not in p.parts):
        text = without_dollar_expressions(path.read_text(errors="ignore"))
        assert not JINJA_LEFTOVER.search(text), f"unrendered Jinja in {path.relative_to(project)}"


def test_baked_code_passes_its_own_lint(baked):
    project, _ = baked
    run([sys.executable, "-m", "ruff", "check", "."], project)
    run([sys.executable, "-m", "ruff", "format", "--check", "."], project)


def test_first_commit_leaves_a_clean_tree_on_main(baked):
    project, _ = baked
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert len(git(project, "log", "--oneline").splitlines()) == 1


def test_answers_shape_the_project(baked):
    project, answers = baked
    license_choice = answers.get("license", "MIT")
    if license_choice == "Proprietary":
        assert not (project / "LICENSE").exists()
    else:
        expected = {"MIT": "MIT License", "BSD-3-Clause": "BSD 3-Clause", "Apache-2.0": "Apache"}
        assert (project / "LICENSE").read_text().startswith(expected[license_choice])
    assert (project / ".github").exists() == answers.get("use_github_actions", True)
    assert not (project / "scripts" / "ci_data.py").exists()  # research-rigor ci-data
    train_yaml = (project / "configs" / "train.yaml").read_text()
    assert f"  - mode: {answers.get('default_mode', 'cnn')}\n" in train_yaml
    pyproject = (project / "pyproject.toml").read_text()
    assert f'requires-python = ">={answers.get("python_version", "3.11")}"' in pyproject


def test_free_text_survives_quotes_and_braces(cookies):
    answers = BAKES["quotes-and-braces"]
    project = bake(cookies, **answers)
    assert project.name == "dr-o-neil-s-vision-lab-v2"
    assert (project / "README.md").read_text().startswith(f"# {answers['project_name']}\n")
    tomllib = pytest.importorskip("tomllib")
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert meta["description"] == answers["description"]
    assert meta["authors"][0]["name"] == answers["author_name"]


def test_jinja_syntax_in_free_text_is_taken_literally(cookies):
    """Cookiecutter renders answers as Jinja; local_extensions.py keeps broken Jinja literal."""
    description = "Uses {% raw %} blocks, {{ unclosed braces and {% if %} tags"
    project = bake(cookies, description=description)
    tomllib = pytest.importorskip("tomllib")
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert meta["description"] == description
    assert description in (project / "README.md").read_text()
    run([sys.executable, "-m", "ruff", "check", "."], project)


@pytest.mark.parametrize(
    ("answer", "value", "message"),
    [
        ("package_name", "class", "is a Python keyword"),
        ("package_name", "torch", "would shadow the module 'torch'"),
        ("package_name", "json", "would shadow the module 'json'"),
        ("package_name", "9lives", "is not a valid Python package name"),
        ("package_name", "My-Package", "is not a valid Python package name"),
        ("project_slug", "Bad Slug", "project_slug 'Bad Slug' is not valid"),
        ("wandb_project", "team/project", "is not a valid W&B project name"),
    ],
)
def test_bad_answers_are_refused_and_nothing_is_written(tmp_path, answer, value, message):
    done = run([*cookiecutter_command(tmp_path), f"{answer}={value}"], tmp_path, check=False)
    assert done.returncode != 0
    assert f"ERROR: {answer} {value!r}" in done.stderr and message in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_missing_git_identity_is_reported_and_worked_around(cookies, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.gitconfig
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in (
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "EMAIL",
        "GIT_CONFIG_GLOBAL",
    ):
        monkeypatch.delenv(name, raising=False)
    project = bake(cookies, author_name="Ada Lovelace", author_email="ada@example.com")
    assert git(project, "log", "-1", "--format=%an <%ae>") == "Ada Lovelace <ada@example.com>"
    assert git(project, "status", "--porcelain") == ""


def test_missing_git_is_reported_not_fatal(cookies, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("PATH", str(tmp_path))  # hooks run with cookiecutter's own Python
    project = bake(cookies)
    assert not (project / ".git").exists() and (project / "train.py").is_file()
    assert "git not found" in capfd.readouterr().out


def test_existing_output_directory_is_not_overwritten(tmp_path):
    args = cookiecutter_command(tmp_path)
    run(args, tmp_path)
    marker = tmp_path / "my-research" / "notes.txt"
    marker.write_text("keep me\n")
    again = run(args, tmp_path, check=False)
    assert again.returncode != 0 and "already exists" in again.stdout + again.stderr
    assert marker.read_text() == "keep me\n"
