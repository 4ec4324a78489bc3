"""Which environments the compared runs ran in, and what differs between them.

A package upgrade or another GPU can move a baseline as much as a change does
(so the baseline is re-run), so `seeds`, `compare` and `shadow` show each side's
environment digest and mark sides that ran in different environments. They mark
rather than refuse: comparing across environments can be the point (a torch
upgrade), but the reader must know the difference is not the change's alone.

A run on the CPU build of torch and one on PyPI's CUDA build (Linux's default) differ first
in the torch stack (`torch cuda None vs 13.0`), which the note names first; the twenty-odd
packages of NVIDIA's runtime that the CUDA build brings count as one difference, so they do
not fill the few differences a note shows.
"""

import re
from collections.abc import Iterator
from typing import Any

from research_rigor.experiments.runs import Run

DIGEST_SHOWN = 12  # leading characters of an environment digest
SHOWN_DIFFERENCES = 6  # then a count of the rest
NOT_RECORDED = "not recorded"
# Sections compared key by key: the torch stack (CPU or CUDA build, GPUs) first, then the
# package set, package by package, then the others.
TORCH_STACK = "torch"
SECTIONS = ("python", "os", "cpu")
# The packages of the CUDA runtime that torch's CUDA wheels install from PyPI (nvidia-cublas,
# cuda-toolkit, triton...): counted as one difference.
CUDA_RUNTIME = re.compile(r"(nvidia|cuda)-.+|triton")
RUNTIME_DIFFER = "CUDA runtime packages (nvidia-*, cuda-*, triton) differ"


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


def _section_differences(section: str, first: dict[str, Any], second: dict[str, Any]) -> list[str]:
    values = dict(_flat(section, first.get(section)))
    other_values = dict(_flat(section, second.get(section)))
    return [
        f"{key} {values.get(key)} vs {other_values.get(key)}"
        for key in sorted(values.keys() | other_values.keys())
        if values.get(key) != other_values.get(key)
    ]


def _package_differences(first: dict[str, Any], second: dict[str, Any]) -> list[str]:
    """Package by package, the CUDA runtime's packages counted as one."""
    packages, other_packages = first.get("packages", {}), second.get("packages", {})
    changed = [
        name
        for name in sorted(packages.keys() | other_packages.keys())
        if packages.get(name) != other_packages.get(name)
    ]
    runtime = [name for name in changed if CUDA_RUNTIME.fullmatch(name)]
    found = [f"{len(runtime)} {RUNTIME_DIFFER}"] if runtime else []
    return found + [
        f"{name} {packages.get(name, 'absent')} vs {other_packages.get(name, 'absent')}"
        for name in changed
        if name not in runtime
    ]


def differences(first: dict[str, Any], second: dict[str, Any]) -> list[str]:
    """What differs from the first environment to the second: the torch stack, the packages,
    then Python, OS and CPU."""
    if not first or not second:
        return [f"one side's environment was {NOT_RECORDED} (a run from before it was)"]
    found = _section_differences(TORCH_STACK, first, second) + _package_differences(first, second)
    for section in SECTIONS:
        found += _section_differences(section, first, second)
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
