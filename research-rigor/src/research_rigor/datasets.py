"""One verdict across datasets: Wilcoxon signed-rank tests over per-dataset differences.

Averaging a change's gain over datasets lets one dataset with a large gain hide
losses on the others, and a t-test over datasets assumes their differences are
commensurate and normal. The Wilcoxon signed-rank test over the datasets' mean
differences uses only their signs and ranks, so no dataset dominates (Demšar 2006,
"Statistical comparisons of classifiers over multiple data sets"). scipy computes it;
ties at zero are split between the signs, as Demšar advises.

Without a margin the test is two-sided: a progression or a regression. With one, the
verdict is the per-dataset one's (equivalence.py): better, equivalent, non-inferior,
worse or inconclusive, in the same order of precedence, each claim a one-sided test
over the datasets, with each dataset's difference shifted by its own margin where the
claim is about the margin.
"""

from dataclasses import dataclass

import numpy as np
from scipy import stats

from research_rigor.verdicts import GREATER_IS_BETTER, Verdict

METHOD = "Wilcoxon signed-rank test over datasets (Demšar 2006)"
MARGIN_METHOD = (
    "one-sided Wilcoxon signed-rank tests over datasets against each dataset's margin (Demšar 2006)"
)
ZERO_METHOD = "zsplit"  # a dataset without a difference counts half for each side
# The claims against the margins in equivalence.classify's order: the first shown wins.
CLAIMS = (
    ("p_better", Verdict.BETTER),
    ("p_equivalence", Verdict.EQUIVALENT),
    ("p_non_inferiority", Verdict.NON_INFERIOR),
    ("p_worse", Verdict.WORSE),
)


@dataclass(frozen=True)
class AcrossDatasets:
    differences: dict[str, float]  # per dataset: experiment mean - baseline mean
    statistic: float
    p_value: float
    alpha: float
    method: str = METHOD

    @property
    def verdict(self) -> Verdict:
        if not self.p_value < self.alpha:
            return Verdict.INCONCLUSIVE
        values = np.array(list(self.differences.values()))
        signed_ranks = float(np.sum(np.sign(values) * stats.rankdata(np.abs(values))))
        gain = signed_ranks > 0 if GREATER_IS_BETTER else signed_ranks < 0
        return Verdict.PROGRESSION if gain else Verdict.REGRESSION

    def as_dict(self) -> dict:
        return {
            "method": self.method,
            "datasets": len(self.differences),
            "differences": self.differences,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "alpha": self.alpha,
            "verdict": self.verdict.value,
        }


@dataclass(frozen=True)
class AgainstMargins:
    """The datasets' differences against their margins: four one-sided signed-rank tests."""

    differences: dict[str, float]  # per dataset: experiment mean - baseline mean
    margins: dict[str, float]  # per dataset: the margin its own comparison used
    p_values: dict[str, float]  # per claim of CLAIMS: its one-sided test's p
    alpha: float  # of each one-sided test
    method: str = MARGIN_METHOD

    @property
    def verdict(self) -> Verdict:
        for claim, verdict in CLAIMS:
            if self.p_values[claim] < self.alpha:
                return verdict
        return Verdict.INCONCLUSIVE

    def as_dict(self) -> dict:
        return {
            "method": self.method,
            "datasets": len(self.differences),
            "differences": self.differences,
            "margins": self.margins,
            **self.p_values,
            "alpha": self.alpha,
            "verdict": self.verdict.value,
        }


def smallest_p_value(datasets: int, one_sided: bool = False) -> float:
    """The smallest p-value the exact test can give: all datasets one way."""
    return (1 if one_sided else 2) / 2**datasets


def datasets_needed(alpha: float, one_sided: bool = False) -> int:
    """The fewest datasets whose exact test can reach p < alpha."""
    count = 1
    while smallest_p_value(count, one_sided) >= alpha:
        count += 1
    return count


def refuse_too_few(count: int, alpha: float, one_sided: bool) -> None:
    smallest = smallest_p_value(count, one_sided)
    if smallest >= alpha:
        kind = "one-sided Wilcoxon signed-rank tests" if one_sided else "Wilcoxon signed-rank test"
        raise ValueError(
            f"{count} datasets cannot reach p < {alpha} with the {kind} (at best "
            f"p = {smallest:.3g}): compare on more datasets, or read the per-dataset verdicts."
        )


def one_sided_p(values: np.ndarray, larger: bool) -> float:
    """p-value of "the values lie above 0" (below, when not `larger`)."""
    alternative = "greater" if larger else "less"
    return float(stats.wilcoxon(values, zero_method=ZERO_METHOD, alternative=alternative).pvalue)


def across_datasets(differences: dict[str, float], alpha: float = 0.05) -> AcrossDatasets:
    """The combined verdict of per-dataset differences (experiment - baseline)."""
    refuse_too_few(len(differences), alpha, one_sided=False)
    result = stats.wilcoxon(list(differences.values()), zero_method=ZERO_METHOD)
    return AcrossDatasets(dict(differences), float(result.statistic), float(result.pvalue), alpha)


def against_margins(
    differences: dict[str, float], margins: dict[str, float], alpha: float = 0.05
) -> AgainstMargins:
    """The combined margin verdict of per-dataset differences (experiment - baseline)."""
    refuse_too_few(len(differences), alpha, one_sided=True)
    gains = np.array(list(differences.values())) * (1 if GREATER_IS_BETTER else -1)
    tolerated = np.array([margins[name] for name in differences])
    lower = one_sided_p(gains + tolerated, larger=True)  # H0: loss >= margin
    upper = one_sided_p(gains - tolerated, larger=False)  # H0: gain >= margin
    p_values = {
        "p_better": one_sided_p(gains, larger=True),  # H0: gain <= 0
        "p_equivalence": max(lower, upper),  # TOST: both nulls rejected
        "p_non_inferiority": lower,
        "p_worse": one_sided_p(gains, larger=False),  # H0: loss <= 0
    }
    return AgainstMargins(dict(differences), dict(margins), p_values, alpha)
