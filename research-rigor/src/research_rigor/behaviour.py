"""Each mode's behaviour, fingerprinted: a few seeded optimizer steps on fixed batches.

A config snapshot shows which modes' configs a change touched, but not a change to shared
code (the data protocol, the model, a base encoder, the trainer) that moves every mode's
numbers. This fingerprint does: from a fixed seed, each mode and profile takes `STEPS`
optimizer steps of its own recipe (model, optimizer, trainer settings) through Lightning's
loop on the first training samples, in order. It records the loss at every step, the norms of
the trained weights and of their outputs on fixed validation samples, and a digest of their
exact bytes. The recorded fingerprints are committed in `tests/behaviour.json`.

The project declares its modes group, its profiles group and its model builder (a
function of the composed config and the set-up datamodule, `build-model`); the data
comes from the config's `data` node, built by Hydra. After reviewing a change, re-record;
`show` writes a checkout's configs and fingerprints (the `affected` command uses it):

    research-rigor behaviour record
    python -m research_rigor.behaviour show --root <checkout> --out measured.json

Determinism: the steps run on the CPU, on one thread, in double precision, with
`torch.use_deterministic_algorithms(True)`. The same code, torch build and CPU give the same
bytes (equal digests). Another CPU or torch release may round differently, so the numbers are
compared at `RELATIVE_TOLERANCE`. A GPU is never used here: its kernels are not bit-exact
across GPU models and drivers.
"""

import argparse
import hashlib
import json
import logging
import math
import os
import platform
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from research_rigor.project import ModelBuilder, Project, load

RECORD_FILE = Path("tests") / "behaviour.json"
STEPS = 5  # enough for the optimizer, its state and the schedule to matter; a second at most
SEED = 0
NO_PROFILE = "default"  # the profile key of a project without a profiles group
UNSHAPING_KEYS = ("logger",)  # where a run logs to does not shape it
HYDRA_KEY = "hydra"  # Hydra's own settings, composed in to resolve `${hydra:...}`
CHECKOUT = "<checkout>"  # a checkout's own path, in the configs compared across checkouts
PROJECT_ROOT_VARIABLE = "PROJECT_ROOT"
# Hydra's run directory while composing outside a run; nothing is written there.
FINGERPRINT_RUN_DIR = Path(tempfile.gettempdir()) / "research-rigor-fingerprint"
# Largest relative change of any recorded number that still counts as the same behaviour.
# Measured: a 1e-13 relative change of every weight (a thousand times float64's rounding)
# moves the numbers by 3e-11 at most; a 1% change of a learning rate or a dropout by 2e-3.
RELATIVE_TOLERANCE = 1e-4
# The recipe runs on one CPU process whatever the trainer config asks for (a GPU, DDP), in
# double precision: in float32, Adam turns the rounding noise of a gradient that is zero in
# exact arithmetic (a conv bias before batch norm) into full-size updates, so another CPU's
# kernels would move the numbers by 1e-3; in float64 that noise stays far below Adam's eps.
FINGERPRINT_TRAINER = {
    "accelerator": "cpu",
    "devices": 1,
    "num_nodes": 1,
    "strategy": "auto",
    "precision": "64-true",
}
QUIET_LOGGERS = ("lightning.pytorch", "lightning.fabric")
# Lightning's advice that does not apply to these few steps: no validation loop, no srun.
IGNORED_WARNINGS = (".*validation_step.* but have no .val_dataloader.*", ".*srun.* command")


@dataclass(frozen=True)
class Fingerprint:
    """What a mode's first optimizer steps did, in numbers."""

    losses: tuple[float, ...]  # the training loss at each step, before its update
    parameter_norm: float  # of every weight and buffer after the steps
    output_norm: float  # of the logits on fixed validation samples after the steps
    digest: str  # SHA-256 of the exact bytes of those weights and outputs

    def numbers(self) -> dict[str, float]:
        steps = {f"loss at step {step}": loss for step, loss in enumerate(self.losses, 1)}
        return {**steps, "parameter norm": self.parameter_norm, "output norm": self.output_norm}

    def change(self, other: "Fingerprint") -> tuple[str, float]:
        """The number that moved most from `self` to `other`, and its relative change."""
        mine, theirs = self.numbers(), other.numbers()
        if mine.keys() != theirs.keys():
            return "number of steps", math.inf
        return max(
            ((name, relative_change(mine[name], theirs[name])) for name in mine),
            key=lambda item: item[1],
        )

    def describe_change(self, other: "Fingerprint") -> str:
        name, change = self.change(other)
        if name == "number of steps":
            return f"{len(self.losses)} recorded steps, {len(other.losses)} now"
        before, after = self.numbers()[name], other.numbers()[name]
        return f"{name} {before:.6g} -> {after:.6g} (relative change {change:.1e})"

    def moved(self, other: "Fingerprint") -> bool:
        return self.change(other)[1] > RELATIVE_TOLERANCE

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Fingerprint":
        return cls(**{**data, "losses": tuple(data["losses"])})


def relative_change(before: float, after: float) -> float:
    """|after - before| relative to the larger of the two; equal non-finite values are equal."""
    if before == after or (math.isnan(before) and math.isnan(after)):
        return 0.0
    if not (math.isfinite(before) and math.isfinite(after)):
        return math.inf
    return abs(after - before) / max(abs(before), abs(after))


def profiles(project: Project) -> list[str]:
    return project.options(project.profiles) or [NO_PROFILE]


def compose(
    project: Project, mode: str, profile: str, overrides: tuple[str, ...] = ()
) -> DictConfig:
    """The config `python <train> <modes>=<mode> +<profiles>=<profile> <overrides>` runs.

    Outside a run, Hydra's `${hydra:runtime.output_dir}` has no value: it is given
    FINGERPRINT_RUN_DIR. A `PROJECT_ROOT` environment variable (lightning-hydra-template's
    `${oc.env:PROJECT_ROOT}`) defaults to the project's root, as its training script sets it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.hydra_config import HydraConfig

    os.environ.setdefault(PROJECT_ROOT_VARIABLE, str(project.root))
    chosen = project.overrides(mode, None if profile == NO_PROFILE else profile)
    with initialize_config_dir(config_dir=str(project.config_dir), version_base="1.3"):
        cfg = hydra_compose(
            project.config_name, overrides=[*chosen, *overrides], return_hydra_config=True
        )
    cfg.hydra.runtime.output_dir = str(FINGERPRINT_RUN_DIR)
    HydraConfig.instance().set_config(cfg)
    return cfg


def experiment_config(cfg: DictConfig, project: Project) -> dict[str, Any]:
    """Everything that shapes the experiment, the same in every checkout of it: where it is
    logged to and Hydra's own settings are left out, and the checkout's path is named."""
    shaping = [key for key in cfg if key not in (*UNSHAPING_KEYS, HYDRA_KEY)]
    resolved = OmegaConf.to_container(OmegaConf.masked_copy(cfg, shaping), resolve=True)
    return json.loads(json.dumps(resolved).replace(str(project.root), CHECKOUT))


@contextmanager
def deterministic() -> Iterator[None]:
    """One CPU thread, deterministic kernels and quiet Lightning, restored afterwards."""
    import torch

    threads, strict = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for message in IGNORED_WARNINGS:
                warnings.filterwarnings("ignore", message)
            yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(strict)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def fingerprint(cfg: DictConfig, build_model: ModelBuilder) -> Fingerprint:
    """`STEPS` optimizer steps of the config's recipe from `SEED`, through Lightning's loop."""
    import lightning as L
    import torch
    from hydra.utils import instantiate
    from torch.utils.data import DataLoader, Subset

    class RecordLoss(L.Callback):
        def __init__(self) -> None:
            self.losses: list[float] = []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            self.losses.append(float(outputs["loss"]))

    with deterministic():
        L.seed_everything(SEED, verbose=False)
        data = instantiate(cfg.data)
        data.prepare_data()
        data.setup("fit")
        batch_size = cfg.data.batch_size
        train = data.train_dataloader().dataset
        steps = DataLoader(Subset(train, range(STEPS * batch_size)), batch_size=batch_size)
        probe = next(iter(DataLoader(data.val_dataloader().dataset, batch_size=batch_size)))[0]
        model = build_model(cfg, data)
        recorder = RecordLoss()
        trainer = L.Trainer(
            **{
                **OmegaConf.to_container(cfg.trainer, resolve=True),
                **FINGERPRINT_TRAINER,
                "max_epochs": 1,
                "max_steps": STEPS,
                "logger": False,
                "callbacks": [recorder],
                "enable_checkpointing": False,
                "enable_progress_bar": False,
                "enable_model_summary": False,
            }
        )
        trainer.fit(model, train_dataloaders=steps)
        with torch.no_grad():
            outputs = model.eval()(probe.to(model.dtype))
        state = model.state_dict()
        digest = hashlib.sha256()
        for name in sorted(state):
            digest.update(name.encode())
            digest.update(state[name].detach().contiguous().numpy().tobytes())
        digest.update(outputs.numpy().tobytes())
        floats = [value.double() for value in state.values() if value.is_floating_point()]
        return Fingerprint(
            losses=tuple(recorder.losses),
            parameter_norm=math.sqrt(sum(float((value**2).sum()) for value in floats)),
            output_norm=float(outputs.double().norm()),
            digest=digest.hexdigest(),
        )


def measure(project: Project, overrides: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every mode x profile of the project: its config and its fingerprint."""
    build_model = load(project.build_model_ref)
    measured: dict[str, Any] = {}
    for mode in project.options(project.modes):
        for profile in profiles(project):
            cfg = compose(project, mode, profile, overrides)
            measured.setdefault(mode, {})[profile] = {
                "config": experiment_config(cfg, project),
                "fingerprint": asdict(fingerprint(cfg, build_model)),
            }
    return measured


def environment() -> dict[str, str]:
    """Where fingerprints were recorded: what a mismatch on another machine may come from."""
    return {
        "torch": metadata.version("torch"),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def read_record(project: Project) -> dict[str, Any]:
    return json.loads((project.root / RECORD_FILE).read_text())


def recorded(project: Project) -> dict[str, dict[str, Fingerprint]]:
    """The committed fingerprints, by mode and profile."""
    return {
        mode: {profile: Fingerprint.from_dict(found) for profile, found in by_profile.items()}
        for mode, by_profile in read_record(project)["modes"].items()
    }


def record(project: Project) -> Path:
    """Write every mode's fingerprint to `tests/behaviour.json`, for review and commit."""
    fingerprints = {
        mode: {profile: measured["fingerprint"] for profile, measured in by_profile.items()}
        for mode, by_profile in measure(project).items()
    }
    payload = {
        "steps": STEPS,
        "seed": SEED,
        "relative_tolerance": RELATIVE_TOLERANCE,
        "recorded_with": environment(),
        "modes": fingerprints,
    }
    path = project.root / RECORD_FILE
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="action", required=True)
    commands.add_parser("record", help=f"re-record {RECORD_FILE} (review the diff, then commit)")
    show = commands.add_parser("show", help="write a checkout's configs and fingerprints as JSON")
    show.add_argument("--root", type=Path, default=Path.cwd(), help="the checkout to measure")
    show.add_argument("--out", type=Path, required=True, help="the JSON file to write")


def run(project: Project, args: argparse.Namespace) -> None:
    if args.action == "record":
        print(f"recorded every mode's behaviour in {record(project)}: review the diff, commit it")
    else:
        measured = measure(Project.find(args.root))
        args.out.write_text(json.dumps(measured, indent=2) + "\n")


def main() -> None:
    """`python -m research_rigor.behaviour`: what `affected` runs in another checkout."""
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args()
    run(Project.find(Path.cwd()), args)


if __name__ == "__main__":
    main()
