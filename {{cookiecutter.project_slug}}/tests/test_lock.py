"""requirements.lock matches pyproject.toml's dependencies: a stale lock fails here, naming the
command that refreshes it (research-rigor's check, which CI also runs before installing)."""

from research_rigor import lock

from .conftest import ROOT


def test_the_lock_matches_pyproject():
    lock.check(ROOT)
