"""The statistics of a handful of seeds: mean, spread, confidence interval, Welch's t-test.

Reliable results: one run per side says nothing about the
variance of the outcome, so every side is several seeds, and a change is called
a progression or a regression only when Welch's t-test says the difference is
unlikely to be seed noise. scipy does the statistics.
"""

import math
import warnings
from dataclasses import dataclass
from enum import Enum
from functools import cached_property

import numpy as np
from scipy import stats

CONFIDENCE = 0.95  # of the intervals shown next to every mean
DEFAULT_ALPHA = 0.05  # significance level of the verdict
MIN_SEEDS = 2  # a spread needs two numbers; five make a useful t-test
GREATER_IS_BETTER = True  # the metric (metrics.METRIC_NAME) is an accuracy


class Verdict(Enum):
    PROGRESSION = "progression"
    REGRESSION = "regression"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Summary:
    """Several seeds' values of the metric."""

    values: tuple[float, ...]
    confidence: float = CONFIDENCE

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def std(self) -> float:
        """Sample standard deviation (n - 1); NaN for a single value, exactly 0 for equal ones."""
        if self.n < MIN_SEEDS:
            return math.nan
        if len(set(self.values)) == 1:  # numpy leaves ~1e-16 of rounding noise here
            return 0.0
        return float(np.std(self.values, ddof=1))

    @property
    def interval(self) -> tuple[float, float]:
        """Student-t confidence interval of the mean."""
        if self.n < MIN_SEEDS:
            return math.nan, math.nan
        if self.std == 0:
            return self.mean, self.mean
        low, high = stats.t.interval(
            self.confidence, df=self.n - 1, loc=self.mean, scale=stats.sem(self.values)
        )
        return float(low), float(high)

    def as_dict(self) -> dict:
        low, high = self.interval
        return {
            "values": list(self.values),
            "n": self.n,
            "mean": self.mean,
            "std": self.std,
            "ci_low": low,
            "ci_high": high,
            "confidence": self.confidence,
        }


@dataclass(frozen=True)
class WelchTest:
    statistic: float
    p_value: float
    low: float  # confidence interval of the difference of the means
    high: float


@dataclass(frozen=True)
class Comparison:
    """An experiment against a baseline: Welch's t-test, effect size, verdict."""

    baseline: Summary
    experiment: Summary
    alpha: float = DEFAULT_ALPHA

    @property
    def difference(self) -> float:
        """Experiment mean minus baseline mean."""
        return self.experiment.mean - self.baseline.mean

    @cached_property
    def test(self) -> WelchTest:
        """Welch's t-test (unequal variances) of experiment against baseline."""
        if self.baseline.std == 0 and self.experiment.std == 0:  # no noise: the means decide
            exact = self.difference
            return WelchTest(
                statistic=math.copysign(math.inf, exact) if exact else 0.0,
                p_value=0.0 if exact else 1.0,
                low=exact,
                high=exact,
            )
        with warnings.catch_warnings():  # a side of equal values: its std is exactly 0 here
            warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
            result = stats.ttest_ind(self.experiment.values, self.baseline.values, equal_var=False)
        interval = result.confidence_interval(self.baseline.confidence)
        return WelchTest(
            float(result.statistic), float(result.pvalue), float(interval.low), float(interval.high)
        )

    @property
    def effect_size(self) -> float:
        """Cohen's d, over the root mean square of the two standard deviations."""
        spread = math.sqrt((self.baseline.std**2 + self.experiment.std**2) / 2)
        if spread == 0:
            return math.copysign(math.inf, self.difference) if self.difference else 0.0
        return self.difference / spread

    @property
    def verdict(self) -> Verdict:
        if not self.test.p_value < self.alpha:
            return Verdict.INCONCLUSIVE
        better = self.difference > 0 if GREATER_IS_BETTER else self.difference < 0
        return Verdict.PROGRESSION if better else Verdict.REGRESSION

    def as_dict(self) -> dict:
        return {
            "difference": self.difference,
            "difference_ci_low": self.test.low,
            "difference_ci_high": self.test.high,
            "t_statistic": self.test.statistic,
            "p_value": self.test.p_value,
            "effect_size_cohens_d": self.effect_size,
            "alpha": self.alpha,
            "verdict": self.verdict.value,
        }
