"""The verdict across datasets against an exact enumeration of the signed-rank law."""

import itertools

import numpy as np
import pytest

from research_rigor.datasets import METHOD, across_datasets, smallest_p_value
from research_rigor.verdicts import Verdict

# Seven datasets' differences of accuracy: one loss, no ties.
DIFFERENCES = {
    "digits": 0.010,
    "flowers": 0.020,
    "cifar": -0.005,
    "pets": 0.015,
    "cars": 0.030,
    "birds": 0.004,
    "food": 0.012,
}


def exact_p_value(differences: list[float]) -> float:
    """Two-sided p of the sum of positive ranks, over all 2^n equally likely signs."""
    ranks = np.argsort(np.argsort(np.abs(differences))) + 1  # no ties here
    observed = ranks[np.array(differences) > 0].sum()
    sums = np.array(
        [ranks[list(signs)].sum() for signs in itertools.product([True, False], repeat=len(ranks))]
    )
    return min(1.0, 2 * min(np.mean(sums <= observed), np.mean(sums >= observed)))


def test_the_p_value_is_the_exact_signed_rank_laws():
    combined = across_datasets(DIFFERENCES)
    assert combined.p_value == pytest.approx(exact_p_value(list(DIFFERENCES.values())))
    assert combined.p_value == pytest.approx(6 / 128)  # T = 2: rank sums 0, 1, 2 either side
    assert combined.verdict is Verdict.PROGRESSION
    assert combined.as_dict()["method"] == METHOD


def test_one_large_gain_does_not_outweigh_losses_elsewhere():
    """The mean difference is positive, but most datasets lose: no progression."""
    lopsided = {f"d{i}": -0.002 - 0.001 * i for i in range(6)} | {"big": 0.2}
    assert np.mean(list(lopsided.values())) > 0
    combined = across_datasets(lopsided)
    assert combined.p_value == pytest.approx(exact_p_value(list(lopsided.values())))
    assert combined.verdict is Verdict.INCONCLUSIVE


def test_losses_everywhere_are_a_regression():
    combined = across_datasets({name: -abs(v) for name, v in DIFFERENCES.items()})
    assert combined.verdict is Verdict.REGRESSION and combined.p_value == pytest.approx(2 / 128)


def test_too_few_datasets_to_ever_reach_alpha_are_refused():
    assert smallest_p_value(5) == pytest.approx(0.0625)
    with pytest.raises(ValueError, match=r"5 datasets cannot reach p < 0\.05"):
        across_datasets(dict(itertools.islice(DIFFERENCES.items(), 5)))
