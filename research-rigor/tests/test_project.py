"""The project is found once, from its declaration, and refuses another checkout's code."""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from research_rigor.errors import UserError
from research_rigor.project import Project

PACKAGE = "clone_probe"  # a name no installed distribution uses


def make_checkout(root: Path) -> Path:
    """A declared project with an importable package under src/."""
    (root / "src" / PACKAGE).mkdir(parents=True)
    (root / "src" / PACKAGE / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [project]
            name = "clone-probe"

            [tool.research-rigor]
            package = "{PACKAGE}"
            train = "scripts/train.py"
            """
        )
    )
    return root


def test_the_declaration_is_found_from_any_file_below_the_root(tmp_path):
    root = make_checkout(tmp_path / "clone")
    project = Project.find(root / "src" / PACKAGE / "__init__.py")
    assert project == Project(root.resolve(), PACKAGE, "scripts/train.py")
    assert project.train_script == root.resolve() / "scripts" / "train.py"


def test_a_pyproject_without_the_table_is_passed_over(tmp_path):
    root = make_checkout(tmp_path / "outer")
    inner = root / "vendored"
    inner.mkdir()
    (inner / "pyproject.toml").write_text('[project]\nname = "other"\n')
    assert Project.find(inner).root == root.resolve()


def test_no_declaration_and_no_package_are_one_line_each(tmp_path):
    with pytest.raises(UserError, match=r"no pyproject.toml with a \[tool.research-rigor\]"):
        Project.find(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.research-rigor]\n")
    with pytest.raises(UserError, match="has no `package`"):
        Project.find(tmp_path)


def check_code_in(checkout: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    """`check_code` of `checkout`, in a Python that imports the package from `pythonpath`."""
    script = (
        "import sys; from pathlib import Path; from research_rigor.project import Project; "
        "from research_rigor.errors import UserError\n"
        f"try: Project.find(Path({str(checkout)!r})).check_code()\n"
        "except UserError as error: sys.exit(f'error: {error}')"
    )
    env = {"PYTHONPATH": str(pythonpath / "src"), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )


def test_code_imported_from_another_checkout_is_refused_naming_both(tmp_path):
    first = make_checkout(tmp_path / "first").resolve()
    second = make_checkout(tmp_path / "second").resolve()
    (first / "src" / PACKAGE / "model.py").write_text("WIDTH = 8  # the first clone's change\n")
    assert check_code_in(second, second).returncode == 0
    refused = check_code_in(second, first)
    assert refused.returncode == 1
    (line,) = refused.stderr.strip().splitlines()
    assert str(second) in line and str(first / "src" / PACKAGE) in line
    assert f"pip install -e {second}" in line


def test_a_package_that_is_not_importable_is_refused_with_the_install(tmp_path):
    checkout = make_checkout(tmp_path / "clone").resolve()
    refused = check_code_in(checkout, tmp_path / "elsewhere")
    assert refused.returncode == 1
    assert "is not importable" in refused.stderr


def test_an_installed_copy_of_this_checkouts_code_is_accepted_and_a_stale_one_refused(tmp_path):
    """A non-editable install (a wheel of this tree) runs this checkout's code: accepted.
    Once the checkout's code changes, the installed copy is another code: refused."""
    checkout = make_checkout(tmp_path / "clone").resolve()
    (checkout / "src" / PACKAGE / "model.py").write_text("WIDTH = 8\n")
    site = tmp_path / "site-packages"
    shutil.copytree(checkout / "src" / PACKAGE, site / "src" / PACKAGE)
    assert check_code_in(checkout, site).returncode == 0
    (checkout / "src" / PACKAGE / "model.py").write_text("WIDTH = 16\n")
    assert check_code_in(checkout, site).returncode == 1


def test_a_metric_where_smaller_is_better_is_refused_rather_than_read_backwards(tmp_path):
    root = make_checkout(tmp_path / "clone")
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "greater-is-better = false\n")
    with pytest.raises(UserError, match="greater-is-better = false is not supported"):
        Project.find(root)
