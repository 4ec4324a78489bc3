"""The verdicts a comparison can reach, shared by the fixed-seed and the sequential tests."""

from enum import Enum

GREATER_IS_BETTER = True  # the metric (the project's METRIC_NAME) is an accuracy


class Verdict(Enum):
    """Without a margin: a two-sided test; with one: one-sided tests against the margin."""

    PROGRESSION = "progression"  # a gain, two-sided test at alpha
    REGRESSION = "regression"  # a loss, two-sided test at alpha
    INCONCLUSIVE = "inconclusive"
    BETTER = "better"  # a gain above zero, one-sided test at alpha
    EQUIVALENT = "equivalent"  # inside ±margin: two one-sided tests (TOST)
    NON_INFERIOR = "non-inferior"  # any loss is smaller than the margin
    WORSE = "worse"  # a loss above zero, and none shown smaller than the margin

    @property
    def gain(self) -> bool:
        return self in (Verdict.PROGRESSION, Verdict.BETTER)

    @property
    def loss(self) -> bool:
        return self in (Verdict.REGRESSION, Verdict.WORSE)
