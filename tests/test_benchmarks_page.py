"""How `make bench` writes docs/benchmarks.md, without measuring anything (the whole
benchmark takes 20 minutes): one header for a full run's table, and a dated section of its
own for each later `--only` run, whose rows never land under the full run's header."""

import importlib.util
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

import pytest

from .conftest import TEMPLATE

BENCHMARKS = TEMPLATE / "benchmarks"
FULL_RUN = datetime(2026, 12, 1, 8, 55, tzinfo=timezone.utc)
LATER = datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc)
LATEST = datetime(2026, 12, 8, 9, 30, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    """benchmarks/run.py as a module (it imports its sibling images.py as a script does)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location("bench_run", BENCHMARKS / "run.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def result(bench: ModuleType, claim: str, value: float):
    return bench.Result(claim, "<= 1 s", [value], "s", True)


def run_of(bench: ModuleType, repeats: int):
    return bench.Bench(Path("."), repeats, loads=[("start", 0.5)])


@pytest.fixture
def full_page(bench: ModuleType) -> str:
    results = [result(bench, "startup", 0.25), result(bench, "install", 59.0)]
    return bench.page(run_of(bench, 5), results, FULL_RUN)


def measured_lines(page: str) -> list[str]:
    return [line for line in page.splitlines() if line.startswith("- Measured ")]


def test_a_full_run_writes_one_header_over_every_row(bench, full_page):
    (header,) = measured_lines(full_page)
    assert header.startswith("- Measured 2026-12-01 08:55 UTC on template commit `")
    assert header.endswith(", 5 repeats.")
    assert bench.PARTIAL_HEADING not in full_page
    assert full_page.splitlines().count(bench.TABLE_HEADER[1]) == 1  # one table


def test_an_only_run_adds_its_own_dated_section_and_leaves_the_table(bench, full_page):
    again = [result(bench, "install", 61.0)]
    page = bench.with_partial(
        full_page, bench.partial_section(run_of(bench, 1), ["install"], again, LATER)
    )
    assert page.startswith(full_page.split(bench.HOW_MEASURED)[0])  # the full run's part, as it was
    assert "| install | <= 1 s | 59.00 s | yes |  |" in page
    heading = "## Re-measured with `--only install`, 2026-12-07 10:00 UTC"
    section = page.split(heading)[1].split(bench.HOW_MEASURED)[0]
    assert "| install | <= 1 s | 61.00 s | yes |  |" in section and "startup" not in section
    assert measured_lines(section)[0].startswith("- Measured 2026-12-07 10:00 UTC")
    assert measured_lines(section)[0].endswith(", 1 repeats.")
    assert page.index(heading) < page.index(bench.HOW_MEASURED)


def test_the_same_only_replaces_its_section_and_another_adds_one(bench, full_page):
    def partial(page: str, names: list[str], value: float, when: datetime) -> str:
        results = [result(bench, name, value) for name in names]
        return bench.with_partial(
            page, bench.partial_section(run_of(bench, 1), names, results, when)
        )

    page = partial(full_page, ["install"], 61.0, LATER)
    page = partial(page, ["startup"], 0.3, LATER)
    page = partial(page, ["install"], 62.0, LATEST)
    headings = [line for line in page.splitlines() if line.startswith(bench.PARTIAL_HEADING)]
    assert headings == [
        "## Re-measured with `--only install`, 2026-12-08 09:30 UTC",  # the newest first
        "## Re-measured with `--only startup`, 2026-12-07 10:00 UTC",
    ]
    assert "61.00 s" not in page and "62.00 s" in page
    assert len(measured_lines(page)) == 3  # the full run's and one per section


def test_a_page_without_the_full_runs_table_is_refused_in_one_line(bench):
    section = bench.partial_section(run_of(bench, 1), ["install"], [], LATER)
    with pytest.raises(SystemExit, match=r"^error: the page has no .* \(`make bench`\)"):
        bench.with_partial("# Benchmarks\n", section)
