"""Verdicts against a margin, checked against statsmodels' TOST and one-sided t-tests."""

import numpy as np
import pytest
from statsmodels.stats.weightstats import ttest_ind, ttost_ind, ttost_paired

from research_rigor.equivalence import MarginTest, classify, drawn, interval
from research_rigor.errors import UserError
from research_rigor.stats import Comparison, Method, Summary, Verdict, adjusted

BASELINE = (0.90, 0.91, 0.92, 0.905, 0.915)
HARMLESS = (0.91, 0.905, 0.925, 0.915, 0.92)  # +0.005 on average
HARMFUL = (0.88, 0.885, 0.875, 0.89, 0.87)  # -0.03
MARGIN = 0.01
ALPHA = 0.05
SEEDS = tuple(range(len(BASELINE)))


@pytest.mark.parametrize("experiment", [HARMLESS, HARMFUL, BASELINE[::-1]])
def test_welch_tost_and_non_inferiority_match_statsmodels(experiment):
    test = MarginTest(BASELINE, experiment, MARGIN, ALPHA)
    tost, lower, upper = ttost_ind(experiment, BASELINE, -MARGIN, MARGIN, usevar="unequal")
    _, non_inferiority, _ = ttest_ind(
        experiment, BASELINE, alternative="larger", usevar="unequal", value=-MARGIN
    )
    _, better, _ = ttest_ind(experiment, BASELINE, alternative="larger", usevar="unequal")
    p = test.p_values
    assert p["p_equivalence"] == pytest.approx(tost, rel=1e-9)
    assert p["p_non_inferiority"] == pytest.approx(lower[1], rel=1e-9)
    assert p["p_non_inferiority"] == pytest.approx(non_inferiority, rel=1e-9)
    assert p["p_better"] == pytest.approx(better, rel=1e-9)
    assert p["p_better"] + p["p_worse"] == pytest.approx(1.0)
    assert max(lower[1], upper[1]) == pytest.approx(tost)


@pytest.mark.parametrize("experiment", [HARMLESS, HARMFUL])
def test_paired_tost_matches_statsmodels(experiment):
    test = MarginTest(BASELINE, experiment, MARGIN, ALPHA, paired=True)
    tost, lower, _ = ttost_paired(np.array(experiment), np.array(BASELINE), -MARGIN, MARGIN)
    assert test.p_values["p_equivalence"] == pytest.approx(tost, rel=1e-9)
    assert test.p_values["p_non_inferiority"] == pytest.approx(lower[1], rel=1e-9)


def test_the_verdicts_read_off_the_interval_agree_with_the_p_values():
    """The (1 - 2 alpha) interval inside the margins is TOST at alpha (duality)."""
    harmless = MarginTest(BASELINE, HARMLESS, MARGIN, ALPHA)
    assert harmless.p_values["p_non_inferiority"] < ALPHA < harmless.p_values["p_equivalence"]
    assert harmless.verdict is Verdict.NON_INFERIOR
    _, low, high = harmless.bounds
    assert low > -MARGIN and high > MARGIN
    harmful = MarginTest(BASELINE, HARMFUL, MARGIN, ALPHA)
    assert harmful.p_values["p_worse"] < ALPHA and harmful.verdict is Verdict.WORSE
    # Paired, the per-seed differences are steadier than the sides: equivalence shows.
    near = (0.901, 0.909, 0.921, 0.904, 0.916)
    paired = MarginTest(BASELINE, near, MARGIN, ALPHA, paired=True)
    assert paired.p_values["p_equivalence"] < ALPHA and paired.verdict is Verdict.EQUIVALENT
    unpaired = MarginTest(BASELINE, near, MARGIN, ALPHA)
    assert unpaired.p_values["p_equivalence"] > 1000 * paired.p_values["p_equivalence"]


@pytest.mark.parametrize(
    ("low", "high", "verdict"),
    [
        (0.001, 0.02, Verdict.BETTER),
        (0.001, 0.005, Verdict.BETTER),  # a gain shown, however small
        (-0.005, 0.005, Verdict.EQUIVALENT),
        (-0.009, -0.001, Verdict.EQUIVALENT),  # a loss shown, but smaller than the margin
        (-0.005, 0.02, Verdict.NON_INFERIOR),
        (-0.03, -0.001, Verdict.WORSE),
        (-0.03, -0.02, Verdict.WORSE),
        (-0.02, 0.02, Verdict.INCONCLUSIVE),
    ],
)
def test_each_interval_gets_its_verdict(low, high, verdict):
    assert classify(low, high, MARGIN).item() == verdict.value


def test_noiseless_sides_are_decided_by_their_means():
    same = MarginTest((0.9, 0.9), (0.9, 0.9), MARGIN, ALPHA)
    assert same.verdict is Verdict.EQUIVALENT and same.p_values["p_equivalence"] == 0.0
    difference, low, high = interval([[0.9, 0.9]], [[0.95, 0.95]], 0.9)
    assert np.concatenate([difference, low, high]) == pytest.approx([0.05] * 3)


def test_a_comparison_with_a_margin_takes_its_verdict_and_records_the_tests():
    comparison = Comparison(Summary(BASELINE), Summary(HARMLESS), margin=MARGIN)
    assert comparison.verdict is Verdict.NON_INFERIOR
    record = comparison.as_dict()
    assert record["verdict"] == record["margin_verdict"] == "non-inferior"
    assert record["margin_interval_confidence"] == pytest.approx(0.9)
    assert Comparison(Summary(BASELINE), Summary(HARMFUL), margin=MARGIN).verdict.loss


def test_several_comparisons_with_a_margin_share_alpha_by_bonferroni():
    baseline = Summary(BASELINE)
    family = adjusted(
        {label: Comparison(baseline, Summary(HARMLESS), margin=MARGIN) for label in "AB"}
    )
    assert family["A"].margin_test.alpha == pytest.approx(ALPHA / 2)
    assert family["A"].as_dict()["margin_comparisons"] == 2


def test_a_margin_with_aso_or_at_zero_is_refused():
    with pytest.raises(UserError, match="drop --margin or --test aso"):
        Comparison(Summary(BASELINE), Summary(HARMLESS), method=Method.ASO, margin=MARGIN)
    with pytest.raises(UserError, match="above 0"):
        Comparison(Summary(BASELINE), Summary(HARMLESS), margin=0.0)


def test_the_drawing_marks_the_margins_zero_and_the_interval_in_order():
    line = drawn(0.005, -0.004, 0.014, MARGIN)
    axis = line.split()[1]
    assert line.startswith("-0.015 ") and line.endswith(" +0.015")
    assert axis.index("|") < axis.index("[") < axis.index(":") < axis.index("*") < axis.index("]")
    assert axis.count("|") == 2 and len(axis) == 41
    # An interval wider than the margins widens the axis to show all of it.
    assert drawn(-0.02, -0.04, 0.0, MARGIN).startswith("-0.040 [")


def test_pairing_follows_the_seeds_with_a_margin():
    shuffled = (4, 3, 2, 1, 0)
    paired = Comparison(
        Summary(BASELINE, seeds=SEEDS),
        Summary(tuple(HARMLESS[s] for s in shuffled), seeds=shuffled),
        method=Method.PAIRED,
        margin=MARGIN,
    )
    assert paired.margin_test.experiment == HARMLESS
