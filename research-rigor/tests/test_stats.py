"""The statistics of a handful of seeds, on fixed numbers.

Every statistic is checked against a published worked example (R's classic `sleep` data,
Cohen's power tables, deepsig's README) or an independent computation (scipy against
statsmodels, a hand-written Holm), to at least four digits.
"""

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from research_rigor import stats as experiment_stats
from research_rigor.errors import UserError
from research_rigor.stats import (
    POWER,
    Comparison,
    Method,
    Summary,
    Verdict,
    adjusted,
    detectable_effect,
    probability_of_improvement,
    seeds_needed,
)

T_975_2 = 4.302652729749462  # Student's t quantile, 97.5%, 2 degrees of freedom (tables)
NOISY = (0.90, 0.95, 0.92)
BASELINE = (0.90, 0.91, 0.92, 0.905, 0.915)
BETTER = (0.95, 0.96, 0.955, 0.965, 0.95)


def test_summary_gives_mean_sample_std_and_t_interval():
    summary = Summary((0.90, 0.92, 0.94))
    assert summary.mean == pytest.approx(0.92)
    assert summary.std == pytest.approx(0.02)  # n - 1 in the denominator
    half_width = T_975_2 * 0.02 / math.sqrt(3)
    assert summary.interval == pytest.approx((0.92 - half_width, 0.92 + half_width))


def test_equal_values_have_no_spread_and_one_value_no_interval():
    assert Summary((0.95, 0.95, 0.95)).std == 0.0
    assert math.isnan(Summary((0.95,)).std) and all(map(math.isnan, Summary((0.95,)).interval))


def test_a_clear_gain_is_a_progression_and_a_clear_loss_a_regression():
    gain = Comparison(Summary(BASELINE), Summary(BETTER))
    assert gain.verdict is Verdict.PROGRESSION and gain.test.p_value < 1e-4
    assert gain.test.low > 0 and gain.effect_size > 0
    loss = Comparison(Summary(BETTER), Summary(BASELINE))
    assert loss.verdict is Verdict.REGRESSION and loss.difference < 0


def test_a_difference_within_seed_noise_is_inconclusive():
    comparison = Comparison(Summary(NOISY), Summary((0.93, 0.91, 0.94)))
    assert comparison.verdict is Verdict.INCONCLUSIVE
    assert comparison.test.low < 0 < comparison.test.high


def test_the_test_is_welchs_not_students():
    comparison = Comparison(Summary((0.93, 0.94, 0.935)), Summary((0.95, 0.96, 0.97)))
    # Welch: t = 3.873 on 2.94 degrees of freedom; Student's pooled test would give p = 0.018.
    assert comparison.test.statistic == pytest.approx(3.872983, rel=1e-6)
    assert comparison.test.p_value == pytest.approx(0.031562, rel=1e-4)


def test_the_verdict_depends_on_the_significance_level():
    baseline, experiment = Summary((0.93, 0.94, 0.935)), Summary((0.95, 0.96, 0.97))
    assert Comparison(baseline, experiment, alpha=0.05).verdict is Verdict.PROGRESSION
    assert Comparison(baseline, experiment, alpha=0.01).verdict is Verdict.INCONCLUSIVE


def test_cohens_d_divides_by_the_root_mean_square_of_the_stds():
    comparison = Comparison(Summary((0.93, 0.94, 0.935)), Summary((0.95, 0.96, 0.97)))
    assert comparison.effect_size == pytest.approx(0.025 / math.sqrt((0.005**2 + 0.01**2) / 2))


def test_noiseless_sides_are_decided_by_their_means():
    same = Comparison(Summary((0.95, 0.95)), Summary((0.95, 0.95)))
    assert same.verdict is Verdict.INCONCLUSIVE and same.test.p_value == 1.0
    worse = Comparison(Summary((0.95, 0.95)), Summary((0.94, 0.94)))
    assert worse.verdict is Verdict.REGRESSION


# Student's sleep data (Cushny and Peebles 1905), R's `sleep`: extra hours of sleep of ten
# patients under two drugs. R 4.x: t.test(extra ~ group, data = sleep) and with paired = TRUE.
SLEEP_DRUG_1 = (0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0)
SLEEP_DRUG_2 = (1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4)
SLEEP_SEEDS = tuple(range(10))  # the patients: each is measured under both drugs


def sleep(method: Method) -> Comparison:
    return Comparison(
        Summary(SLEEP_DRUG_1, seeds=SLEEP_SEEDS),
        Summary(SLEEP_DRUG_2, seeds=SLEEP_SEEDS),
        0.05,
        method,
    )


def test_welchs_test_matches_rs_worked_example():
    test = sleep(Method.WELCH).test  # R: t = -1.8608, df = 17.776, p-value = 0.07939
    assert test.statistic == pytest.approx(1.860813, abs=1e-5)
    assert test.p_value == pytest.approx(0.07939414, abs=1e-6)
    assert (test.low, test.high) == pytest.approx((-0.2054832, 3.3654832), abs=1e-6)


def test_the_paired_test_matches_rs_worked_example_and_gains_power():
    paired = sleep(Method.PAIRED)  # R: t = -4.0621, df = 9, p-value = 0.002833
    assert paired.test.statistic == pytest.approx(4.062128, abs=1e-5)
    assert paired.test.p_value == pytest.approx(0.002832890, abs=1e-7)
    assert (paired.test.low, paired.test.high) == pytest.approx((0.7001142, 2.4598858), abs=1e-6)
    differences = np.subtract(SLEEP_DRUG_2, SLEEP_DRUG_1)  # the same test by hand
    by_hand = differences.mean() / (differences.std(ddof=1) / math.sqrt(len(differences)))
    assert paired.test.statistic == pytest.approx(by_hand, rel=1e-9)
    assert paired.correlation == pytest.approx(np.corrcoef(SLEEP_DRUG_1, SLEEP_DRUG_2)[0, 1])
    assert paired.correlation > 0.5 and paired.verdict is Verdict.PROGRESSION
    # Correlated sides: pairing halves the detectable effect, and Welch cannot decide here.
    assert paired.detectable_effect < sleep(Method.WELCH).detectable_effect / 2
    assert sleep(Method.WELCH).verdict is Verdict.INCONCLUSIVE


def test_pairing_follows_the_seeds_not_the_order_of_the_runs():
    shuffled = (3, 0, 2, 1)
    baseline = Summary((0.90, 0.91, 0.92, 0.93), seeds=(0, 1, 2, 3))
    experiment = Summary(
        tuple(0.91 + 0.01 * seed + 0.001 * (seed % 2) for seed in shuffled), seeds=shuffled
    )
    paired = Comparison(baseline, experiment, method=Method.PAIRED)
    assert paired.pairs[1] == pytest.approx([0.91, 0.921, 0.93, 0.941])
    assert paired.verdict is Verdict.PROGRESSION


def power_by_scipy(d: float, n_baseline: int, n_experiment: int, alpha: float) -> float:
    """Two-sided power of Student's test from the noncentral t: independent of statsmodels."""
    df = n_baseline + n_experiment - 2
    shift = d * math.sqrt(n_baseline * n_experiment / (n_baseline + n_experiment))
    critical = stats.t.ppf(1 - alpha / 2, df)
    return stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift)


def paired_power_by_scipy(d: float, n: int, alpha: float) -> float:
    critical = stats.t.ppf(1 - alpha / 2, n - 1)
    return stats.nct.sf(critical, n - 1, d * math.sqrt(n)) + stats.nct.cdf(
        -critical, n - 1, d * math.sqrt(n)
    )


def test_seeds_needed_match_cohens_power_tables():
    # Cohen (1988), table 2.4.1: d = 0.5, two-sided alpha 0.05, power 0.8: 64 per group;
    # paired (one-sample) test of d = 0.5: 34 pairs (G*Power gives the same).
    assert seeds_needed(0.5, 1.0, 0.05) == 64
    assert seeds_needed(0.8, 1.0, 0.05) == 26
    assert seeds_needed(0.5, 1.0, 0.05, paired=True) == 34
    assert seeds_needed(-0.005, 0.01, 0.05) == 64  # a loss needs as many seeds as a gain


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_the_mde_has_80_percent_power_by_an_independent_computation(n):
    std = 0.01
    d = detectable_effect(std, n, n, 0.05) / std
    assert power_by_scipy(d, n, n, 0.05) == pytest.approx(POWER, abs=1e-4)
    paired_d = detectable_effect(std, n, n, 0.05, paired=True) / std
    assert paired_power_by_scipy(paired_d, n, 0.05) == pytest.approx(POWER, abs=1e-4)
    # The MDE of n seeds is what n seeds detect: the two computations agree.
    assert seeds_needed(d * std * (1 + 1e-4), std, 0.05) == n
    assert seeds_needed(paired_d * std * (1 + 1e-4), std, 0.05, paired=True) == n


def test_a_comparisons_mde_uses_the_root_mean_square_of_both_spreads():
    comparison = Comparison(Summary(NOISY), Summary((0.93, 0.91, 0.94)))
    rms = math.sqrt((Summary(NOISY).std ** 2 + Summary((0.93, 0.91, 0.94)).std ** 2) / 2)
    assert comparison.detectable_effect == pytest.approx(detectable_effect(rms, 3, 3, 0.05))
    assert comparison.seeds_for(comparison.detectable_effect * (1 + 1e-4)) == 3


def test_the_mde_shrinks_with_seeds_and_grows_with_the_spread():
    noisy, calm = Summary(NOISY), Summary((0.92, 0.921, 0.922))
    assert calm.detectable_effect() < noisy.detectable_effect()
    more = Summary(NOISY * 3)
    assert more.detectable_effect() < noisy.detectable_effect()
    assert Summary((0.95, 0.95)).detectable_effect() == 0  # no seed noise: any Δ shows


def holm_by_hand(p_values: list[float]) -> list[float]:
    """Holm (1979) step-down: the i-th smallest of m p-values times (m - i), made monotone."""
    order = sorted(range(len(p_values)), key=p_values.__getitem__)
    adjusted_p, running = [0.0] * len(p_values), 0.0
    for rank, index in enumerate(order):
        running = max(running, (len(p_values) - rank) * p_values[index])
        adjusted_p[index] = min(1.0, running)
    return adjusted_p


def test_holm_adjusts_several_comparisons_and_the_verdicts_use_it():
    baseline = Summary((0.93, 0.94, 0.935))
    comparisons = {
        "A": Comparison(baseline, Summary((0.95, 0.96, 0.97))),  # p = 0.0316 alone
        "B": Comparison(baseline, Summary((0.94, 0.95, 0.96))),
        "A+B": Comparison(baseline, Summary(BETTER)),
    }
    raw = [comparison.test.p_value for comparison in comparisons.values()]
    holm = adjusted(comparisons)
    assert [c.adjusted_p for c in holm.values()] == pytest.approx(holm_by_hand(raw), rel=1e-9)
    assert holm_by_hand([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])  # R p.adjust
    assert comparisons["A"].verdict is Verdict.PROGRESSION
    assert holm["A"].verdict is Verdict.INCONCLUSIVE  # 3 x 0.0316 > alpha
    assert holm["A"].as_dict()["p_value_adjusted"] == holm["A"].adjusted_p
    assert holm["A"].as_dict()["adjustment"] == "holm"
    assert adjusted({"experiment": comparisons["A"]})["experiment"].adjusted_p is None


def test_probability_of_improvement_is_mann_whitneys_u_over_all_pairs():
    experiment, baseline = (0.93, 0.91, 0.94, 0.92), (0.90, 0.95, 0.92)
    comparison = Comparison(Summary(baseline), Summary(experiment))
    chance, low, high = comparison.improvement
    u = stats.mannwhitneyu(experiment, baseline).statistic  # ties count one half
    assert chance == pytest.approx(u / (len(experiment) * len(baseline)), rel=1e-12)
    assert low <= chance <= high
    assert Comparison(Summary(BASELINE), Summary(BETTER)).improvement == (1.0, 1.0, 1.0)


def test_probability_of_improvements_interval_is_the_exact_bootstraps_within_resampling_error():
    experiment, baseline = (0.93, 0.91, 0.94), (0.90, 0.95, 0.92)
    resamples = [
        probability_of_improvement(np.take(experiment, e), np.take(baseline, b))
        for e in itertools.product(range(3), repeat=3)
        for b in itertools.product(range(3), repeat=3)
    ]  # all 27 x 27 equally likely resamples: the exact bootstrap distribution
    _, low, high = Comparison(Summary(baseline), Summary(experiment)).improvement
    assert (low, high) == pytest.approx(np.percentile(resamples, [2.5, 97.5]), abs=1 / 18)


def test_aso_matches_deepsigs_worked_example(monkeypatch):
    # deepsig's README: N(0.9, 0.8) against N(0, 1), five seeds, seed 1234: "min_eps = 0.225".
    # np.random.seed(1234); np.random.normal(0.9, 0.8, 5), np.random.normal(0, 1, 5):
    better = (1.277148, -0.052781, 2.046166, 0.649878, 0.323529)
    baseline = (0.887163, 0.859588, -0.636524, 0.015696, -2.242685)
    monkeypatch.setattr(experiment_stats, "ASO_SEED", 1234)
    comparison = Comparison(Summary(baseline), Summary(better), method=Method.ASO)
    ahead, behind = comparison.aso
    assert ahead == pytest.approx(0.225, abs=5e-4) and behind > 0.5
    # Below 0.5 but not below 0.2, the threshold deepsig's authors advise: inconclusive.
    assert comparison.verdict is Verdict.INCONCLUSIVE


def test_aso_calls_clearly_separated_sides_in_both_directions(monkeypatch):
    monkeypatch.setattr(experiment_stats, "ASO_BOOTSTRAP", 20)  # every resample agrees here
    gain = Comparison(Summary(BASELINE), Summary(BETTER), method=Method.ASO)
    assert gain.aso[0] == 0 and gain.verdict is Verdict.PROGRESSION
    loss = Comparison(Summary(BETTER), Summary(BASELINE), method=Method.ASO)
    assert loss.aso[1] == 0 and loss.verdict is Verdict.REGRESSION
    assert loss.as_dict()["aso_eps_min_reverse"] == 0


def test_aso_in_shadow_is_bonferroni_corrected_over_the_three_comparisons(monkeypatch):
    import deepsig

    levels = []

    def recording(*args, **options):
        levels.append(options["confidence_level"])
        return real(*args, **options)

    real = deepsig.aso
    monkeypatch.setattr(deepsig, "aso", recording)
    monkeypatch.setattr(experiment_stats, "ASO_BOOTSTRAP", 20)
    baseline = Summary(BASELINE)
    family = adjusted(
        {
            label: Comparison(baseline, Summary(BETTER), method=Method.ASO)
            for label in ("A", "B", "A+B")
        }
    )
    assert family["A+B"].verdict is Verdict.PROGRESSION
    assert levels == pytest.approx([1 - 0.05 / 3] * 2)


def test_a_side_of_one_seed_is_refused_in_one_line():
    with pytest.raises(UserError, match=r"the experiment has 1 run.*at least 2 seeds"):
        Comparison(Summary(BASELINE), Summary((0.95,)))


def test_pairing_sides_of_different_seeds_is_refused():
    with pytest.raises(UserError, match=r"seeds differ \(baseline: 0, 1, 2; experiment: 0, 1, 3\)"):
        Comparison(
            Summary(NOISY, seeds=(0, 1, 2)), Summary(NOISY, seeds=(0, 1, 3)), method=Method.PAIRED
        )


def test_an_effect_of_zero_is_refused():
    with pytest.raises(UserError, match="an effect of 0 cannot be detected"):
        seeds_needed(0.0, 0.01, 0.05)
