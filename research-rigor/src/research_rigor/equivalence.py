"""No regression, declared: one-sided t-tests of a difference against a margin.

"No significant difference" is no evidence of no regression: with few seeds a real
loss passes as seed noise. A margin, the largest loss the researcher tolerates, makes
"no regression" a claim that data can support (Schuirmann 1987; Lakens 2017):

- better: the gain is shown above 0;
- equivalent: the difference is shown inside ±margin (two one-sided tests, TOST);
- non-inferior: the loss, if any, is shown smaller than the margin;
- worse: the loss is shown above 0, and not shown smaller than the margin;
- inconclusive: none of these.

Each claim is a one-sided t-test at alpha (Welch's, or the paired one), so all of them
read off one interval: the two-sided (1 - 2 alpha) interval of the difference, whose
bounds are the one-sided alpha bounds. The functions take numpy arrays and work over
their leading axes, so that simulations run thousands of comparisons at once.
"""

import math
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from research_rigor.verdicts import GREATER_IS_BETTER, Verdict

DRAWING_WIDTH = 41  # characters of the axis the interval is drawn on; odd, so 0 has a middle
AXIS_REACH = 1.5  # the axis spans at least ±1.5 margins, so both margins show with room
LEGEND = "Drawn: '|' at ±margin, ':' at 0, '[=*=]' the interval and the difference."


def interval(
    baseline: ArrayLike, experiment: ArrayLike, confidence: float, paired: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Experiment mean - baseline mean and its two-sided t interval, over the last axis.

    Sides without seed noise (all values equal, or all per-seed differences when
    `paired`) give an interval of the difference itself, where the t-test is undefined.
    """
    baseline, experiment = np.asarray(baseline, float), np.asarray(experiment, float)
    with warnings.catch_warnings():  # noiseless sides: handled below
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        if paired:
            result = stats.ttest_rel(experiment, baseline, axis=-1)
            noiseless = np.ptp(experiment - baseline, axis=-1) == 0
        else:
            result = stats.ttest_ind(experiment, baseline, axis=-1, equal_var=False)
            noiseless = (np.ptp(experiment, axis=-1) == 0) & (np.ptp(baseline, axis=-1) == 0)
        bounds = result.confidence_interval(confidence)
    difference = experiment.mean(axis=-1) - baseline.mean(axis=-1)
    low = np.where(noiseless, difference, bounds.low)
    high = np.where(noiseless, difference, bounds.high)
    return difference, low, high


def classify(low: ArrayLike, high: ArrayLike, margin: float | None) -> np.ndarray:
    """The verdicts (their string values) of intervals of experiment - baseline.

    Each bound is a one-sided bound at the level the caller chose. Without a margin
    the interval is two-sided: a progression or a regression when it excludes 0.
    """
    low, high = np.asarray(low), np.asarray(high)
    gain_low, gain_high = (low, high) if GREATER_IS_BETTER else (-high, -low)
    if margin is None:
        conditions = [gain_low > 0, gain_high < 0]
        verdicts = [Verdict.PROGRESSION, Verdict.REGRESSION]
    else:
        conditions = [
            gain_low > 0,
            (gain_low > -margin) & (gain_high < margin),
            gain_low > -margin,
            gain_high < 0,
        ]
        verdicts = [Verdict.BETTER, Verdict.EQUIVALENT, Verdict.NON_INFERIOR, Verdict.WORSE]
    return np.select(
        conditions, [v.value for v in verdicts], default=Verdict.INCONCLUSIVE.value
    ).astype(object)


def one_sided_p(
    baseline: ArrayLike, experiment: ArrayLike, null: float, larger: bool, paired: bool
) -> float:
    """p-value of H0: difference <= null (larger) or >= null (not larger), one-sided t-test.

    scipy's t-tests take no null value: shifting the experiment by it leaves the spread,
    and so the test, as it is.
    """
    baseline, experiment = np.asarray(baseline, float), np.asarray(experiment, float)
    shifted = experiment - null
    alternative = "greater" if larger else "less"
    difference = shifted.mean() - baseline.mean()
    if paired:
        noiseless = np.ptp(shifted - baseline) == 0
    else:
        noiseless = np.ptp(shifted) == 0 and np.ptp(baseline) == 0
    if noiseless:  # the difference is exact: the claim holds or it does not
        return 0.0 if (difference > 0 if larger else difference < 0) else 1.0
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
        if paired:
            result = stats.ttest_rel(shifted, baseline, alternative=alternative)
        else:
            result = stats.ttest_ind(shifted, baseline, equal_var=False, alternative=alternative)
    return float(result.pvalue)


@dataclass(frozen=True)
class MarginTest:
    """An experiment against a baseline and a declared margin: TOST and its one-sided tests."""

    baseline: tuple[float, ...]  # in the seeds' order when paired
    experiment: tuple[float, ...]
    margin: float
    alpha: float  # of each one-sided test
    paired: bool = False

    def __post_init__(self) -> None:
        if not self.margin > 0:
            raise ValueError(f"a margin is a tolerated loss, above 0 (got {self.margin})")

    @property
    def bounds(self) -> tuple[float, float, float]:
        """The difference and its (1 - 2 alpha) interval."""
        found = interval(self.baseline, self.experiment, 1 - 2 * self.alpha, self.paired)
        return tuple(float(value) for value in found)

    def p(self, null: float, larger: bool) -> float:
        """One-sided p-value of "the difference is above `null`" (below, when not `larger`)."""
        return one_sided_p(self.baseline, self.experiment, null, larger, self.paired)

    @property
    def p_values(self) -> dict[str, float]:
        """The one-sided tests behind the verdict, each against its own null hypothesis."""
        sign = 1 if GREATER_IS_BETTER else -1
        ahead = GREATER_IS_BETTER  # a gain is a larger difference
        lower = self.p(-sign * self.margin, larger=ahead)  # H0: loss >= margin
        upper = self.p(sign * self.margin, larger=not ahead)  # H0: gain >= margin
        return {
            "p_non_inferiority": lower,
            "p_equivalence": max(lower, upper),  # TOST: both nulls rejected
            "p_better": self.p(0.0, larger=ahead),  # H0: gain <= 0
            "p_worse": self.p(0.0, larger=not ahead),  # H0: loss <= 0
        }

    @property
    def verdict(self) -> Verdict:
        _, low, high = self.bounds
        return Verdict(classify(low, high, self.margin).item())

    def drawn(self) -> str:
        """The interval against the margins, in text."""
        difference, low, high = self.bounds
        return drawn(difference, low, high, self.margin)

    def as_dict(self) -> dict:
        _, low, high = self.bounds
        return {
            "margin": self.margin,
            "margin_alpha": self.alpha,
            "margin_interval_confidence": 1 - 2 * self.alpha,
            "margin_interval_low": low,
            "margin_interval_high": high,
            **self.p_values,
            "margin_verdict": self.verdict.value,
        }


def drawn(difference: float, low: float, high: float, margin: float) -> str:
    """`-0.015 ---|--[==*==:=]----|--- +0.015`: an interval on an axis marked at ±margin and 0."""
    finite = [abs(value) for value in (low, high) if math.isfinite(value)]
    reach = max([AXIS_REACH * margin, *finite])
    last = DRAWING_WIDTH - 1

    def at(value: float) -> int:
        return round((value + reach) / (2 * reach) * last)

    axis = ["-"] * DRAWING_WIDTH
    shown = all(map(math.isfinite, (low, high)))
    if shown:
        axis[at(low) : at(high) + 1] = "=" * (at(high) - at(low) + 1)
    axis[at(-margin)] = axis[at(margin)] = "|"  # the landmarks show through the interval
    axis[at(0.0)] = ":"
    if shown:
        axis[at(low)], axis[at(high)] = "[", "]"
        axis[at(difference)] = "*"
    return f"{-reach:+.3f} {''.join(axis)} {reach:+.3f}"
