"""Where the spread of a metric comes from: each source of randomness varied alone.

A seed moves the weights' initialization, the data order and the augmentation together.
Varying one source at a time, the others fixed, measures each source's variance; its
share of their sum says which dominates, and so which seed to spend compute on
(Bouthillier et al. 2021, "Accounting for variance in machine learning benchmarks").
The same paper shows that varying every source together estimates a benchmark's spread
better at the same cost: that is what a plain seed does, measured beside the sources
("together"), and what comparisons should keep doing.

Each variance has its chi-square interval (exact for normal scores). A share v / (v + R),
R the other sources' variances, has its interval from the F distribution of v / R, with R
taken as one scaled chi-square of Satterthwaite's degrees of freedom: exact for two
sources, an approximation beyond (its coverage is checked by simulation in the tests).
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
METHOD = (
    "one source varied at a time, the others fixed (Bouthillier et al. 2021); "
    "variance intervals: chi-square; share intervals: F with Satterthwaite's df"
)


def sample_variance(values: Sequence[float]) -> float:
    return float(np.var(values, ddof=1))


def variance_interval(
    values: Sequence[float], confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """The chi-square interval of the variance of normal scores."""
    df = len(values) - 1
    tail = (1 - confidence) / 2
    variance = sample_variance(values)
    return (
        df * variance / stats.chi2.ppf(1 - tail, df),
        df * variance / stats.chi2.ppf(tail, df),
    )


@dataclass(frozen=True)
class VarianceShares:
    """The metric's values with each source varied alone (and, optionally, all together)."""

    sources: Mapping[str, Sequence[float]]
    together: Sequence[float] | None = None
    confidence: float = CONFIDENCE
    method: str = METHOD

    def __post_init__(self) -> None:
        short = [name for name, values in self.sources.items() if len(values) < 2]
        if short or len(self.sources) < 2:
            raise ValueError(
                "variance shares need two sources or more, each with two values or more "
                f"(too few values: {', '.join(short) or 'none'})."
            )

    def variance(self, source: str) -> float:
        return sample_variance(self.sources[source])

    @property
    def total(self) -> float:
        """The sum of the sources' variances: what they add up to if they add."""
        return sum(self.variance(source) for source in self.sources)

    def share(self, source: str) -> float:
        """The source's variance over the sum of all of them (NaN when none varies)."""
        return self.variance(source) / self.total if self.total > 0 else math.nan

    def share_interval(self, source: str) -> tuple[float, float]:
        """The interval of the share at `confidence`, from the F distribution of v / R."""
        own = self.variance(source)
        others = [name for name in self.sources if name != source]
        rest = sum(self.variance(name) for name in others)
        if own == 0 and rest == 0:
            return math.nan, math.nan
        if rest == 0:  # the other sources moved nothing in their runs
            return 1.0, 1.0
        if own == 0:  # this one moved nothing
            return 0.0, 0.0
        own_df = len(self.sources[source]) - 1
        rest_df = rest**2 / sum(
            self.variance(name) ** 2 / (len(self.sources[name]) - 1) for name in others
        )
        tail = (1 - self.confidence) / 2
        ratio = own / rest
        low = ratio / stats.f.ppf(1 - tail, own_df, rest_df)
        high = ratio / stats.f.ppf(tail, own_df, rest_df)
        return low / (1 + low), high / (1 + high)

    def as_dict(self) -> dict:
        sources = {}
        for source, values in self.sources.items():
            low, high = variance_interval(values, self.confidence)
            share_low, share_high = self.share_interval(source)
            sources[source] = {
                "n": len(values),
                "variance": self.variance(source),
                "variance_ci": [low, high],
                "share": self.share(source),
                "share_ci": [share_low, share_high],
            }
        together = None
        if self.together is not None:
            low, high = variance_interval(self.together, self.confidence)
            together = {
                "n": len(self.together),
                "variance": sample_variance(self.together),
                "variance_ci": [low, high],
            }
        return {
            "method": self.method,
            "confidence": self.confidence,
            "sources": sources,
            "sum_of_sources": self.total,
            "together": together,
        }
