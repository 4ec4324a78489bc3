"""The corrected resampled t-test: an independent computation, and the naive test's error."""

import statistics

import numpy as np
import pytest
from scipy import stats
from sklearn.model_selection import StratifiedKFold

from research_rigor.resampling import corrected_resampled_ttest, kfold_test_to_train

# Ten folds' differences of accuracy, experiment - baseline, on the same folds.
DIFFERENCES = (0.009, 0.017, -0.007, 0.013, 0.007, 0.005, 0.011, -0.001, 0.015, 0.003)
FOLDS = 10
ALPHA = 0.05
SIMULATIONS = 4000
SAMPLES = 100  # per simulated dataset
SPLITS = 15  # random train/test splits of each
TEST_SAMPLES = 20  # 80/20 splits


def test_matches_nadeau_and_bengios_formula_computed_by_hand():
    j = len(DIFFERENCES)
    mean, variance = statistics.mean(DIFFERENCES), statistics.variance(DIFFERENCES)
    statistic = mean / ((1 / j + 1 / (FOLDS - 1)) * variance) ** 0.5
    test = corrected_resampled_ttest(DIFFERENCES, kfold_test_to_train(FOLDS))
    assert test.statistic == pytest.approx(statistic, rel=1e-12)
    assert test.p_value == pytest.approx(2 * stats.t.sf(statistic, j - 1), rel=1e-12)
    half = stats.t.ppf(0.975, j - 1) * mean / statistic
    assert (test.low, test.high) == pytest.approx((mean - half, mean + half), rel=1e-12)


def test_without_the_correction_it_is_scipys_one_sample_t_test():
    naive = corrected_resampled_ttest(DIFFERENCES, 0.0)
    reference = stats.ttest_1samp(DIFFERENCES, 0.0)
    interval = reference.confidence_interval(0.95)
    assert naive.statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert naive.p_value == pytest.approx(reference.pvalue, rel=1e-12)
    assert (naive.low, naive.high) == pytest.approx((interval.low, interval.high), rel=1e-12)
    # The correction widens the interval: here, significant naively, not corrected.
    corrected = corrected_resampled_ttest(DIFFERENCES, kfold_test_to_train(FOLDS))
    assert naive.p_value < ALPHA < corrected.p_value


def least_squares_error(x, y, train, test) -> np.ndarray:
    """Test MSE of y ~ w x fitted on the training samples, one per simulated dataset."""
    pick = np.take_along_axis
    x_train, y_train = pick(x, train, 1), pick(y, train, 1)
    slope = (x_train * y_train).sum(1, keepdims=True) / (x_train**2).sum(1, keepdims=True)
    return ((pick(y, test, 1) - slope * pick(x, test, 1)) ** 2).mean(1)


def test_the_naive_test_over_resampled_splits_is_anti_conservative_the_corrected_one_is_not():
    """Two models equally good by symmetry (each sees one of two equal features), compared
    over the same random splits of each dataset: a null comparison, thousands of times."""
    rng = np.random.default_rng(0)
    first, second = rng.normal(size=(2, SIMULATIONS, SAMPLES))
    y = first + second + rng.normal(size=(SIMULATIONS, SAMPLES))
    differences = np.empty((SIMULATIONS, SPLITS))
    for split in range(SPLITS):
        order = np.argsort(rng.random((SIMULATIONS, SAMPLES)), axis=1)
        test, train = order[:, :TEST_SAMPLES], order[:, TEST_SAMPLES:]
        differences[:, split] = least_squares_error(first, y, train, test) - least_squares_error(
            second, y, train, test
        )
    ratio = TEST_SAMPLES / (SAMPLES - TEST_SAMPLES)
    corrected = [corrected_resampled_ttest(d, ratio).p_value for d in differences]
    naive = stats.ttest_1samp(differences, 0.0, axis=1).pvalue

    def interval(p_values) -> tuple[float, float]:
        hits = int(np.sum(np.asarray(p_values) < ALPHA))
        found = stats.binomtest(hits, SIMULATIONS).proportion_ci(0.999, method="exact")
        return found.low, found.high

    assert interval(naive)[0] > 5 * ALPHA  # measured 0.35
    low, high = interval(corrected)  # measured 0.0525
    assert low <= ALPHA <= high


def scikit_learns_corrected_ttest(differences, n_train: int, n_test: int) -> tuple[float, float]:
    """The statistic and two-sided p-value as scikit-learn's documented example computes them
    ("Statistical comparison of models using grid search": `corrected_std`,
    `compute_corrected_ttest`), from the sizes of the splits rather than a ratio."""
    kr = len(differences)
    corrected_var = np.var(differences, ddof=1) * (1 / kr + n_test / n_train)
    t_stat = np.mean(differences) / np.sqrt(corrected_var)
    return float(t_stat), float(2 * stats.t.sf(np.abs(t_stat), kr - 1))


def test_k_fold_matches_scikit_learns_documented_computation_on_the_folds_sizes():
    """Three stratified folds of 1,797 samples (the digits' size and classes): 599 tested,
    1,198 trained on, so the ratio from the sizes is kfold_test_to_train(3)."""
    labels = np.arange(1797) % 10
    sizes = {
        (len(train), len(test))
        for train, test in StratifiedKFold(3, shuffle=True, random_state=0).split(labels, labels)
    }
    assert sizes == {(1198, 599)}
    differences = DIFFERENCES[:3]
    statistic, p_value = scikit_learns_corrected_ttest(differences, 1198, 599)
    test = corrected_resampled_ttest(differences, kfold_test_to_train(3))
    assert (test.statistic, test.p_value) == pytest.approx((statistic, p_value), rel=1e-12)
