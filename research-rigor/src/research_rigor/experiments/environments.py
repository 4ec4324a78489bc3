"""Which environments the compared runs ran in, and what differs between them.

A package upgrade or another GPU can move a baseline as much as a change does
(so the baseline is re-run), so `seeds`, `compare` and `shadow` show each side's
environment digest and mark sides that ran in different environments. They mark
rather than refuse: comparing across environments can be the point (a torch
upgrade), but the reader must know the difference is not the change's alone.
"""

from collections.abc import Iterator
from typing import Any

from research_rigor.experiments.runs import Run

DIGEST_SHOWN = 12  # leading characters of an environment digest
SHOWN_DIFFERENCES = 6  # then a count of the rest
NOT_RECORDED = "not recorded"
# Sections compared key by key; the package set is compared package by package.
SECTIONS = ("python", "os", "cpu", "torch")


def shown_digest(runs: list[Run]) -> str:
    """The side's environment digests, shortened (several when its runs differ)."""
    digests = {(run.environment_digest or NOT_RECORDED)[:DIGEST_SHOWN] for run in runs}
    return ", ".join(sorted(digests))


def _flat(section: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flat(f"{section} {key}", item)
    elif isinstance(value, list):
        yield section, ", ".join(map(str, value)) or "none"
    else:
        yield section, str(value)


def differences(first: dict[str, Any], second: dict[str, Any]) -> list[str]:
    """What differs from the first environment to the second, package versions first."""
    if not first or not second:
        return [f"one side's environment was {NOT_RECORDED} (a run from before it was)"]
    found = []
    packages, other_packages = first.get("packages", {}), second.get("packages", {})
    for name in sorted(packages.keys() | other_packages.keys()):
        if packages.get(name) != other_packages.get(name):
            found.append(
                f"{name} {packages.get(name, 'absent')} vs {other_packages.get(name, 'absent')}"
            )
    for section in SECTIONS:
        values = dict(_flat(section, first.get(section)))
        other_values = dict(_flat(section, second.get(section)))
        for key in sorted(values.keys() | other_values.keys()):
            if values.get(key) != other_values.get(key):
                found.append(f"{key} {values.get(key)} vs {other_values.get(key)}")
    return found


def notes(results: dict[str, list[Run]]) -> list[str]:
    """One line when the runs ran in more than one environment: marked, not refused."""
    seen: dict[str | None, tuple[str, Run]] = {}
    for label, runs in results.items():
        for run in runs:
            seen.setdefault(run.environment_digest, (label, run))
    if len(seen) < 2:
        return []
    (first_label, first), *others = seen.values()
    parts = []
    for label, run in others:
        found = differences(first.environment, run.environment)
        more = len(found) - SHOWN_DIFFERENCES
        shown = "; ".join(found[:SHOWN_DIFFERENCES]) + (f"; and {more} more" if more > 0 else "")
        parts.append(
            f"{first_label} {shown_digest([first])} vs {label} {shown_digest([run])}: {shown}"
        )
    return [
        f"Different environments (marked, not refused): the runs ran in {len(seen)} "
        f"environments ({' | '.join(parts)}), so a difference may come from them as well as "
        "from the change; re-run the sides in one environment (README: Setup) to separate them."
    ]
