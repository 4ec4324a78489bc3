"""Metric versioning: the code that defines the metric cannot change without a version bump.

Numbers measured under different procedures must never be compared, so the procedure
carries a version. The project's metric module (`metric-module` in its declaration,
by default `<package>.metrics`) declares it:

    METRIC_VERSION = 5
    DEFINITION = (
        "metrics.py",
        "data",
        "research_rigor.splits",
        "research_rigor.datamodule",
        "evaluation.py",
        "model.py:Classifier.test_step",
    )
    EXCLUDED = {
        "research_rigor.datamodule:ClassificationDataModule.train_dataloader": "training only"
    }

DEFINITION names whole modules and packages (every definition in them, so a module
added to a listed package is covered the day it is written) and single definitions
(`module.py:Name`, `module.py:Class.method`), relative to the metric module's folder.
A module of another installed package is named by its import name (`research_rigor.images`,
or `research_rigor.images:decode`): code a project calls but does not hold, whose release
then moves the fingerprint when it changes.
EXCLUDED leaves parts of the listed modules out, each with the reason. The fingerprint
is taken from syntax trees, so comments, docstrings and formatting do not count, and
the project's own package name does not either. `metric.lock` at the project root holds
the version and its fingerprint:

    research-rigor metric lock    # after a deliberate change and a version bump
"""

import ast
import hashlib
import importlib
import importlib.util
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from research_rigor.errors import UserError
from research_rigor.project import Project

LOCK_FILE = "metric.lock"
LOCK_COMMAND = "research-rigor metric lock"
DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
SEPARATOR = ":"  # module.py:Name
SOURCE_SUFFIX = ".py"  # a project's module; a dotted name without it is an installed module


@dataclass(frozen=True)
class Definition:
    """What defines a project's metric, read from its metric module."""

    folder: Path  # DEFINITION's paths are relative to it
    package: str  # the project's import name, left out of the fingerprint
    version: int
    included: tuple[str, ...]
    excluded: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, module: ModuleType, folder: Path | None = None) -> "Definition":
        return cls(
            folder=folder or Path(module.__file__).resolve().parent,
            package=module.__name__.split(".")[0],
            version=module.METRIC_VERSION,
            included=tuple(module.DEFINITION),
            excluded=dict(getattr(module, "EXCLUDED", {})),
        )

    def modules(self) -> Iterator[tuple[str, tuple[str, ...] | None]]:
        """Each module file, relative to the folder, with its selected names (None: whole)."""
        selected: dict[str, list[str]] = {}
        for entry in self.included:
            path, _, name = entry.partition(SEPARATOR)
            if name:
                selected.setdefault(path, []).append(name)
            elif (self.folder / path).is_dir():
                for file in sorted((self.folder / path).rglob("*.py")):
                    if "__pycache__" not in file.parts:
                        yield file.relative_to(self.folder).as_posix(), None
            else:
                yield path, None
        yield from ((path, tuple(names)) for path, names in selected.items())

    def fingerprint(self) -> str:
        """SHA-256 of the syntax trees of what defines the metric, docstrings left out."""
        digest = hashlib.sha256()
        for module, names in self.modules():
            if module in self.excluded:
                continue
            path = self._file(module)
            tree = _meaning(ast.parse(path.read_text()), self.package)
            definitions = _definitions(tree)
            wanted = names or [name for name in definitions if self._kept(module, name)]
            missing = [name for name in wanted if name not in definitions]
            excluded_gone = [
                entry
                for entry in self.excluded
                if entry.startswith(f"{module}{SEPARATOR}")
                and entry.partition(SEPARATOR)[2] not in definitions
            ]
            if missing or excluded_gone:
                gone = ", ".join(missing + excluded_gone)
                raise UserError(
                    f"{module} no longer defines {gone}: update DEFINITION or EXCLUDED in the "
                    "metric module to what now defines the metric."
                )
            digest.update(module.encode())
            if names is None:
                body = [node for node in tree.body if not self._excluded_node(module, node)]
                digest.update(_canonical(body).encode())
            else:
                for name in names:
                    digest.update(_canonical(definitions[name]).encode())
        return digest.hexdigest()

    def _file(self, module: str) -> Path:
        """The file of a module named in DEFINITION: the project's, or an installed one's."""
        if not _imported(module):
            path = self.folder / module
            if not path.is_file():
                raise UserError(f"DEFINITION names {module}, which is not in {self.folder}.")
            return path
        try:
            spec = importlib.util.find_spec(module)
        except ModuleNotFoundError:
            spec = None
        if spec is None or spec.origin is None or spec.submodule_search_locations is not None:
            raise UserError(
                f"DEFINITION names {module}, which is not an installed module: install it, or "
                "name each module of a package by its import name."
            )
        return Path(spec.origin)

    def _kept(self, module: str, name: str) -> bool:
        return f"{module}{SEPARATOR}{name}" not in self.excluded

    def _excluded_node(self, module: str, node: ast.AST) -> bool:
        """Drops excluded top-level definitions, and excluded methods from their classes."""
        name = getattr(node, "name", None)
        if name is None:
            return False
        if not self._kept(module, name):
            return True
        if isinstance(node, ast.ClassDef):
            node.body = [
                member
                for member in node.body
                if self._kept(module, f"{name}.{getattr(member, 'name', '')}")
            ] or [ast.Pass()]
        return False


def _imported(module: str) -> bool:
    """Whether DEFINITION names an installed module by import name (`package.module`)."""
    return "." in module and not module.endswith(SOURCE_SUFFIX) and "/" not in module


def _meaning(tree: ast.Module, package: str) -> ast.Module:
    """The tree without its docstrings, and with the project's imports under one name,
    so that every project made from the same template shares the fingerprint."""

    def unnamed(module: str) -> str:
        own = module == package or module.startswith(f"{package}.")
        return f"package{module[len(package) :]}" if own else module

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, DOCUMENTED) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                node.body = body[1:] or [ast.Pass()]
        if isinstance(node, ast.ImportFrom) and node.module:
            node.module = unnamed(node.module)
        if isinstance(node, ast.Import):
            for alias in node.names:
                alias.name = unnamed(alias.name)
    return tree


def _definitions(tree: ast.Module) -> dict[str, ast.AST]:
    """Top-level functions, classes, assigned names and methods (`Class.method`), by name."""
    found: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            found[node.name] = node
        if isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
                    found[f"{node.name}.{member.name}"] = member
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        found.update({target.id: node for target in targets if isinstance(target, ast.Name)})
    return found


def _canonical(node: object) -> str:
    """`ast.dump` without empty fields, whose set differs between Python versions."""
    if isinstance(node, ast.AST):
        fields = ", ".join(
            f"{name}={_canonical(value)}"
            for name, value in ast.iter_fields(node)
            if value is not None and value != []
        )
        return f"{type(node).__name__}({fields})"
    if isinstance(node, list):
        return f"[{', '.join(map(_canonical, node))}]"
    return repr(node)


def definition(project: Project) -> Definition:
    return Definition.of(importlib.import_module(project.metric_module_name))


def read_lock(project: Project) -> dict[str, Any]:
    path = project.root / LOCK_FILE
    if not path.is_file():
        raise UserError(f"{path} is missing: run `{LOCK_COMMAND}` and commit it.")
    return json.loads(path.read_text())


def check(project: Project) -> None:
    """Refuse, naming the fix, a definition that moved without a version bump."""
    found, locked = definition(project), read_lock(project)
    if locked["fingerprint"] != found.fingerprint():
        raise UserError(
            f"the metric definition ({', '.join(found.included)}) changed. Bump "
            f"METRIC_VERSION in {project.metric_module_name} and run `{LOCK_COMMAND}`, then "
            "re-run the baseline: numbers from the old version are no longer comparable."
        )
    if locked["version"] != found.version:
        raise UserError(f"METRIC_VERSION differs from {LOCK_FILE}: run `{LOCK_COMMAND}`.")


def write_lock(project: Project) -> Path:
    """Record the current fingerprint; refuse if the definition changed under the same version."""
    found, path = definition(project), project.root / LOCK_FILE
    fingerprint = found.fingerprint()
    if path.is_file():
        locked = read_lock(project)
        if locked["fingerprint"] != fingerprint and locked["version"] >= found.version:
            raise UserError(
                f"the metric definition changed but METRIC_VERSION is still {found.version}: "
                f"bump it in {project.metric_module_name} first, then lock again."
            )
    payload = {"version": found.version, "fingerprint": fingerprint}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def add_arguments(parser: Any) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("lock", help=f"record the metric version and fingerprint in {LOCK_FILE}")
    actions.add_parser("check", help=f"does the definition match {LOCK_FILE}?")


def run(project: Project, action: str) -> None:
    if action == "lock":
        print(f"locked metric version {definition(project).version} in {write_lock(project)}")
    else:
        check(project)
        print(f"the metric definition matches {LOCK_FILE}")
