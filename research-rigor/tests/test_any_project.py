"""research-rigor on a project that is not a bake: shaped like lightning-hydra-template.

The project has its own `src/train.py`, its own LightningModule and datamodule, its
variants as `configs/experiment/*.yaml`, and paths from `${oc.env:PROJECT_ROOT}` and
`${hydra:runtime.output_dir}`. It declares itself in `[tool.research-rigor]`,
calls the guard and the provenance record from its training script, and the CLI then
runs `seeds`, `compare` (a verdict) and `affected` (the experiment a change moved) on it.
Real git, real Lightning training on scikit-learn's digits, nothing mocked.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PACKAGE = "lht_demo"
SEEDS = "2"
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}
FILES = {
    ".gitignore": """\
        data/
        outputs/
        __pycache__/
        """,
    "pyproject.toml": f"""\
        [project]
        name = "lht-demo"
        version = "0.1.0"

        [tool.research-rigor]
        package = "{PACKAGE}"
        train = "src/train.py"
        config = "configs/train.yaml"
        modes = "experiment"
        profiles = ""
        metric = "test/acc"
        monitor = "val/acc"
        metric-module = "{PACKAGE}.metrics"
        build-model = "{PACKAGE}.models:build"
        """,
    "configs/train.yaml": """\
        defaults:
          - _self_
          - experiment: small
        seed: 0
        allow_dirty: false
        paths:  # lightning-hydra-template's: the root from the environment, Hydra's run dir
          root_dir: ${oc.env:PROJECT_ROOT}
          output_dir: ${hydra:runtime.output_dir}
        data:
          _target_: lht_demo.datamodule.DigitsDataModule
          data_dir: ${paths.root_dir}/data/digits
          batch_size: 64
        model:
          hidden: 32
          lr: 0.01
        trainer:
          max_epochs: 2
          accelerator: cpu
          devices: 1
          logger: false
          enable_progress_bar: false
          enable_model_summary: false
          default_root_dir: ${paths.output_dir}
        hydra:
          run:
            dir: outputs/runs/${now:%Y-%m-%d_%H-%M-%S-%f}
        """,
    "configs/experiment/small.yaml": """\
        # @package _global_
        model:
          hidden: 16
        """,
    "configs/experiment/wide.yaml": """\
        # @package _global_
        model:
          hidden: 64
        """,
    f"src/{PACKAGE}/__init__.py": "",
    f"src/{PACKAGE}/metrics.py": """\
        METRIC_VERSION = 1  # accuracy on a fixed 15% test split
        """,
    f"src/{PACKAGE}/datamodule.py": """\
        from pathlib import Path

        import lightning as L
        import numpy as np
        import torch
        from torch.utils.data import DataLoader, TensorDataset


        class DigitsDataModule(L.LightningDataModule):
            def __init__(self, data_dir: str, batch_size: int) -> None:
                super().__init__()
                self.data_dir, self.batch_size = Path(data_dir), batch_size

            def prepare_data(self) -> None:
                from sklearn.datasets import load_digits

                if not (self.data_dir / "digits.npz").is_file():
                    self.data_dir.mkdir(parents=True, exist_ok=True)
                    digits = load_digits()
                    np.savez(self.data_dir / "digits.npz", x=digits.data, y=digits.target)

            def setup(self, stage: str | None = None) -> None:
                arrays = np.load(self.data_dir / "digits.npz")
                x = torch.tensor(arrays["x"], dtype=torch.float32) / 16
                y = torch.tensor(arrays["y"])
                order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
                cut = (int(0.7 * len(x)), int(0.85 * len(x)))
                parts = order[: cut[0]], order[cut[0] : cut[1]], order[cut[1] :]
                self.train, self.val, self.test = (TensorDataset(x[p], y[p]) for p in parts)

            def train_dataloader(self) -> DataLoader:
                return DataLoader(self.train, batch_size=self.batch_size, shuffle=True)

            def val_dataloader(self) -> DataLoader:
                return DataLoader(self.val, batch_size=self.batch_size)

            def test_dataloader(self) -> DataLoader:
                return DataLoader(self.test, batch_size=self.batch_size)
        """,
    f"src/{PACKAGE}/models.py": """\
        import lightning as L
        import torch
        from torch import nn


        class DigitsClassifier(L.LightningModule):
            def __init__(self, hidden: int, lr: float) -> None:
                super().__init__()
                self.lr = lr
                self.net = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.net(x)

            def training_step(self, batch, batch_idx):
                x, y = batch
                return {"loss": nn.functional.cross_entropy(self(x), y)}

            def _evaluate(self, batch, stage: str) -> None:
                x, y = batch
                accuracy = (self(x).argmax(dim=1) == y).float().mean()
                self.log(f"{stage}/acc", accuracy, on_epoch=True, batch_size=len(y))

            def validation_step(self, batch, batch_idx) -> None:
                self._evaluate(batch, "val")

            def test_step(self, batch, batch_idx) -> None:
                self._evaluate(batch, "test")

            def configure_optimizers(self):
                return torch.optim.Adam(self.parameters(), lr=self.lr)


        def build(cfg, data) -> DigitsClassifier:
            return DigitsClassifier(**cfg.model)
        """,
    "src/train.py": """\
        import os
        import sys
        from pathlib import Path

        import hydra
        import lightning as L
        from hydra.core.hydra_config import HydraConfig
        from hydra.utils import instantiate
        from lightning.pytorch.callbacks import ModelCheckpoint
        from research_rigor import provenance
        from research_rigor.callbacks import (
            AtomicCheckpointIO,
            MarkFailedOnError,
            RunStateInCheckpoint,
            StopOnNonFiniteLoss,
        )
        from research_rigor.errors import UserError
        from research_rigor.project import Project
        from research_rigor.results import write_metrics

        PROJECT = Project.find(Path(__file__))
        os.environ.setdefault("PROJECT_ROOT", str(PROJECT.root))  # what rootutils does


        def train(cfg) -> None:
            PROJECT.check_code()
            git = provenance.guard(PROJECT.root, allow_dirty=cfg.allow_dirty)
            from lht_demo.metrics import METRIC_VERSION
            from lht_demo.models import build

            run_dir = Path(HydraConfig.get().runtime.output_dir)
            L.seed_everything(cfg.seed, workers=True)
            data = instantiate(cfg.data)
            data.prepare_data()
            record = provenance.build_record(
                cfg, git, PROJECT.root, Path(cfg.data.data_dir), None, run_dir,
                metric=("acc", METRIC_VERSION), modes=PROJECT.modes,
            )
            provenance.save(record, PROJECT.root, run_dir)
            best = ModelCheckpoint(run_dir / "checkpoints", monitor=PROJECT.monitor, mode="max")
            trainer = L.Trainer(
                **cfg.trainer,
                callbacks=[
                    best,
                    RunStateInCheckpoint(record),
                    StopOnNonFiniteLoss(run_dir),
                    MarkFailedOnError(run_dir),
                ],
                plugins=[AtomicCheckpointIO()],
            )
            model = build(cfg, data)
            trainer.fit(model, datamodule=data)
            trainer.test(model, datamodule=data, ckpt_path="best")
            write_metrics(trainer, record, run_dir, monitor=PROJECT.monitor)


        @hydra.main(version_base="1.3", config_path="../configs", config_name="train")
        def main(cfg) -> None:
            try:
                train(cfg)
            except UserError as error:
                sys.exit(f"error: {error}")


        if __name__ == "__main__":
            main()
        """,
}


def run(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """A command in the project, its own code first on the path, one torch thread."""
    env = {
        **os.environ,
        **GIT_IDENTITY,
        "PYTHONPATH": str(project / "src"),
        "OMP_NUM_THREADS": "1",
        "COLUMNS": "120",
    }
    done = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        pytest.fail(f"`{' '.join(args)}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def tool(project: Path, *args: str) -> subprocess.CompletedProcess:
    return run(project, sys.executable, "-m", "research_rigor", *args)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project, committed on main."""
    root = tmp_path_factory.mktemp("lht") / "lht-demo"
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    run(root, "git", "init", "--quiet", "--initial-branch", "main")
    run(root, "git", "add", ".")
    run(root, "git", "commit", "--quiet", "-m", "A project of our own")
    return root


def test_the_guard_refuses_a_dirty_tree_and_a_clean_run_records_its_provenance(project):
    (project / "notes.txt").write_text("an uncommitted idea\n")
    refused = run(project, sys.executable, "src/train.py", check=False)
    (project / "notes.txt").unlink()
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: the git working tree has uncommitted changes")

    run(project, sys.executable, "src/train.py")
    (run_dir,) = {path.parent for path in project.glob("outputs/runs/*/provenance.json")}
    record = json.loads((run_dir / "provenance.json").read_text())
    head = run(project, "git", "rev-parse", "HEAD").stdout.strip()
    assert (record["git_commit"], record["git_dirty"], record["mode"]) == (head, False, "small")
    assert (record["metric_name"], record["metric_version"]) == ("acc", 1)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "completed" and 0 <= metrics["test/acc"] <= 1


def test_seeds_then_compare_give_a_verdict(project, tmp_path):
    tool(project, "seeds", "--seeds", SEEDS, "--out", str(tmp_path / "seeds"))
    seeds = json.loads((tmp_path / "seeds" / "seeds.json").read_text())
    assert seeds["metric"] == "test/acc" and len(seeds["runs"]) == int(SEEDS)

    run(project, "git", "switch", "--quiet", "--create", "exp/lr")
    small = project / "configs" / "experiment" / "small.yaml"
    small.write_text(small.read_text() + "  lr: 0.001\n")
    run(project, "git", "commit", "--quiet", "--all", "-m", "A lower learning rate for small")
    done = tool(project, "compare", "--seeds", SEEDS, "--paired", "--out", str(tmp_path / "cmp"))
    compared = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    baseline, experiment = compared["variants"]
    assert (baseline["ref"], experiment["ref"]) == ("main", None)  # main re-run in a worktree
    verdict = experiment["against_baseline"]["verdict"]
    assert verdict in {"progression", "regression", "inconclusive"} and verdict in done.stdout
    assert experiment["against_baseline"]["test"] == "paired"


def test_affected_names_the_experiment_a_change_moved(project, tmp_path):
    """On exp/lr (after the comparison above), only `small`'s recipe changed."""
    done = tool(project, "affected", "--out", str(tmp_path))
    result = json.loads((tmp_path / "affected.json").read_text())
    rows = {row["mode"]: row for row in result["modes"]}
    assert rows.keys() == {"small", "wide"}
    assert rows["small"]["config_changed"] and rows["small"]["behaviour_moved"]
    assert not rows["wide"]["config_changed"] and not rows["wide"]["behaviour_moved"]
    assert result["rerun"] == ["small"] and "re-run before merging: small" in done.stdout
