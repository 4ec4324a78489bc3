"""The verdict across datasets against an exact enumeration of the signed-rank law, and
against margins: scipy's one-sided tests and the per-dataset verdicts' precedence."""

import itertools

import numpy as np
import pytest
from scipy import stats

from research_rigor import datasets
from research_rigor.datasets import (
    MARGIN_METHOD,
    METHOD,
    ZERO_METHOD,
    AgainstMargins,
    across_datasets,
    against_margins,
    datasets_needed,
    smallest_p_value,
)
from research_rigor.equivalence import classify
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


# Margins against one-sided tests: each dataset's difference and the margin its comparison used.
MARGINS = {"digits": 0.010, "flowers": 0.020, "cifar": 0.015, "pets": 0.010, "cars": 0.030}


def scipys(values: list[float], alternative: str) -> float:
    return stats.wilcoxon(values, zero_method=ZERO_METHOD, alternative=alternative).pvalue


def test_the_margin_p_values_are_scipys_one_sided_tests_of_the_shifted_differences():
    # losses inside each margin, gains past some: shown above -margin, not inside +margin
    differences = {"digits": -0.004, "flowers": 0.025, "cifar": -0.012, "pets": 0.011}
    differences |= {"cars": -0.001}
    d, m = np.array(list(differences.values())), np.array(list(MARGINS.values()))
    combined = against_margins(differences, MARGINS)
    lower, upper = scipys(list(d + m), "greater"), scipys(list(d - m), "less")
    assert combined.p_values == pytest.approx(
        {
            "p_better": scipys(list(d), "greater"),
            "p_equivalence": max(lower, upper),
            "p_non_inferiority": lower,
            "p_worse": scipys(list(d), "less"),
        }
    )
    assert combined.p_values["p_non_inferiority"] == pytest.approx(1 / 2**5)  # all d + m > 0
    assert combined.verdict is Verdict.NON_INFERIOR
    record = combined.as_dict()
    assert record["margins"] == MARGINS and record["method"] == MARGIN_METHOD


def test_slight_losses_everywhere_are_equivalent_against_margins_not_a_regression():
    losses = {f"set{i}": -0.001 * (i + 1) for i in range(6)}
    assert across_datasets(losses).verdict is Verdict.REGRESSION
    combined = against_margins(losses, dict.fromkeys(losses, 0.01))
    assert combined.p_values["p_equivalence"] == pytest.approx(1 / 2**6)
    assert combined.verdict is Verdict.EQUIVALENT


def test_losses_past_the_margins_are_worse_and_gains_are_better():
    margins = dict.fromkeys(MARGINS, 0.01)
    worse = against_margins({name: -0.02 - 0.001 * i for i, name in enumerate(MARGINS)}, margins)
    assert worse.verdict is Verdict.WORSE and worse.p_values["p_non_inferiority"] == 1
    better = against_margins({name: 0.02 + 0.001 * i for i, name in enumerate(MARGINS)}, margins)
    assert better.verdict is Verdict.BETTER and better.p_values["p_better"] == pytest.approx(1 / 32)


def test_a_smaller_metric_is_better_flips_the_margin_claims(monkeypatch):
    monkeypatch.setattr(datasets, "GREATER_IS_BETTER", False)
    margins = dict.fromkeys(MARGINS, 0.01)
    combined = against_margins({name: 0.02 + 0.001 * i for i, name in enumerate(MARGINS)}, margins)
    assert combined.verdict is Verdict.WORSE


@pytest.mark.parametrize(
    ("shown", "interval", "verdict"),
    [
        ({"p_better", "p_equivalence", "p_non_inferiority"}, (0.001, 0.005), Verdict.BETTER),
        ({"p_equivalence", "p_non_inferiority", "p_worse"}, (-0.005, -0.001), Verdict.EQUIVALENT),
        ({"p_non_inferiority"}, (-0.005, 0.02), Verdict.NON_INFERIOR),
        ({"p_non_inferiority", "p_worse"}, None, Verdict.NON_INFERIOR),  # no interval shows it
        ({"p_worse"}, (-0.02, -0.001), Verdict.WORSE),
        (set(), (-0.02, 0.02), Verdict.INCONCLUSIVE),
    ],
)
def test_the_claims_take_the_per_dataset_verdicts_precedence(shown, interval, verdict):
    """The claims shown give the verdict that an interval showing them gives a dataset."""
    p_values = {claim: 0.01 if claim in shown else 0.5 for claim, _ in datasets.CLAIMS}
    assert AgainstMargins({}, {}, p_values, 0.05).verdict is verdict
    if interval is not None:
        assert classify(*interval, 0.01).item() == verdict.value


def test_five_datasets_reach_a_one_sided_verdict_and_four_do_not():
    assert smallest_p_value(5, one_sided=True) == pytest.approx(1 / 32)
    assert datasets_needed(0.05, one_sided=True) == 5 and datasets_needed(0.05) == 6
    gains = {name: 0.02 + 0.001 * i for i, name in enumerate(MARGINS)}
    assert against_margins(gains, MARGINS).verdict is Verdict.BETTER
    four = dict(itertools.islice(gains.items(), 4))
    with pytest.raises(ValueError, match=r"4 datasets cannot reach p < 0\.05 with the one-sided"):
        against_margins(four, MARGINS)
