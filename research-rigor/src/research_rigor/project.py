"""The project, found once: its checkout, its declaration, and the code that will run.

A project declares itself in the `[tool.research-rigor]` table of its `pyproject.toml`:

    [tool.research-rigor]
    package = "my_research"          # the import name of the project's code (required)
    train = "train.py"               # the training script, relative to the project root
    config = "configs/train.yaml"    # its Hydra primary config
    modes = "mode"                   # the config group whose options are the modes
    profiles = "profile"             # a group added with +profile= (fast/full), or ""
    metric = "test/acc"              # the number a run is judged by, in metrics.json
    monitor = "val/acc"              # what selects the best checkpoint
    greater-is-better = true
    metric-module = "my_research.metrics"          # METRIC_VERSION, DEFINITION, EXCLUDED
    build-model = "my_research.model:build_model"   # (cfg, datamodule) -> LightningModule
    report = "my_research.report:evaluate_run"      # (run dir, figures' dir) -> RunEvaluation
    datasets = "data"                # the config group whose options are the datasets
    # the config key that seeds each source of randomness, each defaulting to the run's
    # `seed`: what `research-rigor seeds --vary init,order,augment` sets one at a time
    seed-sources = { init = "seeds.init", order = "seeds.order", augment = "seeds.augment" }

Every key but `package` has the default shown (with the project's package name), except
`seed-sources`, empty by default: a project without it trains every source from `seed`.

`Project.find` walks up from a path to the first `pyproject.toml` that holds the
table; every tool takes the object it returns rather than guessing a path from
`__file__` or the working directory. `check_code` refuses, in one line, to run
when the package that Python imports lives in another checkout (an editable
install of a second clone, a stale wheel, `PYTHONPATH`): the provenance record
names this checkout's commit, so the code that trains must be this checkout's.
"""

import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from research_rigor.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

TABLE = "research-rigor"
PYPROJECT = "pyproject.toml"
DEFAULT_TRAIN = "train.py"
SOURCE_DIR = "src"


def python_files(package: Path) -> dict[str, bytes]:
    """Every Python file of a package, by its path inside the package."""
    return {
        path.relative_to(package).as_posix(): path.read_bytes()
        for path in package.rglob("*.py")
        if "__pycache__" not in path.parts
    }


@dataclass(frozen=True)
class Project:
    root: Path
    package: str
    train: str = DEFAULT_TRAIN
    config: str = "configs/train.yaml"
    modes: str = "mode"
    profiles: str = "profile"
    metric: str = "test/acc"
    monitor: str = "val/acc"
    greater_is_better: bool = True
    metric_module: str = ""  # empty: the package's `metrics` module
    build_model: str = ""  # "module:function"; empty: the package's model:build_model
    report: str = ""  # "module:function"; empty: the package's report:evaluate_run
    datasets: str = "data"  # a sweep of this group (data=a,b,c) compares on each dataset
    seed_sources: dict[str, str] = field(default_factory=dict)  # source -> its seed's config key

    @classmethod
    def find(cls, start: Path) -> "Project":
        """The declared project that holds `start` (a file or a folder)."""
        start = start.resolve()
        for folder in [start, *start.parents]:
            pyproject = folder / PYPROJECT
            if not pyproject.is_file():
                continue
            with pyproject.open("rb") as file:
                table = tomllib.load(file).get("tool", {}).get(TABLE)
            if table is None:
                continue
            if "package" not in table:
                raise UserError(
                    f"{pyproject}: [tool.{TABLE}] has no `package`: add the import name of "
                    'the project\'s code, e.g. package = "my_research".'
                )
            keys = {field.name.replace("_", "-") for field in fields(cls)} - {"root"}
            unknown = sorted(set(table) - keys)
            if unknown:
                raise UserError(
                    f"{pyproject}: [tool.{TABLE}] has unknown keys {', '.join(unknown)}; "
                    f"the known ones are {', '.join(sorted(keys))}."
                )
            sources = table.get("seed-sources", {})
            if not isinstance(sources, dict) or not all(
                isinstance(key, str) and key for key in sources.values()
            ):
                raise UserError(
                    f"{pyproject}: [tool.{TABLE}] seed-sources names each source's config key, "
                    'e.g. seed-sources = { init = "seeds.init", order = "seeds.order" }.'
                )
            project = cls(folder, **{key.replace("-", "_"): value for key, value in table.items()})
            if not project.greater_is_better:  # the statistics read a larger metric as better
                raise UserError(
                    f"{pyproject}: greater-is-better = false is not supported by this version "
                    "of research-rigor: report a metric where larger is better (an accuracy, "
                    "or the negated loss)."
                )
            return project
        raise UserError(
            f"no pyproject.toml with a [tool.{TABLE}] table in {start} or above: run this "
            f"inside a project that declares itself (see research-rigor's README)."
        )

    @property
    def train_script(self) -> Path:
        return self.root / self.train

    @property
    def config_dir(self) -> Path:
        return (self.root / self.config).parent

    @property
    def config_name(self) -> str:
        return Path(self.config).stem

    @property
    def metric_module_name(self) -> str:
        return self.metric_module or f"{self.package}.metrics"

    @property
    def metric_version_ref(self) -> str:
        return f"{self.metric_module_name}:METRIC_VERSION"

    @property
    def build_model_ref(self) -> str:
        return self.build_model or f"{self.package}.model:build_model"

    @property
    def report_ref(self) -> str:
        return self.report or f"{self.package}.report:evaluate_run"

    def options(self, group: str) -> list[str]:
        """The options of a config group: <config dir>/<group>/*.yaml."""
        if not group:
            return []
        return sorted(path.stem for path in (self.config_dir / group).glob("*.yaml"))

    def overrides(self, mode: str, profile: str | None) -> list[str]:
        """The command-line overrides that select a mode and a profile."""
        chosen = [f"{self.modes}={mode}"]
        return chosen + ([f"+{self.profiles}={profile}"] if profile else [])

    def source_seeds(self, cfg: Any) -> dict[str, int]:
        """Each declared source's seed in a composed config (an OmegaConf DictConfig)."""
        from omegaconf import OmegaConf

        return {source: OmegaConf.select(cfg, key) for source, key in self.seed_sources.items()}

    def code_location(self) -> Path | None:
        """Where Python imports the project's package from, or None if it cannot."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(next(iter(spec.submodule_search_locations))).resolve()

    def source(self) -> Path | None:
        """The package's folder in this checkout: `src/<package>` or `<package>`."""
        for folder in (self.root / SOURCE_DIR / self.package, self.root / self.package):
            if folder.is_dir():
                return folder
        return None

    def check_code(self) -> None:
        """Refuse, in one line, to run another checkout's code under this checkout's commit.

        The imported package is this checkout's when it lives in the checkout (an editable
        install, `PYTHONPATH`), or when it is a copy whose Python files equal the
        checkout's byte for byte (a wheel built from this very tree)."""
        location = self.code_location()
        if location is None:
            raise UserError(
                f"the package {self.package!r} of {self.root} is not importable: install it "
                f"with `pip install -e {self.root}`."
            )
        source = self.source()
        if not location.is_relative_to(self.root) and (
            source is None or python_files(location) != python_files(source)
        ):
            raise UserError(
                f"this checkout is {self.root}, but Python imports {self.package!r} from "
                f"{location}: the run would record one commit and train another's code. "
                f"Run `pip install -e {self.root}` (or give each checkout its own environment)."
            )


def load(reference: str) -> Any:
    """The object a "module:name" (or "module:Class.attribute") reference names."""
    module, _, name = reference.partition(":")
    found: Any = importlib.import_module(module)
    for part in name.split("."):
        found = getattr(found, part)
    return found


ModelBuilder = Callable[[Any, Any], Any]  # (composed config, set-up datamodule) -> LightningModule
