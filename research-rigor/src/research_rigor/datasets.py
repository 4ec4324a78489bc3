"""One verdict across datasets: the Wilcoxon signed-rank test over per-dataset differences.

Averaging a change's gain over datasets lets one dataset with a large gain hide
losses on the others, and a t-test over datasets assumes their differences are
commensurate and normal. The Wilcoxon signed-rank test over the datasets' mean
differences uses only their signs and ranks, so no dataset dominates (Demšar 2006,
"Statistical comparisons of classifiers over multiple data sets"). scipy computes it;
ties at zero are split between the signs, as Demšar advises.
"""

from dataclasses import dataclass

import numpy as np
from scipy import stats

from research_rigor.verdicts import GREATER_IS_BETTER, Verdict

METHOD = "Wilcoxon signed-rank test over datasets (Demšar 2006)"
ZERO_METHOD = "zsplit"  # a dataset without a difference counts half for each side


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


def smallest_p_value(datasets: int) -> float:
    """The smallest two-sided p-value the exact test can give: all datasets one way."""
    return 2 / 2**datasets


def across_datasets(differences: dict[str, float], alpha: float = 0.05) -> AcrossDatasets:
    """The combined verdict of per-dataset differences (experiment - baseline)."""
    if smallest_p_value(len(differences)) >= alpha:
        raise ValueError(
            f"{len(differences)} datasets cannot reach p < {alpha} with the Wilcoxon "
            f"signed-rank test (at best p = {smallest_p_value(len(differences)):.3g}): "
            "compare on more datasets, or read the per-dataset verdicts."
        )
    result = stats.wilcoxon(list(differences.values()), zero_method=ZERO_METHOD)
    return AcrossDatasets(dict(differences), float(result.statistic), float(result.pvalue), alpha)
