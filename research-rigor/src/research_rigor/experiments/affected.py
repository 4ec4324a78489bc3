"""Which modes a change moves, in config or in behaviour: the ones to re-run before merging.

A change meant for one backbone can move others through shared code. Each side's modes
are measured by the same instrument, research-rigor's `behaviour` module: every mode and
profile's resolved config, and the fingerprint of its first seeded optimizer steps. A mode
whose config or fingerprint differs between the sides is affected, and its numbers from
before the change no longer describe it.
"""

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from research_rigor import behaviour
from research_rigor.errors import UserError
from research_rigor.experiments.checkouts import Checkouts
from research_rigor.experiments.output import Table
from research_rigor.experiments.runs import Run, Variant, python_in

SHOWN_KEYS = 3  # changed config keys listed per row, then a count
SHOWN_ERROR_LINES = 5


@dataclass(frozen=True)
class ModeChange:
    """One mode and profile, compared across the two sides."""

    mode: str
    profile: str
    config_changed: bool
    config_keys: tuple[str, ...]  # the dotted keys whose values differ
    behaviour_moved: bool
    behaviour_change: str  # what moved most, or why it could not be compared

    @property
    def affected(self) -> bool:
        return self.config_changed or self.behaviour_moved


def measure(code_dir: Path) -> dict[str, Any]:
    """Every mode's config and fingerprint for the code in `code_dir`."""
    with tempfile.TemporaryDirectory(prefix="affected-") as scratch:
        out = Path(scratch) / "measured.json"
        done = python_in(
            code_dir,
            "-m",
            behaviour.__name__,
            "show",
            "--root",
            str(code_dir),
            "--out",
            str(out),
        )
        if done.returncode != 0:
            shown = "\n".join(done.stderr.strip().splitlines()[-SHOWN_ERROR_LINES:])
            raise UserError(f"could not measure the modes of {code_dir}:\n{shown}")
        return json.loads(out.read_text())


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """{"model.optimizer.lr": 0.003, ...}: a nested config as dotted keys."""
    if not isinstance(config, dict):
        return {prefix: config}
    flat: dict[str, Any] = {}
    for key, value in config.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def compare_one(mode: str, profile: str, before: Any, after: Any) -> ModeChange:
    if before is None or after is None:
        gone = "not on the other side" if after is None else "new on this side"
        return ModeChange(mode, profile, True, (), True, gone)
    old, new = flatten(before["config"]), flatten(after["config"])
    keys = tuple(sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key)))
    recorded = behaviour.Fingerprint.from_dict(before["fingerprint"])
    now = behaviour.Fingerprint.from_dict(after["fingerprint"])
    moved = recorded.moved(now)
    return ModeChange(
        mode, profile, bool(keys), keys, moved, recorded.describe_change(now) if moved else ""
    )


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[ModeChange]:
    """Every mode and profile of either side, compared."""
    return [
        compare_one(
            mode,
            profile,
            before.get(mode, {}).get(profile),
            after.get(mode, {}).get(profile),
        )
        for mode in sorted(before.keys() | after.keys())
        for profile in sorted(before.get(mode, {}).keys() | after.get(mode, {}).keys())
    ]


def rerun(changes: list[ModeChange]) -> list[str]:
    """The modes whose config or behaviour moved."""
    return sorted({change.mode for change in changes if change.affected})


def table(changes: list[ModeChange], title: str) -> Table:
    def config(change: ModeChange) -> str:
        if not change.config_changed:
            return "same"
        keys = change.config_keys
        more = f" and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else ""
        return ", ".join(keys[:SHOWN_KEYS]) + more if keys else "changed"

    modes = rerun(changes)
    notes = [
        f"behaviour: {behaviour.STEPS} seeded optimizer steps on fixed batches, compared at a "
        f"relative tolerance of {behaviour.RELATIVE_TOLERANCE:g}, as the test suite does.",
        f"re-run before merging: {', '.join(modes)}"
        if modes
        else "no mode moved: earlier numbers of every mode still describe this code.",
    ]
    rows = [
        [
            change.mode,
            change.profile,
            config(change),
            f"moved: {change.behaviour_change}" if change.behaviour_moved else "same",
        ]
        for change in changes
    ]
    return Table(title, ["mode", "profile", "config", "behaviour"], rows, notes, wraps="behaviour")


def between(checkouts: Checkouts, against: str, ref: str | None) -> list[ModeChange]:
    """`ref`'s modes (None: the working tree) compared with `against`'s."""
    return diff(measure(checkouts.path(against)), measure(checkouts.path(ref)))


def as_dict(changes: list[ModeChange]) -> dict[str, Any]:
    return {"modes": [asdict(change) for change in changes], "rerun": rerun(changes)}


def untrained_moves(
    checkouts: Checkouts, variants: list[Variant], results: dict[str, list[Run]]
) -> list[str]:
    """One note per variant whose code moves modes that the comparison did not train.

    Overrides apply to the trained runs only; code is what can move the other modes."""
    measured: dict[Path, dict[str, Any]] = {}

    def measured_at(ref: str | None) -> dict[str, Any]:
        path = checkouts.path(ref)
        if path not in measured:
            measured[path] = measure(path)
        return measured[path]

    baseline, *others = variants
    notes = []
    for variant in others:
        if checkouts.path(variant.ref) == checkouts.path(baseline.ref):
            continue
        try:
            moved = set(rerun(diff(measured_at(baseline.ref), measured_at(variant.ref))))
        except UserError as error:  # the comparison itself stands: say so, keep its results
            first_line = str(error).splitlines()[0]
            notes.append(f"{first_line} Which modes {variant.label} moves is unknown.")
            continue
        trained = {run.provenance["mode"] for run in results[variant.label]}
        if untrained := sorted(moved - trained):
            notes.append(
                f"{variant.label}'s code also moves {', '.join(untrained)}, which this "
                f"comparison did not train: compare {', '.join(untrained)} too "
                "(`--common mode=<name>`) before merging."
            )
    return notes
